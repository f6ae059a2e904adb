// CPU kernels of the elementwise family: binary (with broadcast strides or a scalar), unary,
// cast and fused bias + activation.
//
// The core simplified the index space (runtime/ops/elementwise.cpp), so a contiguous call
// arrives as one dimension with unit strides. Every kernel walks its space as rows: the last
// dimension is the row, the outer dimensions are walked with an index counter, and long rows are
// cut into blocks so parallel_for has work to share even for a single flat dimension. Each row
// runs a loop typed per dtype and operation; with unit strides (or a stride-0 broadcast operand)
// it is a flat loop over typed pointers that the compiler vectorises (f32 and f64 arithmetic),
// otherwise a strided loop. f16/bf16 are computed in f32 and rounded once when stored; f64 in
// f64.
//
// The transcendental activations (GELU both forms, SiLU, sigmoid, tanh) in f32, f16 and bf16 use
// vmath.hpp's branch-free functions instead of libm's scalar calls; contiguous f32 rows (unary
// ops and bias + activation) run them as explicit vectors, 16 lanes with AVX-512, 8 with AVX2,
// 4 otherwise (picked at run time: cpu_isa()). f64 keeps libm.
#include "cpu.hpp"
#include "parallel.hpp"
#include "vmath.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace aph::kernels {
namespace {

// The enums of the descriptors' op fields, as include/aphelion.h numbers them (values fixed by
// the ABI; the kernels are built without the public header).
enum BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMaximum = 4, kMinimum = 5 };
enum UnaryOp : int {
    kRelu = 0,
    kGelu = 1,
    kGeluTanh = 2,
    kSilu = 3,
    kTanh = 4,
    kSigmoid = 5,
    kExp = 6,
    kLog = 7,
    kNeg = 8,
    kSqrt = 9,
    kRsqrt = 10,
    kAbs = 11
};
enum Activation : int { kActNone = 0, kActRelu = 1, kActGelu = 2, kActGeluTanh = 3, kActSilu = 4, kActTanh = 5 };

// ---- element types: storage S, compute type C, and the conversions between them

struct F32 {
    using S = float;
    using C = float;
    static C ld(S v) { return v; }
    static S st(C v) { return v; }
};
struct F64 {
    using S = double;
    using C = double;
    static C ld(S v) { return v; }
    static S st(C v) { return v; }
};
struct F16 {
    using S = uint16_t;
    using C = float;
    static C ld(S v) { return num::f16_to_f32(v); }
    static S st(C v) { return num::f32_to_f16(v); }
};
struct BF16 {
    using S = uint16_t;
    using C = float;
    static C ld(S v) { return num::bf16_to_f32(v); }
    static S st(C v) { return num::f32_to_bf16(v); }
};
struct I32 {
    using S = int32_t;
};
struct I64 {
    using S = int64_t;
};

// Calls f(E{}) for a floating dtype (f32, f16, bf16, f64); false for any other.
template <class F>
bool with_float(int32_t dtype, F&& f) {
    switch (dtype) {
        case 0: f(F32{}); return true;
        case 1: f(F16{}); return true;
        case 2: f(BF16{}); return true;
        case 3: f(F64{}); return true;
        default: return false;
    }
}

// ---- the walk: rows of the last dimension, blocks of long rows, parallel over blocks

constexpr int64_t kBlock = 8192;  // elements per task along a row

// Operands (K of them) over one index space: shape[nd] and strides[K][nd] in elements.
template <int K>
struct Walk {
    int nd = 0;
    int64_t shape[APH_K_MAX_DIMS] = {};
    int64_t st[K][APH_K_MAX_DIMS] = {};
};

