// Scalar number formats shared by the CPU kernels and the CUDA module: f16, bf16 and the two fp8
// formats as raw bits, converted to and from float by bit manipulation (round to nearest even,
// NaN kept quiet). APH_HD marks functions usable on both sides.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define APH_HD __host__ __device__ __forceinline__
#else
#define APH_HD inline
#endif

namespace aph::num {

APH_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
#endif
}
APH_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
}

// bf16: the top 16 bits of an f32.
APH_HD float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }
APH_HD uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                                       // round to nearest even
    return static_cast<uint16_t>(u >> 16);
}

// IEEE binary16.
APH_HD float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13));  // inf / NaN
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        // subnormal: normalise
        int e = -1;
        do {
            ++e;
            man <<= 1;
        } while ((man & 0x400u) == 0);
        man &= 0x3ffu;
        return bits_f32(sign | (static_cast<uint32_t>(112 - e) << 23) | (man << 13));
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}
APH_HD uint16_t f32_to_f16(float f) {
    const uint32_t u = f32_bits(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
    if (a < 0x38800000u) {                                               // subnormal or zero in f16
        if (a < 0x33000000u) return sign;                                // below half the smallest subnormal
        const uint32_t e = a >> 23;
        const uint32_t m = (a & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126u - e;  // 14 + (113 - e) - ... : m >> (shift) gives units of 2^-24
        const uint32_t q = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1u);
        uint32_t r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
        return static_cast<uint16_t>(sign | r);
    }
    uint32_t r = a - 0x38000000u;  // rebias 127 -> 15
    r += 0xfffu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
}

// fp8 e4m3 (OCP "FN": no inf, NaN = 0x7f/0xff, largest finite 448) and e5m2 (IEEE-like,
// largest finite 57344). Encoding saturates to the largest finite value; NaN stays NaN.
APH_HD float fp8_to_f32(uint8_t v, bool e4m3) {
    const uint32_t sign = static_cast<uint32_t>(v & 0x80u) << 24;
    if (e4m3) {
        const uint32_t exp = (v >> 3) & 0xfu, man = v & 0x7u;
        if (exp == 0xf && man == 0x7) return bits_f32(sign | 0x7fc00000u);
        if (exp == 0) {
            float m = static_cast<float>(man) * (1.0f / 8.0f) * (1.0f / 64.0f);  // 2^-6 · man/8
            return sign ? -m : m;
        }
        return bits_f32(sign | ((exp + 120u) << 23) | (man << 20));
    }
    return f16_to_f32(static_cast<uint16_t>(static_cast<uint16_t>(v) << 8));
}
APH_HD uint8_t f32_to_fp8(float f, bool e4m3) {
    const uint32_t u = f32_bits(f);
    const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);  // NaN (both formats)
    if (e4m3) {
        const float x = bits_f32(a);
        if (x >= 448.0f) return static_cast<uint8_t>(sign | 0x7eu);
        if (x < 0.015625f) {  // below 2^-6: subnormal, units of 2^-9
            const float scaled = x * 512.0f;
            uint32_t q = static_cast<uint32_t>(scaled);
            const float rem = scaled - static_cast<float>(q);
            if (rem > 0.5f || (rem == 0.5f && (q & 1u))) ++q;
            return static_cast<uint8_t>(sign | q);  // q == 8 is the smallest normal: correct bits
        }
        uint32_t r = a - (120u << 23);  // rebias 127 -> 7
        r += 0x7ffffu + ((r >> 20) & 1u);
        uint32_t out = r >> 20;
        if (out > 0x7eu) out = 0x7eu;
        return static_cast<uint8_t>(sign | out);
    }
    // e5m2 is f16 with 8 fewer mantissa bits: round the f16 bits to nearest even.
    if (bits_f32(a) >= 57344.0f) return static_cast<uint8_t>(sign | 0x7bu);
    const uint16_t h = f32_to_f16(bits_f32(a));  // exact or rounded once...
    // ...rounding twice (f32 -> f16 -> e5m2) can differ from rounding once only on exact ties
    // created by the first rounding; decide ties from the f32 value itself.
    uint16_t lo = static_cast<uint16_t>(h & 0xff00u), hi = static_cast<uint16_t>(lo + 0x100u);
    const float flo = f16_to_f32(lo), fhi = f16_to_f32(hi), x = bits_f32(a);
    uint16_t pick;
    if (x - flo < fhi - x) pick = lo;
    else if (x - flo > fhi - x)
        pick = hi;
    else
        pick = ((lo >> 8) & 1u) ? hi : lo;
    uint8_t out = static_cast<uint8_t>(pick >> 8);
    if (out > 0x7bu) out = 0x7bu;
    return static_cast<uint8_t>(sign | out);
}

}  // namespace aph::num
