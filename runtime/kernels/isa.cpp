// Which instruction set the CPU kernels run with (vmath.hpp): the widest this processor and its
// operating system support (__builtin_cpu_supports checks both), capped by APHELION_CPU_ISA.
#include "vmath.hpp"

#include <cstdlib>
#include <cstring>

namespace aph::kernels {
namespace {

Isa detect() noexcept {
    Isa best = Isa::kGeneric;
#ifdef APH_X86_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
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
