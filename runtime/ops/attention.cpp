// Scaled dot-product attention, forward (header: aph_op_attention): inference, the kernel
// descriptor and the dispatch. The kernels (runtime/kernels/cpu_attention.cpp,
// cuda/k_attention.cu) never materialise the [seq_q, seq_k] scores.
#include "op.hpp"
#include "ops.hpp"

#include "../core/dtype.hpp"

#include <algorithm>
#include <cmath>

namespace aph::ops {
namespace {

// q, k and v are [batch, seq, heads, head_dim].
void require_4d(const Operand& t, const char* layout) {
    if (t.shape.size() != 4) {
        throw_dims(strprintf("%s must be 4-D %s, got %s", t.name, layout, shape_str(t.shape).c_str()));
    }
}

}  // namespace

Inferred infer_attention(const Target& t, const Operand& q, const Operand& k, const Operand& v, const Operand* mask,
                         double scale, int /*causal: a boolean, any value*/) {
    require_float(q, t);
    require_dtype(k, q.dtype);
    require_dtype(v, q.dtype);
    if (mask != nullptr && mask->dtype != q.dtype && mask->dtype != APH_DTYPE_F32) {
        throw invalid_argument(q.dtype == APH_DTYPE_F32
                                   ? strprintf("%s has dtype %s; expected f32", mask->name, dtype::name(mask->dtype))
                                   : strprintf("%s has dtype %s; expected %s (%s's dtype) or f32", mask->name,
                                               dtype::name(mask->dtype), dtype::name(q.dtype), q.name));
    }
    if (!std::isfinite(scale) || scale < 0.0) {
        throw invalid_argument(strprintf("scale must be finite and >= 0 (0 means 1/sqrt(head_dim)), got %g", scale));
    }

    require_4d(q, "[batch, seq_q, heads_q, head_dim]");
    require_4d(k, "[batch, seq_k, heads_kv, head_dim]");
    require_4d(v, "[batch, seq_k, heads_kv, head_dim]");
    const std::string qs = shape_str(q.shape), ks = shape_str(k.shape), vs = shape_str(v.shape);
    if (!std::equal(k.shape.begin(), k.shape.end(), v.shape.begin(), v.shape.end())) {
        throw_dims(strprintf("k %s and v %s must have the same shape", ks.c_str(), vs.c_str()));
    }
    const int64_t B = q.shape[0], Sq = q.shape[1], Hq = q.shape[2], D = q.shape[3];
    const int64_t Sk = k.shape[1], Hkv = k.shape[2];
    if (k.shape[0] != B) {
        throw_dims(strprintf("q %s and k %s must have the same batch size", qs.c_str(), ks.c_str()));
    }
    if (k.shape[3] != D) {
        throw_dims(strprintf("q %s and k %s must have the same head_dim", qs.c_str(), ks.c_str()));
    }
    // heads_q a multiple of heads_kv; 0 query heads with 0 key/value heads is an empty
    // attention (zero-size tensors do nothing), 0 key/value heads for query heads is not.
    if (Hkv == 0 ? Hq != 0 : Hq % Hkv != 0) {
        throw_dims(strprintf("heads_q %lld (q %s) is not a multiple of heads_kv %lld (k %s)",
                             static_cast<long long>(Hq), qs.c_str(), static_cast<long long>(Hkv), ks.c_str()));
    }
    if (D > APH_K_ATTENTION_MAX_HEAD_DIM) {
        throw Error::kind(APH_ERR_NOT_IMPLEMENTED, strprintf("attention with head_dim %lld (at most %d)",
                                                             static_cast<long long>(D), APH_K_ATTENTION_MAX_HEAD_DIM));
    }

    // The mask broadcasts to [B, Hq, Sq, Sk]: at most 4 dimensions, each (aligned at the right)
    // equal to the target's or 1.
    if (mask != nullptr) {
        const int64_t scores[4] = {B, Hq, Sq, Sk};
        const size_t n = mask->shape.size();
        bool fits = n <= 4;
        for (size_t i = 0; fits && i < n; ++i) {
            const int64_t m = mask->shape[n - 1 - i];
            fits = m == scores[3 - i] || m == 1;
        }
        if (!fits) {
            throw_dims(strprintf("%s %s does not broadcast to [batch, heads_q, seq_q, seq_k] = %s", mask->name,
                                 shape_str(mask->shape).c_str(), shape_str(scores).c_str()));
        }
    }
    return Inferred{q.dtype, {q.shape.begin(), q.shape.end()}};
}

void attention(aph_stream* stream, const aph_tensor* q, const aph_tensor* k, const aph_tensor* v,
               const aph_tensor* mask, double scale, int causal, aph_tensor* out) {
    require(q, "q");
    require(k, "k");
    require(v, "v");
    require(out, "out");
    Call call(stream, {q, k, v, mask, out});
    const Inferred r = infer_attention(call.target(), operand(q, "q"), operand(k, "k"), operand(v, "v"),
                                       ptr(optional_operand(mask, "mask")), scale, causal);

    require_no_overlap(out, "out", q, "q", false);
    require_no_overlap(out, "out", k, "k", false);
    require_no_overlap(out, "out", v, "v", false);
    require_no_overlap(out, "out", mask, "mask", false);
    Output o(call, out, "out", r.dtype, r.shape);
    // Nothing to write. (seq_k 0 with queries is not here: every row then has all its keys
    // masked, and the kernels write zeros.)
    if (out->numel == 0) return;

    const int64_t B = q->shape[0], Sq = q->shape[1], Hq = q->shape[2], D = q->shape[3], Sk = k->shape[1];
    const std::vector<int64_t> scores = {B, Hq, Sq, Sk};
    // The kernels read rows of head_dim contiguous elements (last stride 1).
    auto rows = [&](const aph_tensor* t) { return t->strides[3] == 1 ? t : call.contiguous(t); };
    aph_k_attention d{};
    d.q = call.kt(rows(q));
    d.k = call.kt(rows(k));
    d.v = call.kt(rows(v));
    if (mask != nullptr) d.mask = call.kt_as(mask, scores, broadcast_strides(mask, scores));
    d.out = o.kt();
    d.scale = scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(D)) : scale;
    d.causal = causal != 0 ? 1 : 0;  // any non-zero value is true
    call.launch<APH_K_ATTENTION>(d);
    o.finish();
}

}  // namespace aph::ops
