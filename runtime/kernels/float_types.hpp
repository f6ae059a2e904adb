// Storage types of the float dtypes for the row kernels (norms, softmax, reductions, RoPE):
// F16 and BF16 wrap the raw bits; to_acc / from_acc convert to and from the type computed in,
// Acc<T> (double for f64, else float); dispatch calls f(T{}) with the storage type of a dtype.
#pragma once

#include "cpu.hpp"

#include <string>
#include <type_traits>

namespace aph::kernels::fp {

struct F16 {
    uint16_t bits;
};
struct BF16 {
    uint16_t bits;
};
inline float to_acc(float v) { return v; }
inline double to_acc(double v) { return v; }
inline float to_acc(F16 v) { return num::f16_to_f32(v.bits); }
inline float to_acc(BF16 v) { return num::bf16_to_f32(v.bits); }
inline void from_acc(float* p, float v) { *p = v; }
inline void from_acc(double* p, double v) { *p = v; }
inline void from_acc(F16* p, float v) { p->bits = num::f32_to_f16(v); }
inline void from_acc(BF16* p, float v) { p->bits = num::f32_to_bf16(v); }
template <class T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Calls f(T{}) for the storage type of a float dtype.
template <class F>
int dispatch(int32_t dtype, std::string& msg, F&& f) {
    switch (dtype) {
        case 0: return f(float{});
        case 1: return f(F16{});
        case 2: return f(BF16{});
        case 3: return f(double{});
        default: msg = "dtype " + std::to_string(dtype) + " is not a float dtype"; return APH_K_STATUS_FAILED;
    }
}

}  // namespace aph::kernels::fp
