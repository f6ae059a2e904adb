// Scaled dot-product attention, forward, on the CPU: FlashAttention's tiling with an online
// softmax, so the [Sq, Sk] scores never exist; each worker holds O(BQ·D + BQ·BK) floats.
//
// Work items are (b, hq, query block of `bq` <= 64 rows), taken by one worker per thread from a
// shared counter: head by head (a head's keys and values stay in cache between its query
// blocks), each head's blocks last first (under causal masking they see the most keys). Per
// item, in the accumulator type A (f32; f64 for f64 inputs):
//
//   Qs [bq][D]       the query rows, times scale·log2(e) (so the softmax runs on exp2)
//   m [bq], l [bq]   running row maximum (log2 units) and the running sum of exp2(s - m)
//   O [bq][Dp]       unnormalised output rows (Dp = D rounded up to NR; the pad stays 0)
//   for each key block [k0, k0 + nk), nk <= BK, up to the causal diagonal of the block's last row:
//     Kt [D][BK]     the block's keys, transposed (keys innermost: S's micro-kernel runs along keys)
//     Vb [BK][Dp]    the block's values (f32/f64 rows with D a multiple of NR: read in place)
//     S  [bq][BK]    = Qs · Kt (+ mask·log2(e)); masked keys are left out of the row's count
//     per row: m' = max(m, max S), P = exp2(S - m'), l = l·exp2(m - m') + ΣP, O *= exp2(m - m')
//     O += P · Vb
//   out = O / l (a row with l == 0, all of its keys masked, is written as zeros).
//
// Both products run through one register-tiled micro-kernel (C[MR][NR] += A[MR][k]·B[k][NR],
// the vector direction along NR), compiled twice: for the baseline instruction set and, on x86-64
// processors that have them, for AVX2 with FMA (picked at run time).
#include "cpu.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define APH_ATTN_X86_DISPATCH 1
#endif

