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
void logf(aph_log_level level, const char* target, const char* fmt, ...) noexcept
    __attribute__((format(printf, 3, 4)));

aph_log_level level() noexcept;
void set_level(aph_log_level level) noexcept;

// Replaces the sink; returns false (and changes nothing) when called from inside the callback.
bool set_callback(aph_log_callback cb, void* user_data) noexcept;

// Returns false (and changes nothing) when called from inside the callback.
bool apply_preset(aph_log_preset preset) noexcept;

const char* level_name(aph_log_level level) noexcept;

// Parses "error".."trace" case-insensitively; false if s is none of them.
bool parse_level(std::string_view s, aph_log_level* out) noexcept;

// Rust's `{:.N}` and `{:.Ne}` formatting of an f64 ("0.123457", "1.00e-4", "NaN", "inf").
std::string rust_fixed(double v, int precision);
std::string rust_exp(double v, int precision);

}  // namespace aph::log
