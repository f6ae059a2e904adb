// Scaled dot-product attention, forward, on CUDA: FlashAttention-2. One CTA per (query tile,
// query head, batch); the CTA streams its head's keys and values through shared memory in tiles
// and keeps an online softmax, so the [Sq, Sk] scores never exist.
//
// Two kernels:
// - attn_mma: f16/bf16 with head_dim 64 or 128 on sm_80+ (the fast path). Tensor cores through
//   mma.sync.m16n8k16 (f32 accumulators) with ldmatrix fragment loads; K/V tiles double
//   buffered with cp.async; softmax statistics and the output accumulator in registers.
// - attn_generic: f32 inputs, any other head_dim <= APH_K_ATTENTION_MAX_HEAD_DIM, and f16/bf16 before sm_80. Scalar FMA
//   in f32, one warp per 8 query rows.
//
// Both use exp2 with scale·log2(e) folded into the scores (the mask is multiplied by log2(e)),
// skip key tiles entirely above the causal diagonal (key j is visible to query i when
// j <= i + Sk - Sq) and mask inside the tiles that cross it, map query head h to key/value head
// h / (Hq / Hkv), and write a row whose keys are all masked as zeros. Query tiles are scheduled
// last first (blockIdx.x 0 takes the last tile): under causal masking those see the most keys.
#include "kernels.cuh"

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace aph::cuk {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kThreads = 128;  // 4 warps per CTA in both kernels

// What the kernels read: element pointers and strides (elements) of [batch, seq, head] for q,
// k, v and out (head_dim is contiguous), the mask's broadcast strides over [B, Hq, Sq, Sk].
struct AttnParams {
    const void* q;
    const void* k;
    const void* v;
    const void* mask;  // nullptr: none
    void* out;
    int64_t qs[3], ks[3], vs[3], os[3];
    int64_t ms[4];
    int64_t Sq, Sk;
    int64_t b_base;  // first batch of this launch (grid.z covers at most 65535)
    int group;       // Hq / Hkv
    int D;
    int causal;
    int mask_f32;      // mask dtype: f32 (1) or the inputs' (0)
    float scale_log2;  // scale·log2(e)
};

__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

template <class T>
__device__ __forceinline__ float mask_value(const AttnParams& p, int64_t off) {
    return p.mask_f32 ? static_cast<const float*>(p.mask)[off] : ld(static_cast<const T*>(p.mask) + off);
}

template <class T>
__device__ __forceinline__ T zero_elem();
template <>
__device__ __forceinline__ __half zero_elem<__half>() {
    return __ushort_as_half(0);
}
template <>
__device__ __forceinline__ __nv_bfloat16 zero_elem<__nv_bfloat16>() {
    return __ushort_as_bfloat16(0);
}

// ---- the tensor-core kernel ----------------------------------------------------------------

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; zero-filled (nothing read) when !valid.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem),
                 "r"(valid ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Four 8x8 b16 matrices from shared memory; lane l supplies the address of row l % 8 of matrix
// l / 8, and r[i] receives matrix i: lane t holds row t / 4, columns 2(t % 4) and 2(t % 4) + 1
// (with .trans: column t / 4, rows 2(t % 4) and 2(t % 4) + 1), the lower column in the low half.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(smem)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(smem)));
}

// c[16x8] += a[16x16] · b[16x8] on one warp, f32 accumulators. Fragments (g = lane / 4,
// t = lane % 4; pairs are packed low element first):
//   a[0]: (row g,     k 2t..2t+1)   a[1]: (row g + 8, k 2t..2t+1)
//   a[2]: (row g,     k 2t+8..+9)   a[3]: (row g + 8, k 2t+8..+9)
//   b0:   (k 2t..2t+1, col g)       b1:   (k 2t+8..+9, col g)
//   c[0], c[1]: (row g, cols 2t, 2t+1)   c[2], c[3]: (row g + 8, cols 2t, 2t+1)
template <class T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                        uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to T and packed, lo in the low half.
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}

