/* Soak under threads (issue 21): several threads, each for a bounded time, run executors
 * (made, bound, run and released, and one kept across iterations), tensor creation, copies
 * between layouts and streams, views, operations, DLPack round trips, raw allocations and
 * frees, with the device's allocations charged to one shared tracker. Every result is compared
 * with the same work done once on a single thread first; when everything is released the
 * device's allocator is back to the bytes and blocks it started with (aph_device_memory_stats),
 * its cache empties to where it began, and the tracker is back to 0.
 *
 * CI runs it under ThreadSanitizer (stage 3) as well as in the other builds.
 * APH_SOAK_SECONDS (default 2) and APH_SOAK_THREADS (default 4) size it; it prints what it did. */
#include "../reliability_fixtures.h"

#include <aphelion_dlpack.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static aph_device* g_dev;
static aph_tensor *g_w1, *g_b1, *g_w2, *g_x; /* shared, only read */
static aph_graph* g_graph;
static double g_deadline;
static int g_failed;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;

typedef struct reference {
    uint64_t executor, tensors, ops, dlpack;
} reference;
static reference g_ref;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fail(const char* what, aph_status st) {
    pthread_mutex_lock(&g_mutex);
    fprintf(stderr, "FAIL %s: %s: %s\n", what, aph_status_name(st), st == APH_OK ? "" : aph_last_error());
    g_failed = 1;
    pthread_mutex_unlock(&g_mutex);
}

#define OK(expr)                 \
    do {                         \
        aph_status st_ = (expr); \
        if (st_ != APH_OK) {     \
            fail(#expr, st_);    \
            return 0;            \
        }                        \
    } while (0)

/* An executor of the shared graph with the shared weights: runs twice, returns the output's hash. */
static uint64_t run_executor(aph_executor* keep) {
    aph_executor* ex = keep;
    if (ex == NULL) {
        OK(aph_executor_create(g_graph, g_dev, NULL, &ex));
        OK(aph_executor_set_weight(ex, "w1", g_w1));
        OK(aph_executor_set_weight(ex, "b1", g_b1));
        OK(aph_executor_set_weight(ex, "w2", g_w2));
        OK(aph_executor_set_input(ex, "x", g_x));
    }
    OK(aph_executor_run(ex));
    OK(aph_executor_run(ex));
    aph_tensor* y = NULL;
    OK(aph_executor_output(ex, "y", &y));
    uint64_t h = 0;
    OK(rf_hash_tensor(&h, y));
    aph_tensor_release(y);
    if (keep == NULL) aph_executor_release(ex);
    return h;
}

/* Creation, copies (between layouts and on a stream of its own), views. */
static uint64_t tensors(void) {
    const int64_t s[2] = {8, 16}, st[2] = {16, 8};
    float v[128];
    for (int i = 0; i < 128; ++i) v[i] = (float)i * 0.25f - 7.0f;
    aph_tensor *a = NULL, *t = NULL, *c = NULL, *b = NULL, *sl = NULL;
    aph_stream* stream = NULL;
    uint64_t h = 0;
    OK(aph_stream_create(g_dev, &stream));
    OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s, 2, v, sizeof v, &a));
    OK(aph_tensor_transpose(a, 0, 1, &t));
    OK(aph_tensor_contiguous(t, &c));
    OK(aph_tensor_create_on_stream(aph_stream_device(stream), APH_DTYPE_F32, st, 2, stream, &b));
    OK(aph_tensor_copy_async(b, t, stream));
    OK(aph_stream_synchronize(stream));
    OK(aph_tensor_slice(b, 1, 1, 8, 3, &sl));
    OK(rf_hash_tensor(&h, c));
    OK(rf_hash_tensor(&h, b));
    OK(rf_hash_tensor(&h, sl));
    aph_tensor_release(sl);
    aph_tensor_release(b);
    aph_tensor_release(c);
    aph_tensor_release(t);
    aph_tensor_release(a);
    aph_stream_release(stream);
    return h;
}

