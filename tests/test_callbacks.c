/* test_callbacks.c — user callbacks and the library's locks and last error.
 *
 * Every kind of callback the library invokes (log, trace sink events, spans and destroy,
 * pipeline progress, stages, hooks and their destroy, custom operation infer, cpu and destroy,
 * deleters of borrowed memory) is given a callback that calls back into the library, into
 * functions that take the locks the library holds around it (the caching allocator's, the
 * device registry, the CUDA module's initialisation, the logger's, the custom operation
 * registry). None of them may deadlock: each scenario runs under a watchdog that fails the test
 * within seconds (see watchdog.h). The log callback is also checked against a sink replaced
 * while it runs and a third thread logging meanwhile.
 *
 * And rule 4 of the API (aph_last_error): a failure inside a callback the library invokes on
 * the caller's behalf never replaces the message the caller reads; a callback that returns a
 * failing status after aph_set_last_error makes that the outer call's message.
 *
 * CPU only, and the test must be the first thing in its process to touch the CUDA state (the
 * first scenario checks what its initialisation logs).
 */
#define _DEFAULT_SOURCE /* nanosleep */
#include "test_util.h"
#include "watchdog.h"

#include <time.h>

static aph_device* g_cpu;

#define ARM() aph_watchdog_arm(30, __func__)

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The caller's failing call, with the message it leaves ("invalid argument: dtype is 99, ..."):
 * distinct from the one callbacks leave (callback_fails). */
static void fail_once(void) {
    const int64_t shape[] = {4};
    aph_tensor* t = NULL;
    assert_int_equal(aph_tensor_create(g_cpu, (aph_dtype)99, shape, 1, &t), APH_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(aph_last_error(), "dtype"));
}

/* A callback's own failing call ("invalid argument: ordinal must be >= 0, got -1"). */
static void callback_fails(void) {
    aph_device* none = NULL;
    (void)aph_device_open(APH_DEVICE_CUDA, -1, &none);
}

/* What a callback does to re-enter the library: the allocator's lock (statistics, an
 * allocation), the device registry (open and release), the CUDA state, and a call that fails.
 * Returns the first failing status of the calls that should succeed. */
static aph_status reenter(void) {
    aph_memory_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    aph_status s = aph_device_memory_stats(g_cpu, &st);
    aph_tensor* t = NULL;
    const int64_t shape[] = {64};
    if (s == APH_OK) s = aph_tensor_create(g_cpu, APH_DTYPE_F32, shape, 1, &t);
    aph_tensor_release(t);
    aph_device* d = NULL;
    if (s == APH_OK) s = aph_device_open(APH_DEVICE_CPU, 0, &d);
    aph_device_release(d);
    int32_t n = -1;
    if (s == APH_OK) s = aph_device_count(APH_DEVICE_CUDA, &n);
    callback_fails(); /* must not reach the caller */
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Log callbacks
 * ------------------------------------------------------------------------------------------- */

typedef struct log_state {
    pthread_mutex_t mutex;
    int calls;
    int reentered;
    aph_status status;       /* of the re-entrant calls */
    const char* only_target; /* re-enter only for messages of this target (NULL: all) */
} log_state;

static void reentrant_log(void* ud, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)message;
    log_state* s = (log_state*)ud;
    const int mine = s->only_target == NULL || strcmp(target, s->only_target) == 0;
    aph_status st = APH_OK;
    if (mine) st = reenter();
    pthread_mutex_lock(&s->mutex);
    s->calls++;
    if (mine) {
        s->reentered++;
        if (s->status == APH_OK) s->status = st;
    }
    pthread_mutex_unlock(&s->mutex);
}

static void log_state_init(log_state* s, const char* only_target) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mutex, NULL);
    s->only_target = only_target;
}

/* What the CUDA module's loading and an unavailable device log (at info level) is logged while
 * the library is initialising the CUDA state and while it holds the device registry's lock: a
 * callback that opens devices and reads the CUDA state must not deadlock. First test of the
 * process: the CUDA state is initialised here. */
static void test_log_during_device_open(void** state) {
    (void)state;
    ARM();
    log_state s;
    log_state_init(&s, NULL);
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_INFO));
    APH_ASSERT_OK(aph_log_set_callback(reentrant_log, &s));
    aph_device* d = NULL;
    int32_t n = 0;
    APH_ASSERT_OK(aph_device_count(APH_DEVICE_CUDA, &n)); /* initialises the CUDA state */
    assert_int_equal(aph_device_open(APH_DEVICE_CUDA, n + 3, &d), APH_ERR_DEVICE_NOT_AVAILABLE);
    assert_null(d);
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    assert_true(s.reentered >= 1); /* at least "cuda:N not available" */
    APH_ASSERT_OK(s.status);
}