// Shapes of the tensor-core kernel.
constexpr int kMmaBr = 64;  // query rows per CTA: warp w owns rows [16w, 16w + 16)
constexpr int kMmaBc = 64;  // keys per tile
template <int D>
__host__ __device__ constexpr int mma_pitch() {
    return D + 8;  // shared row pitch in elements: +16 bytes, so ldmatrix's 8 rows hit 8 bank groups
}
template <int D>
constexpr size_t mma_smem_bytes() {
    return static_cast<size_t>(kMmaBr + 4 * kMmaBc) * mma_pitch<D>() * 2;  // Q + 2 K + 2 V
}

// Rows [row0, row0 + 64) of a [rows, D] matrix (row stride `stride`, rows >= nrows read as
// zeros) into shared [64][D + 8]. AL: every row starts 16-byte aligned: cp.async in 16-byte
// chunks (completion through cp_async_wait); else plain loads (visible after __syncthreads).
template <class T, int D, bool AL>
__device__ __forceinline__ void load_rows64(T* s, const T* g, int64_t stride, int64_t row0, int64_t nrows) {
    constexpr int CH = D / 8;  // 16-byte chunks per row
    for (int c = threadIdx.x; c < 64 * CH; c += kThreads) {
        const int r = c / CH, col = (c % CH) * 8;
        const int64_t row = row0 + r;
        const bool valid = row < nrows;
        T* dst = s + r * mma_pitch<D>() + col;
        if constexpr (AL) {
            cp_async16(dst, g + (valid ? row : row0) * stride + col, valid);
        } else {
            const T* src = g + row * stride + col;
#pragma unroll
            for (int e = 0; e < 8; ++e) dst[e] = valid ? src[e] : zero_elem<T>();
        }
    }
}

// out[row, col], out[row, col + 1] (col even).
template <class T, bool AL>
__device__ __forceinline__ void store_pair(T* p, float a, float b) {
    if constexpr (AL) {
        const uint32_t u = pack2<T>(a, b);
        *reinterpret_cast<uint32_t*>(p) = u;
    } else {
        st(p, a);
        st(p + 1, b);
    }
}