/* Operations into fresh outputs. */
static uint64_t ops(void) {
    const int64_t s[2] = {4, 32};
    float v[128];
    for (int i = 0; i < 128; ++i) v[i] = (float)((i * 37) % 23) * 0.125f - 1.0f;
    aph_tensor *a = NULL, *o1 = NULL, *o2 = NULL, *o3 = NULL;
    uint64_t h = 0;
    OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s, 2, v, sizeof v, &a));
    OK(aph_tensor_create(g_dev, APH_DTYPE_F32, s, 2, &o1));
    OK(aph_tensor_create(g_dev, APH_DTYPE_F32, s, 2, &o2));
    const int64_t s4[1] = {4};
    OK(aph_tensor_create(g_dev, APH_DTYPE_F32, s4, 1, &o3));
    OK(aph_op_softmax(a, o1, NULL));
    OK(aph_op_binary(APH_BINARY_MUL, a, o1, o2, NULL));
    OK(aph_op_unary(APH_UNARY_GELU, o2, o2, NULL));
    OK(aph_op_reduce(APH_REDUCE_SUM, o2, -1, 0, o3, NULL));
    OK(rf_hash_tensor(&h, o1));
    OK(rf_hash_tensor(&h, o2));
    OK(rf_hash_tensor(&h, o3));
    aph_tensor_release(a);
    aph_tensor_release(o1);
    aph_tensor_release(o2);
    aph_tensor_release(o3);
    return h;
}

/* DLPack export and import back, and raw device memory. */
static uint64_t dlpack_and_raw(void) {
    const int64_t s[1] = {64};
    int32_t v[64];
    for (int i = 0; i < 64; ++i) v[i] = i * i - 100;
    aph_tensor *a = NULL, *b = NULL;
    DLManagedTensorVersioned* m = NULL;
    uint64_t h = 0;
    OK(aph_tensor_from_host(g_dev, APH_DTYPE_I32, s, 1, v, sizeof v, &a));
    OK(aph_tensor_to_dlpack(a, &m));
    aph_tensor_release(a); /* the export keeps it alive */
    aph_status st = aph_tensor_from_dlpack(m, &b);
    if (st != APH_OK) {
        m->deleter(m);
        fail("aph_tensor_from_dlpack", st);
        return 0;
    }
    OK(rf_hash_tensor(&h, b));
    aph_tensor_release(b);
    void* p[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; ++i) OK(aph_device_allocate(g_dev, (size_t)(i + 1) * 3000, NULL, &p[i]));
    for (int i = 2; i >= 0; --i) OK(aph_device_free(g_dev, p[i]));
    return h;
}

typedef struct worker {
    pthread_t thread;
    unsigned long operations;
} worker;

static void* work(void* arg) {
    worker* w = (worker*)arg;
    aph_executor* keep = NULL;
    if (aph_executor_create(g_graph, g_dev, NULL, &keep) != APH_OK ||
        aph_executor_set_weight(keep, "w1", g_w1) != APH_OK || aph_executor_set_weight(keep, "b1", g_b1) != APH_OK ||
        aph_executor_set_weight(keep, "w2", g_w2) != APH_OK || aph_executor_set_input(keep, "x", g_x) != APH_OK) {
        fail("the kept executor", APH_ERR_INTERNAL);
        aph_executor_release(keep);
        return NULL;
    }
    for (unsigned long i = 0; now() < g_deadline && !g_failed; ++i) {
        uint64_t got = 0, want = 0;
        const char* what = NULL;
        switch (i % 5) {
            case 0: got = run_executor(NULL), want = g_ref.executor, what = "a new executor"; break;
            case 1: got = run_executor(keep), want = g_ref.executor, what = "the kept executor"; break;
            case 2: got = tensors(), want = g_ref.tensors, what = "tensors and copies"; break;
            case 3: got = ops(), want = g_ref.ops, what = "operations"; break;
            default: got = dlpack_and_raw(), want = g_ref.dlpack, what = "DLPack and raw memory"; break;
        }
        if (got != want) {
            pthread_mutex_lock(&g_mutex);
            if (!g_failed) fprintf(stderr, "FAIL %s: a result differs from the single-threaded run\n", what);
            g_failed = 1;
            pthread_mutex_unlock(&g_mutex);
        }
        w->operations++;
    }
    aph_executor_release(keep);
    return NULL;
}

