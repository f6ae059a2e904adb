// Scaled dot-product attention, forward, on the CPU: FlashAttention's tiling with an online
// softmax, so the [Sq, Sk] scores never exist; each worker holds O(BQ·D + BQ·BK) floats.
//
// Work items are (b, hq, query block of `bq` rows), taken by one worker per thread from a
// shared counter: head by head (a head's keys and values stay in cache between its query
// blocks), each head's blocks last first (under causal masking they see the most keys). bq is
// 128 for heads of up to 64 dimensions (so a 128-token head is one item and its keys are
// transposed once), 64 above, and halved while that leaves fewer than two items per thread.
// Per item, in the accumulator type A (f32; f64 for f64 inputs):
//
//   Qs [bq][D]       the query rows, times scale·log2(e) (so the softmax runs on exp2)
//   m [bq], l [bq]   running row maximum (log2 units) and the running sum of exp2(s - m)
//   O [bq][Dp]       unnormalised output rows (Dp = D rounded up to NR; the pad stays 0)
//   for each key block [k0, k0 + nk), nk <= BK, up to the causal diagonal of the block's last row
//   and the item's last visible key (below):
//     Kt [D][BK]     the block's keys, transposed (keys innermost: S's micro-kernel runs along keys)
//     Vb [BK][Dp]    the block's values (f32/f64 rows with D a multiple of NR: read in place)
//     S  [bq][BK]    = Qs · Kt (+ mask·log2(e)); masked keys are left out of the row's count
//     per row: m' = max(m, max S), P = exp2(S - m'), l = l·exp2(m - m') + ΣP, O *= exp2(m - m')
//     O += P · Vb
//   out = O / l (a row with l == 0, all of its keys masked, is written as zeros).
//
// Masks broadcast over queries (a [B, 1, 1, Sk] padding mask, or [Sk]): the block's mask row is
// scaled by log2(e) once and added to every row as a vector. Trailing keys whose mask is -inf
// (right padding) are not visited at all when their keys and values and the item's queries are
// finite: such a key adds exactly 0 to every sum (exp2(-inf) = 0, 0·v = 0), so the result is the
// same, while NaN or infinities in them still propagate as they would through the arithmetic.
//
// Both products run through one register-tiled micro-kernel (C[MR][NR] += A[MR][k]·B[k][NR],
// the vector direction along NR: two vectors of VB bytes), compiled three times: for the
// baseline instruction set (VB = 32: two SSE registers per vector), for AVX2 with FMA and for
// AVX-512 (picked at run time: cpu_isa()). With AVX-512 the tiles stay 32 bytes wide
// (kAvx512VectorBytes): 64-byte tiles (NR = 32 floats) measured about 10% slower on the Zen 4
// this was tuned on, whose 512-bit operations are split in two; on processors with two 512-bit
// FMA units they are worth measuring again. Keys stored in A are transposed into Kt by
// register blocks of LANES × LANES (transpose_block).
#include "cpu.hpp"
#include "parallel.hpp"
#include "vmath.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace aph::kernels {
namespace {

#define APH_AI inline __attribute__((always_inline))

constexpr int64_t BQ = 128;  // query rows per work item (at most; 64 for heads above 64 dimensions)
constexpr int64_t BK = 64;   // keys per block
constexpr int64_t MR = 4;    // micro-tile rows
// Micro-tile columns (the vector direction): two vectors of VB bytes, counted in f32 lanes
// (f64 tiles have the same width in elements, four vectors).
template <int VB>
constexpr int64_t NR = VB / 2;
// The tile vector width (bytes) used with AVX-512 (see the top of the file).
constexpr int kAvx512VectorBytes = 32;
constexpr double LOG2E = 1.4426950408889634074;

// Stored element formats by aph_dtype code: f32 (0), f16 (1), bf16 (2), f64 (3).
template <int DT>
struct Elem;
template <>
struct Elem<0> {
    using S = float;
    static APH_AI float get(S x) { return x; }
    static APH_AI S put(float v) { return v; }
};
template <>
struct Elem<1> {
    using S = uint16_t;
    static APH_AI float get(S x) { return num::f16_to_f32(x); }
    static APH_AI S put(float v) { return num::f32_to_f16(v); }
};
template <>
struct Elem<2> {
    using S = uint16_t;
    static APH_AI float get(S x) { return num::bf16_to_f32(x); }
    static APH_AI S put(float v) { return num::f32_to_bf16(v); }
};
template <>
struct Elem<3> {
    using S = double;
    static APH_AI double get(S x) { return x; }
    static APH_AI S put(double v) { return v; }
};

// Vectors of VB bytes of A (VB = 32: 8 floats or 4 doubles, two SSE registers on the baseline
// instruction set, one AVX register with AVX2; VB = 64: one AVX-512 register), loaded and stored
// at any element alignment.
template <class A, int VB>
struct VecOf;
template <>
struct VecOf<float, 32> {
    typedef float type __attribute__((vector_size(32), aligned(4), may_alias));
    typedef uint32_t bits __attribute__((vector_size(32), aligned(4), may_alias));
};
template <>
struct VecOf<float, 64> {
    typedef float type __attribute__((vector_size(64), aligned(4), may_alias));
    typedef uint32_t bits __attribute__((vector_size(64), aligned(4), may_alias));
};
template <>
struct VecOf<double, 32> {
    typedef double type __attribute__((vector_size(32), aligned(8), may_alias));
};
template <>
struct VecOf<double, 64> {
    typedef double type __attribute__((vector_size(64), aligned(8), may_alias));
};
template <class A, int VB>
using Vec = typename VecOf<A, VB>::type;
template <class A, int VB>
constexpr int64_t LANES = static_cast<int64_t>(VB / sizeof(A));

// 2^x for the online softmax, whose arguments are never positive (s - max): exact 0 below -126
// (such terms are below 2^-126 of the row's largest one), NaN for NaN. Round-to-nearest range
// reduction x = n + f, |f| <= 1/2, and Cephes' degree-6 polynomial for 2^f (relative error about
// 2e-7). The vector version (exp2_vec) is the same arithmetic, lane by lane.
constexpr float kShifter = 12582912.0f;  // 1.5·2^23: x + kShifter holds round(x) in its low bits
constexpr float kP0 = 1.535336188319500e-4f;
// p (holding kP0) = the polynomial at f.
#define APH_EXP2_POLY(p, f)              \
    p = p * (f) + 1.339887440266574e-3f; \
    p = p * (f) + 9.618437357674640e-3f; \
    p = p * (f) + 5.550332471162809e-2f; \
    p = p * (f) + 2.402264791363012e-1f; \
    p = p * (f) + 6.931472028550421e-1f; \
    p = p * (f) + 1.0f

APH_AI float exp2_nonpos(float x) {
    const float xc = x < -126.0f ? -126.0f : x;
    const float t = xc + kShifter;
    const float f = xc - (t - kShifter);
    float p = kP0;
    APH_EXP2_POLY(p, f);
    const uint32_t e = (std::bit_cast<uint32_t>(t) - std::bit_cast<uint32_t>(kShifter) + 127u) << 23;  // 2^n
    const float r = p * std::bit_cast<float>(e);
    return x < -126.0f ? 0.0f : r;
}
APH_AI double exp2_nonpos(double x) { return std::exp2(x); }

// dst[0, L) = exp2_nonpos(src[0, L) - m), L = VB / 4 lanes.
template <int VB>
APH_AI void exp2_vec(const float* src, float m, float* dst) {
    using V = typename VecOf<float, VB>::type;
    using U = typename VecOf<float, VB>::bits;
    const V x = *reinterpret_cast<const V*>(src) - m;
    const V lo = V{} - 126.0f;
    const V xc = x < lo ? lo : x;
    const V t = xc + kShifter;
    const V f = xc - (t - kShifter);
    V p = V{} + kP0;
    APH_EXP2_POLY(p, f);
    const U e = ((U)t - std::bit_cast<uint32_t>(kShifter) + 127u) << 23;
    const V r = p * (V)e;
    *reinterpret_cast<V*>(dst) = x < lo ? V{} : r;
}

// C[MR][NR] (row stride ldc) = (ACC ? C : 0) + A[MR][kdim] (row stride lda) · B[kdim][NR] (row
// stride ldb). The MR×NR accumulators are MR·NR/LANES vector registers; each step of k
// broadcasts one A element per row against NR/LANES vectors of B's row k.
template <class A, int VB, bool ACC>
APH_AI void micro_kernel(const A* a, int64_t lda, const A* b, int64_t ldb, A* c, int64_t ldc, int64_t kdim) {
    using V = Vec<A, VB>;
    constexpr int64_t L = LANES<A, VB>, NV = NR<VB> / L;
    V acc[MR][NV];
    for (int64_t r = 0; r < MR; ++r) {
        for (int64_t n = 0; n < NV; ++n) acc[r][n] = ACC ? *reinterpret_cast<const V*>(c + r * ldc + n * L) : V{};
    }
    for (int64_t k = 0; k < kdim; ++k) {
        V bv[NV];
        for (int64_t n = 0; n < NV; ++n) bv[n] = *reinterpret_cast<const V*>(b + k * ldb + n * L);
        for (int64_t r = 0; r < MR; ++r) {
            const A ar = a[r * lda + k];
            for (int64_t n = 0; n < NV; ++n) acc[r][n] += ar * bv[n];
        }
    }
    for (int64_t r = 0; r < MR; ++r) {
        for (int64_t n = 0; n < NV; ++n) *reinterpret_cast<V*>(c + r * ldc + n * L) = acc[r][n];
    }
}

// C[rows][cols] (ACC: +=) = A[rows][kdim] · B[kdim][cols]; rows a multiple of MR, cols of NR.
template <class A, int VB, bool ACC>
APH_AI void gemm_tile(const A* a, int64_t lda, const A* b, int64_t ldb, A* c, int64_t ldc, int64_t rows, int64_t cols,
                      int64_t kdim) {
    for (int64_t r0 = 0; r0 < rows; r0 += MR) {
        for (int64_t c0 = 0; c0 < cols; c0 += NR<VB>) {
            micro_kernel<A, VB, ACC>(a + r0 * lda, lda, b + c0, ldb, c + r0 * ldc + c0, ldc, kdim);
        }
    }
}

// dst[c][r] = src[r][c] for an L×L block (L = LANES: 16 floats with AVX-512, 8 otherwise), rows
// of src ld_src apart, rows of dst ld_dst apart: L vector loads, log2(L) stages of L two-input
// shuffles (stage d swaps the off-diagonal d×d sub-blocks of every 2d×2d block), L stores.
template <class A, int VB>
APH_AI void transpose_block(const A* src, int64_t ld_src, A* dst, int64_t ld_dst) {
    using V = Vec<A, VB>;
    using M = decltype(V{} < V{});  // integer lanes of A's width: the shuffle index vector
    constexpr int L = static_cast<int>(LANES<A, VB>);
    V r[L];
    for (int i = 0; i < L; ++i) r[i] = *reinterpret_cast<const V*>(src + i * ld_src);
    for (int d = L / 2; d >= 1; d /= 2) {
        M lo, hi;  // lane l of row i takes (bit d of l clear) row i's lane l / (set) row i+d's l-d
        for (int l = 0; l < L; ++l) {
            lo[l] = (l & d) ? L + l - d : l;
            hi[l] = (l & d) ? L + l : l + d;
        }
        for (int i = 0; i < L; ++i) {
            if (i & d) continue;
            const V a = vmath::shuffle(r[i], r[i + d], lo), b = vmath::shuffle(r[i], r[i + d], hi);
            r[i] = a;
            r[i + d] = b;
        }
    }
    for (int i = 0; i < L; ++i) *reinterpret_cast<V*>(dst + i * ld_dst) = r[i];
}

// The online-softmax step of one row: s[0, cnt) are the visible scores of this key block (log2
// units), s[cnt, nk) masked ones. Updates the row's maximum m, sum l and output o[0, Dp), and
// turns s[0, nk) into the probabilities P (0 for masked keys).
template <class A, int VB>
APH_AI void softmax_row(A* s, int64_t cnt, int64_t nk, A& m, A& l, A* o, int64_t Dp) {
    using V = Vec<A, VB>;
    constexpr int64_t L = LANES<A, VB>;
    constexpr A NEG_INF = -std::numeric_limits<A>::infinity();
    // Row maximum, lane-wise then across lanes. (A NaN score is never the maximum; it makes its
    // P and so the output NaN.)
    V vm = V{} + NEG_INF;
    int64_t j = 0;
    for (; j + L <= cnt; j += L) {
        const V x = *reinterpret_cast<const V*>(s + j);
        vm = x > vm ? x : vm;
    }
    A mx = NEG_INF;
    for (; j < cnt; ++j) mx = s[j] > mx ? s[j] : mx;
    for (int64_t u = 0; u < L; ++u) mx = vm[u] > mx ? vm[u] : mx;
    const A m_new = mx > m ? mx : m;
    if (m_new == NEG_INF) {
        // Nothing visible yet: P is 0 and the row's state (m, l, O all empty) stays.
        std::fill(s, s + nk, A(0));
        return;
    }
    const A alpha = exp2_nonpos(m - m_new);  // m == -inf: 0
    A sum = A(0);
    j = 0;
    if constexpr (std::is_same_v<A, float>) {
        V vs = V{};
        for (; j + L <= cnt; j += L) {
            exp2_vec<VB>(s + j, m_new, s + j);
            vs += *reinterpret_cast<const V*>(s + j);
        }
        for (int64_t u = 0; u < L; ++u) sum += vs[u];
    }
    for (; j < cnt; ++j) {
        s[j] = exp2_nonpos(s[j] - m_new);
        sum += s[j];
    }
    std::fill(s + cnt, s + nk, A(0));
    l = l * alpha + sum;
    m = m_new;
    if (alpha != A(1)) {
        for (int64_t e = 0; e < Dp; e += L) *reinterpret_cast<V*>(o + e) *= alpha;
    }
}

// What every work item shares.
struct Job {
    const aph_k_attention* d;
    int64_t B, Sq, Sk, Hq, D, group;  // group = Hq / Hkv: query heads per key/value head
    int64_t Dp;                       // D rounded up to NR<VB> of the instruction set in use
    int64_t bq, nqb, items;           // rows per item, query blocks per head, work items
    double scale_log2;                // scale·log2(e)
    std::atomic<int64_t>* next;       // the next work item to take
    const int64_t* vis_end;           // [B * Hq]: visible_end per (b, h), or null
};

// A worker's tiles (see the top of the file), allocated once per worker.
template <class A>
struct Tiles {
    std::vector<A> q, kt, v, s, o, m, l, mlog;
    explicit Tiles(const Job& j)
        : q(static_cast<size_t>(j.bq * j.D)),
          kt(static_cast<size_t>(j.D * BK)),
          v(static_cast<size_t>(BK * j.Dp)),
          s(static_cast<size_t>(j.bq * BK)),
          o(static_cast<size_t>(j.bq * j.Dp)),
          m(static_cast<size_t>(j.bq)),
          l(static_cast<size_t>(j.bq)),
          mlog(static_cast<size_t>(BK)) {}
};

// Are n elements, `stride` apart, all finite? (On the bits: an exponent field of all ones is an
// infinity or a NaN; the contiguous loop vectorises.)
template <int DT>
bool all_finite(const typename Elem<DT>::S* p, int64_t n, int64_t stride) {
    using S = typename Elem<DT>::S;
    using Bits = std::conditional_t<sizeof(S) == 8, uint64_t, std::conditional_t<sizeof(S) == 4, uint32_t, uint16_t>>;
    constexpr Bits kExp = DT == 3   ? Bits(0x7ff0000000000000ull)
                          : DT == 0 ? Bits(0x7f800000u)
                          : DT == 1 ? Bits(0x7c00u)
                                    : Bits(0x7f80u);
    int bad = 0;
    if (stride == 1) {
        for (int64_t e = 0; e < n; ++e) bad += (std::bit_cast<Bits>(p[e]) & kExp) == kExp;
    } else {
        for (int64_t e = 0; e < n; ++e) bad += (std::bit_cast<Bits>(p[e * stride]) & kExp) == kExp;
    }
    return bad == 0;
}

// For a mask broadcast over queries: the end of the keys head h of batch b must visit, before
// causal limits. That is Sk, or less when the mask is -inf for every key from some point on and
// the keys and values there are finite: skipping such keys cannot change the result (see the
// top of the file; run_item also requires the item's queries to be finite).
template <int DT, int MDT>
int64_t visible_end(const aph_k_attention& d, int64_t Sk, int64_t b, int64_t h, int64_t hk, int64_t D) {
    if (Sk == 0) return 0;  // (no mask data to read)
    using MS = typename Elem<MDT>::S;
    const MS* mrow = static_cast<const MS*>(d.mask.data) + b * d.mask.strides[0] + h * d.mask.strides[1];
    int64_t e = Sk;
    while (e > 0 && Elem<MDT>::get(mrow[(e - 1) * d.mask.strides[3]]) == -std::numeric_limits<float>::infinity()) --e;
    if (e == Sk) return Sk;
    using S = typename Elem<DT>::S;
    const S* kg = static_cast<const S*>(d.k.data) + b * d.k.strides[0] + hk * d.k.strides[2];
    const S* vg = static_cast<const S*>(d.v.data) + b * d.v.strides[0] + hk * d.v.strides[2];
    for (int64_t j = e; j < Sk; ++j) {
        if (!all_finite<DT>(kg + j * d.k.strides[1], D, d.k.strides[3]) ||
            !all_finite<DT>(vg + j * d.v.strides[1], D, d.v.strides[3])) {
            return Sk;
        }
    }
    return e;
}

template <int DT>
using AccOf = std::conditional_t<DT == 3, double, float>;

// One work item: rows [q0, q0 + nr) of head h in batch b. MDT: the mask's dtype code, -1 none.
template <int DT, int MDT, int VB>
APH_AI void run_item(const Job& J, Tiles<AccOf<DT>>& w, int64_t b, int64_t h, int64_t q0, int64_t nr) {
    using A = AccOf<DT>;
    using S = typename Elem<DT>::S;
    const aph_k_attention& d = *J.d;
    const int64_t D = J.D, Dp = J.Dp, Sq = J.Sq, Sk = J.Sk, hk = h / J.group;
    const int64_t nr4 = (nr + MR - 1) / MR * MR;
    constexpr A NEG_INF = -std::numeric_limits<A>::infinity();

    // Qs: rows [0, nr) scaled, rows [nr, nr4) zero (their scores are computed and ignored).
    const A qscale = static_cast<A>(J.scale_log2);
    const S* qg = static_cast<const S*>(d.q.data) + b * d.q.strides[0] + h * d.q.strides[2];
    bool q_finite = true;
    for (int64_t r = 0; r < nr4; ++r) {
        A* qs = w.q.data() + r * D;
        if (r < nr) {
            const S* row = qg + (q0 + r) * d.q.strides[1];
            if (J.vis_end != nullptr) q_finite &= all_finite<DT>(row, D, 1);
            for (int64_t e = 0; e < D; ++e) qs[e] = static_cast<A>(Elem<DT>::get(row[e])) * qscale;
        } else {
            for (int64_t e = 0; e < D; ++e) qs[e] = A(0);
        }
    }
    std::fill(w.o.begin(), w.o.begin() + nr4 * Dp, A(0));
    std::fill(w.m.begin(), w.m.end(), NEG_INF);
    std::fill(w.l.begin(), w.l.end(), A(0));

    // Keys up to the causal limit of the last row: key j is visible to query i when
    // j <= i + Sk - Sq.
    int64_t kend = d.causal ? std::min(Sk, q0 + nr + Sk - Sq) : Sk;
    if (J.vis_end != nullptr && q_finite) kend = std::min(kend, J.vis_end[b * J.Hq + h]);
    // A mask broadcast over queries: one row per key block, scaled once.
    const bool mask_row = MDT >= 0 && d.mask.strides[2] == 0;
    // (k and v have no data when Sk == 0: no offset is applied to their null pointers.)
    const S* kg = kend > 0 ? static_cast<const S*>(d.k.data) + b * d.k.strides[0] + hk * d.k.strides[2] : nullptr;
    const S* vg = kend > 0 ? static_cast<const S*>(d.v.data) + b * d.v.strides[0] + hk * d.v.strides[2] : nullptr;
    const bool v_direct = std::is_same_v<S, A> && Dp == D;
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int64_t nk = std::min(BK, kend - k0), nkr = (nk + NR<VB> - 1) / NR<VB> * NR<VB>;
        // Kt [D][BK]: column j holds key k0 + j. Vb [BK][Dp]: row j holds value k0 + j (its pad,
        // columns [D, Dp), stays 0 from the allocation). Stored rows serve as Vb directly when
        // they already are in A with no pad (v_direct).
        int64_t jt = 0;
        if constexpr (std::is_same_v<S, A>) {
            // Stored keys already in A: L×L blocks transposed in registers, the rest one by one.
            constexpr int64_t L = LANES<A, VB>;
            const int64_t ks = d.k.strides[1];
            for (; jt + L <= nk; jt += L) {
                const A* kb = kg + (k0 + jt) * ks;
                int64_t e = 0;
                for (; e + L <= D; e += L) transpose_block<A, VB>(kb + e, ks, w.kt.data() + e * BK + jt, BK);
                for (; e < D; ++e) {
                    for (int64_t r = 0; r < L; ++r) w.kt[e * BK + jt + r] = kb[r * ks + e];
                }
            }
        }
        for (; jt < nk; ++jt) {
            const S* kr = kg + (k0 + jt) * d.k.strides[1];
            for (int64_t e = 0; e < D; ++e) w.kt[e * BK + jt] = static_cast<A>(Elem<DT>::get(kr[e]));
        }
        if (!v_direct) {
            for (int64_t j = 0; j < nk; ++j) {
                const S* vr = vg + (k0 + j) * d.v.strides[1];
                A* vb = w.v.data() + j * Dp;
                for (int64_t e = 0; e < D; ++e) vb[e] = static_cast<A>(Elem<DT>::get(vr[e]));
            }
        }
        for (int64_t j = nk; j < nkr; ++j) {
            for (int64_t e = 0; e < D; ++e) w.kt[e * BK + j] = A(0);
        }

        // S [nr4][nkr] = Qs · Kt.
        gemm_tile<A, VB, false>(w.q.data(), D, w.kt.data(), BK, w.s.data(), BK, nr4, nkr, D);

        if constexpr (MDT >= 0) {
            if (mask_row) {
                using MS = typename Elem<MDT>::S;
                const MS* mrow = static_cast<const MS*>(d.mask.data) + b * d.mask.strides[0] + h * d.mask.strides[1] +
                                 k0 * d.mask.strides[3];
                const A log2e = static_cast<A>(LOG2E);
                for (int64_t j = 0; j < nk; ++j) {
                    w.mlog[j] = static_cast<A>(Elem<MDT>::get(mrow[j * d.mask.strides[3]])) * log2e;
                }
            }
        }

        // The online softmax, row by row; S becomes P (masked and padding keys 0).
        for (int64_t r = 0; r < nr; ++r) {
            const int64_t i = q0 + r;
            A* s = w.s.data() + r * BK;
            const int64_t cnt = d.causal ? std::clamp<int64_t>(i + Sk - Sq - k0 + 1, 0, nk) : nk;
            if constexpr (MDT >= 0) {
                if (mask_row) {
                    using V = Vec<A, VB>;
                    constexpr int64_t L = LANES<A, VB>;
                    int64_t j = 0;
                    for (; j + L <= cnt; j += L) {
                        *reinterpret_cast<V*>(s + j) += *reinterpret_cast<const V*>(w.mlog.data() + j);
                    }
                    for (; j < cnt; ++j) s[j] += w.mlog[j];
                } else {
                    using MS = typename Elem<MDT>::S;
                    const MS* mrow = static_cast<const MS*>(d.mask.data) + b * d.mask.strides[0] +
                                     h * d.mask.strides[1] + i * d.mask.strides[2] + k0 * d.mask.strides[3];
                    const int64_t ms = d.mask.strides[3];
                    const A log2e = static_cast<A>(LOG2E);
                    for (int64_t j = 0; j < cnt; ++j) s[j] += static_cast<A>(Elem<MDT>::get(mrow[j * ms])) * log2e;
                }
            }
            softmax_row<A, VB>(s, cnt, nk, w.m[r], w.l[r], w.o.data() + r * Dp, Dp);
        }

        // O [nr4][Dp] += P [nr4][nk] · Vb [nk][Dp]. (Rows [nr, nr4) of P are 0: zero queries.)
        if constexpr (std::is_same_v<S, A>) {
            if (v_direct) {
                gemm_tile<A, VB, true>(w.s.data(), BK, vg + k0 * d.v.strides[1], d.v.strides[1], w.o.data(), Dp, nr4,
                                       Dp, nk);
                continue;
            }
        }
        gemm_tile<A, VB, true>(w.s.data(), BK, w.v.data(), Dp, w.o.data(), Dp, nr4, Dp, nk);
    }

