// From a kernel descriptor to the family launcher that queues it (module ABI v3, kernel_launch).
#include "kernels.cuh"

namespace aph::cuk {

void put(char* msg, size_t len, const char* fmt, ...) {
    if (msg == nullptr || len == 0) return;
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(msg, len, fmt, args);
    va_end(args);
}

int check(cudaError_t err, const char* what, char* msg, size_t len) {
    if (err == cudaSuccess) return 0;
    consume(err);  // reported here: it must not fail the thread's next launch (last_error.h)
    put(msg, len, "%s failed: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
    return err == cudaErrorMemoryAllocation ? APH_K_STATUS_OUT_OF_MEMORY : APH_K_STATUS_FAILED;
}

namespace {
template <class D>
const D* as(const void* desc, size_t size) {
    return size == sizeof(D) ? static_cast<const D*>(desc) : nullptr;
}
}  // namespace

int launch(int32_t op, const void* desc, size_t size, cudaStream_t s, char* msg, size_t len) {
#define APH_K_CASE(id, type, fn)                                                           \
    case id: {                                                                             \
        const type* d = as<type>(desc, size);                                              \
        if (d == nullptr) {                                                                \
            put(msg, len, "kernel %d: descriptor of %zu bytes, expected %zu", op, size,    \
                sizeof(type));                                                             \
            return APH_K_STATUS_FAILED;                                                    \
        }                                                                                  \
        return fn(*d, s, msg, len);                                                        \
    }
    switch (op) {
        APH_K_CASE(APH_K_MATMUL, aph_k_matmul, matmul)
        APH_K_CASE(APH_K_BINARY, aph_k_binary, binary)
        APH_K_CASE(APH_K_UNARY, aph_k_unary, unary)
        APH_K_CASE(APH_K_CAST, aph_k_unary, cast)
        APH_K_CASE(APH_K_BIAS_ACT, aph_k_bias_act, bias_act)
        APH_K_CASE(APH_K_SOFTMAX, aph_k_softmax, softmax)
        APH_K_CASE(APH_K_NORM, aph_k_norm, norm)
        APH_K_CASE(APH_K_REDUCE, aph_k_reduce, reduce)
        APH_K_CASE(APH_K_ROPE, aph_k_rope, rope)
        APH_K_CASE(APH_K_EMBEDDING, aph_k_embedding, embedding)
        APH_K_CASE(APH_K_ATTENTION, aph_k_attention, attention)
        APH_K_CASE(APH_K_QUANTIZE, aph_k_quant, quantize)
        APH_K_CASE(APH_K_DEQUANTIZE, aph_k_quant, dequantize)
        APH_K_CASE(APH_K_TERNARY_MATMUL, aph_k_ternary_matmul, ternary_matmul)
        APH_K_CASE(APH_K_GRU_GATES, aph_k_gru_gates, gru_gates)
        default:
            put(msg, len, "unknown kernel %d", op);
            return APH_K_STATUS_NOT_IMPLEMENTED;
    }
#undef APH_K_CASE
}

}  // namespace aph::cuk
