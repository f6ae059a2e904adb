/* test_pipeline.c — section 19 of aphelion.h: build contexts and pipelines. The progress
 * sequence (names, indices, totals, skipped stages), hook and stage order, the first failing
 * pre-hook aborting everything after it, a failing stage's message suffix and status, the
 * built-in validation and hashing stages (their events, the hash equal to
 * aph_graph_stable_hash), stage spans, the presets' stage lists and the training pre-hook,
 * destroy callbacks run once, build contexts (references, tracing, allocation errors), and NULL
 * arguments everywhere. */
#include "test_util.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static aph_graph* make_graph(int nodes) {
    aph_graph* g = NULL;
    APH_ASSERT_OK(aph_graph_create(&g));
    for (int i = 0; i < nodes; ++i) {
        char name[16];
        snprintf(name, sizeof name, "node%d", i);
        aph_model_config* cfg = NULL;
        APH_ASSERT_OK(aph_model_config_create("layer", "1.0.0", &cfg));
        APH_ASSERT_OK(aph_model_config_set_int(cfg, "width", 16 * (i + 1)));
        APH_ASSERT_OK(aph_graph_add_node(g, name, cfg, NULL));
        aph_model_config_release(cfg);
    }
    for (int i = 1; i < nodes; ++i) APH_ASSERT_OK(aph_graph_add_edge(g, (uint64_t)i, (uint64_t)i + 1));
    return g;
}

static aph_device* cpu_device(void) {
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    return d;
}

static aph_build_context* make_context(aph_trace_sink* sink, aph_tracker* tracker) {
    aph_device* d = cpu_device();
    aph_build_context* ctx = NULL;
    APH_ASSERT_OK(aph_build_context_create(d, sink, tracker, &ctx));
    aph_device_release(d); /* the context keeps its own reference */
    return ctx;
}

static aph_trace_sink* make_memory(void) {
    aph_trace_sink* s = NULL;
    APH_ASSERT_OK(aph_trace_sink_memory(&s));
    return s;
}

static aph_trace_event get_event(const aph_trace_sink* s, size_t i) {
    aph_trace_event e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    APH_ASSERT_OK(aph_trace_sink_event(s, i, &e));
    return e;
}

static aph_trace_span get_span(const aph_trace_sink* s, size_t i) {
    aph_trace_span sp;
    memset(&sp, 0, sizeof sp);
    sp.struct_size = sizeof sp;
    APH_ASSERT_OK(aph_trace_sink_span(s, i, &sp));
    return sp;
}

/* A log of what ran, shared by the recording callbacks below. */
#define LOG_MAX 64
typedef struct run_log {
    char entries[LOG_MAX][64];
    int count;
} run_log;

static void log_add(run_log* log, const char* fmt, const char* a, size_t i, size_t n) {
    if (log->count < LOG_MAX) snprintf(log->entries[log->count], sizeof log->entries[0], fmt, a, i, n);
    log->count++;
}

static void assert_log(const run_log* log, const char* const* expect, int n) {
    for (int i = 0; i < log->count && i < LOG_MAX; ++i) {
        if (i >= n || strcmp(log->entries[i], expect[i]) != 0) {
            print_error("log[%d] = '%s', expected '%s'\n", i, log->entries[i], i < n ? expect[i] : "(end)");
        }
    }
    assert_int_equal(log->count, n);
    for (int i = 0; i < n; ++i) assert_string_equal(log->entries[i], expect[i]);
}

/* A callback's user data: where to log, its tag, what to return, and how it fails. */
typedef struct step {
    run_log* log;
    const char* tag;
    aph_status result;
    const char* message; /* set with aph_set_last_error when failing, if not NULL */
    int destroyed;
} step;

static void progress_cb(void* ud, const char* stage, size_t index, size_t total) {
    log_add((run_log*)ud, "progress %s %zu/%zu", stage, index, total);
}

static aph_status stage_cb(void* ud, aph_build_context* ctx, aph_graph* graph) {
    step* s = (step*)ud;
    assert_non_null(ctx);
    assert_non_null(graph);
    log_add(s->log, "stage %s", s->tag, 0, 0);
    if (s->result != APH_OK && s->message) aph_set_last_error(s->result, s->message);
    return s->result;
}

