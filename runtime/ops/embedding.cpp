// Embedding lookup (header section 14): out[..., :] = table[ids[...], :]. table and ids are
// made contiguous, ids viewed as [n], out as [n, dim] (kernels: cpu_embedding.cpp,
// cuda/k_embedding.cu). The CPU kernel checks every id before writing anything and reports the
// first bad one (APH_K_STATUS_BAD_INDEX, which the dispatch turns into APH_ERR_INVALID_ARGUMENT);
// the CUDA kernel writes zero rows for bad ids, since checking would mean waiting for the device.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void embedding(aph_stream* stream, const aph_tensor* table, const aph_tensor* ids, aph_tensor* out) {
    require(table, "table");
    require(ids, "ids");
    require(out, "out");
    Call call(stream, {table, ids, out});
    require_float(table, "table", call);
    require_index(ids, "ids");
    if (table->shape.size() != 2) {
        throw_dims(strprintf("table %s must be [vocab, dim]", shape_str(table->shape).c_str()));
    }
    const int64_t dim = table->shape[1];
    std::vector<int64_t> oshape = ids->shape;
    oshape.push_back(dim);
    Output o(call, out, "out", table->dtype, oshape);
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
