// CPU kernels of the quantization family (aph_k_quant, aph_k_ternary_matmul): int8, fp8
// e4m3/e5m2, NF4 and BitNet ternary codes, and the ternary matrix product over packed weights.
//
// Numerics shared with cuda/k_quant.cu (so both devices give the same codes from the same scale):
// - scales come from the finite elements only (NaN and ±inf count as 0), computed in f32 for
//   f32/f16/bf16 inputs (absmax / 127.0f, absmax / 448.0f, ...), in f64 then rounded to f32 for
//   f64 inputs; the scale is stored as f32 and the stored value is the one codes are made with;
// - a code is made from v = x / s (x itself when s is 0), in f32 (f64 for f64 inputs);
// - NaN encodes as 0 (int8, NF4, ternary) or NaN (fp8); ±inf saturate to the largest code of
//   their sign.
#include "cpu.hpp"
#include "parallel.hpp"
#include "vmath.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace aph::kernels {
namespace {

// aph_quant_scheme and aph_dtype values (the kernels do not see the public header).
enum : int32_t { kInt8 = 0, kFp8E4m3 = 1, kFp8E5m2 = 2, kNf4Scheme = 3, kTernary = 4 };
enum : int32_t { kF32 = 0, kF16 = 1, kBF16 = 2, kF64 = 3 };

// Element access per float dtype: S is the stored type, C the compute type.
struct TF32 {
    using S = float;
    using C = float;
    static C ld(const S* p) { return *p; }
    static void st(S* p, C v) { *p = v; }
};
struct TF16 {
    using S = uint16_t;
    using C = float;
    static C ld(const S* p) { return num::f16_to_f32(*p); }
    static void st(S* p, C v) { *p = num::f32_to_f16(v); }
};
struct TBF16 {
    using S = uint16_t;
    using C = float;
    static C ld(const S* p) { return num::bf16_to_f32(*p); }
    static void st(S* p, C v) { *p = num::f32_to_bf16(v); }
};
struct TF64 {
    using S = double;
    using C = double;
    static C ld(const S* p) { return *p; }
    static void st(S* p, C v) { *p = v; }
};

template <class F>
int with_float(int32_t dtype, std::string& msg, F&& f) {
    switch (dtype) {
        case kF32: return f(TF32{});
        case kF16: return f(TF16{});
        case kBF16: return f(TBF16{});
        case kF64: return f(TF64{});
        default:
            msg = "quantization kernel: dtype " + std::to_string(dtype) + " is not a float dtype";
            return APH_K_STATUS_NOT_IMPLEMENTED;
    }
}

int64_t numel_of(const aph_kt& t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t.ndim; ++i) n *= t.shape[i];
    return n;
}

// |v| when finite, else 0: what an element contributes to a scale.
template <class C>
C finite_abs(C v) {
    const C a = std::fabs(v);
    return a <= std::numeric_limits<C>::max() ? a : C(0);
}

template <class D>
typename D::C absmax_range(const typename D::S* x, int64_t n) {
    using C = typename D::C;
    C m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, finite_abs<C>(D::ld(x + i)));
    return m;
}

// absmax / div rounded to the f32 the scale tensor holds (f32 division for f32 compute).
template <class C>
float scale_of(C absmax, C div) {
    return static_cast<float>(absmax / div);
}

// x / s, or x when s is 0 (an all-zero group: every finite x is 0 and stays 0).
template <class C>
C scaled(C x, float s) {
    return s > 0.0f ? x / static_cast<C>(s) : x;
}

// Round half to even for |v| <= 2^22 (f32) / 2^51 (f64) in the default rounding mode: adding
// and removing 1.5 · 2^23 (2^52) leaves the integer nearest to v, ties to even, as rintf does.
inline float round_even(float v) { return (v + 12582912.0f) - 12582912.0f; }
inline double round_even(double v) { return (v + 6755399441055744.0) - 6755399441055744.0; }

template <class C>
int8_t int8_code(C x, float s) {
    const C v = scaled(x, s);
    if (!(v == v)) return 0;  // NaN
    const C c = std::min(std::max(v, C(-127)), C(127));
    return static_cast<int8_t>(round_even(c));
}