static aph_status hook_cb(void* ud, aph_build_context* ctx, const aph_graph* graph) {
    step* s = (step*)ud;
    assert_non_null(ctx);
    assert_non_null(graph);
    log_add(s->log, "hook %s", s->tag, 0, 0);
    if (s->result != APH_OK && s->message) aph_set_last_error(s->result, s->message);
    return s->result;
}

static void destroy_step(void* ud) { ((step*)ud)->destroyed++; }

/* ---------------------------------------------------------------------------------------------
 * Order, progress, skipping
 * ------------------------------------------------------------------------------------------- */

static void test_progress_and_skip(void** state) {
    (void)state;
    run_log log;
    memset(&log, 0, sizeof log);
    step a = {&log, "a", APH_OK, NULL, 0}, b = {&log, "b", APH_OK, NULL, 0}, c = {&log, "c", APH_OK, NULL, 0};
    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&p));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "a", stage_cb, &a, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "b", stage_cb, &b, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "c", stage_cb, &c, destroy_step));
    APH_ASSERT_OK(aph_pipeline_skip(p, "b"));
    APH_ASSERT_OK(aph_pipeline_skip(p, "no-such-stage")); /* allowed, skips nothing */
    APH_ASSERT_OK(aph_pipeline_set_progress(p, progress_cb, &log));
    assert_int_equal(aph_pipeline_stage_count(p), 3);
    assert_string_equal(aph_pipeline_stage_name(p, 1), "b");
    assert_null(aph_pipeline_stage_name(p, 3));

    aph_build_context* ctx = make_context(NULL, NULL);
    aph_graph* g = make_graph(1);
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    const char* expect[] = {"progress a 1/3", "stage a", "progress b (skipped) 2/3", "progress c 3/3", "stage c"};
    assert_log(&log, expect, 5);

    /* Without a progress callback the stages still run; running twice is fine. */
    memset(&log, 0, sizeof log);
    APH_ASSERT_OK(aph_pipeline_set_progress(p, NULL, NULL));
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    const char* expect2[] = {"stage a", "stage c"};
    assert_log(&log, expect2, 2);

    /* destroy(user_data) once each, when the pipeline goes. */
    assert_int_equal(a.destroyed + b.destroyed + c.destroyed, 0);
    aph_pipeline_release(p);
    assert_int_equal(a.destroyed, 1);
    assert_int_equal(b.destroyed, 1);
    assert_int_equal(c.destroyed, 1);

    aph_graph_release(g);
    aph_build_context_release(ctx);
}

