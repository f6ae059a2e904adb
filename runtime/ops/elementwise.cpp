// Elementwise operations (header section 14): binary with numpy broadcasting, binary with a
// scalar, unary, fused bias + activation, and dtype casts.
//
// binary, unary and cast write any strided output directly (their kernels take any strides), so
// they check out with require_output / require_writable instead of going through Output (which
// would add a contiguous stand-in and a copy). Before the descriptor is built, the index space is simplified once for both devices:
// size-1 dimensions are dropped and neighbouring dimensions that are contiguous with each other
// in every operand are merged, so a contiguous call reaches the kernels as one flat dimension and
// a row broadcast ([rows, n] + [n]) as two.
#include "op.hpp"
#include "ops.hpp"

#include "../core/dtype.hpp"

#include <vector>

namespace aph::ops {
namespace {

// The index space of one call: the shape every operand is viewed with and, per operand, its
// strides in elements over that shape (0 where it broadcasts).
struct Space {
    std::vector<int64_t> shape;
    std::vector<std::vector<int64_t>> strides;
};

// Drops size-1 dimensions and merges dimension d into the one before it (outer) whenever, in
// every operand, stride[outer] == stride[d] · shape[d]: the pair then walks memory like one
// dimension of size shape[outer] · shape[d] with stride[d]. Broadcast dimensions (stride 0) merge
// with each other. A space of one element becomes [1] with unit strides, so kernels always see
// at least one dimension. Call only for a non-empty space (no dimension of size 0).
Space simplify(const std::vector<int64_t>& shape, const std::vector<std::vector<int64_t>>& strides) {
    const size_t k = strides.size();
    Space s;
    s.strides.resize(k);
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;
        bool merge = !s.shape.empty();
        for (size_t j = 0; merge && j < k; ++j) merge = s.strides[j].back() == strides[j][d] * shape[d];
        if (merge) {
            s.shape.back() *= shape[d];
            for (size_t j = 0; j < k; ++j) s.strides[j].back() = strides[j][d];
            continue;
        }
        s.shape.push_back(shape[d]);
        for (size_t j = 0; j < k; ++j) s.strides[j].push_back(strides[j][d]);
    }
    if (s.shape.empty()) {
        s.shape.push_back(1);
        for (size_t j = 0; j < k; ++j) s.strides[j].push_back(1);
    }
    return s;
}

// a (op) b, or a (op) scalar when b is NULL.
void binary_impl(aph_stream* stream, int32_t op, const aph_tensor* a, const aph_tensor* b, double scalar, bool has_b,
                 aph_tensor* out) {
    require(a, "a");
    if (has_b) require(b, "b");
    require(out, "out");
    Call call(stream, {a, b, out});
    const Inferred r = infer_binary(call.target(), op, operand(a, "a"), ptr(optional_operand(b, "b")));
    const std::vector<int64_t>& shape = r.shape;
    require_output(out, "out", r.dtype, shape);
    require_no_overlap(out, "out", a, "a", true);
    if (has_b) require_no_overlap(out, "out", b, "b", true);
    if (product(shape) == 0) return;

    std::vector<std::vector<int64_t>> strides{out->strides, broadcast_strides(a, shape)};
    if (has_b) strides.push_back(broadcast_strides(b, shape));
    const Space s = simplify(shape, strides);

    aph_k_binary d{};
    d.op = op;
    d.scalar = scalar;
    d.out = call.kt_as(out, s.shape, s.strides[0]);
    d.a = call.kt_as(a, s.shape, s.strides[1]);
    if (has_b) d.b = call.kt_as(b, s.shape, s.strides[2]);
    call.launch<APH_K_BINARY>(d);
}

}  // namespace

Inferred infer_binary(const Target& t, int32_t op, const Operand& a, const Operand* b) {
    if (op < APH_BINARY_ADD || op > APH_BINARY_MINIMUM) {
        throw invalid_argument(strprintf("op %d is not an aph_binary_op", static_cast<int>(op)));
    }
    require_float(a, t);
    if (b == nullptr) return Inferred{a.dtype, {a.shape.begin(), a.shape.end()}};
    require_dtype(*b, a.dtype);
    return Inferred{a.dtype, broadcast_shapes(a.shape, b->shape)};
}

Inferred infer_unary(const Target& t, int32_t op, const Operand& x) {
    if (op < APH_UNARY_RELU || op > APH_UNARY_ABS) {
        throw invalid_argument(strprintf("op %d is not an aph_unary_op", static_cast<int>(op)));
    }
    require_float(x, t);
    return Inferred{x.dtype, {x.shape.begin(), x.shape.end()}};
}

