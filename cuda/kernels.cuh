// Shared by the CUDA kernel files (cuda/k_*.cu): the launcher of each kernel family, dtype
// dispatch, element loads/stores in f32, and error reporting. Every launcher queues work on
// `stream` (the caller made the right device current) and returns 0 or an APH_K_STATUS_* code
// with a message; it checks the launch with cudaGetLastError and never synchronises.
#pragma once

#include "kernel_abi.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>

namespace aph::cuk {

// printf into msg (at most len bytes).
void put(char* msg, size_t len, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// A failing runtime call's err is the thread's last error until cudaGetLastError resets it: once
// reported (or deliberately ignored) it is consumed, so the thread's next launch does not see
// it (module.cu also clears before each launch; cuda/last_error.h has the whole policy).
inline void consume(cudaError_t err) {
    if (err != cudaSuccess) (void)cudaGetLastError();
}

// APH_K_STATUS_FAILED with "{what} failed: {error string} ({error name})" unless err is success
// (consumed).
int check(cudaError_t err, const char* what, char* msg, size_t len);
// The last launch error, as check.
inline int check_launch(const char* kernel, char* msg, size_t len) {
    return check(cudaGetLastError(), kernel, msg, len);
}

// Families, one per file.
int matmul(const aph_k_matmul& d, cudaStream_t s, char* msg, size_t len);
int binary(const aph_k_binary& d, cudaStream_t s, char* msg, size_t len);
int unary(const aph_k_unary& d, cudaStream_t s, char* msg, size_t len);
int cast(const aph_k_unary& d, cudaStream_t s, char* msg, size_t len);
int bias_act(const aph_k_bias_act& d, cudaStream_t s, char* msg, size_t len);
int softmax(const aph_k_softmax& d, cudaStream_t s, char* msg, size_t len);
int norm(const aph_k_norm& d, cudaStream_t s, char* msg, size_t len);
int reduce(const aph_k_reduce& d, cudaStream_t s, char* msg, size_t len);
int rope(const aph_k_rope& d, cudaStream_t s, char* msg, size_t len);
int embedding(const aph_k_embedding& d, cudaStream_t s, char* msg, size_t len);
int attention(const aph_k_attention& d, cudaStream_t s, char* msg, size_t len);
int quantize(const aph_k_quant& d, cudaStream_t s, char* msg, size_t len);
int dequantize(const aph_k_quant& d, cudaStream_t s, char* msg, size_t len);
int ternary_matmul(const aph_k_ternary_matmul& d, cudaStream_t s, char* msg, size_t len);
int gru_gates(const aph_k_gru_gates& d, cudaStream_t s, char* msg, size_t len);
int positions(const aph_k_positions& d, cudaStream_t s, char* msg, size_t len);

// Dispatch entry (kernel_launch.cu).
int launch(int32_t op, const void* desc, size_t desc_size, cudaStream_t s, char* msg, size_t len);

// Element loads and stores through f32 (T: float, __half, __nv_bfloat16; double never reaches
// CUDA).
template <class T>
__device__ __forceinline__ float ld(const T* p);
template <>
__device__ __forceinline__ float ld<float>(const float* p) {
    return *p;
}
template <>
__device__ __forceinline__ float ld<__half>(const __half* p) {
    return __half2float(*p);
}
template <>
__device__ __forceinline__ float ld<__nv_bfloat16>(const __nv_bfloat16* p) {
    return __bfloat162float(*p);
}

template <class T>
__device__ __forceinline__ void st(T* p, float v);
template <>
__device__ __forceinline__ void st<float>(float* p, float v) {
    *p = v;
}
template <>
__device__ __forceinline__ void st<__half>(__half* p, float v) {
    *p = __float2half_rn(v);
}
template <>
__device__ __forceinline__ void st<__nv_bfloat16>(__nv_bfloat16* p, float v) {
    *p = __float2bfloat16_rn(v);
}

// Calls f(T{}) with T the element type of a floating dtype (f32, f16, bf16); returns
// APH_K_STATUS_NOT_IMPLEMENTED with a message for any other dtype.
template <class F>
int dispatch_float(int32_t dtype, char* msg, size_t len, F&& f) {
    switch (dtype) {
        case 0: return f(float{});
        case 1: return f(__half{});
        case 2: return f(__nv_bfloat16{});
        default:
            put(msg, len, "dtype %d is not supported by this CUDA kernel", static_cast<int>(dtype));
            return APH_K_STATUS_NOT_IMPLEMENTED;
    }
}

// Grid size for a grid-stride loop over n items with `threads` per block.
inline unsigned grid_for(int64_t n, int threads) {
    const int64_t want = (n + threads - 1) / threads;
    return static_cast<unsigned>(want < 65535 * 8 ? (want > 0 ? want : 1) : 65535 * 8);
}

}  // namespace aph::cuk