static void test_hook_order(void** state) {
    (void)state;
    run_log log;
    memset(&log, 0, sizeof log);
    step pre1 = {&log, "pre1", APH_OK, NULL, 0}, pre2 = {&log, "pre2", APH_OK, NULL, 0};
    step s1 = {&log, "s1", APH_OK, NULL, 0}, s2 = {&log, "s2", APH_OK, NULL, 0};
    step post1 = {&log, "post1", APH_OK, NULL, 0}, post2 = {&log, "post2", APH_OK, NULL, 0};
    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&p));
    /* Added out of order on purpose: hooks run by kind, each kind in the order added. */
    APH_ASSERT_OK(aph_pipeline_add_post_hook(p, hook_cb, &post1, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "s1", stage_cb, &s1, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_pre_hook(p, hook_cb, &pre1, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "s2", stage_cb, &s2, NULL));
    APH_ASSERT_OK(aph_pipeline_add_post_hook(p, hook_cb, &post2, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_pre_hook(p, hook_cb, &pre2, destroy_step));
    APH_ASSERT_OK(aph_pipeline_set_progress(p, progress_cb, &log));

    aph_build_context* ctx = make_context(NULL, NULL);
    aph_graph* g = make_graph(2);
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    const char* expect[] = {"hook pre1",       "hook pre2", "progress s1 1/2", "stage s1",
                            "progress s2 2/2", "stage s2",  "hook post1",      "hook post2"};
    assert_log(&log, expect, 8);

    aph_pipeline_release(p);
    assert_int_equal(pre1.destroyed, 1);
    assert_int_equal(pre2.destroyed, 1);
    assert_int_equal(s1.destroyed, 1);
    assert_int_equal(s2.destroyed, 0); /* destroy was NULL */
    assert_int_equal(post1.destroyed, 1);
    assert_int_equal(post2.destroyed, 1);
    aph_graph_release(g);
    aph_build_context_release(ctx);
}

static void test_pre_hook_error_aborts(void** state) {
    (void)state;
    run_log log;
    memset(&log, 0, sizeof log);
    step pre1 = {&log, "pre1", APH_ERR_BUILD, "not today", 0};
    step pre2 = {&log, "pre2", APH_OK, NULL, 0};
    step s1 = {&log, "s1", APH_OK, NULL, 0};
    step post = {&log, "post", APH_OK, NULL, 0};
    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&p));
    APH_ASSERT_OK(aph_pipeline_add_pre_hook(p, hook_cb, &pre1, NULL));
    APH_ASSERT_OK(aph_pipeline_add_pre_hook(p, hook_cb, &pre2, NULL));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "s1", stage_cb, &s1, NULL));
    APH_ASSERT_OK(aph_pipeline_add_post_hook(p, hook_cb, &post, NULL));
    APH_ASSERT_OK(aph_pipeline_set_progress(p, progress_cb, &log));

    aph_trace_sink* sink = make_memory();
    aph_build_context* ctx = make_context(sink, NULL);
    aph_graph* g = make_graph(1);
    /* A hook's error is returned as it is (no stage suffix). */
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_BUILD, "build error: not today");
    const char* expect[] = {"hook pre1"};
    assert_log(&log, expect, 1);
    assert_int_equal(aph_trace_sink_span_count(sink), 0);

    /* A hook that fails without a message gets one naming it. */
    memset(&log, 0, sizeof log);
    pre1.result = APH_OK;
    pre2.result = APH_ERR_VALIDATION;
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_VALIDATION,
                   "validation error: pre-hook 2 failed with APH_ERR_VALIDATION and gave no message");
    const char* expect2[] = {"hook pre1", "hook pre2"};
    assert_log(&log, expect2, 2);

    /* A failing post-hook: everything before it ran. */
    memset(&log, 0, sizeof log);
    pre2.result = APH_OK;
    post.result = APH_ERR_IO;
    post.message = "disk full";
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_IO, "I/O error: disk full");
    const char* expect3[] = {"hook pre1", "hook pre2", "progress s1 1/1", "stage s1", "hook post"};
    assert_log(&log, expect3, 5);

    aph_pipeline_release(p);
    aph_graph_release(g);
    aph_build_context_release(ctx);
    aph_trace_sink_release(sink);
}

static void test_stage_error(void** state) {
    (void)state;
    run_log log;
    memset(&log, 0, sizeof log);
    step s1 = {&log, "s1", APH_OK, NULL, 0};
    step s2 = {&log, "s2", APH_ERR_KERNEL, "bad launch", 0};
    step s3 = {&log, "s3", APH_OK, NULL, 0};
    step post = {&log, "post", APH_OK, NULL, 0};
    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&p));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "s1", stage_cb, &s1, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "s2", stage_cb, &s2, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "s3", stage_cb, &s3, destroy_step));
    APH_ASSERT_OK(aph_pipeline_add_post_hook(p, hook_cb, &post, destroy_step));

    aph_trace_sink* sink = make_memory();
    aph_build_context* ctx = make_context(sink, NULL);
    aph_graph* g = make_graph(1);
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_KERNEL, "kernel error: bad launch (stage: s2)");
    const char* expect[] = {"stage s1", "stage s2"};
    assert_log(&log, expect, 2);
    /* Both stages that ran left a span; the failed one says why. */
    assert_int_equal(aph_trace_sink_span_count(sink), 2);
    aph_trace_span sp = get_span(sink, 1);
    assert_string_equal(sp.name, "s2");
    assert_string_equal(sp.category, "stage");
    assert_string_equal(sp.args_json, "{\"error\":\"kernel error: bad launch (stage: s2)\"}");
    assert_null(get_span(sink, 0).args_json);

    /* Without a message: a generic one, with the suffix. */
    memset(&log, 0, sizeof log);
    s2.message = NULL;
    s2.result = APH_ERR_OUT_OF_MEMORY;
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_OUT_OF_MEMORY,
                   "out of memory: stage 's2' failed with APH_ERR_OUT_OF_MEMORY and gave no "
                   "message (stage: s2)");
    /* An earlier, unrelated error on this thread is not mistaken for the stage's message. */
    APH_ASSERT_ERR(aph_pipeline_run(p, NULL, g), APH_ERR_INVALID_ARGUMENT, "invalid argument: ctx must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_OUT_OF_MEMORY,
                   "out of memory: stage 's2' failed with APH_ERR_OUT_OF_MEMORY and gave no "
                   "message (stage: s2)");

    /* Skipping the failing stage lets the pipeline finish. */
    memset(&log, 0, sizeof log);
    APH_ASSERT_OK(aph_pipeline_skip(p, "s2"));
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    const char* expect2[] = {"stage s1", "stage s3", "hook post"};
    assert_log(&log, expect2, 3);

    aph_pipeline_release(p);
    assert_int_equal(s1.destroyed + s2.destroyed + s3.destroyed + post.destroyed, 4);
    aph_graph_release(g);
    aph_build_context_release(ctx);
    aph_trace_sink_release(sink);
}

