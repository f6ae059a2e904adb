// Dispatch from a kernel descriptor to the CPU kernel that runs it.
#include "cpu.hpp"

#include <exception>
#include <new>

namespace aph::kernels {

void to_f32(const void* src, int32_t dtype, float* dst, int64_t n) {
    const char* s = static_cast<const char*>(src);
    const size_t es = dtype_size(dtype);
    for (int64_t i = 0; i < n; ++i) dst[i] = load_f32(s + static_cast<size_t>(i) * es, dtype);
}

void from_f32(const float* src, void* dst, int32_t dtype, int64_t n) {
    char* d = static_cast<char*>(dst);
    const size_t es = dtype_size(dtype);
    for (int64_t i = 0; i < n; ++i) store_f32(d + static_cast<size_t>(i) * es, dtype, src[i]);
}

int cpu_launch(int32_t op, const void* desc, std::string& msg) noexcept {
    try {
        switch (op) {
// One case per line of kernel_list.h: a kernel without its CPU function does not compile.
#define APH_K_CPU_CASE(name, value, type, cpu, cuda) \
    case APH_K_##name: return cpu(*static_cast<const type*>(desc), msg);
            APH_K_LIST(APH_K_CPU_CASE)
#undef APH_K_CPU_CASE
            default: msg = "unknown kernel " + std::to_string(op); return APH_K_STATUS_NOT_IMPLEMENTED;
        }
    } catch (const std::bad_alloc&) {
        msg = "host memory exhausted in a CPU kernel";
        return APH_K_STATUS_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        msg = e.what();
        return APH_K_STATUS_FAILED;
    } catch (...) {
        msg = "unknown failure in a CPU kernel";
        return APH_K_STATUS_FAILED;
    }
}

}  // namespace aph::kernels
