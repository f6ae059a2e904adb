// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void quantize(aph_stream* /*stream*/, aph_quant_scheme /*scheme*/, const aph_tensor* /*x*/, int64_t /*axis*/, aph_tensor* /*out_q*/, aph_tensor* /*out_scale*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "quantize");
}

void dequantize(aph_stream* /*stream*/, aph_quant_scheme /*scheme*/, const aph_tensor* /*q*/, const aph_tensor* /*scale*/, int64_t /*axis*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "dequantize");
}

void ternary_matmul(aph_stream* /*stream*/, const aph_tensor* /*x*/, const aph_tensor* /*packed*/, const aph_tensor* /*scale*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "ternary_matmul");
}

}  // namespace aph::ops
