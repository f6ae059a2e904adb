// CUDA kernels of the reductions (aph_k_reduce): x contiguous [outer, n, inner] reduced over n
// into out contiguous [outer, inner]. Sum and mean accumulate in f32; max propagates NaN; argmax
// (out i64) keeps the first index on ties and takes the first NaN as the largest.
//
// Two shapes of work:
// - inner == 1 (the reduced dimension is the last): rows of n contiguous elements. n <= 4096:
//   one warp per row (blocks of 4 warps, grid-stride over rows); larger n: one block of 512
//   threads per row. Thread t of a row accumulates elements t, t + T, ... (T threads per row:
//   consecutive threads read consecutive elements), then warp shuffles (and, for blocks, one
//   value per warp through shared memory) combine the partial results.
// - inner > 1: tiles of 32 outputs × 8 slices of n. Block (32, 8): threadIdx.x picks the output
//   column i = tile·32 + x of outer index o, threadIdx.y the slice k ≡ y (mod 8) of the reduced
//   dimension. A warp (fixed y) reads 32 consecutive elements x[o][k][i..i+31]: coalesced. The
//   8 partial results per column go through shared memory ([8][32]) and thread y == 0 combines
//   them in slice order. Grid: x over column tiles, y over outer (both grid-stride).
// A single huge row (outer · inner small, n large) is reduced by one block: correct, but it uses
// one SM; splitting n across blocks would need a second pass or atomics.
#include "kernels.cuh"

#include <cstdint>

namespace aph::cuk {
namespace {

constexpr int32_t kSum = 0, kMean = 1, kMax = 2, kArgmax = 3;
constexpr int kRowWarps = 4;        // rows per block in the warp-per-row path
constexpr int kWarpMaxN = 4096;     // longest row reduced by one warp
constexpr int kBlockThreads = 512;  // threads per row in the block-per-row path
constexpr int kTileX = 32, kTileY = 8;

// A partial result: value and (argmax) its index. Empty: max/argmax -inf at index INT64_MAX,
// which any real element replaces or beats on the index when tied.
struct Part {
    float v;
    int64_t i;
};

__device__ __forceinline__ bool is_nan(float v) { return v != v; }

// Does b replace a? Argmax: a NaN beats any number, larger beats smaller, and between equals
// (or two NaNs) the lower index wins.
__device__ __forceinline__ bool argmax_takes(Part a, Part b) {
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) return bn && (!an || b.i < a.i);
    return b.v > a.v || (b.v == a.v && b.i < a.i);
}

// Max with NaN propagation.
__device__ __forceinline__ float max_nan(float a, float b) { return is_nan(a) ? a : (is_nan(b) ? b : fmaxf(a, b)); }

template <int32_t OP>
__device__ __forceinline__ Part empty_part() {
    return Part{OP == kSum || OP == kMean ? 0.0f : -INFINITY, INT64_MAX};
}

// Folds element v at index k into p (indices arrive in increasing order per thread).
template <int32_t OP>
__device__ __forceinline__ void fold(Part& p, float v, int64_t k) {
    if (OP == kSum || OP == kMean) {
        p.v += v;
    } else if (OP == kMax) {
        p.v = max_nan(p.v, v);
    } else if (argmax_takes(p, Part{v, k})) {
        p = Part{v, k};
    }
}

// Combines two partial results (for argmax, in any order: the index decides ties).
template <int32_t OP>
__device__ __forceinline__ Part combine(Part a, Part b) {
    if (OP == kSum || OP == kMean) return Part{a.v + b.v, 0};
    if (OP == kMax) return Part{max_nan(a.v, b.v), 0};
    return argmax_takes(a, b) ? b : a;
}

template <int32_t OP>
__device__ __forceinline__ Part warp_combine(Part p) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        Part q;
        q.v = __shfl_xor_sync(0xffffffffu, p.v, o);
        q.i = __shfl_xor_sync(0xffffffffu, p.i, o);
        p = combine<OP>(p, q);
    }
    return p;
}

// Writes the final value of output o.
template <class T, int32_t OP>
__device__ __forceinline__ void store(void* out, int64_t o, Part p, int64_t n) {
    if (OP == kArgmax) {
        static_cast<int64_t*>(out)[o] = p.i;
    } else {
        st(static_cast<T*>(out) + o, OP == kMean ? p.v / static_cast<float>(n) : p.v);  // n == 0: NaN
    }
}

