/* test_borrowed_memory.c — borrowed CUDA memory (aph_tensor_from_blob, DLPack imports, header
 * sections 12 and 13) is given back to its owner only after the work queued on it is done.
 *
 * A tensor over memory the caller owns is used on a stream (an asynchronous copy, an operation,
 * the caller's own work declared with aph_tensor_record_stream, on a created stream or the
 * default one) and released at once, as a garbage-collected binding does. The owner's deleter
 * must not run before that work has completed, and must run exactly once afterwards: at the
 * synchronisation, or, when the program makes no further call, from the library's deleter
 * thread. Deleters that call back into the library (allocator, streams) must not deadlock, and
 * must not change the caller's aph_last_error().
 *
 * Against the simulated CUDA module (label sim, both its immediate and its deferred mode) work
 * is done only once a synchronisation reaches it, so "not before" is checked exactly, and the
 * deleters look at the memory (host memory there) to see that the work really ran first. On a
 * real GPU (label gpu) only what does not depend on timing is checked. Without either, exit 77.
 */
#define _DEFAULT_SOURCE /* clock_gettime, nanosleep */
#include "test_util.h"
#include "watchdog.h"

#include <aphelion_dlpack.h>

#include <dlfcn.h>
#include <time.h>

#include "../cuda/module_abi.h"

static aph_device* g_dev;
static int g_sim;                        /* the simulated module: device memory is host memory */
static int g_sim_defer;                  /* ... in deferred mode */
static const aph_cuda_module_api* g_api; /* the module behind the library (for "the caller's own work") */
static uint64_t g_rng;

#define N 4096 /* f32 elements per tensor */

/* ---------------------------------------------------------------------------------------------
 * The owner's side: memory from aph_device_allocate, and a deleter that counts its calls (it
 * may run on another thread), checks what the memory holds when it runs, poisons it and frees
 * it.
 * ------------------------------------------------------------------------------------------- */

typedef struct owner {
    void* raw;           /* the memory */
    const float* expect; /* what the queued work leaves there (NULL: not checked) */
    int calls;           /* deleter calls (atomic) */
    int saw_expected;    /* the memory held `expect` when the deleter ran */
    aph_status free_status;
    int reenter; /* the deleter also calls into the library (allocator, streams) */
    aph_status reenter_status;
    int wrong_data; /* the deleter got another pointer than the memory's */
} owner;

static int calls_of(owner* o) { return __atomic_load_n(&o->calls, __ATOMIC_ACQUIRE); }

static void owner_deleter(void* user_data, void* data) {
    owner* o = (owner*)user_data;
    o->wrong_data = data != o->raw;
    if (g_sim && o->expect != NULL) o->saw_expected = memcmp(o->raw, o->expect, N * sizeof(float)) == 0;
    if (g_sim) memset(o->raw, 0xFF, N * sizeof(float)); /* the owner reuses it: NaNs */
    if (o->reenter) {
        /* Everything here takes the allocator's lock, or a stream's: a deleter run under it
         * would deadlock. Also a failing call, which must not change the caller's message. */
        aph_memory_stats st;
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        aph_status s = aph_device_memory_stats(g_dev, &st);
        aph_tensor* t = NULL;
        const int64_t shape[] = {N};
        if (s == APH_OK) s = aph_tensor_create(g_dev, APH_DTYPE_F32, shape, 1, &t);
        aph_tensor_release(t);
        if (s == APH_OK) s = aph_device_empty_cache(g_dev);
        if (s == APH_OK) s = aph_stream_synchronize(aph_device_default_stream(g_dev));
        o->reenter_status = s;
        (void)aph_tensor_create(g_dev, APH_DTYPE_F32, shape, 1, NULL); /* fails: out NULL */
    }
    o->free_status = aph_device_free(g_dev, o->raw);
    __atomic_fetch_add(&o->calls, 1, __ATOMIC_RELEASE);
}

static void owner_init(owner* o) {
    memset(o, 0, sizeof *o);
    o->free_status = APH_ERR_INTERNAL; /* until the deleter runs */
    APH_ASSERT_OK(aph_device_allocate(g_dev, N * sizeof(float), NULL, &o->raw));
}

static aph_tensor* borrow(owner* o) {
    const int64_t shape[] = {N};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(g_dev, APH_DTYPE_F32, shape, NULL, 1, o->raw, owner_deleter, o, &t));
    return t;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Under the simulator the work has not completed: the deleter must not have run, neither at the
 * release nor in the next 50 ms (the deleter thread polls meanwhile). */
