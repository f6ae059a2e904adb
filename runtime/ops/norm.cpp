// Row-wise operations over the last dimension: softmax, log-softmax, layer norm and RMS norm
// (header section 14). x is made contiguous and viewed as [rows, n]; the kernels
// (cpu_norm.cpp, cuda/k_norm.cu) work one row at a time, so out may be exactly x (in place).
#include "op.hpp"
#include "ops.hpp"

#include <cmath>

namespace aph::ops {
namespace {

// [rows, n] for x: n is the last dimension (1 for a 0-dim tensor).
void rows_of(const aph_tensor* x, int64_t& rows, int64_t& n) {
    n = x->shape.empty() ? 1 : x->shape.back();
    rows = n == 0 ? 0 : x->numel / n;
}

void softmax_impl(aph_stream* stream, const aph_tensor* x, aph_tensor* out, bool log) {
    require(x, "x");
    require(out, "out");
    Call call(stream, {x, out});
    const Inferred r = infer_softmax(call.target(), operand(x, "x"));
    Output o(call, out, "out", r.dtype, r.shape);
    require_no_overlap(out, "out", x, "x", true);
    int64_t rows = 0, n = 0;
    rows_of(x, rows, n);
    if (x->numel == 0) return;

    const aph_tensor* xc = call.contiguous(x);
    aph_k_softmax d{};
    d.log = log ? 1 : 0;
    d.rows = rows;
    d.n = n;
    d.x = call.kt_as(xc, {rows, n}, {n, 1});
    d.out = call.kt_as(o.target(), {rows, n}, {n, 1});
    call.launch<APH_K_SOFTMAX>(d);
    o.finish();
}

void require_eps(double eps) {
    if (!(eps > 0.0) || !std::isfinite(eps)) {
        throw invalid_argument(strprintf("eps must be positive and finite, got %g", eps));
    }
}

// weight (and bias) must be [N] with N the last dimension of x, x at least 1-D.
void require_param_shape(const Operand& x, const Operand& p) {
    if (x.shape.empty()) {
        throw_dims(strprintf("%s %s has no last dimension to normalise over (%s %s)", x.name,
                             shape_str(x.shape).c_str(), p.name, shape_str(p.shape).c_str()));
    }
    if (p.shape.size() != 1 || p.shape[0] != x.shape.back()) {
        throw_dims(strprintf("%s %s does not match the last dimension of %s %s (expected [%lld])", p.name,
                             shape_str(p.shape).c_str(), x.name, shape_str(x.shape).c_str(),
                             static_cast<long long>(x.shape.back())));
    }
}

void norm_impl(aph_stream* stream, const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, double eps,
               aph_tensor* out, bool rms) {
    require(x, "x");
    require(weight, "weight");
    require(out, "out");
    Call call(stream, {x, weight, bias, out});
    const Inferred r = infer_norm(call.target(), operand(x, "x"), operand(weight, "weight"),
                                  ptr(optional_operand(bias, "bias")), eps);
    Output o(call, out, "out", r.dtype, r.shape);
    require_no_overlap(out, "out", x, "x", true);
    require_no_overlap(out, "out", weight, "weight", false);
    require_no_overlap(out, "out", bias, "bias", false);
    int64_t rows = 0, n = 0;
    rows_of(x, rows, n);
    if (x->numel == 0) return;

    const aph_tensor* xc = call.contiguous(x);
    const aph_tensor* wc = call.contiguous(weight);
    const aph_tensor* bc = call.contiguous(bias);
    aph_k_norm d{};
    d.rms = rms ? 1 : 0;
    d.eps = eps;
    d.rows = rows;
    d.n = n;
    d.x = call.kt_as(xc, {rows, n}, {n, 1});
    d.weight = call.kt_as(wc, {n}, {1});
    if (bc != nullptr) d.bias = call.kt_as(bc, {n}, {1});
    d.out = call.kt_as(o.target(), {rows, n}, {n, 1});
    call.launch<APH_K_NORM>(d);
    o.finish();
}

}  // namespace

Inferred infer_softmax(const Target& t, const Operand& x) {
    require_float(x, t);
    return Inferred{x.dtype, {x.shape.begin(), x.shape.end()}};
}

Inferred infer_norm(const Target& t, const Operand& x, const Operand& weight, const Operand* bias, double eps) {
    require_float(x, t);
    require_dtype(weight, x.dtype);
    if (bias != nullptr) require_dtype(*bias, x.dtype);
    require_eps(eps);
    require_param_shape(x, weight);
    if (bias != nullptr) require_param_shape(x, *bias);
    return Inferred{x.dtype, {x.shape.begin(), x.shape.end()}};
}

void softmax(aph_stream* stream, const aph_tensor* x, aph_tensor* out) { softmax_impl(stream, x, out, false); }

void log_softmax(aph_stream* stream, const aph_tensor* x, aph_tensor* out) { softmax_impl(stream, x, out, true); }

void layer_norm(aph_stream* stream, const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, double eps,
                aph_tensor* out) {
    norm_impl(stream, x, weight, bias, eps, out, false);
}

void rms_norm(aph_stream* stream, const aph_tensor* x, const aph_tensor* weight, double eps, aph_tensor* out) {
    norm_impl(stream, x, weight, nullptr, eps, out, true);
}

}  // namespace aph::ops
