/* test_cuda_last_error.c — the CUDA runtime's per-thread "last error" never outlives the call
 * that consumed it (cuda/last_error.h): a "not ready" answer from a stream or event query (the
 * caller's, or the allocator's own polling of pending events), a failed cudaMalloc, a failed
 * cudaSetDevice when a call gives the thread its device back, or an error left behind by code
 * outside the library must not make the next kernel launch on the thread look failed (which
 * would also leave the launch's stream use unrecorded).
 *
 * Only against the simulated CUDA module (label sim), which keeps that per-thread error the way
 * the runtime does and lets the test read it (sim_cuda_peek_last_error), leave one behind
 * (sim_cuda_set_last_error) and make cudaMalloc or cudaSetDevice fail; exit 77 elsewhere. It runs
 * the module's error handling from the same header as the real module, so a module that stopped
 * clearing would fail here.
 */
#define _DEFAULT_SOURCE /* clock_gettime */
#include "test_util.h"

#include <dlfcn.h>
#include <time.h>

/* The simulated runtime's codes (CUDA's). */
#define ERR_INVALID_VALUE 1
#define ERR_MEMORY_ALLOCATION 2
#define ERR_INVALID_DEVICE 101
#define ERR_NOT_READY 600

static int (*sim_peek)(void);
static void (*sim_set)(int);
static void (*sim_fail_malloc)(int);
static void (*sim_fail_set_device)(int, int);

static aph_device* g_dev;  /* cuda:0 */
static aph_device* g_dev1; /* cuda:1 */
static uint64_t g_rng;

#define N 1024

static aph_stream* new_stream(aph_device* d) {
    aph_stream* s = NULL;
    APH_ASSERT_OK(aph_stream_create(d, &s));
    return s;
}

static aph_tensor* vector_on(aph_stream* s) {
    const int64_t shape[] = {N};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(aph_stream_device(s), APH_DTYPE_F32, shape, 1, s, &t));
    return t;
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

/* Nothing is left as the calling thread's error. */
static void assert_no_error_left(const char* after) {
    const int e = sim_peek();
    if (e != 0) print_error("after %s, error %d is left as the thread's last error\n", after, e);
    assert_int_equal(e, 0);
}

/* Queues an upload on s, so that s is busy (the simulator finishes work only at a
 * synchronisation). Returns the tensor written. */
static aph_tensor* busy(aph_stream* s, const float* h) {
    aph_tensor* t = vector_on(s);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, N * sizeof(float), s));
    int idle = -1;
    APH_ASSERT_OK(aph_stream_query(s, &idle));
    assert_int_equal(idle, 0);
    return t;
}

/* A kernel launch on s reading x (x * 3 into a new tensor); checked once s is synchronised. */
static aph_tensor* launch_on(aph_stream* s, const aph_tensor* x, const char* after) {
    aph_tensor* out = vector_on(s);
    const aph_status st = aph_op_binary_scalar(APH_BINARY_MUL, x, 3.0, out, s);
    if (st != APH_OK) print_error("a launch after %s failed: %s\n", after, aph_last_error());
    APH_ASSERT_OK(st);
    return out;
}

static void check_times3(aph_stream* s, aph_tensor* out, const float* h) {
    APH_ASSERT_OK(aph_stream_synchronize(s));
    float got[N];
    APH_ASSERT_OK(aph_tensor_to_host(out, got, sizeof got));
    for (int i = 0; i < N; ++i) assert_true(got[i] == 3.0f * h[i]);
}

/* aph_stream_query and aph_event_query answering "not done" leave nothing behind: the next
 * launch on the thread (also the strided-copy kernel) succeeds. */
