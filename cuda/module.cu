// libaphelion's CUDA module: everything that touches the CUDA runtime lives here, so that the
// core library has no CUDA dependency. The CUDA runtime is linked statically and the module
// exports only aph_cuda_module_entry (see module.map); the driver (libcuda.so.1) is found at
// run time by the runtime itself.
#include "kernels.cuh"
#include "last_error.h"
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

// The CUDA runtime behind the error policy of last_error.h (consume what is reported or
// ignored; clear before each launch).
int rt_get_last_error() { return static_cast<int>(cudaGetLastError()); }
int rt_get_device(int* device) { return static_cast<int>(cudaGetDevice(device)); }
int rt_set_device(int device) { return static_cast<int>(cudaSetDevice(device)); }
const aph_cuda_runtime kRuntime = {cudaSuccess, cudaErrorNotReady, rt_get_last_error, rt_get_device, rt_set_device};

// A failure reported in msg: consumed (last_error.h, rule 1).
void report_cuda(char* msg, size_t len, const char* call, cudaError_t err) {
    aph_cuda_consume(&kRuntime, err);
    put_cuda(msg, len, call, err);
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

int probe(int* driver_present, int32_t* driver_version, int32_t* device_count, char* reason, size_t reason_len) {
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
        report_cuda(reason, reason_len, "cudaDriverGetVersion", err);
        return 0;
    }
    *driver_version = v;
    int n = 0;
    err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        report_cuda(reason, reason_len, "cudaGetDeviceCount", err);
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
        report_cuda(msg, msg_len, "cudaGetDeviceProperties", err);
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

int memory_info(int32_t ordinal, uint64_t* free_bytes, uint64_t* total_bytes, char* msg, size_t msg_len) {
    std::lock_guard<std::mutex> lock(g_device_switch);
    aph_cuda_device_scope scope;
    const char* what = "";
    const cudaError_t entered = static_cast<cudaError_t>(aph_cuda_device_enter(&kRuntime, ordinal, &scope, &what));
    if (entered != cudaSuccess) {
        put_cuda(msg, msg_len, what, entered);
        return 1;
    }
    size_t f = 0, t = 0;
    const cudaError_t err = cudaMemGetInfo(&f, &t);
    aph_cuda_device_leave(&kRuntime, &scope);
    if (err != cudaSuccess) {
        report_cuda(msg, msg_len, "cudaMemGetInfo", err);
        return 1;
    }
    if (free_bytes) *free_bytes = f;
    if (total_bytes) *total_bytes = t;
    return 0;
}

// Makes `ordinal` the calling thread's device for one call and restores the previous one
// (a failure to restore is consumed, last_error.h).
class DeviceGuard {
public:
    DeviceGuard(int32_t ordinal, char* msg, size_t len) {
        const char* what = "";
        err_ = static_cast<cudaError_t>(aph_cuda_device_enter(&kRuntime, ordinal, &scope_, &what));
        if (err_ != cudaSuccess) put_cuda(msg, len, what, err_);
    }
    ~DeviceGuard() { aph_cuda_device_leave(&kRuntime, &scope_); }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;
    bool ok() const { return err_ == cudaSuccess; }

private:
    aph_cuda_device_scope scope_;
    cudaError_t err_ = cudaSuccess;
};

#define APH_GUARD_DEVICE(ordinal)                     \
    DeviceGuard device_guard_(ordinal, msg, msg_len); \
    if (!device_guard_.ok()) return 1

// A failing call is reported and consumed (last_error.h, rule 1).
#define APH_CUDA_CHECK(call)                        \
    do {                                            \
        const cudaError_t err_ = (call);            \
        if (err_ != cudaSuccess) {                  \
            report_cuda(msg, msg_len, #call, err_); \
            return 1;                               \
        }                                           \
    } while (0)

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
cudaEvent_t as_event(void* e) { return static_cast<cudaEvent_t>(e); }

int mem_alloc(int32_t ordinal, size_t bytes, void** out, int* out_of_memory, char* msg, size_t msg_len) {
    if (out_of_memory) *out_of_memory = 0;
    APH_GUARD_DEVICE(ordinal);
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
        // Consumed whatever the failure (not only out of memory): the next launch must not see it.
        if (out_of_memory) *out_of_memory = err == cudaErrorMemoryAllocation;
        report_cuda(msg, msg_len, "cudaMalloc", err);
        return 1;
    }
    *out = p;
    return 0;
}

int mem_free(int32_t ordinal, void* ptr, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaFree(ptr));
    return 0;
}

