// CPU kernel of rotary position embedding (aph_k_rope): x and out [B, S, H, D] with any strides
// (possibly the same memory), positions [B, S] (batch stride 0 when shared).
//
// For each (b, s): the angles p · theta^(-2i/D) of the D/2 pairs are computed in double from the
// integer position and their cos/sin rounded to the compute type (f32; f64 for f64) once, then
// every head is rotated with them. Doing the angle in double keeps large positions exact
// (p · inv_freq in f32 loses the angle's fractional part beyond p ~ 10^5); the CUDA kernel
// (cuda/k_rope.cu) makes the same computation, so both devices agree to f32 rounding.
//
// The cos/sin table of a row is computed as double vectors (sincos_w below: 8 lanes with
// AVX-512, 4 with AVX2, 2 otherwise): Cody-Waite reduction by π/2 in three parts, then the
// Taylor polynomials of sin and cos on [-π/4, π/4] (truncation error below 5e-17), so the table
// agrees with libm's cos and sin to about 1e-16 before it is rounded to f32. Angles beyond
// 2^20·π/2 (positions above about 1.6 million) use libm.
//
// f32 rows whose last dimension is contiguous in x and out are rotated as f32 vectors (W lanes):
//   half layout        out[i] = x[i]·c - x[i+D/2]·s,  out[i+D/2] = x[i]·s + x[i+D/2]·c
//   interleaved layout out[j] = x[j]·cd[j] + x[j^1]·sd[j]  (cd = c repeated per pair,
//                      sd = (-s, +s) per pair; x[j^1] by swapping neighbouring lanes)
// Every vector of x is loaded before the vectors of out it feeds are stored, so in place is safe.
// Other dtypes and strided rows take the scalar loop.
#include "cpu.hpp"
#include "float_types.hpp"
#include "parallel.hpp"
#include "vmath.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