    // out = O / l; a row with no visible key (l == 0) gets zeros.
    S* og = static_cast<S*>(d.out.data) + b * d.out.strides[0] + h * d.out.strides[2];
    for (int64_t r = 0; r < nr; ++r) {
        S* row = og + (q0 + r) * d.out.strides[1];
        const A lr = w.l[r];
        const A inv = lr > A(0) ? A(1) / lr : A(0);
        const A* o = w.o.data() + r * Dp;
        for (int64_t e = 0; e < D; ++e) row[e] = Elem<DT>::put(o[e] * inv);
    }
}

// A worker: takes items from the shared counter until none is left.
template <int DT, int MDT, int VB>
APH_AI void work(const Job& J) {
    Tiles<AccOf<DT>> tiles(J);
    for (;;) {
        const int64_t it = J.next->fetch_add(1, std::memory_order_relaxed);
        if (it >= J.items) break;
        // Head by head (its keys and values stay in cache from one query block to the next),
        // each head's query blocks in decreasing order (the costliest first under causal masking).
        const int64_t rest = it / J.nqb, qb = J.nqb - 1 - it % J.nqb;
        const int64_t q0 = qb * J.bq;
        run_item<DT, MDT, VB>(J, tiles, rest / J.Hq, rest % J.Hq, q0, std::min(J.bq, J.Sq - q0));
    }
}

