// Internal to the matrix-product family (matmul.cpp), shared with the GRU cell (gru.cpp).
#pragma once

#include "op.hpp"

namespace aph::ops {

// Queues out = x · weightᵀ (+ bias) on the call, for arguments the caller has validated: x
// [..., K] (any strides; its leading dimensions are the rows), weight [N, K], bias [N] or NULL,
// all of one dtype; out a contiguous kernel target holding rows·N elements (any shape), of x's
// dtype or wider (f32 for half inputs, so that the GRU gates read unrounded pre-activations).
// rows and N must be non-zero; K may be 0 (out = bias, or zeros).
void launch_linear(Call& call, const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, aph_tensor* out);

}  // namespace aph::ops