// Calls row(off, start, len) for every block of every row: off[k] is operand k's element offset
// of the row's first element, the block covers row elements [start, start + len). cost: simple
// operations per element (the parallel_for work estimate).
template <int K, class Row>
void for_each_block(const Walk<K>& w, double cost, Row&& row) {
    const int nd = w.nd;
    const int64_t inner = w.shape[nd - 1];
    int64_t rows = 1;
    for (int d = 0; d < nd - 1; ++d) rows *= w.shape[d];
    const int64_t nblk = (inner + kBlock - 1) / kBlock;
    const int64_t tasks = rows * nblk;
    parallel_for(tasks, cost * static_cast<double>(rows) * static_cast<double>(inner), [&](int64_t t0, int64_t t1) {
        // Decompose the first row index into the outer dimensions (idx, row-major) and offsets.
        int64_t idx[APH_K_MAX_DIMS] = {};
        int64_t off[K] = {};
        int64_t r = t0 / nblk, b = t0 % nblk;
        for (int d = nd - 2; d >= 0; --d) {
            idx[d] = r % w.shape[d];
            r /= w.shape[d];
            for (int k = 0; k < K; ++k) off[k] += idx[d] * w.st[k][d];
        }
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t start = b * kBlock;
            row(off, start, std::min(kBlock, inner - start));
            if (++b < nblk) continue;
            b = 0;
            // Next row: increment the counter, carrying into outer dimensions.
            for (int d = nd - 2; d >= 0; --d) {
                for (int k = 0; k < K; ++k) off[k] += w.st[k][d];
                if (++idx[d] < w.shape[d]) break;
                for (int k = 0; k < K; ++k) off[k] -= w.st[k][d] * w.shape[d];
                idx[d] = 0;
            }
        }
    });
}

// The walk of descriptors over ts[0]'s shape (a 0-dim space is one element: [1]).
template <int K>
Walk<K> walk_of(const aph_kt* const (&ts)[K]) {
    Walk<K> w;
    w.nd = ts[0]->ndim;
    for (int d = 0; d < w.nd; ++d) {
        w.shape[d] = ts[0]->shape[d];
        for (int k = 0; k < K; ++k) w.st[k][d] = ts[k]->strides[d];
    }
    if (w.nd == 0) {
        w.nd = 1;
        w.shape[0] = 1;
    }
    return w;
}

// ---- binary

template <int OP, class C>
inline C bin(C x, C y) {
    if constexpr (OP == kAdd) return x + y;
    if constexpr (OP == kSub) return x - y;
    if constexpr (OP == kMul) return x * y;
    if constexpr (OP == kDiv) return x / y;
    // x != x: x is NaN and is returned; y NaN fails the comparison and y is returned.
    if constexpr (OP == kMaximum) return (x > y || x != x) ? x : y;
    if constexpr (OP == kMinimum) return (x < y || x != x) ? x : y;
}

// One block of a binary row: n elements, strides so/sa/sb (sb unused when b is null: the scalar
// bs is the right operand).
template <class E, int OP>
void binary_row(typename E::S* o, const typename E::S* a, const typename E::S* b, typename E::C bs, int64_t n,
                int64_t so, int64_t sa, int64_t sb) {
    using C = typename E::C;
    if (b == nullptr || sb == 0) {
        const C y = b == nullptr ? bs : E::ld(*b);
        if (so == 1 && sa == 1) {
            for (int64_t i = 0; i < n; ++i) o[i] = E::st(bin<OP>(E::ld(a[i]), y));
        } else {
            for (int64_t i = 0; i < n; ++i) o[i * so] = E::st(bin<OP>(E::ld(a[i * sa]), y));
        }
        return;
    }
    if (sa == 0) {
        const C x = E::ld(*a);
        if (so == 1 && sb == 1) {
            for (int64_t i = 0; i < n; ++i) o[i] = E::st(bin<OP>(x, E::ld(b[i])));
        } else {
            for (int64_t i = 0; i < n; ++i) o[i * so] = E::st(bin<OP>(x, E::ld(b[i * sb])));
        }
        return;
    }
    if (so == 1 && sa == 1 && sb == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = E::st(bin<OP>(E::ld(a[i]), E::ld(b[i])));
    } else {
        for (int64_t i = 0; i < n; ++i) o[i * so] = E::st(bin<OP>(E::ld(a[i * sa]), E::ld(b[i * sb])));
    }
}

