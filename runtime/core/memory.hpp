// Memory estimates (docs/compat.md section 3), with overflow and negative dimensions as errors.
#pragma once

#include "aphelion.h"

#include <cstdint>
#include <string>

namespace aph::memory {

// "[2, 3]": docs/compat.md's shape format.
std::string format_shape(const int64_t* shape, size_t ndim);

// Checks shape (NULL only with ndim 0, no negative dimension) and dtype; throws
// APH_ERR_INVALID_ARGUMENT naming the argument. shape_arg is the parameter name for messages.
void check_shape(const int64_t* shape, size_t ndim, const char* shape_arg);
void check_dtype(aph_dtype dtype, const char* dtype_arg);

// product(shape) elements; throws APH_ERR_INVALID_ARGUMENT on overflow.
uint64_t numel(const int64_t* shape, size_t ndim);

uint64_t tensor_bytes(const int64_t* shape, size_t ndim, aph_dtype dtype);
uint64_t attention_bytes(uint64_t batch, uint64_t heads, uint64_t seq, uint64_t head_dim, aph_dtype dtype);

// a*b, a+b or throws "invalid argument: {what} overflows 64 bits".
uint64_t checked_mul(uint64_t a, uint64_t b, const char* what);
uint64_t checked_add(uint64_t a, uint64_t b, const char* what);

}  // namespace aph::memory
