// CUDA kernels of the row-wise family: softmax / log-softmax (aph_k_softmax) and layer / RMS
// norm (aph_k_norm), over contiguous [rows, n], computed in f32 and rounded once when stored.
//
// Two shapes of work, chosen by n:
// - n <= 1024: one warp per row. Lane l holds elements l, l + 32, ..., l + 32·(VPT-1) of its row
//   in registers (VPT = values per thread, the smallest of 1, 2, 4, 8, 16, 32 with
//   32·VPT >= n), so x is read once and out written once, each step of 32 lanes touching 32
//   consecutive elements (coalesced); reductions are warp shuffles. Blocks of 4 warps, a
//   grid-stride loop over rows.
// - n > 1024: one block of 512 threads per row (grid-stride over rows). Thread t handles
//   elements t, t + 512, ...; reductions are warp shuffles then one value per warp through
//   shared memory. The passes re-read the row from global memory (a row of a few thousand
//   elements stays in L2 between passes).
// Both read each row completely before writing it, by the thread that reads each element, so
// out may be exactly x (in place).
#include "kernels.cuh"

#include <type_traits>

namespace aph::cuk {
namespace {

constexpr int kWarpRowsPerBlock = 4;  // warps (rows) per block in the warp path
constexpr int kBlockThreads = 512;    // threads per row in the block path
constexpr int kWarpMaxN = 1024;       // 32 lanes × 32 values

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// fmaxf ignores NaN, as the CPU kernel's maximum does: a NaN in a row still makes its exp and
// so the whole row NaN.
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum (MAX false) or maximum over the block; every thread gets the result. red: 32 floats of
// shared memory, one per warp. The leading barrier protects red from the readers of a previous
// call.
template <bool MAX>
__device__ float block_reduce(float v, float* red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = MAX ? warp_max(v) : warp_sum(v);
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < warps ? red[lane] : (MAX ? -INFINITY : 0.0f);
        t = MAX ? warp_max(t) : warp_sum(t);
        if (lane == 0) red[0] = t;
    }
    __syncthreads();
    return red[0];
}

// ---- softmax -----------------------------------------------------------------------------

template <class T, int VPT, bool LOG>
__global__ void softmax_warp(const T* x, T* out, int64_t rows, int n) {
    const int lane = threadIdx.x & 31;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarpRowsPerBlock;
    for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + (threadIdx.x >> 5); row < rows;
         row += stride) {
        const T* xr = x + row * n;
        T* orow = out + row * n;
        float v[VPT];
        float m = -INFINITY;
#pragma unroll
        for (int k = 0; k < VPT; ++k) {
            const int j = lane + 32 * k;
            v[k] = j < n ? ld(xr + j) : -INFINITY;
            m = fmaxf(m, v[k]);
        }
        m = warp_max(m);
        // v becomes x - max for log-softmax, exp(x - max) for softmax (a row of -inf gives NaN
        // here, as in PyTorch); s sums the exponentials.
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < VPT; ++k) {
            if (lane + 32 * k < n) {
                if (LOG) {
                    v[k] -= m;
                    s += expf(v[k]);
                } else {
                    v[k] = expf(v[k] - m);
                    s += v[k];
                }
            }
        }
        s = warp_sum(s);
        if (LOG) {
            const float ls = logf(s);
#pragma unroll
            for (int k = 0; k < VPT; ++k) {
                const int j = lane + 32 * k;
                if (j < n) st(orow + j, v[k] - ls);
            }
        } else {
            const float inv = 1.0f / s;
#pragma unroll
            for (int k = 0; k < VPT; ++k) {
                const int j = lane + 32 * k;
                if (j < n) st(orow + j, v[k] * inv);
            }
        }
    }
}

template <class T, bool LOG>
__global__ void __launch_bounds__(kBlockThreads) softmax_block(const T* x, T* out, int64_t rows, int64_t n) {
    __shared__ float red[32];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* xr = x + row * n;
        T* orow = out + row * n;
        float m = -INFINITY;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = fmaxf(m, ld(xr + j));
        m = block_reduce<true>(m, red);
        float s = 0.0f;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += expf(ld(xr + j) - m);
        s = block_reduce<false>(s, red);
        if (LOG) {
            const float ls = logf(s);
            for (int64_t j = threadIdx.x; j < n; j += blockDim.x) st(orow + j, (ld(xr + j) - m) - ls);
        } else {
            const float inv = 1.0f / s;
            for (int64_t j = threadIdx.x; j < n; j += blockDim.x) st(orow + j, expf(ld(xr + j) - m) * inv);
        }
    }
}

// ---- layer norm / RMS norm -----------------------------------------------------------------

