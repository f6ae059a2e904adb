/* Test-only fault injection: the control block shared by libaphelion (built with the CMake
 * option APHELION_FAULT_INJECTION=ON) and the test that drives it (tests/fault/).
 *
 * Why a control block in the test program rather than a function of the library: a release
 * build carries no hook at all (runtime/core/fault.hpp compiles every check to `false`), and a
 * fault-injection build exports exactly the same symbols as a release build (the ABI checks
 * hold for it too). The test program defines and exports (-Wl,--export-dynamic-symbol) one
 * object named APH_FAULT_INJECTION_SYMBOL; the library looks it up once with dlsym and, when it
 * is there, consults it at each allocation point of a kind:
 *
 *   APH_FAULT_HOST     host memory of the C++ runtime (operator new): counted and failed by the
 *                      test program's own replacement of operator new (it sees every
 *                      allocation of the library, libstdc++ and nlohmann-json), on the thread
 *                      that armed it; the library has no hook of its own for it
 *   APH_FAULT_DEVICE   a segment requested by a device's caching allocator from its backend
 *                      (CPU memory, CUDA memory, page-locked staging memory)
 *   APH_FAULT_TRACKER  a charge to a memory tracker (a device's budget, an executor's plan,
 *                      aph_tracker_allocate, aph_build_context_allocate)
 *   APH_FAULT_MAPPING  a file mapping (safetensors files)
 *
 * countdown[kind] > 0 arms the kind: each allocation point reached decrements it and the one
 * that brings it to 0 fails (once; later ones succeed). seen[kind] counts the allocation points
 * reached while the block exists, failed[kind] the failures injected. Fields are accessed with
 * the GCC/Clang __atomic builtins on both sides. */
#ifndef APHELION_FAULT_INJECTION_H
#define APHELION_FAULT_INJECTION_H

#include <stdint.h>

#define APH_FAULT_INJECTION_SYMBOL "aph_fault_injection_control"

enum { APH_FAULT_HOST = 0, APH_FAULT_DEVICE = 1, APH_FAULT_TRACKER = 2, APH_FAULT_MAPPING = 3, APH_FAULT_KINDS = 4 };

typedef struct aph_fault_injection {
    int64_t countdown[APH_FAULT_KINDS];
    int64_t seen[APH_FAULT_KINDS];
    int64_t failed[APH_FAULT_KINDS];
} aph_fault_injection;

/* The decision at one allocation point of a kind: 1 when it must fail. */
static inline int aph_fault_injection_hit(aph_fault_injection* c, int kind) {
    __atomic_fetch_add(&c->seen[kind], 1, __ATOMIC_RELAXED);
    int64_t left = __atomic_load_n(&c->countdown[kind], __ATOMIC_RELAXED);
    while (left > 0) {
        if (__atomic_compare_exchange_n(&c->countdown[kind], &left, left - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            if (left == 1) {
                __atomic_fetch_add(&c->failed[kind], 1, __ATOMIC_RELAXED);
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

#endif /* APHELION_FAULT_INJECTION_H */