// ---- f32 vector loops (W lanes; vmath.hpp): the absolute maximum, int8 and fp8 codes ----------
//
// Same numbers as the scalar definitions above and below (the maximum is exact in any order;
// codes are made from the same quotient x / s, rounded the same way): tests/test_ops_quant.c
// checks them against its references on every instruction set, and the fp8 encoders were
// compared with num::f32_to_fp8 on all 2^32 inputs when written.

using vmath::Vec;

template <int W>
APH_VI float absmax_w(const float* x, int64_t n) {
    using V = Vec<W>;
    V m0{}, m1{};
    int64_t i = 0;
    const float kMax = std::numeric_limits<float>::max();
    // NaN and ±inf fail `a <= kMax`: they count as 0.
    for (; i + 2 * W <= n; i += 2 * W) {
        V a = vmath::vabs(vmath::load<V>(x + i)), b = vmath::vabs(vmath::load<V>(x + i + W));
        a = a <= kMax ? a : V{};
        b = b <= kMax ? b : V{};
        m0 = a > m0 ? a : m0;
        m1 = b > m1 ? b : m1;
    }
    for (; i + W <= n; i += W) {
        V a = vmath::vabs(vmath::load<V>(x + i));
        a = a <= kMax ? a : V{};
        m0 = a > m0 ? a : m0;
    }
    m0 = m1 > m0 ? m1 : m0;
    float m = 0.0f;
    for (int k = 0; k < W; ++k) m = std::max(m, m0[k]);
    for (; i < n; ++i) m = std::max(m, finite_abs(x[i]));
    return m;
}

// The W-lane vector of int8 (u8) codes.
template <int W>
struct Bytes {
    typedef int8_t S __attribute__((vector_size(W)));
    typedef uint8_t U __attribute__((vector_size(W)));
};

// v = x / s (x when s is 0), lane-wise.
template <class V>
APH_VI V quotient(V x, float s) {
    return s > 0.0f ? x / s : x;
}

template <int W>
APH_VI typename Bytes<W>::S int8_vec_code(Vec<W> v, float s) {
    using V = Vec<W>;
    v = quotient(v, s);
    v = v == v ? v : V{};  // NaN: 0
    v = v < -127.0f ? vmath::splat<V>(-127.0f) : v;
    v = v > 127.0f ? vmath::splat<V>(127.0f) : v;
    v = (v + 12582912.0f) - 12582912.0f;  // round half to even (as round_even)
    return __builtin_convertvector(__builtin_convertvector(v, typename vmath::VT<V>::I), typename Bytes<W>::S);
}

template <int W>
APH_VI void int8_codes_w(const float* x, int8_t* q, int64_t n, float s) {
    using V = Vec<W>;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const auto c = int8_vec_code<W>(vmath::load<V>(x + i), s);
        std::memcpy(q + i, &c, W);
    }
    for (; i < n; ++i) q[i] = int8_code<float>(x[i], s);
}

// f32 -> fp8 (e4m3 or e5m2), lane-wise, bit for bit num::f32_to_fp8 (see numeric.hpp for the
// formats): NaN -> 0x7f, saturation to the largest finite code, subnormal codes by rounding
// |x|·2^(mantissa bits - min exponent) half to even, normal codes by rounding the f32 bits.
template <bool E4M3, class V>
APH_VI typename vmath::VT<V>::U fp8_bits(V v) {
    using U = typename vmath::VT<V>::U;
    const U u = vmath::as_u(v);
    const U sign = (u >> 24) & 0x80u;
    const U a = u & 0x7fffffffu;
    const V x = vmath::as_f<V>(a);
    // E4M3: bias 7, 3 mantissa bits, largest 448 (0x7e), subnormal below 2^-6 in units of 2^-9.
    // E5M2: bias 15, 2 mantissa bits, largest 57344 (0x7b), subnormal below 2^-14 in 2^-16.
    constexpr uint32_t kRebias = E4M3 ? (120u << 23) : (112u << 23);
    constexpr int kShift = E4M3 ? 20 : 21;
    constexpr uint32_t kTop = E4M3 ? 0x7eu : 0x7bu;
    constexpr float kLargest = E4M3 ? 448.0f : 57344.0f, kMinNormal = E4M3 ? 0.015625f : 6.103515625e-05f;
    constexpr float kSubScale = E4M3 ? 512.0f : 65536.0f;
    const V sub = (x * kSubScale + 12582912.0f) - 12582912.0f;  // exact scaling, then half to even
    const U sub_code = __builtin_convertvector(sub, U);
    U r = a - kRebias;
    r = r + ((1u << (kShift - 1)) - 1u) + ((r >> kShift) & 1u);  // half to even
    U norm = r >> kShift;
    norm = norm > kTop ? U{} + kTop : norm;
    U code = x < kMinNormal ? sub_code : norm;
    code = x >= kLargest ? U{} + kTop : code;
    code = a > 0x7f800000u ? U{} + 0x7fu : code;
    return sign | code;
}

