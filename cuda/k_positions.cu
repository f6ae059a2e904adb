// CUDA kernel of the positions (aph_k_positions): out [n] contiguous i64 = 0, 1, ..., n - 1.
// One thread per element, grid-stride (grid_for caps the grid; each thread then writes
// i, i + stride, ...; consecutive threads write consecutive 8-byte elements: coalesced).
#include "kernels.cuh"

#include <cstdint>

namespace aph::cuk {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) positions_kernel(int64_t* out, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) out[i] = i;
}

}  // namespace

int positions(const aph_k_positions& d, cudaStream_t s, char* msg, size_t len) {
    const int64_t n = d.out.shape[0];
    positions_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<int64_t*>(d.out.data), n);
    return check_launch("positions kernel", msg, len);
}

}  // namespace aph::cuk
