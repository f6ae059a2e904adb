// Reductions along one dimension: sum, mean, max and argmax (header section 14). x is made
// contiguous and viewed as [outer, n, inner] with n the reduced dimension; out is contiguous
// [outer, inner] (kernels: cpu_reduce.cpp, cuda/k_reduce.cu).
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {
namespace {

constexpr int32_t kArgmax = 3;  // the descriptor's op for argmax (after the aph_reduce_op values)

// op: an aph_reduce_op value as the caller passed it (checked here), or kArgmax with argmax.
Inferred infer_impl(const Target& t, int32_t op, bool argmax, const Operand& x, int64_t dim, int keepdim) {
    require_float(x, t);
    if (!argmax && (op < APH_REDUCE_SUM || op > APH_REDUCE_MAX)) {
        throw invalid_argument(strprintf("op %d is not an aph_reduce_op", static_cast<int>(op)));
    }
    const size_t ndim = x.shape.size();
    const size_t d = reduced_dim(x, dim);
    const int64_t n = ndim == 0 ? 1 : x.shape[d];
    if (n == 0 && (op == APH_REDUCE_MAX || argmax)) {
        throw invalid_argument(strprintf("dim %lld has size 0: %s of an empty dimension is undefined",
                                         static_cast<long long>(dim), argmax ? "argmax" : "max"));
    }
    Inferred r{argmax ? APH_DTYPE_I64 : x.dtype, {}};
    for (size_t i = 0; i < ndim; ++i) {
        if (i != d) r.shape.push_back(x.shape[i]);
        else if (keepdim != 0)
            r.shape.push_back(1);
    }
    return r;
}

void reduce_impl(aph_stream* stream, int32_t op, bool argmax, const aph_tensor* x, int64_t dim, int keepdim,
                 aph_tensor* out) {
    require(x, "x");
    require(out, "out");
    Call call(stream, {x, out});
    const Inferred r = infer_impl(call.target(), op, argmax, operand(x, "x"), dim, keepdim);
    const size_t d = reduced_dim(operand(x, "x"), dim);
    const int64_t outer = product(x->shape, 0, d);
    const int64_t n = x->shape.empty() ? 1 : x->shape[d];
    const int64_t inner = product(x->shape, d + 1);
    Output o(call, out, "out", r.dtype, r.shape);
    require_no_overlap(out, "out", x, "x", false);
    if (outer * inner == 0) return;  // nothing to write

    const aph_tensor* xc = call.contiguous(x);
    aph_k_reduce k{};
    k.op = op;
    k.outer = outer;
    k.n = n;
    k.inner = inner;
    // n == 0 (sum or mean of an empty dimension): x has no data; the kernels read none.
    k.x = n == 0 ? call.kt(xc) : call.kt_as(xc, {outer, n, inner}, {n * inner, inner, 1});
    k.out = call.kt_as(o.target(), {outer, inner}, {inner, 1});
    call.launch<APH_K_REDUCE>(k);
    o.finish();
}

}  // namespace

// A 0-dim tensor reduces like a [1] tensor along dim 0 (or -1), to a 0-dim result.
size_t reduced_dim(const Operand& x, int64_t dim) {
    const size_t ndim = x.shape.size();
    return (ndim == 0 && (dim == 0 || dim == -1)) ? 0 : normalize_dim(dim, ndim, "dim");
}

Inferred infer_reduce(const Target& t, int32_t op, const Operand& x, int64_t dim, int keepdim) {
    return infer_impl(t, op, false, x, dim, keepdim);
}

Inferred infer_argmax(const Target& t, const Operand& x, int64_t dim, int keepdim) {
    return infer_impl(t, kArgmax, true, x, dim, keepdim);
}

void reduce(aph_stream* stream, int32_t op, const aph_tensor* x, int64_t dim, int keepdim, aph_tensor* out) {
    reduce_impl(stream, op, false, x, dim, keepdim, out);
}

void argmax(aph_stream* stream, const aph_tensor* x, int64_t dim, int keepdim, aph_tensor* out) {
    reduce_impl(stream, kArgmax, true, x, dim, keepdim, out);
}

}  // namespace aph::ops