template <int W>
APH_VI void fp8_codes_w(const float* x, uint8_t* q, int64_t n, float s, bool e4m3) {
    using V = Vec<W>;
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const V v = quotient(vmath::load<V>(x + i), s);
        const auto c = __builtin_convertvector(e4m3 ? fp8_bits<true>(v) : fp8_bits<false>(v), typename Bytes<W>::U);
        std::memcpy(q + i, &c, W);
    }
    for (; i < n; ++i) q[i] = num::f32_to_fp8(scaled<float>(x[i], s), e4m3);
}

struct VecKernels {
    float (*absmax)(const float*, int64_t);
    void (*int8)(const float*, int8_t*, int64_t, float);
    void (*fp8)(const float*, uint8_t*, int64_t, float, bool);
};
float absmax_generic(const float* x, int64_t n) { return absmax_w<4>(x, n); }
void int8_generic(const float* x, int8_t* q, int64_t n, float s) { int8_codes_w<4>(x, q, n, s); }
void fp8_generic(const float* x, uint8_t* q, int64_t n, float s, bool e4m3) { fp8_codes_w<4>(x, q, n, s, e4m3); }
#ifdef APH_X86_DISPATCH
APH_TARGET_AVX2 float absmax_avx2(const float* x, int64_t n) { return absmax_w<8>(x, n); }
APH_TARGET_AVX2 void int8_avx2(const float* x, int8_t* q, int64_t n, float s) { int8_codes_w<8>(x, q, n, s); }
APH_TARGET_AVX2 void fp8_avx2(const float* x, uint8_t* q, int64_t n, float s, bool e4m3) {
    fp8_codes_w<8>(x, q, n, s, e4m3);
}
APH_TARGET_AVX512 float absmax_avx512(const float* x, int64_t n) { return absmax_w<16>(x, n); }
APH_TARGET_AVX512 void int8_avx512(const float* x, int8_t* q, int64_t n, float s) { int8_codes_w<16>(x, q, n, s); }
APH_TARGET_AVX512 void fp8_avx512(const float* x, uint8_t* q, int64_t n, float s, bool e4m3) {
    fp8_codes_w<16>(x, q, n, s, e4m3);
}
#endif
VecKernels vec_kernels() {
#ifdef APH_X86_DISPATCH
    switch (cpu_isa()) {
        case Isa::kAvx512: return {absmax_avx512, int8_avx512, fp8_avx512};
        case Isa::kAvx2: return {absmax_avx2, int8_avx2, fp8_avx2};
        case Isa::kGeneric: break;
    }
#endif
    return {absmax_generic, int8_generic, fp8_generic};
}

// The absolute maximum of a range (finite elements only).
template <class D>
typename D::C absmax_of(const typename D::S* x, int64_t n, const VecKernels& vk) {
    if constexpr (std::is_same_v<D, TF32>) return vk.absmax(x, n);
    else
        return absmax_range<D>(x, n);
}

// Elements per chunk of the per-tensor reductions: each chunk's partial result lands in its own
// slot, so the combined result does not depend on the thread count.
constexpr int64_t kChunk = 1 << 16;

template <class D>
typename D::C absmax_all(const typename D::S* x, int64_t n, const VecKernels& vk) {
    using C = typename D::C;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<C> part(static_cast<size_t>(chunks), C(0));
    parallel_for(chunks, static_cast<double>(n), [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
            const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
            part[static_cast<size_t>(c)] = absmax_of<D>(x + lo, hi - lo, vk);
        }
    });
    C m = 0;
    for (C v : part) m = std::max(m, v);
    return m;
}

