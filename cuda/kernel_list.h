/*
 * The kernels, one line each: the single list from which every kernel table is generated.
 *
 *   X(NAME, value, descriptor type, CPU kernel, CUDA launcher)
 *
 * - kernel_abi.h makes the enum: APH_K_<NAME> = value (values are part of the module ABI: never
 *   reordered or reused; a new kernel takes the next value).
 * - runtime/kernels/cpu_launch.cpp makes the CPU dispatch: case APH_K_<NAME> calls
 *   aph::kernels::<CPU kernel>(const descriptor&, std::string&) (declared in runtime/kernels/cpu.hpp).
 * - cuda/kernel_launch.cu makes the CUDA module's dispatch: case APH_K_<NAME> checks the
 *   descriptor's size and calls aph::cuk::<CUDA launcher>(const descriptor&, ...) (declared in
 *   cuda/kernels.cuh).
 * - runtime/ops/op.hpp makes the descriptor type of each kernel, so Call::launch<APH_K_<NAME>>
 *   accepts only that kernel's descriptor.
 *
 * So a kernel added here without a CPU kernel or a CUDA launcher does not compile (the core, the
 * module), a value used twice does not compile (duplicate case values), and the operations
 * cannot hand a kernel another kernel's descriptor. Private, like kernel_abi.h.
 */
#ifndef APHELION_KERNEL_LIST_H
#define APHELION_KERNEL_LIST_H

#define APH_K_LIST(X)                                                               \
    X(MATMUL, 1, aph_k_matmul, cpu_matmul, matmul)                                  \
    X(BINARY, 2, aph_k_binary, cpu_binary, binary)                                  \
    X(UNARY, 3, aph_k_unary, cpu_unary, unary)                                      \
    X(CAST, 4, aph_k_unary, cpu_cast, cast)                                         \
    X(BIAS_ACT, 5, aph_k_bias_act, cpu_bias_act, bias_act)                          \
    X(SOFTMAX, 6, aph_k_softmax, cpu_softmax, softmax)                              \
    X(NORM, 7, aph_k_norm, cpu_norm, norm)                                          \
    X(REDUCE, 8, aph_k_reduce, cpu_reduce, reduce)                                  \
    X(ROPE, 9, aph_k_rope, cpu_rope, rope)                                          \
    X(EMBEDDING, 10, aph_k_embedding, cpu_embedding, embedding)                     \
    X(ATTENTION, 11, aph_k_attention, cpu_attention, attention)                     \
    X(QUANTIZE, 12, aph_k_quant, cpu_quantize, quantize)                            \
    X(DEQUANTIZE, 13, aph_k_quant, cpu_dequantize, dequantize)                      \
    X(TERNARY_MATMUL, 14, aph_k_ternary_matmul, cpu_ternary_matmul, ternary_matmul) \
    X(GRU_GATES, 15, aph_k_gru_gates, cpu_gru_gates, gru_gates)                     \
    X(POSITIONS, 16, aph_k_positions, cpu_positions, positions)

#endif
