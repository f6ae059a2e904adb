// Trace sinks (header section 18; docs/compat.md section 7): the in-memory sink with aphelion-core's
// JSON exporter and a Chrome trace-event exporter, the level filter, the fan-out and the callback
// sink. Every sink is thread-safe: the memory sink takes a mutex per record; the others hold
// nothing mutable after construction.
#include "trace.hpp"

#include "../core/error.hpp"
#include "serde_json.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <utility>

namespace aph::trace {

uint64_t now_ns() noexcept {
    const auto d = std::chrono::system_clock::now().time_since_epoch();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return ns < 0 ? 0 : static_cast<uint64_t>(ns);
}

const char* level_name(aph_trace_level level) noexcept {
    switch (level) {
        case APH_TRACE_DEBUG: return "DEBUG";
        case APH_TRACE_INFO: return "INFO";
        case APH_TRACE_WARN: return "WARN";
        case APH_TRACE_ERROR: return "ERROR";
    }
    return "UNKNOWN";
}

void check_level(int level, const char* what) {
    if (level < APH_TRACE_DEBUG || level > APH_TRACE_ERROR) {
        throw invalid_argument(strprintf("%s is %d, not a valid aph_trace_level", what, level));
    }
}

std::string rust_f64_display(double v) {
    // Rust's Display for f64 prints the shortest round-trip digits in positional notation;
    // std::to_chars with chars_format::fixed and no precision is exactly that.
    char buf[400];  // the longest fixed form of a double is 309 digits plus sign and point
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    if (r.ec != std::errc()) return "NaN";
    return std::string(buf, r.ptr);
}

namespace {

// The seconds-since-epoch string of aphelion-core's SerializableTraceEvent:
// `duration_since(UNIX_EPOCH).as_secs_f64().to_string()`, or "unknown" before the epoch.
std::string timestamp_string(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds)) return "unknown";
    return rust_f64_display(seconds == 0 ? 0.0 : seconds);  // no "-0"
}

// An event's timestamp as nanoseconds since the epoch, clamped to [0, UINT64_MAX].
uint64_t event_ns(double seconds) {
    if (!(seconds > 0)) return 0;
    const double ns = seconds * 1e9;
    if (ns >= 18446744073709549568.0) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(std::nearbyint(ns));
}

// ns as microseconds with up to three decimals, exactly ("12", "12.5", "0.001").
void append_us(std::string& out, uint64_t ns) {
    out += std::to_string(ns / 1000);
    uint64_t frac = ns % 1000;
    if (frac == 0) return;
    char digits[4] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                      static_cast<char>('0' + frac % 10), '\0'};
    int len = 3;
    while (digits[len - 1] == '0') --len;
    out += '.';
    out.append(digits, static_cast<size_t>(len));
}

void append_key(std::string& out, const char* key) {
    graph::serde_string(out, key);
    out += ':';
}

void append_optional(std::string& out, const std::optional<std::string>& s) {
    if (s) {
        graph::serde_string(out, *s);
    } else {
        out += "null";
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Memory sink

void MemorySink::record(const Event& e) {
    Event copy = e;  // copy outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(copy));
}

void MemorySink::record_span(const Span& s) {
    Span copy = s;
    std::lock_guard<std::mutex> lock(mutex_);
    spans_.push_back(std::move(copy));
}

size_t MemorySink::event_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.size();
}

size_t MemorySink::span_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return spans_.size();
}

bool MemorySink::event_at(size_t index, aph_trace_event* out) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index >= events_.size()) return false;
    const Event& e = events_[index];
    out->id = e.id.c_str();
    out->message = e.message.c_str();
    out->timestamp = e.timestamp;
    out->level = e.level;
    out->span_id = e.span_id ? e.span_id->c_str() : nullptr;
    out->trace_id = e.trace_id ? e.trace_id->c_str() : nullptr;
    return true;
}

bool MemorySink::span_at(size_t index, aph_trace_span* out) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index >= spans_.size()) return false;
    const Span& s = spans_[index];
    out->name = s.name.c_str();
    out->category = s.category.c_str();
    out->start_ns = s.start_ns;
    out->duration_ns = s.duration_ns;
    out->device = s.device.empty() ? nullptr : s.device.c_str();
    out->bytes = s.bytes;
    out->args_json = s.args_json.empty() ? nullptr : s.args_json.c_str();
    return true;
}