// Σ|x| over the finite elements, in f64 whatever the dtype.
template <class D>
double abssum_all(const typename D::S* x, int64_t n) {
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> part(static_cast<size_t>(chunks), 0.0);
    parallel_for(chunks, static_cast<double>(n), [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c) {
            const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
            double s = 0.0;
            for (int64_t i = lo; i < hi; ++i) s += static_cast<double>(finite_abs(D::ld(x + i)));
            part[static_cast<size_t>(c)] = s;
        }
    });
    double s = 0.0;
    for (double v : part) s += v;
    return s;
}

// The NF4 levels of QLoRA / bitsandbytes (index = code) and the midpoints between neighbours.
constexpr float kNf4[16] = {-1.0f,
                            -0.6961928009986877f,
                            -0.5250730514526367f,
                            -0.39491748809814453f,
                            -0.28444138169288635f,
                            -0.18477343022823334f,
                            -0.09105003625154495f,
                            0.0f,
                            0.07958029955625534f,
                            0.16093020141124725f,
                            0.24611230194568634f,
                            0.33791524171829224f,
                            0.44070982933044434f,
                            0.5626170039176941f,
                            0.7229568362236023f,
                            1.0f};
struct Nf4Mids {
    float v[15];
};
constexpr Nf4Mids make_nf4_mids() {
    Nf4Mids m{};
    for (int i = 0; i < 15; ++i) {
        m.v[i] = static_cast<float>((static_cast<double>(kNf4[i]) + static_cast<double>(kNf4[i + 1])) / 2.0);
    }
    return m;
}
constexpr Nf4Mids kNf4Mid = make_nf4_mids();

// The nearest level to v: the number of midpoints strictly below v (a tie goes to the lower
// level, as bitsandbytes' comparisons do); NaN is the 0 level (code 7).
template <class C>
uint8_t nf4_code(C v) {
    int c = 0;
    for (int i = 0; i < 15; ++i) c += v > static_cast<C>(kNf4Mid.v[i]) ? 1 : 0;
    return static_cast<uint8_t>(v == v ? c : 7);
}

// BitNet: clamp(round(v), -1, 1) with round half to even is +1 above 0.5, -1 below -0.5, else 0
// (NaN too). Codes: 0 -> 0, 1 -> +1, 2 -> -1.
template <class C>
uint8_t ternary_code(C v) {
    // Branch-free (random weights would defeat a branch predictor).
    return static_cast<uint8_t>(static_cast<unsigned>(v > C(0.5)) | (static_cast<unsigned>(v < C(-0.5)) << 1));
}

// A ternary code's value (code 3 is never produced and reads as 0).
constexpr int kTernaryValue[4] = {0, 1, -1, 0};

// x viewed as [outer, channels, inner] for INT8 (per tensor: [1, 1, numel]).
struct Channels {
    int64_t outer = 1, channels = 1, inner = 1;
};
Channels channels_of(const aph_kt& x, int64_t axis) {
    Channels c;
    if (axis < 0) {
        c.inner = numel_of(x);
        return c;
    }
    for (int32_t i = 0; i < x.ndim; ++i) {
        if (i < axis) c.outer *= x.shape[i];
        else if (i == axis)
            c.channels = x.shape[i];
        else
            c.inner *= x.shape[i];
    }
    return c;
}