template <int DT, int MDT>
void work_baseline(const Job& J) {
    work<DT, MDT, 32>(J);
}

#ifdef APH_X86_DISPATCH
template <int DT, int MDT>
APH_TARGET_AVX2 void work_avx2(const Job& J) {
    work<DT, MDT, 32>(J);
}
template <int DT, int MDT>
APH_TARGET_AVX512 void work_avx512(const Job& J) {
    work<DT, MDT, kAvx512VectorBytes>(J);
}
#endif

// The tile vector width of the instruction set in use: it fixes NR and so Dp.
int vector_bytes() {
#ifdef APH_X86_DISPATCH
    if (cpu_isa() == Isa::kAvx512) return kAvx512VectorBytes;
#endif
    return 32;
}

template <int DT, int MDT>
void run(Job& J) {
    // Right padding of a mask broadcast over queries: each (b, h)'s visible end, found once.
    std::vector<int64_t> vis;
    if constexpr (MDT >= 0) {
        if (J.d->mask.strides[2] == 0) {
            vis.resize(static_cast<size_t>(J.B * J.Hq));
            parallel_for(J.B * J.Hq, static_cast<double>(J.B * J.Hq * J.Sk), [&](int64_t b0, int64_t b1) {
                for (int64_t i = b0; i < b1; ++i) {
                    const int64_t b = i / J.Hq, h = i % J.Hq;
                    vis[static_cast<size_t>(i)] = visible_end<DT, MDT>(*J.d, J.Sk, b, h, h / J.group, J.D);
                }
            });
            J.vis_end = vis.data();
        }
    }
    void (*fn)(const Job&) = work_baseline<DT, MDT>;
#ifdef APH_X86_DISPATCH
    switch (cpu_isa()) {
        case Isa::kAvx512: fn = work_avx512<DT, MDT>; break;
        case Isa::kAvx2: fn = work_avx2<DT, MDT>; break;
        case Isa::kGeneric: break;
    }
#endif
    double flops = 4.0 * static_cast<double>(J.B * J.Hq) * static_cast<double>(J.Sq) * static_cast<double>(J.Sk) *
                   static_cast<double>(J.D);
    if (J.d->causal) flops *= 0.5;
    // One worker per thread (parallel_for runs small jobs inline: then one worker does it all).
    const int64_t workers = flops < kMinParallelWork ? 1 : std::min<int64_t>(cpu_threads(), J.items);
    parallel_for(workers, flops, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) fn(J);
    });
}

