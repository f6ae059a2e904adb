// C API, section 4: dtypes and precision modes.
#include "../core/dtype.hpp"
#include "../core/error.hpp"

namespace {
bool valid_mode(aph_precision_mode m) {
    return static_cast<int>(m) >= APH_PRECISION_FULL && static_cast<int>(m) <= APH_PRECISION_FP16;
}
}  // namespace

extern "C" {

APH_API size_t aph_dtype_size(aph_dtype dtype) { return aph::dtype::size(dtype); }
APH_API int aph_dtype_is_floating_point(aph_dtype dtype) { return aph::dtype::is_floating_point(dtype); }
APH_API int aph_dtype_is_half_precision(aph_dtype dtype) { return aph::dtype::is_half_precision(dtype); }
APH_API int aph_dtype_is_training(aph_dtype dtype) { return aph::dtype::is_training(dtype); }
APH_API int aph_dtype_is_integer(aph_dtype dtype) { return aph::dtype::is_integer(dtype); }
APH_API aph_dtype aph_dtype_accumulator(aph_dtype dtype) { return aph::dtype::accumulator(dtype); }
APH_API const char* aph_dtype_name(aph_dtype dtype) { return aph::dtype::name(dtype); }

APH_API aph_status aph_dtype_from_name(const char* name, aph_dtype* out) {
    return aph::guard([&] {
        aph::require_arg(name, "name");
        aph::require_arg(out, "out");
        const auto d = aph::dtype::from_name(name);
        if (!d) throw aph::Error::raw(APH_ERR_INVALID_ARGUMENT, std::string("Unknown dtype: ") + name);
        *out = *d;
    });
}

APH_API aph_dtype aph_precision_compute_dtype(aph_precision_mode mode) {
    switch (mode) {
        case APH_PRECISION_FULL: return APH_DTYPE_F32;
        case APH_PRECISION_BF16: return APH_DTYPE_BF16;
        case APH_PRECISION_FP16: return APH_DTYPE_F16;
    }
    return APH_DTYPE_INVALID;
}

APH_API aph_dtype aph_precision_master_weight_dtype(aph_precision_mode mode) {
    return valid_mode(mode) ? APH_DTYPE_F32 : APH_DTYPE_INVALID;
}

APH_API int aph_precision_requires_loss_scaling(aph_precision_mode mode) { return mode == APH_PRECISION_FP16; }

}  // extern "C"