template <class D>
int quantize_int8(const aph_k_quant& d) {
    using C = typename D::C;
    using S = typename D::S;
    const auto* x = static_cast<const S*>(d.x.data);
    auto* q = static_cast<int8_t*>(d.q.data);
    auto* scale = static_cast<float*>(d.scale.data);
    const Channels g = channels_of(d.x, d.axis);
    const int64_t n = g.outer * g.channels * g.inner;
    const VecKernels vk = vec_kernels();
    // The codes of len elements with scale s (f32: the vector loop).
    const auto codes = [&](const S* xr, int8_t* qr, int64_t len, float s) {  // vk: f32 only
        if constexpr (std::is_same_v<D, TF32>) {
            vk.int8(xr, qr, len, s);
        } else {
            for (int64_t i = 0; i < len; ++i) qr[i] = int8_code<C>(D::ld(xr + i), s);
        }
    };
    if (d.axis >= 0 && g.outer == 1) {
        // Each channel is one contiguous row: its scale, then its codes while the row is in cache
        // (one pass over memory).
        parallel_for(g.channels, static_cast<double>(n) * 5.0, [&](int64_t b, int64_t e) {
            for (int64_t c = b; c < e; ++c) {
                const S* xr = x + c * g.inner;
                const float s = scale_of<C>(absmax_of<D>(xr, g.inner, vk), C(127));
                scale[c] = s;
                codes(xr, q + c * g.inner, g.inner, s);
            }
        });
        return 0;
    }
    if (d.axis < 0) {
        scale[0] = scale_of<C>(absmax_all<D>(x, n, vk), C(127));
    } else {
        // Channel maxima: each task takes a range of channels and walks their slices.
        parallel_for(g.channels, static_cast<double>(n), [&](int64_t b, int64_t e) {
            for (int64_t c = b; c < e; ++c) {
                C m = 0;
                for (int64_t o = 0; o < g.outer; ++o) {
                    m = std::max(m, absmax_of<D>(x + (o * g.channels + c) * g.inner, g.inner, vk));
                }
                scale[c] = scale_of<C>(m, C(127));
            }
        });
    }
    // Codes over rows of `inner` elements that share one scale (row r is channel r % channels),
    // cut into blocks of kChunk so that a single row (per tensor) is shared between threads too.
    const int64_t rows = g.outer * g.channels, nblk = (g.inner + kChunk - 1) / kChunk;
    parallel_for(rows * nblk, static_cast<double>(n) * 4.0, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
            const int64_t r = t / nblk, lo = (t % nblk) * kChunk, len = std::min(kChunk, g.inner - lo);
            const float s = scale[d.axis < 0 ? 0 : r % g.channels];
            codes(x + r * g.inner + lo, q + r * g.inner + lo, len, s);
        }
    });
    return 0;
}

template <class D>
int quantize_fp8(const aph_k_quant& d, bool e4m3) {
    using C = typename D::C;
    const auto* x = static_cast<const typename D::S*>(d.x.data);
    auto* q = static_cast<uint8_t*>(d.q.data);
    auto* scale = static_cast<float*>(d.scale.data);
    const int64_t n = numel_of(d.x);
    const VecKernels vk = vec_kernels();
    const float s = scale_of<C>(absmax_all<D>(x, n, vk), e4m3 ? C(448) : C(57344));
    scale[0] = s;
    parallel_for(n, static_cast<double>(n) * 8.0, [&](int64_t b, int64_t e) {
        if constexpr (std::is_same_v<D, TF32>) {
            vk.fp8(x + b, q + b, e - b, s, e4m3);
        } else {
            for (int64_t i = b; i < e; ++i) {
                q[i] = num::f32_to_fp8(static_cast<float>(scaled<C>(D::ld(x + i), s)), e4m3);
            }
        }
    });
    return 0;
}

template <class D>
int quantize_nf4(const aph_k_quant& d) {
    using C = typename D::C;
    const auto* x = static_cast<const typename D::S*>(d.x.data);
    auto* q = static_cast<uint8_t*>(d.q.data);
    auto* scale = static_cast<float*>(d.scale.data);
    const int64_t n = numel_of(d.x);
    const int64_t blocks = (n + 63) / 64;
    parallel_for(blocks, static_cast<double>(n) * 16.0, [&](int64_t b, int64_t e) {
        uint8_t codes[64];
        for (int64_t blk = b; blk < e; ++blk) {
            const int64_t lo = blk * 64, len = std::min<int64_t>(64, n - lo);
            const float s = static_cast<float>(absmax_range<D>(x + lo, len));
            scale[blk] = s;
            for (int64_t i = 0; i < len; ++i) codes[i] = nf4_code<C>(scaled<C>(D::ld(x + lo + i), s));
            if (len % 2) codes[len] = 0;  // odd tail: the last byte's low nibble is 0
            // Two codes per byte, the first element in the high nibble (bitsandbytes' order).
            uint8_t* qb = q + lo / 2;
            for (int64_t i = 0; i < (len + 1) / 2; ++i) {
                qb[i] = static_cast<uint8_t>((codes[2 * i] << 4) | codes[2 * i + 1]);
            }
        }
    });
    return 0;
}

