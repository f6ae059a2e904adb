// The CPU kernels: one function per kernel descriptor (cuda/kernel_abi.h), run on the calling
// thread. They are built into a static library that the core links and that the tests' simulated
// CUDA module links too (so the CUDA dispatch path runs these same kernels on host memory).
//
// Every kernel trusts its descriptor (the core validated it) and returns 0 or an APH_K_STATUS_*
// code with a message in msg. None throws: cpu_launch turns std::bad_alloc into
// APH_K_STATUS_OUT_OF_MEMORY and any other exception into APH_K_STATUS_FAILED.
#pragma once

#include "../../cuda/kernel_abi.h"
#include "numeric.hpp"

#include <cstdint>
#include <string>

namespace aph::kernels {

int cpu_launch(int32_t op, const void* desc, std::string& msg) noexcept;

// Families (each in cpu_<family>.cpp). They may throw std::bad_alloc.
int cpu_matmul(const aph_k_matmul& d, std::string& msg);
int cpu_binary(const aph_k_binary& d, std::string& msg);
int cpu_unary(const aph_k_unary& d, std::string& msg);
int cpu_cast(const aph_k_unary& d, std::string& msg);
int cpu_bias_act(const aph_k_bias_act& d, std::string& msg);
int cpu_softmax(const aph_k_softmax& d, std::string& msg);
int cpu_norm(const aph_k_norm& d, std::string& msg);
int cpu_reduce(const aph_k_reduce& d, std::string& msg);
int cpu_rope(const aph_k_rope& d, std::string& msg);
int cpu_embedding(const aph_k_embedding& d, std::string& msg);
int cpu_attention(const aph_k_attention& d, std::string& msg);
int cpu_quantize(const aph_k_quant& d, std::string& msg);
int cpu_dequantize(const aph_k_quant& d, std::string& msg);
int cpu_ternary_matmul(const aph_k_ternary_matmul& d, std::string& msg);
int cpu_gru_gates(const aph_k_gru_gates& d, std::string& msg);
int cpu_positions(const aph_k_positions& d, std::string& msg);

// Element access by dtype (f64, f32, f16, bf16; i32 and i64 for cast and indices), as double
// or float. p is the address of the element.
inline double load_f64(const void* p, int32_t dtype) {
    switch (dtype) {
        case 3: return *static_cast<const double*>(p);                        // F64
        case 0: return *static_cast<const float*>(p);                         // F32
        case 1: return num::f16_to_f32(*static_cast<const uint16_t*>(p));     // F16
        case 2: return num::bf16_to_f32(*static_cast<const uint16_t*>(p));    // BF16
        case 8: return *static_cast<const int32_t*>(p);                       // I32
        case 9: return static_cast<double>(*static_cast<const int64_t*>(p));  // I64
        default: return 0.0;
    }
}
inline float load_f32(const void* p, int32_t dtype) {
    switch (dtype) {
        case 0: return *static_cast<const float*>(p);
        case 1: return num::f16_to_f32(*static_cast<const uint16_t*>(p));
        case 2: return num::bf16_to_f32(*static_cast<const uint16_t*>(p));
        default: return static_cast<float>(load_f64(p, dtype));
    }
}
// Stores v rounded to the dtype (floats only).
inline void store_f64(void* p, int32_t dtype, double v) {
    switch (dtype) {
        case 3: *static_cast<double*>(p) = v; break;
        case 0: *static_cast<float*>(p) = static_cast<float>(v); break;
        case 1: *static_cast<uint16_t*>(p) = num::f32_to_f16(static_cast<float>(v)); break;
        case 2: *static_cast<uint16_t*>(p) = num::f32_to_bf16(static_cast<float>(v)); break;
        default: break;
    }
}
inline void store_f32(void* p, int32_t dtype, float v) {
    switch (dtype) {
        case 0: *static_cast<float*>(p) = v; break;
        case 1: *static_cast<uint16_t*>(p) = num::f32_to_f16(v); break;
        case 2: *static_cast<uint16_t*>(p) = num::f32_to_bf16(v); break;
        case 3: *static_cast<double*>(p) = v; break;
        default: break;
    }
}
inline size_t dtype_size(int32_t dtype) {
    switch (dtype) {
        case 3:
        case 9: return 8;
        case 0:
        case 5:
        case 8: return 4;
        case 1:
        case 2:
        case 7: return 2;
        default: return 1;
    }
}

// Converts n contiguous elements of dtype to/from f32 (for BLAS calls on half inputs).
void to_f32(const void* src, int32_t dtype, float* dst, int64_t n);
void from_f32(const float* src, void* dst, int32_t dtype, int64_t n);

}  // namespace aph::kernels
