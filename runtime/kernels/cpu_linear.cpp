// Linear layers without BLAS (linear.hpp): the f32 dot-product tile, the bf16/int8 micro-tiles
// on packed weights, their epilogues, and the blocking and threading around them.
//
// The f32 tile. Rows a0..a3 of x and rows w0..w3 of the weight are read along K a vector at a time;
// accumulator v[4r + c] sums the lane-wise products of a_r and w_c. After K, reduce16 turns the 16
// accumulators into one vector whose lane 4r + c is Σ lanes of v[4r + c], i.e. out[r, c]: three
// shuffle levels (unpack 32-bit, unpack 64-bit, two 128-bit lane shuffles), 45 instructions for
// 16 outputs, against K/16 FMAs per output. The epilogue (bias, GELU, residual) runs on that
// vector and 4 masked 128-bit stores write the rows.
//
// Blocking (f32). Work is split into blocks of 64 rows × 64 outputs (the tasks of parallel_for,
// output blocks fastest so neighbouring tasks share rows of x); inside a block the 4-row tiles of
// x stay in L1 while the 16 tiles of the weight block (64 × K) come from L2. Rows and outputs past
// the end of a ragged tile re-read the last valid row and are not stored. The packed kernels'
// blocking is described above for_micro_tiles.
#include "linear.hpp"

#include "cpu.hpp"
#include "parallel.hpp"
#include "vmath.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#ifdef APH_X86_DISPATCH
#include <cpuid.h>
#include <immintrin.h>
// GCC 12's AVX-512 headers build "undefined" vectors as `__m512 __Y = __Y;`, which its own
// uninitialized-use warnings then report at every inlined intrinsic.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace aph::kernels {

#ifdef APH_X86_DISPATCH

namespace {

constexpr int kActGeluLocal = 2;  // cpu_elementwise's kActGelu (aph_activation APH_ACT_GELU)
constexpr int64_t kBlockRows = 64, kBlockCols = 64;
// int8: entries of each row of x taken out of the int8 product (its largest; see x_to_u8), when
// the row is longer than kRowOutliersMinK.
constexpr int kRowOutliers = 8;  // at most 16 (row_outliers)
constexpr int64_t kRowOutliersMinK = 32;

bool cpuid_bit(unsigned leaf, unsigned sub, int reg, unsigned bit) {
    unsigned r[4] = {0, 0, 0, 0};
    if (__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]) == 0) return false;
    return (r[reg] >> bit & 1u) != 0;
}

#if defined(__clang__)
#define APH_TARGET_BF16 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16,avx2,fma,f16c")))
#define APH_TARGET_VNNI __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,f16c")))
#else
#define APH_TARGET_BF16 \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512bf16,avx2,fma,f16c,prefer-vector-width=512")))
#define APH_TARGET_VNNI \
    __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni,avx2,fma,f16c,prefer-vector-width=512")))
#endif

// ---------------------------------------------------------------------------------------------
// Reductions of 16 accumulators: lane 4r + c of the result is the sum of v[4r + c]'s lanes.
// ---------------------------------------------------------------------------------------------

