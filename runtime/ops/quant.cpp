// Quantization (header section 14): aph_quantize / aph_dequantize for int8, fp8 e4m3/e5m2, NF4
// and BitNet ternary, and the ternary matrix product that consumes packed ternary weights.
// Validation and descriptors here; kernels in runtime/kernels/cpu_quant.cpp and cuda/k_quant.cu.
#include "op.hpp"
#include "ops.hpp"

#include "../core/dtype.hpp"

#include <algorithm>

namespace aph::ops {
namespace {

const char* scheme_name(aph_quant_scheme s) {
    switch (s) {
        case APH_QUANT_INT8: return "APH_QUANT_INT8";
        case APH_QUANT_FP8_E4M3: return "APH_QUANT_FP8_E4M3";
        case APH_QUANT_FP8_E5M2: return "APH_QUANT_FP8_E5M2";
        case APH_QUANT_NF4: return "APH_QUANT_NF4";
        case APH_QUANT_TERNARY: return "APH_QUANT_TERNARY";
    }
    return "?";
}

// The scheme as the enum, once its raw value (as a C caller passed it) is known to be one.
aph_quant_scheme checked_scheme(int32_t v) {
    if (v < APH_QUANT_INT8 || v > APH_QUANT_TERNARY) {
        throw invalid_argument(strprintf("scheme %d is not an aph_quant_scheme value", static_cast<int>(v)));
    }
    return static_cast<aph_quant_scheme>(v);
}

aph_dtype code_dtype(aph_quant_scheme s) {
    switch (s) {
        case APH_QUANT_INT8: return APH_DTYPE_I8;
        case APH_QUANT_FP8_E4M3: return APH_DTYPE_F8E4M3;
        case APH_QUANT_FP8_E5M2: return APH_DTYPE_F8E5M2;
        case APH_QUANT_NF4:
        case APH_QUANT_TERNARY: return APH_DTYPE_U8;
    }
    return APH_DTYPE_U8;
}

constexpr int64_t kNf4Block = 64;

// The layout a scheme gives a float tensor of shape `shape`: codes and scales. axis is already
// validated; negative means per tensor (INT8) or "none" (the other schemes).
struct QuantLayout {
    std::vector<int64_t> q;
    std::vector<int64_t> scale;
};

QuantLayout layout_of(aph_quant_scheme s, std::span<const int64_t> shape, int64_t axis) {
    QuantLayout l;
    const int64_t numel = product(shape);
    switch (s) {
        case APH_QUANT_INT8:
            l.q.assign(shape.begin(), shape.end());
            l.scale = {axis < 0 ? 1 : shape[static_cast<size_t>(axis)]};
            break;
        case APH_QUANT_FP8_E4M3:
        case APH_QUANT_FP8_E5M2:
            l.q.assign(shape.begin(), shape.end());
            l.scale = {1};
            break;
        case APH_QUANT_NF4:
            l.q = {(numel + 1) / 2};
            l.scale = {(numel + kNf4Block - 1) / kNf4Block};
            break;
        case APH_QUANT_TERNARY:
            l.q.assign(shape.begin(), shape.end());
            l.q.back() = (shape.back() + 3) / 4;
            l.scale = {1};
            break;
    }
    return l;
}

// INT8: any negative axis is per tensor, otherwise a dimension of the tensor; every other
// scheme takes exactly -1. Returns the axis for the descriptor (-1 or the dimension).
int64_t check_axis(aph_quant_scheme s, int64_t axis, size_t ndim, const char* tensor) {
    if (s != APH_QUANT_INT8) {
        if (axis != -1) {
            throw invalid_argument(strprintf("axis must be -1 for %s (got %lld); only APH_QUANT_INT8 takes a "
                                             "channel axis",
                                             scheme_name(s), static_cast<long long>(axis)));
        }
        return -1;
    }
    if (axis < 0) return -1;
    if (static_cast<uint64_t>(axis) >= ndim) {
        throw invalid_argument(strprintf("axis %lld is out of range for %s with %zu dimensions",
                                         static_cast<long long>(axis), tensor, ndim));
    }
    return axis;
}

void require_packable(aph_quant_scheme s, const Operand& t) {
    if (s == APH_QUANT_TERNARY && t.shape.empty()) {
        throw invalid_argument(strprintf("%s must have at least 1 dimension for APH_QUANT_TERNARY (its last "
                                         "dimension is packed)",
                                         t.name));
    }
}

// Writes zeros into an output the kernels will not reach (the scales of an empty tensor, the
// product of an empty K), queued on the call's stream like a launch.
void zero_output(Call& call, Output& o) {
    aph_tensor* t = o.target();
    if (t->numel == 0) return;
    tensor::fill_zero(t, call.stream(), false);
    if (call.cuda()) tensor::record_use(t, call.stream());
    o.finish();
}

}  // namespace

QuantizeInferred infer_quantize(const Target& t, int32_t scheme, const Operand& x, int64_t axis) {
    const aph_quant_scheme s = checked_scheme(scheme);
    require_float(x, t);
    const int64_t ax = check_axis(s, axis, x.shape.size(), x.name);
    require_packable(s, x);
    QuantLayout l = layout_of(s, x.shape, ax);
    return QuantizeInferred{Inferred{code_dtype(s), std::move(l.q)}, Inferred{APH_DTYPE_F32, std::move(l.scale)}, ax};
}

Inferred infer_dequantize(const Target& t, int32_t scheme, const Operand& q, const Operand& scale, int64_t axis,
                          const Operand& out) {
    const aph_quant_scheme s = checked_scheme(scheme);
    require_float(out, t);
    require_dtype(q, code_dtype(s));
    require_dtype(scale, APH_DTYPE_F32);
    const int64_t ax = check_axis(s, axis, out.shape.size(), out.name);
    require_packable(s, out);
    // out's shape is the original tensor's: it decides what q and scale must be. For INT8 and
    // fp8 q has that shape itself, so a different out is the output's mismatch.
    const bool same_shape = s != APH_QUANT_NF4 && s != APH_QUANT_TERNARY;
    if (same_shape && !std::equal(q.shape.begin(), q.shape.end(), out.shape.begin(), out.shape.end())) {
        throw_shape(out.name, q.shape, out.shape);
    }
    const QuantLayout l = layout_of(s, out.shape, ax);
    if (!std::equal(q.shape.begin(), q.shape.end(), l.q.begin(), l.q.end())) {
        throw_dims(strprintf("%s has shape %s but %s %s needs %s for %s", q.name, shape_str(q.shape).c_str(), out.name,
                             shape_str(out.shape).c_str(), shape_str(l.q).c_str(), scheme_name(s)));
    }
    if (!std::equal(scale.shape.begin(), scale.shape.end(), l.scale.begin(), l.scale.end())) {
        throw_dims(strprintf("%s has shape %s but %s %s needs %s for %s", scale.name, shape_str(scale.shape).c_str(),
                             q.name, shape_str(q.shape).c_str(), shape_str(l.scale).c_str(), scheme_name(s)));
    }
    return Inferred{out.dtype, {out.shape.begin(), out.shape.end()}};
}

Inferred infer_ternary_matmul(const Target& t, const Operand& x, const Operand& packed, const Operand& scale) {
    require_float(x, t);
    require_dtype(packed, APH_DTYPE_U8);
    require_dtype(scale, APH_DTYPE_F32);
    if (x.shape.empty()) {
        throw_dims(strprintf("%s has shape %s; it must be [..., K]", x.name, shape_str(x.shape).c_str()));
    }
    const int64_t K = x.shape.back(), KB = (K + 3) / 4;
    if (packed.shape.size() != 2 || packed.shape[1] != KB) {
        throw_dims(strprintf("%s %s and %s %s do not fit: K = %lld needs %s [N, %lld] (ceil(K / 4) bytes per row)",
                             x.name, shape_str(x.shape).c_str(), packed.name, shape_str(packed.shape).c_str(),
                             static_cast<long long>(K), packed.name, static_cast<long long>(KB)));
    }
    if (!(scale.shape.size() == 1 && scale.shape[0] == 1)) {
        throw_dims(strprintf("%s has shape %s; the ternary scale is [1]", scale.name, shape_str(scale.shape).c_str()));
    }
    Inferred r{x.dtype, {x.shape.begin(), x.shape.end()}};
    r.shape.back() = packed.shape[0];
    return r;
}

void quantize(aph_stream* stream, int32_t scheme, const aph_tensor* x, int64_t axis, aph_tensor* out_q,
              aph_tensor* out_scale) {
    require(x, "x");
    require(out_q, "out_q");
    require(out_scale, "out_scale");
    Call call(stream, {x, out_q, out_scale});
    const QuantizeInferred r = infer_quantize(call.target(), scheme, operand(x, "x"), axis);
    Output oq(call, out_q, "out_q", r.q.dtype, r.q.shape);
    Output os(call, out_scale, "out_scale", r.scale.dtype, r.scale.shape);
    require_no_overlap(out_q, "out_q", x, "x", false);
    require_no_overlap(out_scale, "out_scale", x, "x", false);
    require_no_overlap(out_scale, "out_scale", out_q, "out_q", false);
    if (x->numel == 0) {
        // The scale of nothing is 0 (as for an all-zero tensor); the codes are empty.
        zero_output(call, os);
        return;
    }
    aph_k_quant d{};
    d.scheme = scheme;
    d.axis = r.axis;
    d.x = call.kt(call.contiguous(x));
    d.q = oq.kt();
    d.scale = os.kt();
    call.launch<APH_K_QUANTIZE>(d);
    oq.finish();
    os.finish();
}

void dequantize(aph_stream* stream, int32_t scheme, const aph_tensor* q, const aph_tensor* scale, int64_t axis,
                aph_tensor* out) {
    require(q, "q");
    require(scale, "scale");
    require(out, "out");
    Call call(stream, {q, scale, out});
    const Inferred r = infer_dequantize(call.target(), scheme, operand(q, "q"), operand(scale, "scale"), axis,
                                        operand(out, "out"));
    Output o(call, out, "out", r.dtype, r.shape);
    require_no_overlap(out, "out", q, "q", false);
    require_no_overlap(out, "out", scale, "scale", false);
    if (out->numel == 0) return;
    aph_k_quant d{};
    d.scheme = scheme;
    d.axis = (scheme == APH_QUANT_INT8 && axis >= 0) ? axis : -1;  // as infer_dequantize checked it
    d.x = o.kt();
    d.q = call.kt(call.contiguous(q));
    d.scale = call.kt(call.contiguous(scale));
    call.launch<APH_K_DEQUANTIZE>(d);
    o.finish();
}

void ternary_matmul(aph_stream* stream, const aph_tensor* x, const aph_tensor* packed, const aph_tensor* scale,
                    aph_tensor* out) {
    require(x, "x");
    require(packed, "packed");
    require(scale, "scale");
    require(out, "out");
    Call call(stream, {x, packed, scale, out});
    const Inferred r = infer_ternary_matmul(call.target(), operand(x, "x"), operand(packed, "packed"),
                                            operand(scale, "scale"));
    const int64_t K = x->shape.back(), N = r.shape.back();
    Output o(call, out, "out", r.dtype, r.shape);
    require_no_overlap(out, "out", x, "x", false);
    require_no_overlap(out, "out", packed, "packed", false);
    require_no_overlap(out, "out", scale, "scale", false);
    const int64_t M = product(x->shape, 0, x->shape.size() - 1);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        zero_output(call, o);  // an empty sum
        return;
    }
    aph_k_ternary_matmul d{};
    d.x = call.kt_as(call.contiguous(x), {M, K}, {K, 1});
    d.packed = call.kt(call.contiguous(packed));
    d.scale = call.kt(call.contiguous(scale));
    d.out = call.kt_as(o.target(), {M, N}, {N, 1});
    call.launch<APH_K_TERNARY_MATMUL>(d);
    o.finish();
}

}  // namespace aph::ops
