// Which instruction set the CPU kernels run with (vmath.hpp): the widest this processor and its
// operating system support (__builtin_cpu_supports checks both), capped by APHELION_CPU_ISA.
#include "vmath.hpp"

#include <cstdlib>
#include <cstring>

#ifdef APH_X86_DISPATCH
#include <cpuid.h>
#endif

namespace aph::kernels {
namespace {

Isa detect() noexcept {
    Isa best = Isa::kGeneric;
#ifdef APH_X86_DISPATCH
    __builtin_cpu_init();
    // F16C from CPUID (leaf 1, ECX bit 29): Clang 14's __builtin_cpu_supports does not know
    // "f16c"; the AVX2 check already covers the operating system's YMM state.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) {
        best = Isa::kAvx2;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
            best = Isa::kAvx512;
        }
    }
#endif
    // A cap for testing and for comparing paths: "generic", "avx2" or "avx512" (anything else is
    // ignored). It never raises the level above what the processor has.
    if (const char* v = std::getenv("APHELION_CPU_ISA")) {
        Isa cap = best;
        if (std::strcmp(v, "generic") == 0) cap = Isa::kGeneric;
        else if (std::strcmp(v, "avx2") == 0)
            cap = Isa::kAvx2;
        else if (std::strcmp(v, "avx512") == 0)
            cap = Isa::kAvx512;
        if (static_cast<int>(cap) < static_cast<int>(best)) best = cap;
    }
    return best;
}

}  // namespace

Isa cpu_isa() noexcept {
    static const Isa isa = detect();
    return isa;
}

}  // namespace aph::kernels
