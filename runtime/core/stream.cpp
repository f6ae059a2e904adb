#include "stream.hpp"

#include "device.hpp"
#include "device_memory.hpp"
#include "error.hpp"
#include "log.hpp"

namespace aph::stream {
namespace {

bool is_cuda(const aph_device* d) { return d->kind == APH_DEVICE_CUDA; }

// After a synchronisation: deleters of borrowed memory whose work it waited for run now, on
// this thread (rather than at the deleter thread's next poll).
void run_finished_deleters(aph_device* d) { (*d->memory).allocator.process_events(); }

}  // namespace

aph_stream* make_default(aph_device* device) {
    auto* s = new aph_stream();
    s->device = device;
    s->is_default = true;
    s->key = device->kind == APH_DEVICE_CPU
                 ? alloc::StreamKey{1, nullptr, 0}
                 : alloc::StreamKey{2u + static_cast<uint64_t>(device->ordinal), nullptr, device->ordinal};
    return s;
}

void destroy_default(aph_stream* s) noexcept { delete s; }

aph_stream* resolve(aph_device* device, aph_stream* stream) {
    if (stream == nullptr) return device->default_stream;
    if (stream->device != device) {
        throw device_mismatch(
            strprintf("a stream of %s used for work on %s", stream->device->label.c_str(), device->label.c_str()));
    }
    return stream;
}

aph_stream* create(aph_device* device) {
    void* native = nullptr;
    if (is_cuda(device)) {
        const aph_cuda_module_api& api = mem::cuda_api();
        mem::cuda_call("cudaStreamCreateWithFlags",
                       [&](char* m, size_t n) { return api.stream_create(device->ordinal, &native, m, n); });
    }
    auto* s = new aph_stream();
    s->device = device;
    device::retain(device);
    s->key = alloc::StreamKey{mem::next_stream_id(), native, device->ordinal};
    s->owned = is_cuda(device);
    return s;
}

aph_stream* wrap_cuda(aph_device* device, void* cuda_stream) {
    if (!is_cuda(device)) {
        throw invalid_argument(strprintf("device is %s; only CUDA streams can be wrapped", device->label.c_str()));
    }
    auto* s = new aph_stream();
    s->device = device;
    device::retain(device);
    // The same cudaStream_t wrapped twice gets two ids: harmless (blocks are only reused on
    // the id they were freed under), and it keeps wrapping free of global lookups.
    s->key = alloc::StreamKey{mem::next_stream_id(), cuda_stream, device->ordinal};
    s->owned = false;
    return s;
}

void retain(aph_stream* s) noexcept {
    if (s && !s->is_default) s->refs.retain();
}

void release(aph_stream* s) noexcept {
    if (s == nullptr || s->is_default || !s->refs.release()) return;
    aph_device* d = s->device;
    try {
        // Cached blocks of this stream go to the default stream once its queued work is done.
        mem::DeviceMemory& dm = (*d->memory);
        dm.allocator.retire_stream(s->key, dm.default_stream);
    } catch (const std::exception& e) {
        log::logf(APH_LOG_WARN, "aphelion::memory", "%s: retiring a stream: %s", d->label.c_str(), e.what());
    }
    if (s->owned) {
        char msg[512] = {0};
        if (mem::cuda_api().stream_destroy(d->ordinal, s->key.native, msg, sizeof msg) != 0) {
            log::logf(APH_LOG_WARN, "aphelion::device", "%s: cudaStreamDestroy: %s", d->label.c_str(), msg);
        }
    }
    delete s;
    device::release(d);
}

void synchronize(aph_stream* s) {
    if (!is_cuda(s->device)) return;
    const aph_cuda_module_api& api = mem::cuda_api();
    mem::cuda_call("cudaStreamSynchronize",
                   [&](char* m, size_t n) { return api.stream_synchronize(s->device->ordinal, s->key.native, m, n); });
    run_finished_deleters(s->device);
}

bool idle(aph_stream* s) {
    if (!is_cuda(s->device)) return true;
    int idle = 0;
    const aph_cuda_module_api& api = mem::cuda_api();
    mem::cuda_call("cudaStreamQuery",
                   [&](char* m, size_t n) { return api.stream_query(s->device->ordinal, s->key.native, &idle, m, n); });
    return idle != 0;
}

aph_event* event_create(aph_device* device) {
    void* native = nullptr;
    if (is_cuda(device)) {
        const aph_cuda_module_api& api = mem::cuda_api();
        mem::cuda_call("cudaEventCreateWithFlags",
                       [&](char* m, size_t n) { return api.event_create(device->ordinal, &native, m, n); });
    }
    auto* e = new aph_event();
    e->device = device;
    device::retain(device);
    e->native = native;
    return e;
}

void event_release(aph_event* e) noexcept {
    if (e == nullptr || !e->refs.release()) return;
    if (e->native) {
        char msg[256] = {0};
        mem::cuda_api().event_destroy(e->native, msg, sizeof msg);
    }
    aph_device* d = e->device;
    delete e;
    device::release(d);
}

void event_record(aph_event* e, aph_stream* s) {
    s = resolve(e->device, s);
    if (e->native) {
        const aph_cuda_module_api& api = mem::cuda_api();
        mem::cuda_call("cudaEventRecord", [&](char* m, size_t n) {
            return api.event_record(e->device->ordinal, e->native, s->key.native, m, n);
        });
    }
    e->recorded = true;
}

void wait_event(aph_stream* s, aph_event* e) {
    if (!e->native || !e->recorded) return;  // CPU work is already done; unrecorded: nothing to wait for
    if (!is_cuda(s->device)) {
        event_synchronize(e);  // a CPU stream runs inline: waiting means blocking here
        return;
    }
    const aph_cuda_module_api& api = mem::cuda_api();
    mem::cuda_call("cudaStreamWaitEvent", [&](char* m, size_t n) {
        return api.stream_wait_event(s->device->ordinal, s->key.native, e->native, m, n);
    });
}

void event_synchronize(aph_event* e) {
    if (!e->native || !e->recorded) return;
    const aph_cuda_module_api& api = mem::cuda_api();
    mem::cuda_call("cudaEventSynchronize", [&](char* m, size_t n) { return api.event_synchronize(e->native, m, n); });
    run_finished_deleters(e->device);
}

bool event_done(aph_event* e) {
    if (!e->native || !e->recorded) return true;
    int done = 0;
    const aph_cuda_module_api& api = mem::cuda_api();
    mem::cuda_call("cudaEventQuery", [&](char* m, size_t n) { return api.event_query(e->native, &done, m, n); });
    return done != 0;
}

void device_synchronize(aph_device* device) {
    if (!is_cuda(device)) return;
    const aph_cuda_module_api& api = mem::cuda_api();
    mem::cuda_call("cudaDeviceSynchronize",
                   [&](char* m, size_t n) { return api.device_synchronize(device->ordinal, m, n); });
    run_finished_deleters(device);
}

}  // namespace aph::stream
