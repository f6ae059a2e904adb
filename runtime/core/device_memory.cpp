#include "device_memory.hpp"

#include "deleter_thread.hpp"
#include "device.hpp"
#include "error.hpp"
#include "host_info.hpp"
#include "log.hpp"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>

namespace aph::mem {
namespace {

// CPU memory: 64-byte aligned segments from the C library.
class CpuBackend final : public alloc::Backend {
public:
    void* raw_alloc(size_t bytes, std::string& why) override {
        void* p = nullptr;
        const int rc = posix_memalign(&p, 64, bytes);
        if (rc != 0) {
            why = "posix_memalign could not provide the memory";
            return nullptr;
        }
        return p;
    }
    void raw_free(void* ptr, size_t) noexcept override { std::free(ptr); }
    void* record_event(const alloc::StreamKey&) override { return nullptr; }
    bool event_done(void*) override { return true; }
    void destroy_event(void*) noexcept override {}
    std::string capacity_note() override {
        const host::Memory m = host::memory();
        return strprintf("%llu bytes free of %llu on the host", static_cast<unsigned long long>(m.free_bytes),
                         static_cast<unsigned long long>(m.total_bytes));
    }
};

// Events for the CUDA backends: recorded on the block's stream through the module.
class CudaEvents : public alloc::Backend {
public:
    void* record_event(const alloc::StreamKey& s) override {
        const aph_cuda_module_api& api = cuda_api();
        void* ev = nullptr;
        cuda_call("cudaEventCreate", [&](char* m, size_t n) { return api.event_create(s.ordinal, &ev, m, n); });
        try {
            cuda_call("cudaEventRecord",
                      [&](char* m, size_t n) { return api.event_record(s.ordinal, ev, s.native, m, n); });
        } catch (...) {
            api.event_destroy(ev, nullptr, 0);
            throw;
        }
        return ev;
    }
    bool event_done(void* ev) override {
        int done = 0;
        char msg[256] = {0};
        if (cuda_api().event_query(ev, &done, msg, sizeof msg) != 0) {
            // A failed query (a sticky device error) never completes; the block stays held.
            log::logf(APH_LOG_WARN, "aphelion::memory", "event query failed: %s", msg);
            return false;
        }
        return done != 0;
    }
    void destroy_event(void* ev) noexcept override {
        char msg[256] = {0};
        cuda_api().event_destroy(ev, msg, sizeof msg);
    }
};

class CudaDeviceBackend final : public CudaEvents {
public:
    explicit CudaDeviceBackend(int32_t ordinal) : ordinal_(ordinal) {}
    void* raw_alloc(size_t bytes, std::string& why) override {
        void* p = nullptr;
        int oom = 0;
        char msg[512] = {0};
        if (cuda_api().mem_alloc(ordinal_, bytes, &p, &oom, msg, sizeof msg) != 0) {
            if (oom) {
                why = msg;
                return nullptr;
            }
            throw Error::kind(APH_ERR_BACKEND, strprintf("cuda:%d: %s", ordinal_, msg));
        }
        return p;
    }
    void raw_free(void* ptr, size_t bytes) noexcept override {
        char msg[512] = {0};
        if (cuda_api().mem_free(ordinal_, ptr, msg, sizeof msg) != 0) {
            log::logf(APH_LOG_WARN, "aphelion::memory", "cuda:%d: freeing %zu bytes: %s", ordinal_, bytes, msg);
        }
    }
    std::string capacity_note() override {
        uint64_t f = 0, t = 0;
        char msg[256] = {0};
        if (cuda_api().memory_info(ordinal_, &f, &t, msg, sizeof msg) != 0) return "";
        return strprintf("%llu bytes free of %llu on the device", static_cast<unsigned long long>(f),
                         static_cast<unsigned long long>(t));
    }

private:
    int32_t ordinal_;
};

class PinnedBackend final : public CudaEvents {
public:
    void* raw_alloc(size_t bytes, std::string& why) override {
        void* p = nullptr;
        int oom = 0;
        char msg[512] = {0};
        if (cuda_api().host_alloc(bytes, &p, &oom, msg, sizeof msg) != 0) {
            if (oom) {
                why = msg;
                return nullptr;
            }
            throw Error::kind(APH_ERR_BACKEND, strprintf("pinned host memory: %s", msg));
        }
        return p;
    }
    void raw_free(void* ptr, size_t bytes) noexcept override {
        char msg[512] = {0};
        if (cuda_api().host_free(ptr, msg, sizeof msg) != 0) {
            log::logf(APH_LOG_WARN, "aphelion::memory", "freeing %zu pinned bytes: %s", bytes, msg);
        }
    }
};

struct Registry {
    std::mutex mutex;
    std::map<std::pair<int, int32_t>, DeviceMemory*> devices;
};

Registry& registry() {
    static Registry* r = new Registry();  // leaked: memory may be freed during static destruction
    return *r;
}

std::atomic<uint64_t> g_next_stream_id{1u << 20};

}  // namespace

const aph_cuda_module_api& cuda_api() {
    const cuda::State& s = cuda::state();
    if (s.api == nullptr) throw device_not_available(strprintf("cuda (%s)", s.reason.c_str()));
    return *s.api;
}

DeviceMemory& of(aph_device_kind kind, int32_t ordinal) {
    Registry& r = registry();
    const log::Defer defer;  // cuda_api() may load the module, which logs: after the unlock
    std::lock_guard lock(r.mutex);
    const auto key = std::make_pair(static_cast<int>(kind), ordinal);
    if (auto it = r.devices.find(key); it != r.devices.end()) return *it->second;
    std::unique_ptr<alloc::Backend> backend;
    if (kind == APH_DEVICE_CPU) {
        backend = std::make_unique<CpuBackend>();
    } else {
        cuda_api();
        backend = std::make_unique<CudaDeviceBackend>(ordinal);
    }
    const std::string lbl = device::label(kind, ordinal);
    // Default streams: id 1 for the CPU, 2 + ordinal for CUDA devices.
    alloc::StreamKey def{kind == APH_DEVICE_CPU ? 1u : 2u + static_cast<uint64_t>(ordinal), nullptr, ordinal};
    auto* dm = new DeviceMemory{kind, ordinal, lbl, alloc::CachingAllocator(std::move(backend), lbl), def};
    // Deleters of borrowed CUDA memory that wait for stream work: the deleter thread makes sure
    // they run once it is done, even if the program makes no further call (device allocators
    // live for the rest of the process, as the thread needs).
    if (kind == APH_DEVICE_CUDA) dm->allocator.set_deferred_hook(&deleters::watch);
    r.devices.emplace(key, dm);
    return *dm;
}

alloc::CachingAllocator& pinned() {
    const log::Defer defer;  // cuda_api() may load the module, which logs: after the initialisation
    static alloc::CachingAllocator* p = [] {
        cuda_api();
        return new alloc::CachingAllocator(std::make_unique<PinnedBackend>(), "pinned host");
    }();
    return *p;
}

alloc::StreamKey pinned_stream() { return alloc::StreamKey{0, nullptr, 0}; }

uint64_t next_stream_id() { return g_next_stream_id.fetch_add(1, std::memory_order_relaxed); }

}  // namespace aph::mem