namespace aph::kernels {
namespace {

using namespace fp;  // F16, BF16, to_acc, from_acc, Acc, dispatch (float_types.hpp)

typedef double f64x2 __attribute__((vector_size(16)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));
template <int WD>
struct DVec;
template <>
struct DVec<2> {
    using type = f64x2;
};
template <>
struct DVec<4> {
    using type = f64x4;
};
template <>
struct DVec<8> {
    using type = f64x8;
};

// π/2 = kPio2a + kPio2b + kPio2c: the first two have 33 significant bits, so k·kPio2a and
// k·kPio2b are exact for |k| < 2^20.
constexpr double kPio2a = 1.5707963267341256, kPio2b = 6.077100506303966e-11, kPio2c = 2.0222662487959506e-21;
constexpr double kTwoOverPi = 0.6366197723675814;
constexpr double kMaxVectorAngle = 1647099.0;  // < 2^20·π/2

// c[i] = cos(a[i]), s[i] = sin(a[i]) for n angles with |a| < kMaxVectorAngle, WD at a time.
template <int WD>
APH_VI void sincos_w(const double* a, double* c, double* s, int64_t n) {
    using V = typename DVec<WD>::type;
    for (int64_t i = 0; i < n; i += WD) {
        const int64_t k = n - i < WD ? n - i : WD;
        V x{};
        if (k == WD) std::memcpy(&x, a + i, sizeof x);  // (a fixed size: one vector load)
        else
            std::memcpy(&x, a + i, static_cast<size_t>(k) * sizeof(double));
        // q = round(x·2/π) (1.5·2^52 trick: the integer lands in the low mantissa bits).
        constexpr double kMagic = 6755399441055744.0;
        const V t = x * kTwoOverPi + kMagic;
        const V q = t - kMagic;
        V r = x - q * kPio2a;
        r = r - q * kPio2b;
        r = r - q * kPio2c;
        const V r2 = r * r;
        // sin r = r + r³·(-1/3! + r²/5! - ...), cos r = 1 - r²/2 + r⁴·(1/4! - r²/6! + ...).
        V ps = r2 * (-1.0 / 1307674368000.0) + 1.0 / 6227020800.0;
        ps = ps * r2 - 1.0 / 39916800.0;
        ps = ps * r2 + 1.0 / 362880.0;
        ps = ps * r2 - 1.0 / 5040.0;
        ps = ps * r2 + 1.0 / 120.0;
        ps = ps * r2 - 1.0 / 6.0;
        const V sn = r + r * r2 * ps;
        V pc = r2 * (1.0 / 20922789888000.0) - 1.0 / 87178291200.0;
        pc = pc * r2 + 1.0 / 479001600.0;
        pc = pc * r2 - 1.0 / 3628800.0;
        pc = pc * r2 + 1.0 / 40320.0;
        pc = pc * r2 - 1.0 / 720.0;
        pc = pc * r2 + 1.0 / 24.0;
        const V cs = (1.0 - 0.5 * r2) + r2 * r2 * pc;
        // Quadrant (q mod 4, from t's low bits): swap on odd, negate sin on 2 and 3, cos on 1 and 2.
        using M = decltype(V{} < V{});  // the 64-bit integer lanes
        const M qi = std::bit_cast<M>(t);
        const auto odd = (qi & 1) != 0;
        const auto neg_s = (qi & 2) != 0;
        const auto neg_c = ((qi + 1) & 2) != 0;
        const V sw = odd ? cs : sn;
        const V cw = odd ? sn : cs;
        const V so = neg_s ? -sw : sw;
        const V co = neg_c ? -cw : cw;
        if (k == WD) {
            std::memcpy(c + i, &co, sizeof co);
            std::memcpy(s + i, &so, sizeof so);
        } else {
            std::memcpy(c + i, &co, static_cast<size_t>(k) * sizeof(double));
            std::memcpy(s + i, &so, static_cast<size_t>(k) * sizeof(double));
        }
    }
}

using SinCosFn = void (*)(const double*, double*, double*, int64_t);
void sincos_generic(const double* a, double* c, double* s, int64_t n) { sincos_w<2>(a, c, s, n); }
#ifdef APH_X86_DISPATCH
APH_TARGET_AVX2 void sincos_avx2(const double* a, double* c, double* s, int64_t n) { sincos_w<4>(a, c, s, n); }
APH_TARGET_AVX512 void sincos_avx512(const double* a, double* c, double* s, int64_t n) { sincos_w<8>(a, c, s, n); }
#endif

// Rotates one f32 head row (contiguous) with the f32 tables: c, s [D/2] (half) or cd, sd [D]
// (interleaved). W lanes.
template <int W>
APH_VI void rotate_half_w(const float* x, float* o, int64_t half, const float* c, const float* s) {
    using V = vmath::Vec<W>;
    int64_t i = 0;
    for (; i + W <= half; i += W) {
        const V x0 = vmath::load<V>(x + i), x1 = vmath::load<V>(x + half + i);
        const V cv = vmath::load<V>(c + i), sv = vmath::load<V>(s + i);
        vmath::store(o + i, x0 * cv - x1 * sv);
        vmath::store(o + half + i, x0 * sv + x1 * cv);
    }
    if (i < half) {
        const int64_t k = half - i;
        const V x0 = vmath::load_part<V>(x + i, k), x1 = vmath::load_part<V>(x + half + i, k);
        const V cv = vmath::load_part<V>(c + i, k), sv = vmath::load_part<V>(s + i, k);
        vmath::store_part(o + i, x0 * cv - x1 * sv, k);
        vmath::store_part(o + half + i, x0 * sv + x1 * cv, k);
    }
}

template <int W>
APH_VI void rotate_interleaved_w(const float* x, float* o, int64_t D, const float* cd, const float* sd) {
    using V = vmath::Vec<W>;
    using I = typename vmath::VT<V>::I;
    I swap;  // (1, 0, 3, 2, ...): each lane takes its pair partner
    for (int l = 0; l < W; ++l) swap[l] = l ^ 1;
    int64_t j = 0;
    for (; j + W <= D; j += W) {
        const V xv = vmath::load<V>(x + j);
        const V xs = vmath::shuffle(xv, swap);
        vmath::store(o + j, xv * vmath::load<V>(cd + j) + xs * vmath::load<V>(sd + j));
    }
    if (j < D) {
        const int64_t k = D - j;  // D and W are even: pairs stay whole
        const V xv = vmath::load_part<V>(x + j, k);
        const V xs = vmath::shuffle(xv, swap);
        vmath::store_part(o + j, xv * vmath::load_part<V>(cd + j, k) + xs * vmath::load_part<V>(sd + j, k), k);
    }
}

using RotateFn = void (*)(const float*, float*, int64_t, const float*, const float*);
template <int W>
APH_VI void rotate_w(bool half_layout, const float* x, float* o, int64_t D, const float* c, const float* s) {
    if (half_layout) rotate_half_w<W>(x, o, D / 2, c, s);
    else
        rotate_interleaved_w<W>(x, o, D, c, s);
}
void rotate_generic(bool h, const float* x, float* o, int64_t D, const float* c, const float* s) {
    rotate_w<4>(h, x, o, D, c, s);
}
#ifdef APH_X86_DISPATCH
APH_TARGET_AVX2 void rotate_avx2(bool h, const float* x, float* o, int64_t D, const float* c, const float* s) {
    rotate_w<8>(h, x, o, D, c, s);
}
APH_TARGET_AVX512 void rotate_avx512(bool h, const float* x, float* o, int64_t D, const float* c, const float* s) {
    rotate_w<16>(h, x, o, D, c, s);
}
#endif

struct Kernels {
    SinCosFn sincos = sincos_generic;
    void (*rotate)(bool, const float*, float*, int64_t, const float*, const float*) = rotate_generic;
};
Kernels kernels() {
    Kernels k;
#ifdef APH_X86_DISPATCH
    switch (cpu_isa()) {
        case Isa::kAvx512:
            k.sincos = sincos_avx512;
            k.rotate = rotate_avx512;
            break;
        case Isa::kAvx2:
            k.sincos = sincos_avx2;
            k.rotate = rotate_avx2;
            break;
        case Isa::kGeneric: break;
    }
#endif
    return k;
}

inline int64_t position(const aph_kt& p, int64_t b, int64_t s) {
    const int64_t off = b * p.strides[0] + s * p.strides[1];
    if (p.dtype == 8) return static_cast<const int32_t*>(p.data)[off];  // i32
    return static_cast<const int64_t*>(p.data)[off];                    // i64
}

template <class T>
void rope_rows(const aph_k_rope& d, const std::vector<double>& inv_freq, double max_inv, const Kernels& kern,
               int64_t r0, int64_t r1) {
    using A = Acc<T>;
    const int64_t S = d.x.shape[1], H = d.x.shape[2], D = d.x.shape[3], half = D / 2;
    const int64_t* xs = d.x.strides;
    const int64_t* os = d.out.strides;
    // Element offsets of the two members of pair i: (2i, 2i+1) interleaved, (i, i + D/2) half.
    const int64_t step_x = d.layout == 0 ? 2 * xs[3] : xs[3], second_x = d.layout == 0 ? xs[3] : half * xs[3];
    const int64_t step_o = d.layout == 0 ? 2 * os[3] : os[3], second_o = d.layout == 0 ? os[3] : half * os[3];
    const T* x = static_cast<const T*>(d.x.data);
    T* out = static_cast<T*>(d.out.data);
    // The f32 vector path: contiguous last dimension in x and out.
    const bool vec = std::is_same_v<T, float> && xs[3] == 1 && os[3] == 1;
    std::vector<double> ang(static_cast<size_t>(half)), cd(static_cast<size_t>(half)), sd(static_cast<size_t>(half));
    std::vector<A> c(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    // Interleaved vector tables: cos repeated per pair, (-sin, +sin) per pair.
    std::vector<float> ci, si;
    if (vec && d.layout == 0) {
        ci.resize(static_cast<size_t>(D));
        si.resize(static_cast<size_t>(D));
    }
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / S, s = r % S;
        const double p = static_cast<double>(position(d.positions, b, s));
        for (int64_t i = 0; i < half; ++i) ang[static_cast<size_t>(i)] = p * inv_freq[static_cast<size_t>(i)];
        if (std::fabs(p) * max_inv < kMaxVectorAngle) {
            kern.sincos(ang.data(), cd.data(), sd.data(), half);
        } else {
            for (int64_t i = 0; i < half; ++i) {
                cd[static_cast<size_t>(i)] = std::cos(ang[static_cast<size_t>(i)]);
                sd[static_cast<size_t>(i)] = std::sin(ang[static_cast<size_t>(i)]);
            }
        }
        for (int64_t i = 0; i < half; ++i) {
            c[static_cast<size_t>(i)] = static_cast<A>(cd[static_cast<size_t>(i)]);
            sn[static_cast<size_t>(i)] = static_cast<A>(sd[static_cast<size_t>(i)]);
        }
        if constexpr (std::is_same_v<T, float>) {
            if (vec) {
                const float* tc = c.data();
                const float* ts = sn.data();
                if (d.layout == 0) {
                    for (int64_t i = 0; i < half; ++i) {
                        ci[static_cast<size_t>(2 * i)] = ci[static_cast<size_t>(2 * i + 1)] = c[static_cast<size_t>(i)];
                        si[static_cast<size_t>(2 * i)] = -sn[static_cast<size_t>(i)];
                        si[static_cast<size_t>(2 * i + 1)] = sn[static_cast<size_t>(i)];
                    }
                    tc = ci.data();
                    ts = si.data();
                }
                for (int64_t h = 0; h < H; ++h) {
                    kern.rotate(d.layout != 0, x + b * xs[0] + s * xs[1] + h * xs[2],
                                out + b * os[0] + s * os[1] + h * os[2], D, tc, ts);
                }
                continue;
            }
        }
        for (int64_t h = 0; h < H; ++h) {
            const T* xh = x + b * xs[0] + s * xs[1] + h * xs[2];
            T* oh = out + b * os[0] + s * os[1] + h * os[2];
            for (int64_t i = 0; i < half; ++i) {
                // Both members are read before either is written: in place is safe.
                const A x0 = to_acc(xh[i * step_x]), x1 = to_acc(xh[i * step_x + second_x]);
                from_acc(oh + i * step_o, x0 * c[static_cast<size_t>(i)] - x1 * sn[static_cast<size_t>(i)]);
                from_acc(oh + i * step_o + second_o, x0 * sn[static_cast<size_t>(i)] + x1 * c[static_cast<size_t>(i)]);
            }
        }
    }
}

}  // namespace

int cpu_rope(const aph_k_rope& d, std::string& msg) {
    return dispatch(d.x.dtype, msg, [&](auto tag) {
        using T = decltype(tag);
        const int64_t B = d.x.shape[0], S = d.x.shape[1], H = d.x.shape[2], D = d.x.shape[3];
        // theta^(-2i/D) for the D/2 pairs, in double (shared by every row), and the largest.
        std::vector<double> inv_freq(static_cast<size_t>(D / 2));
        double max_inv = 0.0;
        for (int64_t i = 0; i < D / 2; ++i) {
            const double e = -2.0 * static_cast<double>(i) / static_cast<double>(D);
            inv_freq[static_cast<size_t>(i)] = std::pow(d.theta, e);
            max_inv = std::max(max_inv, std::fabs(inv_freq[static_cast<size_t>(i)]));
        }
        const Kernels kern = kernels();
        const double work = static_cast<double>(B * S) * static_cast<double>(D) * (static_cast<double>(H) * 3.0 + 8.0);
        parallel_for(B * S, work, [&](int64_t r0, int64_t r1) { rope_rows<T>(d, inv_freq, max_inv, kern, r0, r1); });
        return 0;
    });
}

}  // namespace aph::kernels
