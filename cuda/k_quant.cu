// CUDA kernels of the quantization family: int8 (per tensor / per channel), fp8 e4m3/e5m2, NF4,
// BitNet ternary, their inverses, and the ternary matrix product over packed weights.
//
// The numerics are the CPU kernels' (runtime/kernels/cpu_quant.cpp), operation for operation, so
// both devices make the same codes: scales from the finite elements only, f32 divisions rounded
// to nearest (__fdiv_rn: the same result with or without fast-math flags), round half to even
// (rintf), fp8 through numeric.hpp's f32_to_fp8. The one difference: the ternary scale's sum is
// accumulated in f32 by per-block partial sums and atomicAdd (order unspecified), where the CPU
// sums in f64, so that scale may differ in its last bits (and a code whose w / s sits at ±0.5
// within that difference may differ).
//
// Per-tensor scales need a grid-wide reduction before any code can be made: pass 1 reduces into
// the scale tensor itself (used as scratch: the bits of the finite absmax via atomicMax, which
// orders non-negative floats as unsigned integers, or the f32 sum via atomicAdd), a one-thread
// (per scale) kernel turns that into the scale, and pass 2 reads the scale on the device. The
// three launches are ordered by the stream; nothing is allocated and nothing waits on the host.
#include "kernels.cuh"

#include "../runtime/kernels/numeric.hpp"

#include <cfloat>

namespace aph::cuk {
namespace {

// aph_quant_scheme values (the module does not see the public header).
enum : int32_t { kInt8 = 0, kFp8E4m3 = 1, kFp8E5m2 = 2, kNf4Scheme = 3, kTernary = 4 };

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

int64_t numel_of(const aph_kt& t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t.ndim; ++i) n *= t.shape[i];
    return n;
}

// |v| when finite, else 0: what an element contributes to a scale.
__device__ __forceinline__ float finite_abs(float v) {
    const float a = fabsf(v);
    return a <= FLT_MAX ? a : 0.0f;
}

__device__ __forceinline__ unsigned warp_max(unsigned v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Block-wide max of unsigned values (every thread calls it; the result is valid in thread 0).
__device__ unsigned block_max(unsigned v) {
    __shared__ unsigned part[32];
    v = warp_max(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0u;
    if (warp == 0) v = warp_max(v);
    __syncthreads();  // part may be reused by the caller's next call
    return v;
}

// x / s, or x when s is 0 (an all-zero group), as on the CPU.
__device__ __forceinline__ float scaled(float x, float s) { return s > 0.0f ? __fdiv_rn(x, s) : x; }

// ---- pass 1: reductions into the scale tensor -------------------------------------------------

// Per tensor: bits[0] = max over all n elements of finite |x| (as f32 bits). Grid-stride over x;
// one atomicMax per block.
template <class T>
__global__ void __launch_bounds__(kThreads)
    absmax_all_kernel(const T* __restrict__ x, int64_t n, unsigned* __restrict__ bits) {
    unsigned m = 0;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        m = max(m, __float_as_uint(finite_abs(ld(x + i))));
    }
    m = block_max(m);
    if (threadIdx.x == 0 && m != 0) atomicMax(bits, m);
}

// Per channel, for inner >= 32 (each channel's slices are runs of >= 32 contiguous elements):
// x is [outer, C, inner]; block (c, y) reduces channel c = blockIdx.x over the flat index
// t = o · inner + i of its slices, t = y · 256 + tid, step gridDim.y · 256 (consecutive threads
// read consecutive i: coalesced), then one atomicMax into bits[c].
template <class T>
__global__ void __launch_bounds__(kThreads) absmax_rows_kernel(const T* __restrict__ x, int64_t outer, int64_t channels,
                                                               int64_t inner, unsigned* __restrict__ bits) {
    const int64_t c = blockIdx.x;
    const int64_t per = outer * inner;
    unsigned m = 0;
    for (int64_t t = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < per;
         t += static_cast<int64_t>(gridDim.y) * blockDim.x) {
        const int64_t o = t / inner, i = t - o * inner;
        m = max(m, __float_as_uint(finite_abs(ld(x + (o * channels + c) * inner + i))));
    }
    m = block_max(m);
    if (threadIdx.x == 0 && m != 0) atomicMax(bits + c, m);
}

// Per channel, for inner < 32: x as a matrix [outer, W] with W = C · inner; column w belongs to
// channel w / inner. Block 32 × 8: threadIdx.x picks the column (blockIdx.x · 32 + tx: a warp
// reads 32 consecutive elements of a row), threadIdx.y and blockIdx.y stride over rows by
// 8 · gridDim.y; the 8 partial maxima of a column meet in shared memory [8][33] (padded against
// bank conflicts), then one atomicMax per column.
template <class T>
__global__ void __launch_bounds__(kThreads)
    absmax_cols_kernel(const T* __restrict__ x, int64_t outer, int64_t W, int64_t inner, unsigned* __restrict__ bits) {
    __shared__ unsigned part[8][33];
    const int64_t w = blockIdx.x * 32ll + threadIdx.x;
    unsigned m = 0;
    if (w < W) {
        for (int64_t o = blockIdx.y * 8ll + threadIdx.y; o < outer; o += gridDim.y * 8ll) {
            m = max(m, __float_as_uint(finite_abs(ld(x + o * W + w))));
        }
    }
    part[threadIdx.y][threadIdx.x] = m;
    __syncthreads();
    if (threadIdx.y == 0 && w < W) {
#pragma unroll
        for (int r = 1; r < 8; ++r) m = max(m, part[r][threadIdx.x]);
        if (m != 0) atomicMax(bits + w / inner, m);
    }
}

// Per tensor: *sum += Σ finite |x| (f32; warp shuffles, then one atomicAdd per block).
template <class T>
__global__ void __launch_bounds__(kThreads) abssum_kernel(const T* __restrict__ x, int64_t n, float* __restrict__ sum) {
    __shared__ float part[32];
    float s = 0.0f;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        s += finite_abs(ld(x + i));
    }
    s = warp_sum(s);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) part[warp] = s;
    __syncthreads();
    if (warp == 0) {
        s = lane < (blockDim.x >> 5) ? part[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0) atomicAdd(sum, s);
    }
}

