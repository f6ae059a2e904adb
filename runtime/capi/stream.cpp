// C API, section 10: streams and events.
#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/stream.hpp"

extern "C" {

APH_API aph_stream* aph_device_default_stream(aph_device* device) { return device ? device->default_stream : nullptr; }

APH_API aph_status aph_stream_create(aph_device* device, aph_stream** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = aph::stream::create(device);
    });
}

APH_API aph_status aph_stream_wrap_cuda(aph_device* device, void* cuda_stream, aph_stream** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = aph::stream::wrap_cuda(device, cuda_stream);
    });
}

APH_API void aph_stream_retain(aph_stream* stream) { aph::stream::retain(stream); }
APH_API void aph_stream_release(aph_stream* stream) { aph::stream::release(stream); }

APH_API aph_device* aph_stream_device(const aph_stream* stream) { return stream ? stream->device : nullptr; }

APH_API void* aph_stream_cuda_handle(const aph_stream* stream) {
    return stream && stream->device->kind == APH_DEVICE_CUDA ? stream->key.native : nullptr;
}

APH_API aph_status aph_stream_synchronize(aph_stream* stream) {
    return aph::guard([&] {
        aph::require_arg(stream, "stream");
        aph::stream::synchronize(stream);
    });
}

APH_API aph_status aph_stream_query(aph_stream* stream, int* out_idle) {
    return aph::guard([&] {
        aph::require_arg(stream, "stream");
        aph::require_arg(out_idle, "out_idle");
        *out_idle = aph::stream::idle(stream) ? 1 : 0;
    });
}

APH_API aph_status aph_device_synchronize(aph_device* device) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::stream::device_synchronize(device);
    });
}

APH_API aph_status aph_event_create(aph_device* device, aph_event** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = aph::stream::event_create(device);
    });
}

APH_API void aph_event_retain(aph_event* event) {
    if (event) event->refs.retain();
}

APH_API void aph_event_release(aph_event* event) { aph::stream::event_release(event); }

APH_API aph_status aph_event_record(aph_event* event, aph_stream* stream) {
    return aph::guard([&] {
        aph::require_arg(event, "event");
        aph::stream::event_record(event, stream);
    });
}

APH_API aph_status aph_stream_wait_event(aph_stream* stream, aph_event* event) {
    return aph::guard([&] {
        aph::require_arg(event, "event");
        aph::stream::wait_event(stream ? stream : event->device->default_stream, event);
    });
}

APH_API aph_status aph_event_synchronize(aph_event* event) {
    return aph::guard([&] {
        aph::require_arg(event, "event");
        aph::stream::event_synchronize(event);
    });
}

APH_API aph_status aph_event_query(aph_event* event, int* out_done) {
    return aph::guard([&] {
        aph::require_arg(event, "event");
        aph::require_arg(out_done, "out_done");
        *out_done = aph::stream::event_done(event) ? 1 : 0;
    });
}

}  // extern "C"