template <class E, int OP>
void binary_typed(const aph_k_binary& d) {
    using S = typename E::S;
    S* o = static_cast<S*>(d.out.data);
    const S* a = static_cast<const S*>(d.a.data);
    const S* b = static_cast<const S*>(d.b.data);
    const auto bs = static_cast<typename E::C>(d.scalar);
    // The scalar form walks two operands; b's strides are then never read.
    const aph_kt* const ts[3] = {&d.out, &d.a, b ? &d.b : &d.a};
    const Walk<3> w = walk_of<3>(ts);
    const int last = w.nd - 1;
    const int64_t so = w.st[0][last], sa = w.st[1][last], sb = b ? w.st[2][last] : 0;
    for_each_block<3>(w, 1.0, [&](const int64_t* off, int64_t start, int64_t len) {
        binary_row<E, OP>(o + off[0] + start * so, a + off[1] + start * sa, b ? b + off[2] + start * sb : nullptr, bs,
                          len, so, sa, sb);
    });
}

// ---- unary and activations (compute type C: float, or double for f64)

template <class C>
inline C sigmoid(C x) {
    // Stable for large |x|: exp is only taken of a non-positive argument.
    if constexpr (std::is_same_v<C, float>) {
        return vmath::sigmoid(x);  // branch-free, so sigmoid and silu loops vectorise
    } else {
        if (x >= C(0)) return C(1) / (C(1) + std::exp(-x));
        const C e = std::exp(x);
        return e / (C(1) + e);
    }
}

template <int OP, class C>
inline C un(C x) {
    constexpr C kSqrtHalf = C(0.70710678118654752440);     // 1/√2
    constexpr C kSqrt2OverPi = C(0.79788456080286535588);  // √(2/π)
    constexpr bool f32 = std::is_same_v<C, float>;
    if constexpr (OP == kRelu) return x < C(0) ? C(0) : x;  // NaN stays NaN
    if constexpr (OP == kGelu) {
        if constexpr (f32) return vmath::gelu(x);
        else
            return C(0.5) * x * (C(1) + std::erf(x * kSqrtHalf));
    }
    if constexpr (OP == kGeluTanh) {
        if constexpr (f32) return vmath::gelu_tanh(x);
        else
            return C(0.5) * x * (C(1) + std::tanh(kSqrt2OverPi * (x + C(0.044715) * x * x * x)));
    }
    if constexpr (OP == kSilu) return x * sigmoid(x);
    if constexpr (OP == kTanh) {
        if constexpr (f32) return vmath::tanh(x);
        else
            return std::tanh(x);
    }
    if constexpr (OP == kSigmoid) return sigmoid(x);
    if constexpr (OP == kExp) return std::exp(x);
    if constexpr (OP == kLog) return std::log(x);
    if constexpr (OP == kNeg) return -x;
    if constexpr (OP == kSqrt) return std::sqrt(x);
    if constexpr (OP == kRsqrt) return C(1) / std::sqrt(x);
    if constexpr (OP == kAbs) return std::fabs(x);
}

// Cost in simple operations per element (for the parallel_for estimate).
constexpr double unary_cost(int op) { return (op == kRelu || op == kNeg || op == kAbs) ? 1.0 : 20.0; }

// ---- f32 vector paths (contiguous rows), one instantiation per instruction set

// The vmath function computing unary op OP on vectors, or void when there is none (then the
// plain loop runs: the compiler vectorises it well enough, or it is libm-bound anyway).
template <int OP>
struct VecOpOf {
    using type = void;
};
template <>
struct VecOpOf<kGelu> {
    using type = vmath::GeluOp;
};
template <>
struct VecOpOf<kGeluTanh> {
    using type = vmath::GeluTanhOp;
};
template <>
struct VecOpOf<kSilu> {
    using type = vmath::SiluOp;
};
template <>
struct VecOpOf<kSigmoid> {
    using type = vmath::SigmoidOp;
};
template <>
struct VecOpOf<kTanh> {
    using type = vmath::TanhOp;
};
// Bias without activation.
struct IdentityOp {
    template <class V>
    static APH_VI V f(V x) {
        return x;
    }
};
template <>
struct VecOpOf<-1> {
    using type = IdentityOp;
};