Inferred infer_bias_activation(const Target& t, const Operand& x, const Operand& bias, int32_t activation) {
    if (activation < APH_ACTIVATION_NONE || activation > APH_ACTIVATION_TANH) {
        throw invalid_argument(strprintf("activation %d is not an aph_activation", static_cast<int>(activation)));
    }
    require_float(x, t);
    require_dtype(bias, x.dtype);
    if (x.shape.empty() || bias.shape.size() != 1 || bias.shape[0] != x.shape.back()) {
        throw_dims(strprintf("%s %s does not match the last dimension of %s %s (%s must be [N] for %s [..., N])",
                             bias.name, shape_str(bias.shape).c_str(), x.name, shape_str(x.shape).c_str(), bias.name,
                             x.name));
    }
    return Inferred{x.dtype, {x.shape.begin(), x.shape.end()}};
}

Inferred infer_cast(const Target& t, const Operand& x, aph_dtype to, const char* out_name) {
    require_castable(x, t);
    require_castable(Operand{out_name, to, x.shape}, t);
    return Inferred{to, {x.shape.begin(), x.shape.end()}};
}

void binary(aph_stream* stream, int32_t op, const aph_tensor* a, const aph_tensor* b, aph_tensor* out) {
    binary_impl(stream, op, a, b, 0.0, true, out);
}

void binary_scalar(aph_stream* stream, int32_t op, const aph_tensor* a, double scalar, aph_tensor* out) {
    binary_impl(stream, op, a, nullptr, scalar, false, out);
}

void unary(aph_stream* stream, int32_t op, const aph_tensor* x, aph_tensor* out) {
    require(x, "x");
    require(out, "out");
    Call call(stream, {x, out});
    const Inferred r = infer_unary(call.target(), op, operand(x, "x"));
    require_output(out, "out", r.dtype, r.shape);
    require_no_overlap(out, "out", x, "x", true);
    if (x->numel == 0) return;

    const Space s = simplify(x->shape, {out->strides, x->strides});
    aph_k_unary d{};
    d.op = op;
    d.out = call.kt_as(out, s.shape, s.strides[0]);
    d.x = call.kt_as(x, s.shape, s.strides[1]);
    call.launch<APH_K_UNARY>(d);
}

void bias_activation(aph_stream* stream, const aph_tensor* x, const aph_tensor* bias, int32_t activation,
                     aph_tensor* out) {
    require(x, "x");
    require(bias, "bias");
    require(out, "out");
    Call call(stream, {x, bias, out});
    const Inferred r = infer_bias_activation(call.target(), operand(x, "x"), operand(bias, "bias"), activation);
    require_no_overlap(out, "out", x, "x", true);
    require_no_overlap(out, "out", bias, "bias", false);
    Output o(call, out, "out", r.dtype, r.shape);
    if (x->numel == 0) return;

    // The kernel reads x and writes out as contiguous [rows, n]; bias is [n] contiguous.
    const aph_tensor* xc = call.contiguous(x);
    const aph_tensor* bc = call.contiguous(bias);
    const int64_t n = x->shape.back();
    aph_k_bias_act d{};
    d.act = activation;
    d.rows = x->numel / n;
    d.n = n;
    d.x = call.kt_as(xc, {d.rows, n}, {n, 1});
    d.bias = call.kt(bc);
    d.out = call.kt_as(o.target(), {d.rows, n}, {n, 1});
    call.launch<APH_K_BIAS_ACT>(d);
    o.finish();
}

void cast(aph_stream* stream, const aph_tensor* x, aph_tensor* out) {
    require(x, "x");
    require(out, "out");
    Call call(stream, {x, out});
    const Inferred r = infer_cast(call.target(), operand(x, "x"), out->dtype, "out");
    require_writable(out, "out", r.shape);
    require_no_overlap(out, "out", x, "x", true);
    if (x->numel == 0) return;
    if (x->dtype == out->dtype) {
        call.copy(out, x);  // nothing to convert: a strided copy (a no-op in place)
        return;
    }

    const Space s = simplify(x->shape, {out->strides, x->strides});
    aph_k_unary d{};
    d.out = call.kt_as(out, s.shape, s.strides[0]);
    d.x = call.kt_as(x, s.shape, s.strides[1]);
    call.launch<APH_K_CAST>(d);
}

}  // namespace aph::ops
