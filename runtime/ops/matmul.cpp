// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void matmul(aph_stream* /*stream*/, const aph_tensor* /*a*/, const aph_tensor* /*b*/, int /*transpose_a*/, int /*transpose_b*/, double /*alpha*/, double /*beta*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "matmul");
}

void linear(aph_stream* /*stream*/, const aph_tensor* /*x*/, const aph_tensor* /*weight*/, const aph_tensor* /*bias*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "linear");
}

}  // namespace aph::ops