template <int DT>
int run_dtype(Job& J, std::string& msg) {
    const aph_kt& m = J.d->mask;
    if (m.data == nullptr) {
        run<DT, -1>(J);
    } else if (m.dtype == 0) {
        run<DT, 0>(J);
    } else if (m.dtype == DT) {
        if constexpr (DT != 0) run<DT, DT>(J);
    } else {
        msg = "cpu_attention: mask dtype " + std::to_string(m.dtype) + " with inputs of dtype " + std::to_string(DT);
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    return 0;
}

}  // namespace

int cpu_attention(const aph_k_attention& d, std::string& msg) {
    Job J{};
    J.d = &d;
    J.B = d.q.shape[0];
    J.Sq = d.q.shape[1];
    J.Hq = d.q.shape[2];
    J.D = d.q.shape[3];
    J.Sk = d.k.shape[1];
    J.group = J.Hq / d.k.shape[2];
    const int64_t nr = vector_bytes() / 2;  // NR<VB> of the instruction set run() will pick
    J.Dp = (J.D + nr - 1) / nr * nr;
    J.scale_log2 = d.scale * LOG2E;
    if (J.B * J.Hq * J.Sq * J.D == 0) return 0;
    // 128-row items for heads of up to 64 dimensions, else 64; halved (down to 32) while that
    // leaves fewer than two items per thread.
    const int64_t bh = J.B * J.Hq, threads = cpu_threads();
    J.bq = J.D <= 64 ? BQ : BQ / 2;
    while (J.bq > 32 && bh * ((J.Sq + J.bq - 1) / J.bq) < 2 * threads) J.bq /= 2;
    J.nqb = (J.Sq + J.bq - 1) / J.bq;
    J.items = bh * J.nqb;
    std::atomic<int64_t> next{0};
    J.next = &next;
    switch (d.q.dtype) {
        case 0: return run_dtype<0>(J, msg);
        case 1: return run_dtype<1>(J, msg);
        case 2: return run_dtype<2>(J, msg);
        case 3: return run_dtype<3>(J, msg);
        default: msg = "cpu_attention: dtype " + std::to_string(d.q.dtype); return APH_K_STATUS_NOT_IMPLEMENTED;
    }
}

}  // namespace aph::kernels