static void test_queries_not_ready(void** state) {
    (void)state;
    float* h = random_floats();
    aph_stream* s = new_stream(g_dev);
    aph_tensor* x = busy(s, h); /* the query in busy() answered "not ready" */
    assert_no_error_left("aph_stream_query answered not ready");
    aph_tensor* out = launch_on(s, x, "aph_stream_query answered not ready");

    aph_event* e = NULL;
    APH_ASSERT_OK(aph_event_create(g_dev, &e));
    APH_ASSERT_OK(aph_event_record(e, s));
    int done = -1;
    APH_ASSERT_OK(aph_event_query(e, &done));
    assert_int_equal(done, 0);
    assert_no_error_left("aph_event_query answered not ready");
    /* A strided copy (the module's own kernel) next. */
    aph_tensor* col = NULL;
    const int64_t shape2[] = {32, 32};
    aph_tensor* sq = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(x, shape2, 2, &sq));
    APH_ASSERT_OK(aph_tensor_transpose(sq, 0, 1, &col));
    aph_tensor* dense = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(aph_stream_device(s), APH_DTYPE_F32, shape2, 2, s, &dense));
    const aph_status st = aph_tensor_copy_async(dense, col, s);
    if (st != APH_OK)
        print_error("a strided copy after aph_event_query answered not ready failed: %s\n", aph_last_error());
    APH_ASSERT_OK(st);
    check_times3(s, out, h);
    float got[N];
    APH_ASSERT_OK(aph_tensor_to_host(dense, got, sizeof got));
    for (int i = 0; i < 32; ++i)
        for (int j = 0; j < 32; ++j) assert_true(got[i * 32 + j] == h[j * 32 + i]);
    aph_tensor_release(dense);
    aph_tensor_release(col);
    aph_tensor_release(sq);
    aph_event_release(e);
    aph_tensor_release(out);
    aph_tensor_release(x);
    aph_stream_release(s);
    free(h);
}

/* The allocator's own polling: a block freed while another stream may still use it waits for an
 * event, which each later allocation queries ("not ready" while that stream is busy). The launch
 * after it succeeds, and its own stream use is recorded: the block it read is held back too. */
static void test_allocator_polling(void** state) {
    (void)state;
    float* h = random_floats();
    aph_stream* a = new_stream(g_dev);
    aph_stream* b = new_stream(g_dev);
    aph_tensor* x = vector_on(a);
    APH_ASSERT_OK(aph_tensor_copy_from_host(x, h, N * sizeof(float)));
    aph_tensor* held = vector_on(a);
    aph_tensor* work = busy(b, h);
    APH_ASSERT_OK(aph_tensor_record_stream(held, b));
    aph_tensor_release(held);         /* waits for an event on b, which is busy */
    aph_tensor* other = vector_on(a); /* this allocation polls that event: not ready */
    assert_no_error_left("the allocator polled a pending event");
    aph_tensor* out = launch_on(b, x, "the allocator polled a pending event"); /* reads x (of a) on b */
    aph_memory_stats s0;
    memset(&s0, 0, sizeof s0);
    s0.struct_size = sizeof s0;
    APH_ASSERT_OK(aph_device_memory_stats(g_dev, &s0));
    aph_tensor_release(x); /* its use on b was recorded: it stays active until b is done */
    aph_memory_stats s1;
    memset(&s1, 0, sizeof s1);
    s1.struct_size = sizeof s1;
    APH_ASSERT_OK(aph_device_memory_stats(g_dev, &s1));
    assert_int_equal(s1.active_bytes, s0.active_bytes);
    assert_true(s1.allocated_bytes < s0.allocated_bytes);
    assert_no_error_left("aph_device_memory_stats polled pending events");
    check_times3(b, out, h);
    aph_tensor_release(out);
    aph_tensor_release(other);
    aph_tensor_release(work);
    aph_stream_release(b);
    aph_stream_release(a);
    free(h);
}

/* An error left behind by code outside the library (a failed call of the caller's own, on the
 * same thread and runtime) does not fail the library's next launch. */
static void test_error_left_by_the_caller(void** state) {
    (void)state;
    float* h = random_floats();
    aph_stream* s = new_stream(g_dev);
    aph_tensor* x = vector_on(s);
    APH_ASSERT_OK(aph_tensor_copy_from_host(x, h, N * sizeof(float)));
    static const int errors[] = {ERR_NOT_READY, ERR_INVALID_VALUE, ERR_INVALID_DEVICE};
    for (size_t k = 0; k < sizeof errors / sizeof errors[0]; ++k) {
        sim_set(errors[k]);
        aph_tensor* out = launch_on(s, x, "an error left by the caller");
        check_times3(s, out, h);
        aph_tensor_release(out);
    }
    aph_tensor_release(x);
    aph_stream_release(s);
    free(h);
}