static void assert_not_yet(owner* o, const char* what) {
    if (!g_sim) return;
    if (calls_of(o) != 0) print_error("%s: the deleter ran before the queued work completed\n", what);
    assert_int_equal(calls_of(o), 0);
    sleep_ms(50);
    if (calls_of(o) != 0) print_error("%s: the deleter ran before the queued work completed\n", what);
    assert_int_equal(calls_of(o), 0);
}

/* After the synchronisation: the deleter ran (here or on the deleter thread, which may be a
 * moment behind), once, after the work. Further library activity does not run it again. */
static void assert_ran_once(owner* o, const char* what) {
    for (int i = 0; i < 10000 && calls_of(o) == 0; ++i) sleep_ms(1);
    if (calls_of(o) != 1) print_error("%s: the deleter ran %d times\n", what, calls_of(o));
    assert_int_equal(calls_of(o), 1);
    assert_int_equal(o->wrong_data, 0);
    APH_ASSERT_OK(o->free_status);
    if (g_sim && o->expect != NULL) {
        if (!o->saw_expected) print_error("%s: the deleter ran before the queued work had written the memory\n", what);
        assert_true(o->saw_expected);
    }
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    APH_ASSERT_OK(aph_device_empty_cache(g_dev));
    sleep_ms(20);
    assert_int_equal(calls_of(o), 1);
}

static float* random_floats(void) {
    float* h = (float*)malloc(N * sizeof(float));
    assert_non_null(h);
    for (int i = 0; i < N; ++i) {
        const int64_t v = (int64_t)(aph_test_rand(&g_rng) % 20001) - 10000;
        h[i] = (float)(v ? v : 7) / 16.0f;
    }
    return h;
}

static aph_stream* new_stream(void) {
    aph_stream* s = NULL;
    APH_ASSERT_OK(aph_stream_create(g_dev, &s));
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------------------------- */

/* An asynchronous upload into borrowed memory, released at once: the deleter waits for the
 * copy (on a created stream, then on the default stream, which counts too). */
static void test_async_copy_then_release(void** state) {
    (void)state;
    for (int on_default = 0; on_default < 2; ++on_default) {
        owner o;
        owner_init(&o);
        float* h = random_floats();
        o.expect = h;
        aph_stream* s = on_default ? NULL : new_stream();
        aph_tensor* t = borrow(&o);
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, N * sizeof(float), s));
        aph_tensor_release(t);
        assert_not_yet(&o, on_default ? "upload on the default stream" : "upload on a created stream");
        APH_ASSERT_OK(aph_stream_synchronize(s ? s : aph_device_default_stream(g_dev)));
        assert_ran_once(&o, on_default ? "upload on the default stream" : "upload on a created stream");
        aph_stream_release(s);
        free(h);
    }
}

/* An operation reading borrowed memory (an implicit stream use), released at once: the
 * operation's result is right, so it read the memory before the owner got it back. */
static void test_operation_then_release(void** state) {
    (void)state;
    owner o;
    owner_init(&o);
    float* h = random_floats();
    aph_stream* s = new_stream();
    aph_tensor* a = borrow(&o);
    APH_ASSERT_OK(aph_tensor_copy_from_host(a, h, N * sizeof(float))); /* synchronous: no use left */
    o.expect = h;
    const int64_t shape[] = {N};
    aph_tensor* out = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_F32, shape, 1, s, &out));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MUL, a, 2.0, out, s));
    aph_tensor_release(a);
    assert_not_yet(&o, "an operation reading borrowed memory");
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_ran_once(&o, "an operation reading borrowed memory");
    float* got = (float*)malloc(N * sizeof(float));
    assert_non_null(got);
    APH_ASSERT_OK(aph_tensor_to_host(out, got, N * sizeof(float)));
    for (int i = 0; i < N; ++i) {
        if (got[i] != 2.0f * h[i]) {
            print_error("out[%d] = %g, expected %g: the operation read memory already given back\n", i, (double)got[i],
                        2.0 * h[i]);
            fail();
        }
    }
    aph_tensor_release(out);
    aph_stream_release(s);
    free(got);
    free(h);
}

/* The caller's own work on its stream (queued straight through the CUDA module, as PyTorch's
 * kernels would be), declared with aph_tensor_record_stream; the stream is released before the
 * tensor, so the use must survive the stream. */