// scale[i] = absmax[i] / div for i < count (pass 1 left the absmax bits in place).
__global__ void absmax_to_scale_kernel(float* scale, int64_t count, float div) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        scale[i] = __fdiv_rn(scale[i], div);
    }
}

// scale[0] = sum / n (the ternary mean |w|).
__global__ void mean_to_scale_kernel(float* scale, float n) { scale[0] = __fdiv_rn(scale[0], n); }

// ---- pass 2: codes ---------------------------------------------------------------------------

// int8 over x viewed as [rows, inner], row r with scale[r % channels] (per tensor: channels 1,
// inner numel). Grid-stride over elements.
template <class T>
__global__ void __launch_bounds__(kThreads)
    int8_kernel(const T* __restrict__ x, int8_t* __restrict__ q, const float* __restrict__ scale, int64_t n,
                int64_t channels, int64_t inner) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float s = channels == 1 ? scale[0] : scale[(i / inner) % channels];
        const float v = scaled(ld(x + i), s);
        // NaN -> 0; otherwise clamp to [-127, 127] and round half to even.
        q[i] = v == v ? static_cast<int8_t>(rintf(fminf(fmaxf(v, -127.0f), 127.0f))) : int8_t{0};
    }
}

template <class T>
__global__ void __launch_bounds__(kThreads) fp8_kernel(const T* __restrict__ x, uint8_t* __restrict__ q,
                                                       const float* __restrict__ scale, int64_t n, bool e4m3) {
    const float s = scale[0];
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        q[i] = num::f32_to_fp8(scaled(ld(x + i), s), e4m3);
    }
}

