// Positions (header section 14): out = [0, 1, ..., n - 1] (i64) with n the size of one dimension
// of x, whose values are not read (kernels: cpu_positions.cpp, cuda/k_positions.cu). A graph
// node `positions` gives a transformer's position ids for whatever sequence length its input
// has, which no fixed-shape constant can.
#include "op.hpp"
#include "ops.hpp"

namespace aph::ops {

Inferred infer_positions(const Target& t, const Operand& x, int64_t dim) {
    (void)t;  // any dtype, on every device: x is only measured
    const size_t d = normalize_dim(dim, x.shape.size(), "dim");
    return Inferred{APH_DTYPE_I64, {x.shape[d]}};
}

void positions(aph_stream* stream, const aph_tensor* x, int64_t dim, aph_tensor* out) {
    require(x, "x");
    require(out, "out");
    Call call(stream, {x, out});
    const Inferred r = infer_positions(call.target(), operand(x, "x"), dim);
    Output o(call, out, "out", r.dtype, r.shape);
    if (r.shape[0] == 0) return;
    aph_k_positions k{};
    k.out = call.kt_as(o.target(), r.shape, {1});
    call.launch<APH_K_POSITIONS>(k);
    o.finish();
}

}  // namespace aph::ops