APH_TARGET_AVX512 APH_VI __m512 reduce16(const __m512* v) {
    __m512 t[8], u[4];
    for (int i = 0; i < 8; ++i)
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int j = 0; j < 4; ++j) {
        const __m512d a = _mm512_castps_pd(t[2 * j]), b = _mm512_castps_pd(t[2 * j + 1]);
        u[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    const __m512 w0 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 w1 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w0, w1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// GELU of 16 lanes through vmath's row loop (pointers in and out: Clang refuses 512-bit vector
// arguments to functions compiled without AVX-512, and vmath's are; inlined, the round trip
// through memory folds away).
APH_TARGET_AVX512 APH_VI __m512 gelu16(__m512 z) {
    alignas(64) float v[16];
    _mm512_store_ps(v, z);
    vmath::map<16, vmath::GeluOp>(v, v, 16);
    return _mm512_load_ps(v);
}

// ---------------------------------------------------------------------------------------------
// The epilogue and the store of one tile: z's lane 4r + c is out[m0 + r, n0 + c] before the
// epilogue; rows (<= 4) and cols (<= 4) are the tile's valid extent.
// ---------------------------------------------------------------------------------------------

APH_TARGET_AVX512 APH_VI __m512 lanes4(const float* p, __mmask8 cols) {
    return _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(cols, p));
}

APH_TARGET_AVX512 APH_VI void finish_tile(__m512 z, int64_t m0, int rows, int64_t n0, int cols, const LinearEpilogue& e,
                                          float* out, int64_t ldo) {
    const __mmask8 cm = static_cast<__mmask8>((1u << cols) - 1u);
    if (e.bias != nullptr) z = _mm512_add_ps(z, lanes4(e.bias + n0, cm));
    if (e.act == kActGeluLocal) z = gelu16(z);
    alignas(64) float v[16];
    _mm512_store_ps(v, z);
    for (int r = 0; r < rows; ++r) {
        __m128 row = _mm_load_ps(v + 4 * r);
        if (e.residual != nullptr) row = _mm_add_ps(row, _mm_maskz_loadu_ps(cm, e.residual + (m0 + r) * e.ldr + n0));
        _mm_mask_storeu_ps(out + (m0 + r) * ldo + n0, cm, row);
    }
}

// ---------------------------------------------------------------------------------------------
// The f32 tile.
// ---------------------------------------------------------------------------------------------

APH_TARGET_AVX512 void tile_f32(const float* const* a, const float* const* w, int64_t k, int64_t m0, int rows,
                                int64_t n0, int cols, const LinearEpilogue& e, float* out, int64_t ldo) {
    __m512 acc[16];
    for (auto& x : acc) x = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        const __m512 b0 = _mm512_loadu_ps(w[0] + i), b1 = _mm512_loadu_ps(w[1] + i);
        const __m512 b2 = _mm512_loadu_ps(w[2] + i), b3 = _mm512_loadu_ps(w[3] + i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
            const __m512 x = _mm512_loadu_ps(a[r] + i);
            acc[4 * r + 0] = _mm512_fmadd_ps(x, b0, acc[4 * r + 0]);
            acc[4 * r + 1] = _mm512_fmadd_ps(x, b1, acc[4 * r + 1]);
            acc[4 * r + 2] = _mm512_fmadd_ps(x, b2, acc[4 * r + 2]);
            acc[4 * r + 3] = _mm512_fmadd_ps(x, b3, acc[4 * r + 3]);
        }
    }
    if (i < k) {
        const __mmask16 km = static_cast<__mmask16>((1u << (k - i)) - 1u);
        __m512 b[4];
        for (int c = 0; c < 4; ++c) b[c] = _mm512_maskz_loadu_ps(km, w[c] + i);
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
            const __m512 x = _mm512_maskz_loadu_ps(km, a[r] + i);
            for (int c = 0; c < 4; ++c) acc[4 * r + c] = _mm512_fmadd_ps(x, b[c], acc[4 * r + c]);
        }
    }
    finish_tile(reduce16(acc), m0, rows, n0, cols, e, out, ldo);
}

// ---------------------------------------------------------------------------------------------
// bf16 and int8: the broadcast form on packed weights. The weight is stored in panels of 16
// outputs: for each group of kPair (bf16: 2, int8: 4) consecutive k, one 64-byte vector holds
// the group's weights of the panel's 16 outputs (lane j: output 16p + j). A micro-tile of
// kMicroRows rows × NV panels keeps kMicroRows · NV accumulators; per group it loads NV weight
// vectors and broadcasts each row's kPair values of x (4 bytes) into a dot-product instruction
// per accumulator, so lane j of accumulator (r, v) is out[m0 + r, n0 + 16v + j] with no
// reduction.
// ---------------------------------------------------------------------------------------------

// A micro-tile: kMicroRows rows × kPanels panels of 16 outputs (16 accumulators: GCC keeps them
// in registers; 8 × 3 spilled).
constexpr int kMicroRows = 4;
constexpr int kPanels = 4;

// What the epilogue of the packed kernels needs besides LinearEpilogue.
struct PackedCall {
    const PackedLinearWeight* w = nullptr;
    int64_t m = 0, n = 0;
    const float* sx = nullptr;    // int8: per row of x
    const int32_t* zx = nullptr;  // int8: per row of x
    // int8's outliers, computed in f32 beside the int8 product: x's values in the weight's
    // outlier columns ([w.outliers.size()][m]), and each row's own (ro per row: column, value).
    const float* xo = nullptr;
    int ro = 0;
    const int32_t* ocol = nullptr;
    const float* oval = nullptr;
    const LinearEpilogue* e = nullptr;
    float* out = nullptr;
    int64_t ldo = 0;
};

// Bias, GELU, residual and the store of one row's 16 outputs from n0 (cols of them valid).
APH_TARGET_AVX512 APH_VI void finish_row16(__m512 z, int64_t m, int64_t n0, int64_t n, const PackedCall& c) {
    const int64_t left = std::min<int64_t>(16, n - n0);
    const __mmask16 cm = static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1u);
    const LinearEpilogue& e = *c.e;
    if (e.bias != nullptr) z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(cm, e.bias + n0));
    if (e.act == kActGeluLocal) z = gelu16(z);
    if (e.residual != nullptr) z = _mm512_add_ps(z, _mm512_maskz_loadu_ps(cm, e.residual + m * e.ldr + n0));
    _mm512_mask_storeu_ps(c.out + m * c.ldo + n0, cm, z);
}

