#include "memory.hpp"

#include "dtype.hpp"
#include "error.hpp"

namespace aph::memory {

std::string format_shape(const int64_t* shape, size_t ndim) {
    std::string s = "[";
    for (size_t i = 0; i < ndim; ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    s += "]";
    return s;
}

void check_shape(const int64_t* shape, size_t ndim, const char* shape_arg) {
    if (ndim > 0 && shape == nullptr) {
        throw invalid_argument(strprintf("%s must not be NULL when ndim is %zu", shape_arg, ndim));
    }
    for (size_t i = 0; i < ndim; ++i) {
        if (shape[i] < 0) {
            throw invalid_argument(strprintf("%s[%zu] is %lld; dimensions must be >= 0 (shape %s)", shape_arg, i,
                                             static_cast<long long>(shape[i]), format_shape(shape, ndim).c_str()));
        }
    }
}

void check_dtype(aph_dtype d, const char* dtype_arg) {
    if (!dtype::valid(d)) {
        throw invalid_argument(strprintf("%s is %d, not a valid aph_dtype", dtype_arg, static_cast<int>(d)));
    }
}

uint64_t checked_mul(uint64_t a, uint64_t b, const char* what) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        throw invalid_argument(strprintf("%s overflows 64 bits", what));
    }
    return r;
}

uint64_t checked_add(uint64_t a, uint64_t b, const char* what) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        throw invalid_argument(strprintf("%s overflows 64 bits", what));
    }
    return r;
}

uint64_t numel(const int64_t* shape, size_t ndim) {
    // A zero anywhere makes the tensor empty, however large the other dimensions are.
    for (size_t i = 0; i < ndim; ++i) {
        if (shape[i] == 0) return 0;
    }
    uint64_t n = 1;
    for (size_t i = 0; i < ndim; ++i) {
        uint64_t r;
        if (__builtin_mul_overflow(n, static_cast<uint64_t>(shape[i]), &r)) {
            throw invalid_argument(
                strprintf("the element count of shape %s overflows 64 bits", format_shape(shape, ndim).c_str()));
        }
        n = r;
    }
    return n;
}

uint64_t tensor_bytes(const int64_t* shape, size_t ndim, aph_dtype d) {
    check_shape(shape, ndim, "shape");
    check_dtype(d, "dtype");
    const uint64_t n = numel(shape, ndim);
    uint64_t bytes;
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(dtype::size(d)), &bytes)) {
        throw invalid_argument(strprintf("the byte size of a %s tensor of shape %s overflows 64 bits", dtype::name(d),
                                         format_shape(shape, ndim).c_str()));
    }
    return bytes;
}

uint64_t attention_bytes(uint64_t batch, uint64_t heads, uint64_t seq, uint64_t head_dim, aph_dtype d) {
    check_dtype(d, "dtype");
    // b·h·s·bpe·(4d + s): Q, K, V and the output (4·b·h·s·d) plus the scores (b·h·s·s).
    if (batch == 0 || heads == 0 || seq == 0) return 0;
    const char* what = "the attention memory estimate";
    uint64_t inner = checked_add(checked_mul(4, head_dim, what), seq, what);
    uint64_t r = checked_mul(batch, heads, what);
    r = checked_mul(r, seq, what);
    r = checked_mul(r, dtype::size(d), what);
    return checked_mul(r, inner, what);
}

}  // namespace aph::memory
