// C API, section 18: trace sinks, events, spans and the exporters.
#include "../core/error.hpp"
#include "../graph/graph.hpp"
#include "../graph/serde_json.hpp"
#include "../graph/trace.hpp"
#include "cstring.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace {

const aph::trace::MemorySink& memory_sink(const aph_trace_sink* sink) {
    aph::require_arg(sink, "sink");
    const auto* m = dynamic_cast<const aph::trace::MemorySink*>(sink);
    if (m == nullptr) throw aph::invalid_argument("sink is not an in-memory sink");
    return *m;
}

aph::trace::MemorySink& memory_sink(aph_trace_sink* sink) {
    return const_cast<aph::trace::MemorySink&>(memory_sink(static_cast<const aph_trace_sink*>(sink)));
}

// A struct's struct_size must cover its required fields (those before byte offset `required`).
template <class T>
void check_struct_size(const T* s, size_t required, const char* arg, const char* type) {
    if (s->struct_size < required) {
        throw aph::invalid_argument(aph::strprintf("%s->struct_size is %zu, too small for its required fields; set it "
                                                   "to sizeof(%s) (%zu)",
                                                   arg, s->struct_size, type, sizeof(T)));
    }
}

// The caller's struct with the fields past its struct_size at their defaults (in `defaults`).
template <class T>
T read_struct(const T* s, T defaults) {
    std::memcpy(&defaults, s, std::min(s->struct_size, sizeof(T)));
    return defaults;
}

// Writes the fields of full that fit in out->struct_size (full.struct_size is out's).
template <class T>
void write_struct(T* out, const T& full) {
    std::memcpy(out, &full, std::min(out->struct_size, sizeof(T)));
}

constexpr size_t kEventRequired = offsetof(aph_trace_event, message) + sizeof(const char*);
constexpr size_t kSpanRequired = offsetof(aph_trace_span, duration_ns) + sizeof(uint64_t);

}  // namespace

extern "C" {

APH_API aph_status aph_trace_sink_memory(aph_trace_sink** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        *out = new aph::trace::MemorySink();
    });
}

APH_API aph_status aph_trace_sink_filter(aph_trace_sink* inner, aph_trace_level min_level, aph_trace_sink** out) {
    return aph::guard([&] {
        aph::require_arg(inner, "inner");
        aph::require_arg(out, "out");
        aph::trace::check_level(static_cast<int>(min_level), "min_level");
        *out = aph::trace::make_filter(inner, min_level);
    });
}

APH_API aph_status aph_trace_sink_fanout(aph_trace_sink* const* sinks, size_t count, aph_trace_sink** out) {
    return aph::guard([&] {
        if (count > 0) aph::require_arg(sinks, "sinks");
        aph::require_arg(out, "out");
        for (size_t i = 0; i < count; ++i) {
            if (sinks[i] == nullptr) {
                throw aph::invalid_argument(aph::strprintf("sinks[%zu] must not be NULL", i));
            }
        }
        *out = aph::trace::make_fanout(sinks, count);
    });
}

APH_API aph_status aph_trace_sink_callback(aph_trace_event_fn on_event, aph_trace_span_fn on_span, void* user_data,
                                           void (*destroy)(void* user_data), aph_trace_sink** out) {
    return aph::guard([&] {
        if (on_event == nullptr) throw aph::invalid_argument("on_event must not be NULL");
        aph::require_arg(out, "out");
        *out = aph::trace::make_callback(on_event, on_span, user_data, destroy);
    });
}

APH_API void aph_trace_sink_retain(aph_trace_sink* sink) {
    if (sink) sink->refs.retain();
}

APH_API void aph_trace_sink_release(aph_trace_sink* sink) { aph::trace::release(sink); }