template <int NV>
APH_TARGET_AVX512 void micro_f32(const float* x, int64_t ldx, int64_t k, const int64_t* ai, int rows, int64_t n0,
                                 const PackedCall& c) {
    const PackedLinearWeight& w = *c.w;
    const int64_t panel = k * 16;  // floats per panel
    const float* wp = w.f32.data() + (n0 / 16) * panel;
    const float* xr[kMicroRows];
    for (int r = 0; r < kMicroRows; ++r) xr[r] = x + ai[r] * ldx;
    __m512 acc[kMicroRows][NV];
    for (auto& row : acc)
        for (auto& v : row) v = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; ++i) {
        __m512 b[NV];
        for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(wp + v * panel + i * 16);
#pragma GCC unroll 8
        for (int r = 0; r < kMicroRows; ++r) {
            const __m512 xv = _mm512_set1_ps(xr[r][i]);
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(xv, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < rows; ++r)
        for (int v = 0; v < NV; ++v) finish_row16(acc[r][v], ai[r], n0 + 16 * v, c.n, c);
}

template <int NV>
APH_TARGET_BF16 void micro_bf16(const uint16_t* xb, int64_t kp, const int64_t* ai, int rows, int64_t n0,
                                const PackedCall& c) {
    const PackedLinearWeight& w = *c.w;
    const int64_t groups = kp / 2, panel = groups * 16;  // uint16 per panel: groups × 16 lanes × 2
    const uint16_t* wp = w.bf16.data() + (n0 / 16) * panel * 2;
    const int32_t* xr[kMicroRows];
    for (int r = 0; r < kMicroRows; ++r) xr[r] = reinterpret_cast<const int32_t*>(xb + ai[r] * kp);
    __m512 acc[kMicroRows][NV];
    for (auto& row : acc)
        for (auto& v : row) v = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
        __m512bh b[NV];
        for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(wp + (v * panel + g * 16) * 2);
#pragma GCC unroll 8
        for (int r = 0; r < kMicroRows; ++r) {
            const __m512bh xv = (__m512bh)_mm512_set1_epi32(xr[r][g]);
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], xv, b[v]);
        }
    }
    for (int r = 0; r < rows; ++r)
        for (int v = 0; v < NV; ++v) finish_row16(acc[r][v], ai[r], n0 + 16 * v, c.n, c);
}

template <int NV>
APH_TARGET_VNNI void micro_int8(const uint8_t* xq, int64_t kp, const int64_t* ai, int rows, int64_t n0,
                                const PackedCall& c) {
    const PackedLinearWeight& w = *c.w;
    const int64_t groups = kp / 4, panel = groups * 64;  // bytes per panel
    const int8_t* wp = w.s8.data() + (n0 / 16) * panel;
    const int32_t* xr[kMicroRows];
    for (int r = 0; r < kMicroRows; ++r) xr[r] = reinterpret_cast<const int32_t*>(xq + ai[r] * kp);
    __m512i acc[kMicroRows][NV];
    for (auto& row : acc)
        for (auto& v : row) v = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; ++g) {
        __m512i b[NV];
        for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_si512(wp + v * panel + g * 64);
#pragma GCC unroll 8
        for (int r = 0; r < kMicroRows; ++r) {
            const __m512i xv = _mm512_set1_epi32(xr[r][g]);
            for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xv, b[v]);
        }
    }
    const int64_t nw = static_cast<int64_t>(w.outliers.size()), np = (w.n + 15) / 16 * 16;
    for (int r = 0; r < rows; ++r) {
        const int64_t m = ai[r];
        const __m512i zero = _mm512_set1_epi32(c.zx[m]);
        const __m512 sx = _mm512_set1_ps(c.sx[m]);
        for (int v = 0; v < NV; ++v) {
            const int64_t n = n0 + 16 * v;  // panels are padded: 16 values readable from n
            const __m512i q = _mm512_sub_epi32(acc[r][v], _mm512_mullo_epi32(zero, _mm512_loadu_si512(&w.offset[n])));
            __m512 z = _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_mul_ps(sx, _mm512_loadu_ps(&w.scale[n])));
            for (int64_t j = 0; j < nw; ++j)
                z = _mm512_fmadd_ps(_mm512_set1_ps(c.xo[j * c.m + m]), _mm512_loadu_ps(&w.outlier_w[j * np + n]), z);
            for (int j = 0; j < c.ro; ++j) {  // bf16 weights: shifted into f32's top half
                const uint16_t* wt = w.wt_bf16.data() + c.ocol[m * c.ro + j] * np + n;
                const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wt)));
                z = _mm512_fmadd_ps(_mm512_set1_ps(c.oval[m * c.ro + j]), _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)),
                                    z);
            }
            finish_row16(z, m, n, c.n, c);
        }
    }
}

