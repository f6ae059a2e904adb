// CPU kernel of rotary position embedding (aph_k_rope): x and out [B, S, H, D] with any strides
// (possibly the same memory), positions [B, S] (batch stride 0 when shared).
//
// For each (b, s): the angles p · theta^(-2i/D) of the D/2 pairs are computed in double from the
// integer position and their cos/sin rounded to the compute type (f32; f64 for f64) once, then
// every head is rotated with them. Doing the angle in double keeps large positions exact
// (p · inv_freq in f32 loses the angle's fractional part beyond p ~ 10^5); the CUDA kernel
// (cuda/k_rope.cu) makes the same computation, so both devices agree to f32 rounding.
#include "cpu.hpp"
#include "float_types.hpp"
#include "parallel.hpp"

#include <cmath>
#include <type_traits>
#include <vector>

namespace aph::kernels {
namespace {

using namespace fp;  // F16, BF16, to_acc, from_acc, Acc, dispatch (float_types.hpp)

inline int64_t position(const aph_kt& p, int64_t b, int64_t s) {
    const int64_t off = b * p.strides[0] + s * p.strides[1];
    if (p.dtype == 8) return static_cast<const int32_t*>(p.data)[off];  // i32
    return static_cast<const int64_t*>(p.data)[off];                    // i64
}

template <class T>
void rope_rows(const aph_k_rope& d, const std::vector<double>& inv_freq, int64_t r0, int64_t r1) {
    using A = Acc<T>;
    const int64_t S = d.x.shape[1], H = d.x.shape[2], D = d.x.shape[3], half = D / 2;
    const int64_t* xs = d.x.strides;
    const int64_t* os = d.out.strides;
    // Element offsets of the two members of pair i: (2i, 2i+1) interleaved, (i, i + D/2) half.
    const int64_t step_x = d.layout == 0 ? 2 * xs[3] : xs[3], second_x = d.layout == 0 ? xs[3] : half * xs[3];
    const int64_t step_o = d.layout == 0 ? 2 * os[3] : os[3], second_o = d.layout == 0 ? os[3] : half * os[3];
    const T* x = static_cast<const T*>(d.x.data);
    T* out = static_cast<T*>(d.out.data);
    std::vector<A> c(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / S, s = r % S;
        const double p = static_cast<double>(position(d.positions, b, s));
        for (int64_t i = 0; i < half; ++i) {
            const double angle = p * inv_freq[static_cast<size_t>(i)];
            c[i] = static_cast<A>(std::cos(angle));
            sn[i] = static_cast<A>(std::sin(angle));
        }
        for (int64_t h = 0; h < H; ++h) {
            const T* xh = x + b * xs[0] + s * xs[1] + h * xs[2];
            T* oh = out + b * os[0] + s * os[1] + h * os[2];
            for (int64_t i = 0; i < half; ++i) {
                // Both members are read before either is written: in place is safe.
                const A x0 = to_acc(xh[i * step_x]), x1 = to_acc(xh[i * step_x + second_x]);
                from_acc(oh + i * step_o, x0 * c[i] - x1 * sn[i]);
                from_acc(oh + i * step_o + second_o, x0 * sn[i] + x1 * c[i]);
            }
        }
    }
}

}  // namespace

int cpu_rope(const aph_k_rope& d, std::string& msg) {
    return dispatch(d.x.dtype, msg, [&](auto tag) {
        using T = decltype(tag);
        const int64_t B = d.x.shape[0], S = d.x.shape[1], H = d.x.shape[2], D = d.x.shape[3];
        // theta^(-2i/D) for the D/2 pairs, in double (shared by every row).
        std::vector<double> inv_freq(static_cast<size_t>(D / 2));
        for (int64_t i = 0; i < D / 2; ++i) {
            const double e = -2.0 * static_cast<double>(i) / static_cast<double>(D);
            inv_freq[static_cast<size_t>(i)] = std::pow(d.theta, e);
        }
        const double work = static_cast<double>(B * S) * static_cast<double>(D) * (static_cast<double>(H) * 3.0 + 20.0);
        parallel_for(B * S, work, [&](int64_t r0, int64_t r1) { rope_rows<T>(d, inv_freq, r0, r1); });
        return 0;
    });
}

}  // namespace aph::kernels
