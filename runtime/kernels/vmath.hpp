// Branch-free float math that GCC vectorises inside loops (the libm calls it replaces are scalar
// calls, an order of magnitude slower per element). For the kernels whose inputs make the edge
// cases harmless: see each function.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace aph::kernels::vmath {

inline uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// e^x within 2 ulp for x in [-87.33, 88.37] (Cephes' expf: x = n·ln2 + r, |r| <= ln2/2, a degree-6
// polynomial for e^r, 2^n through the exponent bits). Above that range +inf; below it 0, where
// libm would return subnormals (< 2^-126): fine for softmax and sigmoid, whose results are
// compared with sums near 1. NaN gives NaN.
inline float exp(float x) {
    constexpr float kLo = -87.3365478515625f, kHi = 88.3762626647949f;
    float xc = x < kLo ? kLo : x;  // NaN passes both comparisons unchanged
    xc = xc > kHi ? kHi : xc;
    // n = round(xc / ln2) with the 1.5·2^23 trick: the integer lands in the low mantissa bits.
    constexpr float kMagic = 12582912.0f;
    const float t = xc * 1.44269504088896341f + kMagic;
    const float n = t - kMagic;
    const uint32_t ni = bits(t) - bits(kMagic);  // two's complement n, for |n| <= 127
    // r = xc - n·ln2 in two steps (ln2 = 0.693359375 - 2.12194440e-4, the first part exact).
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = p * r * r + r + 1.0f;
    const float scale = from_bits((ni + 127u) << 23);
    const float v = y * scale;
    return x < kLo ? 0.0f : (x > kHi ? std::numeric_limits<float>::infinity() : v);
}

// 1 / (1 + e^-x), stable for large |x| (the exponential is only taken of -|x|).
inline float sigmoid(float x) {
    const float ax = x < 0.0f ? -x : x;
    const float e = exp(-ax);
    const float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;  // NaN: both comparisons false, e and s NaN
}

}  // namespace aph::kernels::vmath