// Runs micro(ai, rows, n0, NV) over kMicroRows × 16·kPanels micro-tiles (narrower at the end of
// n), in blocks of 10 micro-tiles' rows × 128 outputs as parallel tasks.
template <class Micro>
void for_micro_tiles(int64_t m, int64_t n, int64_t k, Micro&& micro) {
    // Blocks of 128 outputs, or of one micro-tile's 64 when there would be few blocks (one short
    // sentence: 384 outputs in 3 blocks leave one of two threads idle a third of the time).
    constexpr int64_t kRows = 10 * kMicroRows;
    const int64_t mb = (m + kRows - 1) / kRows, kCols = mb * ((n + 127) / 128) < 4 ? 64 : 128,
                  nb = (n + kCols - 1) / kCols;
    parallel_for(mb * nb, static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k),
                 [&](int64_t begin, int64_t end) {
                     for (int64_t t = begin; t < end; ++t) {
                         const int64_t bm = t / nb, bn = t % nb;
                         const int64_t m1 = std::min(m, (bm + 1) * kRows), n1 = std::min(n, (bn + 1) * kCols);
                         for (int64_t m0 = bm * kRows; m0 < m1; m0 += kMicroRows) {
                             const int rows = static_cast<int>(std::min<int64_t>(kMicroRows, m1 - m0));
                             int64_t ai[kMicroRows];
                             for (int r = 0; r < kMicroRows; ++r) ai[r] = std::min(m0 + r, m - 1);
                             for (int64_t n0 = bn * kCols; n0 < n1; n0 += 16 * kPanels) {
                                 const int nv = static_cast<int>(std::min<int64_t>(kPanels, (n1 - n0 + 15) / 16));
                                 micro(ai, rows, n0, nv);
                             }
                         }
                     }
                 });
}

// ---------------------------------------------------------------------------------------------
// Conversions of x per call.
// ---------------------------------------------------------------------------------------------

// Rows of x to bf16 [rows][kp] (round to nearest even; zeros past k).
APH_TARGET_BF16 void x_to_bf16(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k, int64_t kp,
                               uint16_t* dst) {
    for (int64_t r = r0; r < r1; ++r) {
        const float* src = x + r * ldx;
        uint16_t* d = dst + r * kp;
        for (int64_t i = 0; i < kp; i += 16) {
            const int64_t left = std::min<int64_t>(16, std::max<int64_t>(0, k - i));
            const __mmask16 km = static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1u);
            const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(km, src + i));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), (__m256i)h);
        }
    }
}

