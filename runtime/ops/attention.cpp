// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void attention(aph_stream* /*stream*/, const aph_tensor* /*q*/, const aph_tensor* /*k*/, const aph_tensor* /*v*/, const aph_tensor* /*mask*/, double /*scale*/, int /*causal*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "attention");
}

}  // namespace aph::ops