/* A failed cudaMalloc, out of memory or any other error, is consumed where it is reported. */
static void test_failed_malloc(void** state) {
    (void)state;
    float* h = random_floats();
    aph_stream* s = new_stream(g_dev);
    aph_tensor* x = vector_on(s);
    APH_ASSERT_OK(aph_tensor_copy_from_host(x, h, N * sizeof(float)));
    const int64_t big[] = {(int64_t)48 << 20}; /* 192 MiB: never in the cache, a new segment */
    aph_tensor* t = NULL;

    sim_fail_malloc(ERR_INVALID_VALUE);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_create(g_dev, APH_DTYPE_F32, big, 1, &t), APH_ERR_BACKEND,
                            "cudaMalloc failed: invalid argument (cudaErrorInvalidValue)");
    assert_null(t);
    assert_no_error_left("a failed cudaMalloc (cudaErrorInvalidValue)");
    aph_tensor* out = launch_on(s, x, "a failed cudaMalloc (cudaErrorInvalidValue)");
    check_times3(s, out, h);
    aph_tensor_release(out);

    /* Out of memory: the allocator empties its cache and retries, which succeeds here. */
    sim_fail_malloc(ERR_MEMORY_ALLOCATION);
    APH_ASSERT_OK(aph_tensor_create(g_dev, APH_DTYPE_F32, big, 1, &t));
    aph_tensor_release(t);
    assert_no_error_left("a cudaMalloc out of memory");
    out = launch_on(s, x, "a cudaMalloc out of memory");
    check_times3(s, out, h);
    aph_tensor_release(out);

    aph_tensor_release(x);
    aph_stream_release(s);
    free(h);
}

/* A call on cuda:1 from a thread whose device is cuda:0 gives the thread its device back at the
 * end; when that cudaSetDevice fails, the failure (which cannot be reported) is consumed. */
static void test_failed_device_restore(void** state) {
    (void)state;
    if (g_dev1 == NULL) {
        print_message("note: one simulated device; skipped\n");
        return;
    }
    float* h = random_floats();
    aph_stream* s = new_stream(g_dev);
    aph_tensor* x = vector_on(s);
    APH_ASSERT_OK(aph_tensor_copy_from_host(x, h, N * sizeof(float))); /* the thread is on cuda:0 now */
    sim_fail_set_device(0, ERR_INVALID_DEVICE);
    APH_ASSERT_OK(aph_stream_synchronize(aph_device_default_stream(g_dev1))); /* switches to 1 and back */
    assert_no_error_left("a failed cudaSetDevice restoring the thread's device");
    aph_tensor* out = launch_on(s, x, "a failed cudaSetDevice restoring the thread's device");
    check_times3(s, out, h);
    aph_tensor_release(out);
    aph_tensor_release(x);
    aph_stream_release(s);
    free(h);
}

int main(void) {
    int32_t count = 0;
    if (aph_device_count(APH_DEVICE_CUDA, &count) != APH_OK || count == 0) {
        printf("skipped: no CUDA device\n");
        return 77;
    }
    const char* path = getenv("APHELION_CUDA_MODULE");
    void* h = path && *path ? dlopen(path, RTLD_NOW | RTLD_NOLOAD) : NULL;
    void* peek = h ? dlsym(h, "sim_cuda_peek_last_error") : NULL;
    if (peek == NULL) {
        printf("skipped: needs the simulated CUDA module\n");
        return 77;
    }
    void* set = dlsym(h, "sim_cuda_set_last_error");
    void* fm = dlsym(h, "sim_cuda_fail_next_malloc");
    void* fsd = dlsym(h, "sim_cuda_fail_next_set_device");
    memcpy(&sim_peek, &peek, sizeof peek);
    memcpy(&sim_set, &set, sizeof set);
    memcpy(&sim_fail_malloc, &fm, sizeof fm);
    memcpy(&sim_fail_set_device, &fsd, sizeof fsd);
    assert_non_null(sim_set);
    assert_non_null(sim_fail_malloc);
    assert_non_null(sim_fail_set_device);
    dlclose(h);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_rng = ((uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec) | 1;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CUDA, 0, &g_dev));
    if (count > 1) APH_ASSERT_OK(aph_device_open(APH_DEVICE_CUDA, 1, &g_dev1));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queries_not_ready),        cmocka_unit_test(test_allocator_polling),
        cmocka_unit_test(test_error_left_by_the_caller), cmocka_unit_test(test_failed_malloc),
        cmocka_unit_test(test_failed_device_restore),
    };
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    aph_device_release(g_dev1);
    aph_device_release(g_dev);
    return failed;
}