// The ro <= 16 entries of largest magnitude among row[0, kp) (zeros excluded), largest first
// (ties: the lower column), into col/val; fewer when the row has fewer non-zero entries (the
// rest: column 0, value 0). lm holds the 16 lanes' maxima of |row|. Candidates are the entries at
// least as large as the ro-th largest lane maximum (at least ro entries are), usually a few more
// than ro; they are ranked in vector registers (up to 32), else, rarely (a row of equal
// magnitudes), by a sort.
APH_TARGET_AVX512 void row_outliers(const float* row, int64_t kp, __m512 lm, int ro, int32_t* col, float* val) {
    // tau = the ro-th largest lane maximum: the smallest lane with fewer than ro lanes above it.
    __m512i above = _mm512_setzero_si512();
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, lm);
    for (int j = 0; j < 16; ++j)
        above = _mm512_mask_add_epi32(above, _mm512_cmp_ps_mask(_mm512_set1_ps(lanes[j]), lm, _CMP_GT_OQ), above,
                                      _mm512_set1_epi32(1));
    const __mmask16 top = _mm512_cmplt_epi32_mask(above, _mm512_set1_epi32(ro));
    const float tau = _mm512_mask_reduce_min_ps(top, lm);
    constexpr int kMaxCandidates = 256;
    alignas(64) int32_t cand[kMaxCandidates + 16];
    alignas(64) float cabs[kMaxCandidates + 16];
    int nc = 0;
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 tv = _mm512_set1_ps(std::max(tau, std::numeric_limits<float>::min()));
    for (int64_t i = 0; i < kp && nc <= kMaxCandidates; i += 16) {
        const __m512 a = _mm512_abs_ps(_mm512_loadu_ps(row + i));
        const __mmask16 hit = _mm512_cmp_ps_mask(a, tv, _CMP_GE_OQ);
        // Compressed in registers and stored whole (the buffers have 16 spare): a masked
        // compress to memory is microcoded on Zen 4, about 100 times slower.
        _mm512_storeu_si512(cand + nc, _mm512_maskz_compress_epi32(
                                           hit, _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(i)))));
        _mm512_storeu_ps(cabs + nc, _mm512_maskz_compress_ps(hit, a));
        nc += __builtin_popcount(hit);
    }
    int found = 0;
    if (nc <= 32) {
        // Two registers of candidates (-1 past nc), the largest taken out ro times; candidates are
        // stored in column order, so the first lane holding the maximum is the lower column.
        const __mmask16 m0 = static_cast<__mmask16>(nc >= 16 ? 0xffffu : (1u << nc) - 1u);
        const __mmask16 m1 = static_cast<__mmask16>(nc >= 32 ? 0xffffu : nc > 16 ? (1u << (nc - 16)) - 1u : 0u);
        __m512 c0 = _mm512_mask_loadu_ps(_mm512_set1_ps(-1.0f), m0, cabs);
        __m512 c1 = _mm512_mask_loadu_ps(_mm512_set1_ps(-1.0f), m1, cabs + 16);
        for (; found < ro && found < nc; ++found) {
            const float mx = _mm512_reduce_max_ps(_mm512_max_ps(c0, c1));
            const __mmask16 e0 = _mm512_cmp_ps_mask(c0, _mm512_set1_ps(mx), _CMP_EQ_OQ);
            const __mmask16 e1 = _mm512_cmp_ps_mask(c1, _mm512_set1_ps(mx), _CMP_EQ_OQ);
            const int at = e0 != 0 ? __builtin_ctz(e0) : 16 + __builtin_ctz(e1);
            col[found] = cand[at];
            if (at < 16) c0 = _mm512_mask_mov_ps(c0, static_cast<__mmask16>(1u << at), _mm512_set1_ps(-1.0f));
            else
                c1 = _mm512_mask_mov_ps(c1, static_cast<__mmask16>(1u << (at - 16)), _mm512_set1_ps(-1.0f));
        }
    } else {
        std::vector<int32_t> all;
        for (int64_t i = 0; i < kp; ++i)
            if (std::fabs(row[i]) > 0.0f) all.push_back(static_cast<int32_t>(i));
        found = static_cast<int>(std::min<size_t>(static_cast<size_t>(ro), all.size()));
        std::partial_sort(all.begin(), all.begin() + found, all.end(), [row](int32_t p, int32_t q) {
            const float a = std::fabs(row[p]), b = std::fabs(row[q]);
            return a > b || (a == b && p < q);
        });
        std::copy_n(all.begin(), found, col);
    }
    for (int j = 0; j < ro; ++j) {
        if (j >= found) col[j] = 0;
        val[j] = j < found ? row[col[j]] : 0.0f;
    }
}

// Rows of x to u8 [rows][kp], asymmetric per row: the range [min(x, 0), max(x, 0)] in 255
// steps, s = range / 255, zero point z = round(-min / s), q = clamp(round(x / s) + z, 0, 255)
// (z past k, which meets zero weights); the scales and zero points per row. Entries left out of
// the product are quantized as 0 (which is exact: z): the weight's outlier columns (keep's bits
// clear) and, when ro > 0, each row's ro largest remaining entries (row_outliers: their columns
// and values to ocol/oval, ro per row). tmp: kp floats of scratch.
APH_TARGET_AVX512 void x_to_u8(const float* x, int64_t ldx, int64_t r0, int64_t r1, int64_t k, int64_t kp, uint8_t* dst,
                               float* scales, int32_t* zeros, const uint16_t* keep, int ro, int32_t* ocol, float* oval,
                               float* tmp) {
    const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    for (int64_t r = r0; r < r1; ++r) {
        const float* src = x + r * ldx;
        // NaN and infinities give the row a NaN scale, so they reach every output of the row.
        __mmask16 bad = 0;
        __m512 lm = _mm512_setzero_ps();
        for (int64_t i = 0; i < kp; i += 16) {
            const int64_t left = std::min<int64_t>(16, std::max<int64_t>(0, k - i));
            const __mmask16 km = static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1u);
            const __m512 all = _mm512_maskz_loadu_ps(km, src + i);
            bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(all), inf, _CMP_NLT_UQ);
            const __m512 v = _mm512_maskz_mov_ps(keep[i / 16], all);
            lm = _mm512_max_ps(lm, _mm512_abs_ps(v));
            _mm512_storeu_ps(tmp + i, v);
        }
        if (ro > 0 && bad == 0) {
            row_outliers(tmp, kp, lm, ro, ocol + r * ro, oval + r * ro);
            for (int j = 0; j < ro; ++j) tmp[ocol[r * ro + j]] = 0.0f;
        } else if (ro > 0) {  // the row's outputs are NaN anyway
            std::fill_n(ocol + r * ro, ro, 0);
            std::fill_n(oval + r * ro, ro, 0.0f);
        }
        __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
        for (int64_t i = 0; i < kp; i += 16) {
            const __m512 v = _mm512_loadu_ps(tmp + i);
            lo = _mm512_min_ps(lo, v);
            hi = _mm512_max_ps(hi, v);
        }
        const float mn = _mm512_reduce_min_ps(lo), mx = _mm512_reduce_max_ps(hi);
        const float range = mx - mn;
        float s = range > 0.0f ? range / 255.0f : 1.0f;
        int32_t z = static_cast<int32_t>(std::nearbyint(-mn / s));
        z = std::clamp(z, 0, 255);
        if (bad != 0 || !std::isfinite(s)) {
            s = std::numeric_limits<float>::quiet_NaN();
            z = 0;
        }
        scales[r] = s;
        zeros[r] = z;
        const __m512 inv = _mm512_set1_ps(1.0f / s);
        const __m512i zv = _mm512_set1_epi32(z);
        uint8_t* d = dst + r * kp;
        for (int64_t i = 0; i < kp; i += 16) {
            __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(tmp + i), inv)), zv);
            q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_setzero_si512()), _mm512_set1_epi32(255));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm512_cvtusepi32_epi8(q));
        }
    }
}