// out = (x - mean)·rstd·w + b (layer norm, two-pass variance) or x·rstd·w (RMS), rstd =
// 1/sqrt(var + eps) or 1/sqrt(mean(x²) + eps). b is NULL when there is no bias.
template <class T, int VPT, bool RMS>
__global__ void norm_warp(const T* x, const T* w, const T* b, T* out, int64_t rows, int n, float eps) {
    const int lane = threadIdx.x & 31;
    const float inv_n = 1.0f / static_cast<float>(n);
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarpRowsPerBlock;
    for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpRowsPerBlock + (threadIdx.x >> 5); row < rows;
         row += stride) {
        const T* xr = x + row * n;
        T* orow = out + row * n;
        float v[VPT];
        float s = 0.0f;
#pragma unroll
        for (int k = 0; k < VPT; ++k) {
            const int j = lane + 32 * k;
            v[k] = j < n ? ld(xr + j) : 0.0f;
            s += RMS ? v[k] * v[k] : v[k];
        }
        s = warp_sum(s);
        float rstd;
        if (RMS) {
            rstd = 1.0f / sqrtf(s * inv_n + eps);
        } else {
            const float mean = s * inv_n;
            float q = 0.0f;
#pragma unroll
            for (int k = 0; k < VPT; ++k) {
                const int j = lane + 32 * k;
                v[k] = j < n ? v[k] - mean : 0.0f;
                q += v[k] * v[k];
            }
            rstd = 1.0f / sqrtf(warp_sum(q) * inv_n + eps);
        }
#pragma unroll
        for (int k = 0; k < VPT; ++k) {
            const int j = lane + 32 * k;
            if (j < n) {
                float y = v[k] * rstd * ld(w + j);
                if (b != nullptr) y += ld(b + j);
                st(orow + j, y);
            }
        }
    }
}

template <class T, bool RMS>
__global__ void __launch_bounds__(kBlockThreads)
    norm_block(const T* x, const T* w, const T* b, T* out, int64_t rows, int64_t n, float eps) {
    __shared__ float red[32];
    const float inv_n = 1.0f / static_cast<float>(n);
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* xr = x + row * n;
        T* orow = out + row * n;
        float s = 0.0f;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            const float v = ld(xr + j);
            s += RMS ? v * v : v;
        }
        s = block_reduce<false>(s, red);
        float mean = 0.0f, rstd;
        if (RMS) {
            rstd = 1.0f / sqrtf(s * inv_n + eps);
        } else {
            mean = s * inv_n;
            float q = 0.0f;
            for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
                const float dv = ld(xr + j) - mean;
                q += dv * dv;
            }
            rstd = 1.0f / sqrtf(block_reduce<false>(q, red) * inv_n + eps);
        }
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            float y = (ld(xr + j) - mean) * rstd * ld(w + j);
            if (b != nullptr) y += ld(b + j);
            st(orow + j, y);
        }
    }
}

// Calls f(std::integral_constant<int, VPT>) for the smallest VPT with 32·VPT >= n (n <= 1024).
template <class F>
void with_vpt(int64_t n, F&& f) {
    if (n <= 32) f(std::integral_constant<int, 1>{});
    else if (n <= 64)
        f(std::integral_constant<int, 2>{});
    else if (n <= 128)
        f(std::integral_constant<int, 4>{});
    else if (n <= 256)
        f(std::integral_constant<int, 8>{});
    else if (n <= 512)
        f(std::integral_constant<int, 16>{});
    else
        f(std::integral_constant<int, 32>{});
}

}  // namespace

int softmax(const aph_k_softmax& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.x.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        const T* x = static_cast<const T*>(d.x.data);
        T* out = static_cast<T*>(d.out.data);
        if (d.n <= kWarpMaxN) {
            const unsigned grid = grid_for(d.rows, kWarpRowsPerBlock);
            const int n = static_cast<int>(d.n);
            with_vpt(d.n, [&](auto vpt) {
                constexpr int V = decltype(vpt)::value;
                if (d.log) softmax_warp<T, V, true><<<grid, 32 * kWarpRowsPerBlock, 0, s>>>(x, out, d.rows, n);
                else
                    softmax_warp<T, V, false><<<grid, 32 * kWarpRowsPerBlock, 0, s>>>(x, out, d.rows, n);
            });
        } else {
            const unsigned grid = grid_for(d.rows, 1);
            if (d.log) softmax_block<T, true><<<grid, kBlockThreads, 0, s>>>(x, out, d.rows, d.n);
            else
                softmax_block<T, false><<<grid, kBlockThreads, 0, s>>>(x, out, d.rows, d.n);
        }
        return check_launch(d.log ? "log_softmax kernel" : "softmax kernel", msg, len);
    });
}

int norm(const aph_k_norm& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.x.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        const T* x = static_cast<const T*>(d.x.data);
        const T* w = static_cast<const T*>(d.weight.data);
        const T* b = static_cast<const T*>(d.bias.data);  // NULL: no bias (always for RMS)
        T* out = static_cast<T*>(d.out.data);
        const float eps = static_cast<float>(d.eps);
        if (d.n <= kWarpMaxN) {
            const unsigned grid = grid_for(d.rows, kWarpRowsPerBlock);
            const int n = static_cast<int>(d.n);
            with_vpt(d.n, [&](auto vpt) {
                constexpr int V = decltype(vpt)::value;
                if (d.rms) norm_warp<T, V, true><<<grid, 32 * kWarpRowsPerBlock, 0, s>>>(x, w, b, out, d.rows, n, eps);
                else
                    norm_warp<T, V, false><<<grid, 32 * kWarpRowsPerBlock, 0, s>>>(x, w, b, out, d.rows, n, eps);
            });
        } else {
            const unsigned grid = grid_for(d.rows, 1);
            if (d.rms) norm_block<T, true><<<grid, kBlockThreads, 0, s>>>(x, w, b, out, d.rows, d.n, eps);
            else
                norm_block<T, false><<<grid, kBlockThreads, 0, s>>>(x, w, b, out, d.rows, d.n, eps);
        }
        return check_launch(d.rms ? "rms_norm kernel" : "layer_norm kernel", msg, len);
    });
}

}  // namespace aph::cuk