template <class D>
int quantize_ternary(const aph_k_quant& d) {
    using C = typename D::C;
    const auto* x = static_cast<const typename D::S*>(d.x.data);
    auto* q = static_cast<uint8_t*>(d.q.data);
    auto* scale = static_cast<float*>(d.scale.data);
    const int64_t n = numel_of(d.x);
    const int64_t K = d.x.shape[d.x.ndim - 1], KB = (K + 3) / 4, rows = n / K;
    const float s = static_cast<float>(abssum_all<D>(x, n) / static_cast<double>(n));
    scale[0] = s;
    const C div = static_cast<C>(s) + static_cast<C>(1e-8);
    // Row r, byte j packs weights 4j..4j+3 in bits 2(k%4); weights past K are 0.
    parallel_for(rows, static_cast<double>(n) * 4.0, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
            const typename D::S* xr = x + r * K;
            uint8_t* qr = q + r * KB;
            for (int64_t j = 0; j < K / 4; ++j) {
                const typename D::S* xj = xr + 4 * j;
                qr[j] = static_cast<uint8_t>(
                    ternary_code<C>(D::ld(xj) / div) | (ternary_code<C>(D::ld(xj + 1) / div) << 2) |
                    (ternary_code<C>(D::ld(xj + 2) / div) << 4) | (ternary_code<C>(D::ld(xj + 3) / div) << 6));
            }
            if (K % 4) {  // the last byte: weights past K are 0
                unsigned byte = 0;
                for (int64_t k = K / 4 * 4; k < K; ++k) {
                    byte |= static_cast<unsigned>(ternary_code<C>(D::ld(xr + k) / div)) << (2 * (k % 4));
                }
                qr[KB - 1] = static_cast<uint8_t>(byte);
            }
        }
    });
    return 0;
}

template <class D>
int dequantize_t(const aph_k_quant& d) {
    using C = typename D::C;
    auto* out = static_cast<typename D::S*>(d.x.data);
    const auto* scale = static_cast<const float*>(d.scale.data);
    const int64_t n = numel_of(d.x);
    switch (d.scheme) {
        case kInt8: {
            const auto* q = static_cast<const int8_t*>(d.q.data);
            const Channels g = channels_of(d.x, d.axis);
            const int64_t rows = g.outer * g.channels;
            parallel_for(rows, static_cast<double>(n), [&](int64_t b, int64_t e) {
                for (int64_t r = b; r < e; ++r) {
                    const C s = static_cast<C>(scale[d.axis < 0 ? 0 : r % g.channels]);
                    for (int64_t i = r * g.inner; i < (r + 1) * g.inner; ++i) D::st(out + i, static_cast<C>(q[i]) * s);
                }
            });
            return 0;
        }
        case kFp8E4m3:
        case kFp8E5m2: {
            const auto* q = static_cast<const uint8_t*>(d.q.data);
            const bool e4m3 = d.scheme == kFp8E4m3;
            const C s = static_cast<C>(scale[0]);
            parallel_for(n, static_cast<double>(n) * 4.0, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) D::st(out + i, static_cast<C>(num::fp8_to_f32(q[i], e4m3)) * s);
            });
            return 0;
        }
        case kNf4Scheme: {
            const auto* q = static_cast<const uint8_t*>(d.q.data);
            const int64_t blocks = (n + 63) / 64;
            parallel_for(blocks, static_cast<double>(n), [&](int64_t b, int64_t e) {
                for (int64_t blk = b; blk < e; ++blk) {
                    const C s = static_cast<C>(scale[blk]);
                    const int64_t hi = std::min(n, (blk + 1) * 64);
                    for (int64_t i = blk * 64; i < hi; ++i) {
                        const unsigned code = (q[i / 2] >> ((i % 2) ? 0 : 4)) & 0xfu;
                        D::st(out + i, static_cast<C>(kNf4[code]) * s);
                    }
                }
            });
            return 0;
        }
        case kTernary: {
            const auto* q = static_cast<const uint8_t*>(d.q.data);
            const int64_t K = d.x.shape[d.x.ndim - 1], KB = (K + 3) / 4, rows = n / K;
            const C s = static_cast<C>(scale[0]);
            parallel_for(rows, static_cast<double>(n), [&](int64_t b, int64_t e) {
                for (int64_t r = b; r < e; ++r) {
                    for (int64_t k = 0; k < K; ++k) {
                        const unsigned code = (q[r * KB + k / 4] >> (2 * (k % 4))) & 3u;
                        D::st(out + r * K + k, static_cast<C>(kTernaryValue[code]) * s);
                    }
                }
            });
            return 0;
        }
        default: return APH_K_STATUS_NOT_IMPLEMENTED;
    }
}