// The NF4 levels (QLoRA / bitsandbytes; index = code) and the midpoints between neighbours:
// the f32 rounding of (level[i] + level[i + 1]) / 2 computed in f64 from the f32 levels, as the
// CPU kernel computes them (checked below at compile time).
#define APH_NF4_LEVELS                                                                                              \
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,                \
        -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,             \
        0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, \
        1.0f
#define APH_NF4_MIDS                                                                                                   \
    -0x1.b239bp-1f, -0x1.38a4ep-1f, -0x1.d709p-2f, -0x1.5bd4ecp-2f, -0x1.e079d8p-3f, -0x1.1a7178p-3f, -0x1.74f0e2p-5f, \
        0x1.45f5fep-5f, 0x1.ec90c4p-4f, 0x1.a0cfcp-3f, 0x1.2b05a8p-2f, 0x1.8ea7f2p-2f, 0x1.00da08p-1f, 0x1.491b5ep-1f, \
        0x1.b913b4p-1f

__constant__ float c_nf4[16] = {APH_NF4_LEVELS};
__constant__ float c_nf4_mid[15] = {APH_NF4_MIDS};

struct Nf4Table {
    float levels[16] = {APH_NF4_LEVELS};
    float mids[15] = {APH_NF4_MIDS};
};
constexpr bool nf4_mids_ok() {
    const Nf4Table t{};
    for (int i = 0; i < 15; ++i) {
        const float m = static_cast<float>((static_cast<double>(t.levels[i]) + static_cast<double>(t.levels[i + 1])) /
                                           2.0);
        if (m != t.mids[i]) return false;
    }
    return true;
}
static_assert(nf4_mids_ok(), "NF4 midpoints must be the CPU kernel's");

// The nearest level: the number of midpoints strictly below v (ties to the lower level); NaN
// is the 0 level (code 7).
__device__ __forceinline__ unsigned nf4_code(float v) {
    if (!(v == v)) return 7u;
    unsigned c = 0;
#pragma unroll
    for (int i = 0; i < 15; ++i) c += v > c_nf4_mid[i] ? 1u : 0u;
    return c;
}

// NF4: one warp per block of 64 elements (grid-stride over blocks by warps). Lane l holds
// elements 64b + 2l and 64b + 2l + 1, the warp's max of their finite |x| is the block's absmax
// (written by lane 0), and lane l writes byte 32b + l: the first element's code in the high
// nibble. Missing elements of the last block read as 0; an odd tail leaves a low nibble of 0.
template <class T>
__global__ void __launch_bounds__(kThreads)
    nf4_kernel(const T* __restrict__ x, uint8_t* __restrict__ q, float* __restrict__ scale, int64_t n) {
    const int lane = threadIdx.x & 31;
    const int64_t blocks = (n + 63) / 64;
    const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarps;
    for (int64_t b = blockIdx.x * static_cast<int64_t>(kWarps) + (threadIdx.x >> 5); b < blocks; b += warps) {
        const int64_t e = b * 64 + 2 * lane;
        const float x0 = e < n ? ld(x + e) : 0.0f;
        const float x1 = e + 1 < n ? ld(x + e + 1) : 0.0f;
        unsigned m = max(__float_as_uint(finite_abs(x0)), __float_as_uint(finite_abs(x1)));
        m = warp_max(m);
        const float s = __uint_as_float(m);
        if (lane == 0) scale[b] = s;
        if (e < n) {
            const unsigned hi = nf4_code(scaled(x0, s));
            const unsigned lo = e + 1 < n ? nf4_code(scaled(x1, s)) : 0u;
            q[b * 32 + lane] = static_cast<uint8_t>((hi << 4) | lo);
        }
    }
}

