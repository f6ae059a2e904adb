#include "log.hpp"

#include "error.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace aph::log {
namespace {

// How the default stderr sink lays a line out.
struct Sink {
    bool timestamps = true;  // an ISO-8601 UTC timestamp
    bool targets = true;     // the target
};

// One registered callback. Each delivery counts itself in `active` (under the logger's mutex)
// for as long as the callback runs; replacing the callback waits until the old one's count is
// zero, so no call to it is in progress once aph_log_set_callback returns. No lock is held
// while a callback runs, so other threads keep logging (to the new callback) meanwhile.
struct Callback {
    aph_log_callback fn = nullptr;
    void* user_data = nullptr;
    int active = 0;
};

// The logger's state. Leaked on purpose: messages may be logged from static destructors of
// other libraries or from threads still running at exit, so it must never be destroyed.
struct Logger {
    std::atomic<int> level{APH_LOG_WARN};
    std::mutex mutex;              // guards the fields below; never held while a callback runs
    std::condition_variable idle;  // a delivery ended (a replaced callback may be idle now)
    Callback* callback = nullptr;  // nullptr: the default stderr sink
    Sink sink;
};

Logger& logger() noexcept {
    static Logger* instance = new Logger();
    return *instance;
}

// Messages held back on this thread while one or more Defer objects are alive.
struct Held {
    aph_log_level level;
    std::string target;
    std::string message;
};
thread_local int t_defer_depth = 0;
thread_local std::vector<Held> t_held;

std::once_flag g_env_once;
thread_local bool t_in_callback = false;

void init_from_env() noexcept {
    const char* rejected = nullptr;
    std::call_once(g_env_once, [&rejected] {
        const char* v = std::getenv("APHELION_LOG");
        if (v == nullptr || *v == '\0') return;
        aph_log_level parsed;
        if (parse_level(v, &parsed)) {
            logger().level.store(parsed, std::memory_order_relaxed);
        } else {
            rejected = v;
        }
    });
    // Logged after call_once has finished: logging re-enters init_from_env().
    if (rejected != nullptr) {
        logf(APH_LOG_WARN, "aphelion::log", "ignoring APHELION_LOG=%s: expected one of trace, debug, info, warn, error",
             rejected);
    }
}

// tracing's fmt layout pads the level to five characters, right-aligned.
const char* padded_level(aph_log_level level) noexcept {
    switch (level) {
        case APH_LOG_ERROR: return "ERROR";
        case APH_LOG_WARN: return " WARN";
        case APH_LOG_INFO: return " INFO";
        case APH_LOG_DEBUG: return "DEBUG";
        case APH_LOG_TRACE: return "TRACE";
    }
    return "?????";
}

void write_stderr(const Sink& sink, aph_log_level level, std::string_view target, std::string_view message) noexcept {
    try {
        std::string line;
        line.reserve(64 + target.size() + message.size());
        if (sink.timestamps) {
            const auto now = std::chrono::system_clock::now();
            const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
            const std::time_t secs = static_cast<std::time_t>(us / 1000000);
            std::tm tm{};
            gmtime_r(&secs, &tm);
            char buf[48];
            std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us % 1000000));
            line += buf;
        }
        line += padded_level(level);
        line += ' ';
        if (sink.targets) {
            line += target;
            line += ": ";
        }
        line += message;
        line += '\n';
        // One fwrite per line: stdio locks the stream, so lines from threads never interleave.
        std::fwrite(line.data(), 1, line.size(), stderr);
    } catch (...) {
        // Out of memory while logging: drop the message rather than fail the caller.
    }
}

}  // namespace

bool parse_level(std::string_view s, aph_log_level* out) noexcept {
    // In the enum's order: the index is the level (ascending severity, TRACE = 0).
    static constexpr const char* names[] = {"trace", "debug", "info", "warn", "error"};
    static_assert(APH_LOG_TRACE == 0 && APH_LOG_DEBUG == 1 && APH_LOG_INFO == 2 && APH_LOG_WARN == 3 &&
                  APH_LOG_ERROR == 4);
    for (int i = 0; i < 5; ++i) {
        const std::string_view n = names[i];
        if (n.size() != s.size()) continue;
        bool same = true;
        for (size_t k = 0; k < n.size(); ++k) {
            if (std::tolower(static_cast<unsigned char>(s[k])) != n[k]) {
                same = false;
                break;
            }
        }
        if (same) {
            *out = static_cast<aph_log_level>(i);
            return true;
        }
    }
    return false;
}

const char* level_name(aph_log_level level) noexcept {
    switch (level) {
        case APH_LOG_ERROR: return "error";
        case APH_LOG_WARN: return "warn";
        case APH_LOG_INFO: return "info";
        case APH_LOG_DEBUG: return "debug";
        case APH_LOG_TRACE: return "trace";
    }
    return "invalid";
}

