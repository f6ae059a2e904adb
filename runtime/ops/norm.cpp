// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void softmax(aph_stream* /*stream*/, const aph_tensor* /*x*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "softmax");
}

void log_softmax(aph_stream* /*stream*/, const aph_tensor* /*x*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "log_softmax");
}

void layer_norm(aph_stream* /*stream*/, const aph_tensor* /*x*/, const aph_tensor* /*weight*/, const aph_tensor* /*bias*/, double /*eps*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "layer_norm");
}

void rms_norm(aph_stream* /*stream*/, const aph_tensor* /*x*/, const aph_tensor* /*weight*/, double /*eps*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "rms_norm");
}

}  // namespace aph::ops