// BitNet ternary packing: thread i makes byte i of q viewed as [rows, KB]: row r = i / KB,
// byte j = i % KB, weights 4j..4j+3 of row r in bits 2(k % 4) (0 past K). Codes: v = w / (s +
// 1e-8) is +1 (code 1) above 0.5, -1 (code 2) below -0.5, else 0 (clamp(round half to even)).
template <class T>
__global__ void __launch_bounds__(kThreads)
    ternary_pack_kernel(const T* __restrict__ x, uint8_t* __restrict__ q, const float* __restrict__ scale,
                        int64_t bytes, int64_t K, int64_t KB) {
    const float div = __fadd_rn(scale[0], 1e-8f);
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < bytes;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = i / KB, j = i - r * KB;
        const T* xr = x + r * K + 4 * j;
        unsigned byte = 0;
#pragma unroll
        for (int t = 0; t < 4; ++t) {
            if (4 * j + t < K) {
                const float v = __fdiv_rn(ld(xr + t), div);
                const unsigned code = v > 0.5f ? 1u : (v < -0.5f ? 2u : 0u);
                byte |= code << (2 * t);
            }
        }
        q[i] = static_cast<uint8_t>(byte);
    }
}

// ---- dequantization (elementwise over out, grid-stride) --------------------------------------

template <class T>
__global__ void __launch_bounds__(kThreads)
    deq_int8_kernel(const int8_t* __restrict__ q, const float* __restrict__ scale, T* __restrict__ out, int64_t n,
                    int64_t channels, int64_t inner) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const float s = channels == 1 ? scale[0] : scale[(i / inner) % channels];
        st(out + i, __fmul_rn(static_cast<float>(q[i]), s));
    }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    deq_fp8_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale, T* __restrict__ out, int64_t n,
                   bool e4m3) {
    const float s = scale[0];
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        st(out + i, __fmul_rn(num::fp8_to_f32(q[i], e4m3), s));
    }
}

// Element i: nibble (i odd: low, even: high) of byte i / 2, times the absmax of block i / 64.
// The 16 levels are copied into shared memory (per-thread indices differ: constant memory would
// serialise them).
template <class T>
__global__ void __launch_bounds__(kThreads)
    deq_nf4_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale, T* __restrict__ out, int64_t n) {
    __shared__ float levels[16];
    if (threadIdx.x < 16) levels[threadIdx.x] = c_nf4[threadIdx.x];
    __syncthreads();
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const unsigned code = (q[i >> 1] >> ((i & 1) ? 0 : 4)) & 0xfu;
        st(out + i, __fmul_rn(levels[code], scale[i >> 6]));
    }
}

// out viewed as [rows, K]; element (r, k) decodes bits 2(k % 4) of byte (r, k / 4).
template <class T>
__global__ void __launch_bounds__(kThreads)
    deq_ternary_kernel(const uint8_t* __restrict__ q, const float* __restrict__ scale, T* __restrict__ out, int64_t n,
                       int64_t K, int64_t KB) {
    const float s = scale[0];
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = i / K, k = i - r * K;
        const unsigned code = (q[r * KB + (k >> 2)] >> (2 * (k & 3))) & 3u;
        st(out + i, code == 1u ? s : (code == 2u ? -s : 0.0f * s));
    }
}

// ---- ternary matrix product ------------------------------------------------------------------
//
// out [M, N] = x [M, K] · W [N, K]ᵀ · scale, W read packed (u8 [N, KB], KB = ceil(K / 4)).
// Block: 8 warps; warp w owns output column n = blockIdx.x · 8 + w (one packed row of W) and a
// tile of MT rows of x, m0 = mt · MT, for mt = blockIdx.y, blockIdx.y + gridDim.y, ...
// K is walked in chunks of 512 weights (128 packed bytes):
//   - the block stages the x tile xs [MT][512] in shared memory as f32 (consecutive threads load
//     consecutive k: coalesced; zero past K and past M, so padding costs nothing);
//   - lane l of a warp takes packed bytes l, l + 32, l + 64, l + 96 of the chunk (each warp
//     instruction reads 32 consecutive bytes of its W row), and for byte b reads xs[r][4b..4b+3]
//     as one float4 (consecutive lanes, consecutive 16-byte words: conflict-free), adding x where
//     the 2-bit code is +1 into pos and where it is -1 into neg (selects, no multiplications; a
//     zero weight skips its x, so a NaN there does not propagate, as on the CPU).
// Each staged x element serves 8 columns and each decoded byte MT rows. At the end a warp sums
// pos - neg across lanes and lane 0 stores (Σ) · scale for its MT rows.
constexpr int kTmmChunk = 512;  // weights of K per step (= 128 packed bytes = 32 lanes × 4)