// grid (ceil(Sq / 64), Hq, batches), 128 threads. Per CTA, in shared memory (pitch D + 8):
//   sQ [64][D]          the query tile (rows >= Sq zero)
//   sK [2][64][D]       key tiles, double buffered (rows >= Sk zero)
//   sV [2][64][D]       value tiles, likewise
// Per warp w (query rows [16w, 16w + 16) of the tile), in registers, with g = lane / 4 and
// t = lane % 4 (each thread owns rows g and g + 8 of the warp's 16):
//   qf [D/16][4]        Q as mma A fragments (k = head_dim)
//   s  [8][4]           S = Q·Kᵀ for the tile's 64 keys: s[j] is the C fragment of keys
//                       [8j, 8j + 8): s[j][0..1] row g, keys 8j + 2t + {0, 1}; s[j][2..3] row g + 8
//   o  [D/8][4]         the output accumulator, C fragments of head_dim columns [8n, 8n + 8)
//   m[2], l[2]          running maximum (log2 units; the quad of 4 threads of a row agree) and
//                       this thread's part of the running sum, for rows g and g + 8
// P = exp2(S - m) becomes A fragments for P·V without leaving registers (the C layout of two
// adjacent n8 tiles is the A layout of one k16 step).
template <class T, int D, bool AL>
__global__ void __launch_bounds__(kThreads) attn_mma(const AttnParams p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    constexpr int LD = mma_pitch<D>();
    constexpr int KD = D / 16;  // k16 steps of Q·Kᵀ over head_dim
    constexpr int ND = D / 8;   // n8 tiles of the output over head_dim
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* sQ = reinterpret_cast<T*>(smem_raw);
    T* sK = sQ + kMmaBr * LD;
    T* sV = sK + 2 * kMmaBc * LD;

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int64_t b = p.b_base + blockIdx.z;
    const int h = blockIdx.y, hk = h / p.group;
    const int64_t Sq = p.Sq, Sk = p.Sk;
    const int64_t q0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kMmaBr;
    const int64_t row0 = q0 + warp * 16 + g, row1 = row0 + 8;  // this thread's two rows
    T* og = static_cast<T*>(p.out) + b * p.os[0] + h * p.os[2];

    // Keys [0, kend): up to the causal limit of the tile's last row.
    int64_t kend = Sk;
    if (p.causal) kend = min64(Sk, min64(q0 + kMmaBr, Sq) + Sk - Sq);
    const int n_tiles = kend > 0 ? static_cast<int>((kend + kMmaBc - 1) / kMmaBc) : 0;
    if (n_tiles == 0) {  // no visible key for any row of the tile: zeros
#pragma unroll
        for (int n = 0; n < ND; ++n) {
            const int col = n * 8 + 2 * t;
            if (row0 < Sq) store_pair<T, AL>(og + row0 * p.os[1] + col, 0.0f, 0.0f);
            if (row1 < Sq) store_pair<T, AL>(og + row1 * p.os[1] + col, 0.0f, 0.0f);
        }
        return;
    }
    const T* qg = static_cast<const T*>(p.q) + b * p.qs[0] + h * p.qs[2];
    const T* kg = static_cast<const T*>(p.k) + b * p.ks[0] + hk * p.ks[2];
    const T* vg = static_cast<const T*>(p.v) + b * p.vs[0] + hk * p.vs[2];

    // Groups in flight: Q, then key/value tile 0.
    load_rows64<T, D, AL>(sQ, qg, p.qs[1], q0, Sq);
    cp_async_commit();
    load_rows64<T, D, AL>(sK, kg, p.ks[1], 0, Sk);
    load_rows64<T, D, AL>(sV, vg, p.vs[1], 0, Sk);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();

    // qf[kk]: rows [16w, 16w + 16) x head_dim [16kk, 16kk + 16). Lanes 0-15 address rows 0-15
    // at column 16kk, lanes 16-31 rows 0-15 at column 16kk + 8: matrices (rows 0-7, k 0-7),
    // (rows 8-15, k 0-7), (rows 0-7, k 8-15), (rows 8-15, k 8-15) = a[0..3].
    uint32_t qf[KD][4];
#pragma unroll
    for (int kk = 0; kk < KD; ++kk) {
        ldmatrix_x4(qf[kk], sQ + (warp * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8);
    }

    float o[ND][4];
#pragma unroll
    for (int n = 0; n < ND; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    const int64_t mbase = p.mask != nullptr ? b * p.ms[0] + h * p.ms[1] : 0;

    for (int kt = 0; kt < n_tiles; ++kt) {
        const int buf = kt & 1;
        // Prefetch tile kt + 1 into the other buffer (free: the loop's trailing barrier), then
        // wait for tile kt (all groups but the newest; an empty group keeps the count uniform).
        if (kt + 1 < n_tiles) {
            load_rows64<T, D, AL>(sK + (buf ^ 1) * kMmaBc * LD, kg, p.ks[1], static_cast<int64_t>(kt + 1) * kMmaBc, Sk);
            load_rows64<T, D, AL>(sV + (buf ^ 1) * kMmaBc * LD, vg, p.vs[1], static_cast<int64_t>(kt + 1) * kMmaBc, Sk);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        const T* sKb = sK + buf * kMmaBc * LD;  // [64 keys][D]
        const T* sVb = sV + buf * kMmaBc * LD;  // [64 keys][D]

        // S [16 rows][64 keys] = Q·Kᵀ. B fragments from K rows (keys) as stored: for keys
        // [16jp, 16jp + 16) and head_dim [16kk, 16kk + 16), lanes 0-7 address keys 0-7 at k 0,
        // lanes 8-15 keys 0-7 at k 8, lanes 16-23 keys 8-15 at k 0, lanes 24-31 keys 8-15 at
        // k 8: kb[0], kb[1] = (b0, b1) of keys [16jp, +8), kb[2], kb[3] of keys [16jp + 8, +8).
        float s[8][4];
#pragma unroll
        for (int j = 0; j < 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KD; ++kk) {
#pragma unroll
            for (int jp = 0; jp < 4; ++jp) {
                uint32_t kb[4];
                ldmatrix_x4(kb,
                            sKb + (jp * 16 + (lane & 7) + ((lane >> 4) << 3)) * LD + kk * 16 + ((lane >> 3) & 1) * 8);
                mma16816<T>(s[2 * jp], qf[kk], kb[0], kb[1]);
                mma16816<T>(s[2 * jp + 1], qf[kk], kb[2], kb[3]);
            }
        }

        // Scores in log2 units; mask keys past Sk, above the causal diagonal and by the mask
        // (only tiles that need it: a uniform branch).
        const int64_t k0 = static_cast<int64_t>(kt) * kMmaBc;
        const bool edge = p.mask != nullptr || k0 + kMmaBc > Sk || (p.causal && k0 + kMmaBc - 1 > q0 + Sk - Sq);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                float x = s[j][e] * p.scale_log2;
                if (edge) {
                    const int64_t key = k0 + 8 * j + 2 * t + (e & 1);
                    const int64_t row = e < 2 ? row0 : row1;
                    if (key >= Sk || (p.causal && key > row + Sk - Sq)) {
                        x = -INFINITY;
                    } else if (p.mask != nullptr && row < Sq) {
                        x += mask_value<T>(p, mbase + row * p.ms[2] + key * p.ms[3]) * kLog2e;
                    }
                }
                s[j][e] = x;
            }
        }

        // Online softmax per row: the new maximum over the quad (the 4 threads of a row),
        // alpha = exp2(m_old - m_new) rescales l and O; a row with nothing visible yet keeps
        // m = -inf and uses 0 as its maximum (exp2(-inf - 0) = 0, never -inf - -inf).
        float mx[2] = {m[0], m[1]};
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            mx[0] = fmaxf(mx[0], fmaxf(s[j][0], s[j][1]));
            mx[1] = fmaxf(mx[1], fmaxf(s[j][2], s[j][3]));
        }
        float mu[2], alpha[2], ls[2] = {0.0f, 0.0f};
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            mu[i] = mx[i] == -INFINITY ? 0.0f : mx[i];
            alpha[i] = exp2f(m[i] - mu[i]);
            m[i] = mx[i];
        }
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            s[j][0] = exp2f(s[j][0] - mu[0]);
            s[j][1] = exp2f(s[j][1] - mu[0]);
            s[j][2] = exp2f(s[j][2] - mu[1]);
            s[j][3] = exp2f(s[j][3] - mu[1]);
            ls[0] += s[j][0] + s[j][1];
            ls[1] += s[j][2] + s[j][3];
        }
        l[0] = l[0] * alpha[0] + ls[0];
        l[1] = l[1] * alpha[1] + ls[1];