/* A stage that adds a node to the graph it is given. */
static aph_status grow_stage(void* ud, aph_build_context* ctx, aph_graph* graph) {
    (void)ud;
    (void)ctx;
    aph_model_config* cfg = NULL;
    aph_status st = aph_model_config_create("extra", "2.0.0", &cfg);
    if (st != APH_OK) return st;
    st = aph_graph_add_node(graph, "grown", cfg, NULL);
    aph_model_config_release(cfg);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Built-in stages and presets
 * ------------------------------------------------------------------------------------------- */

static void test_standard_events(void** state) {
    (void)state;
    aph_trace_sink* sink = make_memory();
    aph_build_context* ctx = make_context(sink, NULL);
    aph_graph* g = make_graph(3);
    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_preset("standard", &p));
    assert_int_equal(aph_pipeline_stage_count(p), 2);
    assert_string_equal(aph_pipeline_stage_name(p, 0), "validation");
    assert_string_equal(aph_pipeline_stage_name(p, 1), "hashing");
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));

    char hex[65];
    APH_ASSERT_OK(aph_graph_stable_hash(g, hex, sizeof hex));
    char expect_msg[128];
    snprintf(expect_msg, sizeof expect_msg, "computed graph hash: %s", hex);
    assert_int_equal(aph_trace_sink_event_count(sink), 2);
    aph_trace_event e0 = get_event(sink, 0);
    assert_string_equal(e0.id, "stage.validation");
    assert_string_equal(e0.message, "validated 3 nodes");
    assert_int_equal(e0.level, APH_TRACE_INFO);
    assert_null(e0.span_id);
    assert_null(e0.trace_id);
    aph_trace_event e1 = get_event(sink, 1);
    assert_string_equal(e1.id, "stage.hashing");
    assert_string_equal(e1.message, expect_msg);
    assert_int_equal(e1.level, APH_TRACE_INFO);

    /* One span per stage, on the context's device. */
    assert_int_equal(aph_trace_sink_span_count(sink), 2);
    aph_trace_span s0 = get_span(sink, 0);
    aph_trace_span s1 = get_span(sink, 1);
    assert_string_equal(s0.name, "validation");
    assert_string_equal(s1.name, "hashing");
    assert_string_equal(s0.category, "stage");
    assert_string_equal(s0.device, "cpu");
    assert_int_equal(s0.bytes, 0);
    assert_true(s1.start_ns >= s0.start_ns);

    /* A custom stage that changes the graph: the hashing stage after it sees the change. */
    APH_ASSERT_OK(aph_trace_sink_clear(sink));
    aph_pipeline* p2 = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&p2));
    APH_ASSERT_OK(aph_pipeline_add_stage(p2, "grow", grow_stage, NULL, NULL));
    APH_ASSERT_OK(aph_pipeline_add_builtin(p2, "validation"));
    APH_ASSERT_OK(aph_pipeline_add_builtin(p2, "hashing"));
    APH_ASSERT_OK(aph_pipeline_run(p2, ctx, g));
    assert_int_equal(aph_graph_node_count(g), 4);
    APH_ASSERT_OK(aph_graph_stable_hash(g, hex, sizeof hex));
    snprintf(expect_msg, sizeof expect_msg, "computed graph hash: %s", hex);
    assert_string_equal(get_event(sink, 0).message, "validated 4 nodes");
    assert_string_equal(get_event(sink, 1).message, expect_msg);

    /* An empty graph fails validation, with the stage suffix; hashing does not run. */
    APH_ASSERT_OK(aph_trace_sink_clear(sink));
    aph_graph* empty = make_graph(0);
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, empty), APH_ERR_VALIDATION,
                   "validation error: graph must contain at least one node (stage: validation)");
    assert_int_equal(aph_trace_sink_event_count(sink), 0);

    /* Skipping validation lets an empty graph through to hashing. */
    APH_ASSERT_OK(aph_pipeline_skip(p, "validation"));
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, empty));
    APH_ASSERT_OK(aph_graph_stable_hash(empty, hex, sizeof hex));
    snprintf(expect_msg, sizeof expect_msg, "computed graph hash: %s", hex);
    assert_int_equal(aph_trace_sink_event_count(sink), 1);
    assert_string_equal(get_event(sink, 0).message, expect_msg);

    aph_graph_release(empty);
    aph_pipeline_release(p2);
    aph_pipeline_release(p);
    aph_graph_release(g);
    aph_build_context_release(ctx);
    aph_trace_sink_release(sink);
}