// Adds v to pos where the code in the low 2 bits of c is +1 (1), to neg where it is -1 (2).
__device__ __forceinline__ void ternary_add(float& pos, float& neg, float v, unsigned c) {
    c &= 3u;
    pos += c == 1u ? v : 0.0f;
    neg += c == 2u ? v : 0.0f;
}

template <class T, int MT>
__global__ void __launch_bounds__(kThreads)
    ternary_matmul_kernel(const T* __restrict__ x, const uint8_t* __restrict__ packed, const float* __restrict__ scale,
                          T* __restrict__ out, int64_t M, int64_t N, int64_t K, int64_t KB) {
    __shared__ __align__(16) float xs[MT][kTmmChunk];
    const int lane = threadIdx.x & 31;
    const int64_t n = blockIdx.x * static_cast<int64_t>(kWarps) + (threadIdx.x >> 5);
    const bool active = n < N;  // inactive warps still help stage x and reach every barrier
    const uint8_t* wrow = packed + (active ? n : 0) * KB;
    const float s = scale[0];
    const int64_t mtiles = (M + MT - 1) / MT;
    for (int64_t mt = blockIdx.y; mt < mtiles; mt += gridDim.y) {
        const int64_t m0 = mt * MT;
        float pos[MT], neg[MT];
#pragma unroll
        for (int r = 0; r < MT; ++r) pos[r] = neg[r] = 0.0f;
        for (int64_t k0 = 0; k0 < K; k0 += kTmmChunk) {
            __syncthreads();  // every warp is done with the previous tile
            for (int idx = threadIdx.x; idx < MT * kTmmChunk; idx += blockDim.x) {
                const int r = idx / kTmmChunk, kk = idx % kTmmChunk;
                const int64_t m = m0 + r, k = k0 + kk;
                xs[r][kk] = (m < M && k < K) ? ld(x + m * K + k) : 0.0f;
            }
            __syncthreads();
            if (active) {
                const int64_t b0 = k0 >> 2;  // first packed byte of the chunk
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const int bl = lane + 32 * i;  // byte of the chunk, 0..127
                    const int64_t b = b0 + bl;
                    const unsigned byte = b < KB ? wrow[b] : 0u;
                    if (byte == 0u) continue;
#pragma unroll
                    for (int r = 0; r < MT; ++r) {
                        const float4 xv = *reinterpret_cast<const float4*>(&xs[r][4 * bl]);
                        ternary_add(pos[r], neg[r], xv.x, byte);
                        ternary_add(pos[r], neg[r], xv.y, byte >> 2);
                        ternary_add(pos[r], neg[r], xv.z, byte >> 4);
                        ternary_add(pos[r], neg[r], xv.w, byte >> 6);
                    }
                }
            }
        }
        if (active) {
#pragma unroll
            for (int r = 0; r < MT; ++r) {
                const float sum = warp_sum(pos[r] - neg[r]);
                if (lane == 0 && m0 + r < M) st(out + (m0 + r) * N + n, sum * s);
            }
        }
    }
}

template <class T, int MT>
int launch_ternary_matmul(const aph_k_ternary_matmul& d, cudaStream_t stream, char* msg, size_t len) {
    const int64_t M = d.x.shape[0], K = d.x.shape[1], N = d.packed.shape[0], KB = (K + 3) / 4;
    const int64_t mtiles = (M + MT - 1) / MT;
    const dim3 grid(static_cast<unsigned>((N + kWarps - 1) / kWarps),
                    static_cast<unsigned>(mtiles < 65535 ? mtiles : 65535));
    ternary_matmul_kernel<T, MT><<<grid, kThreads, 0, stream>>>(
        static_cast<const T*>(d.x.data), static_cast<const uint8_t*>(d.packed.data),
        static_cast<const float*>(d.scale.data), static_cast<T*>(d.out.data), M, N, K, KB);
    return check_launch("ternary_matmul_kernel", msg, len);
}