void MemorySink::clear() {
    std::deque<Event> events;
    std::deque<Span> spans;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        events.swap(events_);
        spans.swap(spans_);
    }
}

std::vector<Event> MemorySink::events() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {events_.begin(), events_.end()};
}

std::vector<Span> MemorySink::spans() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {spans_.begin(), spans_.end()};
}

std::string MemorySink::to_json() const {
    // serde_json::to_string_pretty(&Vec<SerializableTraceEvent>): two-space indent, "key": value,
    // fields in struct order, "[]" when empty, no trailing newline.
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.empty()) return "[]";
    std::string out = "[\n";
    bool first = true;
    for (const Event& e : events_) {
        if (!first) out += ",\n";
        first = false;
        out += "  {\n    \"id\": ";
        graph::serde_string(out, e.id);
        out += ",\n    \"message\": ";
        graph::serde_string(out, e.message);
        out += ",\n    \"timestamp\": ";
        graph::serde_string(out, timestamp_string(e.timestamp));
        out += ",\n    \"level\": ";
        graph::serde_string(out, level_name(e.level));
        out += ",\n    \"span_id\": ";
        append_optional(out, e.span_id);
        out += ",\n    \"trace_id\": ";
        append_optional(out, e.trace_id);
        out += "\n  }";
    }
    out += "\n]";
    return out;
}

std::string MemorySink::to_chrome() const {
    std::lock_guard<std::mutex> lock(mutex_);
    // Times are relative to the earliest span start or event timestamp in the sink.
    uint64_t base = std::numeric_limits<uint64_t>::max();
    for (const Span& s : spans_) base = std::min(base, s.start_ns);
    for (const Event& e : events_) base = std::min(base, event_ns(e.timestamp));

    std::string out = "{\"traceEvents\":[";
    bool first = true;
    auto begin_item = [&] {
        out += first ? "\n" : ",\n";
        first = false;
    };
    for (const Span& s : spans_) {
        begin_item();
        out += '{';
        append_key(out, "name");
        graph::serde_string(out, s.name);
        out += ',';
        append_key(out, "cat");
        graph::serde_string(out, s.category);
        out += ",\"ph\":\"X\",\"ts\":";
        append_us(out, s.start_ns - base);
        out += ",\"dur\":";
        append_us(out, s.duration_ns);
        out += ",\"pid\":1,\"tid\":1,\"args\":{";
        if (!s.device.empty()) {
            append_key(out, "device");
            graph::serde_string(out, s.device);
            out += ',';
        }
        append_key(out, "bytes");
        out += std::to_string(s.bytes);
        if (!s.args_json.empty()) {
            // Validated as an object when recorded; fields named like ours are left out.
            const nlohmann::json args = nlohmann::json::parse(s.args_json, nullptr, false);
            if (args.is_object()) {
                for (const auto& [key, value] : args.items()) {
                    if (key == "device" || key == "bytes") continue;
                    out += ',';
                    graph::serde_string(out, key);
                    out += ':';
                    out += graph::serde_compact(value);
                }
            }
        }
        out += "}}";
    }
    for (const Event& e : events_) {
        begin_item();
        out += '{';
        append_key(out, "name");
        graph::serde_string(out, e.id);
        out += ",\"cat\":\"event\",\"ph\":\"i\",\"s\":\"g\",\"ts\":";
        append_us(out, event_ns(e.timestamp) - base);
        out += ",\"pid\":1,\"tid\":1,\"args\":{";
        append_key(out, "message");
        graph::serde_string(out, e.message);
        out += ',';
        append_key(out, "level");
        graph::serde_string(out, level_name(e.level));
        if (e.span_id) {
            out += ',';
            append_key(out, "span_id");
            graph::serde_string(out, *e.span_id);
        }
        if (e.trace_id) {
            out += ',';
            append_key(out, "trace_id");
            graph::serde_string(out, *e.trace_id);
        }
        out += "}}";
    }
    out += first ? "]" : "\n]";
    out += ",\"displayTimeUnit\":\"ms\"}";
    return out;
}

// ---------------------------------------------------------------------------------------------
// Filter, fan-out, callback