/* The reported deadlock: a message logged while the caching allocator holds its mutex (here:
 * a tracker reset by the user cannot take back a freed block's bytes), delivered to a callback
 * that reads the allocator's statistics and allocates. */
static void test_log_under_allocator_lock(void** state) {
    (void)state;
    ARM();
    aph_tracker* tr = NULL;
    APH_ASSERT_OK(aph_tracker_create(0, &tr));
    APH_ASSERT_OK(aph_device_set_tracker(g_cpu, tr));
    const int64_t shape[] = {1024};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(g_cpu, APH_DTYPE_F32, shape, 1, &t));
    APH_ASSERT_OK(aph_device_set_tracker(g_cpu, NULL));
    aph_tracker_reset(tr); /* the block's charge can no longer be given back: logged at warn */
    log_state s;
    log_state_init(&s, "aphelion::memory");
    APH_ASSERT_OK(aph_log_set_callback(reentrant_log, &s));
    aph_tensor_release(t);
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));
    assert_int_equal(s.reentered, 1);
    APH_ASSERT_OK(s.status);
    aph_tracker_release(tr);
}

/* The logger itself: while a callback runs, another thread replaces the callback (it waits for
 * the delivery in progress), and the running callback waits for a third thread that logs. The
 * third thread must not wait for the replacement, or all three wait for each other. */
typedef struct relay {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int in_callback; /* the first callback is running */
    int replacing;   /* the replacing thread is about to call aph_log_set_callback */
    int first_calls, second_calls;
} relay;

static relay g_relay = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

static void* third_thread(void* arg) {
    (void)arg;
    assert_int_equal(aph_log_write(APH_LOG_WARN, "relay", "from the third thread"), APH_OK);
    return NULL;
}

static void first_callback(void* ud, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)target;
    relay* r = (relay*)ud;
    pthread_mutex_lock(&r->mutex);
    r->first_calls++;
    const int slow = strcmp(message, "slow") == 0;
    if (slow) {
        r->in_callback = 1;
        pthread_cond_broadcast(&r->cond);
        while (!r->replacing) pthread_cond_wait(&r->cond, &r->mutex);
    }
    pthread_mutex_unlock(&r->mutex);
    if (!slow) return;
    sleep_ms(100); /* the replacing thread is waiting inside aph_log_set_callback by now */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, third_thread, NULL), 0);
    pthread_join(t, NULL);
}

static void second_callback(void* ud, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)target;
    (void)message;
    relay* r = (relay*)ud;
    pthread_mutex_lock(&r->mutex);
    r->second_calls++;
    pthread_mutex_unlock(&r->mutex);
}

static void* replacing_thread(void* arg) {
    relay* r = (relay*)arg;
    pthread_mutex_lock(&r->mutex);
    while (!r->in_callback) pthread_cond_wait(&r->cond, &r->mutex);
    r->replacing = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mutex);
    assert_int_equal(aph_log_set_callback(second_callback, r), APH_OK);
    /* When it returns, the first callback is no longer running. */
    pthread_mutex_lock(&r->mutex);
    const int done = r->in_callback;
    pthread_mutex_unlock(&r->mutex);
    assert_int_equal(done, 1);
    return NULL;
}

static void test_log_callback_replaced_while_running(void** state) {
    (void)state;
    ARM();
    relay* r = &g_relay;
    APH_ASSERT_OK(aph_log_set_callback(first_callback, r));
    pthread_t w;
    assert_int_equal(pthread_create(&w, NULL, replacing_thread, r), 0);
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "relay", "slow"));
    pthread_join(w, NULL);
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "relay", "after"));
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));
    /* "slow" went to the first callback, "after" to the second, the third thread's to either. */
    assert_int_equal(r->first_calls + r->second_calls, 3);
    assert_true(r->first_calls >= 1);
    assert_true(r->second_calls >= 1);
}

/* Rule 4: the log callback runs inside the failing call (the library logs its own failures at
 * debug level) and fails calls of its own: the caller still reads its call's message. */