// Runs tile(m0, rows, n0, cols, ai, wi) over every 4 × 4 tile, blocked and in parallel; ai and wi
// are the clamped row indices of x and w for the tile's 4 rows and 4 outputs.
template <class Tile>
void for_tiles(int64_t m, int64_t n, int64_t k, Tile&& tile) {
    const int64_t mb = (m + kBlockRows - 1) / kBlockRows, nb = (n + kBlockCols - 1) / kBlockCols;
    parallel_for(mb * nb, static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k),
                 [&](int64_t begin, int64_t end) {
                     for (int64_t t = begin; t < end; ++t) {
                         const int64_t bm = t / nb, bn = t % nb;
                         const int64_t m1 = std::min(m, (bm + 1) * kBlockRows), n1 = std::min(n, (bn + 1) * kBlockCols);
                         for (int64_t m0 = bm * kBlockRows; m0 < m1; m0 += 4) {
                             const int rows = static_cast<int>(std::min<int64_t>(4, m - m0));
                             int64_t ai[4];
                             for (int r = 0; r < 4; ++r) ai[r] = std::min(m0 + r, m - 1);
                             for (int64_t n0 = bn * kBlockCols; n0 < n1; n0 += 4) {
                                 const int cols = static_cast<int>(std::min<int64_t>(4, n - n0));
                                 int64_t wi[4];
                                 for (int c = 0; c < 4; ++c) wi[c] = std::min(n0 + c, n - 1);
                                 tile(m0, rows, n0, cols, ai, wi);
                             }
                         }
                     }
                 });
}

}  // namespace

bool linear_supported(LinearPrecision p) noexcept {
    if (cpu_isa() != Isa::kAvx512) return false;
    switch (p) {
        case LinearPrecision::kF32: return true;
        case LinearPrecision::kBf16: {
            static const bool bf16 = cpuid_bit(7, 1, 0, 5);  // CPUID.(7,1):EAX[5] AVX512_BF16
            return bf16;
        }
        case LinearPrecision::kInt8: {
            static const bool vnni = cpuid_bit(7, 0, 2, 11);  // CPUID.(7,0):ECX[11] AVX512_VNNI
            return vnni;
        }
    }
    return false;
}

bool linear_f32_preferred(int64_t rows) noexcept {
    // Up to 512 rows: OpenBLAS's packing costs about as much as the product (1.3-3x slower at
    // 16 rows, equal at 128); at 4096 rows it is as fast for K = 384 and faster for K = 1536.
    return rows <= 512 && linear_supported(LinearPrecision::kF32);
}

void linear_f32(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int64_t n, int64_t k,
                const LinearEpilogue& e, float* out, int64_t ldo) {
    for_tiles(m, n, k, [&](int64_t m0, int rows, int64_t n0, int cols, const int64_t* ai, const int64_t* wi) {
        const float* a[4] = {x + ai[0] * ldx, x + ai[1] * ldx, x + ai[2] * ldx, x + ai[3] * ldx};
        const float* b[4] = {w + wi[0] * ldw, w + wi[1] * ldw, w + wi[2] * ldw, w + wi[3] * ldw};
        tile_f32(a, b, k, m0, rows, n0, cols, e, out, ldo);
    });
}

