// C API, sections 7 to 9: device configuration, devices, CUDA support.
#include "../core/cuda_loader.hpp"
#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../kernels/parallel.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace {

void check_kind(aph_device_kind kind) {
    if (kind != APH_DEVICE_CPU && kind != APH_DEVICE_CUDA) {
        throw aph::invalid_argument(aph::strprintf("kind is %d, not a valid aph_device_kind", static_cast<int>(kind)));
    }
}

}  // namespace

extern "C" {

APH_API aph_status aph_device_config_create(aph_device_config** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        *out = new aph_device_config();
    });
}

APH_API aph_status aph_device_config_from_env(aph_device_config** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        *out = new aph_device_config(aph::device::config_from_env());
    });
}

APH_API aph_status aph_device_config_set_cuda_device(aph_device_config* config, int32_t ordinal) {
    return aph::guard([&] {
        aph::require_arg(config, "config");
        if (ordinal < 0) throw aph::invalid_argument(aph::strprintf("ordinal must be >= 0, got %d", ordinal));
        config->cuda_device = ordinal;
    });
}

APH_API aph_status aph_device_config_set_force_cpu(aph_device_config* config, int force_cpu) {
    return aph::guard([&] {
        aph::require_arg(config, "config");
        config->force_cpu = force_cpu != 0;
    });
}

APH_API aph_status aph_device_config_set_component(aph_device_config* config, const char* name) {
    return aph::guard([&] {
        aph::require_arg(config, "config");
        aph::require_arg(name, "name");
        if (*name == '\0') throw aph::invalid_argument("name must not be empty");
        config->component = name;
    });
}

APH_API int32_t aph_device_config_cuda_device(const aph_device_config* config) {
    return config ? config->cuda_device : -1;
}

APH_API int aph_device_config_force_cpu(const aph_device_config* config) { return config ? config->force_cpu : 0; }

APH_API const char* aph_device_config_component(const aph_device_config* config) {
    return config ? config->component.c_str() : "";
}

APH_API void aph_device_config_release(aph_device_config* config) { delete config; }

APH_API aph_status aph_device_select(const aph_device_config* config, aph_device** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        *out = config ? aph::device::select(*config) : aph::device::select(aph::device::config_from_env());
    });
}

APH_API aph_status aph_device_open(aph_device_kind kind, int32_t ordinal, aph_device** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        check_kind(kind);
        if (ordinal < 0) throw aph::invalid_argument(aph::strprintf("ordinal must be >= 0, got %d", ordinal));
        *out = aph::device::open(kind, ordinal);
    });
}

APH_API aph_status aph_device_count(aph_device_kind kind, int32_t* out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        check_kind(kind);
        *out = aph::device::count(kind);
    });
}

APH_API void aph_device_retain(aph_device* device) {
    if (device) device->refs.retain();
}

APH_API void aph_device_release(aph_device* device) { aph::device::release(device); }

APH_API aph_device_kind aph_device_get_kind(const aph_device* device) { return device ? device->kind : APH_DEVICE_CPU; }

APH_API int32_t aph_device_ordinal(const aph_device* device) { return device ? device->ordinal : -1; }

APH_API const char* aph_device_label(const aph_device* device) { return device ? device->label.c_str() : ""; }

APH_API const char* aph_device_name(const aph_device* device) { return device ? device->name.c_str() : ""; }

APH_API aph_status aph_device_memory_info(const aph_device* device, uint64_t* free_bytes, uint64_t* total_bytes) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::device::memory_info(*device, free_bytes, total_bytes);  // writes only on success
    });
}

APH_API uint64_t aph_device_total_memory(const aph_device* device) { return device ? device->total_memory : 0; }

APH_API aph_status aph_device_compute_capability(const aph_device* device, int32_t* major, int32_t* minor) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        if (device->kind != APH_DEVICE_CUDA) {
            throw aph::invalid_argument(aph::strprintf(
                "device is %s; compute capability is only defined for CUDA devices", device->label.c_str()));
        }
        if (major) *major = device->cc_major;
        if (minor) *minor = device->cc_minor;
    });
}

APH_API int32_t aph_device_multiprocessor_count(const aph_device* device) {
    return device ? device->multiprocessors : 0;
}

APH_API int32_t aph_device_logical_cores(const aph_device* device) { return device ? device->logical_cores : 0; }

APH_API void aph_warn_if_cpu(const aph_device* device, const char* component) {
    if (device && device->kind == APH_DEVICE_CPU) {
        aph::device::warn_cpu_once(component ? component : "aphelion");
    }
}

APH_API aph_status aph_cpu_set_thread_limit(size_t threads) {
    return aph::guard([&] {
        if (threads > aph::kernels::kMaxCpuThreads)
            throw aph::invalid_argument(aph::strprintf("threads is %zu; at most %u (0: the process default)", threads,
                                                       aph::kernels::kMaxCpuThreads));
        aph::kernels::set_thread_cpu_threads(static_cast<int>(threads));
    });
}

APH_API size_t aph_cpu_get_thread_limit(void) { return static_cast<size_t>(aph::kernels::thread_cpu_threads()); }

APH_API size_t aph_cpu_thread_count(void) { return aph::kernels::cpu_threads(); }

APH_API aph_status aph_cuda_get_info(aph_cuda_info* info) {
    return aph::guard([&] {
        aph::require_arg(info, "info");
        constexpr size_t min_size = offsetof(aph_cuda_info, module_built) + sizeof(int);
        if (info->struct_size < min_size) {
            throw aph::invalid_argument(
                aph::strprintf("info->struct_size is %zu; set it to sizeof(aph_cuda_info) (%zu)", info->struct_size,
                               sizeof(aph_cuda_info)));
        }
        const aph::cuda::State& s = aph::cuda::state();
        aph_cuda_info full;
        full.struct_size = info->struct_size;
        full.module_built = s.module_built;
        full.module_loaded = s.module_loaded;
        full.module_path = s.module_path.c_str();
        full.driver_present = s.driver_present;
        full.driver_version = s.driver_version;
        full.runtime_version = s.runtime_version;
        full.device_count = s.device_count;
        full.reason = s.reason.c_str();
        // Only the fields the caller's struct has room for.
        std::memcpy(info, &full, std::min(info->struct_size, sizeof full));
    });
}

}  // extern "C"