// y = Op(x + b) over n elements (b == nullptr: y = Op(x)). W lanes.
template <int W, class Op>
APH_VI void act_row(const float* x, const float* b, float* y, int64_t n) {
    using V = vmath::Vec<W>;
    int64_t i = 0;
    if (b == nullptr) {
        vmath::map<W, Op>(x, y, n);
        return;
    }
    for (; i + W <= n; i += W) vmath::store(y + i, Op::f(vmath::load<V>(x + i) + vmath::load<V>(b + i)));
    if (i < n) {
        const V v = vmath::load_part<V>(x + i, n - i) + vmath::load_part<V>(b + i, n - i);
        vmath::store_part(y + i, Op::f(v), n - i);
    }
}

using ActRowFn = void (*)(const float*, const float*, float*, int64_t);

template <class Op>
void act_row_generic(const float* x, const float* b, float* y, int64_t n) {
    act_row<4, Op>(x, b, y, n);
}
#ifdef APH_X86_DISPATCH
template <class Op>
APH_TARGET_AVX2 void act_row_avx2(const float* x, const float* b, float* y, int64_t n) {
    act_row<8, Op>(x, b, y, n);
}
template <class Op>
APH_TARGET_AVX512 void act_row_avx512(const float* x, const float* b, float* y, int64_t n) {
    act_row<16, Op>(x, b, y, n);
}
#endif

template <class Op>
ActRowFn act_row_fn() {
#ifdef APH_X86_DISPATCH
    switch (cpu_isa()) {
        case Isa::kAvx512: return act_row_avx512<Op>;
        case Isa::kAvx2: return act_row_avx2<Op>;
        case Isa::kGeneric: break;
    }
#endif
    return act_row_generic<Op>;
}

template <class E, int OP>
void unary_typed(const aph_k_unary& d) {
    using S = typename E::S;
    S* o = static_cast<S*>(d.out.data);
    const S* x = static_cast<const S*>(d.x.data);
    const aph_kt* const ts[2] = {&d.out, &d.x};
    const Walk<2> w = walk_of<2>(ts);
    const int64_t so = w.st[0][w.nd - 1], sx = w.st[1][w.nd - 1];
    using VecOp = typename VecOpOf<OP>::type;
    ActRowFn vec_row = nullptr;
    if constexpr (std::is_same_v<E, F32> && !std::is_void_v<VecOp>) {
        if (so == 1 && sx == 1) vec_row = act_row_fn<VecOp>();
    }
    for_each_block<2>(w, unary_cost(OP), [&](const int64_t* off, int64_t start, int64_t n) {
        S* po = o + off[0] + start * so;
        const S* px = x + off[1] + start * sx;
        if constexpr (std::is_same_v<E, F32>) {
            if (vec_row != nullptr) {
                vec_row(px, nullptr, po, n);
                return;
            }
        }
        if (so == 1 && sx == 1) {
            for (int64_t i = 0; i < n; ++i) po[i] = E::st(un<OP>(E::ld(px[i])));
        } else {
            for (int64_t i = 0; i < n; ++i) po[i * so] = E::st(un<OP>(E::ld(px[i * sx])));
        }
    });
}

// aph_activation -> the unary op computing it (NONE: -1).
constexpr int act_op(int act) {
    switch (act) {
        case kActRelu: return kRelu;
        case kActGelu: return kGelu;
        case kActGeluTanh: return kGeluTanh;
        case kActSilu: return kSilu;
        case kActTanh: return kTanh;
        default: return -1;
    }
}

template <int OP, class C>
inline C act(C v) {
    if constexpr (OP < 0) return v;
    else
        return un<OP>(v);
}

// x, out contiguous [rows, n]; bias [n]. Parallel over rows (whole rows per task: the bias row
// is reused from cache).
template <class E, int OP>
void bias_act_typed(const aph_k_bias_act& d) {
    using S = typename E::S;
    using C = typename E::C;
    S* o = static_cast<S*>(d.out.data);
    const S* x = static_cast<const S*>(d.x.data);
    const S* bias = static_cast<const S*>(d.bias.data);
    const int64_t n = d.n;
    const int64_t bstride = d.bias.strides[0];
    const double cost = (OP < 0 ? 1.0 : unary_cost(OP)) * static_cast<double>(n) * static_cast<double>(d.rows);
    using VecOp = typename VecOpOf<OP>::type;
    ActRowFn vec_row = nullptr;
    if constexpr (std::is_same_v<E, F32> && !std::is_void_v<VecOp>) {
        if (bstride == 1) vec_row = act_row_fn<VecOp>();
    }
    parallel_for(d.rows, cost, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            S* po = o + r * n;
            const S* px = x + r * n;
            if constexpr (std::is_same_v<E, F32>) {
                if (vec_row != nullptr) {
                    vec_row(px, bias, po, n);
                    continue;
                }
            }
            if (bstride == 1) {
                for (int64_t i = 0; i < n; ++i) po[i] = E::st(act<OP>(C(E::ld(px[i]) + E::ld(bias[i]))));
            } else {
                for (int64_t i = 0; i < n; ++i) po[i] = E::st(act<OP>(C(E::ld(px[i]) + E::ld(bias[i * bstride]))));
            }
        }
    });
}

