// Rotary position embedding (header section 14). The kernels (cpu_rope.cpp, cuda/k_rope.cu)
// read x and write out through their own strides, so neither is copied: rope is typically
// applied in place to q and k views of one fused projection, which are not contiguous.
#include "op.hpp"
#include "ops.hpp"

#include "../core/dtype.hpp"

#include <cmath>

namespace aph::ops {

Inferred infer_rope(const Target& t, const Operand& x, const Operand& positions, double theta, int32_t layout) {
    require_float(x, t);
    require_index(positions);
    if (!(theta > 0.0) || !std::isfinite(theta)) {
        throw invalid_argument(strprintf("theta must be positive and finite, got %g", theta));
    }
    if (layout != APH_ROPE_INTERLEAVED && layout != APH_ROPE_HALF) {
        throw invalid_argument(strprintf("layout %d is not an aph_rope_layout", static_cast<int>(layout)));
    }
    if (x.shape.size() != 4) {
        throw_dims(strprintf("%s %s must be [batch, seq, heads, head_dim]", x.name, shape_str(x.shape).c_str()));
    }
    const int64_t B = x.shape[0], S = x.shape[1], D = x.shape[3];
    if (D % 2 != 0) {
        throw_dims(strprintf("%s %s has an odd head_dim (%lld); rope rotates pairs", x.name, shape_str(x.shape).c_str(),
                             static_cast<long long>(D)));
    }
    const std::span<const int64_t> ps = positions.shape;
    const bool shared = ps.size() == 1 && ps[0] == S;
    const bool per_batch = ps.size() == 2 && ps[0] == B && ps[1] == S;
    if (!shared && !per_batch) {
        throw_dims(strprintf("%s %s does not fit %s %s (expected [%lld] or [%lld, %lld])", positions.name,
                             shape_str(ps).c_str(), x.name, shape_str(x.shape).c_str(), static_cast<long long>(S),
                             static_cast<long long>(B), static_cast<long long>(S)));
    }
    return Inferred{x.dtype, {x.shape.begin(), x.shape.end()}};
}

void rope(aph_stream* stream, const aph_tensor* x, const aph_tensor* positions, double theta, int32_t layout,
          aph_tensor* out) {
    require(x, "x");
    require(positions, "positions");
    require(out, "out");
    Call call(stream, {x, positions, out});
    const Inferred r = infer_rope(call.target(), operand(x, "x"), operand(positions, "positions"), theta, layout);
    require_output(out, "out", r.dtype, r.shape);
    const int64_t B = x->shape[0], S = x->shape[1];
    const bool shared = positions->shape.size() == 1;
    require_no_overlap(out, "out", x, "x", true);
    require_no_overlap(out, "out", positions, "positions", false);
    if (x->numel == 0) return;

    aph_k_rope d{};
    d.layout = layout;
    d.theta = theta;
    d.x = call.kt(x);
    d.out = call.kt(out);
    // positions as [batch, seq]: a shared [seq] tensor repeats over the batch with stride 0.
    d.positions = shared ? call.kt_as(positions, {B, S}, {0, positions->strides[0]}) : call.kt(positions);
    call.launch<APH_K_ROPE>(d);
}

}  // namespace aph::ops
