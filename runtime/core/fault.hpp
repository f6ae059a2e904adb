// Test-only fault injection at the library's allocation points (see fault_injection.h).
//
// Built with APHELION_FAULT_INJECTION (CMake option of the same name, OFF by default), inject()
// asks the test program's control block whether this allocation must fail. Otherwise it is a
// constant false and the checks compile away: release builds carry no hook.
#pragma once

#include "fault_injection.h"

namespace aph::fault {

enum Kind : int {
    kDevice = APH_FAULT_DEVICE,
    kTracker = APH_FAULT_TRACKER,
    kMapping = APH_FAULT_MAPPING,
};

#ifdef APHELION_FAULT_INJECTION
bool inject(Kind kind) noexcept;
#else
constexpr bool inject(Kind) noexcept { return false; }
#endif

}  // namespace aph::fault
