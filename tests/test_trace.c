/* test_trace.c — section 18 of aphelion.h: trace sinks. The in-memory sink (borrowed strings,
 * counts, clear), recording and its argument checks, the level filter, the fan-out's order,
 * the callback sink (destroy once, references kept by filters and fan-outs), spans, the JSON
 * exporter byte for byte (aphelion-core's serde_json::to_string_pretty output, Rust's f64
 * Display timestamps), the Chrome exporter's exact text and validity, and 8 threads recording
 * into one sink through a fan-out and a filter. */
#define _DEFAULT_SOURCE
#include "test_util.h"

#include <math.h>
#include <time.h>

#define NOT_MEMORY "invalid argument: sink is not an in-memory sink"

static aph_trace_sink* make_memory(void) {
    aph_trace_sink* s = NULL;
    APH_ASSERT_OK(aph_trace_sink_memory(&s));
    assert_non_null(s);
    return s;
}

static aph_trace_event make_event(const char* id, const char* message, double ts, aph_trace_level level,
                                  const char* span_id, const char* trace_id) {
    aph_trace_event e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    e.id = id;
    e.message = message;
    e.timestamp = ts;
    e.level = level;
    e.span_id = span_id;
    e.trace_id = trace_id;
    return e;
}

static void record(aph_trace_sink* s, const char* id, const char* message, double ts, aph_trace_level level,
                   const char* span_id, const char* trace_id) {
    aph_trace_event e = make_event(id, message, ts, level, span_id, trace_id);
    APH_ASSERT_OK(aph_trace_sink_record(s, &e));
}

static aph_trace_event get_event(const aph_trace_sink* s, size_t i) {
    aph_trace_event e;
    memset(&e, 0x5a, sizeof e); /* poison */
    e.struct_size = sizeof e;
    APH_ASSERT_OK(aph_trace_sink_event(s, i, &e));
    return e;
}

