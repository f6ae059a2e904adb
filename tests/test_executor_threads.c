/* Executors on several threads at once (header section 20: separate executors may run at once
 * on one device; the custom operation registry and trace sinks are thread-safe): 4 threads,
 * each with its own executor of one graph (built-ins and a custom operation) on the CPU, 20
 * runs each with their own inputs, every result equal bit for bit to the single-threaded
 * reference. CI also runs this under ThreadSanitizer. */
#include "exec_test_util.h"

enum { THREADS = 4, RUNS = 20, B = 3, S = 4, D = 16, H = 2, HD = 8 };

static aph_graph* g_graph;
static aph_tensor* g_w[4];
static aph_tensor* g_x[THREADS][RUNS];
static unsigned char* g_want[THREADS][RUNS];
static size_t g_want_n;
static aph_trace_sink* g_sink;
static pthread_mutex_t g_calls_mutex = PTHREAD_MUTEX_INITIALIZER;
static int g_calls;

/* A custom operation: out = 2·x (f32, contiguous). */
static aph_status twice_infer(void* ud, const char* params, size_t n, const aph_dtype* dts,
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

static aph_status twice_cpu(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out) {
    (void)ud;
    (void)params;
    (void)n;
    const float* x = aph_tensor_data(in[0]);
    float* o = NULL;
    if (aph_tensor_data_mut(out, (void**)&o) != APH_OK) return APH_ERR_INTERNAL;
    for (int64_t i = 0; i < aph_tensor_numel(out); ++i) o[i] = 2.0f * x[i];
    pthread_mutex_lock(&g_calls_mutex);
    ++g_calls;
    pthread_mutex_unlock(&g_calls_mutex);
    return APH_OK;
}

static aph_graph* build(void) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(B, S, D));
    et_input(g, "wn", "weight", APH_DTYPE_F32, SHAPE(D));
    et_input(g, "wqkv", "weight", APH_DTYPE_F32, SHAPE(3 * D, D));
    et_input(g, "wo", "weight", APH_DTYPE_F32, SHAPE(D, D));
    et_input(g, "bo", "weight", APH_DTYPE_F32, SHAPE(D));
    NODE(g, "n", "rms_norm", NULL, "x,wn");
    NODE(g, "qkv", "linear", NULL, "n,wqkv");
    NODE(g, "qkv4", "reshape", "shape=[3,4,6,8]", "qkv");
    NODE(g, "q", "slice", "dim=2;start=0;stop=2", "qkv4");
    NODE(g, "k", "slice", "dim=2;start=2;stop=4", "qkv4");
    NODE(g, "v", "slice", "dim=2;start=4;stop=6", "qkv4");
    NODE(g, "a", "attention", "causal=true", "q,k,v");
    NODE(g, "a2", "reshape", "shape=[3,4,16]", "a");
    NODE(g, "o", "linear", NULL, "a2,wo,bo");
    NODE(g, "t", "twice", NULL, "o");
    NODE(g, "r", "add", NULL, "x,t");
    NODE(g, "ln", "layer_norm", NULL, "r,wn");
    NODE(g, "y", "output", NULL, "ln");
    return g;
}

typedef struct worker {
    int index;
    int failures;
    char what[256];
} worker;

static void* work(void* arg) {
    worker* w = arg;
    aph_executor* ex = NULL;
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.trace = g_sink;
    if (aph_executor_create(g_graph, ot_device(), &opt, &ex) != APH_OK) {
        snprintf(w->what, sizeof w->what, "create: %s", aph_last_error());
        w->failures++;
        return NULL;
    }
    const char* wn[4] = {"wn", "wqkv", "wo", "bo"};
    for (int i = 0; i < 4; ++i) {
        if (aph_executor_set_weight(ex, wn[i], g_w[i]) != APH_OK) {
            snprintf(w->what, sizeof w->what, "set_weight: %s", aph_last_error());
            w->failures++;
        }
    }
    for (int r = 0; r < RUNS && w->failures == 0; ++r) {
        aph_tensor* y = NULL;
        if (aph_executor_set_input(ex, "x", g_x[w->index][r]) != APH_OK || aph_executor_run(ex) != APH_OK ||
            aph_executor_output(ex, "y", &y) != APH_OK) {
            snprintf(w->what, sizeof w->what, "run %d: %s", r, aph_last_error());
            w->failures++;
            break;
        }
        const size_t n = (size_t)aph_tensor_nbytes(y);
        if (n != g_want_n || memcmp(aph_tensor_data(y), g_want[w->index][r], n) != 0) {
            snprintf(w->what, sizeof w->what, "run %d differs from the single-threaded reference", r);
            w->failures++;
        }
        aph_tensor_release(y);
    }
    if (aph_executor_run_count(ex) != RUNS && w->failures == 0) {
        snprintf(w->what, sizeof w->what, "run count %llu", (unsigned long long)aph_executor_run_count(ex));
        w->failures++;
    }
    aph_executor_release(ex);
    return NULL;
}

