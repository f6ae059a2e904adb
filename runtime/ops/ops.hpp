// The operations of header section 14, one family per file (elementwise.cpp, matmul.cpp, ...).
// Each validates its arguments, builds a kernel descriptor and dispatches (op.hpp); each throws
// aph::Error. runtime/capi/ops.cpp wraps them in the C API's exception barrier. Enum arguments
// taken as int32_t are the raw values C callers passed (checked by the operation).
#pragma once

#include "aphelion.h"

namespace aph::ops {

void matmul(aph_stream* stream, const aph_tensor* a, const aph_tensor* b, int transpose_a, int transpose_b,
            double alpha, double beta, aph_tensor* out);
void linear(aph_stream* stream, const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, aph_tensor* out);
void binary(aph_stream* stream, int32_t op, const aph_tensor* a, const aph_tensor* b, aph_tensor* out);
void binary_scalar(aph_stream* stream, int32_t op, const aph_tensor* a, double scalar, aph_tensor* out);
void unary(aph_stream* stream, int32_t op, const aph_tensor* x, aph_tensor* out);
void bias_activation(aph_stream* stream, const aph_tensor* x, const aph_tensor* bias, int32_t activation,
                     aph_tensor* out);
void softmax(aph_stream* stream, const aph_tensor* x, aph_tensor* out);
void log_softmax(aph_stream* stream, const aph_tensor* x, aph_tensor* out);
void layer_norm(aph_stream* stream, const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, double eps,
                aph_tensor* out);
void rms_norm(aph_stream* stream, const aph_tensor* x, const aph_tensor* weight, double eps, aph_tensor* out);
void reduce(aph_stream* stream, int32_t op, const aph_tensor* x, int64_t dim, int keepdim, aph_tensor* out);
void argmax(aph_stream* stream, const aph_tensor* x, int64_t dim, int keepdim, aph_tensor* out);
void rope(aph_stream* stream, const aph_tensor* x, const aph_tensor* positions, double theta, int32_t layout,
          aph_tensor* out);
void embedding(aph_stream* stream, const aph_tensor* table, const aph_tensor* ids, aph_tensor* out);
void cast(aph_stream* stream, const aph_tensor* x, aph_tensor* out);
void attention(aph_stream* stream, const aph_tensor* q, const aph_tensor* k, const aph_tensor* v,
               const aph_tensor* mask, double scale, int causal, aph_tensor* out);
void quantize(aph_stream* stream, int32_t scheme, const aph_tensor* x, int64_t axis, aph_tensor* out_q,
              aph_tensor* out_scale);
void dequantize(aph_stream* stream, int32_t scheme, const aph_tensor* q, const aph_tensor* scale, int64_t axis,
                aph_tensor* out);
void ternary_matmul(aph_stream* stream, const aph_tensor* x, const aph_tensor* packed, const aph_tensor* scale,
                    aph_tensor* out);
void positions(aph_stream* stream, const aph_tensor* x, int64_t dim, aph_tensor* out);
void gru_cell(aph_stream* stream, const aph_tensor* x, const aph_tensor* h, const aph_tensor* w_ih,
              const aph_tensor* w_hh, const aph_tensor* b_ih, const aph_tensor* b_hh, aph_tensor* out);

}  // namespace aph::ops
