// Per-device memory state that lives for the whole process (so memory can be freed whatever
// order handles are released in): the caching allocator of each device, and the page-locked
// staging cache for CPU<->CUDA copies. Also the CUDA module calls wrapped as throwing helpers.
#pragma once

#include "aphelion.h"
#include "caching_allocator.hpp"
#include "cuda_loader.hpp"

#include <cstdint>
#include <string>

namespace aph::mem {

struct DeviceMemory {
    aph_device_kind kind;
    int32_t ordinal;
    std::string label;
    alloc::CachingAllocator allocator;
    alloc::StreamKey default_stream;  // id fixed per device; native NULL (legacy stream)
};

// The device's memory state, created on first use and never destroyed.
DeviceMemory& of(aph_device_kind kind, int32_t ordinal);

// The page-locked host cache (CUDA builds with a driver only; throws otherwise).
alloc::CachingAllocator& pinned();
// The pseudo stream that pinned blocks are pooled under.
alloc::StreamKey pinned_stream();

// A fresh process-unique stream id (for streams created or wrapped by the user).
uint64_t next_stream_id();

// The loaded CUDA module; throws APH_ERR_DEVICE_NOT_AVAILABLE when there is none.
const aph_cuda_module_api& cuda_api();

// Runs a module call f(msg, msg_len) and throws APH_ERR_BACKEND "{what}: {module message}" on
// failure.
template <class F>
void cuda_call(const char* what, F&& f);

}  // namespace aph::mem

#include "error.hpp"

namespace aph::mem {
template <class F>
void cuda_call(const char* what, F&& f) {
    char msg[512] = {0};
    if (f(msg, sizeof msg) != 0) throw Error::kind(APH_ERR_BACKEND, strprintf("%s: %s", what, msg));
}
}  // namespace aph::mem
