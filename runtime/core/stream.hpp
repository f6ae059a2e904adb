// Streams and events (header section 10): the handles behind aph_stream and aph_event.
#pragma once

#include "aphelion.h"
#include "caching_allocator.hpp"
#include "refcount.hpp"

#include <atomic>

struct aph_stream {
    aph::RefCount refs;
    aph_device* device = nullptr;  // retained, except by a device's own default stream
    aph::alloc::StreamKey key;     // key.native: the cudaStream_t (NULL: legacy default)
    bool owned = false;            // created here: destroyed with the last reference
    bool is_default = false;       // owned by its device; retain/release do nothing
};

struct aph_event {
    aph::RefCount refs;
    aph_device* device = nullptr;  // retained
    void* native = nullptr;        // cudaEvent_t; NULL on the CPU
    std::atomic<bool> recorded{false};
};

namespace aph::stream {

// The default stream object a device handle owns (created with the handle).
aph_stream* make_default(aph_device* device);
void destroy_default(aph_stream* s) noexcept;

// stream, or the device's default stream when stream is NULL. Throws DEVICE_MISMATCH when the
// stream belongs to another device.
aph_stream* resolve(aph_device* device, aph_stream* stream);

aph_stream* create(aph_device* device);
aph_stream* wrap_cuda(aph_device* device, void* cuda_stream);
void retain(aph_stream* s) noexcept;
void release(aph_stream* s) noexcept;
void synchronize(aph_stream* s);
bool idle(aph_stream* s);

aph_event* event_create(aph_device* device);
void event_release(aph_event* e) noexcept;
void event_record(aph_event* e, aph_stream* s);
void wait_event(aph_stream* s, aph_event* e);
void event_synchronize(aph_event* e);
bool event_done(aph_event* e);

void device_synchronize(aph_device* device);

}  // namespace aph::stream
