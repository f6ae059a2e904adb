// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void reduce(aph_stream* /*stream*/, aph_reduce_op /*op*/, const aph_tensor* /*x*/, int64_t /*dim*/, int /*keepdim*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "reduce");
}

void argmax(aph_stream* /*stream*/, const aph_tensor* /*x*/, int64_t /*dim*/, int /*keepdim*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "argmax");
}

}  // namespace aph::ops
