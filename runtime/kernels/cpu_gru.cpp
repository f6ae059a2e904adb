// The GRU cell's gates (APH_K_GRU_GATES) on the CPU, after the two products:
//   r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n), out = (1 - z)·n + z·h,
// with gi, gh [B, 3H] contiguous (thirds r, z, n in PyTorch's order, biases included) and h, out
// [B, H] contiguous. Computed in f32 (f64 for f64), one row per task; each row is first loaded
// into Acc buffers so the arithmetic loop runs over plain arrays.
#include "cpu.hpp"
#include "parallel.hpp"

#include <cmath>
#include <vector>

namespace aph::kernels {
namespace {

template <class Acc>
Acc load(const char* base, int32_t dtype, int64_t i) {
    const char* p = base + static_cast<size_t>(i) * dtype_size(dtype);
    if constexpr (sizeof(Acc) == 8) return load_f64(p, dtype);
    else
        return load_f32(p, dtype);
}

template <class Acc>
void load_row(const void* base, int32_t dtype, int64_t offset, int64_t n, Acc* dst) {
    const char* p = static_cast<const char*>(base);
    if (dtype == (sizeof(Acc) == 8 ? 3 : 0)) {
        const Acc* src = reinterpret_cast<const Acc*>(p) + offset;
        for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
        return;
    }
    for (int64_t i = 0; i < n; ++i) dst[i] = load<Acc>(p, dtype, offset + i);
}

template <class Acc>
void gates(const aph_k_gru_gates& d) {
    const int64_t B = d.h.shape[0], H = d.h.shape[1];
    const size_t eso = dtype_size(d.out.dtype);
    // About 40 simple operations per element (two exps, one tanh).
    parallel_for(B, 40.0 * static_cast<double>(B * H), [&](int64_t b0, int64_t b1) {
        // Per-row buffers: gi, gh (3H each), h (H), result (H).
        std::vector<Acc> gi(static_cast<size_t>(3 * H)), gh(static_cast<size_t>(3 * H)), h(static_cast<size_t>(H)),
            o(static_cast<size_t>(H));
        for (int64_t b = b0; b < b1; ++b) {
            load_row(d.gi.data, d.gi.dtype, b * 3 * H, 3 * H, gi.data());
            load_row(d.gh.data, d.gh.dtype, b * 3 * H, 3 * H, gh.data());
            load_row(d.h.data, d.h.dtype, b * H, H, h.data());
            for (int64_t j = 0; j < H; ++j) {
                const Acc r = Acc(1) / (Acc(1) + std::exp(-(gi[j] + gh[j])));
                const Acc z = Acc(1) / (Acc(1) + std::exp(-(gi[H + j] + gh[H + j])));
                const Acc n = std::tanh(gi[2 * H + j] + r * gh[2 * H + j]);
                o[j] = (Acc(1) - z) * n + z * h[j];
            }
            char* dst = static_cast<char*>(d.out.data) + static_cast<size_t>(b * H) * eso;
            for (int64_t j = 0; j < H; ++j) {
                if constexpr (sizeof(Acc) == 8) store_f64(dst + static_cast<size_t>(j) * eso, d.out.dtype, o[j]);
                else
                    store_f32(dst + static_cast<size_t>(j) * eso, d.out.dtype, o[j]);
            }
        }
    });
}

}  // namespace

int cpu_gru_gates(const aph_k_gru_gates& d, std::string& /*msg*/) {
    if (d.out.dtype == 3 || d.h.dtype == 3) gates<double>(d);
    else
        gates<float>(d);
    return 0;
}

}  // namespace aph::kernels
