// Trace sinks (header section 18; docs/compat.md section 7): events and spans.
#pragma once

#include "aphelion.h"
#include "../core/refcount.hpp"

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace aph::trace {

struct Event {
    std::string id;
    std::string message;
    double timestamp = 0;  // seconds since the Unix epoch
    aph_trace_level level = APH_TRACE_INFO;
    std::optional<std::string> span_id;
    std::optional<std::string> trace_id;
};

struct Span {
    std::string name;
    std::string category;
    uint64_t start_ns = 0;  // since the Unix epoch
    uint64_t duration_ns = 0;
    std::string device;  // "" when absent
    uint64_t bytes = 0;
    std::string args_json;  // "" when absent, else a JSON object
};

// Nanoseconds since the Unix epoch (system clock), for span starts and event timestamps.
uint64_t now_ns() noexcept;

}  // namespace aph::trace

// The C handle: a polymorphic, reference-counted, thread-safe sink.
struct aph_trace_sink {
    aph::RefCount refs;
    virtual ~aph_trace_sink() = default;
    virtual void record(const aph::trace::Event& e) = 0;
    virtual void record_span(const aph::trace::Span& s) = 0;

    // Convenience: an event stamped now.
    void emit(aph_trace_level level, std::string id, std::string message);
};

namespace aph::trace {

// "DEBUG", "INFO", "WARN", "ERROR" (the JSON exporter's level names); "UNKNOWN" outside the enum.
const char* level_name(aph_trace_level level) noexcept;
// Throws APH_ERR_INVALID_ARGUMENT "{what} is 7, not a valid aph_trace_level" outside the enum.
void check_level(int level, const char* what);

// Rust's `f64::to_string()` (Display): the shortest digits that round-trip, never an exponent
// ("1700000000.5", "1", "0.0000001"). Finite values only.
std::string rust_f64_display(double v);

// The in-memory sink: every event and span in arrival order. Storage is a deque, so the strings
// that event_at/span_at hand out stay put while other threads keep recording; they are
// invalidated by clear() and by the sink's destruction only.
class MemorySink final : public aph_trace_sink {
public:
    void record(const Event& e) override;
    void record_span(const Span& s) override;

    size_t event_count() const;
    size_t span_count() const;
    // Borrowed views (false when index is out of range).
    bool event_at(size_t index, aph_trace_event* out) const;
    bool span_at(size_t index, aph_trace_span* out) const;
    void clear();
    // Copies, for callers that want values (tests, other exporters).
    std::vector<Event> events() const;
    std::vector<Span> spans() const;

    // aphelion-core's JsonExporter::to_json (serde_json::to_string_pretty of the events).
    std::string to_json() const;
    // Chrome trace-event JSON of the spans ("X") and events ("i"); see aph_trace_export_chrome.
    std::string to_chrome() const;

private:
    mutable std::mutex mutex_;
    std::deque<Event> events_;
    std::deque<Span> spans_;
};

// The other sinks (each keeps references to the sinks it passes things on to).
aph_trace_sink* make_filter(aph_trace_sink* inner, aph_trace_level min_level);
aph_trace_sink* make_fanout(aph_trace_sink* const* sinks, size_t count);
aph_trace_sink* make_callback(aph_trace_event_fn on_event, aph_trace_span_fn on_span, void* user_data,
                              void (*destroy)(void*));

// Releases a reference (deletes the sink when it was the last); NULL is a no-op.
void release(aph_trace_sink* sink) noexcept;

}  // namespace aph::trace
