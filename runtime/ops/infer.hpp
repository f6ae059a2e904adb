// One inference function per operation of header section 14: from the operands' dtypes and
// shapes and the operation's attributes to the output's dtype and shape, with every check the
// header documents (statuses and messages). Both users call the same function:
//
// - the eager operation (runtime/ops/<family>.cpp) infers, then checks the caller's `out`
//   against the result (exact dtype and shape: APH_ERR_INVALID_ARGUMENT / APH_ERR_SHAPE_MISMATCH)
//   and launches;
// - the executor (runtime/exec/builtin_ops.cpp) infers every node when it is made, from the
//   values its operands will have, so a graph that does not fit fails before anything runs.
//
// An inference reads nothing but what it is given (no tensor data, no device), so it runs the
// same for a tensor and for a value that does not exist yet. Each throws aph::Error.
#pragma once

#include "aphelion.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace aph::ops {

// What an inference sees of an operand: its name in the operation's documentation ("q",
// "weight"; messages use it), dtype and shape.
struct Operand {
    const char* name;
    aph_dtype dtype;
    std::span<const int64_t> shape;
};

// The inferred output.
struct Inferred {
    aph_dtype dtype;
    std::vector<int64_t> shape;
};

// Where the operation runs: f64 is computed on the CPU only (APH_ERR_NOT_IMPLEMENTED on CUDA).
struct Target {
    bool cuda = false;
};

// "[2, 3]".
std::string shape_str(std::span<const int64_t> shape);

// ---- dtype rules shared by the operations ------------------------------------------------------

// f32, f16, bf16, or f64 where the target computes it; otherwise APH_ERR_INVALID_ARGUMENT "{name}
// has dtype X; expected f32, f16, bf16 or f64" (or APH_ERR_NOT_IMPLEMENTED "f64 operations on
// CUDA ({name})").
void require_float(const Operand& t, const Target& target);
// Exactly `expected`: APH_ERR_INVALID_ARGUMENT "{name} has dtype X; expected Y".
void require_dtype(const Operand& t, aph_dtype expected);
// i32 or i64.
void require_index(const Operand& t);
// f64, f32, f16, bf16, i32 or i64 (f64 only where the target computes it): what cast converts.
void require_castable(const Operand& t, const Target& target);

// ---- the operations (header section 14; arguments as the C functions take them) ---------------

// aph_op_matmul: transpose flags are booleans (any non-zero is true).
Inferred infer_matmul(const Target& t, const Operand& a, const Operand& b, int transpose_a, int transpose_b);
// aph_op_linear: bias may be NULL.
Inferred infer_linear(const Target& t, const Operand& x, const Operand& weight, const Operand* bias);
// aph_op_binary (b given) and aph_op_binary_scalar (b NULL); op: the raw aph_binary_op value.
Inferred infer_binary(const Target& t, int32_t op, const Operand& a, const Operand* b);
Inferred infer_unary(const Target& t, int32_t op, const Operand& x);
Inferred infer_bias_activation(const Target& t, const Operand& x, const Operand& bias, int32_t activation);
// aph_op_softmax and aph_op_log_softmax.
Inferred infer_softmax(const Target& t, const Operand& x);
// aph_op_layer_norm (bias may be NULL) and aph_op_rms_norm (bias NULL).
Inferred infer_norm(const Target& t, const Operand& x, const Operand& weight, const Operand* bias, double eps);
// aph_op_reduce (op: the raw aph_reduce_op value) and aph_op_argmax. keepdim: any non-zero is 1.
Inferred infer_reduce(const Target& t, int32_t op, const Operand& x, int64_t dim, int keepdim);
Inferred infer_argmax(const Target& t, const Operand& x, int64_t dim, int keepdim);
// The dimension a reduction runs along, for arguments infer_reduce accepted (a 0-dim x: 0).
size_t reduced_dim(const Operand& x, int64_t dim);
Inferred infer_rope(const Target& t, const Operand& x, const Operand& positions, double theta, int32_t layout);
Inferred infer_embedding(const Target& t, const Operand& table, const Operand& ids);
// aph_op_positions: i64 [x's size along dim] (x any dtype; dim negative from the end).
Inferred infer_positions(const Target& t, const Operand& x, int64_t dim);
// aph_op_cast into dtype `to`; out_name names the output in messages ("out").
Inferred infer_cast(const Target& t, const Operand& x, aph_dtype to, const char* out_name);
// aph_op_attention: mask may be NULL; causal any non-zero is true.
Inferred infer_attention(const Target& t, const Operand& q, const Operand& k, const Operand& v, const Operand* mask,
                         double scale, int causal);
// aph_quantize: codes and scales. axis is returned as the kernels take it (-1: per tensor).
struct QuantizeInferred {
    Inferred q, scale;
    int64_t axis;
};
QuantizeInferred infer_quantize(const Target& t, int32_t scheme, const Operand& x, int64_t axis);
// aph_dequantize: out is the requested output (the caller's out tensor, or a graph node's shape
// and dtype params): its shape is the original tensor's and decides the layout q and scale must
// have. Returns out's dtype and shape once everything fits.
Inferred infer_dequantize(const Target& t, int32_t scheme, const Operand& q, const Operand& scale, int64_t axis,
                          const Operand& out);
Inferred infer_ternary_matmul(const Target& t, const Operand& x, const Operand& packed, const Operand& scale);
// aph_op_gru_cell: b_ih and b_hh may be NULL.
Inferred infer_gru_cell(const Target& t, const Operand& x, const Operand& h, const Operand& w_ih, const Operand& w_hh,
                        const Operand* b_ih, const Operand* b_hh);

}  // namespace aph::ops
