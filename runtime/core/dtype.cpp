#include "dtype.hpp"

namespace aph::dtype {

const char* name(aph_dtype d) noexcept {
    switch (d) {
        case APH_DTYPE_F32: return "f32";
        case APH_DTYPE_F16: return "f16";
        case APH_DTYPE_BF16: return "bf16";
        case APH_DTYPE_F64: return "f64";
        case APH_DTYPE_U8: return "u8";
        case APH_DTYPE_U32: return "u32";
        case APH_DTYPE_I8: return "i8";
        case APH_DTYPE_I16: return "i16";
        case APH_DTYPE_I32: return "i32";
        case APH_DTYPE_I64: return "i64";
        case APH_DTYPE_BOOL: return "bool";
        case APH_DTYPE_F8E4M3: return "f8e4m3";
        case APH_DTYPE_F8E5M2: return "f8e5m2";
        case APH_DTYPE_INVALID: break;
    }
    return "invalid";
}

std::optional<aph_dtype> from_name(std::string_view n) noexcept {
    struct Entry {
        std::string_view name;
        aph_dtype dtype;
    };
    // Canonical names, then rust-ai-core's aliases, then libaphelion's own (PyTorch's spelling).
    static constexpr Entry table[] = {
        {"f32", APH_DTYPE_F32},
        {"f16", APH_DTYPE_F16},
        {"bf16", APH_DTYPE_BF16},
        {"f64", APH_DTYPE_F64},
        {"u8", APH_DTYPE_U8},
        {"u32", APH_DTYPE_U32},
        {"i8", APH_DTYPE_I8},
        {"i16", APH_DTYPE_I16},
        {"i32", APH_DTYPE_I32},
        {"i64", APH_DTYPE_I64},
        {"bool", APH_DTYPE_BOOL},
        {"f8e4m3", APH_DTYPE_F8E4M3},
        {"f8e5m2", APH_DTYPE_F8E5M2},
        {"float16", APH_DTYPE_F16},
        {"bfloat16", APH_DTYPE_BF16},
        {"float32", APH_DTYPE_F32},
        {"float", APH_DTYPE_F32},
        {"float64", APH_DTYPE_F64},
        {"double", APH_DTYPE_F64},
        {"uint8", APH_DTYPE_U8},
        {"uint32", APH_DTYPE_U32},
        {"int16", APH_DTYPE_I16},
        {"int32", APH_DTYPE_I32},
        {"int", APH_DTYPE_I32},
        {"int64", APH_DTYPE_I64},
        {"long", APH_DTYPE_I64},
        {"int8", APH_DTYPE_I8},
        {"float8_e4m3fn", APH_DTYPE_F8E4M3},
        {"float8_e5m2", APH_DTYPE_F8E5M2},
    };
    for (const Entry& e : table) {
        if (e.name == n) return e.dtype;
    }
    return std::nullopt;
}

}  // namespace aph::dtype
