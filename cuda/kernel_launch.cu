// From a kernel descriptor to the family launcher that queues it (module ABI v3, kernel_launch):
// one case per line of kernel_list.h, so a kernel without a launcher here does not compile.
#include "kernels.cuh"

namespace aph::cuk {

void put(char* msg, size_t len, const char* fmt, ...) {
    if (msg == nullptr || len == 0) return;
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(msg, len, fmt, args);
    va_end(args);
}

int check(cudaError_t err, const char* what, char* msg, size_t len) {
    if (err == cudaSuccess) return 0;
    consume(err);  // reported here: it must not fail the thread's next launch (last_error.h)
    put(msg, len, "%s failed: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
    return err == cudaErrorMemoryAllocation ? APH_K_STATUS_OUT_OF_MEMORY : APH_K_STATUS_FAILED;
}

namespace {
template <class D>
const D* as(const void* desc, size_t size) {
    return size == sizeof(D) ? static_cast<const D*>(desc) : nullptr;
}
}  // namespace

int launch(int32_t op, const void* desc, size_t size, cudaStream_t s, char* msg, size_t len) {
#define APH_K_CASE(id, type, fn)                                                                       \
    case id: {                                                                                         \
        const type* d = as<type>(desc, size);                                                          \
        if (d == nullptr) {                                                                            \
            put(msg, len, "kernel %d: descriptor of %zu bytes, expected %zu", op, size, sizeof(type)); \
            return APH_K_STATUS_FAILED;                                                                \
        }                                                                                              \
        return fn(*d, s, msg, len);                                                                    \
    }
    switch (op) {
#define APH_K_LIST_CASE(name, value, type, cpu, cuda) APH_K_CASE(APH_K_##name, type, cuda)
        APH_K_LIST(APH_K_LIST_CASE)
#undef APH_K_LIST_CASE
        default: put(msg, len, "unknown kernel %d", op); return APH_K_STATUS_NOT_IMPLEMENTED;
    }
#undef APH_K_CASE
}

}  // namespace aph::cuk
