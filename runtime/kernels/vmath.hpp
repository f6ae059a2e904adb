// Branch-free float math for the CPU kernels, written once over a "vector" type V that is either
// float (one lane) or a GCC vector of 4, 8 or 16 floats, and the instruction-set choice that picks
// the widest of these the processor has.
//
// How the kernels use it: a row loop is written as a template over the lane count W and compiled
// three times: as it is (4 lanes: SSE2 on x86-64, NEON on AArch64, plain scalar code elsewhere),
// inside a function with APH_TARGET_AVX2 (8 lanes, FMA) and inside one with APH_TARGET_AVX512
// (16 lanes); cpu_isa() picks one at run time (__builtin_cpu_supports). Everything here is
// always inlined, so vectors never cross a function call boundary (which is why the kernels are
// compiled with -Wno-psabi: GCC warns about an ABI those calls would have).
//
// Accuracy (tests/test_vmath.cpp, against double-precision libm over about 10^7 points per
// function, the largest error of the scalar, generic, AVX2 and AVX-512 forms): exp 1.0 ulp,
// sigmoid 2.8, erf 2.4 (1.4 with FMA), erfc (a >= 0.5) 5.8, tanh 1.2, gelu 6.9, silu 3.5,
// gelu_tanh 4.7 ulp plus about 3.5 ulp per unit of its exponent |2u| (the f32 rounding of u
// itself, amplified by |2u|: at x = -5 that is about 60 ulp, 4e-6 relative, where the result is
// 1e-7). Results below the smallest normal float (about 1.2e-38; 1e-36 for silu and gelu_tanh,
// whose exponential is flushed first) may be 0: the exponential flushes subnormal results, as
// these functions feed softmax sums, sigmoids and GELUs compared with numbers near 1. NaN in
// gives NaN out everywhere.
//
// The polynomial coefficients were fitted for these ranges with runtime/kernels/vmath_fit.py
// (near-minimax by iteratively reweighted least squares, in high precision; rounded to f32).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define APH_X86_DISPATCH 1
#define APH_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#if defined(__clang__)  // Clang takes no prefer-vector-width in a target attribute
#define APH_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c")))
#else
#define APH_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c,prefer-vector-width=512")))
#endif
#endif

#define APH_VI inline __attribute__((always_inline))

namespace aph::kernels::vmath {
// GCC's __builtin_shuffle with an index vector m (one source: lane l of the result is a[m[l]];
// two: a's lanes then b's). Clang has only __builtin_shufflevector with constant indices, so
// there the lanes are picked one by one (the kernels' masks are constants it folds). Clang builds
// the sanitizer and fuzzing stage.
template <class V, class M>
APH_VI V shuffle(V a, M m) {
#if defined(__clang__)
    constexpr int n = static_cast<int>(sizeof(V) / sizeof(a[0]));
    V r;
    for (int l = 0; l < n; ++l) r[l] = a[m[l] & (n - 1)];
    return r;
#else
    return __builtin_shuffle(a, m);
#endif
}
template <class V, class M>
APH_VI V shuffle(V a, V b, M m) {
#if defined(__clang__)
    constexpr int n = static_cast<int>(sizeof(V) / sizeof(a[0]));
    V r;
    for (int l = 0; l < n; ++l) r[l] = (m[l] & n) ? b[m[l] & (n - 1)] : a[m[l] & (n - 1)];
    return r;
#else
    return __builtin_shuffle(a, b, m);
#endif
}
}  // namespace aph::kernels::vmath