int host_alloc(size_t bytes, void** out, int* out_of_memory, char* msg, size_t msg_len) {
    if (out_of_memory) *out_of_memory = 0;
    void* p = nullptr;
    const cudaError_t err = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (err != cudaSuccess) {
        if (out_of_memory) *out_of_memory = err == cudaErrorMemoryAllocation;
        report_cuda(msg, msg_len, "cudaHostAlloc", err);
        return 1;
    }
    *out = p;
    return 0;
}

int host_free(void* ptr, char* msg, size_t msg_len) {
    APH_CUDA_CHECK(cudaFreeHost(ptr));
    return 0;
}

int memcpy_async(int32_t ordinal, void* dst, const void* src, size_t bytes, void* stream, char* msg, size_t msg_len) {
    if (bytes == 0) return 0;
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, as_stream(stream)));
    return 0;
}

int memcpy_peer_async(void* dst, int32_t dst_ordinal, const void* src, int32_t src_ordinal, size_t bytes, void* stream,
                      char* msg, size_t msg_len) {
    if (bytes == 0) return 0;
    APH_GUARD_DEVICE(src_ordinal);
    APH_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_ordinal, src, src_ordinal, bytes, as_stream(stream)));
    return 0;
}

int memset_async(int32_t ordinal, void* ptr, int value, size_t bytes, void* stream, char* msg, size_t msg_len) {
    if (bytes == 0) return 0;
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaMemsetAsync(ptr, value, bytes, as_stream(stream)));
    return 0;
}

// One thread per element of the index space (grid-stride loop). The linear index i is split
// into coordinates, last dimension fastest; each coordinate times its stride gives the element
// offsets on both sides. T is an unsigned type of the element's size.
template <class T>
__global__ void strided_copy_kernel(aph_cuda_strided_copy p, int64_t numel) {
    T* dst = static_cast<T*>(p.dst);
    const T* src = static_cast<const T*>(p.src);
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < numel;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        int64_t rest = i, d_off = 0, s_off = 0;
        for (int d = p.ndim - 1; d >= 0; --d) {
            const int64_t c = rest % p.shape[d];
            rest /= p.shape[d];
            d_off += c * p.dst_strides[d];
            s_off += c * p.src_strides[d];
        }
        dst[d_off] = src[s_off];
    }
}

int strided_copy_async(int32_t ordinal, const aph_cuda_strided_copy* copy, void* stream, char* msg, size_t msg_len) {
    if (copy == nullptr || copy->ndim < 0 || copy->ndim > APH_CUDA_MAX_DIMS) {
        put(msg, msg_len, "%s", "strided copy: invalid parameters");
        return 1;
    }
    int64_t numel = 1;
    for (int d = 0; d < copy->ndim; ++d) numel *= copy->shape[d];
    if (numel == 0) return 0;
    APH_GUARD_DEVICE(ordinal);
    const int threads = 256;
    const int64_t want = (numel + threads - 1) / threads;
    const unsigned blocks = static_cast<unsigned>(want < 65535 * 8 ? want : 65535 * 8);
    cudaStream_t s = as_stream(stream);
    aph_cuda_before_launch(&kRuntime);
    switch (copy->elem_size) {
        case 1: strided_copy_kernel<uint8_t><<<blocks, threads, 0, s>>>(*copy, numel); break;
        case 2: strided_copy_kernel<uint16_t><<<blocks, threads, 0, s>>>(*copy, numel); break;
        case 4: strided_copy_kernel<uint32_t><<<blocks, threads, 0, s>>>(*copy, numel); break;
        case 8: strided_copy_kernel<uint64_t><<<blocks, threads, 0, s>>>(*copy, numel); break;
        default: put(msg, msg_len, "strided copy: element size %d not supported", copy->elem_size); return 1;
    }
    const cudaError_t err = static_cast<cudaError_t>(aph_cuda_launch_result(&kRuntime));
    if (err != cudaSuccess) {
        put_cuda(msg, msg_len, "strided copy kernel launch", err);
        return 1;
    }
    return 0;
}

