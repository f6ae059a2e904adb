// libaphelion's CUDA module: everything that touches the CUDA runtime lives here, so that the
// core library has no CUDA dependency. The CUDA runtime is linked statically and the module
// exports only aph_cuda_module_entry (see module.map); the driver (libcuda.so.1) is found at
// run time by the runtime itself.
#include "module_abi.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace {

void put(char* msg, size_t len, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void put(char* msg, size_t len, const char* fmt, ...) {
    if (msg == nullptr || len == 0) return;
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(msg, len, fmt, args);
    va_end(args);
}

void put_cuda(char* msg, size_t len, const char* call, cudaError_t err) {
    put(msg, len, "%s failed: %s (%s)", call, cudaGetErrorString(err), cudaGetErrorName(err));
}

// Whether the driver library can be loaded at all; gives a clearer reason than the runtime's
// "insufficient driver" when no NVIDIA driver is installed.
bool driver_library_present(char* reason, size_t len) {
    void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
        const char* e = dlerror();
        put(reason, len, "NVIDIA driver not found (%s)", e ? e : "libcuda.so.1 not loadable");
        return false;
    }
    // Kept loaded: the CUDA runtime opens it again and uses it for the life of the process.
    return true;
}

int probe(int* driver_present, int32_t* driver_version, int32_t* device_count, char* reason,
          size_t reason_len) {
    if (!driver_present || !driver_version || !device_count) return 1;
    *driver_present = 0;
    *driver_version = 0;
    *device_count = 0;
    put(reason, reason_len, "%s", "");
    if (!driver_library_present(reason, reason_len)) return 0;
    *driver_present = 1;
    int v = 0;
    cudaError_t err = cudaDriverGetVersion(&v);
    if (err != cudaSuccess) {
        put_cuda(reason, reason_len, "cudaDriverGetVersion", err);
        return 0;
    }
    *driver_version = v;
    int n = 0;
    err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        put_cuda(reason, reason_len, "cudaGetDeviceCount", err);
        return 0;
    }
    *device_count = n;
    if (n == 0) put(reason, reason_len, "%s", "the NVIDIA driver reports no CUDA devices");
    return 0;
}

int device_properties(int32_t ordinal, aph_cuda_module_device* out, char* msg, size_t msg_len) {
    if (out == nullptr) {
        put(msg, msg_len, "%s", "out must not be NULL");
        return 1;
    }
    cudaDeviceProp p;
    std::memset(&p, 0, sizeof p);
    const cudaError_t err = cudaGetDeviceProperties(&p, ordinal);
    if (err != cudaSuccess) {
        put_cuda(msg, msg_len, "cudaGetDeviceProperties", err);
        return 1;
    }
    std::snprintf(out->name, sizeof out->name, "%s", p.name);
    out->cc_major = p.major;
    out->cc_minor = p.minor;
    out->multiprocessors = p.multiProcessorCount;
    out->total_memory = static_cast<uint64_t>(p.totalGlobalMem);
    return 0;
}

// cudaMemGetInfo answers for the calling thread's current device, so the switch and the query
// happen under one lock, and the thread's previous device is restored afterwards.
std::mutex g_device_switch;

int memory_info(int32_t ordinal, uint64_t* free_bytes, uint64_t* total_bytes, char* msg,
                size_t msg_len) {
    std::lock_guard<std::mutex> lock(g_device_switch);
    int previous = 0;
    cudaError_t err = cudaGetDevice(&previous);
    if (err != cudaSuccess) {
        put_cuda(msg, msg_len, "cudaGetDevice", err);
        return 1;
    }
    err = cudaSetDevice(ordinal);
    if (err != cudaSuccess) {
        put_cuda(msg, msg_len, "cudaSetDevice", err);
        return 1;
    }
    size_t f = 0, t = 0;
    err = cudaMemGetInfo(&f, &t);
    cudaSetDevice(previous);
    if (err != cudaSuccess) {
        put_cuda(msg, msg_len, "cudaMemGetInfo", err);
        return 1;
    }
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
    return 0;
}

const aph_cuda_module_api kApi = {
    APH_CUDA_MODULE_ABI_VERSION,
    APHELION_VERSION_STRING,
    CUDART_VERSION,
    probe,
    device_properties,
    memory_info,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const aph_cuda_module_api* aph_cuda_module_entry(void) {
    return &kApi;
}
