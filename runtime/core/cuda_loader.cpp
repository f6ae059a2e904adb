#include "cuda_loader.hpp"

#include "error.hpp"
#include "log.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace aph::cuda {
namespace {

constexpr const char* kTarget = "aphelion::cuda";

// The directory holding libaphelion.so itself, found from one of its own symbols.
std::string own_directory() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&state), &info) == 0 || info.dli_fname == nullptr) return ".";
    std::string path = info.dli_fname;
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string module_path() {
    if (const char* p = std::getenv("APHELION_CUDA_MODULE"); p != nullptr && *p != '\0') return p;
    return own_directory() + "/libaphelion-cuda.so." + std::to_string(APH_VERSION_MAJOR);
}

void load(State& s) {
#ifdef APHELION_CUDA_MODULE_BUILT
    s.module_built = true;
#endif
    s.module_path = module_path();
    void* handle = dlopen(s.module_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* e = dlerror();
        s.reason = strprintf("CUDA module not loaded (%s)%s", e ? e : s.module_path.c_str(),
                             s.module_built ? "" : "; this build of libaphelion has no CUDA support");
        return;
    }
    // The module stays loaded for the life of the process (never dlclose'd): the CUDA runtime
    // inside it keeps process-wide state.
    auto entry = reinterpret_cast<aph_cuda_module_entry_fn>(dlsym(handle, APH_CUDA_MODULE_ENTRY_SYMBOL));
    if (entry == nullptr) {
        s.reason = strprintf("%s is not a libaphelion CUDA module (no %s)", s.module_path.c_str(),
                             APH_CUDA_MODULE_ENTRY_SYMBOL);
        return;
    }
    const aph_cuda_module_api* api = entry();
    if (api == nullptr || api->abi_version != APH_CUDA_MODULE_ABI_VERSION || api->library_version == nullptr ||
        std::strcmp(api->library_version, APHELION_VERSION_STRING) != 0) {
        s.reason = strprintf("CUDA module %s was built for libaphelion %s (module ABI %u), not %s (ABI %u)",
                             s.module_path.c_str(), api && api->library_version ? api->library_version : "?",
                             api ? api->abi_version : 0u, APHELION_VERSION_STRING, APH_CUDA_MODULE_ABI_VERSION);
        return;
    }
    s.module_loaded = true;
    s.runtime_version = api->runtime_version;
    s.api = api;
    char reason[512] = {0};
    int present = 0;
    if (api->probe(&present, &s.driver_version, &s.device_count, reason, sizeof reason) != 0) {
        s.reason = "CUDA module probe failed";
        s.device_count = 0;
        return;
    }
    s.driver_present = present != 0;
    s.reason = reason;
}

}  // namespace

const State& state() noexcept {
    // What the first call logs is delivered once the initialisation below has finished: a log
    // callback that calls back into the library (which calls state()) must not find it running.
    const log::Defer defer;
    // Leaked on purpose: the module is never unloaded, so its state must never be destroyed.
    static State* s = [] {
        State* st = new (std::nothrow) State();
        if (st == nullptr) return st;
        try {
            load(*st);
        } catch (...) {
            st->reason = "CUDA module loading failed: out of memory";
            st->device_count = 0;
        }
        if (st->device_count > 0) {
            log::logf(APH_LOG_DEBUG, kTarget, "CUDA module %s loaded: %d device(s), driver %d, runtime %d",
                      st->module_path.c_str(), st->device_count, st->driver_version, st->runtime_version);
        } else {
            log::logf(APH_LOG_INFO, kTarget, "no CUDA devices: %s", st->reason.c_str());
        }
        return st;
    }();
    static const State empty{};
    return s ? *s : empty;
}

}  // namespace aph::cuda
