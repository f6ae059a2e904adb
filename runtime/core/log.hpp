// The process-wide logger behind section 3 of the header.
#pragma once

#include "aphelion.h"

#include <string>
#include <string_view>

namespace aph::log {

// True if a message at this level would be emitted (cheap: one atomic load after the first call).
bool enabled(aph_log_level level) noexcept;

// Emits one message (already filtered or not: write() filters again). Never throws.
void write(aph_log_level level, std::string_view target, std::string_view message) noexcept;

// printf-style write; formats only when the level is enabled. Never throws.
void logf(aph_log_level level, const char* target, const char* fmt, ...) noexcept __attribute__((format(printf, 3, 4)));

aph_log_level level() noexcept;
void set_level(aph_log_level level) noexcept;

// Replaces the sink; returns false (and changes nothing) when called from inside the callback.
// Waits until no delivery to the previous callback is in progress. Throws std::bad_alloc.
bool set_callback(aph_log_callback cb, void* user_data);

// No log callback may run while the library holds a lock the callback could need (it may call
// back into the library). While a Defer is alive, messages logged on this thread are held, and
// they are delivered, in order, when the thread's outermost Defer ends. Create one immediately
// before taking a lock under which anything may log, declared before the lock so that the lock
// is released first:
//     log::Defer defer;
//     std::lock_guard lock(mutex_);
class Defer {
public:
    Defer() noexcept;
    ~Defer();
    Defer(const Defer&) = delete;
    Defer& operator=(const Defer&) = delete;
};

// Returns false (and changes nothing) when called from inside the callback.
bool apply_preset(aph_log_preset preset) noexcept;

const char* level_name(aph_log_level level) noexcept;

// Parses "trace", "debug", "info", "warn", "error" case-insensitively; false if s is none of them.
bool parse_level(std::string_view s, aph_log_level* out) noexcept;

// Rust's `{:.N}` and `{:.Ne}` formatting of an f64 ("0.123457", "1.00e-4", "NaN", "inf").
std::string rust_fixed(double v, int precision);
std::string rust_exp(double v, int precision);

}  // namespace aph::log