static void count_and_fail(void* ud, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)target;
    (void)message;
    (*(int*)ud)++;
    callback_fails();
}

static void test_log_callback_keeps_last_error(void** state) {
    (void)state;
    ARM();
    const int64_t shape[] = {4};
    aph_tensor* t = NULL;
    fail_once();
    char expected[512];
    snprintf(expected, sizeof expected, "%s", aph_last_error());
    callback_fails(); /* another message in between */

    int calls = 0;
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_DEBUG));
    APH_ASSERT_OK(aph_log_set_callback(count_and_fail, &calls));
    assert_int_equal(aph_tensor_create(g_cpu, (aph_dtype)99, shape, 1, &t), APH_ERR_INVALID_ARGUMENT);
    const int after_failure = calls;
    char got[512];
    const char* held = aph_last_error();
    snprintf(got, sizeof got, "%s", held);
    /* A successful call that logs (the callback fails inside it) leaves the message alone, even
     * the storage behind the pointer the caller holds. */
    APH_ASSERT_OK(aph_log_write(APH_LOG_WARN, "test",
                                "a message that is much longer than the one before it, "
                                "so that a copy into the same storage would reallocate"));
    assert_ptr_equal(aph_last_error(), held);
    assert_string_equal(held, got);
    APH_ASSERT_OK(aph_log_set_callback(NULL, NULL));
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));
    assert_true(after_failure >= 1); /* the failure was logged at debug level */
    assert_string_equal(got, expected);
    assert_string_equal(aph_last_error(), expected);
}

/* ---------------------------------------------------------------------------------------------
 * Trace sinks, pipelines
 * ------------------------------------------------------------------------------------------- */

typedef struct trace_state {
    aph_trace_sink* memory; /* a sibling in the fan-out */
    int events, spans, destroyed;
    aph_status status;
} trace_state;

static void note(trace_state* s, aph_status st) {
    if (s->status == APH_OK) s->status = st;
}

static void on_event(void* ud, const aph_trace_event* e) {
    trace_state* s = (trace_state*)ud;
    s->events++;
    (void)e;
    note(s, reenter());
    (void)aph_trace_sink_event_count(s->memory);
    aph_trace_event copy = *e;
    note(s, aph_trace_sink_record(s->memory, &copy));
}

static void on_span(void* ud, const aph_trace_span* sp) {
    trace_state* s = (trace_state*)ud;
    s->spans++;
    (void)sp;
    note(s, reenter());
    (void)aph_trace_sink_span_count(s->memory);
}

static void trace_destroy(void* ud) {
    trace_state* s = (trace_state*)ud;
    s->destroyed++;
    aph_trace_sink* m = NULL;
    note(s, aph_trace_sink_memory(&m));
    aph_trace_sink_release(m);
    note(s, reenter());
}

typedef struct pipe_state {
    int progress, stages, hooks, destroyed;
    aph_status status;
    aph_status fail;          /* the custom stage returns this */
    const char* fail_message; /* ... after aph_set_last_error with this (NULL: none) */
} pipe_state;

static void pipe_note(pipe_state* s, aph_status st) {
    if (s->status == APH_OK) s->status = st;
}

static void on_progress(void* ud, const char* stage, size_t index, size_t total) {
    pipe_state* s = (pipe_state*)ud;
    (void)stage;
    (void)index;
    (void)total;
    s->progress++;
    pipe_note(s, reenter());
}

static aph_status on_stage(void* ud, aph_build_context* ctx, aph_graph* graph) {
    pipe_state* s = (pipe_state*)ud;
    s->stages++;
    /* (Not when failing: a failing call in there would become the stage's message.) */
    if (s->fail == APH_OK) pipe_note(s, reenter());
    pipe_note(s, aph_build_context_trace(ctx, APH_TRACE_INFO, "stage.mine", "from the stage"));
    (void)aph_graph_node_count(graph);
    if (s->fail != APH_OK && s->fail_message != NULL) aph_set_last_error(s->fail, s->fail_message);
    return s->fail;
}

static aph_status on_hook(void* ud, aph_build_context* ctx, const aph_graph* graph) {
    pipe_state* s = (pipe_state*)ud;
    s->hooks++;
    pipe_note(s, reenter());
    pipe_note(s, aph_build_context_trace(ctx, APH_TRACE_INFO, "hook.mine", "from a hook"));
    (void)aph_graph_node_count(graph);
    return APH_OK;
}