#pragma unroll
        for (int n = 0; n < ND; ++n) {
            o[n][0] *= alpha[0];
            o[n][1] *= alpha[0];
            o[n][2] *= alpha[1];
            o[n][3] *= alpha[1];
        }

        // O [16 rows][D] += P [16 rows][64 keys] · V [64 keys][D]. k16 step kk covers keys
        // [16kk, 16kk + 16): A = P of n8 tiles 2kk (a[0], a[1]) and 2kk + 1 (a[2], a[3]). B
        // fragments from V rows (keys) transposed: for keys [16kk, +16) and head_dim
        // [16dp, 16dp + 16), lanes 0-15 address keys 0-15 at column 16dp, lanes 16-31 keys 0-15
        // at column 16dp + 8: vb[0], vb[1] = (b0, b1) of columns [16dp, +8), vb[2], vb[3] of
        // [16dp + 8, +8).
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
            const uint32_t pa[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                                    pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                    pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int dp = 0; dp < D / 16; ++dp) {
                uint32_t vb[4];
                ldmatrix_x4_trans(vb, sVb + (kk * 16 + (lane & 15)) * LD + dp * 16 + (lane >> 4) * 8);
                mma16816<T>(o[2 * dp], pa, vb[0], vb[1]);
                mma16816<T>(o[2 * dp + 1], pa, vb[2], vb[3]);
            }
        }
        __syncthreads();  // every warp is done with buffer buf before iteration kt + 1 refills it
    }

    // out = O / l, the row's sum over its quad; l == 0 (every key masked): zeros.
    float inv[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
        inv[i] = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
    }
