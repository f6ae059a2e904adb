// NOT YET WRITTEN: filled in by the family owner.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

void gru_cell(aph_stream* /*stream*/, const aph_tensor* /*x*/, const aph_tensor* /*h*/, const aph_tensor* /*w_ih*/, const aph_tensor* /*w_hh*/, const aph_tensor* /*b_ih*/, const aph_tensor* /*b_hh*/, aph_tensor* /*out*/) {
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "gru_cell");
}

}  // namespace aph::ops