static void pipe_destroy(void* ud) {
    pipe_state* s = (pipe_state*)ud;
    s->destroyed++;
    pipe_note(s, reenter());
}

static aph_graph* one_node_graph(void) {
    aph_graph* g = NULL;
    APH_ASSERT_OK(aph_graph_create(&g));
    aph_model_config* c = NULL;
    APH_ASSERT_OK(aph_model_config_create("relu", "1.0.0", &c));
    uint64_t id = 0;
    APH_ASSERT_OK(aph_graph_add_node(g, "n", c, &id));
    aph_model_config_release(c);
    return g;
}

/* Trace callbacks (events, spans, destroy) and every pipeline callback (progress, pre- and
 * post-hooks, a stage, their destroy) re-enter the library and fail calls of their own: nothing
 * deadlocks, the run succeeds, and the caller's message is the one from before the run. */
static void test_trace_and_pipeline_callbacks(void** state) {
    (void)state;
    ARM();
    trace_state ts;
    memset(&ts, 0, sizeof ts);
    APH_ASSERT_OK(aph_trace_sink_memory(&ts.memory));
    aph_trace_sink* cb = NULL;
    APH_ASSERT_OK(aph_trace_sink_callback(on_event, on_span, &ts, trace_destroy, &cb));
    aph_trace_sink* both[2] = {ts.memory, cb};
    aph_trace_sink* fan = NULL;
    APH_ASSERT_OK(aph_trace_sink_fanout(both, 2, &fan));
    aph_trace_sink_release(cb); /* the fan-out keeps it */

    aph_build_context* ctx = NULL;
    APH_ASSERT_OK(aph_build_context_create(g_cpu, fan, NULL, &ctx));
    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&p));
    pipe_state ps;
    memset(&ps, 0, sizeof ps);
    APH_ASSERT_OK(aph_pipeline_add_pre_hook(p, on_hook, &ps, pipe_destroy));
    APH_ASSERT_OK(aph_pipeline_add_builtin(p, "validation"));
    APH_ASSERT_OK(aph_pipeline_add_stage(p, "mine", on_stage, &ps, pipe_destroy));
    APH_ASSERT_OK(aph_pipeline_add_post_hook(p, on_hook, &ps, pipe_destroy));
    APH_ASSERT_OK(aph_pipeline_set_progress(p, on_progress, &ps));
    aph_graph* g = one_node_graph();

    fail_once();
    char expected[512];
    snprintf(expected, sizeof expected, "%s", aph_last_error());
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    assert_string_equal(aph_last_error(), expected);
    assert_int_equal(ps.progress, 2);
    assert_int_equal(ps.stages, 1);
    assert_int_equal(ps.hooks, 2);
    APH_ASSERT_OK(ps.status);
    assert_true(ts.events >= 3); /* validation, the stage's and the hooks' */
    assert_true(ts.spans >= 2);  /* one per stage */
    APH_ASSERT_OK(ts.status);

    /* A stage that fails with a message: the outer call's message is built from it. */
    ps.fail = APH_ERR_KERNEL;
    ps.fail_message = "the stage could not go on";
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_KERNEL,
                   "kernel error: the stage could not go on (stage: mine)");
    /* Without one: a generic message naming the stage. */
    ps.fail_message = NULL;
    APH_ASSERT_ERR(aph_pipeline_run(p, ctx, g), APH_ERR_KERNEL,
                   "kernel error: stage 'mine' failed with APH_ERR_KERNEL and gave no message (stage: mine)");

    /* Destroy callbacks run from the releases (functions with no status): the message stays. */
    fail_once();
    snprintf(expected, sizeof expected, "%s", aph_last_error());
    aph_pipeline_release(p);
    assert_int_equal(ps.destroyed, 3);
    APH_ASSERT_OK(ps.status);
    aph_build_context_release(ctx);
    aph_trace_sink_release(fan);
    assert_int_equal(ts.destroyed, 1);
    APH_ASSERT_OK(ts.status);
    assert_string_equal(aph_last_error(), expected);
    aph_trace_sink_release(ts.memory);
    aph_graph_release(g);
}

/* ---------------------------------------------------------------------------------------------
 * Custom operations
 * ------------------------------------------------------------------------------------------- */

typedef struct op_state {
    int infer, cpu, destroyed;
    aph_status status;
    aph_status fail;
    const char* fail_message;
} op_state;

