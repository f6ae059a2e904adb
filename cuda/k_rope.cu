// CUDA kernel of rotary position embedding (aph_k_rope): x and out [B, S, H, D] with any strides
// (possibly the same memory), positions [B, S] (batch stride 0 when shared), i32 or i64.
//
// One thread per (b, s, pair i), grid-stride over the B·S·(D/2) pairs, i fastest. The thread
// computes the angle p · theta^(-2i/D) and its sin/cos in double from the integer position (as
// the CPU kernel does, so large positions keep their fractional angle and both devices agree to
// f32 rounding), rounds cos/sin to f32 once, and rotates pair i of every head h < H with them:
// the double-precision work is amortised over the heads. For a fixed head, consecutive threads
// touch consecutive pairs: x[b, s, h, i] and x[b, s, h, i + D/2] (half layout: two coalesced
// runs) or x[b, s, h, 2i] and x[b, s, h, 2i + 1] (interleaved: together one coalesced run).
// Each thread reads both members of its pair before writing them, so in place is safe.
#include "kernels.cuh"

namespace aph::cuk {
namespace {

// Strides in elements; first/second: offsets of pair i's members, i·step and i·step + second.
struct Geometry {
    int64_t S, H, half;
    int64_t xs0, xs1, xs2, xstep, xsecond;
    int64_t os0, os1, os2, ostep, osecond;
    int64_t ps0, ps1;
    double theta;
    double d;  // head_dim
};

template <class T, class P>
__global__ void rope_kernel(const T* x, T* out, const P* pos, int64_t pairs, Geometry g) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < pairs; t += stride) {
        const int64_t i = t % g.half, bs = t / g.half;
        const int64_t s = bs % g.S, b = bs / g.S;
        const double p = static_cast<double>(pos[b * g.ps0 + s * g.ps1]);
        double sn, cs;
        sincos(p * pow(g.theta, -2.0 * static_cast<double>(i) / g.d), &sn, &cs);  // as the CPU kernel
        const float c = static_cast<float>(cs), sv = static_cast<float>(sn);
        const T* xp = x + b * g.xs0 + s * g.xs1 + i * g.xstep;
        T* op = out + b * g.os0 + s * g.os1 + i * g.ostep;
        for (int64_t h = 0; h < g.H; ++h) {
            const float x0 = ld(xp + h * g.xs2), x1 = ld(xp + h * g.xs2 + g.xsecond);
            st(op + h * g.os2, x0 * c - x1 * sv);
            st(op + h * g.os2 + g.osecond, x0 * sv + x1 * c);
        }
    }
}

}  // namespace

int rope(const aph_k_rope& d, cudaStream_t s, char* msg, size_t len) {
    const int64_t B = d.x.shape[0], S = d.x.shape[1], H = d.x.shape[2], D = d.x.shape[3];
    const bool interleaved = d.layout == 0;
    Geometry g{};
    g.S = S;
    g.H = H;
    g.half = D / 2;
    g.xs0 = d.x.strides[0];
    g.xs1 = d.x.strides[1];
    g.xs2 = d.x.strides[2];
    g.xstep = interleaved ? 2 * d.x.strides[3] : d.x.strides[3];
    g.xsecond = interleaved ? d.x.strides[3] : g.half * d.x.strides[3];
    g.os0 = d.out.strides[0];
    g.os1 = d.out.strides[1];
    g.os2 = d.out.strides[2];
    g.ostep = interleaved ? 2 * d.out.strides[3] : d.out.strides[3];
    g.osecond = interleaved ? d.out.strides[3] : g.half * d.out.strides[3];
    g.ps0 = d.positions.strides[0];
    g.ps1 = d.positions.strides[1];
    g.theta = d.theta;
    g.d = static_cast<double>(D);
    const int64_t pairs = B * S * g.half;
    constexpr int kThreads = 256;
    return dispatch_float(d.x.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        const T* x = static_cast<const T*>(d.x.data);
        T* out = static_cast<T*>(d.out.data);
        if (d.positions.dtype == 8) {  // i32
            rope_kernel<T, int32_t><<<grid_for(pairs, kThreads), kThreads, 0, s>>>(
                x, out, static_cast<const int32_t*>(d.positions.data), pairs, g);
        } else {
            rope_kernel<T, int64_t><<<grid_for(pairs, kThreads), kThreads, 0, s>>>(
                x, out, static_cast<const int64_t*>(d.positions.data), pairs, g);
        }
        return check_launch("rope kernel", msg, len);
    });
}

}  // namespace aph::cuk