APH_API aph_status aph_trace_sink_record(aph_trace_sink* sink, const aph_trace_event* given) {
    return aph::guard([&] {
        aph::require_arg(sink, "sink");
        aph::require_arg(given, "event");
        check_struct_size(given, kEventRequired, "event", "aph_trace_event");
        aph_trace_event defaults{};
        defaults.level = APH_TRACE_INFO;
        const aph_trace_event full = read_struct(given, defaults);
        const aph_trace_event* event = &full;
        aph::require_arg(event->id, "event->id");
        aph::require_arg(event->message, "event->message");
        aph::trace::check_level(static_cast<int>(event->level), "event->level");
        if (!std::isfinite(event->timestamp)) {
            throw aph::invalid_argument("event->timestamp must be finite");
        }
        aph::trace::Event e;
        e.id = event->id;
        e.message = event->message;
        e.level = event->level;
        if (event->span_id) e.span_id = event->span_id;
        if (event->trace_id) e.trace_id = event->trace_id;
        if (event->timestamp == 0) {
            const uint64_t ns = aph::trace::now_ns();
            e.timestamp = static_cast<double>(ns / 1000000000ULL) + static_cast<double>(ns % 1000000000ULL) / 1e9;
        } else {
            e.timestamp = event->timestamp;
        }
        sink->record(e);
    });
}

APH_API aph_status aph_trace_sink_record_span(aph_trace_sink* sink, const aph_trace_span* given) {
    return aph::guard([&] {
        aph::require_arg(sink, "sink");
        aph::require_arg(given, "span");
        check_struct_size(given, kSpanRequired, "span", "aph_trace_span");
        const aph_trace_span full = read_struct(given, aph_trace_span{});
        const aph_trace_span* span = &full;
        aph::require_arg(span->name, "span->name");
        aph::require_arg(span->category, "span->category");
        aph::trace::Span s;
        s.name = span->name;
        s.category = span->category;
        s.start_ns = span->start_ns;
        s.duration_ns = span->duration_ns;
        if (span->device) s.device = span->device;
        s.bytes = span->bytes;
        if (span->args_json) {
            const aph::graph::Json args = aph::graph::parse_json(span->args_json, "span->args_json");
            if (!args.is_object()) {
                throw aph::invalid_argument(
                    aph::strprintf("span->args_json must be a JSON object, got %s", aph::graph::json_type_name(args)));
            }
            s.args_json = aph::graph::serde_compact(args);
        }
        sink->record_span(s);
    });
}

APH_API size_t aph_trace_sink_event_count(const aph_trace_sink* sink) {
    const auto* m = dynamic_cast<const aph::trace::MemorySink*>(sink);
    return m ? m->event_count() : 0;
}

APH_API aph_status aph_trace_sink_event(const aph_trace_sink* sink, size_t index, aph_trace_event* out) {
    return aph::guard([&] {
        const aph::trace::MemorySink& m = memory_sink(sink);
        aph::require_arg(out, "out");
        check_struct_size(out, offsetof(aph_trace_event, id) + sizeof(const char*), "out", "aph_trace_event");
        aph_trace_event e{};
        e.struct_size = out->struct_size;
        if (!m.event_at(index, &e)) {
            throw aph::invalid_argument(
                aph::strprintf("index %zu is out of range (the sink has %zu events)", index, m.event_count()));
        }
        write_struct(out, e);
    });
}

APH_API size_t aph_trace_sink_span_count(const aph_trace_sink* sink) {
    const auto* m = dynamic_cast<const aph::trace::MemorySink*>(sink);
    return m ? m->span_count() : 0;
}

APH_API aph_status aph_trace_sink_span(const aph_trace_sink* sink, size_t index, aph_trace_span* out) {
    return aph::guard([&] {
        const aph::trace::MemorySink& m = memory_sink(sink);
        aph::require_arg(out, "out");
        check_struct_size(out, offsetof(aph_trace_span, name) + sizeof(const char*), "out", "aph_trace_span");
        aph_trace_span s{};
        s.struct_size = out->struct_size;
        if (!m.span_at(index, &s)) {
            throw aph::invalid_argument(
                aph::strprintf("index %zu is out of range (the sink has %zu spans)", index, m.span_count()));
        }
        write_struct(out, s);
    });
}

APH_API aph_status aph_trace_sink_clear(aph_trace_sink* sink) {
    return aph::guard([&] { memory_sink(sink).clear(); });
}

APH_API aph_status aph_trace_export_json(const aph_trace_sink* sink, char** out) {
    return aph::guard([&] {
        const aph::trace::MemorySink& m = memory_sink(sink);
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(m.to_json());
    });
}

APH_API aph_status aph_trace_export_chrome(const aph_trace_sink* sink, char** out) {
    return aph::guard([&] {
        const aph::trace::MemorySink& m = memory_sink(sink);
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(m.to_chrome());
    });
}

}  // extern "C"
