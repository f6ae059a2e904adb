#include "error.hpp"

#include "log.hpp"

#include <cstdio>

namespace aph {

std::string vstrprintf(const char* fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n <= 0) return std::string();
    std::string out(static_cast<size_t>(n), '\0');
    std::vsnprintf(out.data(), out.size() + 1, fmt, args);
    return out;
}

std::string strprintf(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::string out = vstrprintf(fmt, args);
    va_end(args);
    return out;
}

std::string_view status_prefix(aph_status status) noexcept {
    switch (status) {
        case APH_OK: return "";
        case APH_ERR_INVALID_ARGUMENT: return "invalid argument: ";
        case APH_ERR_INVALID_CONFIG: return "invalid configuration: ";
        case APH_ERR_SHAPE_MISMATCH: return "shape mismatch: ";
        case APH_ERR_DIMENSION_MISMATCH: return "dimension mismatch: ";
        case APH_ERR_DEVICE_NOT_AVAILABLE: return "device not available: ";
        case APH_ERR_DEVICE_MISMATCH: return "device mismatch: ";
        case APH_ERR_OUT_OF_MEMORY: return "out of memory: ";
        case APH_ERR_KERNEL: return "kernel error: ";
        case APH_ERR_NOT_IMPLEMENTED: return "not implemented: ";
        case APH_ERR_IO: return "I/O error: ";
        case APH_ERR_BACKEND: return "backend error: ";
        case APH_ERR_GRAPH: return "graph error: ";
        case APH_ERR_VALIDATION: return "validation error: ";
        case APH_ERR_SERIALIZATION: return "serialization error: ";
        case APH_ERR_BUILD: return "build error: ";
        case APH_ERR_INTERNAL: return "internal error: ";
        case APH_ERR_NOT_FOUND: return "not found: ";
        case APH_ERR_INVALID_STATE: return "invalid state: ";
    }
    return "error: ";
}

namespace {
thread_local std::string t_last_error;
thread_local const char* t_last_error_fallback = nullptr;
thread_local uint64_t t_last_error_generation = 0;
}  // namespace

void set_last_error(aph_status status, const char* msg) noexcept {
    ++t_last_error_generation;
    try {
        t_last_error.assign(msg);
        t_last_error_fallback = nullptr;
    } catch (...) {
        // Storing the message itself failed (no memory): keep a static one instead.
        t_last_error_fallback = "out of memory: could not store the error message";
    }
    log::logf(APH_LOG_DEBUG, "aphelion::error", "%s: %s", status_name_of(status), msg);
}

const char* last_error() noexcept {
    return t_last_error_fallback ? t_last_error_fallback : t_last_error.c_str();
}

const char* status_name_of(aph_status status) noexcept {
    switch (status) {
        case APH_OK: return "APH_OK";
        case APH_ERR_INVALID_ARGUMENT: return "APH_ERR_INVALID_ARGUMENT";
        case APH_ERR_INVALID_CONFIG: return "APH_ERR_INVALID_CONFIG";
        case APH_ERR_SHAPE_MISMATCH: return "APH_ERR_SHAPE_MISMATCH";
        case APH_ERR_DIMENSION_MISMATCH: return "APH_ERR_DIMENSION_MISMATCH";
        case APH_ERR_DEVICE_NOT_AVAILABLE: return "APH_ERR_DEVICE_NOT_AVAILABLE";
        case APH_ERR_DEVICE_MISMATCH: return "APH_ERR_DEVICE_MISMATCH";
        case APH_ERR_OUT_OF_MEMORY: return "APH_ERR_OUT_OF_MEMORY";
        case APH_ERR_KERNEL: return "APH_ERR_KERNEL";
        case APH_ERR_NOT_IMPLEMENTED: return "APH_ERR_NOT_IMPLEMENTED";
        case APH_ERR_IO: return "APH_ERR_IO";
        case APH_ERR_BACKEND: return "APH_ERR_BACKEND";
        case APH_ERR_GRAPH: return "APH_ERR_GRAPH";
        case APH_ERR_VALIDATION: return "APH_ERR_VALIDATION";
        case APH_ERR_SERIALIZATION: return "APH_ERR_SERIALIZATION";
        case APH_ERR_BUILD: return "APH_ERR_BUILD";
        case APH_ERR_INTERNAL: return "APH_ERR_INTERNAL";
        case APH_ERR_NOT_FOUND: return "APH_ERR_NOT_FOUND";
        case APH_ERR_INVALID_STATE: return "APH_ERR_INVALID_STATE";
    }
    return "APH_ERR_UNKNOWN";
}

Error device_mismatch(std::string_view details) {
    log::logf(APH_LOG_DEBUG, "aphelion::error", "device mismatch: %.*s", static_cast<int>(details.size()),
              details.data());
    return Error::kind(APH_ERR_DEVICE_MISMATCH, "tensors must be on the same device");
}

uint64_t last_error_generation() noexcept { return t_last_error_generation; }

std::string callback_failure(aph_status status, uint64_t generation_before, const std::string& what) {
    if (t_last_error_generation != generation_before) return last_error();
    std::string m(status_prefix(status));
    m += what + " failed with " + status_name_of(status) + " and gave no message";
    return m;
}

}  // namespace aph
