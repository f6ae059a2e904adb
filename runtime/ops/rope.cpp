// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void rope(aph_stream* /*stream*/, const aph_tensor* /*x*/, const aph_tensor* /*positions*/, double /*theta*/, aph_rope_layout /*layout*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "rope");
}

}  // namespace aph::ops
