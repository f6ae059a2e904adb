// Dispatch from a kernel descriptor to the CPU kernel that runs it.
#include "cpu.hpp"

#include <exception>
#include <new>

namespace aph::kernels {

void to_f32(const void* src, int32_t dtype, float* dst, int64_t n) {
    const char* s = static_cast<const char*>(src);
    const size_t es = dtype_size(dtype);
    for (int64_t i = 0; i < n; ++i) dst[i] = load_f32(s + static_cast<size_t>(i) * es, dtype);
}

void from_f32(const float* src, void* dst, int32_t dtype, int64_t n) {
    char* d = static_cast<char*>(dst);
    const size_t es = dtype_size(dtype);
    for (int64_t i = 0; i < n; ++i) store_f32(d + static_cast<size_t>(i) * es, dtype, src[i]);
}

int cpu_launch(int32_t op, const void* desc, std::string& msg) noexcept {
    try {
        switch (op) {
            case APH_K_MATMUL: return cpu_matmul(*static_cast<const aph_k_matmul*>(desc), msg);
            case APH_K_BINARY: return cpu_binary(*static_cast<const aph_k_binary*>(desc), msg);
            case APH_K_UNARY: return cpu_unary(*static_cast<const aph_k_unary*>(desc), msg);
            case APH_K_CAST: return cpu_cast(*static_cast<const aph_k_unary*>(desc), msg);
            case APH_K_BIAS_ACT: return cpu_bias_act(*static_cast<const aph_k_bias_act*>(desc), msg);
            case APH_K_SOFTMAX: return cpu_softmax(*static_cast<const aph_k_softmax*>(desc), msg);
            case APH_K_NORM: return cpu_norm(*static_cast<const aph_k_norm*>(desc), msg);
            case APH_K_REDUCE: return cpu_reduce(*static_cast<const aph_k_reduce*>(desc), msg);
            case APH_K_ROPE: return cpu_rope(*static_cast<const aph_k_rope*>(desc), msg);
            case APH_K_EMBEDDING:
                return cpu_embedding(*static_cast<const aph_k_embedding*>(desc), msg);
            case APH_K_ATTENTION:
                return cpu_attention(*static_cast<const aph_k_attention*>(desc), msg);
            case APH_K_QUANTIZE: return cpu_quantize(*static_cast<const aph_k_quant*>(desc), msg);
            case APH_K_DEQUANTIZE: return cpu_dequantize(*static_cast<const aph_k_quant*>(desc), msg);
            case APH_K_TERNARY_MATMUL:
                return cpu_ternary_matmul(*static_cast<const aph_k_ternary_matmul*>(desc), msg);
            case APH_K_GRU_GATES: return cpu_gru_gates(*static_cast<const aph_k_gru_gates*>(desc), msg);
            default:
                msg = "unknown kernel " + std::to_string(op);
                return APH_K_STATUS_NOT_IMPLEMENTED;
        }
    } catch (const std::bad_alloc&) {
        msg = "host memory exhausted in a CPU kernel";
        return APH_K_STATUS_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        msg = e.what();
        return APH_K_STATUS_FAILED;
    } catch (...) {
        msg = "unknown failure in a CPU kernel";
        return APH_K_STATUS_FAILED;
    }
}

}  // namespace aph::kernels
