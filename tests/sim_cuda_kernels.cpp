// The simulated CUDA module's kernels: the core's CPU kernels, run on the simulated device's host
// memory, so the CUDA dispatch path of every operation (descriptors, temporaries, streams,
// record_stream, output stand-ins) is exercised on machines without a GPU.
#include "../runtime/kernels/cpu.hpp"

#include <cstdio>
#include <string>

extern "C" int sim_run_kernel(int32_t op, const void* desc, char* msg, size_t len) {
    std::string m;
    const int rc = aph::kernels::cpu_launch(op, desc, m);
    if (rc != 0 && msg != nullptr && len > 0) std::snprintf(msg, len, "%s", m.c_str());
    return rc;
}