static char* export_json(const aph_trace_sink* s) {
    char* out = NULL;
    APH_ASSERT_OK(aph_trace_export_json(s, &out));
    assert_non_null(out);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * In-memory sink
 * ------------------------------------------------------------------------------------------- */

static void test_memory_sink(void** state) {
    (void)state;
    aph_trace_sink* s = make_memory();
    assert_int_equal(aph_trace_sink_event_count(s), 0);
    assert_int_equal(aph_trace_sink_span_count(s), 0);

    /* The caller's strings are copied: change them after recording. */
    char id[16], msg[16];
    snprintf(id, sizeof id, "build.start");
    snprintf(msg, sizeof msg, "starting");
    record(s, id, msg, 12.25, APH_TRACE_WARN, "span-1", NULL);
    memset(id, 'x', sizeof id - 1);
    memset(msg, 'y', sizeof msg - 1);
    record(s, "second", "two", 13.5, APH_TRACE_DEBUG, NULL, "trace-9");
    assert_int_equal(aph_trace_sink_event_count(s), 2);

    aph_trace_event e0 = get_event(s, 0);
    assert_string_equal(e0.id, "build.start");
    assert_string_equal(e0.message, "starting");
    assert_true(e0.timestamp == 12.25);
    assert_int_equal(e0.level, APH_TRACE_WARN);
    assert_string_equal(e0.span_id, "span-1");
    assert_null(e0.trace_id);
    assert_int_equal(e0.struct_size, sizeof e0);

    /* Borrowed strings stay valid while other events arrive. */
    for (int i = 0; i < 1000; ++i) record(s, "filler", "f", 1.0, APH_TRACE_INFO, NULL, NULL);
    assert_string_equal(e0.id, "build.start");
    assert_string_equal(e0.message, "starting");
    assert_string_equal(e0.span_id, "span-1");

    aph_trace_event e1 = get_event(s, 1);
    assert_string_equal(e1.id, "second");
    assert_string_equal(e1.message, "two");
    assert_true(e1.timestamp == 13.5);
    assert_int_equal(e1.level, APH_TRACE_DEBUG);
    assert_null(e1.span_id);
    assert_string_equal(e1.trace_id, "trace-9");

    /* Out of range: an error, and out is left alone. */
    aph_trace_event poisoned;
    memset(&poisoned, 0x5a, sizeof poisoned);
    poisoned.struct_size = sizeof poisoned;
    aph_trace_event copy = poisoned;
    APH_ASSERT_ERR(aph_trace_sink_event(s, 1002, &poisoned), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: index 1002 is out of range (the sink has 1002 events)");
    assert_memory_equal(&poisoned, &copy, sizeof copy);

    /* struct_size too small for any field. */
    aph_trace_event small = get_event(s, 0);
    small.struct_size = 8;
    char expect[160];
    snprintf(expect, sizeof expect,
             "invalid argument: out->struct_size is 8, too small for its required fields; set it to "
             "sizeof(aph_trace_event) (%zu)",
             sizeof(aph_trace_event));
    APH_ASSERT_ERR(aph_trace_sink_event(s, 0, &small), APH_ERR_INVALID_ARGUMENT, expect);

    /* An older, smaller struct: only the fields inside its struct_size are written. */
    aph_trace_event partial;
    memset(&partial, 0x5a, sizeof partial);
    partial.struct_size = offsetof(aph_trace_event, timestamp);
    APH_ASSERT_OK(aph_trace_sink_event(s, 1, &partial));
    assert_string_equal(partial.id, "second");
    assert_string_equal(partial.message, "two");
    unsigned char tail[sizeof partial];
    memset(tail, 0x5a, sizeof tail);
    assert_memory_equal((const unsigned char*)&partial + offsetof(aph_trace_event, timestamp), tail,
                        sizeof partial - offsetof(aph_trace_event, timestamp));
    aph_trace_span sp_partial;
    memset(&sp_partial, 0x5a, sizeof sp_partial);
    sp_partial.struct_size = offsetof(aph_trace_span, category);
    APH_ASSERT_ERR(aph_trace_sink_span(s, 0, &sp_partial), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: index 0 is out of range (the sink has 0 spans)");

    APH_ASSERT_OK(aph_trace_sink_clear(s));
    assert_int_equal(aph_trace_sink_event_count(s), 0);
    assert_int_equal(aph_trace_sink_span_count(s), 0);
    APH_ASSERT_ERR(aph_trace_sink_event(s, 0, &poisoned), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: index 0 is out of range (the sink has 0 events)");
    char* json = export_json(s);
    assert_string_equal(json, "[]");
    aph_string_free(json);

    /* Still usable after clearing. */
    record(s, "after", "clear", 1.0, APH_TRACE_ERROR, NULL, NULL);
    assert_int_equal(aph_trace_sink_event_count(s), 1);
    assert_string_equal(get_event(s, 0).id, "after");

    /* Retain / release: a second reference keeps it alive. */
    aph_trace_sink_retain(s);
    aph_trace_sink_release(s);
    assert_int_equal(aph_trace_sink_event_count(s), 1);
    aph_trace_sink_release(s);
}

static void test_record_checks(void** state) {
    (void)state;
    aph_trace_sink* s = make_memory();
    aph_trace_event e = make_event("id", "msg", 5.0, APH_TRACE_INFO, NULL, NULL);

    APH_ASSERT_ERR(aph_trace_sink_record(NULL, &e), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: sink must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_record(s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event must not be NULL");
    aph_trace_event bad = e;
    bad.id = NULL;
    APH_ASSERT_ERR(aph_trace_sink_record(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event->id must not be NULL");
    bad = e;
    bad.message = NULL;
    APH_ASSERT_ERR(aph_trace_sink_record(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event->message must not be NULL");
    bad = e;
    bad.level = (aph_trace_level)7;
    APH_ASSERT_ERR(aph_trace_sink_record(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event->level is 7, not a valid aph_trace_level");
    bad.level = (aph_trace_level)-1;
    APH_ASSERT_ERR(aph_trace_sink_record(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event->level is -1, not a valid aph_trace_level");
    bad = e;
    bad.timestamp = NAN;
    APH_ASSERT_ERR(aph_trace_sink_record(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event->timestamp must be finite");
    bad.timestamp = INFINITY;
    APH_ASSERT_ERR(aph_trace_sink_record(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: event->timestamp must be finite");
    bad = e;
    bad.struct_size = offsetof(aph_trace_event, message); /* message is required */
    char expect[160];
    snprintf(expect, sizeof expect,
             "invalid argument: event->struct_size is %zu, too small for its required fields; set it "
             "to sizeof(aph_trace_event) (%zu)",
             offsetof(aph_trace_event, message), sizeof bad);
    APH_ASSERT_ERR(aph_trace_sink_record(s, &bad), APH_ERR_INVALID_ARGUMENT, expect);
    /* Nothing was recorded by the failed calls. */
    assert_int_equal(aph_trace_sink_event_count(s), 0);

    /* An older caller's struct that ends after message: the rest takes its defaults (now,
     * INFO, no span or trace id), whatever lies past struct_size. */
    struct {
        aph_trace_event e;
        unsigned char junk[16];
    } older;
    memset(&older, 0x5a, sizeof older);
    older.e.struct_size = offsetof(aph_trace_event, message) + sizeof(const char*);
    older.e.id = "old";
    older.e.message = "short struct";
    APH_ASSERT_OK(aph_trace_sink_record(s, &older.e));
    assert_int_equal(aph_trace_sink_event_count(s), 1);
    aph_trace_event got = get_event(s, 0);
    assert_string_equal(got.id, "old");
    assert_int_equal(got.level, APH_TRACE_INFO);
    assert_null(got.span_id);
    assert_null(got.trace_id);
    assert_true(got.timestamp > 1.6e9); /* "now" */
    APH_ASSERT_OK(aph_trace_sink_clear(s));

    /* Spans: name, category, start and duration are required; device, bytes and args_json take
     * their defaults past struct_size. */
    aph_trace_span old_span;
    memset(&old_span, 0x5a, sizeof old_span);
    old_span.struct_size = offsetof(aph_trace_span, duration_ns) + sizeof(uint64_t);
    old_span.name = "old span";
    old_span.category = "stage";
    old_span.start_ns = 1000;
    old_span.duration_ns = 20;
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &old_span));
    aph_trace_span got_span;
    memset(&got_span, 0, sizeof got_span);
    got_span.struct_size = sizeof got_span;
    APH_ASSERT_OK(aph_trace_sink_span(s, 0, &got_span));
    assert_string_equal(got_span.name, "old span");
    assert_int_equal(got_span.duration_ns, 20);
    assert_null(got_span.device);
    assert_int_equal(got_span.bytes, 0);
    assert_null(got_span.args_json);
    old_span.struct_size = offsetof(aph_trace_span, duration_ns);
    snprintf(expect, sizeof expect,
             "invalid argument: span->struct_size is %zu, too small for its required fields; set it "
             "to sizeof(aph_trace_span) (%zu)",
             offsetof(aph_trace_span, duration_ns), sizeof(aph_trace_span));
    APH_ASSERT_ERR(aph_trace_sink_record_span(s, &old_span), APH_ERR_INVALID_ARGUMENT, expect);
    assert_int_equal(aph_trace_sink_span_count(s), 1);
    APH_ASSERT_OK(aph_trace_sink_clear(s));

    /* Timestamp 0 means now. */
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    record(s, "now", "stamped", 0, APH_TRACE_INFO, NULL, NULL);
    clock_gettime(CLOCK_REALTIME, &after);
    double t = get_event(s, 0).timestamp;
    assert_true(t >= (double)before.tv_sec);
    assert_true(t <= (double)after.tv_sec + 1.0);

    /* Getters on NULL and on sinks that are not in-memory ones. */
    assert_int_equal(aph_trace_sink_event_count(NULL), 0);
    assert_int_equal(aph_trace_sink_span_count(NULL), 0);
    aph_trace_event out;
    memset(&out, 0, sizeof out);
    out.struct_size = sizeof out;
    APH_ASSERT_ERR(aph_trace_sink_event(NULL, 0, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: sink must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_event(s, 0, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    aph_trace_sink* f = NULL;
    APH_ASSERT_OK(aph_trace_sink_filter(s, APH_TRACE_DEBUG, &f));
    assert_int_equal(aph_trace_sink_event_count(f), 0);
    APH_ASSERT_ERR(aph_trace_sink_event(f, 0, &out), APH_ERR_INVALID_ARGUMENT, NOT_MEMORY);
    aph_trace_span sp;
    memset(&sp, 0, sizeof sp);
    sp.struct_size = sizeof sp;
    APH_ASSERT_ERR(aph_trace_sink_span(f, 0, &sp), APH_ERR_INVALID_ARGUMENT, NOT_MEMORY);
    APH_ASSERT_ERR(aph_trace_sink_clear(f), APH_ERR_INVALID_ARGUMENT, NOT_MEMORY);
    APH_ASSERT_ERR(aph_trace_sink_clear(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: sink must not be NULL");
    char* text = (char*)0x1;
    APH_ASSERT_ERR(aph_trace_export_json(f, &text), APH_ERR_INVALID_ARGUMENT, NOT_MEMORY);
    APH_ASSERT_ERR(aph_trace_export_chrome(f, &text), APH_ERR_INVALID_ARGUMENT, NOT_MEMORY);
    assert_ptr_equal(text, (char*)0x1); /* out untouched on failure */
    APH_ASSERT_ERR(aph_trace_export_json(s, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_trace_export_chrome(NULL, &text), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: sink must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_memory(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");

    aph_trace_sink_release(f);
    aph_trace_sink_release(s);
    aph_trace_sink_release(NULL);
    aph_trace_sink_retain(NULL);
}

/* ---------------------------------------------------------------------------------------------
 * The JSON exporter
 * ------------------------------------------------------------------------------------------- */

static void test_export_json_exact(void** state) {
    (void)state;
    aph_trace_sink* s = make_memory();
    char* json = export_json(s);
    assert_string_equal(json, "[]"); /* serde_json's pretty empty array */
    aph_string_free(json);

    record(s, "build.start", "starting \"model\"\n\tbuild \xc3\xa9\x01\\", 1700000000.5, APH_TRACE_INFO, "span-1",
           NULL);
    record(s, "x", "", 2.0, APH_TRACE_ERROR, NULL, NULL);
    record(s, "early", "before the epoch", -1.5, APH_TRACE_DEBUG, NULL, "t");
    record(s, "tiny", "m", 1e-7, APH_TRACE_WARN, "a", "b");
    record(s, "precise", "m", 1700000000.123456789, APH_TRACE_INFO, NULL, NULL);

    json = export_json(s);
    const char* expect = "[\n"
                         "  {\n"
                         "    \"id\": \"build.start\",\n"
                         "    \"message\": \"starting \\\"model\\\"\\n\\tbuild \xc3\xa9\\u0001\\\\\",\n"
                         "    \"timestamp\": \"1700000000.5\",\n"
                         "    \"level\": \"INFO\",\n"
                         "    \"span_id\": \"span-1\",\n"
                         "    \"trace_id\": null\n"
                         "  },\n"
                         "  {\n"
                         "    \"id\": \"x\",\n"
                         "    \"message\": \"\",\n"
                         "    \"timestamp\": \"2\",\n"
                         "    \"level\": \"ERROR\",\n"
                         "    \"span_id\": null,\n"
                         "    \"trace_id\": null\n"
                         "  },\n"
                         "  {\n"
                         "    \"id\": \"early\",\n"
                         "    \"message\": \"before the epoch\",\n"
                         "    \"timestamp\": \"unknown\",\n"
                         "    \"level\": \"DEBUG\",\n"
                         "    \"span_id\": null,\n"
                         "    \"trace_id\": \"t\"\n"
                         "  },\n"
                         "  {\n"
                         "    \"id\": \"tiny\",\n"
                         "    \"message\": \"m\",\n"
                         "    \"timestamp\": \"0.0000001\",\n"
                         "    \"level\": \"WARN\",\n"
                         "    \"span_id\": \"a\",\n"
                         "    \"trace_id\": \"b\"\n"
                         "  },\n"
                         "  {\n"
                         "    \"id\": \"precise\",\n"
                         "    \"message\": \"m\",\n"
                         "    \"timestamp\": \"1700000000.1234567\",\n"
                         "    \"level\": \"INFO\",\n"
                         "    \"span_id\": null,\n"
                         "    \"trace_id\": null\n"
                         "  }\n"
                         "]";
    assert_string_equal(json, expect);
    aph_string_free(json);

    /* Spans are not part of aphelion-core's export. */
    aph_trace_span sp;
    memset(&sp, 0, sizeof sp);
    sp.struct_size = sizeof sp;
    sp.name = "n";
    sp.category = "stage";
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &sp));
    json = export_json(s);
    assert_string_equal(json, expect);
    aph_string_free(json);
    aph_trace_sink_release(s);
}

/* ---------------------------------------------------------------------------------------------
 * Filter, fan-out, callback
 * ------------------------------------------------------------------------------------------- */

static void test_level_filter(void** state) {
    (void)state;
    aph_trace_sink* mem = make_memory();
    aph_trace_sink* f = NULL;
    APH_ASSERT_OK(aph_trace_sink_filter(mem, APH_TRACE_WARN, &f));
    record(f, "d", "debug", 1.0, APH_TRACE_DEBUG, NULL, NULL);
    record(f, "i", "info", 1.0, APH_TRACE_INFO, NULL, NULL);
    record(f, "w", "warn", 1.0, APH_TRACE_WARN, NULL, NULL);
    record(f, "e", "error", 1.0, APH_TRACE_ERROR, NULL, NULL);
    assert_int_equal(aph_trace_sink_event_count(mem), 2);
    assert_string_equal(get_event(mem, 0).id, "w");
    assert_string_equal(get_event(mem, 1).id, "e");

    /* Spans have no level: they pass. */
    aph_trace_span sp;
    memset(&sp, 0, sizeof sp);
    sp.struct_size = sizeof sp;
    sp.name = "stage";
    sp.category = "stage";
    APH_ASSERT_OK(aph_trace_sink_record_span(f, &sp));
    assert_int_equal(aph_trace_sink_span_count(mem), 1);

    /* DEBUG lets everything through; ERROR only errors. */
    aph_trace_sink* all = NULL;
    aph_trace_sink* errors = NULL;
    APH_ASSERT_OK(aph_trace_sink_filter(mem, APH_TRACE_DEBUG, &all));
    APH_ASSERT_OK(aph_trace_sink_filter(mem, APH_TRACE_ERROR, &errors));
    record(all, "d2", "x", 1.0, APH_TRACE_DEBUG, NULL, NULL);
    record(errors, "w2", "x", 1.0, APH_TRACE_WARN, NULL, NULL);
    record(errors, "e2", "x", 1.0, APH_TRACE_ERROR, NULL, NULL);
    assert_int_equal(aph_trace_sink_event_count(mem), 4);
    assert_string_equal(get_event(mem, 2).id, "d2");
    assert_string_equal(get_event(mem, 3).id, "e2");

    aph_trace_sink* out = (aph_trace_sink*)0x1;
    APH_ASSERT_ERR(aph_trace_sink_filter(mem, (aph_trace_level)5, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: min_level is 5, not a valid aph_trace_level");
    APH_ASSERT_ERR(aph_trace_sink_filter(mem, (aph_trace_level)0, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: min_level is 0, not a valid aph_trace_level");
    APH_ASSERT_ERR(aph_trace_sink_filter(NULL, APH_TRACE_INFO, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: inner must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_filter(mem, APH_TRACE_INFO, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    assert_ptr_equal(out, (aph_trace_sink*)0x1);

    aph_trace_sink_release(all);
    aph_trace_sink_release(errors);
    aph_trace_sink_release(f);
    aph_trace_sink_release(mem);
}

/* A callback sink's state: a shared log of "tag:id" strings. */
typedef struct cb_log {
    char entries[64][64];
    int count;
    int destroyed;
} cb_log;

typedef struct cb_tag {
    cb_log* log;
    const char* tag;
    int destroyed;
} cb_tag;

static void on_event_log(void* ud, const aph_trace_event* e) {
    cb_tag* t = (cb_tag*)ud;
    if (t->log->count < 64) {
        snprintf(t->log->entries[t->log->count], sizeof t->log->entries[0], "%s:%s:%s:%d", t->tag, e->id, e->message,
                 (int)e->level);
    }
    t->log->count++;
}

static void on_span_log(void* ud, const aph_trace_span* s) {
    cb_tag* t = (cb_tag*)ud;
    if (t->log->count < 64) {
        snprintf(t->log->entries[t->log->count], sizeof t->log->entries[0], "%s:span:%s:%s:%s", t->tag, s->name,
                 s->category, s->device ? s->device : "(null)");
    }
    t->log->count++;
}

static void destroy_tag(void* ud) { ((cb_tag*)ud)->destroyed++; }

static aph_trace_sink* make_callback(cb_tag* t, int with_span) {
    aph_trace_sink* s = NULL;
    APH_ASSERT_OK(aph_trace_sink_callback(on_event_log, with_span ? on_span_log : NULL, t, destroy_tag, &s));
    return s;
}

static void test_fanout_order(void** state) {
    (void)state;
    cb_log log;
    memset(&log, 0, sizeof log);
    cb_tag a = {&log, "A", 0}, b = {&log, "B", 0}, c = {&log, "C", 0};
    aph_trace_sink* sa = make_callback(&a, 1);
    aph_trace_sink* sb = make_callback(&b, 0);
    aph_trace_sink* sc = make_callback(&c, 1);
    aph_trace_sink* list[3] = {sb, sa, sc};
    aph_trace_sink* fan = NULL;
    APH_ASSERT_OK(aph_trace_sink_fanout(list, 3, &fan));
    /* The fan-out keeps references: the callers' can go now. */
    aph_trace_sink_release(sa);
    aph_trace_sink_release(sb);
    aph_trace_sink_release(sc);
    assert_int_equal(a.destroyed + b.destroyed + c.destroyed, 0);

    record(fan, "one", "m1", 1.0, APH_TRACE_INFO, NULL, NULL);
    record(fan, "two", "m2", 2.0, APH_TRACE_ERROR, NULL, NULL);
    aph_trace_span sp;
    memset(&sp, 0, sizeof sp);
    sp.struct_size = sizeof sp;
    sp.name = "load";
    sp.category = "node";
    sp.device = "cuda:0";
    APH_ASSERT_OK(aph_trace_sink_record_span(fan, &sp));

    const char* expect[] = {"B:one:m1:2",
                            "A:one:m1:2",
                            "C:one:m1:2",
                            "B:two:m2:4",
                            "A:two:m2:4",
                            "C:two:m2:4",
                            "A:span:load:node:cuda:0",
                            "C:span:load:node:cuda:0"};
    assert_int_equal(log.count, 8);
    for (int i = 0; i < 8; ++i) assert_string_equal(log.entries[i], expect[i]);

    aph_trace_sink_release(fan);
    assert_int_equal(a.destroyed, 1);
    assert_int_equal(b.destroyed, 1);
    assert_int_equal(c.destroyed, 1);

    /* An empty fan-out is fine (sinks may be NULL then); a NULL element is not. */
    aph_trace_sink* empty = NULL;
    APH_ASSERT_OK(aph_trace_sink_fanout(NULL, 0, &empty));
    record(empty, "nobody", "hears", 1.0, APH_TRACE_INFO, NULL, NULL);
    aph_trace_sink_release(empty);

    aph_trace_sink* mem = make_memory();
    aph_trace_sink* with_null[2] = {mem, NULL};
    aph_trace_sink* out = (aph_trace_sink*)0x1;
    APH_ASSERT_ERR(aph_trace_sink_fanout(with_null, 2, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: sinks[1] must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_fanout(NULL, 2, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: sinks must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_fanout(with_null, 1, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    assert_ptr_equal(out, (aph_trace_sink*)0x1);

    /* Two memory sinks both receive copies. */
    aph_trace_sink* mem2 = make_memory();
    aph_trace_sink* pair[2] = {mem, mem2};
    APH_ASSERT_OK(aph_trace_sink_fanout(pair, 2, &fan));
    record(fan, "both", "m", 1.0, APH_TRACE_DEBUG, "s", NULL);
    assert_int_equal(aph_trace_sink_event_count(mem), 1);
    assert_int_equal(aph_trace_sink_event_count(mem2), 1);
    assert_string_equal(get_event(mem2, 0).span_id, "s");
    aph_trace_sink_release(fan);
    aph_trace_sink_release(mem);
    aph_trace_sink_release(mem2);
}

static void test_callback_sink(void** state) {
    (void)state;
    cb_log log;
    memset(&log, 0, sizeof log);
    cb_tag t = {&log, "T", 0};
    aph_trace_sink* s = make_callback(&t, 0);

    record(s, "id1", "hello", 3.0, APH_TRACE_WARN, NULL, NULL);
    /* on_span NULL: spans are dropped quietly. */
    aph_trace_span sp;
    memset(&sp, 0, sizeof sp);
    sp.struct_size = sizeof sp;
    sp.name = "x";
    sp.category = "stage";
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &sp));
    assert_int_equal(log.count, 1);
    assert_string_equal(log.entries[0], "T:id1:hello:3");

    /* A filter over it keeps it alive; destroy runs once, when the last reference goes. */
    aph_trace_sink* f = NULL;
    APH_ASSERT_OK(aph_trace_sink_filter(s, APH_TRACE_ERROR, &f));
    aph_trace_sink_retain(s);
    aph_trace_sink_release(s);
    aph_trace_sink_release(s);
    assert_int_equal(t.destroyed, 0);
    record(f, "dropped", "x", 1.0, APH_TRACE_INFO, NULL, NULL);
    record(f, "kept", "y", 1.0, APH_TRACE_ERROR, NULL, NULL);
    assert_int_equal(log.count, 2);
    assert_string_equal(log.entries[1], "T:kept:y:4");
    aph_trace_sink_release(f);
    assert_int_equal(t.destroyed, 1);

    /* destroy may be NULL; on_event may not. */
    aph_trace_sink* nd = NULL;
    APH_ASSERT_OK(aph_trace_sink_callback(on_event_log, NULL, &t, NULL, &nd));
    aph_trace_sink_release(nd);
    assert_int_equal(t.destroyed, 1);
    aph_trace_sink* out = (aph_trace_sink*)0x1;
    APH_ASSERT_ERR(aph_trace_sink_callback(NULL, on_span_log, &t, destroy_tag, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: on_event must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_callback(on_event_log, NULL, &t, destroy_tag, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    assert_ptr_equal(out, (aph_trace_sink*)0x1);
    /* A failed create does not call destroy: the caller still owns user_data. */
    assert_int_equal(t.destroyed, 1);
}

/* ---------------------------------------------------------------------------------------------
 * Spans and the Chrome exporter
 * ------------------------------------------------------------------------------------------- */

static aph_trace_span make_span(const char* name, const char* cat, uint64_t start, uint64_t dur, const char* device,
                                uint64_t bytes, const char* args) {
    aph_trace_span s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.name = name;
    s.category = cat;
    s.start_ns = start;
    s.duration_ns = dur;
    s.device = device;
    s.bytes = bytes;
    s.args_json = args;
    return s;
}

static void test_spans(void** state) {
    (void)state;
    aph_trace_sink* s = make_memory();
    aph_trace_span a = make_span("load", "stage", 100, 50, "cpu", 4096, " { \"b\" : [1, 2], \"a\": 1.5 } ");
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &a));
    aph_trace_span b = make_span("mm", "node", 200, 7, NULL, 0, NULL);
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &b));
    assert_int_equal(aph_trace_sink_span_count(s), 2);
    assert_int_equal(aph_trace_sink_event_count(s), 0);

    aph_trace_span got;
    memset(&got, 0x5a, sizeof got);
    got.struct_size = sizeof got;
    APH_ASSERT_OK(aph_trace_sink_span(s, 0, &got));
    assert_string_equal(got.name, "load");
    assert_string_equal(got.category, "stage");
    assert_int_equal(got.start_ns, 100);
    assert_int_equal(got.duration_ns, 50);
    assert_string_equal(got.device, "cpu");
    assert_int_equal(got.bytes, 4096);
    assert_string_equal(got.args_json, "{\"a\":1.5,\"b\":[1,2]}"); /* kept compact */
    APH_ASSERT_OK(aph_trace_sink_span(s, 1, &got));
    assert_string_equal(got.name, "mm");
    assert_null(got.device);
    assert_null(got.args_json);
    APH_ASSERT_ERR(aph_trace_sink_span(s, 2, &got), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: index 2 is out of range (the sink has 2 spans)");

    aph_trace_span bad = make_span(NULL, "c", 0, 0, NULL, 0, NULL);
    APH_ASSERT_ERR(aph_trace_sink_record_span(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: span->name must not be NULL");
    bad = make_span("n", NULL, 0, 0, NULL, 0, NULL);
    APH_ASSERT_ERR(aph_trace_sink_record_span(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: span->category must not be NULL");
    bad = make_span("n", "c", 0, 0, NULL, 0, "[1]");
    APH_ASSERT_ERR(aph_trace_sink_record_span(s, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: span->args_json must be a JSON object, got array");
    bad = make_span("n", "c", 0, 0, NULL, 0, "{\"a\":");
    APH_ASSERT_ERR_CONTAINS(aph_trace_sink_record_span(s, &bad), APH_ERR_SERIALIZATION,
                            "serialization error: span->args_json");
    APH_ASSERT_ERR(aph_trace_sink_record_span(s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: span must not be NULL");
    APH_ASSERT_ERR(aph_trace_sink_record_span(NULL, &a), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: sink must not be NULL");
    assert_int_equal(aph_trace_sink_span_count(s), 2);
    aph_trace_sink_release(s);
}

static void test_export_chrome(void** state) {
    (void)state;
    aph_trace_sink* s = make_memory();
    char* out = NULL;
    APH_ASSERT_OK(aph_trace_export_chrome(s, &out));
    assert_string_equal(out, "{\"traceEvents\":[],\"displayTimeUnit\":\"ms\"}");
    aph_string_free(out);

    /* Times are relative to the earliest item (here the first span, at 1000 s). */
    aph_trace_span a = make_span("load", "stage", 1000000000000ULL, 1500, "cpu", 4096,
                                 "{\"note\":\"a\\\"b\",\"layer\":3,\"bytes\":99}");
    aph_trace_span b = make_span("mat\nmul", "node", 1000000002250ULL, 1000000, NULL, 0, NULL);
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &a));
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &b));
    record(s, "stage.hashing", "computed \x01", 1000.5, APH_TRACE_WARN, NULL, "t1");
    record(s, "plain", "m", 1000.000001, APH_TRACE_DEBUG, "s1", NULL);

    APH_ASSERT_OK(aph_trace_export_chrome(s, &out));
    const char* expect = "{\"traceEvents\":[\n"
                         "{\"name\":\"load\",\"cat\":\"stage\",\"ph\":\"X\",\"ts\":0,\"dur\":1.5,\"pid\":1,"
                         "\"tid\":1,\"args\":{\"device\":\"cpu\",\"bytes\":4096,\"layer\":3,\"note\":\"a\\\"b\"}},\n"
                         "{\"name\":\"mat\\nmul\",\"cat\":\"node\",\"ph\":\"X\",\"ts\":2.25,\"dur\":1000,\"pid\":1,"
                         "\"tid\":1,\"args\":{\"bytes\":0}},\n"
                         "{\"name\":\"stage.hashing\",\"cat\":\"event\",\"ph\":\"i\",\"s\":\"g\",\"ts\":500000,"
                         "\"pid\":1,\"tid\":1,\"args\":{\"message\":\"computed \\u0001\",\"level\":\"WARN\","
                         "\"trace_id\":\"t1\"}},\n"
                         "{\"name\":\"plain\",\"cat\":\"event\",\"ph\":\"i\",\"s\":\"g\",\"ts\":1,"
                         "\"pid\":1,\"tid\":1,\"args\":{\"message\":\"m\",\"level\":\"DEBUG\",\"span_id\":\"s1\"}}\n"
                         "],\"displayTimeUnit\":\"ms\"}";
    assert_string_equal(out, expect);

    /* Valid JSON: the library's own parser accepts it (as a configuration parameter), and the
     * value reads back. */
    aph_model_config* cfg = NULL;
    APH_ASSERT_OK(aph_model_config_create("trace", "1.0.0", &cfg));
    APH_ASSERT_OK(aph_model_config_set_json(cfg, "chrome", out));
    char* back = NULL;
    APH_ASSERT_OK(aph_model_config_get_json(cfg, "chrome", &back));
    assert_non_null(strstr(back, "\"displayTimeUnit\":\"ms\""));
    assert_non_null(strstr(back, "\"dur\":1.5"));
    assert_non_null(strstr(back, "\"name\":\"mat\\nmul\""));
    aph_string_free(back);
    aph_model_config_release(cfg);
    aph_string_free(out);

    /* An event earlier than every span moves the origin. */
    APH_ASSERT_OK(aph_trace_sink_clear(s));
    record(s, "first", "m", 999.0, APH_TRACE_INFO, NULL, NULL);
    aph_trace_span c = make_span("late", "stage", 1000000000001ULL, 0, NULL, 1, NULL);
    APH_ASSERT_OK(aph_trace_sink_record_span(s, &c));
    APH_ASSERT_OK(aph_trace_export_chrome(s, &out));
    assert_string_equal(out, "{\"traceEvents\":[\n"
                             "{\"name\":\"late\",\"cat\":\"stage\",\"ph\":\"X\",\"ts\":1000000.001,"
                             "\"dur\":0,\"pid\":1,\"tid\":1,\"args\":{\"bytes\":1}},\n"
                             "{\"name\":\"first\",\"cat\":\"event\",\"ph\":\"i\",\"s\":\"g\",\"ts\":0,"
                             "\"pid\":1,\"tid\":1,\"args\":{\"message\":\"m\",\"level\":\"INFO\"}}\n"
                             "],\"displayTimeUnit\":\"ms\"}");
    aph_string_free(out);
    aph_trace_sink_release(s);
}

/* ---------------------------------------------------------------------------------------------
 * Threads: 8 threads x 1000 events through a fan-out and a filter
 * ------------------------------------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 1000

typedef struct thread_arg {
    aph_trace_sink* sink;
    int index;
    int failures;
} thread_arg;

static void* recorder(void* p) {
    thread_arg* a = (thread_arg*)p;
    char id[32], msg[32];
    snprintf(id, sizeof id, "thread-%d", a->index);
    for (int i = 0; i < PER_THREAD; ++i) {
        snprintf(msg, sizeof msg, "%d", i);
        aph_trace_event e = make_event(id, msg, 1.0 + i, (i % 2) ? APH_TRACE_WARN : APH_TRACE_DEBUG, NULL, NULL);
        if (aph_trace_sink_record(a->sink, &e) != APH_OK) a->failures++;
        if (i % 100 == 0) {
            aph_trace_span sp = make_span(id, "node", (uint64_t)i, 1, "cpu", 0, NULL);
            if (aph_trace_sink_record_span(a->sink, &sp) != APH_OK) a->failures++;
        }
    }
    return NULL;
}

static void test_threads(void** state) {
    (void)state;
    aph_trace_sink* warn_mem = make_memory();
    aph_trace_sink* all_mem = make_memory();
    aph_trace_sink* filter = NULL;
    APH_ASSERT_OK(aph_trace_sink_filter(warn_mem, APH_TRACE_WARN, &filter));
    aph_trace_sink* list[2] = {filter, all_mem};
    aph_trace_sink* fan = NULL;
    APH_ASSERT_OK(aph_trace_sink_fanout(list, 2, &fan));

    pthread_t th[THREADS];
    thread_arg args[THREADS];
    for (int t = 0; t < THREADS; ++t) {
        args[t].sink = fan;
        args[t].index = t;
        args[t].failures = 0;
        assert_int_equal(pthread_create(&th[t], NULL, recorder, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; ++t) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(args[t].failures, 0);
    }
    assert_int_equal(aph_trace_sink_event_count(all_mem), THREADS * PER_THREAD);
    assert_int_equal(aph_trace_sink_event_count(warn_mem), THREADS * PER_THREAD / 2);
    assert_int_equal(aph_trace_sink_span_count(all_mem), THREADS * PER_THREAD / 100);
    assert_int_equal(aph_trace_sink_span_count(warn_mem), THREADS * PER_THREAD / 100);

    /* Each thread's events arrive in its own order, none lost or duplicated. */
    int next[THREADS] = {0};
    size_t n = aph_trace_sink_event_count(all_mem);
    for (size_t i = 0; i < n; ++i) {
        aph_trace_event e = get_event(all_mem, i);
        int t = -1;
        assert_int_equal(sscanf(e.id, "thread-%d", &t), 1);
        assert_true(t >= 0 && t < THREADS);
        assert_int_equal(atoi(e.message), next[t]);
        next[t]++;
    }
    for (int t = 0; t < THREADS; ++t) assert_int_equal(next[t], PER_THREAD);
    n = aph_trace_sink_event_count(warn_mem);
    for (size_t i = 0; i < n; ++i) assert_int_equal(get_event(warn_mem, i).level, APH_TRACE_WARN);

    aph_trace_sink_release(fan);
    aph_trace_sink_release(filter);
    aph_trace_sink_release(warn_mem);
    aph_trace_sink_release(all_mem);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_sink),
        cmocka_unit_test(test_record_checks),
        cmocka_unit_test(test_export_json_exact),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_fanout_order),
        cmocka_unit_test(test_callback_sink),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_export_chrome),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