// ---- ternary matrix product -------------------------------------------------------------------
//
// out[m, n] = scale · Σ_k w[n, k] · x[m, k] with w in {-1, 0, +1}, by additions only: each
// packed byte (4 weights) indexes a table of 4 "plus" and 4 "minus" bit masks (all ones where the
// weight is +1, resp. -1), and the 4 x values of that byte are ANDed with them and added to a
// plus and a minus accumulator (4 lanes each, one per weight position: one SIMD register). A zero weight adds +0: its x is skipped, so a NaN there does not
// propagate. x rows are padded with zeros to a multiple of 4 so the last byte reads no further.

template <class U>
struct SignMasks {
    U plus[256][4];
    U minus[256][4];
};
template <class U>
constexpr SignMasks<U> make_sign_masks() {
    SignMasks<U> m{};
    for (int b = 0; b < 256; ++b) {
        for (int t = 0; t < 4; ++t) {
            const int code = (b >> (2 * t)) & 3;
            m.plus[b][t] = code == 1 ? ~U(0) : U(0);
            m.minus[b][t] = code == 2 ? ~U(0) : U(0);
        }
    }
    return m;
}
template <class U>
constexpr SignMasks<U> kSignMasks = make_sign_masks<U>();

template <class C>
using MaskOf = std::conditional_t<sizeof(C) == 4, uint32_t, uint64_t>;

// Four lanes of C and of its mask type (GCC/Clang vector extensions: one SSE/NEON register for
// f32, two for f64). Only used inside functions, never passed by value.
template <class C>
struct Lanes;
template <>
struct Lanes<float> {
    typedef float V __attribute__((vector_size(16)));
    typedef uint32_t U __attribute__((vector_size(16)));
};
template <>
struct Lanes<double> {
    typedef double V __attribute__((vector_size(32)));
    typedef uint64_t U __attribute__((vector_size(32)));
};

// R rows of padded x (stride Kp = 4 · KB) against one packed row w; writes R sums (unscaled).
// Each row keeps kU independent pairs of accumulators (bytes j ≡ u mod kU), so that at least
// four vector additions are in flight whatever R is.
template <int R, class C>
void ternary_dot(const C* x, int64_t Kp, const uint8_t* w, int64_t KB, C* sums) {
    using VV = typename Lanes<C>::V;
    using VU = typename Lanes<C>::U;
    const SignMasks<MaskOf<C>>& tab = kSignMasks<MaskOf<C>>;
    constexpr int kU = R >= 4 ? 1 : 4 / R;
    VV pos[R][kU] = {}, neg[R][kU] = {};
    auto step = [&](int64_t j, int u) {
        VU pm, mm;
        std::memcpy(&pm, tab.plus[w[j]], sizeof pm);
        std::memcpy(&mm, tab.minus[w[j]], sizeof mm);
        for (int r = 0; r < R; ++r) {
            VU xb;
            std::memcpy(&xb, x + r * Kp + 4 * j, sizeof xb);
            // Vector casts reinterpret the bits (GCC/Clang vector semantics).
            pos[r][u] += (VV)(xb & pm);
            neg[r][u] += (VV)(xb & mm);
        }
    };
    int64_t j = 0;
    for (; j + kU <= KB; j += kU) {
        for (int u = 0; u < kU; ++u) step(j + u, u);
    }
    for (; j < KB; ++j) step(j, 0);
    for (int r = 0; r < R; ++r) {
        VV p = pos[r][0], n = neg[r][0];
        for (int u = 1; u < kU; ++u) {
            p += pos[r][u];
            n += neg[r][u];
        }
        sums[r] = ((p[0] + p[1]) + (p[2] + p[3])) - ((n[0] + n[1]) + (n[2] + n[3]));
    }
}

