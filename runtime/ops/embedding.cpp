// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void embedding(aph_stream* /*stream*/, const aph_tensor* /*table*/, const aph_tensor* /*ids*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "embedding");
}

}  // namespace aph::ops
