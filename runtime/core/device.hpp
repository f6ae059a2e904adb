// Devices (docs/compat.md section 2): the handles behind aph_device and aph_device_config.
#pragma once

#include "aphelion.h"
#include "refcount.hpp"

#include <cstdint>
#include <string>

struct aph_device_config {
    int32_t cuda_device = 0;
    bool force_cpu = false;
    std::string component = "aphelion";
};

struct aph_stream;
namespace aph::mem {
struct DeviceMemory;
}

struct aph_device {
    aph::RefCount refs;
    aph_stream* default_stream = nullptr;      // owned
    aph::mem::DeviceMemory* memory = nullptr;  // the device's allocator state (immortal)
    aph_device_kind kind = APH_DEVICE_CPU;
    int32_t ordinal = 0;
    std::string label;  // "cpu", "cuda:0"
    std::string name;   // hardware name
    uint64_t total_memory = 0;
    int32_t cc_major = 0, cc_minor = 0, multiprocessors = 0;  // CUDA
    int32_t logical_cores = 0;                                // CPU
};

namespace aph::device {

// The defaults overridden by the environment (APHELION_FORCE_CPU, APHELION_CUDA_DEVICE, ...).
aph_device_config config_from_env();

// "cpu", "cuda:3".
std::string label(aph_device_kind kind, int32_t ordinal);

// One handle per physical device while any reference is alive. Throws
// APH_ERR_DEVICE_NOT_AVAILABLE ("device not available: cuda:3") when it does not exist.
aph_device* open(aph_device_kind kind, int32_t ordinal);
void retain(aph_device* d) noexcept;
// Drops a reference; the last one reports live raw allocations (the leak report) and frees the
// handle.
void release(aph_device* d) noexcept;

aph_device* select(const aph_device_config& config);

// Free / total bytes now.
void memory_info(const aph_device& d, uint64_t* free_bytes, uint64_t* total_bytes);

// The once-per-process CPU warning (shared by select and aph_warn_if_cpu).
void warn_cpu_once(const char* component) noexcept;

int32_t count(aph_device_kind kind);

}  // namespace aph::device
