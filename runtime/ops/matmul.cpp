// aph_op_matmul and aph_op_linear (header section 14): checks, the kernel descriptor
// (aph_k_matmul: a [batch, M, K] · b [batch, K, N] -> out [batch, M, N]) and dispatch.
//
// Operands are described in place whenever their strides allow it: a transpose (requested, or a
// transposed view) is a stride swap, and a row-major or column-major matrix with a padded
// leading stride is read as it is. The batch dimensions must collapse into one batch stride (0
// for a broadcast operand); an operand that is neither is copied: contiguous when only its
// matrices are the problem, expanded to the full batch and then contiguous when its broadcast
// pattern cannot be one stride (a [2, 1, M, K] against b [3, K, N]).
#include "matmul.hpp"

#include "ops.hpp"

#include <algorithm>

namespace aph::ops {
namespace {

// Views created here for the call (expanded operands), released when the operation returns.
class Views {
public:
    Views() = default;
    Views(const Views&) = delete;
    Views& operator=(const Views&) = delete;
    ~Views() {
        for (aph_tensor* t : views_) tensor::release(t);
    }
    aph_tensor* keep(aph_tensor* t) {
        try {
            views_.push_back(t);
        } catch (...) {
            tensor::release(t);
            throw;
        }
        return t;
    }

private:
    std::vector<aph_tensor*> views_;
};

// Collapses n dimensions (sizes shape, strides st) into one stride: element (i0, ..., in-1) at
// (its row-major index) · stride. Size-1 dimensions do not count; none left gives stride 0.
bool collapse(const int64_t* shape, const int64_t* st, size_t n, int64_t& stride) {
    stride = 0;
    bool have = false;
    int64_t next = 0;  // the stride the next outer counted dimension needs
    for (size_t i = n; i-- > 0;) {
        if (shape[i] == 1) continue;
        if (!have) {
            stride = st[i];
            have = true;
        } else if (st[i] != next) {
            return false;
        }
        next = st[i] * shape[i];
    }
    return true;
}

// The kernel's matrix rule (kernel_abi.h) for an R x C matrix with strides (sr, sc): one unit
// stride, the other at least the matching dimension (at least 1). Strides of size-1 dimensions
// address nothing and are set to values that satisfy the rule. False when neither a row-major
// nor a column-major reading fits.
bool matrix_strides(int64_t R, int64_t C, int64_t& sr, int64_t& sc) {
    const int64_t min_sr = std::max<int64_t>(1, C), min_sc = std::max<int64_t>(1, R);
    if ((C == 1 || sc == 1) && (R == 1 || sr >= min_sr)) {  // row-major
        if (R == 1) sr = min_sr;
        sc = 1;
        return true;
    }
    if ((R == 1 || sr == 1) && (C == 1 || sc >= min_sc)) {  // column-major
        sr = 1;
        if (C == 1) sc = min_sc;
        return true;
    }
    return false;
}

// An operand's elements as [batch dims..., row dims..., C] with their strides.
struct Grid {
    std::vector<int64_t> bshape, bst;  // batch dimensions (broadcast strides 0)
    std::vector<int64_t> rshape, rst;  // row dimensions (collapsed into the matrix's rows)
    int64_t cols = 0, cst = 0;
};

// The kernel's strides {batch, row, col} for g; false when g cannot be addressed in place.
bool kernel_strides(const Grid& g, int64_t s[3]) {
    int64_t bs = 0, rs = 0, cs = g.cst;
    if (!collapse(g.bshape.data(), g.bst.data(), g.bshape.size(), bs)) return false;
    if (!collapse(g.rshape.data(), g.rst.data(), g.rshape.size(), rs)) return false;
    if (!matrix_strides(product(g.rshape), g.cols, rs, cs)) return false;
    s[0] = bs;
    s[1] = rs;
    s[2] = cs;
    return true;
}

[[noreturn]] void layout_bug(const char* name) {
    throw Error::kind(APH_ERR_INTERNAL, strprintf("matrix product: no kernel layout for %s after copying it", name));
}

// Operand t of aph_op_matmul (stored [..., R, C], batch dimensions broadcast to batch) as the
// kernel's [batch, rows, cols]: the stored matrix, or its transpose when trans.
aph_kt matmul_operand(Call& call, Views& views, const aph_tensor* t, const char* name,
                      const std::vector<int64_t>& batch, bool trans) {
    const size_t n = t->shape.size();
    const int64_t R = t->shape[n - 2], C = t->shape[n - 1];
    std::vector<int64_t> full = batch;
    full.push_back(R);
    full.push_back(C);
    auto grid = [&](const aph_tensor* u) {
        const std::vector<int64_t> st = broadcast_strides(u, full);
        Grid g;
        g.bshape = batch;
        g.bst.assign(st.begin(), st.end() - 2);
        g.rshape = {R};
        g.rst = {st[st.size() - 2]};
        g.cols = C;
        g.cst = st.back();
        return g;
    };
    auto expanded = [&] {
        aph_tensor* e = views.keep(tensor::expand(const_cast<aph_tensor*>(t), full.data(), full.size()));
        return call.contiguous(e);
    };
    int64_t s[3];
    const aph_tensor* u = t;
    if (!kernel_strides(grid(u), s)) {
        const Grid g = grid(t);
        int64_t bs = 0;
        const bool batch_ok = collapse(g.bshape.data(), g.bst.data(), g.bshape.size(), bs);
        u = batch_ok ? call.contiguous(t) : expanded();
        if (!kernel_strides(grid(u), s)) {
            if (batch_ok) u = expanded();
            if (!kernel_strides(grid(u), s)) layout_bug(name);
        }
    }
    const int64_t nb = product(batch);
    if (trans) return call.kt_as(u, {nb, C, R}, {s[0], s[2], s[1]});
    return call.kt_as(u, {nb, R, C}, {s[0], s[1], s[2]});
}

// x [..., K] as [rows, K], or weight [N, K] as itself (no batch dimensions).
Grid rows_grid(const aph_tensor* u) {
    Grid g;
    g.rshape.assign(u->shape.begin(), u->shape.end() - 1);
    g.rst.assign(u->strides.begin(), u->strides.end() - 1);
    g.cols = u->shape.back();
    g.cst = u->strides.back();
    return g;
}

// The strides of u viewed as rows_grid; u made contiguous when they do not fit.
const aph_tensor* rows_operand(Call& call, const aph_tensor* u, const char* name, int64_t s[3]) {
    if (kernel_strides(rows_grid(u), s)) return u;
    u = call.contiguous(u);
    if (!kernel_strides(rows_grid(u), s)) layout_bug(name);
    return u;
}

}  // namespace

void launch_linear(Call& call, const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, aph_tensor* out) {
    const size_t n = x->shape.size();
    const int64_t K = x->shape[n - 1], N = weight->shape[0], rows = product(x->shape, 0, n - 1);
    aph_k_matmul d{};
    if (K == 0) {
        // Nothing to read: the kernel writes the bias (or zeros).
        d.a = call.kt_as(x, {1, rows, 0}, {0, 1, 1});
        d.b = call.kt_as(weight, {1, 0, N}, {0, std::max<int64_t>(1, N), 1});
    } else {
        int64_t s[3];
        const aph_tensor* xa = rows_operand(call, x, "x", s);
        d.a = call.kt_as(xa, {1, rows, K}, {0, s[1], s[2]});
        // b = weightᵀ [K, N]: weight's [N, K] strides swapped.
        const aph_tensor* w = rows_operand(call, weight, "weight", s);
        d.b = call.kt_as(w, {1, K, N}, {0, s[2], s[1]});
    }
    d.out = call.kt_as(out, {1, rows, N}, {rows * N, N, 1});
    d.bias = call.kt(bias != nullptr ? call.contiguous(bias) : nullptr);
    d.alpha = 1.0;
    d.beta = 0.0;
    call.launch<APH_K_MATMUL>(d);
}

Inferred infer_matmul(const Target& t, const Operand& a, const Operand& b, int transpose_a, int transpose_b) {
    // Booleans: any non-zero value is true.
    transpose_a = transpose_a != 0;
    transpose_b = transpose_b != 0;
    require_float(a, t);
    require_dtype(b, a.dtype);
    const size_t na = a.shape.size(), nb = b.shape.size();
    if (na < 2 || nb < 2) {
        const Operand& bad = na < 2 ? a : b;
        throw_dims(strprintf("%s has shape %s; a matrix product needs at least 2 dimensions", bad.name,
                             shape_str(bad.shape).c_str()));
    }
    const int64_t M = a.shape[na - (transpose_a ? 1 : 2)], Ka = a.shape[na - (transpose_a ? 2 : 1)];
    const int64_t Kb = b.shape[nb - (transpose_b ? 1 : 2)], N = b.shape[nb - (transpose_b ? 2 : 1)];
    if (Ka != Kb) {
        throw_dims(strprintf("%s %s (transpose_a %d) and %s %s (transpose_b %d): inner dimensions %lld and %lld differ",
                             a.name, shape_str(a.shape).c_str(), transpose_a, b.name, shape_str(b.shape).c_str(),
                             transpose_b, static_cast<long long>(Ka), static_cast<long long>(Kb)));
    }
    // Batch dimensions: numpy broadcasting, right-aligned.
    const size_t nbatch = std::max(na, nb) - 2;
    Inferred r{a.dtype, std::vector<int64_t>(nbatch)};
    for (size_t i = 0; i < nbatch; ++i) {
        const size_t ia = i + (na - 2), ib = i + (nb - 2);  // index into a padded batch of nbatch
        const int64_t x = ia >= nbatch ? a.shape[ia - nbatch] : 1;
        const int64_t y = ib >= nbatch ? b.shape[ib - nbatch] : 1;
        if (x != y && x != 1 && y != 1) {
            throw_dims(strprintf("%s %s and %s %s: batch dimensions do not broadcast (%lld vs %lld)", a.name,
                                 shape_str(a.shape).c_str(), b.name, shape_str(b.shape).c_str(),
                                 static_cast<long long>(x), static_cast<long long>(y)));
        }
        r.shape[i] = x == 1 ? y : x;
    }
    r.shape.push_back(M);
    r.shape.push_back(N);
    return r;
}

Inferred infer_linear(const Target& t, const Operand& x, const Operand& weight, const Operand* bias) {
    require_float(x, t);
    require_dtype(weight, x.dtype);
    if (bias != nullptr) require_dtype(*bias, x.dtype);
    if (x.shape.empty()) throw_dims(strprintf("%s has shape []; a linear layer needs %s [..., K]", x.name, x.name));
    if (weight.shape.size() != 2) {
        throw_dims(strprintf("%s has shape %s; a linear layer needs %s [N, K]", weight.name,
                             shape_str(weight.shape).c_str(), weight.name));
    }
    const int64_t K = x.shape.back(), N = weight.shape[0];
    if (weight.shape[1] != K) {
        throw_dims(strprintf("%s %s and %s %s: %s's last dimension %lld differs from %s's K %lld "
                             "(%s is [N, K])",
                             x.name, shape_str(x.shape).c_str(), weight.name, shape_str(weight.shape).c_str(), x.name,
                             static_cast<long long>(K), weight.name, static_cast<long long>(weight.shape[1]),
                             weight.name));
    }
    if (bias != nullptr && !(bias->shape.size() == 1 && bias->shape[0] == N)) {
        throw_dims(strprintf("%s has shape %s; %s %s needs %s [%lld]", bias->name, shape_str(bias->shape).c_str(),
                             weight.name, shape_str(weight.shape).c_str(), bias->name, static_cast<long long>(N)));
    }
    Inferred r{x.dtype, {x.shape.begin(), x.shape.end()}};
    r.shape.back() = N;
    return r;
}

void matmul(aph_stream* stream, const aph_tensor* a, const aph_tensor* b, int transpose_a, int transpose_b,
            double alpha, double beta, aph_tensor* out) {
    require(a, "a");
    require(b, "b");
    require(out, "out");
    Views views;  // outlives the call: its views are read by the call's copies
    Call call(stream, {a, b, out});
    const Inferred r = infer_matmul(call.target(), operand(a, "a"), operand(b, "b"), transpose_a, transpose_b);
    const std::vector<int64_t>& shape = r.shape;
    const size_t na = a->shape.size();
    const int64_t M = shape[shape.size() - 2], N = shape.back();
    const int64_t Ka = a->shape[na - (transpose_a ? 2 : 1)];
    const std::vector<int64_t> batch(shape.begin(), shape.end() - 2);
    require_no_overlap(out, "out", a, "a", false);
    require_no_overlap(out, "out", b, "b", false);
    Output o(call, out, "out", r.dtype, shape);
    if (product(shape) == 0) return;

    // beta != 0 reads out: a stand-in for a strided out starts with out's values.
    if (beta != 0.0 && !o.direct()) call.copy(o.target(), out);
    const int64_t nbat = product(batch), K = Ka;
    aph_k_matmul d{};
    if (K == 0) {
        d.a = call.kt_as(a, {nbat, M, 0}, {0, 1, 1});
        d.b = call.kt_as(b, {nbat, 0, N}, {0, std::max<int64_t>(1, N), 1});
    } else {
        d.a = matmul_operand(call, views, a, "a", batch, transpose_a != 0);
        d.b = matmul_operand(call, views, b, "b", batch, transpose_b != 0);
    }
    d.out = call.kt_as(o.target(), {nbat, M, N}, {M * N, N, 1});
    // b shared by every batch (stride 0) and a row-major with its batches continuing its rows
    // (as a contiguous [batch..., M, K] does): one product of batch·M rows instead of batch
    // products (out is contiguous, so its rows continue the same way).
    if (nbat > 1 && K > 0 && d.b.strides[0] == 0 && d.a.strides[2] == 1 && d.a.strides[1] >= std::max<int64_t>(1, K) &&
        d.a.strides[0] == M * d.a.strides[1]) {
        d.a.shape[0] = d.b.shape[0] = d.out.shape[0] = 1;
        d.a.shape[1] = d.out.shape[1] = nbat * M;
        d.out.strides[0] = nbat * M * N;
    }
    d.bias = call.kt(nullptr);
    d.alpha = alpha;
    d.beta = beta;
    call.launch<APH_K_MATMUL>(d);
    o.finish();
}

void linear(aph_stream* stream, const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias,
            aph_tensor* out) {
    require(x, "x");
    require(weight, "weight");
    require(out, "out");
    Call call(stream, {x, weight, bias, out});
    const Inferred r = infer_linear(call.target(), operand(x, "x"), operand(weight, "weight"),
                                    ptr(optional_operand(bias, "bias")));
    const std::vector<int64_t>& shape = r.shape;
    require_no_overlap(out, "out", x, "x", false);
    require_no_overlap(out, "out", weight, "weight", false);
    require_no_overlap(out, "out", bias, "bias", false);
    Output o(call, out, "out", r.dtype, shape);
    if (product(shape) == 0) return;
    launch_linear(call, x, weight, bias, o.target());
    o.finish();
}

}  // namespace aph::ops