static void op_note(op_state* s, aph_status st) {
    if (s->status == APH_OK) s->status = st;
}

static aph_status helper_infer(void* ud, const char* params, size_t n, const aph_dtype* dts,
                               const int64_t* const* shapes, const size_t* ndims, aph_dtype* odt, int64_t* oshape,
                               size_t capacity, size_t* ondim) {
    (void)ud;
    (void)params;
    if (n != 1 || ndims[0] > capacity) return APH_ERR_GRAPH;
    *odt = dts[0];
    memcpy(oshape, shapes[0], ndims[0] * sizeof(int64_t));
    *ondim = ndims[0];
    return APH_OK;
}

static aph_status helper_cpu(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out) {
    (void)ud;
    (void)params;
    (void)n;
    const float* a = (const float*)aph_tensor_data(in[0]);
    float* o = (float*)aph_tensor_data(out);
    for (int64_t i = 0; i < aph_tensor_numel(out); ++i) o[i] = 2.0f * a[i];
    return APH_OK;
}

/* The registry's lock: register and unregister another operation from inside a callback. */
static aph_status churn_registry(void) {
    aph_custom_op h;
    memset(&h, 0, sizeof h);
    h.struct_size = sizeof h;
    h.name = "callbacks_helper_op";
    h.infer = helper_infer;
    h.cpu = helper_cpu;
    aph_status s = aph_custom_op_register(&h);
    if (s == APH_OK) s = aph_custom_op_unregister("callbacks_helper_op");
    return s;
}

static aph_status reenter_infer(void* ud, const char* params, size_t n, const aph_dtype* dts,
                                const int64_t* const* shapes, const size_t* ndims, aph_dtype* odt, int64_t* oshape,
                                size_t capacity, size_t* ondim) {
    op_state* s = (op_state*)ud;
    s->infer++;
    op_note(s, reenter());
    op_note(s, churn_registry());
    return helper_infer(ud, params, n, dts, shapes, ndims, odt, oshape, capacity, ondim);
}

static aph_status reenter_cpu(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out) {
    op_state* s = (op_state*)ud;
    s->cpu++;
    op_note(s, reenter());
    op_note(s, churn_registry());
    if (s->fail != APH_OK) {
        if (s->fail_message) aph_set_last_error(s->fail, s->fail_message);
        return s->fail;
    }
    return helper_cpu(ud, params, n, in, out);
}

static void reenter_destroy(void* ud) {
    op_state* s = (op_state*)ud;
    s->destroyed++;
    op_note(s, reenter());
    op_note(s, churn_registry());
}

static const char* k_graph_json =
    "{\"nodes\":["
    "{\"id\":1,\"name\":\"x\",\"config\":{\"name\":\"input\",\"version\":\"1.0.0\",\"params\":{\"shape\":[8],"
    "\"dtype\":\"f32\"}},\"metadata\":{}},"
    "{\"id\":2,\"name\":\"c\",\"config\":{\"name\":\"callbacks_reenter_op\",\"version\":\"1.0.0\",\"params\":{}},"
    "\"metadata\":{}},"
    "{\"id\":3,\"name\":\"y\",\"config\":{\"name\":\"output\",\"version\":\"1.0.0\",\"params\":{}},\"metadata\":{}}"
    "],\"edges\":[[1,2],[2,3]]}";

