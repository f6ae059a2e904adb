// Element-type facts (docs/compat.md section 4). Shared by every part of the runtime.
#pragma once

#include "aphelion.h"

#include <cstddef>
#include <optional>
#include <string_view>

namespace aph::dtype {

constexpr bool valid(aph_dtype d) noexcept {
    return static_cast<int>(d) >= APH_DTYPE_F32 && static_cast<int>(d) <= APH_DTYPE_F8E5M2;
}

constexpr size_t size(aph_dtype d) noexcept {
    switch (d) {
        case APH_DTYPE_F64:
        case APH_DTYPE_I64: return 8;
        case APH_DTYPE_F32:
        case APH_DTYPE_U32:
        case APH_DTYPE_I32: return 4;
        case APH_DTYPE_F16:
        case APH_DTYPE_BF16:
        case APH_DTYPE_I16: return 2;
        case APH_DTYPE_U8:
        case APH_DTYPE_I8:
        case APH_DTYPE_BOOL:
        case APH_DTYPE_F8E4M3:
        case APH_DTYPE_F8E5M2: return 1;
        case APH_DTYPE_INVALID: return 0;
    }
    return 0;
}

constexpr bool is_floating_point(aph_dtype d) noexcept {
    switch (d) {
        case APH_DTYPE_F16:
        case APH_DTYPE_BF16:
        case APH_DTYPE_F32:
        case APH_DTYPE_F64:
        case APH_DTYPE_F8E4M3:
        case APH_DTYPE_F8E5M2: return true;
        default: return false;
    }
}

constexpr bool is_half_precision(aph_dtype d) noexcept { return d == APH_DTYPE_F16 || d == APH_DTYPE_BF16; }

constexpr bool is_training(aph_dtype d) noexcept {
    return d == APH_DTYPE_F16 || d == APH_DTYPE_BF16 || d == APH_DTYPE_F32;
}

constexpr bool is_integer(aph_dtype d) noexcept {
    switch (d) {
        case APH_DTYPE_U8:
        case APH_DTYPE_U32:
        case APH_DTYPE_I8:
        case APH_DTYPE_I16:
        case APH_DTYPE_I32:
        case APH_DTYPE_I64: return true;
        default: return false;
    }
}

constexpr aph_dtype accumulator(aph_dtype d) noexcept {
    if (!valid(d)) return APH_DTYPE_INVALID;
    if (d == APH_DTYPE_F64) return APH_DTYPE_F64;
    if (is_floating_point(d)) return APH_DTYPE_F32;
    return APH_DTYPE_I64;  // integers and bool
}

const char* name(aph_dtype d) noexcept;
std::optional<aph_dtype> from_name(std::string_view name) noexcept;

}  // namespace aph::dtype