#pragma unroll
    for (int n = 0; n < ND; ++n) {
        const int col = n * 8 + 2 * t;
        if (row0 < Sq) store_pair<T, AL>(og + row0 * p.os[1] + col, o[n][0] * inv[0], o[n][1] * inv[0]);
        if (row1 < Sq) store_pair<T, AL>(og + row1 * p.os[1] + col, o[n][2] * inv[1], o[n][3] * inv[1]);
    }
#else
    (void)p;  // never launched below sm_80 (the launcher checks the device)
#endif
}

// ---- the generic kernel --------------------------------------------------------------------

constexpr int kGenBr = 32;  // query rows per CTA: warp w owns rows [8w, 8w + 8)
constexpr int kGenBc = 32;  // keys per tile: lane j scores key j
constexpr int kGenRw = 8;   // rows per warp

// Shared memory (f32), with QP = head_dim rounded up to 4:
//   sQ  [32][QP]        the query tile times scale·log2(e) (rows >= Sq and columns >= D zero)
//   sKt [QP][33]        the key tile transposed (pitch 33: the transposing stores and the
//                       lane-per-key reads are both free of bank conflicts)
//   sV  [32][D]         the value tile (rows >= Sk zero), in sKt's space once the scores are done
//                       (separate K and V tiles took 101 KiB at D = 256, over the 99 KiB a block
//                       may have on sm_86/sm_89)
//   sP  [32][32]        the probabilities of the tile, row by row
inline size_t generic_kv_floats(int D) {
    const size_t qp = static_cast<size_t>((D + 3) & ~3), kt = qp * (kGenBc + 1), v = static_cast<size_t>(kGenBc) * D;
    return kt > v ? kt : v;
}
inline size_t generic_smem_bytes(int D) {
    const size_t qp = static_cast<size_t>((D + 3) & ~3);
    return (kGenBr * qp + generic_kv_floats(D) + kGenBr * kGenBc) * sizeof(float);
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

// grid (ceil(Sq / 32), Hq, batches), 128 threads. Warp w owns query rows [8w, 8w + 8) of the
// tile. Per key tile, lane j computes the scores of key j for the warp's 8 rows (s[8]); the
// softmax statistics m[8] (log2 units) are uniform over the warp, l[8] holds this lane's part
// of the sums; lane j owns output columns j + 32c (c < NC, D <= 32·NC) of the 8 rows: o[8][NC].
template <class T, int NC>
__global__ void __launch_bounds__(kThreads) attn_generic(const AttnParams p) {
    const int D = p.D, QP = (D + 3) & ~3, KP = kGenBc + 1;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    float* sQ = reinterpret_cast<float*>(smem_raw);
    float* sKt = sQ + kGenBr * QP;
    float* sV = sKt;  // the same space: K for the scores, then V for P·V
    float* sP = sKt + (QP * KP > kGenBc * D ? QP * KP : kGenBc * D);

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t b = p.b_base + blockIdx.z;
    const int h = blockIdx.y, hk = h / p.group;
    const int64_t Sq = p.Sq, Sk = p.Sk;
    const int64_t q0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kGenBr;
    const int64_t wrow = q0 + warp * kGenRw;  // the warp's first row
    T* og = static_cast<T*>(p.out) + b * p.os[0] + h * p.os[2];

    int64_t kend = Sk;
    if (p.causal) kend = min64(Sk, min64(q0 + kGenBr, Sq) + Sk - Sq);
    const int n_tiles = kend > 0 ? static_cast<int>((kend + kGenBc - 1) / kGenBc) : 0;

    float o[kGenRw][NC], m[kGenRw], l[kGenRw];
#pragma unroll
    for (int r = 0; r < kGenRw; ++r) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < NC; ++c) o[r][c] = 0.0f;
    }

    if (n_tiles > 0) {
        const T* qg = static_cast<const T*>(p.q) + b * p.qs[0] + h * p.qs[2];
        const T* kg = static_cast<const T*>(p.k) + b * p.ks[0] + hk * p.ks[2];
        const T* vg = static_cast<const T*>(p.v) + b * p.vs[0] + hk * p.vs[2];
        for (int i = threadIdx.x; i < kGenBr * QP; i += kThreads) {
            const int r = i / QP, e = i % QP;
            const int64_t row = q0 + r;
            sQ[i] = row < Sq && e < D ? ld(qg + row * p.qs[1] + e) * p.scale_log2 : 0.0f;
        }
        const int64_t mbase = p.mask != nullptr ? b * p.ms[0] + h * p.ms[1] : 0;

        for (int kt = 0; kt < n_tiles; ++kt) {
            const int64_t k0 = static_cast<int64_t>(kt) * kGenBc;
            __syncthreads();  // the previous tile is consumed (and sQ is written, at kt = 0)
            for (int i = threadIdx.x; i < kGenBc * QP; i += kThreads) {
                const int j = i / QP, e = i % QP;  // consecutive threads: consecutive columns
                const int64_t key = k0 + j;
                const bool valid = key < Sk && e < D;
                sKt[e * KP + j] = valid ? ld(kg + key * p.ks[1] + e) : 0.0f;
            }
            __syncthreads();

            // s[r] = q[row r] · k[key lane], four columns at a time (sQ rows are 16-byte aligned:
            // QP is a multiple of 4; the float4 reads are broadcasts).
            float s[kGenRw];
#pragma unroll
            for (int r = 0; r < kGenRw; ++r) s[r] = 0.0f;
            const float* qw = sQ + warp * kGenRw * QP;
            for (int e = 0; e < QP; e += 4) {
                const float k0v = sKt[e * KP + lane], k1v = sKt[(e + 1) * KP + lane];
                const float k2v = sKt[(e + 2) * KP + lane], k3v = sKt[(e + 3) * KP + lane];
#pragma unroll
                for (int r = 0; r < kGenRw; ++r) {
                    const float4 qv = *reinterpret_cast<const float4*>(qw + r * QP + e);
                    s[r] += qv.x * k0v + qv.y * k1v + qv.z * k2v + qv.w * k3v;
                }
            }
            __syncthreads();  // every warp has its scores: V replaces K
            for (int i = threadIdx.x; i < kGenBc * D; i += kThreads) {
                const int j = i / D, e = i % D;
                const int64_t key = k0 + j;
                sV[i] = key < Sk ? ld(vg + key * p.vs[1] + e) : 0.0f;
            }
            __syncthreads();

            const int64_t key = k0 + lane;
#pragma unroll
            for (int r = 0; r < kGenRw; ++r) {
                const int64_t row = wrow + r;
                float x = s[r];
                if (key >= Sk || (p.causal && key > row + Sk - Sq)) {
                    x = -INFINITY;
                } else if (p.mask != nullptr && row < Sq) {
                    x += mask_value<T>(p, mbase + row * p.ms[2] + key * p.ms[3]) * kLog2e;
                }
                const float mx = fmaxf(m[r], warp_max(x));
                const float mu = mx == -INFINITY ? 0.0f : mx;  // nothing visible yet: exp2(-inf - 0) = 0
                const float alpha = exp2f(m[r] - mu);
                const float pr = exp2f(x - mu);
                m[r] = mx;
                l[r] = l[r] * alpha + pr;
#pragma unroll
                for (int c = 0; c < NC; ++c) o[r][c] *= alpha;
                sP[(warp * kGenRw + r) * kGenBc + lane] = pr;
            }
            __syncwarp();

            // o[r][c] += Σ_j P[r][j] · V[j][lane + 32c] over the tile's keys below kend (the
            // others have P = 0), four keys at a time from sP (float4 broadcasts).
            const int jn = static_cast<int>(min64(kGenBc, kend - k0));
            const float* pw = sP + warp * kGenRw * kGenBc;
            for (int j = 0; j < jn; j += 4) {
                float vv[4][NC];
#pragma unroll
                for (int u = 0; u < 4; ++u) {
#pragma unroll
                    for (int c = 0; c < NC; ++c) {
                        const int e = lane + 32 * c;
                        vv[u][c] = e < D ? sV[(j + u) * D + e] : 0.0f;  // rows up to 31: in the tile
                    }
                }
#pragma unroll
                for (int r = 0; r < kGenRw; ++r) {
                    const float4 pv = *reinterpret_cast<const float4*>(pw + r * kGenBc + j);
#pragma unroll
                    for (int c = 0; c < NC; ++c)
                        o[r][c] += pv.x * vv[0][c] + pv.y * vv[1][c] + pv.z * vv[2][c] + pv.w * vv[3][c];
                }
            }
        }
    }