static void test_declared_use_outlives_stream(void** state) {
    (void)state;
    if (g_api == NULL) {
        print_message("note: no module entry found; skipped\n");
        return;
    }
    owner o;
    owner_init(&o);
    float* pattern = (float*)malloc(N * sizeof(float));
    assert_non_null(pattern);
    memset(pattern, 0x5A, N * sizeof(float));
    o.expect = pattern;
    aph_stream* s = new_stream();
    aph_tensor* t = borrow(&o);
    char msg[256] = {0};
    assert_int_equal(g_api->memset_async(0, o.raw, 0x5A, N * sizeof(float), aph_stream_cuda_handle(s), msg, sizeof msg),
                     0);
    APH_ASSERT_OK(aph_tensor_record_stream(t, s));
    aph_stream_release(s); /* the stream goes first (its work stays queued) */
    aph_tensor_release(t);
    assert_not_yet(&o, "the caller's own work on a released stream");
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    assert_ran_once(&o, "the caller's own work on a released stream");
    free(pattern);
}

/* A DLPack import: the producer's deleter waits for the work too. */
typedef struct producer {
    DLManagedTensorVersioned m;
    int64_t shape[1];
    owner o;
} producer;

static void producer_deleter(DLManagedTensorVersioned* self) {
    producer* p = (producer*)self->manager_ctx;
    owner_deleter(&p->o, p->o.raw);
}

static void test_dlpack_import_then_release(void** state) {
    (void)state;
    producer p;
    memset(&p, 0, sizeof p);
    owner_init(&p.o);
    p.shape[0] = N;
    p.m.version.major = 1;
    p.m.version.minor = 1;
    p.m.manager_ctx = &p;
    p.m.deleter = producer_deleter;
    p.m.dl_tensor.data = p.o.raw;
    p.m.dl_tensor.device.device_type = kDLCUDA;
    p.m.dl_tensor.device.device_id = 0;
    p.m.dl_tensor.ndim = 1;
    p.m.dl_tensor.dtype.code = kDLFloat;
    p.m.dl_tensor.dtype.bits = 32;
    p.m.dl_tensor.dtype.lanes = 1;
    p.m.dl_tensor.shape = p.shape;
    float* h = random_floats();
    p.o.expect = h;
    aph_stream* s = new_stream();
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(&p.m, &t));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, N * sizeof(float), s));
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(t, (const int64_t[]){64, 64}, 2, &view));
    aph_tensor_release(t);
    aph_tensor_release(view); /* the last reference: a view */
    assert_not_yet(&p.o, "a DLPack import");
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_ran_once(&p.o, "a DLPack import");
    aph_stream_release(s);
    free(h);
}

/* The program goes idle: after the release it makes no library call at all, the work completes
 * (finished here straight through the module), and the deleter thread runs the deleter. */
static void test_idle_program(void** state) {
    (void)state;
    if (g_api == NULL) {
        print_message("note: no module entry found; skipped\n");
        return;
    }
    owner o;
    owner_init(&o);
    float* h = random_floats();
    o.expect = h;
    aph_stream* s = new_stream();
    void* native = aph_stream_cuda_handle(s);
    aph_tensor* t = borrow(&o);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, N * sizeof(float), s));
    aph_tensor_release(t);
    assert_not_yet(&o, "an idle program");
    char msg[256] = {0};
    assert_int_equal(g_api->stream_synchronize(0, native, msg, sizeof msg), 0); /* not a library call */
    for (int i = 0; i < 10000 && calls_of(&o) == 0; ++i) sleep_ms(1);
    if (calls_of(&o) != 1) print_error("the deleter did not run within 10 s of the work completing\n");
    assert_int_equal(calls_of(&o), 1);
    assert_ran_once(&o, "an idle program");
    aph_stream_release(s);
    free(h);
}

/* Deleters that call back into the library while the library runs them from inside its own
 * calls (a synchronisation, memory statistics, an allocation): no deadlock, and the caller's
 * last error survives the deleter's failing call. */