// ---- launchers -------------------------------------------------------------------------------

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

// Pass 1 of INT8 and fp8: scale[c] = (finite absmax of group c) / div.
template <class T>
int absmax_scales(const T* x, const Channels& g, float* scale, float div, cudaStream_t stream, char* msg, size_t len) {
    int rc = check(cudaMemsetAsync(scale, 0, static_cast<size_t>(g.channels) * sizeof(float), stream),
                   "cudaMemsetAsync", msg, len);
    if (rc != 0) return rc;
    unsigned* bits = reinterpret_cast<unsigned*>(scale);
    const int64_t n = g.outer * g.channels * g.inner;
    if (g.channels == 1) {
        absmax_all_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(x, n, bits);
        rc = check_launch("absmax_all_kernel", msg, len);
    } else if (g.inner >= 32) {
        const int64_t per = g.outer * g.inner;
        int64_t ysplit = (per + 8 * kThreads - 1) / (8 * kThreads);  // about 8 elements per thread
        if (ysplit > 65535) ysplit = 65535;
        const dim3 grid(static_cast<unsigned>(g.channels), static_cast<unsigned>(ysplit));
        absmax_rows_kernel<T><<<grid, kThreads, 0, stream>>>(x, g.outer, g.channels, g.inner, bits);
        rc = check_launch("absmax_rows_kernel", msg, len);
    } else {
        const int64_t W = g.channels * g.inner;
        int64_t ysplit = (g.outer + 8 * 16 - 1) / (8 * 16);  // about 16 rows per thread
        if (ysplit > 65535) ysplit = 65535;
        const dim3 grid(static_cast<unsigned>((W + 31) / 32), static_cast<unsigned>(ysplit));
        absmax_cols_kernel<T><<<grid, dim3(32, 8), 0, stream>>>(x, g.outer, W, g.inner, bits);
        rc = check_launch("absmax_cols_kernel", msg, len);
    }
    if (rc != 0) return rc;
    absmax_to_scale_kernel<<<grid_for(g.channels, kThreads), kThreads, 0, stream>>>(scale, g.channels, div);
    return check_launch("absmax_to_scale_kernel", msg, len);
}

template <class T>
int quantize_t(const aph_k_quant& d, cudaStream_t stream, char* msg, size_t len) {
    const T* x = static_cast<const T*>(d.x.data);
    float* scale = static_cast<float*>(d.scale.data);
    const int64_t n = numel_of(d.x);
    int rc = 0;
    switch (d.scheme) {
        case kInt8: {
            const Channels g = channels_of(d.x, d.axis);
            if ((rc = absmax_scales(x, g, scale, 127.0f, stream, msg, len)) != 0) return rc;
            int8_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(x, static_cast<int8_t*>(d.q.data), scale, n,
                                                                           g.channels, g.inner);
            return check_launch("int8_kernel", msg, len);
        }
        case kFp8E4m3:
        case kFp8E5m2: {
            const bool e4m3 = d.scheme == kFp8E4m3;
            if ((rc = absmax_scales(x, Channels{1, 1, n}, scale, e4m3 ? 448.0f : 57344.0f, stream, msg, len)) != 0) {
                return rc;
            }
            fp8_kernel<T>
                <<<grid_for(n, kThreads), kThreads, 0, stream>>>(x, static_cast<uint8_t*>(d.q.data), scale, n, e4m3);
            return check_launch("fp8_kernel", msg, len);
        }
        case kNf4Scheme: {
            const int64_t blocks = (n + 63) / 64;
            nf4_kernel<T>
                <<<grid_for(blocks, kWarps), kThreads, 0, stream>>>(x, static_cast<uint8_t*>(d.q.data), scale, n);
            return check_launch("nf4_kernel", msg, len);
        }
        case kTernary: {
            const int64_t K = d.x.shape[d.x.ndim - 1], KB = (K + 3) / 4, bytes = n / K * KB;
            rc = check(cudaMemsetAsync(scale, 0, sizeof(float), stream), "cudaMemsetAsync", msg, len);
            if (rc != 0) return rc;
            abssum_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(x, n, scale);
            if ((rc = check_launch("abssum_kernel", msg, len)) != 0) return rc;
            mean_to_scale_kernel<<<1, 1, 0, stream>>>(scale, static_cast<float>(n));
            if ((rc = check_launch("mean_to_scale_kernel", msg, len)) != 0) return rc;
            ternary_pack_kernel<T><<<grid_for(bytes, kThreads), kThreads, 0, stream>>>(
                x, static_cast<uint8_t*>(d.q.data), scale, bytes, K, KB);
            return check_launch("ternary_pack_kernel", msg, len);
        }
        default: put(msg, len, "quantize: unknown scheme %d", static_cast<int>(d.scheme)); return APH_K_STATUS_FAILED;
    }
}