static void test_presets(void** state) {
    (void)state;
    aph_trace_sink* sink = make_memory();
    aph_build_context* ctx = make_context(sink, NULL);
    aph_graph* g = make_graph(2);

    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_preset("for_training", &p));
    assert_int_equal(aph_pipeline_stage_count(p), 2);
    assert_string_equal(aph_pipeline_stage_name(p, 0), "validation");
    assert_string_equal(aph_pipeline_stage_name(p, 1), "hashing");
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    assert_int_equal(aph_trace_sink_event_count(sink), 3);
    aph_trace_event e = get_event(sink, 0);
    assert_string_equal(e.id, "pipeline.training");
    assert_string_equal(e.message, "Starting training pipeline");
    assert_int_equal(e.level, APH_TRACE_INFO);
    assert_string_equal(get_event(sink, 1).id, "stage.validation");
    assert_string_equal(get_event(sink, 2).id, "stage.hashing");
    aph_pipeline_release(p);

    APH_ASSERT_OK(aph_trace_sink_clear(sink));
    APH_ASSERT_OK(aph_pipeline_preset("for_inference", &p));
    assert_int_equal(aph_pipeline_stage_count(p), 1);
    assert_string_equal(aph_pipeline_stage_name(p, 0), "hashing");
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    assert_int_equal(aph_trace_sink_event_count(sink), 1);
    assert_string_equal(get_event(sink, 0).id, "stage.hashing");
    aph_pipeline_release(p);

    /* "run": the executor-backed stages are wired in (their behaviour is section 20's). */
    APH_ASSERT_OK(aph_pipeline_preset("run", &p));
    const char* run_stages[] = {"validation", "check", "hashing", "plan", "execute"};
    assert_int_equal(aph_pipeline_stage_count(p), 5);
    for (size_t i = 0; i < 5; ++i) assert_string_equal(aph_pipeline_stage_name(p, i), run_stages[i]);
    aph_pipeline_release(p);

    /* Built-ins by name, and unknown names. */
    APH_ASSERT_OK(aph_pipeline_create(&p));
    assert_int_equal(aph_pipeline_stage_count(p), 0);
    for (size_t i = 0; i < 5; ++i) APH_ASSERT_OK(aph_pipeline_add_builtin(p, run_stages[i]));
    for (size_t i = 0; i < 5; ++i) assert_string_equal(aph_pipeline_stage_name(p, i), run_stages[i]);
    APH_ASSERT_ERR(aph_pipeline_add_builtin(p, "Hashing"), APH_ERR_NOT_FOUND,
                   "not found: unknown built-in stage 'Hashing' (expected validation, "
                   "hashing, check, plan or execute)");
    assert_int_equal(aph_pipeline_stage_count(p), 5);
    aph_pipeline_release(p);

    aph_pipeline* out = (aph_pipeline*)0x1;
    APH_ASSERT_ERR(aph_pipeline_preset("training", &out), APH_ERR_NOT_FOUND,
                   "not found: unknown pipeline preset 'training' (expected standard, "
                   "for_training, for_inference or run)");
    APH_ASSERT_ERR(aph_pipeline_preset(NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: preset must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_preset("standard", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    assert_ptr_equal(out, (aph_pipeline*)0x1);

    /* An empty pipeline runs nothing and succeeds. */
    APH_ASSERT_OK(aph_pipeline_create(&p));
    APH_ASSERT_OK(aph_trace_sink_clear(sink));
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    assert_int_equal(aph_trace_sink_event_count(sink), 0);
    assert_int_equal(aph_trace_sink_span_count(sink), 0);
    aph_pipeline_release(p);

    aph_graph_release(g);
    aph_build_context_release(ctx);
    aph_trace_sink_release(sink);
}

static void test_pipeline_null_args(void** state) {
    (void)state;
    step s = {NULL, "s", APH_OK, NULL, 0};
    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&p));
    APH_ASSERT_ERR(aph_pipeline_create(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_add_stage(NULL, "x", stage_cb, &s, destroy_step), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: pipeline must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_add_stage(p, NULL, stage_cb, &s, destroy_step), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_add_stage(p, "", stage_cb, &s, destroy_step), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be empty");
    APH_ASSERT_ERR(aph_pipeline_add_stage(p, "x", NULL, &s, destroy_step), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: fn must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_add_pre_hook(p, NULL, &s, destroy_step), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: fn must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_add_post_hook(NULL, hook_cb, &s, destroy_step), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: pipeline must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_add_builtin(p, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: stage must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_skip(p, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: stage must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_skip(NULL, "x"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: pipeline must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_set_progress(NULL, progress_cb, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: pipeline must not be NULL");
    /* Failed adds changed nothing and took no ownership. */
    assert_int_equal(aph_pipeline_stage_count(p), 0);

    aph_build_context* ctx = make_context(NULL, NULL);
    aph_graph* g = make_graph(1);
    APH_ASSERT_ERR(aph_pipeline_run(NULL, ctx, g), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: pipeline must not be NULL");
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: graph must not be NULL");
    aph_pipeline_release(p);
    assert_int_equal(s.destroyed, 0);

    assert_int_equal(aph_pipeline_stage_count(NULL), 0);
    assert_null(aph_pipeline_stage_name(NULL, 0));
    aph_pipeline_release(NULL);
    aph_graph_release(g);
    aph_build_context_release(ctx);
}

/* ---------------------------------------------------------------------------------------------
 * Build contexts
 * ------------------------------------------------------------------------------------------- */

typedef struct counter {
    int events;
    int destroyed;
} counter;

static void count_event(void* ud, const aph_trace_event* e) {
    (void)e;
    ((counter*)ud)->events++;
}

static void destroy_counter(void* ud) { ((counter*)ud)->destroyed++; }

static void test_build_context(void** state) {
    (void)state;
    aph_device* dev = cpu_device();
    counter count = {0, 0};
    aph_trace_sink* sink = NULL;
    APH_ASSERT_OK(aph_trace_sink_callback(count_event, NULL, &count, destroy_counter, &sink));
    aph_tracker* tracker = NULL;
    APH_ASSERT_OK(aph_tracker_create(5, &tracker));

    aph_build_context* ctx = NULL;
    APH_ASSERT_OK(aph_build_context_create(dev, sink, tracker, &ctx));
    assert_ptr_equal(aph_build_context_device(ctx), dev);
    assert_ptr_equal(aph_build_context_sink(ctx), sink);
    assert_ptr_equal(aph_build_context_tracker(ctx), tracker);
    aph_executor* ex = (aph_executor*)0x1;
    APH_ASSERT_ERR(aph_build_context_executor(ctx, &ex), APH_ERR_INVALID_STATE,
                   "invalid state: the context has no executor yet: run a pipeline with the plan stage first");
    assert_ptr_equal(ex, (aph_executor*)0x1);

    /* The context holds references: the caller's can go. */
    aph_trace_sink_release(sink);
    aph_device_release(dev);
    APH_ASSERT_OK(aph_build_context_trace(ctx, APH_TRACE_DEBUG, "ctx.event", "hello"));
    assert_int_equal(count.events, 1);
    assert_int_equal(count.destroyed, 0);
    assert_string_equal(aph_device_label(aph_build_context_device(ctx)), "cpu");

    /* Allocation through the context: the tracker's failure is out of memory, with the
     * tracker's message (aphelion-core wraps it as "backend error: OOM: ..."; see the README). */
    APH_ASSERT_ERR(aph_build_context_allocate(ctx, 10), APH_ERR_OUT_OF_MEMORY,
                   "out of memory: allocation of 10 bytes would exceed limit "
                   "of 5 bytes (current: 0 bytes)");
    assert_int_equal(aph_tracker_allocated_bytes(tracker), 0);
    APH_ASSERT_OK(aph_build_context_allocate(ctx, 3));
    APH_ASSERT_ERR(aph_build_context_allocate(ctx, 3), APH_ERR_OUT_OF_MEMORY,
                   "out of memory: allocation of 3 bytes would exceed limit "
                   "of 5 bytes (current: 3 bytes)");
    APH_ASSERT_OK(aph_build_context_allocate(ctx, 2));
    assert_int_equal(aph_tracker_allocated_bytes(tracker), 5);

    /* Argument checks. */
    APH_ASSERT_ERR(aph_build_context_trace(ctx, (aph_trace_level)9, "id", "m"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: level is 9, not a valid aph_trace_level");
    APH_ASSERT_ERR(aph_build_context_trace(ctx, APH_TRACE_INFO, NULL, "m"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: id must not be NULL");
    APH_ASSERT_ERR(aph_build_context_trace(ctx, APH_TRACE_INFO, "id", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: message must not be NULL");
    APH_ASSERT_ERR(aph_build_context_trace(NULL, APH_TRACE_INFO, "id", "m"), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: ctx must not be NULL");
    APH_ASSERT_ERR(aph_build_context_allocate(NULL, 1), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: ctx must not be NULL");
    assert_int_equal(count.events, 1);

    /* Inputs and the weights file. */
    int64_t shape[1] = {4};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_zeros(aph_build_context_device(ctx), APH_DTYPE_F32, shape, 1, &t));
    APH_ASSERT_OK(aph_build_context_set_input(ctx, "x", t));
    APH_ASSERT_OK(aph_build_context_set_input(ctx, "x", t)); /* replacing keeps one reference */
    APH_ASSERT_OK(aph_build_context_set_input(ctx, "y", t));
    aph_tensor_release(t); /* the context keeps it alive */
    APH_ASSERT_ERR(aph_build_context_set_input(ctx, NULL, t), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_build_context_set_input(ctx, "", t), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be empty");
    APH_ASSERT_ERR(aph_build_context_set_input(ctx, "z", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor must not be NULL");
    APH_ASSERT_OK(aph_build_context_set_weights_file(ctx, "/tmp/none.safetensors"));
    APH_ASSERT_ERR(aph_build_context_set_weights_file(ctx, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: path must not be NULL");

    aph_build_context_release(ctx);
    assert_int_equal(count.destroyed, 1); /* the sink went with the context */
    assert_int_equal(aph_tracker_allocated_bytes(tracker), 5);
    aph_tracker_release(tracker);

    /* No tracker: allocation always succeeds; no sink: events are dropped. */
    APH_ASSERT_OK(aph_build_context_create(NULL, NULL, NULL, &ctx));
    assert_non_null(aph_build_context_device(ctx)); /* aph_device_select's choice */
    assert_null(aph_build_context_sink(ctx));
    assert_null(aph_build_context_tracker(ctx));
    APH_ASSERT_OK(aph_build_context_allocate(ctx, UINT64_MAX));
    APH_ASSERT_OK(aph_build_context_trace(ctx, APH_TRACE_ERROR, "dropped", "nobody hears"));
    aph_build_context_release(ctx);

    APH_ASSERT_ERR(aph_build_context_create(NULL, NULL, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    aph_build_context_release(NULL);
    assert_null(aph_build_context_device(NULL));
    assert_null(aph_build_context_sink(NULL));
    assert_null(aph_build_context_tracker(NULL));
    APH_ASSERT_ERR(aph_build_context_executor(NULL, &ex), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: ctx must not be NULL");
    assert_ptr_equal(ex, (aph_executor*)0x1);
}

int main(void) {
    /* The default device may be the CPU: keep the once-per-process warning out of the output. */
    aph_log_set_level(APH_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_and_skip),     cmocka_unit_test(test_hook_order),
        cmocka_unit_test(test_pre_hook_error_aborts), cmocka_unit_test(test_stage_error),
        cmocka_unit_test(test_standard_events),       cmocka_unit_test(test_presets),
        cmocka_unit_test(test_pipeline_null_args),    cmocka_unit_test(test_build_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