namespace aph::kernels {

// The instruction sets the kernels are compiled for, in increasing order.
enum class Isa : int {
    kGeneric = 0,  // 4 lanes, no FMA assumed
    kAvx2 = 1,     // AVX2 + FMA + F16C: 8 lanes
    kAvx512 = 2,   // AVX-512 F/VL/BW/DQ: 16 lanes
};

// The widest set this processor (and its OS) supports, capped by APHELION_CPU_ISA when that is
// set to generic, avx2 or avx512 (so every path can be tested on one machine). Read once.
Isa cpu_isa() noexcept;

namespace vmath {

typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef uint32_t u32x8 __attribute__((vector_size(32)));
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef int32_t i32x4 __attribute__((vector_size(16)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

// Lane type traits: N lanes, U the unsigned lanes of the same width, I the signed ones (the
// type of a comparison result).
template <class V>
struct VT;
template <>
struct VT<float> {
    static constexpr int N = 1;
    using U = uint32_t;
    using I = int32_t;
};
template <>
struct VT<f32x4> {
    static constexpr int N = 4;
    using U = u32x4;
    using I = i32x4;
};
template <>
struct VT<f32x8> {
    static constexpr int N = 8;
    using U = u32x8;
    using I = i32x8;
};
template <>
struct VT<f32x16> {
    static constexpr int N = 16;
    using U = u32x16;
    using I = i32x16;
};

// The vector of W floats (W = 1: float).
template <int W>
struct VecW;
template <>
struct VecW<1> {
    using type = float;
};
template <>
struct VecW<4> {
    using type = f32x4;
};
template <>
struct VecW<8> {
    using type = f32x8;
};
template <>
struct VecW<16> {
    using type = f32x16;
};
template <int W>
using Vec = typename VecW<W>::type;

template <class V>
APH_VI V splat(float c) {
    if constexpr (VT<V>::N == 1) return c;
    else
        return V{} + c;
}
template <class V>
APH_VI typename VT<V>::U as_u(V v) {
    return std::bit_cast<typename VT<V>::U>(v);
}
template <class V>
APH_VI V as_f(typename VT<V>::U u) {
    return std::bit_cast<V>(u);
}
// Lane-wise m ? a : b for a comparison result m.
template <class V, class M>
APH_VI V select(M m, V a, V b) {
    return m ? a : b;
}
template <class V>
APH_VI V vabs(V x) {
    return as_f<V>(as_u(x) & 0x7fffffffu);
}
// x with the sign bit of s.
template <class V>
APH_VI V copysign(V x, V s) {
    return as_f<V>((as_u(x) & 0x7fffffffu) | (as_u(s) & 0x80000000u));
}

// Unaligned loads and stores of whole vectors, and of the first n < N lanes (the rest 0).
template <class V>
APH_VI V load(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class V>
APH_VI void store(float* p, V v) {
    std::memcpy(p, &v, sizeof v);
}
template <class V>
APH_VI V load_part(const float* p, int64_t n) {
    V v{};
    std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(float));
    return v;
}
template <class V>
APH_VI void store_part(float* p, V v, int64_t n) {
    std::memcpy(p, &v, static_cast<size_t>(n) * sizeof(float));
}

// The sum of a vector's lanes (in lane order).
template <class V>
APH_VI float hsum(V v) {
    if constexpr (VT<V>::N == 1) {
        return v;
    } else {
        float s = 0.0f;
        for (int i = 0; i < VT<V>::N; ++i) s += v[i];
        return s;
    }
}

// ---- exp -------------------------------------------------------------------------------------

// e^(hi + lo) for |lo| small against hi or both moderate (the erfc tail passes -a² split into
// two parts): x = n·ln2 + r with n = round((hi + lo)/ln2), r = (hi - n·ln2) + lo, where n·ln2 is
// subtracted from hi first in two pieces (ln2 = 0.693359375 - 2.12194440e-4, the first exact in
// 9 bits, so n·C1 is exact) and lo is added to the small remainder. e^r by Cephes' degree-6
// polynomial, 2^n through the exponent bits. hi + lo above 88.376: +inf; below -87.337: 0 (where
// libm would give subnormals); NaN: NaN.
// The reduction and polynomial of exp_parts without its range handling: e^(hi + lo) with n taken
// from xn (hi + lo or an approximation of it; xn and hi + lo must lie in exp_parts' range).
template <class V>
APH_VI V exp_reduced(V hi, V lo, V xn) {
    using U = typename VT<V>::U;
    // n = round(xn / ln2) with the 1.5·2^23 trick: the integer lands in the low mantissa bits.
    constexpr float kMagic = 12582912.0f;
    const V t = xn * 1.44269504088896341f + kMagic;
    const V n = t - kMagic;
    const U ni = as_u(t) - std::bit_cast<uint32_t>(kMagic);  // two's complement n, |n| <= 127
    V r = hi - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    r = r + lo;
    V p = splat<V>(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const V y = p * r * r + r + 1.0f;
    return y * as_f<V>((ni + 127u) << 23);
}

template <class V>
APH_VI V exp_parts(V hi, V lo) {
    constexpr float kLo = -87.3365478515625f, kHi = 88.3762626647949f;
    const V x = hi + lo;
    // The clamped argument (a NaN passes both comparisons unchanged). Where the clamp applies
    // the reduced value is meaningless and the result is replaced below.
    V xc = select(x < kLo, splat<V>(kLo), x);
    xc = select(xc > kHi, splat<V>(kHi), xc);
    const V v = exp_reduced(hi, lo, xc);
    return select(x < kLo, splat<V>(0.0f), select(x > kHi, splat<V>(std::numeric_limits<float>::infinity()), v));
}

// e^x within 2 ulp for x in [-87.33, 88.37] (see exp_parts for the edges).
template <class V>
APH_VI V exp(V x) {
    return exp_parts(x, splat<V>(0.0f));
}

// 1 / (1 + e^-x), stable for large |x| (the exponential is only taken of -|x|).
template <class V>
APH_VI V sigmoid(V x) {
    const V e = exp(-vabs(x));
    const V s = 1.0f / (1.0f + e);
    return select(x >= 0.0f, s, e * s);  // NaN: both comparisons false, e and s NaN
}

// ---- erf, erfc ---------------------------------------------------------------------------------

// erf(x) = x·(c0 + s·Q(s)) for |x| < 1, s = x², c0 = 2/√π: Q is a degree-5 polynomial
// (relative error 1.3e-9 before rounding). c0 = kC0h + kC0l, so that x·c0 is formed with one
// rounding where FMA is available.
constexpr float kC0h = 1.128379225730896f, kC0l = -5.8635382771399236e-08f;
template <class V>
APH_VI V erf_small_q(V s) {
    V q = splat<V>(7.898695184849203e-05f);
    q = q * s - 0.0008024818962439895f;
    q = q * s + 0.00519016245380044f;
    q = q * s - 0.02685491554439068f;
    q = q * s + 0.11283617466688156f;
    q = q * s - 0.3761262893676758f;
    return q;
}
template <class V>
APH_VI V erf_small(V x) {
    const V s = x * x;
    return x * kC0h + x * (kC0l + s * erf_small_q(s));
}

// erfc(a) for a >= 0.5 given a² = sq_hi + sq_lo (sq_hi exact, sq_lo tiny): t · e^(-a² + R(t))
// with t = 1/(1 + a/2) and R a degree-9 polynomial (|error| 1.2e-9 in the exponent before
// rounding).
// The exponent's rounding error stays below an ulp of the small remainder because -sq_hi is
// reduced first (exp_parts). (Near a = 9, erfc's relative sensitivity to a is 2a² = 160: an
// a rounded to f32 would already cost 1e-5, hence the caller's exact a².)
template <class V>
APH_VI V erfc_from_square(V a, V sq_hi, V sq_lo) {
    const V t = 1.0f / (1.0f + 0.5f * a);
    V r = splat<V>(0.25664588809013367f);
    r = r * t - 1.2063233852386475f;
    r = r * t + 2.2239162921905518f;
    r = r * t - 1.9207171201705933f;
    r = r * t + 0.7917813658714294f;
    r = r * t - 0.3972668945789337f;
    r = r * t + 0.1511167734861374f;
    r = r * t + 0.3656840920448303f;
    r = r * t + 1.000732660293579f;
    r = r * t - 1.2655372619628906f;
    return t * exp_parts(-sq_hi, r - sq_lo);
}

// v² = hi + lo with hi exact (v cut to its top 12 significant bits, vh, has an exact square) and
// lo = vl·(vh + v), vl = v - vh, tiny. (Splitting by masking bits, not by Veltkamp's v·4097
// trick, which FMA contraction would silently break.)
template <class V>
APH_VI void square_parts(V v, V& hi, V& lo) {
    const V vh = as_f<V>(as_u(v) & 0xfffff000u);
    const V vl = v - vh;
    hi = vh * vh;
    lo = vl * (vh + v);
}

// erfc(a) for a >= 0.5 (NaN passes). a is clamped to 10, where erfc is already far below the
// smallest float (the result is then 0).
template <class V>
APH_VI V erfc_large(V a) {
    a = select(a > 10.0f, splat<V>(10.0f), a);
    V hi, lo;
    square_parts(a, hi, lo);
    return erfc_from_square(a, hi, lo);
}

// erf(x): x·P(x²) below |x| = 1, else ±(1 - erfc(|x|)).
template <class V>
APH_VI V erf(V x) {
    const V a = vabs(x);
    const V small = erf_small(x);
    const V large = copysign(1.0f - erfc_large(select(a < 1.0f, splat<V>(1.0f), a)), x);
    return select(a < 1.0f, small, large);
}

// ---- tanh ----------------------------------------------------------------------------------------

// tanh(x): x + x³·P(x²) below |x| = 0.9, else ±(1 - 2/(e^(2|x|) + 1)) (1 beyond 9.1, where e^(2|x|)
// is huge or infinite: 2/inf is 0).
template <class V>
APH_VI V tanh(V x) {
    const V a = vabs(x);
    const V s = x * x;
    V p = splat<V>(0.0013039597542956471f);
    p = p * s - 0.006860055960714817f;
    p = p * s + 0.02090412750840187f;
    p = p * s - 0.05372149124741554f;
    p = p * s + 0.13330359756946564f;
    p = p * s - 0.3333321213722229f;
    const V small = x + x * s * p;
    const V e = exp(2.0f * select(a < 0.9f, splat<V>(0.9f), a));
    const V large = copysign(1.0f - 2.0f / (e + 1.0f), x);
    return select(a < 0.9f, small, large);
}

// ---- activations ---------------------------------------------------------------------------------

// GELU, exact form: x·Φ(x), Φ the standard normal distribution function. With a = |x|,
// Φ(-a) = e^(-a²/2)·P(t), t = 1/(1 + 0.3a), P of degree 8 (relative error 5.7e-8 before rounding
// for 0 <= a <= 13.25, fitted by vmath_fit.py); Φ(x) = 1 - Φ(-a) for x >= 0, which never cancels
// (Φ(-a) <= 1/2). The exponential is taken of -a²/2 with a² split exactly (square_parts), so the
// relative accuracy holds far into the negative tail, and needs no range clamps: a is capped at
// 13.2, where a²/2 = 87.12 is still above exp_parts' underflow edge, and beyond it x·Φ(x) is
// below the smallest normal float: 0. One exponential and one division per lane, no branch
// computed twice (the form before this one evaluated erf's polynomial and erfc's for every lane:
// 1.9x the time).
template <class V>
APH_VI V gelu(V x) {
    constexpr float kCap = 13.2f;
    V a = vabs(x);
    a = select(a > kCap, splat<V>(kCap), a);  // NaN stays NaN
    const V t = 1.0f / (1.0f + 0.3f * a);
    V p = splat<V>(0.038305338472127914f);
    p = p * t - 0.16881100833415985f;
    p = p * t + 0.2279253602027893f;
    p = p * t - 0.07566466182470322f;
    p = p * t + 0.14195290207862854f;
    p = p * t + 0.09493228048086166f;
    p = p * t + 0.12185652554035187f;
    p = p * t + 0.1194966658949852f;
    p = p * t + 6.640243555011693e-06f;
    // e = e^(-(hi + lo)/2) for a² = hi + lo (both halved exactly), without exp_parts' range
    // handling: -a²/2 >= -87.12 here.
    V hi, lo;
    square_parts(a, hi, lo);
    const V h = -0.5f * hi;
    V e = exp_reduced(h, -0.5f * lo, h);
    e = select(a >= kCap, splat<V>(0.0f), e);
    // x < 0: (x·P)·e, so that no subnormal is formed on the way to a normal result; x >= 0:
    // x·(1 - P·e) (+inf stays +inf).
    return select(x < 0.0f, (x * p) * e, x * (1.0f - p * e));
}

// GELU, tanh form: x/2 · (1 + tanh(u)), u = √(2/π)(x + 0.044715x³), computed as x·σ(2u) (the same
// number: (1 + tanh u)/2 = σ(2u)), which has no cancellation for negative x.
template <class V>
APH_VI V gelu_tanh(V x) {
    const V u = 0.79788456080286535588f * (x + 0.044715f * x * x * x);
    return x * sigmoid(u + u);
}

template <class V>
APH_VI V silu(V x) {
    return x * sigmoid(x);
}

// ---- array loops ----------------------------------------------------------------------------------

// The functions as types, for loops templated on them: Op::f(v). (Not lambdas: a lambda is
// compiled for the default instruction set even inside an AVX-512 function, and a vector passed
// to it by value would cross a call with two different ABIs. These are always inlined.)
struct ExpOp {
    template <class V>
    static APH_VI V f(V x) {
        return exp(x);
    }
};
struct SigmoidOp {
    template <class V>
    static APH_VI V f(V x) {
        return sigmoid(x);
    }
};
struct ErfOp {
    template <class V>
    static APH_VI V f(V x) {
        return erf(x);
    }
};
struct ErfcLargeOp {
    template <class V>
    static APH_VI V f(V x) {
        return erfc_large(x);
    }
};
struct TanhOp {
    template <class V>
    static APH_VI V f(V x) {
        return tanh(x);
    }
};
struct GeluOp {
    template <class V>
    static APH_VI V f(V x) {
        return gelu(x);
    }
};
struct GeluTanhOp {
    template <class V>
    static APH_VI V f(V x) {
        return gelu_tanh(x);
    }
};
struct SiluOp {
    template <class V>
    static APH_VI V f(V x) {
        return silu(x);
    }
};

// y[i] = Op::f(x[i]) for i < n, W lanes at a time (the tail through a partial vector).
template <int W, class Op>
APH_VI void map(const float* x, float* y, int64_t n) {
    using V = Vec<W>;
    int64_t i = 0;
    for (; i + W <= n; i += W) store(y + i, Op::f(load<V>(x + i)));
    if (i < n) store_part(y + i, Op::f(load_part<V>(x + i, n - i)), n - i);
}

// Scalar wrappers, for code that handles one element at a time.
inline float exp(float x) { return exp<float>(x); }
inline float sigmoid(float x) { return sigmoid<float>(x); }

}  // namespace vmath
}  // namespace aph::kernels