#pragma unroll
    for (int r = 0; r < kGenRw; ++r) {
        const float lr = warp_sum(l[r]);
        const float inv = lr > 0.0f ? 1.0f / lr : 0.0f;
        const int64_t row = wrow + r;
        if (row >= Sq) continue;
#pragma unroll
        for (int c = 0; c < NC; ++c) {
            const int e = lane + 32 * c;
            if (e < D) st(og + row * p.os[1] + e, o[r][c] * inv);
        }
    }
}

// ---- launcher -------------------------------------------------------------------------------

// Launches kernel over grid (gx, Hq, batches), in slices of at most 65535 batches (grid.z).
int launch_grid(void (*kernel)(AttnParams), const char* name, AttnParams p, int64_t batches, unsigned gx, unsigned hq,
                size_t smem, cudaStream_t s, char* msg, size_t len) {
    if (smem > 48 * 1024) {
        const int rc = check(
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)),
            "cudaFuncSetAttribute(attention, max dynamic shared memory)", msg, len);
        if (rc != 0) return rc;
    }
    for (int64_t b0 = 0; b0 < batches; b0 += 65535) {
        p.b_base = b0;
        const dim3 grid(gx, hq, static_cast<unsigned>(batches - b0 < 65535 ? batches - b0 : 65535));
        kernel<<<grid, kThreads, smem, s>>>(p);
        const int rc = check_launch(name, msg, len);
        if (rc != 0) return rc;
    }
    return 0;
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