// inner == 1, one warp per row.
template <class T, int32_t OP>
__global__ void reduce_rows_warp(const T* x, void* out, int64_t rows, int64_t n) {
    const int lane = threadIdx.x & 31;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kRowWarps;
    for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowWarps + (threadIdx.x >> 5); r < rows; r += stride) {
        const T* xr = x + r * n;
        Part p = empty_part<OP>();
        for (int64_t k = lane; k < n; k += 32) fold<OP>(p, ld(xr + k), k);
        p = warp_combine<OP>(p);
        if (lane == 0) store<T, OP>(out, r, p, n);
    }
}

// inner == 1, one block per row. red: one partial result per warp.
template <class T, int32_t OP>
__global__ void __launch_bounds__(kBlockThreads) reduce_rows_block(const T* x, void* out, int64_t rows, int64_t n) {
    __shared__ Part red[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * n;
        Part p = empty_part<OP>();
        for (int64_t k = threadIdx.x; k < n; k += blockDim.x) fold<OP>(p, ld(xr + k), k);
        p = warp_combine<OP>(p);
        __syncthreads();  // red is free (the previous row's readers are done)
        if (lane == 0) red[warp] = p;
        __syncthreads();
        if (warp == 0) {
            p = lane < warps ? red[lane] : empty_part<OP>();
            p = warp_combine<OP>(p);
            if (lane == 0) store<T, OP>(out, r, p, n);
        }
    }
}

// inner > 1: see the file comment for the tile.
template <class T, int32_t OP>
__global__ void __launch_bounds__(kTileX* kTileY)
    reduce_cols(const T* x, void* out, int64_t outer, int64_t n, int64_t inner) {
    __shared__ Part part[kTileY][kTileX];
    const int64_t tiles = (inner + kTileX - 1) / kTileX;
    for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
        for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
            const int64_t i = tile * kTileX + threadIdx.x;
            Part p = empty_part<OP>();
            if (i < inner && n > 0) {  // n == 0 (sum or mean): x has no data
                const T* col = x + o * n * inner + i;
                for (int64_t k = threadIdx.y; k < n; k += kTileY) fold<OP>(p, ld(col + k * inner), k);
            }
            part[threadIdx.y][threadIdx.x] = p;
            __syncthreads();
            if (threadIdx.y == 0 && i < inner) {
#pragma unroll
                for (int y = 1; y < kTileY; ++y) p = combine<OP>(p, part[y][threadIdx.x]);
                store<T, OP>(out, o * inner + i, p, n);
            }
            __syncthreads();  // part is reused by the next tile
        }
    }
}

template <class T, int32_t OP>
int launch_op(const aph_k_reduce& d, cudaStream_t s) {
    const T* x = static_cast<const T*>(d.x.data);
    if (d.inner == 1) {
        if (d.n <= kWarpMaxN) {
            const unsigned grid = grid_for(d.outer, kRowWarps);
            reduce_rows_warp<T, OP><<<grid, 32 * kRowWarps, 0, s>>>(x, d.out.data, d.outer, d.n);
        } else {
            reduce_rows_block<T, OP><<<grid_for(d.outer, 1), kBlockThreads, 0, s>>>(x, d.out.data, d.outer, d.n);
        }
    } else {
        const int64_t tiles = (d.inner + kTileX - 1) / kTileX;
        const dim3 grid(grid_for(tiles, 1), static_cast<unsigned>(d.outer < 65535 ? d.outer : 65535));
        reduce_cols<T, OP><<<grid, dim3(kTileX, kTileY), 0, s>>>(x, d.out.data, d.outer, d.n, d.inner);
    }
    return 0;
}

}  // namespace

int reduce(const aph_k_reduce& d, cudaStream_t s, char* msg, size_t len) {
    const int rc = dispatch_float(d.x.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        switch (d.op) {
            case kSum: return launch_op<T, kSum>(d, s);
            case kMean: return launch_op<T, kMean>(d, s);
            case kMax: return launch_op<T, kMax>(d, s);
            case kArgmax: return launch_op<T, kArgmax>(d, s);
            default: put(msg, len, "reduce: unknown op %d", static_cast<int>(d.op)); return APH_K_STATUS_FAILED;
        }
    });
    if (rc != 0) return rc;
    return check_launch(d.op == kArgmax ? "argmax kernel" : "reduce kernel", msg, len);
}

}  // namespace aph::cuk