static void stats(aph_memory_stats* s) {
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    if (aph_device_memory_stats(g_dev, s) != APH_OK) {
        fprintf(stderr, "stats: %s\n", aph_last_error());
        exit(1);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const double seconds = getenv("APH_SOAK_SECONDS") ? atof(getenv("APH_SOAK_SECONDS")) : 2.0;
    int nthreads = getenv("APH_SOAK_THREADS") ? atoi(getenv("APH_SOAK_THREADS")) : 4;
    if (nthreads < 1 || nthreads > 64) nthreads = 4;
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_dev) != APH_OK) return 1;
    aph_device_empty_cache(g_dev);
    aph_memory_stats start;
    stats(&start);
    aph_tracker* tracker = NULL;
    if (aph_tracker_create(0, &tracker) != APH_OK || aph_device_set_tracker(g_dev, tracker) != APH_OK) return 1;

    const int64_t sx[2] = {2, 4}, s_w1[2] = {3, 4}, s_b1[1] = {3}, s_w2[2] = {2, 3};
    if (aph_graph_from_json(rf_graph_json, sizeof rf_graph_json - 1, &g_graph) != APH_OK ||
        aph_tensor_from_host(g_dev, APH_DTYPE_F32, sx, 2, rf_x, sizeof rf_x, &g_x) != APH_OK ||
        aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_w1, 2, rf_w1, sizeof rf_w1, &g_w1) != APH_OK ||
        aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_b1, 1, rf_b1, sizeof rf_b1, &g_b1) != APH_OK ||
        aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_w2, 2, rf_w2, sizeof rf_w2, &g_w2) != APH_OK) {
        fprintf(stderr, "setup: %s\n", aph_last_error());
        return 1;
    }
    /* The single-threaded run every thread's results are compared with. */
    g_ref.executor = run_executor(NULL);
    g_ref.tensors = tensors();
    g_ref.ops = ops();
    g_ref.dlpack = dlpack_and_raw();
    if (g_failed) return 1;

    worker* ws = calloc((size_t)nthreads, sizeof *ws);
    const double t0 = now();
    g_deadline = t0 + seconds;
    for (int i = 0; i < nthreads; ++i) {
        if (pthread_create(&ws[i].thread, NULL, work, &ws[i]) != 0) return 1;
    }
    unsigned long total = 0;
    for (int i = 0; i < nthreads; ++i) {
        pthread_join(ws[i].thread, NULL);
        total += ws[i].operations;
    }
    const double elapsed = now() - t0;
    free(ws);

    aph_tensor_release(g_x);
    aph_tensor_release(g_w1);
    aph_tensor_release(g_b1);
    aph_tensor_release(g_w2);
    aph_graph_release(g_graph);
    if (aph_device_set_tracker(g_dev, NULL) != APH_OK) return 1;
    aph_memory_stats end;
    stats(&end);
    int rc = g_failed;
    if (end.allocated_bytes != start.allocated_bytes || end.active_allocations != start.active_allocations) {
        fprintf(stderr, "FAIL memory not given back: %llu bytes in %llu blocks (at the start: %llu in %llu)\n",
                (unsigned long long)end.allocated_bytes, (unsigned long long)end.active_allocations,
                (unsigned long long)start.allocated_bytes, (unsigned long long)start.active_allocations);
        rc = 1;
    }
    if (aph_tracker_allocated_bytes(tracker) != 0) {
        fprintf(stderr, "FAIL the tracker still counts %llu bytes\n",
                (unsigned long long)aph_tracker_allocated_bytes(tracker));
        rc = 1;
    }
    aph_device_empty_cache(g_dev);
    stats(&end);
    if (end.reserved_bytes != start.reserved_bytes) {
        fprintf(stderr, "FAIL %llu bytes stay reserved after emptying the cache (at the start: %llu)\n",
                (unsigned long long)end.reserved_bytes, (unsigned long long)start.reserved_bytes);
        rc = 1;
    }
    printf("soak: %d threads for %.1f s: %lu operations (each an executor's two runs, or a group of tensor, "
           "operation, DLPack or allocation calls), peak %llu bytes allocated, %s\n",
           nthreads, elapsed, total, (unsigned long long)end.allocated_bytes_peak,
           rc ? "FAILED" : "all as on one thread");
    fflush(stdout);
    aph_tracker_release(tracker);
    aph_device_release(g_dev);
    return rc;
}