// Rows of t start 16-byte aligned (2-byte elements): data aligned and the strides of batch,
// seq and head multiples of 8 elements (sizes 1 ignore their stride).
bool rows_aligned(const aph_kt& t) {
    if (!aligned16(t.data)) return false;
    for (int i = 0; i < 3; ++i) {
        if (t.shape[i] > 1 && t.strides[i] % 8 != 0) return false;
    }
    return true;
}

template <class T>
int launch_attention(const aph_k_attention& d, AttnParams p, int64_t B, int64_t Hq, cudaStream_t s, char* msg,
                     size_t len) {
    const int D = p.D;
    const unsigned hq = static_cast<unsigned>(Hq);
    if constexpr (!std::is_same_v<T, float>) {
        int dev = 0, major = 0;
        int rc = check(cudaGetDevice(&dev), "cudaGetDevice", msg, len);
        if (rc == 0)
            rc = check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev),
                       "cudaDeviceGetAttribute(compute capability)", msg, len);
        if (rc != 0) return rc;
        if (major >= 8 && (D == 64 || D == 128)) {
            const unsigned gx = static_cast<unsigned>((p.Sq + kMmaBr - 1) / kMmaBr);
            const bool al = rows_aligned(d.q) && rows_aligned(d.k) && rows_aligned(d.v) && rows_aligned(d.out);
            void (*kernel)(AttnParams) = nullptr;
            if (D == 64) kernel = al ? attn_mma<T, 64, true> : attn_mma<T, 64, false>;
            else
                kernel = al ? attn_mma<T, 128, true> : attn_mma<T, 128, false>;
            // Its body exists only in code compiled for sm_80+: a build for older architectures
            // alone runs JIT-compiled PTX with an empty body here, so it takes the generic kernel.
            cudaFuncAttributes fa{};
            rc = check(cudaFuncGetAttributes(&fa, kernel), "cudaFuncGetAttributes(attention)", msg, len);
            if (rc != 0) return rc;
            if (fa.ptxVersion >= 80) {
                const size_t smem = D == 64 ? mma_smem_bytes<64>() : mma_smem_bytes<128>();
                return launch_grid(kernel, "attention kernel (tensor cores)", p, B, gx, hq, smem, s, msg, len);
            }
        }
    }
    const unsigned gx = static_cast<unsigned>((p.Sq + kGenBr - 1) / kGenBr);
    void (*kernel)(AttnParams) = D <= 32    ? attn_generic<T, 1>
                                 : D <= 64  ? attn_generic<T, 2>
                                 : D <= 128 ? attn_generic<T, 4>
                                            : attn_generic<T, 8>;
    return launch_grid(kernel, "attention kernel", p, B, gx, hq, generic_smem_bytes(D), s, msg, len);
}

}  // namespace

