// C API, section 14: the operations. Each is an exception barrier around aph::ops.
#include "../core/error.hpp"
#include "../ops/ops.hpp"

#include <cstdint>
#include <cstring>

namespace {
// The integer a C caller passed for an enum parameter, read through memcpy: C callers may pass
// any int (which the operation rejects with APH_ERR_INVALID_ARGUMENT), while in C++ loading an
// enum-typed value outside the enum's range is undefined (UBSan's -fsanitize=enum stops there).
template <class E>
int32_t enum_int(const E& e) {
    static_assert(sizeof(E) == sizeof(int32_t), "C enums are int-sized");
    int32_t v;
    std::memcpy(&v, &e, sizeof v);
    return v;
}
}  // namespace

extern "C" {

APH_API aph_status aph_op_matmul(const aph_tensor* a, const aph_tensor* b, int transpose_a, int transpose_b,
                                 double alpha, double beta, aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::matmul(stream, a, b, transpose_a, transpose_b, alpha, beta, out); });
}

APH_API aph_status aph_op_linear(const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, aph_tensor* out,
                                 aph_stream* stream) {
    return aph::guard([&] { aph::ops::linear(stream, x, weight, bias, out); });
}

APH_API aph_status aph_op_binary(aph_binary_op op, const aph_tensor* a, const aph_tensor* b, aph_tensor* out,
                                 aph_stream* stream) {
    return aph::guard([&] { aph::ops::binary(stream, enum_int(op), a, b, out); });
}

APH_API aph_status aph_op_binary_scalar(aph_binary_op op, const aph_tensor* a, double scalar, aph_tensor* out,
                                        aph_stream* stream) {
    return aph::guard([&] { aph::ops::binary_scalar(stream, enum_int(op), a, scalar, out); });
}

APH_API aph_status aph_op_unary(aph_unary_op op, const aph_tensor* x, aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::unary(stream, enum_int(op), x, out); });
}

APH_API aph_status aph_op_bias_activation(const aph_tensor* x, const aph_tensor* bias, aph_activation activation,
                                          aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::bias_activation(stream, x, bias, enum_int(activation), out); });
}

APH_API aph_status aph_op_softmax(const aph_tensor* x, aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::softmax(stream, x, out); });
}

APH_API aph_status aph_op_log_softmax(const aph_tensor* x, aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::log_softmax(stream, x, out); });
}

APH_API aph_status aph_op_layer_norm(const aph_tensor* x, const aph_tensor* weight, const aph_tensor* bias, double eps,
                                     aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::layer_norm(stream, x, weight, bias, eps, out); });
}

APH_API aph_status aph_op_rms_norm(const aph_tensor* x, const aph_tensor* weight, double eps, aph_tensor* out,
                                   aph_stream* stream) {
    return aph::guard([&] { aph::ops::rms_norm(stream, x, weight, eps, out); });
}

APH_API aph_status aph_op_reduce(aph_reduce_op op, const aph_tensor* x, int64_t dim, int keepdim, aph_tensor* out,
                                 aph_stream* stream) {
    return aph::guard([&] { aph::ops::reduce(stream, enum_int(op), x, dim, keepdim, out); });
}

APH_API aph_status aph_op_argmax(const aph_tensor* x, int64_t dim, int keepdim, aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::argmax(stream, x, dim, keepdim, out); });
}

APH_API aph_status aph_op_rope(const aph_tensor* x, const aph_tensor* positions, double theta, aph_rope_layout layout,
                               aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::rope(stream, x, positions, theta, enum_int(layout), out); });
}

APH_API aph_status aph_op_embedding(const aph_tensor* table, const aph_tensor* ids, aph_tensor* out,
                                    aph_stream* stream) {
    return aph::guard([&] { aph::ops::embedding(stream, table, ids, out); });
}

APH_API aph_status aph_op_positions(const aph_tensor* x, int64_t dim, aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::positions(stream, x, dim, out); });
}

APH_API aph_status aph_op_cast(const aph_tensor* x, aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::cast(stream, x, out); });
}

APH_API aph_status aph_op_attention(const aph_tensor* q, const aph_tensor* k, const aph_tensor* v,
                                    const aph_tensor* mask, double scale, int causal, aph_tensor* out,
                                    aph_stream* stream) {
    return aph::guard([&] { aph::ops::attention(stream, q, k, v, mask, scale, causal, out); });
}

APH_API aph_status aph_quantize(aph_quant_scheme scheme, const aph_tensor* x, int64_t axis, aph_tensor* out_q,
                                aph_tensor* out_scale, aph_stream* stream) {
    return aph::guard([&] { aph::ops::quantize(stream, enum_int(scheme), x, axis, out_q, out_scale); });
}

APH_API aph_status aph_dequantize(aph_quant_scheme scheme, const aph_tensor* q, const aph_tensor* scale, int64_t axis,
                                  aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::dequantize(stream, enum_int(scheme), q, scale, axis, out); });
}

APH_API aph_status aph_op_ternary_matmul(const aph_tensor* x, const aph_tensor* packed, const aph_tensor* scale,
                                         aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::ternary_matmul(stream, x, packed, scale, out); });
}

APH_API aph_status aph_op_gru_cell(const aph_tensor* x, const aph_tensor* h, const aph_tensor* w_ih,
                                   const aph_tensor* w_hh, const aph_tensor* b_ih, const aph_tensor* b_hh,
                                   aph_tensor* out, aph_stream* stream) {
    return aph::guard([&] { aph::ops::gru_cell(stream, x, h, w_ih, w_hh, b_ih, b_hh, out); });
}

}  // extern "C"