template <class T>
int dequantize_t(const aph_k_quant& d, cudaStream_t stream, char* msg, size_t len) {
    T* out = static_cast<T*>(d.x.data);
    const float* scale = static_cast<const float*>(d.scale.data);
    const int64_t n = numel_of(d.x);
    const unsigned grid = grid_for(n, kThreads);
    switch (d.scheme) {
        case kInt8: {
            const Channels g = channels_of(d.x, d.axis);
            deq_int8_kernel<T><<<grid, kThreads, 0, stream>>>(static_cast<const int8_t*>(d.q.data), scale, out, n,
                                                              g.channels, g.inner);
            return check_launch("deq_int8_kernel", msg, len);
        }
        case kFp8E4m3:
        case kFp8E5m2:
            deq_fp8_kernel<T><<<grid, kThreads, 0, stream>>>(static_cast<const uint8_t*>(d.q.data), scale, out, n,
                                                             d.scheme == kFp8E4m3);
            return check_launch("deq_fp8_kernel", msg, len);
        case kNf4Scheme:
            deq_nf4_kernel<T><<<grid, kThreads, 0, stream>>>(static_cast<const uint8_t*>(d.q.data), scale, out, n);
            return check_launch("deq_nf4_kernel", msg, len);
        case kTernary: {
            const int64_t K = d.x.shape[d.x.ndim - 1];
            deq_ternary_kernel<T>
                <<<grid, kThreads, 0, stream>>>(static_cast<const uint8_t*>(d.q.data), scale, out, n, K, (K + 3) / 4);
            return check_launch("deq_ternary_kernel", msg, len);
        }
        default: put(msg, len, "dequantize: unknown scheme %d", static_cast<int>(d.scheme)); return APH_K_STATUS_FAILED;
    }
}

}  // namespace

int quantize(const aph_k_quant& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.x.dtype, msg, len, [&](auto tag) { return quantize_t<decltype(tag)>(d, s, msg, len); });
}

int dequantize(const aph_k_quant& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.x.dtype, msg, len, [&](auto tag) { return dequantize_t<decltype(tag)>(d, s, msg, len); });
}

int ternary_matmul(const aph_k_ternary_matmul& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.x.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        // Rows of x per tile: 8 when there are enough rows to fill it, fewer for decoding-sized M
        // (a tile row past M costs shared memory and arithmetic but no traffic).
        const int64_t M = d.x.shape[0];
        if (M >= 8) return launch_ternary_matmul<T, 8>(d, s, msg, len);
        if (M >= 4) return launch_ternary_matmul<T, 4>(d, s, msg, len);
        return launch_ternary_matmul<T, 1>(d, s, msg, len);
    });
}

}  // namespace aph::cuk