int attention(const aph_k_attention& d, cudaStream_t s, char* msg, size_t len) {
    const int64_t B = d.q.shape[0], Sq = d.q.shape[1], Hq = d.q.shape[2], D = d.q.shape[3];
    const int64_t Sk = d.k.shape[1], Hkv = d.k.shape[2];
    if (D < 1 || D > APH_K_ATTENTION_MAX_HEAD_DIM) {
        put(msg, len, "attention: head_dim %lld (1 to %d on CUDA)", static_cast<long long>(D),
            APH_K_ATTENTION_MAX_HEAD_DIM);
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    if (Hq > 65535 || (Sq + kGenBr - 1) / kGenBr > 0x7fffffff) {
        put(msg, len, "attention: %lld query heads and %lld queries exceed the CUDA grid", static_cast<long long>(Hq),
            static_cast<long long>(Sq));
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    AttnParams p{};
    p.q = d.q.data;
    p.k = d.k.data;
    p.v = d.v.data;
    p.mask = d.mask.data;
    p.out = d.out.data;
    for (int i = 0; i < 3; ++i) {
        p.qs[i] = d.q.strides[i];
        p.ks[i] = d.k.strides[i];
        p.vs[i] = d.v.strides[i];
        p.os[i] = d.out.strides[i];
    }
    if (p.mask != nullptr) {
        for (int i = 0; i < 4; ++i) p.ms[i] = d.mask.strides[i];
        p.mask_f32 = d.mask.dtype == 0 ? 1 : 0;
    }
    p.Sq = Sq;
    p.Sk = Sk;
    p.group = static_cast<int>(Hq / Hkv);
    p.D = static_cast<int>(D);
    p.causal = d.causal;
    p.scale_log2 = static_cast<float>(d.scale * 1.4426950408889634);
    return dispatch_float(d.q.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        return launch_attention<T>(d, p, B, Hq, s, msg, len);
    });
}

}  // namespace aph::cuk