int stream_create(int32_t ordinal, void** out, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    cudaStream_t s = nullptr;
    APH_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *out = s;
    return 0;
}

int stream_destroy(int32_t ordinal, void* stream, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaStreamDestroy(as_stream(stream)));
    return 0;
}

int stream_synchronize(int32_t ordinal, void* stream, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaStreamSynchronize(as_stream(stream)));
    return 0;
}

int stream_query(int32_t ordinal, void* stream, int* idle, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    const cudaError_t err = cudaStreamQuery(as_stream(stream));
    if (aph_cuda_query(&kRuntime, err, idle) != cudaSuccess) {  // NotReady: *idle = 0, consumed
        put_cuda(msg, msg_len, "cudaStreamQuery", err);
        return 1;
    }
    return 0;
}

int event_create(int32_t ordinal, void** out, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    cudaEvent_t e = nullptr;
    APH_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    *out = e;
    return 0;
}

int event_destroy(void* event, char* msg, size_t msg_len) {
    APH_CUDA_CHECK(cudaEventDestroy(as_event(event)));
    return 0;
}

int event_record(int32_t ordinal, void* event, void* stream, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaEventRecord(as_event(event), as_stream(stream)));
    return 0;
}

int event_query(void* event, int* done, char* msg, size_t msg_len) {
    const cudaError_t err = cudaEventQuery(as_event(event));
    if (aph_cuda_query(&kRuntime, err, done) != cudaSuccess) {  // NotReady: *done = 0, consumed
        put_cuda(msg, msg_len, "cudaEventQuery", err);
        return 1;
    }
    return 0;
}

int event_synchronize(void* event, char* msg, size_t msg_len) {
    APH_CUDA_CHECK(cudaEventSynchronize(as_event(event)));
    return 0;
}

int stream_wait_event(int32_t ordinal, void* stream, void* event, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0));
    return 0;
}

int device_synchronize(int32_t ordinal, char* msg, size_t msg_len) {
    APH_GUARD_DEVICE(ordinal);
    APH_CUDA_CHECK(cudaDeviceSynchronize());
    return 0;
}

int kernel_launch(int32_t ordinal, int32_t op, const void* desc, size_t desc_size, void* stream, char* msg,
                  size_t msg_len) {
    if (desc == nullptr) {
        put(msg, msg_len, "%s", "kernel launch: descriptor is NULL");
        return APH_K_STATUS_FAILED;
    }
    APH_GUARD_DEVICE(ordinal);
    // The launchers read the launch's error with cudaGetLastError: it must be this launch's.
    aph_cuda_before_launch(&kRuntime);
    return aph::cuk::launch(op, desc, desc_size, as_stream(stream), msg, msg_len);
}

const aph_cuda_module_api kApi = {
    APH_CUDA_MODULE_ABI_VERSION,
    APHELION_VERSION_STRING,
    CUDART_VERSION,
    probe,
    device_properties,
    memory_info,
    mem_alloc,
    mem_free,
    host_alloc,
    host_free,
    memcpy_async,
    memcpy_peer_async,
    memset_async,
    strided_copy_async,
    stream_create,
    stream_destroy,
    stream_synchronize,
    stream_query,
    event_create,
    event_destroy,
    event_record,
    event_query,
    event_synchronize,
    stream_wait_event,
    device_synchronize,
    kernel_launch,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const aph_cuda_module_api* aph_cuda_module_entry(void) {
    return &kApi;
}
