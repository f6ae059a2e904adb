// The GRU cell's gates (APH_K_GRU_GATES) on CUDA, after the two products:
//   r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n), out = (1 - z)·n + z·h,
// gi, gh [B, 3H] contiguous (thirds r, z, n, biases included), h, out [B, H] contiguous.
//
// Elementwise and memory-bound: one thread per output element (b, j) in a grid-stride loop over
// i = b·H + j. A warp covers 32 consecutive j of a row, so each of its seven loads (gi and gh at
// j, H + j, 2H + j, and h) and its store are contiguous runs. Arithmetic in f32 with the
// accurate expf/tanhf (no fast-math), matching the CPU kernel.
#include "kernels.cuh"

namespace aph::cuk {
namespace {

template <class G, class T>
__global__ void gru_gates_kernel(const G* __restrict__ gi, const G* __restrict__ gh, const T* __restrict__ h,
                                 T* __restrict__ out, int64_t total, int64_t H) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        const int64_t b = i / H, j = i - b * H;
        const G* gir = gi + b * 3 * H + j;  // r at [0, H), z at [H, 2H), n at [2H, 3H)
        const G* ghr = gh + b * 3 * H + j;
        const float r = 1.0f / (1.0f + expf(-(ld(gir) + ld(ghr))));
        const float z = 1.0f / (1.0f + expf(-(ld(gir + H) + ld(ghr + H))));
        const float n = tanhf(ld(gir + 2 * H) + r * ld(ghr + 2 * H));
        st(out + i, (1.0f - z) * n + z * ld(h + i));
    }
}

}  // namespace

int gru_gates(const aph_k_gru_gates& d, cudaStream_t s, char* msg, size_t len) {
    const int64_t B = d.h.shape[0], H = d.h.shape[1], total = B * H;
    constexpr int kThreads = 256;
    if (d.gh.dtype != d.gi.dtype || d.out.dtype != d.h.dtype) {
        put(msg, len, "GRU gates: gi/gh (dtypes %d, %d) and h/out (%d, %d) must match in pairs",
            static_cast<int>(d.gi.dtype), static_cast<int>(d.gh.dtype), static_cast<int>(d.h.dtype),
            static_cast<int>(d.out.dtype));
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    return dispatch_float(d.gi.dtype, msg, len, [&](auto g_tag) {
        using G = decltype(g_tag);
        return dispatch_float(d.h.dtype, msg, len, [&](auto t_tag) {
            using T = decltype(t_tag);
            gru_gates_kernel<G, T><<<grid_for(total, kThreads), kThreads, 0, s>>>(
                static_cast<const G*>(d.gi.data), static_cast<const G*>(d.gh.data), static_cast<const T*>(d.h.data),
                static_cast<T*>(d.out.data), total, H);
            return check_launch("GRU gates kernel", msg, len);
        });
    });
}

}  // namespace aph::cuk