template <class D>
int ternary_matmul_t(const aph_k_ternary_matmul& d) {
    using C = typename D::C;
    using S = typename D::S;
    const int64_t M = d.x.shape[0], K = d.x.shape[1], N = d.packed.shape[0];
    const int64_t KB = (K + 3) / 4, Kp = 4 * KB;
    const auto* w = static_cast<const uint8_t*>(d.packed.data);
    auto* out = static_cast<S*>(d.out.data);
    const C s = static_cast<C>(*static_cast<const float*>(d.scale.data));

    // x in the compute type, rows padded to Kp with zeros (used in place when it already is).
    const C* xp = nullptr;
    std::vector<C> buf;
    if constexpr (std::is_same_v<S, C>) {
        if (K == Kp) xp = static_cast<const C*>(d.x.data);
    }
    if (xp == nullptr) {
        buf.assign(static_cast<size_t>(M * Kp), C(0));
        const auto* x = static_cast<const S*>(d.x.data);
        parallel_for(M, static_cast<double>(M * K), [&](int64_t b, int64_t e) {
            for (int64_t m = b; m < e; ++m) {
                for (int64_t k = 0; k < K; ++k) buf[static_cast<size_t>(m * Kp + k)] = D::ld(x + m * K + k);
            }
        });
        xp = buf.data();
    }

    // Tasks: tiles of 4 rows of x × 32 rows of packed weights. The 4 x rows stay in cache while
    // the 32 weight rows stream past them; each decoded byte serves 4 rows.
    constexpr int64_t kRows = 4, kCols = 32;
    const int64_t mt = (M + kRows - 1) / kRows, nt = (N + kCols - 1) / kCols;
    parallel_for(mt * nt, static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K),
                 [&](int64_t b, int64_t e) {
                     for (int64_t t = b; t < e; ++t) {
                         const int64_t m0 = (t / nt) * kRows, n0 = (t % nt) * kCols;
                         const int64_t rows = std::min(kRows, M - m0), n1 = std::min(N, n0 + kCols);
                         const C* xr = xp + m0 * Kp;
                         for (int64_t n = n0; n < n1; ++n) {
                             C sums[kRows];
                             const uint8_t* wr = w + n * KB;
                             switch (rows) {
                                 case 4: ternary_dot<4>(xr, Kp, wr, KB, sums); break;
                                 case 3: ternary_dot<3>(xr, Kp, wr, KB, sums); break;
                                 case 2: ternary_dot<2>(xr, Kp, wr, KB, sums); break;
                                 default: ternary_dot<1>(xr, Kp, wr, KB, sums); break;
                             }
                             for (int64_t r = 0; r < rows; ++r) D::st(out + (m0 + r) * N + n, sums[r] * s);
                         }
                     }
                 });
    return 0;
}

}  // namespace

int cpu_quantize(const aph_k_quant& d, std::string& msg) {
    return with_float(d.x.dtype, msg, [&](auto tag) -> int {
        using D = decltype(tag);
        switch (d.scheme) {
            case kInt8: return quantize_int8<D>(d);
            case kFp8E4m3: return quantize_fp8<D>(d, true);
            case kFp8E5m2: return quantize_fp8<D>(d, false);
            case kNf4Scheme: return quantize_nf4<D>(d);
            case kTernary: return quantize_ternary<D>(d);
            default: msg = "quantize: unknown scheme " + std::to_string(d.scheme); return APH_K_STATUS_NOT_IMPLEMENTED;
        }
    });
}

int cpu_dequantize(const aph_k_quant& d, std::string& msg) {
    return with_float(d.x.dtype, msg, [&](auto tag) -> int {
        const int rc = dequantize_t<decltype(tag)>(d);
        if (rc != 0) msg = "dequantize: unknown scheme " + std::to_string(d.scheme);
        return rc;
    });
}

int cpu_ternary_matmul(const aph_k_ternary_matmul& d, std::string& msg) {
    return with_float(d.x.dtype, msg, [&](auto tag) -> int { return ternary_matmul_t<decltype(tag)>(d); });
}

}  // namespace aph::kernels