static void test_threads(void** state) {
    (void)state;
    aph_custom_op op;
    memset(&op, 0, sizeof op);
    op.struct_size = sizeof op;
    op.name = "twice";
    op.infer = twice_infer;
    op.cpu = twice_cpu;
    APH_ASSERT_OK(aph_custom_op_register(&op));
    g_graph = build();
    g_w[0] = et_rand(APH_DTYPE_F32, SHAPE(D), 0.5, 1.5);
    g_w[1] = et_rand(APH_DTYPE_F32, SHAPE(3 * D, D), -0.4, 0.4);
    g_w[2] = et_rand(APH_DTYPE_F32, SHAPE(D, D), -0.4, 0.4);
    g_w[3] = et_rand(APH_DTYPE_F32, SHAPE(D), -0.4, 0.4);
    for (int t = 0; t < THREADS; ++t)
        for (int r = 0; r < RUNS; ++r) g_x[t][r] = et_rand(APH_DTYPE_F32, SHAPE(B, S, D), -2, 2);

    /* The reference: one executor, every input in turn, on this thread. */
    aph_executor* ref = et_exec(g_graph, NULL);
    const char* wn[4] = {"wn", "wqkv", "wo", "bo"};
    for (int i = 0; i < 4; ++i) et_setw(ref, wn[i], g_w[i]);
    for (int t = 0; t < THREADS; ++t)
        for (int r = 0; r < RUNS; ++r) {
            et_set(ref, "x", g_x[t][r]);
            APH_ASSERT_OK(aph_executor_run(ref));
            g_want[t][r] = et_bytes(et_result(ref, "y"), &g_want_n);
        }
    assert_int_equal(g_want_n, B * S * D * 4);
    /* Different inputs give different results (so a mix-up between threads would show). */
    assert_true(memcmp(g_want[0][0], g_want[1][0], g_want_n) != 0);
    aph_executor_release(ref);
    assert_int_equal(g_calls, THREADS * RUNS);

    APH_ASSERT_OK(aph_trace_sink_memory(&g_sink));
    pthread_t th[THREADS];
    worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int t = 0; t < THREADS; ++t) {
        w[t].index = t;
        assert_int_equal(pthread_create(&th[t], NULL, work, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; ++t) assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < THREADS; ++t)
        if (w[t].failures) fail_msg("thread %d: %s (APH_TEST_SEED=%llu)", t, w[t].what, (unsigned long long)ot_seed());
    assert_int_equal(g_calls, 2 * THREADS * RUNS);
    /* Per run: one span per computing node (rms_norm, linear, attention, linear, twice, add,
     * layer_norm) and the run's span, all in the one shared sink. */
    aph_executor* probe = et_exec(g_graph, NULL);
    const size_t steps = et_plan(probe).steps;
    aph_executor_release(probe);
    assert_int_equal(steps, 7);
    assert_int_equal(aph_trace_sink_span_count(g_sink), THREADS * RUNS * (steps + 1));
    aph_trace_sink_release(g_sink);

    for (int t = 0; t < THREADS; ++t)
        for (int r = 0; r < RUNS; ++r) free(g_want[t][r]);
    APH_ASSERT_OK(aph_custom_op_unregister("twice"));
    aph_graph_release(g_graph);
    et_pool_release();
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