static void test_custom_op_callbacks(void** state) {
    (void)state;
    ARM();
    op_state s;
    memset(&s, 0, sizeof s);
    aph_custom_op op;
    memset(&op, 0, sizeof op);
    op.struct_size = sizeof op;
    op.name = "callbacks_reenter_op";
    op.infer = reenter_infer;
    op.cpu = reenter_cpu;
    op.user_data = &s;
    op.destroy = reenter_destroy;
    APH_ASSERT_OK(aph_custom_op_register(&op));
    aph_graph* g = NULL;
    APH_ASSERT_OK(aph_graph_from_json(k_graph_json, strlen(k_graph_json), &g));

    fail_once();
    char expected[512];
    snprintf(expected, sizeof expected, "%s", aph_last_error());
    aph_executor* ex = NULL;
    APH_ASSERT_OK(aph_executor_create(g, g_cpu, NULL, &ex));
    const float xs[8] = {1, -2, 3, -4, 5, -6, 7, -8.5f};
    const int64_t shape[] = {8};
    aph_tensor* x = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(g_cpu, APH_DTYPE_F32, shape, 1, xs, sizeof xs, &x));
    APH_ASSERT_OK(aph_executor_set_input(ex, "x", x));
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_string_equal(aph_last_error(), expected);
    aph_tensor* y = NULL;
    APH_ASSERT_OK(aph_executor_output(ex, "y", &y));
    float ys[8];
    APH_ASSERT_OK(aph_tensor_to_host(y, ys, sizeof ys));
    for (int i = 0; i < 8; ++i) assert_true(ys[i] == 2.0f * xs[i]);
    aph_tensor_release(y);
    assert_true(s.infer >= 1);
    assert_int_equal(s.cpu, 1);
    APH_ASSERT_OK(s.status);

    /* Failing with a message: the outer call's message names the node, then the callback's. */
    s.fail = APH_ERR_KERNEL;
    s.fail_message = "the custom kernel gave up";
    APH_ASSERT_ERR_CONTAINS(aph_executor_run(ex), APH_ERR_KERNEL, "the custom kernel gave up");
    s.fail = APH_OK;
    s.fail_message = NULL;

    /* Destroy runs once the registration is gone and no executor uses it, outside the lock. */
    APH_ASSERT_OK(aph_custom_op_unregister("callbacks_reenter_op"));
    assert_int_equal(s.destroyed, 0);
    fail_once();
    snprintf(expected, sizeof expected, "%s", aph_last_error());
    aph_executor_release(ex);
    assert_int_equal(s.destroyed, 1);
    APH_ASSERT_OK(s.status);
    assert_string_equal(aph_last_error(), expected);
    aph_tensor_release(x);
    aph_graph_release(g);
}

/* ---------------------------------------------------------------------------------------------
 * Deleters
 * ------------------------------------------------------------------------------------------- */

typedef struct blob_state {
    float data[256];
    int calls;
    aph_status status;
    aph_tensor* another; /* released from inside the deleter (its own deleter runs nested) */
} blob_state;

static void reentrant_deleter(void* ud, void* data) {
    blob_state* b = (blob_state*)ud;
    assert_ptr_equal(data, b->data);
    b->calls++;
    if (b->status == APH_OK) b->status = reenter();
    aph_tensor* another = b->another;
    b->another = NULL;
    aph_tensor_release(another);
}

static void test_deleters(void** state) {
    (void)state;
    ARM();
    blob_state inner, outer;
    memset(&inner, 0, sizeof inner);
    memset(&outer, 0, sizeof outer);
    const int64_t shape[] = {256};
    aph_tensor* a = NULL;
    aph_tensor* b = NULL;
    APH_ASSERT_OK(
        aph_tensor_from_blob(g_cpu, APH_DTYPE_F32, shape, NULL, 1, inner.data, reentrant_deleter, &inner, &a));
    APH_ASSERT_OK(
        aph_tensor_from_blob(g_cpu, APH_DTYPE_F32, shape, NULL, 1, outer.data, reentrant_deleter, &outer, &b));
    outer.another = a;
    fail_once();
    char expected[512];
    snprintf(expected, sizeof expected, "%s", aph_last_error());
    aph_tensor_release(b);
    assert_int_equal(outer.calls, 1);
    assert_int_equal(inner.calls, 1);
    APH_ASSERT_OK(outer.status);
    APH_ASSERT_OK(inner.status);
    assert_string_equal(aph_last_error(), expected);
}

int main(void) {
    /* Nothing may touch the CUDA state before the first test. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_log_during_device_open, aph_watchdog_disarm),
        cmocka_unit_test_teardown(test_log_under_allocator_lock, aph_watchdog_disarm),
        cmocka_unit_test_teardown(test_log_callback_replaced_while_running, aph_watchdog_disarm),
        cmocka_unit_test_teardown(test_log_callback_keeps_last_error, aph_watchdog_disarm),
        cmocka_unit_test_teardown(test_trace_and_pipeline_callbacks, aph_watchdog_disarm),
        cmocka_unit_test_teardown(test_custom_op_callbacks, aph_watchdog_disarm),
        cmocka_unit_test_teardown(test_deleters, aph_watchdog_disarm),
    };
    /* APH_TEST_ONLY=pattern runs the matching tests only (a deadlock ends the process). */
    const char* only = getenv("APH_TEST_ONLY");
    if (only != NULL && *only != '\0') cmocka_set_test_filter(only);
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) return 1;
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    aph_device_release(g_cpu);
    return failed;
}
