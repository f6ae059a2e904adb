// Test-only fault injection (built with APHELION_FAULT_INJECTION only; see fault_injection.h).
#include "fault.hpp"

#include <dlfcn.h>

namespace aph::fault {

namespace {

aph_fault_injection* control() noexcept {
    // Looked up once: the test program defines the block before it makes its first call.
    static aph_fault_injection* const c = static_cast<aph_fault_injection*>(
        dlsym(RTLD_DEFAULT, APH_FAULT_INJECTION_SYMBOL));
    return c;
}

}  // namespace

bool inject(Kind kind) noexcept {
    aph_fault_injection* c = control();
    return c != nullptr && aph_fault_injection_hit(c, kind) != 0;
}

}  // namespace aph::fault