// ---- cast

// Round to odd: d truncated to f32 with the lowest mantissa bit set when inexact. Rounding this
// to a narrower format (f16, bf16: at least 2 bits fewer) to nearest even gives the same result
// as rounding d directly, which rounding d to nearest f32 first would not (double rounding).
float f64_to_f32_odd(double d) {
    const float f = static_cast<float>(d);
    if (std::isnan(d) || static_cast<double>(f) == d) return f;  // exact, infinite or NaN
    float t = f;
    if (std::fabs(static_cast<double>(f)) > std::fabs(d)) t = std::nextafter(f, 0.0f);  // toward zero
    return num::bits_f32(num::f32_bits(t) | 1u);
}

// Round to odd from an integer: |v| truncated to 24 significant bits, the lowest set when any
// discarded bit was.
float i64_to_f32_odd(int64_t v) {
    const uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    if (u < (uint64_t{1} << 24)) return static_cast<float>(v);  // exact
    const int shift = 64 - std::countl_zero(u) - 24;
    uint64_t m = u >> shift;
    if ((u & ((uint64_t{1} << shift) - 1)) != 0) m |= 1;
    const float r = std::ldexp(static_cast<float>(m), shift);  // m < 2^24: exact
    return v < 0 ? -r : r;
}

// Float to integer: toward zero, saturating, NaN -> 0.
template <class I>
I to_int(double v) {
    constexpr double hi = -static_cast<double>(std::numeric_limits<I>::min());  // 2^31 or 2^63
    if (std::isnan(v)) return 0;
    if (v >= hi) return std::numeric_limits<I>::max();
    if (v < -hi) return std::numeric_limits<I>::min();
    return static_cast<I>(v);
}

// The value of a source element in the widest form that holds it exactly.
template <class From>
auto src_value(typename From::S v) {
    if constexpr (std::is_same_v<From, F16> || std::is_same_v<From, BF16>) return From::ld(v);
    else
        return v;  // float, double, int32_t, int64_t
}

// A source value (float, double, int32_t or int64_t) as To's storage, rounded once.
template <class To, class V>
typename To::S convert(V v) {
    if constexpr (std::is_same_v<To, F64>) {
        return static_cast<double>(v);  // exact except i64 beyond 2^53: one rounding
    } else if constexpr (std::is_same_v<To, F32>) {
        return static_cast<float>(v);  // one rounding from any source
    } else if constexpr (std::is_same_v<To, F16> || std::is_same_v<To, BF16>) {
        float f;
        if constexpr (std::is_same_v<V, float>) f = v;
        else if constexpr (std::is_same_v<V, double>)
            f = f64_to_f32_odd(v);
        else
            f = i64_to_f32_odd(v);
        return To::st(f);
    } else if constexpr (std::is_floating_point_v<V>) {
        return to_int<typename To::S>(static_cast<double>(v));
    } else {
        // Integer to integer: saturating (only i64 -> i32 narrows).
        using I = typename To::S;
        if constexpr (sizeof(V) > sizeof(I)) {
            if (v > std::numeric_limits<I>::max()) return std::numeric_limits<I>::max();
            if (v < std::numeric_limits<I>::min()) return std::numeric_limits<I>::min();
        }
        return static_cast<I>(v);
    }
}

