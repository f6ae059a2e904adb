// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void binary(aph_stream* /*stream*/, aph_binary_op /*op*/, const aph_tensor* /*a*/, const aph_tensor* /*b*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "binary");
}

void binary_scalar(aph_stream* /*stream*/, aph_binary_op /*op*/, const aph_tensor* /*a*/, double /*scalar*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "binary_scalar");
}

void unary(aph_stream* /*stream*/, aph_unary_op /*op*/, const aph_tensor* /*x*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "unary");
}

void bias_activation(aph_stream* /*stream*/, const aph_tensor* /*x*/, const aph_tensor* /*bias*/, aph_activation /*activation*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "bias_activation");
}

void cast(aph_stream* /*stream*/, const aph_tensor* /*x*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "cast");
}

}  // namespace aph::ops
