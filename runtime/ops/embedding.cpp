// Embedding lookup (header section 14): out[..., :] = table[ids[...], :]. table and ids are
// made contiguous, ids viewed as [n], out as [n, dim] (kernels: cpu_embedding.cpp,
// cuda/k_embedding.cu). The CPU kernel checks every id before writing anything and reports the
// first bad one (APH_K_STATUS_BAD_INDEX, which the dispatch turns into APH_ERR_INVALID_ARGUMENT);
// the CUDA kernel writes zero rows for bad ids, since checking would mean waiting for the device.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

Inferred infer_embedding(const Target& t, const Operand& table, const Operand& ids) {
    require_float(table, t);
    require_index(ids);
    if (table.shape.size() != 2) {
        throw_dims(strprintf("%s %s must be [vocab, dim]", table.name, shape_str(table.shape).c_str()));
    }
    Inferred r{table.dtype, {ids.shape.begin(), ids.shape.end()}};
    r.shape.push_back(table.shape[1]);
    return r;
}

void embedding(aph_stream* stream, const aph_tensor* table, const aph_tensor* ids, aph_tensor* out) {
    require(table, "table");
    require(ids, "ids");
    require(out, "out");
    Call call(stream, {table, ids, out});
    const Inferred r = infer_embedding(call.target(), operand(table, "table"), operand(ids, "ids"));
    const int64_t dim = table->shape[1];
    Output o(call, out, "out", r.dtype, r.shape);
    require_no_overlap(out, "out", table, "table", false);
    require_no_overlap(out, "out", ids, "ids", false);
    if (ids->numel == 0 || dim == 0) return;

    const aph_tensor* tc = call.contiguous(table);
    const aph_tensor* ic = call.contiguous(ids);
    const int64_t n = ids->numel;
    aph_k_embedding d{};
    d.table = call.kt_as(tc, table->shape, {dim, 1});
    d.ids = call.kt_as(ic, {n}, {1});
    d.out = call.kt_as(o.target(), {n, dim}, {dim, 1});
    call.launch<APH_K_EMBEDDING>(d);
    o.finish();
}

}  // namespace aph::ops