template <class From, class To>
void cast_typed(const aph_k_unary& d) {
    using SI = typename From::S;
    using SO = typename To::S;
    SO* o = static_cast<SO*>(d.out.data);
    const SI* x = static_cast<const SI*>(d.x.data);
    const aph_kt* const ts[2] = {&d.out, &d.x};
    const Walk<2> w = walk_of<2>(ts);
    const int64_t so = w.st[0][w.nd - 1], sx = w.st[1][w.nd - 1];
    for_each_block<2>(w, 2.0, [&](const int64_t* off, int64_t start, int64_t n) {
        SO* po = o + off[0] + start * so;
        const SI* px = x + off[1] + start * sx;
        if (so == 1 && sx == 1) {
            for (int64_t i = 0; i < n; ++i) po[i] = convert<To>(src_value<From>(px[i]));
        } else {
            for (int64_t i = 0; i < n; ++i) po[i * so] = convert<To>(src_value<From>(px[i * sx]));
        }
    });
}

// Calls f(T{}) for a cast dtype; false for any other.
template <class F>
bool with_cast_type(int32_t dtype, F&& f) {
    if (with_float(dtype, f)) return true;
    switch (dtype) {
        case 8: f(I32{}); return true;
        case 9: f(I64{}); return true;
        default: return false;
    }
}

// Calls f(std::integral_constant<int, OP>{}) for OP in [0, count); false outside.
template <int I, int N, class F>
bool with_op(int op, F&& f) {
    if constexpr (I >= N) {
        return false;
    } else {
        if (op == I) {
            f(std::integral_constant<int, I>{});
            return true;
        }
        return with_op<I + 1, N>(op, f);
    }
}

}  // namespace

int cpu_binary(const aph_k_binary& d, std::string& msg) {
    bool op_ok = true;
    const bool dtype_ok = with_float(d.out.dtype, [&](auto e) {
        using E = decltype(e);
        op_ok = with_op<0, kMinimum + 1>(d.op, [&](auto c) { binary_typed<E, decltype(c)::value>(d); });
    });
    if (!dtype_ok) {
        msg = "binary: dtype " + std::to_string(d.out.dtype) + " is not a floating dtype";
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    if (!op_ok) {
        msg = "binary: op " + std::to_string(d.op) + " is not an aph_binary_op";
        return APH_K_STATUS_FAILED;
    }
    return 0;
}

int cpu_unary(const aph_k_unary& d, std::string& msg) {
    bool op_ok = true;
    const bool dtype_ok = with_float(d.out.dtype, [&](auto e) {
        using E = decltype(e);
        op_ok = with_op<0, kAbs + 1>(d.op, [&](auto c) { unary_typed<E, decltype(c)::value>(d); });
    });
    if (!dtype_ok) {
        msg = "unary: dtype " + std::to_string(d.out.dtype) + " is not a floating dtype";
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    if (!op_ok) {
        msg = "unary: op " + std::to_string(d.op) + " is not an aph_unary_op";
        return APH_K_STATUS_FAILED;
    }
    return 0;
}

int cpu_cast(const aph_k_unary& d, std::string& msg) {
    bool out_ok = true;
    const bool in_ok = with_cast_type(d.x.dtype, [&](auto from) {
        out_ok = with_cast_type(d.out.dtype, [&](auto to) { cast_typed<decltype(from), decltype(to)>(d); });
    });
    if (!in_ok || !out_ok) {
        msg = "cast: dtype " + std::to_string(in_ok ? d.out.dtype : d.x.dtype) + " is not castable";
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    return 0;
}

int cpu_bias_act(const aph_k_bias_act& d, std::string& msg) {
    bool act_ok = true;
    const bool dtype_ok = with_float(d.out.dtype, [&](auto e) {
        using E = decltype(e);
        act_ok = with_op<0, kActTanh + 1>(d.act, [&](auto c) { bias_act_typed<E, act_op(decltype(c)::value)>(d); });
    });
    if (!dtype_ok) {
        msg = "bias_act: dtype " + std::to_string(d.out.dtype) + " is not a floating dtype";
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    if (!act_ok) {
        msg = "bias_act: activation " + std::to_string(d.act) + " is not an aph_activation";
        return APH_K_STATUS_FAILED;
    }
    return 0;
}

}  // namespace aph::kernels