aph_log_level level() noexcept {
    init_from_env();
    return static_cast<aph_log_level>(logger().level.load(std::memory_order_relaxed));
}

void set_level(aph_log_level lvl) noexcept {
    init_from_env();  // so that a later first use cannot overwrite an explicit choice
    logger().level.store(lvl, std::memory_order_relaxed);
}

// Severity ascends: a message passes when its level is at least the filter's.
bool enabled(aph_log_level lvl) noexcept { return static_cast<int>(lvl) >= level(); }

void write(aph_log_level lvl, std::string_view target, std::string_view message) noexcept {
    if (!enabled(lvl)) return;
    if (t_in_callback) {
        // A library call made from inside the user's callback: do not recurse into it.
        write_stderr(Sink{}, lvl, target, message);
        return;
    }
    if (t_defer_depth > 0) {
        // The library holds a lock on this thread: deliver once it is released.
        try {
            t_held.push_back(Held{lvl, std::string(target), std::string(message)});
            return;
        } catch (...) {
            // No memory to hold it: stderr now (no user code runs under the lock).
            write_stderr(Sink{}, lvl, target, message);
            return;
        }
    }
    Logger& lg = logger();
    Callback* cb;
    Sink sink;
    {
        std::lock_guard lock(lg.mutex);
        cb = lg.callback;
        if (cb) ++cb->active;
        sink = lg.sink;
    }
    if (cb == nullptr) {
        write_stderr(sink, lvl, target, message);
        return;
    }
    try {
        // The callback gets NUL-terminated copies.
        const std::string t(target), m(message);
        t_in_callback = true;
        invoke_callback([&] { cb->fn(cb->user_data, lvl, t.c_str(), m.c_str()); });
    } catch (...) {
        // A C++ callback that throws (or a failed copy) must not unwind through C callers.
    }
    t_in_callback = false;
    std::lock_guard lock(lg.mutex);
    if (--cb->active == 0) lg.idle.notify_all();
}

Defer::Defer() noexcept { ++t_defer_depth; }

Defer::~Defer() {
    if (--t_defer_depth > 0 || t_held.empty()) return;
    std::vector<Held> held;
    held.swap(t_held);
    for (const Held& h : held) write(h.level, h.target, h.message);
}

void logf(aph_log_level lvl, const char* target, const char* fmt, ...) noexcept {
    if (!enabled(lvl)) return;
    try {
        va_list args;
        va_start(args, fmt);
        std::string msg = vstrprintf(fmt, args);
        va_end(args);
        write(lvl, target, msg);
    } catch (...) {
    }
}

bool set_callback(aph_log_callback cb, void* user_data) {
    if (t_in_callback) return false;
    Logger& lg = logger();
    Callback* fresh = cb ? new Callback{cb, user_data, 0} : nullptr;
    Callback* old;
    {
        std::unique_lock lock(lg.mutex);
        old = lg.callback;
        lg.callback = fresh;
        // Deliveries in progress on other threads finish; new ones already go to `fresh`.
        if (old) lg.idle.wait(lock, [old] { return old->active == 0; });
    }
    delete old;
    return true;
}

bool apply_preset(aph_log_preset preset) noexcept {
    if (t_in_callback) return false;
    Logger& lg = logger();
    aph_log_level lvl = APH_LOG_WARN;
    bool timestamps = false, targets = false;
    switch (preset) {
        case APH_LOG_PRESET_DEVELOPMENT:
            lvl = APH_LOG_DEBUG;
            timestamps = true;
            targets = true;
            break;
        case APH_LOG_PRESET_PRODUCTION:
            lvl = APH_LOG_INFO;
            timestamps = true;
            targets = false;
            break;
        case APH_LOG_PRESET_TESTING:
            lvl = APH_LOG_WARN;
            timestamps = false;
            targets = false;
            break;
    }
    {
        std::lock_guard lock(lg.mutex);
        lg.sink.timestamps = timestamps;
        lg.sink.targets = targets;
    }
    set_level(lvl);
    return true;
}

std::string rust_fixed(double v, int precision) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    return strprintf("%.*f", precision, v);
}

std::string rust_exp(double v, int precision) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    // printf writes "1.00e-04"; Rust writes "1.00e-4" (no '+', no leading zeros).
    std::string s = strprintf("%.*e", precision, v);
    const size_t e = s.find('e');
    if (e == std::string::npos) return s;
    std::string mantissa = s.substr(0, e);
    size_t i = e + 1;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    while (i + 1 < s.size() && s[i] == '0') ++i;
    return mantissa + "e" + (negative ? "-" : "") + s.substr(i);
}

}  // namespace aph::log
