// Internal error type and the exception barrier every exported function goes through.
//
// Internals throw aph::Error (a status plus the full message in the compat page's format); the
// C shims in runtime/capi/ call aph::guard(), which turns any exception into an aph_status and
// records the message for aph_last_error(). Nothing thrown inside ever crosses the C ABI.
#pragma once

#include "aphelion.h"

#include <cstdarg>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <string_view>

namespace aph {

// printf-style formatting into a std::string (GCC 12 has no <format>).
std::string strprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string vstrprintf(const char* fmt, va_list args);

// The message prefix of each status, as in the compat page ("out of memory: ", ...).
std::string_view status_prefix(aph_status status) noexcept;

class Error : public std::exception {
public:
    // A message written exactly as given (for messages the compat page fixes verbatim, such as
    // "Unknown dtype: x").
    static Error raw(aph_status status, std::string message) {
        return Error(status, std::move(message));
    }
    // "{prefix}{detail}", e.g. kind(APH_ERR_OUT_OF_MEMORY, "...") -> "out of memory: ...".
    static Error kind(aph_status status, std::string_view detail) {
        std::string m(status_prefix(status));
        m += detail;
        return Error(status, std::move(m));
    }

    aph_status status() const noexcept { return status_; }
    const char* what() const noexcept override { return message_.c_str(); }

private:
    Error(aph_status s, std::string m) : status_(s), message_(std::move(m)) {}
    aph_status status_;
    std::string message_;
};

inline Error invalid_argument(std::string_view detail) {
    return Error::kind(APH_ERR_INVALID_ARGUMENT, detail);
}
inline Error out_of_memory(std::string_view detail) {
    return Error::kind(APH_ERR_OUT_OF_MEMORY, detail);
}
// "device mismatch: tensors must be on the same device" (the compat page's exact text); the
// details (which devices) go to the debug log, target aphelion::error.
Error device_mismatch(std::string_view details);

inline Error device_not_available(std::string_view device) {
    return Error::kind(APH_ERR_DEVICE_NOT_AVAILABLE, device);
}

// Throws "invalid argument: {name} must not be NULL" when p is NULL.
template <class T>
inline void require_arg(const T* p, const char* name) {
    if (p == nullptr) throw invalid_argument(std::string(name) + " must not be NULL");
}

// The enum name of a status ("APH_ERR_OUT_OF_MEMORY"), "APH_ERR_UNKNOWN" outside the enum.
const char* status_name_of(aph_status status) noexcept;

// Counts this thread's set_last_error calls: compare it around a user callback to see whether
// the callback reported a message (aph_set_last_error) when it failed.
uint64_t last_error_generation() noexcept;
// The message for a user callback that returned the failing status: the one it set with
// aph_set_last_error (when the generation moved), else "{kind prefix}{what} failed with
// APH_ERR_X and gave no message".
std::string callback_failure(aph_status status, uint64_t generation_before, const std::string& what);

// This thread's last error message ("" if none).
const char* last_error() noexcept;

// Records msg as this thread's last error and logs it at debug level. Never throws.
void set_last_error(aph_status status, const char* msg) noexcept;

// The exception barrier: runs f, returns APH_OK, or the status of whatever it threw.
template <class F>
aph_status guard(F&& f) noexcept {
    try {
        f();
        return APH_OK;
    } catch (const Error& e) {
        set_last_error(e.status(), e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error(APH_ERR_OUT_OF_MEMORY, "out of memory: host allocation failed");
        return APH_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(APH_ERR_INTERNAL, (std::string("internal error: ") + e.what()).c_str());
        return APH_ERR_INTERNAL;
    } catch (...) {
        set_last_error(APH_ERR_INTERNAL, "internal error: unknown exception");
        return APH_ERR_INTERNAL;
    }
}

}  // namespace aph
