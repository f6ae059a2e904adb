#include "device.hpp"

#include "cuda_loader.hpp"
#include "device_memory.hpp"
#include "stream.hpp"
#include "env.hpp"
#include "error.hpp"
#include "host_info.hpp"
#include "log.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <utility>

namespace aph::device {
namespace {

constexpr const char* kTarget = "aphelion::device";

// Open devices, weakly: an entry does not keep its device alive. Leaked on purpose so that a
// device released during static destruction still finds it.
struct Registry {
    std::mutex mutex;
    std::map<std::pair<int, int32_t>, aph_device*> open;
};

Registry& registry() {
    static Registry* r = new Registry();
    return *r;
}

std::atomic<bool> g_cpu_warned{false};

// A handle make_device built that is not handed out after all (a later step failed).
void discard(aph_device* d) noexcept {
    if (d->default_stream) stream::destroy_default(d->default_stream);
    delete d;
}

// Builds a new handle with the device's properties. Throws when the device does not exist.
aph_device* make_device(aph_device_kind kind, int32_t ordinal) {
    const std::string lbl = label(kind, ordinal);
    if (kind == APH_DEVICE_CPU) {
        if (ordinal != 0) {
            log::logf(APH_LOG_INFO, kTarget, "%s: the CPU device is ordinal 0", lbl.c_str());
            throw device_not_available(lbl);
        }
        auto* d = new aph_device();
        try {
            d->kind = kind;
            d->ordinal = 0;
            d->label = lbl;
            d->name = host::cpu_model_name();
            d->logical_cores = host::logical_cores();
            d->total_memory = host::memory().total_bytes;
            d->default_stream = stream::make_default(d);
            d->memory = &mem::of(kind, 0);
        } catch (...) {
            discard(d);
            throw;
        }
        return d;
    }
    const cuda::State& cs = cuda::state();
    if (ordinal >= cs.device_count) {
        if (cs.device_count == 0) {
            log::logf(APH_LOG_INFO, kTarget, "%s not available: %s", lbl.c_str(), cs.reason.c_str());
        } else {
            log::logf(APH_LOG_INFO, kTarget, "%s not available: %d CUDA device(s) present", lbl.c_str(),
                      cs.device_count);
        }
        throw device_not_available(lbl);
    }
    aph_cuda_module_device props{};
    char msg[512] = {0};
    if (cs.api->device_properties(ordinal, &props, msg, sizeof msg) != 0) {
        log::logf(APH_LOG_INFO, kTarget, "%s not available: %s", lbl.c_str(), msg);
        throw device_not_available(lbl);
    }
    auto* d = new aph_device();
    try {
        d->kind = kind;
        d->ordinal = ordinal;
        d->label = lbl;
        d->name = props.name;
        d->cc_major = props.cc_major;
        d->cc_minor = props.cc_minor;
        d->multiprocessors = props.multiprocessors;
        d->total_memory = props.total_memory;
        d->default_stream = stream::make_default(d);
        d->memory = &mem::of(kind, ordinal);
    } catch (...) {
        discard(d);
        throw;
    }
    return d;
}

}  // namespace

std::string label(aph_device_kind kind, int32_t ordinal) {
    if (kind == APH_DEVICE_CPU && ordinal == 0) return "cpu";
    return std::string(kind == APH_DEVICE_CPU ? "cpu:" : "cuda:") + std::to_string(ordinal);
}

aph_device_config config_from_env() {
    aph_device_config c;
    if (const char* var = env::forcing_cpu_variable()) {
        c.force_cpu = true;
        log::logf(APH_LOG_DEBUG, kTarget, "CPU forced by %s", var);
    }
    if (auto o = env::cuda_device()) {
        c.cuda_device = o->value;
        log::logf(APH_LOG_DEBUG, kTarget, "CUDA device %d from %s", o->value, o->variable);
    }
    return c;
}

aph_device* open(aph_device_kind kind, int32_t ordinal) {
    Registry& r = registry();
    const log::Defer defer;  // make_device logs why a device is unavailable: after the unlock
    std::lock_guard lock(r.mutex);
    const auto key = std::make_pair(static_cast<int>(kind), ordinal);
    if (auto it = r.open.find(key); it != r.open.end() && it->second->refs.try_retain()) {
        return it->second;
    }
    // Absent, or its last reference is being released right now: make a fresh handle. The
    // releasing thread only erases the entry if it still points at the old handle.
    aph_device* d = make_device(kind, ordinal);
    try {
        r.open[key] = d;
    } catch (...) {
        discard(d);  // no room in the registry (no host memory): the handle is not handed out
        throw;
    }
    return d;
}

namespace {

// The leak report: raw allocations still live when the last handle goes.
void report_leaks(const aph_device& d) noexcept {
    try {
        const auto live = d.memory->allocator.live_blocks(true, /*raw_only=*/true);
        for (const auto& b : live) {
            log::logf(APH_LOG_WARN, "aphelion::memory",
                      "%s released with a live allocation: %p, %zu bytes (%zu requested), "
                      "stream %llu, age %.3f s",
                      d.label.c_str(), b.ptr, b.size, b.requested, static_cast<unsigned long long>(b.stream_id),
                      b.age_seconds);
        }
    } catch (const std::exception& e) {
        log::logf(APH_LOG_WARN, "aphelion::memory", "%s: leak report failed: %s", d.label.c_str(), e.what());
    }
}

}  // namespace

void retain(aph_device* d) noexcept {
    if (d) d->refs.retain();
}

void release(aph_device* d) noexcept {
    if (d == nullptr || !d->refs.release()) return;
    {
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        const auto key = std::make_pair(static_cast<int>(d->kind), d->ordinal);
        if (auto it = r.open.find(key); it != r.open.end() && it->second == d) r.open.erase(it);
    }
    report_leaks(*d);
    // Deleters of borrowed memory whose work is done run now, on this thread.
    try {
        d->memory->allocator.process_events();
    } catch (const std::exception& e) {
        log::logf(APH_LOG_WARN, "aphelion::memory", "%s: processing events: %s", d->label.c_str(), e.what());
    }
    stream::destroy_default(d->default_stream);
    delete d;
}

void warn_cpu_once(const char* component) noexcept {
    if (g_cpu_warned.exchange(true)) return;
    log::logf(APH_LOG_WARN, kTarget,
              "%s: CPU device in use. CUDA is the intended default; CPU mode exists only as a "
              "compatibility fallback. Set APHELION_FORCE_CPU=1 to silence this warning.",
              component);
}

aph_device* select(const aph_device_config& config) {
    const char* component = config.component.c_str();
    if (config.force_cpu) {
        log::logf(APH_LOG_INFO, kTarget, "%s: CPU device selected (forced)", component);
        return open(APH_DEVICE_CPU, 0);
    }
    const cuda::State& cs = cuda::state();
    if (config.cuda_device < cs.device_count) {
        try {
            return open(APH_DEVICE_CUDA, config.cuda_device);
        } catch (const Error& e) {
            log::logf(APH_LOG_INFO, kTarget, "%s: %s", component, e.what());
        }
    } else if (cs.device_count == 0) {
        log::logf(APH_LOG_INFO, kTarget, "%s: CUDA not usable: %s", component, cs.reason.c_str());
    } else {
        log::logf(APH_LOG_INFO, kTarget, "%s: cuda:%d requested but %d CUDA device(s) present", component,
                  config.cuda_device, cs.device_count);
    }
    warn_cpu_once(component);
    return open(APH_DEVICE_CPU, 0);
}

void memory_info(const aph_device& d, uint64_t* free_bytes, uint64_t* total_bytes) {
    if (d.kind == APH_DEVICE_CPU) {
        const host::Memory m = host::memory();
        if (free_bytes) *free_bytes = m.free_bytes;
        if (total_bytes) *total_bytes = m.total_bytes;
        return;
    }
    const cuda::State& cs = cuda::state();
    char msg[512] = {0};
    uint64_t f = 0, t = 0;
    if (cs.api == nullptr || cs.api->memory_info(d.ordinal, &f, &t, msg, sizeof msg) != 0) {
        throw Error::kind(APH_ERR_BACKEND,
                          strprintf("%s: %s", d.label.c_str(), cs.api ? msg : "CUDA module not loaded"));
    }
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
}

int32_t count(aph_device_kind kind) { return kind == APH_DEVICE_CPU ? 1 : cuda::state().device_count; }

}  // namespace aph::device
