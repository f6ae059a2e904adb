// The fault-injection test's side of the control block (runtime/core/fault_injection.h): the
// block itself, exported from the test program for the library to find, and a replacement of
// the global operator new and delete that counts, and fails on request, the host allocations of
// everything in the process (libaphelion, libstdc++, nlohmann-json) made on the thread that
// armed it. Every form of new and delete goes through malloc and free, so the sanitizers'
// allocation checks and LeakSanitizer see all of it.
#include "fault_control.h"

#include <cstddef>
#include <cstdlib>
#include <new>

extern "C" {
// Exported (-Wl,--export-dynamic-symbol): libaphelion finds it with dlsym.
__attribute__((visibility("default"))) aph_fault_injection aph_fault_injection_control;
}

namespace {

thread_local bool t_host_armed = false;

void* host_alloc(std::size_t n, std::size_t align, bool nothrow) {
    if (t_host_armed && aph_fault_injection_hit(&aph_fault_injection_control, APH_FAULT_HOST)) {
        if (nothrow) return nullptr;
        throw std::bad_alloc();
    }
    if (n == 0) n = 1;
    void* p = nullptr;
    if (align <= alignof(std::max_align_t)) {
        p = std::malloc(n);
    } else if (posix_memalign(&p, align, n) != 0) {
        p = nullptr;
    }
    if (p == nullptr && !nothrow) throw std::bad_alloc();
    return p;
}

}  // namespace

extern "C" void fault_host_arm(int armed) { t_host_armed = armed != 0; }

void* operator new(std::size_t n) { return host_alloc(n, 0, false); }
void* operator new[](std::size_t n) { return host_alloc(n, 0, false); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return host_alloc(n, 0, true); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return host_alloc(n, 0, true); }
void* operator new(std::size_t n, std::align_val_t a) { return host_alloc(n, static_cast<std::size_t>(a), false); }
void* operator new[](std::size_t n, std::align_val_t a) { return host_alloc(n, static_cast<std::size_t>(a), false); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return host_alloc(n, static_cast<std::size_t>(a), true);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return host_alloc(n, static_cast<std::size_t>(a), true);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