void linear_packed(const float* x, int64_t ldx, int64_t m, const PackedLinearWeight& w, const LinearEpilogue& e,
                   float* out, int64_t ldo) {
    const int64_t n = w.n, k = w.k, kp = w.kp;
    const double convert_work = static_cast<double>(m) * static_cast<double>(kp) * 4.0;
    PackedCall c;
    c.w = &w;
    c.m = m;
    c.n = n;
    c.e = &e;
    c.out = out;
    c.ldo = ldo;
    if (w.precision == LinearPrecision::kF32) {  // x read in place
        for_micro_tiles(m, n, k, [&](const int64_t* ai, int rows, int64_t n0, int nv) {
            switch (nv) {
                case 1: micro_f32<1>(x, ldx, k, ai, rows, n0, c); break;
                case 2: micro_f32<2>(x, ldx, k, ai, rows, n0, c); break;
                case 3: micro_f32<3>(x, ldx, k, ai, rows, n0, c); break;
                default: micro_f32<kPanels>(x, ldx, k, ai, rows, n0, c); break;
            }
        });
        return;
    }
    if (w.precision == LinearPrecision::kBf16) {
        std::vector<uint16_t> xb(static_cast<size_t>(m * kp));
        parallel_for(m, convert_work, [&](int64_t r0, int64_t r1) { x_to_bf16(x, ldx, r0, r1, k, kp, xb.data()); });
        for_micro_tiles(m, n, kp, [&](const int64_t* ai, int rows, int64_t n0, int nv) {
            switch (nv) {
                case 1: micro_bf16<1>(xb.data(), kp, ai, rows, n0, c); break;
                case 2: micro_bf16<2>(xb.data(), kp, ai, rows, n0, c); break;
                case 3: micro_bf16<3>(xb.data(), kp, ai, rows, n0, c); break;
                default: micro_bf16<kPanels>(xb.data(), kp, ai, rows, n0, c); break;
            }
        });
        return;
    }
    // The outliers (see x_to_u8): x's values in the weight's outlier columns, gathered for the
    // epilogue, and each row's own largest entries.
    const int64_t nw = static_cast<int64_t>(w.outliers.size());
    std::vector<float> xo(static_cast<size_t>(nw * m));
    std::vector<uint16_t> keep(static_cast<size_t>(kp / 16), 0xffffu);
    for (int64_t j = 0; j < nw; ++j) {
        const int64_t col = w.outliers[static_cast<size_t>(j)];
        keep[static_cast<size_t>(col / 16)] &= static_cast<uint16_t>(~(1u << (col % 16)));
        for (int64_t r = 0; r < m; ++r) xo[static_cast<size_t>(j * m + r)] = x[r * ldx + col];
    }
    const int ro = k > kRowOutliersMinK ? kRowOutliers : 0;
    std::vector<int32_t> ocol(static_cast<size_t>(m * ro));
    std::vector<float> oval(static_cast<size_t>(m * ro));
    std::vector<uint8_t> xq(static_cast<size_t>(m * kp));
    std::vector<float> sx(static_cast<size_t>(m), 1.0f);
    std::vector<int32_t> zx(static_cast<size_t>(m), 0);
    parallel_for(m, convert_work, [&](int64_t r0, int64_t r1) {
        std::vector<float> tmp(static_cast<size_t>(kp));
        x_to_u8(x, ldx, r0, r1, k, kp, xq.data(), sx.data(), zx.data(), keep.data(), ro, ocol.data(), oval.data(),
                tmp.data());
    });
    c.sx = sx.data();
    c.zx = zx.data();
    c.xo = xo.data();
    c.ro = ro;
    c.ocol = ocol.data();
    c.oval = oval.data();
    for_micro_tiles(m, n, kp, [&](const int64_t* ai, int rows, int64_t n0, int nv) {
        switch (nv) {
            case 1: micro_int8<1>(xq.data(), kp, ai, rows, n0, c); break;
            case 2: micro_int8<2>(xq.data(), kp, ai, rows, n0, c); break;
            case 3: micro_int8<3>(xq.data(), kp, ai, rows, n0, c); break;
            default: micro_int8<kPanels>(xq.data(), kp, ai, rows, n0, c); break;
        }
    });
}

#else  // no x86 dispatch: nothing here runs (linear_supported is false)

bool linear_supported(LinearPrecision) noexcept { return false; }
bool linear_f32_preferred(int64_t) noexcept { return false; }
void linear_f32(const float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, const LinearEpilogue&, float*,
                int64_t) {
    std::abort();
}
void linear_packed(const float*, int64_t, int64_t, const PackedLinearWeight&, const LinearEpilogue&, float*, int64_t) {
    std::abort();
}

#endif