namespace aph::kernels {
namespace {

#define APH_AI inline __attribute__((always_inline))

constexpr int64_t BQ = 64;  // query rows per work item (at most)
constexpr int64_t BK = 64;  // keys per block
constexpr int64_t MR = 4;   // micro-tile rows
constexpr int64_t NR = 16;  // micro-tile columns (the vector direction)
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

// 32-byte vectors of A (8 floats or 4 doubles; two SSE registers on the baseline instruction
// set, one AVX register where AVX2 is enabled), loaded and stored at any element alignment.
template <class A>
struct VecOf;
template <>
struct VecOf<float> {
    typedef float type __attribute__((vector_size(32), aligned(4), may_alias));
    typedef uint32_t bits __attribute__((vector_size(32), aligned(4), may_alias));
};
template <>
struct VecOf<double> {
    typedef double type __attribute__((vector_size(32), aligned(8), may_alias));
};
template <class A>
using Vec = typename VecOf<A>::type;
template <class A>
constexpr int64_t LANES = static_cast<int64_t>(32 / sizeof(A));

// 2^x for the online softmax, whose arguments are never positive (s - max): exact 0 below -126
// (such terms are below 2^-126 of the row's largest one), NaN for NaN. Round-to-nearest range
// reduction x = n + f, |f| <= 1/2, and Cephes' degree-6 polynomial for 2^f (relative error about
// 2e-7). The vector version (exp2_vec) is the same arithmetic, lane by lane.
constexpr float kShifter = 12582912.0f;  // 1.5·2^23: x + kShifter holds round(x) in its low bits
constexpr float kP0 = 1.535336188319500e-4f;
// p (holding kP0) = the polynomial at f.
#define APH_EXP2_POLY(p, f)                  \
    p = p * (f) + 1.339887440266574e-3f;     \
    p = p * (f) + 9.618437357674640e-3f;     \
    p = p * (f) + 5.550332471162809e-2f;     \
    p = p * (f) + 2.402264791363012e-1f;     \
    p = p * (f) + 6.931472028550421e-1f;     \
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

// dst[0, 8) = exp2_nonpos(src[0, 8) - m).
APH_AI void exp2_vec(const float* src, float m, float* dst) {
    using V = VecOf<float>::type;
    using U = VecOf<float>::bits;
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
template <class A, bool ACC>
APH_AI void micro_kernel(const A* a, int64_t lda, const A* b, int64_t ldb, A* c, int64_t ldc, int64_t kdim) {
    using V = Vec<A>;
    constexpr int64_t L = LANES<A>, NV = NR / L;
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
template <class A, bool ACC>
APH_AI void gemm_tile(const A* a, int64_t lda, const A* b, int64_t ldb, A* c, int64_t ldc, int64_t rows,
                      int64_t cols, int64_t kdim) {
    for (int64_t r0 = 0; r0 < rows; r0 += MR) {
        for (int64_t c0 = 0; c0 < cols; c0 += NR) {
            micro_kernel<A, ACC>(a + r0 * lda, lda, b + c0, ldb, c + r0 * ldc + c0, ldc, kdim);
        }
    }
}

// The online-softmax step of one row: s[0, cnt) are the visible scores of this key block (log2
// units), s[cnt, nk) masked ones. Updates the row's maximum m, sum l and output o[0, Dp), and
// turns s[0, nk) into the probabilities P (0 for masked keys).
template <class A>
APH_AI void softmax_row(A* s, int64_t cnt, int64_t nk, A& m, A& l, A* o, int64_t Dp) {
    using V = Vec<A>;
    constexpr int64_t L = LANES<A>;
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
            exp2_vec(s + j, m_new, s + j);
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
    int64_t Dp;                       // D rounded up to NR
    int64_t bq, nqb, items;           // rows per item, query blocks per head, work items
    double scale_log2;                // scale·log2(e)
    std::atomic<int64_t>* next;       // the next work item to take
};

// A worker's tiles (see the top of the file), allocated once per worker.
template <class A>
struct Tiles {
    std::vector<A> q, kt, v, s, o, m, l;
    explicit Tiles(const Job& j)
        : q(static_cast<size_t>(BQ * j.D)), kt(static_cast<size_t>(j.D * BK)), v(static_cast<size_t>(BK * j.Dp)),
          s(static_cast<size_t>(BQ * BK)), o(static_cast<size_t>(BQ * j.Dp)), m(static_cast<size_t>(BQ)),
          l(static_cast<size_t>(BQ)) {}
};

template <int DT>
using AccOf = std::conditional_t<DT == 3, double, float>;

// One work item: rows [q0, q0 + nr) of head h in batch b. MDT: the mask's dtype code, -1 none.
template <int DT, int MDT>
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
    for (int64_t r = 0; r < nr4; ++r) {
        A* qs = w.q.data() + r * D;
        if (r < nr) {
            const S* row = qg + (q0 + r) * d.q.strides[1];
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
    const int64_t kend = d.causal ? std::min(Sk, q0 + nr + Sk - Sq) : Sk;
    // (k and v have no data when Sk == 0: no offset is applied to their null pointers.)
    const S* kg = kend > 0 ? static_cast<const S*>(d.k.data) + b * d.k.strides[0] + hk * d.k.strides[2] : nullptr;
    const S* vg = kend > 0 ? static_cast<const S*>(d.v.data) + b * d.v.strides[0] + hk * d.v.strides[2] : nullptr;
    const bool v_direct = std::is_same_v<S, A> && Dp == D;
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        const int64_t nk = std::min(BK, kend - k0), nk16 = (nk + NR - 1) / NR * NR;
        // Kt [D][BK]: column j holds key k0 + j. Vb [BK][Dp]: row j holds value k0 + j (its pad,
        // columns [D, Dp), stays 0 from the allocation). Stored rows serve as Vb directly when
        // they already are in A with no pad (v_direct).
        for (int64_t j = 0; j < nk; ++j) {
            const S* kr = kg + (k0 + j) * d.k.strides[1];
            for (int64_t e = 0; e < D; ++e) w.kt[e * BK + j] = static_cast<A>(Elem<DT>::get(kr[e]));
            if (!v_direct) {
                const S* vr = vg + (k0 + j) * d.v.strides[1];
                A* vb = w.v.data() + j * Dp;
                for (int64_t e = 0; e < D; ++e) vb[e] = static_cast<A>(Elem<DT>::get(vr[e]));
            }
        }
        for (int64_t j = nk; j < nk16; ++j) {
            for (int64_t e = 0; e < D; ++e) w.kt[e * BK + j] = A(0);
        }

        // S [nr4][nk16] = Qs · Kt.
        gemm_tile<A, false>(w.q.data(), D, w.kt.data(), BK, w.s.data(), BK, nr4, nk16, D);

        // The online softmax, row by row; S becomes P (masked and padding keys 0).
        for (int64_t r = 0; r < nr; ++r) {
            const int64_t i = q0 + r;
            A* s = w.s.data() + r * BK;
            const int64_t cnt = d.causal ? std::clamp<int64_t>(i + Sk - Sq - k0 + 1, 0, nk) : nk;
            if constexpr (MDT >= 0) {
                using MS = typename Elem<MDT>::S;
                const MS* mrow = static_cast<const MS*>(d.mask.data) + b * d.mask.strides[0] +
                                 h * d.mask.strides[1] + i * d.mask.strides[2] + k0 * d.mask.strides[3];
                const int64_t ms = d.mask.strides[3];
                const A log2e = static_cast<A>(LOG2E);
                for (int64_t j = 0; j < cnt; ++j) s[j] += static_cast<A>(Elem<MDT>::get(mrow[j * ms])) * log2e;
            }
            softmax_row(s, cnt, nk, w.m[r], w.l[r], w.o.data() + r * Dp, Dp);
        }

        // O [nr4][Dp] += P [nr4][nk] · Vb [nk][Dp]. (Rows [nr, nr4) of P are 0: zero queries.)
        if constexpr (std::is_same_v<S, A>) {
            if (v_direct) {
                gemm_tile<A, true>(w.s.data(), BK, vg + k0 * d.v.strides[1], d.v.strides[1], w.o.data(), Dp, nr4,
                                   Dp, nk);
                continue;
            }
        }
        gemm_tile<A, true>(w.s.data(), BK, w.v.data(), Dp, w.o.data(), Dp, nr4, Dp, nk);
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
template <int DT, int MDT>
APH_AI void work(const Job& J) {
    Tiles<AccOf<DT>> tiles(J);
    for (;;) {
        const int64_t it = J.next->fetch_add(1, std::memory_order_relaxed);
        if (it >= J.items) break;
        // Head by head (its keys and values stay in cache from one query block to the next),
        // each head's query blocks in decreasing order (the costliest first under causal masking).
        const int64_t rest = it / J.nqb, qb = J.nqb - 1 - it % J.nqb;
        const int64_t q0 = qb * J.bq;
        run_item<DT, MDT>(J, tiles, rest / J.Hq, rest % J.Hq, q0, std::min(J.bq, J.Sq - q0));
    }
}

template <int DT, int MDT>
void work_baseline(const Job& J) {
    work<DT, MDT>(J);
}

#ifdef APH_ATTN_X86_DISPATCH
template <int DT, int MDT>
__attribute__((target("avx2,fma"))) void work_avx2(const Job& J) {
    work<DT, MDT>(J);
}

bool have_avx2_fma() {
    static const bool yes = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return yes;
}
#endif

template <int DT, int MDT>
void run(const Job& J) {
    void (*fn)(const Job&) = work_baseline<DT, MDT>;
#ifdef APH_ATTN_X86_DISPATCH
    if (have_avx2_fma()) fn = work_avx2<DT, MDT>;
#endif
    double flops = 4.0 * static_cast<double>(J.B * J.Hq) * static_cast<double>(J.Sq) * static_cast<double>(J.Sk) *
                   static_cast<double>(J.D);
    if (J.d->causal) flops *= 0.5;
    // One worker per thread (parallel_for runs small jobs inline: then one worker does it all).
    const int64_t workers = flops < 262144.0 ? 1 : std::min<int64_t>(cpu_threads(), J.items);
    parallel_for(workers, flops, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) fn(J);
    });
}

template <int DT>
int run_dtype(const Job& J, std::string& msg) {
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
    J.Dp = (J.D + NR - 1) / NR * NR;
    J.scale_log2 = d.scale * LOG2E;
    if (J.B * J.Hq * J.Sq * J.D == 0) return 0;
    // 64-row items, or 32 when that leaves too few items to keep every worker busy.
    const int64_t bh = J.B * J.Hq;
    J.bq = bh * ((J.Sq + BQ - 1) / BQ) >= 2 * static_cast<int64_t>(cpu_threads()) ? BQ : BQ / 2;
    J.nqb = (J.Sq + J.bq - 1) / J.bq;
    J.items = bh * J.nqb;
    std::atomic<int64_t> next{0};
    J.next = &next;
    switch (d.q.dtype) {
        case 0: return run_dtype<0>(J, msg);
        case 1: return run_dtype<1>(J, msg);
        case 2: return run_dtype<2>(J, msg);
        case 3: return run_dtype<3>(J, msg);
        default:
            msg = "cpu_attention: dtype " + std::to_string(d.q.dtype);
            return APH_K_STATUS_NOT_IMPLEMENTED;
    }
}

}  // namespace aph::kernels
