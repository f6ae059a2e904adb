// aph_op_gru_cell (header section 14): checks, then the two products gi = x·w_ihᵀ + b_ih and
// gh = h·w_hhᵀ + b_hh into temporaries [batch, 3·hidden] through the linear layer's kernel path
// (matmul.hpp), then the gates in one fused kernel (APH_K_GRU_GATES).
//
// The temporaries are f32 for f32/f16/bf16 (f64 for f64): the gates read unrounded
// pre-activations, so a half-precision cell is rounded once, when out is stored.
#include "matmul.hpp"
#include "ops.hpp"

#include <algorithm>

namespace aph::ops {

Inferred infer_gru_cell(const Target& t, const Operand& x, const Operand& h, const Operand& w_ih, const Operand& w_hh,
                        const Operand* b_ih, const Operand* b_hh) {
    require_float(x, t);
    require_dtype(h, x.dtype);
    require_dtype(w_ih, x.dtype);
    require_dtype(w_hh, x.dtype);
    if (b_ih != nullptr) require_dtype(*b_ih, x.dtype);
    if (b_hh != nullptr) require_dtype(*b_hh, x.dtype);

    auto need_2d = [](const Operand& o, const char* layout) {
        if (o.shape.size() != 2) {
            throw_dims(strprintf("%s has shape %s; the GRU cell needs %s %s", o.name, shape_str(o.shape).c_str(),
                                 o.name, layout));
        }
    };
    need_2d(x, "[batch, input]");
    need_2d(h, "[batch, hidden]");
    need_2d(w_ih, "[3·hidden, input]");
    need_2d(w_hh, "[3·hidden, hidden]");
    const int64_t B = x.shape[0], I = x.shape[1], H = h.shape[1];
    if (h.shape[0] != B) {
        throw_dims(strprintf("%s %s and %s %s: batch sizes %lld and %lld differ", x.name, shape_str(x.shape).c_str(),
                             h.name, shape_str(h.shape).c_str(), static_cast<long long>(B),
                             static_cast<long long>(h.shape[0])));
    }
    auto need_shape = [&](const Operand* o, const std::vector<int64_t>& want, const char* what) {
        if (o != nullptr && !std::equal(o->shape.begin(), o->shape.end(), want.begin(), want.end())) {
            throw_dims(strprintf("%s has shape %s; %s %s and %s %s need %s %s (%s)", o->name,
                                 shape_str(o->shape).c_str(), x.name, shape_str(x.shape).c_str(), h.name,
                                 shape_str(h.shape).c_str(), o->name, shape_str(want).c_str(), what));
        }
    };
    need_shape(&w_ih, {3 * H, I}, "[3·hidden, input]");
    need_shape(&w_hh, {3 * H, H}, "[3·hidden, hidden]");
    need_shape(b_ih, {3 * H}, "[3·hidden]");
    need_shape(b_hh, {3 * H}, "[3·hidden]");
    return Inferred{x.dtype, {B, H}};
}

void gru_cell(aph_stream* stream, const aph_tensor* x, const aph_tensor* h, const aph_tensor* w_ih,
              const aph_tensor* w_hh, const aph_tensor* b_ih, const aph_tensor* b_hh, aph_tensor* out) {
    require(x, "x");
    require(h, "h");
    require(w_ih, "w_ih");
    require(w_hh, "w_hh");
    require(out, "out");
    Call call(stream, {x, h, w_ih, w_hh, b_ih, b_hh, out});
    const Inferred r = infer_gru_cell(call.target(), operand(x, "x"), operand(h, "h"), operand(w_ih, "w_ih"),
                                      operand(w_hh, "w_hh"), ptr(optional_operand(b_ih, "b_ih")),
                                      ptr(optional_operand(b_hh, "b_hh")));
    const int64_t B = r.shape[0], H = r.shape[1];

    require_no_overlap(out, "out", x, "x", false);
    require_no_overlap(out, "out", h, "h", false);
    require_no_overlap(out, "out", w_ih, "w_ih", false);
    require_no_overlap(out, "out", w_hh, "w_hh", false);
    require_no_overlap(out, "out", b_ih, "b_ih", false);
    require_no_overlap(out, "out", b_hh, "b_hh", false);
    Output o(call, out, "out", r.dtype, r.shape);
    if (B == 0 || H == 0) return;

    const aph_dtype acc = x->dtype == APH_DTYPE_F64 ? APH_DTYPE_F64 : APH_DTYPE_F32;
    aph_tensor* gi = call.temp(acc, {B, 3 * H});
    aph_tensor* gh = call.temp(acc, {B, 3 * H});
    launch_linear(call, x, w_ih, b_ih, gi);
    launch_linear(call, h, w_hh, b_hh, gh);

    aph_k_gru_gates d{};
    d.gi = call.kt(gi);
    d.gh = call.kt(gh);
    d.h = call.kt_as(call.contiguous(h), {B, H}, {H, 1});
    d.out = call.kt_as(o.target(), {B, H}, {H, 1});
    call.launch<APH_K_GRU_GATES>(d);
    o.finish();
}

}  // namespace aph::ops
