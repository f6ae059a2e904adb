/* The fault-injection test's control block and host-memory switch (fault_control.cpp). */
#ifndef APH_FAULT_CONTROL_H
#define APH_FAULT_CONTROL_H

#include "fault_injection.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The block libaphelion consults (runtime/core/fault_injection.h). */
extern aph_fault_injection aph_fault_injection_control;

/* Non-zero: operator new on the calling thread counts as APH_FAULT_HOST allocation points
 * (and fails when the countdown says so); 0: it does not. */
void fault_host_arm(int armed);

#ifdef __cplusplus
}
#endif

#endif
