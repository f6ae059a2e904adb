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
// The caller's message lives in t_base. While a user callback runs, t_slot points at the
// CallbackGuard's own slot, so nothing the callback does touches the caller's storage: a
// pointer the caller got from aph_last_error() stays valid (and unchanged) across calls that
// run callbacks, until the caller's own next failing call.
thread_local ErrorSlot t_base;
thread_local ErrorSlot* t_slot = nullptr;  // nullptr: t_base
thread_local uint64_t t_last_error_generation = 0;

ErrorSlot& current_slot() noexcept { return t_slot ? *t_slot : t_base; }
}  // namespace

void set_last_error(aph_status status, const char* msg) noexcept {
    ++t_last_error_generation;
    ErrorSlot& s = current_slot();
    try {
        s.message.assign(msg);
        s.fallback = nullptr;
    } catch (...) {
        // Storing the message itself failed (no memory): keep a static one instead.
        s.fallback = "out of memory: could not store the error message";
    }
    log::logf(APH_LOG_DEBUG, "aphelion::error", "%s: %s", status_name_of(status), msg);
}

const char* last_error() noexcept {
    const ErrorSlot& s = current_slot();
    return s.fallback ? s.fallback : s.message.c_str();
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

CallbackGuard::CallbackGuard() noexcept : previous_(t_slot), generation_(t_last_error_generation) {
    // The callback starts out reading the caller's message.
    const ErrorSlot& caller = current_slot();
    try {
        slot_.message = caller.message;
        slot_.fallback = caller.fallback;
    } catch (...) {
        slot_.fallback = "";  // no memory for the copy: the callback reads ""
    }
    t_slot = &slot_;
}

CallbackGuard::~CallbackGuard() {
    t_slot = previous_;
    t_last_error_generation = generation_;
}

std::string CallbackGuard::failure(aph_status status, const std::string& what) const {
    if (t_last_error_generation != generation_) return slot_.fallback ? slot_.fallback : slot_.message;
    std::string m(status_prefix(status));
    m += what + " failed with " + status_name_of(status) + " and gave no message";
    return m;
}

}  // namespace aph