static void test_reentrant_deleters(void** state) {
    (void)state;
    aph_watchdog_arm(60, "re-entrant deleters of borrowed memory");
    enum { K = 4 };
    owner o[K];
    aph_stream* s = new_stream();
    float* h = random_floats();
    /* The caller's message, from a call that failed before (the deleters fail other calls). */
    aph_tensor* none = NULL;
    assert_int_not_equal(aph_tensor_zeros(g_dev, APH_DTYPE_INVALID, NULL, 0, &none), APH_OK);
    char expected[512];
    snprintf(expected, sizeof expected, "%s", aph_last_error());
    assert_true(strlen(expected) > 0);
    for (int k = 0; k < K; ++k) {
        owner_init(&o[k]);
        o[k].reenter = 1;
        o[k].expect = h;
        aph_tensor* t = borrow(&o[k]);
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, N * sizeof(float), s));
        aph_tensor_release(t);
    }
    /* Where the library runs finished deleters itself: each of these calls. */
    APH_ASSERT_OK(aph_stream_synchronize(s));
    aph_memory_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    APH_ASSERT_OK(aph_device_memory_stats(g_dev, &st));
    void* scratch = NULL;
    APH_ASSERT_OK(aph_device_allocate(g_dev, 1024, NULL, &scratch));
    APH_ASSERT_OK(aph_device_free(g_dev, scratch));
    for (int k = 0; k < K; ++k) {
        assert_ran_once(&o[k], "a re-entrant deleter");
        APH_ASSERT_OK(o[k].reenter_status);
    }
    assert_string_equal(aph_last_error(), expected);
    aph_stream_release(s);
    free(h);
}

static void cpu_deleter(void* user_data, void* data) {
    owner* o = (owner*)user_data;
    o->wrong_data = data != o->raw;
    free(data);
    __atomic_fetch_add(&o->calls, 1, __ATOMIC_RELEASE);
}

/* Memory of the CPU needs no waiting: the deleter runs at the release, on the releasing thread. */
static void test_cpu_blob_deleter_at_release(void** state) {
    (void)state;
    aph_device* cpu = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
    float* buf = random_floats();
    owner o;
    memset(&o, 0, sizeof o);
    o.raw = buf;
    const int64_t shape[] = {N};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(cpu, APH_DTYPE_F32, shape, NULL, 1, buf, cpu_deleter, &o, &t));
    aph_tensor* out = NULL;
    APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, shape, 1, &out));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_ADD, t, 1.0, out, NULL));
    aph_tensor_release(t);
    assert_int_equal(calls_of(&o), 1);
    assert_int_equal(o.wrong_data, 0);
    aph_tensor_release(out);
    aph_device_release(cpu);
}

/* ---------------------------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------------------------- */

static void find_module(void) {
    const char* path = getenv("APHELION_CUDA_MODULE");
    void* h = NULL;
    if (path != NULL && *path != '\0') h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) return; /* a real module found next to the library: its entry stays unknown */
    void* entry = dlsym(h, APH_CUDA_MODULE_ENTRY_SYMBOL);
    aph_cuda_module_entry_fn fn = NULL;
    memcpy(&fn, &entry, sizeof entry);
    if (fn != NULL) g_api = fn();
    g_sim = dlsym(h, "sim_cuda_live_streams") != NULL;
    const char* defer = getenv("SIM_CUDA_DEFER");
    g_sim_defer = g_sim && defer != NULL && strcmp(defer, "1") == 0;
    dlclose(h);
}

int main(void) {
    int32_t count = 0;
    if (aph_device_count(APH_DEVICE_CUDA, &count) != APH_OK || count == 0) {
        printf("skipped: no CUDA device\n");
        return 77;
    }
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CUDA, 0, &g_dev));
    find_module();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_rng = ((uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec) | 1;
    fprintf(stderr, "test_borrowed_memory: %s\n",
            g_sim ? (g_sim_defer ? "simulated module, deferred mode" : "simulated module, immediate mode")
                  : "real GPU");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_copy_then_release),
        cmocka_unit_test(test_operation_then_release),
        cmocka_unit_test(test_declared_use_outlives_stream),
        cmocka_unit_test(test_dlpack_import_then_release),
        cmocka_unit_test(test_idle_program),
        cmocka_unit_test_teardown(test_reentrant_deleters, aph_watchdog_disarm),
        cmocka_unit_test(test_cpu_blob_deleter_at_release),
    };
    /* APH_TEST_ONLY=pattern runs the matching tests only (a deadlock ends the process). */
    const char* only = getenv("APH_TEST_ONLY");
    if (only != NULL && *only != '\0') cmocka_set_test_filter(only);
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    aph_device_release(g_dev);
    return failed;
}