namespace {

class FilterSink final : public aph_trace_sink {
public:
    FilterSink(aph_trace_sink* inner, aph_trace_level min_level) : inner_(inner), min_level_(min_level) {
        inner_->refs.retain();
    }
    ~FilterSink() override { release(inner_); }
    FilterSink(const FilterSink&) = delete;
    FilterSink& operator=(const FilterSink&) = delete;

    void record(const Event& e) override {
        if (e.level >= min_level_) inner_->record(e);
    }
    void record_span(const Span& s) override { inner_->record_span(s); }

private:
    aph_trace_sink* inner_;
    const aph_trace_level min_level_;
};

class FanoutSink final : public aph_trace_sink {
public:
    explicit FanoutSink(std::vector<aph_trace_sink*> sinks) : sinks_(std::move(sinks)) {
        for (aph_trace_sink* s : sinks_) s->refs.retain();
    }
    ~FanoutSink() override {
        for (aph_trace_sink* s : sinks_) release(s);
    }
    FanoutSink(const FanoutSink&) = delete;
    FanoutSink& operator=(const FanoutSink&) = delete;

    void record(const Event& e) override {
        for (aph_trace_sink* s : sinks_) s->record(e);
    }
    void record_span(const Span& sp) override {
        for (aph_trace_sink* s : sinks_) s->record_span(sp);
    }

private:
    const std::vector<aph_trace_sink*> sinks_;
};

class CallbackSink final : public aph_trace_sink {
public:
    CallbackSink(aph_trace_event_fn on_event, aph_trace_span_fn on_span, void* user_data, void (*destroy)(void*))
        : on_event_(on_event), on_span_(on_span), user_data_(user_data), destroy_(destroy) {}
    ~CallbackSink() override {
        if (destroy_) invoke_callback([this] { destroy_(user_data_); });
    }
    CallbackSink(const CallbackSink&) = delete;
    CallbackSink& operator=(const CallbackSink&) = delete;

    void record(const Event& e) override {
        if (!on_event_) return;
        aph_trace_event c{};
        c.struct_size = sizeof c;
        c.id = e.id.c_str();
        c.message = e.message.c_str();
        c.timestamp = e.timestamp;
        c.level = e.level;
        c.span_id = e.span_id ? e.span_id->c_str() : nullptr;
        c.trace_id = e.trace_id ? e.trace_id->c_str() : nullptr;
        invoke_callback([&] { on_event_(user_data_, &c); });
    }
    void record_span(const Span& s) override {
        if (!on_span_) return;
        aph_trace_span c{};
        c.struct_size = sizeof c;
        c.name = s.name.c_str();
        c.category = s.category.c_str();
        c.start_ns = s.start_ns;
        c.duration_ns = s.duration_ns;
        c.device = s.device.empty() ? nullptr : s.device.c_str();
        c.bytes = s.bytes;
        c.args_json = s.args_json.empty() ? nullptr : s.args_json.c_str();
        invoke_callback([&] { on_span_(user_data_, &c); });
    }

private:
    const aph_trace_event_fn on_event_;
    const aph_trace_span_fn on_span_;
    void* const user_data_;
    void (*const destroy_)(void*);
};

}  // namespace

aph_trace_sink* make_filter(aph_trace_sink* inner, aph_trace_level min_level) {
    return new FilterSink(inner, min_level);
}

aph_trace_sink* make_fanout(aph_trace_sink* const* sinks, size_t count) {
    std::vector<aph_trace_sink*> v(sinks, sinks + count);
    return new FanoutSink(std::move(v));
}

aph_trace_sink* make_callback(aph_trace_event_fn on_event, aph_trace_span_fn on_span, void* user_data,
                              void (*destroy)(void*)) {
    return new CallbackSink(on_event, on_span, user_data, destroy);
}

void release(aph_trace_sink* sink) noexcept {
    if (sink && sink->refs.release()) delete sink;
}

}  // namespace aph::trace

void aph_trace_sink::emit(aph_trace_level level, std::string id, std::string message) {
    // SystemTime::now() -> as_secs_f64(): whole seconds plus nanoseconds / 1e9.
    const uint64_t ns = aph::trace::now_ns();
    aph::trace::Event e;
    e.id = std::move(id);
    e.message = std::move(message);
    e.timestamp = static_cast<double>(ns / 1000000000ULL) + static_cast<double>(ns % 1000000000ULL) / 1e9;
    e.level = level;
    record(e);
}
