// Internal error type and the exception barrier every exported function goes through.
//
// Internals throw aph::Error (a status plus the full message in docs/compat.md's format); the
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

// The message prefix of each status, as in docs/compat.md ("out of memory: ", ...).
std::string_view status_prefix(aph_status status) noexcept;

class Error : public std::exception {
public:
    // A message written exactly as given (for messages docs/compat.md fixes verbatim, such as
    // "Unknown dtype: x").
    static Error raw(aph_status status, std::string message) { return Error(status, std::move(message)); }
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

inline Error invalid_argument(std::string_view detail) { return Error::kind(APH_ERR_INVALID_ARGUMENT, detail); }
inline Error out_of_memory(std::string_view detail) { return Error::kind(APH_ERR_OUT_OF_MEMORY, detail); }
// "device mismatch: tensors must be on the same device" (docs/compat.md's exact text); the
// details (which devices) go to the debug log, target aphelion::error.
Error device_mismatch(std::string_view details);

inline Error device_not_available(std::string_view device) { return Error::kind(APH_ERR_DEVICE_NOT_AVAILABLE, device); }

// Throws "invalid argument: {name} must not be NULL" when p is NULL.
template <class T>
inline void require_arg(const T* p, const char* name) {
    if (p == nullptr) throw invalid_argument(std::string(name) + " must not be NULL");
}

// The enum name of a status ("APH_ERR_OUT_OF_MEMORY"), "APH_ERR_UNKNOWN" outside the enum.
const char* status_name_of(aph_status status) noexcept;

// Rule 4 of the C API: a user callback the library invokes on the caller's behalf (log, trace
// sink, progress, stage, hook, custom operation, deleter, destroy) never replaces the message the
// caller reads from aph_last_error(). Construct one of these immediately before invoking the
// callback and let it go right after: while it lives, the thread's last error is a slot of its
// own (starting as a copy of the caller's message), so whatever the callback does
// (aph_set_last_error, failing library calls) never touches the caller's message, not even
// the storage a pointer from aph_last_error() points into. For callbacks that return a status,
// call failure() before the guard goes out of scope to build the outer call's message from what
// the callback reported. Not movable (the thread points at it while it lives).
// One thread's last error: its message, or a static one when storing the message failed.
struct ErrorSlot {
    std::string message;
    const char* fallback = nullptr;
};

class CallbackGuard {
public:
    CallbackGuard() noexcept;
    ~CallbackGuard();
    CallbackGuard(const CallbackGuard&) = delete;
    CallbackGuard& operator=(const CallbackGuard&) = delete;

    // The message for a callback that returned the failing status: the one it set (with
    // aph_set_last_error, or as the message of a library call it made that failed) when it set
    // one, else "{kind prefix}{what} failed with APH_ERR_X and gave no message".
    std::string failure(aph_status status, const std::string& what) const;

private:
    ErrorSlot slot_;       // the thread's last error while the callback runs
    ErrorSlot* previous_;  // the one to go back to (nullptr: the thread's own)
    uint64_t generation_;
};

// The one way the library invokes a user callback (rule 4): f runs behind a CallbackGuard.
template <class F>
void invoke_callback(F&& f) {
    const CallbackGuard saved;
    f();
}

// The same for a callback that returns an aph_status: a failing status is thrown as the outer
// call's error, with the message CallbackGuard::failure(status, what()) built from what the
// callback reported (what() names the callback: "stage 'x'", "custom operation 'y'").
template <class F, class W>
void invoke_callback_checked(F&& f, W&& what) {
    std::string failure;
    aph_status status;
    {
        const CallbackGuard saved;
        status = f();
        if (status != APH_OK) failure = saved.failure(status, what());
    }
    if (status != APH_OK) throw Error::raw(status, std::move(failure));
}

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
