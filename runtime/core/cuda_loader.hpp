// Finds and loads the CUDA module (cuda/) at run time. libaphelion.so itself never links CUDA.
#pragma once

#include "../../cuda/module_abi.h"

#include <cstdint>
#include <string>

namespace aph::cuda {

struct State {
    bool module_built = false;  // this build produced the module
    bool module_loaded = false;
    std::string module_path;  // where it was looked for / loaded from
    bool driver_present = false;
    int32_t driver_version = 0;
    int32_t runtime_version = 0;
    int32_t device_count = 0;
    std::string reason;                        // why device_count is 0
    const aph_cuda_module_api* api = nullptr;  // non-null when loaded
};

// Loads the module and probes the driver the first time it is called (thread-safe); later calls
// return the same state. Never throws; failures are logged at info level and kept in reason.
const State& state() noexcept;

}  // namespace aph::cuda