// Where w[r, i] goes in the panel layout (micro_bf16 / micro_int8): panel r / 16, group i / pair,
// lane r % 16, position i % pair; kp elements per row.
static int64_t panel_index(int64_t r, int64_t i, int64_t kp, int64_t pair) {
    return ((r / 16) * (kp / pair) + i / pair) * 16 * pair + (r % 16) * pair + i % pair;
}

PackedLinearWeight pack_linear_weight(const float* w, int64_t ldw, int64_t n, int64_t k, LinearPrecision p) {
    constexpr int kWeightOutliers = 4;
    PackedLinearWeight pw;
    pw.precision = p;
    pw.n = n;
    pw.k = k;
    const int64_t np = (n + 15) / 16 * 16;  // panels of 16 outputs, the last padded with zeros
    if (p == LinearPrecision::kF32) {
        pw.kp = k;
        pw.f32.assign(static_cast<size_t>(np * k), 0.0f);
        for (int64_t r = 0; r < n; ++r)
            for (int64_t i = 0; i < k; ++i) pw.f32[static_cast<size_t>(panel_index(r, i, k, 1))] = w[r * ldw + i];
        return pw;
    }
    if (p == LinearPrecision::kBf16) {
        pw.kp = (k + 31) / 32 * 32;
        pw.bf16.assign(static_cast<size_t>(np * pw.kp), 0);
        for (int64_t r = 0; r < n; ++r)
            for (int64_t i = 0; i < k; ++i)
                pw.bf16[static_cast<size_t>(panel_index(r, i, pw.kp, 2))] = num::f32_to_bf16(w[r * ldw + i]);
        return pw;
    }
    pw.kp = (k + 63) / 64 * 64;
    pw.s8.assign(static_cast<size_t>(np * pw.kp), 0);
    pw.scale.assign(static_cast<size_t>(np), 1.0f);
    pw.offset.assign(static_cast<size_t>(np), 0);
    // The kWeightOutliers columns of largest magnitude (their maximum over the rows) stay f32
    // (linear_packed), so they do not set the rows' scales.
    std::vector<float> colmax(static_cast<size_t>(k), 0.0f);
    for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < k; ++i)
            colmax[static_cast<size_t>(i)] = std::max(colmax[static_cast<size_t>(i)], std::fabs(w[r * ldw + i]));
    std::vector<char> out_col(static_cast<size_t>(k), 0);
    for (int t = 0; t < kWeightOutliers && k > 4 * kWeightOutliers; ++t) {
        const auto it = std::max_element(colmax.begin(), colmax.end());
        if (!(*it > 0.0f)) break;
        pw.outliers.push_back(static_cast<int32_t>(it - colmax.begin()));
        out_col[static_cast<size_t>(it - colmax.begin())] = 1;
        *it = 0.0f;
    }
    for (int64_t r = 0; r < n; ++r) {
        const float* row = w + r * ldw;
        float amax = 0.0f;
        bool finite = true;
        for (int64_t i = 0; i < k; ++i) {
            finite = finite && std::isfinite(row[i]);
            if (!out_col[static_cast<size_t>(i)]) amax = std::max(amax, std::fabs(row[i]));
        }
        // A NaN or infinite weight makes its output NaN (f32 would give NaN or infinity).
        const float s = !finite ? std::numeric_limits<float>::quiet_NaN() : amax > 0.0f ? amax / 127.0f : 1.0f;
        int32_t sum = 0;
        for (int64_t i = 0; finite && i < k; ++i) {
            if (out_col[static_cast<size_t>(i)]) continue;
            const int8_t v = static_cast<int8_t>(std::clamp(std::nearbyint(row[i] / s), -127.0f, 127.0f));
            pw.s8[static_cast<size_t>(panel_index(r, i, pw.kp, 4))] = v;
            sum += v;
        }
        pw.scale[static_cast<size_t>(r)] = s;
        pw.offset[static_cast<size_t>(r)] = sum;
    }
    // The f32 side: the outlier columns as they are, and every column in bf16 for the rows' own
    // outliers (transposed: a column's outputs contiguous).
    pw.outlier_w.assign(pw.outliers.size() * static_cast<size_t>(np), 0.0f);
    for (size_t j = 0; j < pw.outliers.size(); ++j)
        for (int64_t r = 0; r < n; ++r)
            pw.outlier_w[j * static_cast<size_t>(np) + static_cast<size_t>(r)] = w[r * ldw + pw.outliers[j]];
    pw.wt_bf16.assign(static_cast<size_t>(k * np), 0);
    for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < k; ++i) pw.wt_bf16[static_cast<size_t>(i * np + r)] = num::f32_to_bf16(w[r * ldw + i]);
    return pw;
}

}  // namespace aph::kernels
