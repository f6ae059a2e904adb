/*
 * Kernel descriptors: what the core hands to a kernel, on either device. Plain C structs shared
 * by the core's CPU kernels (runtime/kernels/), the CUDA module (cuda/) and the simulated CUDA
 * module of the tests. Private, like module_abi.h: never installed.
 *
 * The core validates everything before building a descriptor (dtypes, shapes, devices), so a
 * kernel may trust it: shapes are consistent, pointers are valid for the elements the shapes and
 * strides reach, and tensors documented "contiguous" are row-major without gaps. A zero-size
 * launch never reaches a kernel. Strides count elements. dtype holds an aph_dtype value.
 */
#ifndef APHELION_KERNEL_ABI_H
#define APHELION_KERNEL_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "kernel_list.h"

#ifdef __cplusplus
extern "C" {
#endif

#define APH_K_MAX_DIMS 16

typedef struct aph_kt {
    void* data;    /* first element; NULL for an absent optional tensor */
    int32_t dtype; /* aph_dtype */
    int32_t ndim;
    int64_t shape[APH_K_MAX_DIMS];
    int64_t strides[APH_K_MAX_DIMS];
} aph_kt;

/* The kernels (kernel_list.h: the one list every kernel table is generated from). */
typedef enum aph_k_op {
#define APH_K_ENUM_ENTRY(name, value, desc, cpu, cuda) APH_K_##name = value,
    APH_K_LIST(APH_K_ENUM_ENTRY)
#undef APH_K_ENUM_ENTRY
} aph_k_op;

/* out[b] = alpha · a[b] · b[b] + beta · out[b] (+ bias broadcast over rows), all 3-D:
 * a [batch, M, K], b [batch, K, N], out [batch, M, N] contiguous. For a and b, one of the last
 * two strides is 1 (row-major or column-major matrices: transposes are stride swaps), the other
 * is at least the matching dimension (at least 1); the batch stride may be 0 (broadcast).
 * bias: [N] contiguous or data NULL; added after alpha/beta (linear layers use alpha 1, beta 0).
 * out never overlaps a or b. */
typedef struct aph_k_matmul {
    aph_kt a, b, out, bias;
    double alpha, beta;
} aph_k_matmul;

/* Elementwise over out's shape: a and b have out's ndim and shape with broadcast (0) strides
 * where they broadcast; any strides. b.data NULL: the right operand is scalar. op: aph_binary_op.
 * out may be exactly a or b (same data and strides) but overlaps them in no other way. */
typedef struct aph_k_binary {
    int32_t op;
    int32_t reserved;
    double scalar;
    aph_kt a, b, out;
} aph_k_binary;

/* out = op(x) (APH_K_UNARY, op: aph_unary_op) or out = (dtype of out) x (APH_K_CAST, op
 * ignored), over out's shape; x has out's shape, any strides; in place allowed as for binary. */
typedef struct aph_k_unary {
    int32_t op;
    int32_t reserved;
    aph_kt x, out;
} aph_k_unary;

/* out = act(x + bias): x and out contiguous [rows, n] (may be the same memory), bias [n].
 * act: aph_activation. */
typedef struct aph_k_bias_act {
    int32_t act;
    int32_t reserved;
    int64_t rows, n;
    aph_kt x, bias, out;
} aph_k_bias_act;

/* Row-wise over contiguous [rows, n]: softmax (log 0) or log-softmax (log 1). */
typedef struct aph_k_softmax {
    int32_t log;
    int32_t reserved;
    int64_t rows, n;
    aph_kt x, out;
} aph_k_softmax;

/* Row-wise over contiguous [rows, n]: layer norm (rms 0) or RMS norm (rms 1); weight [n],
 * bias [n] or data NULL (always NULL for rms). */
typedef struct aph_k_norm {
    int32_t rms;
    int32_t reserved;
    double eps;
    int64_t rows, n;
    aph_kt x, weight, bias, out;
} aph_k_norm;

/* x contiguous, viewed as [outer, n, inner]; out contiguous [outer, inner].
 * op 0 sum, 1 mean, 2 max (aph_reduce_op), 3 argmax (out i64). n >= 1 for max/argmax. */
typedef struct aph_k_reduce {
    int32_t op;
    int32_t reserved;
    int64_t outer, n, inner;
    aph_kt x, out;
} aph_k_reduce;

/* x and out [batch, seq, heads, head_dim], any strides, may be the same memory;
 * positions [batch, seq] (batch stride 0 when shared), i32 or i64. layout: aph_rope_layout. */
typedef struct aph_k_rope {
    int32_t layout;
    int32_t reserved;
    double theta;
    aph_kt x, positions, out;
} aph_k_rope;

/* out [n, dim] contiguous = table [vocab, dim] contiguous rows gathered by ids [n] contiguous
 * (i32 or i64). An id outside [0, vocab): CPU reports it (APH_K_STATUS_BAD_INDEX), CUDA writes
 * a zero row. */
typedef struct aph_k_embedding {
    aph_kt table, ids, out;
} aph_k_embedding;

/* The largest head_dim the attention kernels take (both devices). The operation refuses larger
 * ones before launching (APH_ERR_NOT_IMPLEMENTED); the CUDA launcher checks it again. */
#define APH_K_ATTENTION_MAX_HEAD_DIM 256

/* q [B, Sq, Hq, D], k and v [B, Sk, Hkv, D], out [B, Sq, Hq, D]: any strides, but the last
 * stride of each is 1; 1 <= D <= APH_K_ATTENTION_MAX_HEAD_DIM. mask: 4-D [B, Hq, Sq, Sk] with broadcast strides, or data NULL.
 * scale > 0 (already resolved). causal: key j is masked for query i when j > i + Sk - Sq. */
typedef struct aph_k_attention {
    aph_kt q, k, v, mask, out;
    double scale;
    int32_t causal;
    int32_t reserved;
} aph_k_attention;

/* Quantize (x -> q, scale) and dequantize ((q, scale) -> x); every tensor contiguous.
 * scheme: aph_quant_scheme. axis: INT8 only, -1 per tensor, else the channel dimension of x
 * (x.shape/ndim give the layout). The CUDA kernels may use scale as scratch while quantizing. */
typedef struct aph_k_quant {
    int32_t scheme;
    int32_t reserved;
    int64_t axis;
    aph_kt x, q, scale;
} aph_k_quant;

/* out [M, N] contiguous = x [M, K] contiguous · unpack(packed [N, ceil(K/4)])ᵀ · scale[0]. */
typedef struct aph_k_ternary_matmul {
    aph_kt x, packed, scale, out;
} aph_k_ternary_matmul;

/* GRU gates: gi, gh [B, 3H] contiguous (biases already added), h, out [B, H] contiguous. */
typedef struct aph_k_gru_gates {
    aph_kt gi, gh, h, out;
} aph_k_gru_gates;

/* out [n] contiguous i64 = 0, 1, ..., n - 1 (the positions along one dimension of a tensor). */
typedef struct aph_k_positions {
    aph_kt out;
} aph_k_positions;

/* Kernel statuses besides 0 (success). */
#define APH_K_STATUS_FAILED 1 /* message says what failed */
#define APH_K_STATUS_NOT_IMPLEMENTED 2
#define APH_K_STATUS_BAD_INDEX 3 /* embedding id out of range (CPU) */
#define APH_K_STATUS_OUT_OF_MEMORY 4

#ifdef __cplusplus
}
#endif

#endif
