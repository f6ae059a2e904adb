/* test_tracker.c — section 6 of aphelion.h: the memory tracker. Reference counting, the limit
 * (0: unlimited; reaching it exactly is allowed), allocate/deallocate/peak/reset exactly as the
 * section 3 of docs/compat.md says (exact out-of-memory message, nothing changes on failure),
 * would_fit, the overhead factor and estimate_with_overhead, NULL handles everywhere, 64-bit
 * overflow without a limit, a random operation sequence checked against a model, and
 * concurrency: the limit is never exceeded whatever the threads do, and the totals come out
 * exact. */
#define _DEFAULT_SOURCE /* clock_gettime, pthread_barrier_t */
#include "test_util.h"

#include <math.h>
#include <stdatomic.h>
#include <time.h>

#define POISON 0xDEADBEEFCAFEF00DULL
#define NULL_TRACKER "invalid argument: tracker must not be NULL"

static uint64_t g_seed0; /* this run's seed, printed when a randomised check fails */

static uint64_t fresh_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    return s ? s : 1;
}

static aph_tracker* make_tracker(uint64_t limit) {
    aph_tracker* t = NULL;
    APH_ASSERT_OK(aph_tracker_create(limit, &t));
    assert_non_null(t);
    return t;
}

/* Asserts the tracker's counters. */
static void assert_state(const aph_tracker* t, uint64_t allocated, uint64_t peak) {
    assert_int_equal(aph_tracker_allocated_bytes(t), allocated);
    assert_int_equal(aph_tracker_peak_bytes(t), peak);
}

/* The exact out-of-memory message of docs/compat.md. */
static void oom_message(char* buf, size_t size, uint64_t n, uint64_t limit, uint64_t current) {
    snprintf(buf, size,
             "out of memory: allocation of %llu bytes would exceed limit of %llu bytes "
             "(current: %llu bytes)",
             (unsigned long long)n, (unsigned long long)limit, (unsigned long long)current);
}

/* ---------------------------------------------------------------------------------------------
 * Lifetime
 * ------------------------------------------------------------------------------------------- */

static void test_create_release_retain(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(1234);
    assert_int_equal(aph_tracker_limit_bytes(t), 1234);
    assert_state(t, 0, 0);

    /* A second reference keeps it alive after the first is given back. */
    aph_tracker_retain(t);
    aph_tracker_release(t);
    APH_ASSERT_OK(aph_tracker_allocate(t, 34));
    assert_state(t, 34, 34);
    assert_int_equal(aph_tracker_limit_bytes(t), 1234);
    aph_tracker_release(t); /* the last reference */

    /* NULL is a no-op for release, retain and reset. */
    aph_tracker_release(NULL);
    aph_tracker_retain(NULL);
    aph_tracker_reset(NULL);

    /* Two trackers are independent. */
    aph_tracker* a = make_tracker(0);
    aph_tracker* b = make_tracker(0);
    assert_ptr_not_equal(a, b);
    APH_ASSERT_OK(aph_tracker_allocate(a, 5));
    assert_state(a, 5, 5);
    assert_state(b, 0, 0);
    aph_tracker_release(a);
    aph_tracker_release(b);

    APH_ASSERT_ERR(aph_tracker_create(0, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
}

typedef struct {
    aph_tracker* t;
    pthread_barrier_t* start;
} retain_arg;

static void* retain_release_worker(void* p) {
    retain_arg* a = (retain_arg*)p;
    pthread_barrier_wait(a->start);
    for (int i = 0; i < 20000; ++i) {
        aph_tracker_retain(a->t);
        aph_tracker_allocate(a->t, 1);
        aph_tracker_deallocate(a->t, 1);
        aph_tracker_release(a->t);
    }
    return NULL;
}

static void test_retain_release_concurrent(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(0);
    enum { N = 8 };
    pthread_t th[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    retain_arg arg = {t, &start};
    for (int i = 0; i < N; ++i) assert_int_equal(pthread_create(&th[i], NULL, retain_release_worker, &arg), 0);
    for (int i = 0; i < N; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    /* Still alive (our reference), and every allocate was matched. */
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);
    assert_true(aph_tracker_peak_bytes(t) >= 1 && aph_tracker_peak_bytes(t) <= N);
    APH_ASSERT_OK(aph_tracker_allocate(t, 3));
    assert_int_equal(aph_tracker_allocated_bytes(t), 3);
    aph_tracker_release(t);
}

/* ---------------------------------------------------------------------------------------------
 * Limit, allocate, deallocate, peak, reset
 * ------------------------------------------------------------------------------------------- */

static void test_unlimited(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(0);
    assert_int_equal(aph_tracker_limit_bytes(t), 0);
    APH_ASSERT_OK(aph_tracker_allocate(t, (uint64_t)1 << 40));
    APH_ASSERT_OK(aph_tracker_allocate(t, (uint64_t)1 << 50));
    assert_state(t, ((uint64_t)1 << 40) + ((uint64_t)1 << 50), ((uint64_t)1 << 40) + ((uint64_t)1 << 50));
    assert_int_equal(aph_tracker_would_fit(t, (uint64_t)1 << 62), 1);
    APH_ASSERT_OK(aph_tracker_deallocate(t, (uint64_t)1 << 50));
    assert_state(t, (uint64_t)1 << 40, ((uint64_t)1 << 40) + ((uint64_t)1 << 50));
    aph_tracker_release(t);
}

static void test_limit_equality_allowed(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(1000);
    APH_ASSERT_OK(aph_tracker_allocate(t, 600));
    assert_state(t, 600, 600);
    APH_ASSERT_OK(aph_tracker_allocate(t, 400)); /* exactly the limit */
    assert_state(t, 1000, 1000);
    APH_ASSERT_OK(aph_tracker_allocate(t, 0)); /* nothing more also fits */
    assert_state(t, 1000, 1000);

    char msg[256];
    oom_message(msg, sizeof msg, 1, 1000, 1000);
    APH_ASSERT_ERR(aph_tracker_allocate(t, 1), APH_ERR_OUT_OF_MEMORY, msg);
    assert_state(t, 1000, 1000);

    /* A fresh tracker: one allocation of exactly the limit, one byte more fails. */
    aph_tracker* u = make_tracker(4096);
    oom_message(msg, sizeof msg, 4097, 4096, 0);
    APH_ASSERT_ERR(aph_tracker_allocate(u, 4097), APH_ERR_OUT_OF_MEMORY, msg);
    assert_state(u, 0, 0);
    APH_ASSERT_OK(aph_tracker_allocate(u, 4096));
    assert_state(u, 4096, 4096);
    aph_tracker_release(u);
    aph_tracker_release(t);
}

static void test_allocate_failure_changes_nothing(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(100);
    APH_ASSERT_OK(aph_tracker_allocate(t, 70));
    APH_ASSERT_OK(aph_tracker_deallocate(t, 30));
    assert_state(t, 40, 70);

    char msg[256];
    oom_message(msg, sizeof msg, 61, 100, 40);
    APH_ASSERT_ERR(aph_tracker_allocate(t, 61), APH_ERR_OUT_OF_MEMORY, msg);
    assert_state(t, 40, 70);
    assert_int_equal(aph_tracker_limit_bytes(t), 100);

    /* A request larger than the limit itself, and one that would overflow current + n. */
    oom_message(msg, sizeof msg, UINT64_MAX, 100, 40);
    APH_ASSERT_ERR(aph_tracker_allocate(t, UINT64_MAX), APH_ERR_OUT_OF_MEMORY, msg);
    assert_state(t, 40, 70);
    oom_message(msg, sizeof msg, UINT64_MAX - 20, 100, 40);
    APH_ASSERT_ERR(aph_tracker_allocate(t, UINT64_MAX - 20), APH_ERR_OUT_OF_MEMORY, msg);
    assert_state(t, 40, 70);

    /* The largest request that fits still does. */
    APH_ASSERT_OK(aph_tracker_allocate(t, 60));
    assert_state(t, 100, 100);
    aph_tracker_release(t);
}

static void test_limit_uint64_max(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(UINT64_MAX);
    APH_ASSERT_OK(aph_tracker_allocate(t, UINT64_MAX - 1));
    APH_ASSERT_OK(aph_tracker_allocate(t, 1));
    assert_state(t, UINT64_MAX, UINT64_MAX);
    char msg[256];
    oom_message(msg, sizeof msg, 1, UINT64_MAX, UINT64_MAX);
    APH_ASSERT_ERR(aph_tracker_allocate(t, 1), APH_ERR_OUT_OF_MEMORY, msg);
    assert_state(t, UINT64_MAX, UINT64_MAX);
    aph_tracker_release(t);
}

static void test_peak_and_reset(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(10000);
    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 2.5));
    APH_ASSERT_OK(aph_tracker_allocate(t, 100));
    APH_ASSERT_OK(aph_tracker_allocate(t, 200));
    assert_state(t, 300, 300);
    APH_ASSERT_OK(aph_tracker_deallocate(t, 250));
    assert_state(t, 50, 300); /* the peak is not lowered */
    APH_ASSERT_OK(aph_tracker_allocate(t, 100));
    assert_state(t, 150, 300); /* below the old peak: unchanged */
    APH_ASSERT_OK(aph_tracker_allocate(t, 200));
    assert_state(t, 350, 350); /* above it: raised */

    aph_tracker_reset(t);
    assert_state(t, 0, 0);
    /* The limit and the overhead factor survive a reset. */
    assert_int_equal(aph_tracker_limit_bytes(t), 10000);
    assert_true(aph_tracker_overhead_factor(t) == 2.5);
    char msg[256];
    oom_message(msg, sizeof msg, 10001, 10000, 0);
    APH_ASSERT_ERR(aph_tracker_allocate(t, 10001), APH_ERR_OUT_OF_MEMORY, msg);
    /* After a reset the whole limit is available again. */
    APH_ASSERT_OK(aph_tracker_allocate(t, 10000));
    assert_state(t, 10000, 10000);
    aph_tracker_release(t);
}

static void test_deallocate(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(0);
    APH_ASSERT_ERR(aph_tracker_deallocate(t, 1), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: deallocation of 1 bytes exceeds the 0 bytes allocated");
    assert_state(t, 0, 0);
    APH_ASSERT_OK(aph_tracker_deallocate(t, 0));
    assert_state(t, 0, 0);

    APH_ASSERT_OK(aph_tracker_allocate(t, 10));
    APH_ASSERT_ERR_CONTAINS(aph_tracker_deallocate(t, 11), APH_ERR_INVALID_ARGUMENT, "deallocation of 11 bytes");
    assert_state(t, 10, 10);
    APH_ASSERT_ERR_CONTAINS(aph_tracker_deallocate(t, UINT64_MAX), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    assert_state(t, 10, 10);
    APH_ASSERT_OK(aph_tracker_deallocate(t, 4));
    assert_state(t, 6, 10);
    APH_ASSERT_OK(aph_tracker_deallocate(t, 6)); /* exactly what is left */
    assert_state(t, 0, 10);
    APH_ASSERT_ERR_CONTAINS(aph_tracker_deallocate(t, 1), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    assert_state(t, 0, 10);
    aph_tracker_release(t);
}

static void test_would_fit(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(100);
    assert_int_equal(aph_tracker_would_fit(t, 0), 1);
    assert_int_equal(aph_tracker_would_fit(t, 100), 1);
    assert_int_equal(aph_tracker_would_fit(t, 101), 0);
    assert_int_equal(aph_tracker_would_fit(t, UINT64_MAX), 0);
    APH_ASSERT_OK(aph_tracker_allocate(t, 60));
    assert_int_equal(aph_tracker_would_fit(t, 40), 1);
    assert_int_equal(aph_tracker_would_fit(t, 41), 0);
    assert_int_equal(aph_tracker_would_fit(t, UINT64_MAX - 59), 0); /* 60 + n wraps to 0 */
    assert_int_equal(aph_tracker_would_fit(t, 0), 1);
    /* would_fit changes nothing. */
    assert_state(t, 60, 60);
    aph_tracker_release(t);

    aph_tracker* u = make_tracker(0);
    assert_int_equal(aph_tracker_would_fit(u, UINT64_MAX), 1);
    APH_ASSERT_OK(aph_tracker_allocate(u, 1000));
    assert_int_equal(aph_tracker_would_fit(u, (uint64_t)1 << 63), 1);
    aph_tracker_release(u);
}

static void test_unlimited_overflow(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(0);
    APH_ASSERT_OK(aph_tracker_allocate(t, UINT64_MAX));
    assert_state(t, UINT64_MAX, UINT64_MAX);
    APH_ASSERT_ERR_CONTAINS(aph_tracker_allocate(t, UINT64_MAX), APH_ERR_OUT_OF_MEMORY,
                            "out of memory: allocation of 18446744073709551615 bytes");
    assert_state(t, UINT64_MAX, UINT64_MAX);
    APH_ASSERT_ERR_CONTAINS(aph_tracker_allocate(t, 1), APH_ERR_OUT_OF_MEMORY, "out of memory: ");
    assert_state(t, UINT64_MAX, UINT64_MAX);
    assert_int_equal(aph_tracker_would_fit(t, 1), 0);
    assert_int_equal(aph_tracker_would_fit(t, 0), 1);
    APH_ASSERT_OK(aph_tracker_allocate(t, 0));

    /* Partway: the overflow is detected exactly at 2^64. */
    APH_ASSERT_OK(aph_tracker_deallocate(t, 10));
    APH_ASSERT_ERR_CONTAINS(aph_tracker_allocate(t, 11), APH_ERR_OUT_OF_MEMORY, "out of memory: ");
    assert_state(t, UINT64_MAX - 10, UINT64_MAX);
    APH_ASSERT_OK(aph_tracker_allocate(t, 10));
    assert_state(t, UINT64_MAX, UINT64_MAX);
    aph_tracker_release(t);
}

/* ---------------------------------------------------------------------------------------------
 * Overhead factor and estimate_with_overhead
 * ------------------------------------------------------------------------------------------- */

static void test_overhead_factor(void** state) {
    (void)state;
    assert_true(APH_DEFAULT_OVERHEAD_FACTOR == 1.1);
    aph_tracker* t = make_tracker(0);
    assert_true(aph_tracker_overhead_factor(t) == 1.1);

    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 1.5));
    assert_true(aph_tracker_overhead_factor(t) == 1.5);
    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 0.25)); /* below 1 is allowed */
    assert_true(aph_tracker_overhead_factor(t) == 0.25);
    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 1e-300)); /* tiny but > 0 */
    assert_true(aph_tracker_overhead_factor(t) == 1e-300);
    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 3.0));

    const double bad[] = {0.0, -0.0, -1.0, -1e-300, NAN, -NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        APH_ASSERT_ERR_CONTAINS(aph_tracker_set_overhead_factor(t, bad[i]), APH_ERR_INVALID_ARGUMENT,
                                "invalid argument: factor must be finite and > 0");
        assert_true(aph_tracker_overhead_factor(t) == 3.0); /* unchanged */
    }
    aph_tracker_release(t);
}

static void test_estimate_with_overhead(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(0);
    uint64_t out = POISON;
    const int64_t s1000[] = {1000};
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, s1000, 1, APH_DTYPE_F32, &out));
    assert_int_equal(out, 4400); /* 4000 raw bytes × 1.1 */
    const int64_t s3[] = {32, 64, 128};
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, s3, 3, APH_DTYPE_F32, &out));
    assert_int_equal(out, (uint64_t)(1048576.0 * 1.1)); /* 1153433 (truncated) */
    assert_int_equal(out, 1153433);
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, NULL, 0, APH_DTYPE_F64, &out));
    assert_int_equal(out, 8); /* 8.8 truncated */
    const int64_t three[] = {3};
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, three, 1, APH_DTYPE_U8, &out));
    assert_int_equal(out, 3); /* 3.3 truncated */

    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 0.5));
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, s1000, 1, APH_DTYPE_F32, &out));
    assert_int_equal(out, 2000);
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, three, 1, APH_DTYPE_U8, &out));
    assert_int_equal(out, 1); /* 1.5 truncated */
    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 2.0));
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, s1000, 1, APH_DTYPE_BF16, &out));
    assert_int_equal(out, 4000);

    /* It estimates only: the tracker's counters do not move. */
    assert_state(t, 0, 0);

    /* Errors: those of aph_estimate_tensor_bytes, plus the overflow of the scaled value. */
    out = POISON;
    const int64_t neg[] = {4, -2};
    APH_ASSERT_ERR_CONTAINS(aph_tracker_estimate_with_overhead(t, neg, 2, APH_DTYPE_F32, &out),
                            APH_ERR_INVALID_ARGUMENT, "shape[1]");
    assert_true(out == POISON);
    APH_ASSERT_ERR_CONTAINS(aph_tracker_estimate_with_overhead(t, NULL, 2, APH_DTYPE_F32, &out),
                            APH_ERR_INVALID_ARGUMENT, "shape must not be NULL");
    assert_true(out == POISON);
    APH_ASSERT_ERR(aph_tracker_estimate_with_overhead(t, s1000, 1, (aph_dtype)13, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dtype is 13, not a valid aph_dtype");
    assert_true(out == POISON);
    const int64_t huge[] = {(int64_t)1 << 32, (int64_t)1 << 32};
    APH_ASSERT_ERR_CONTAINS(aph_tracker_estimate_with_overhead(t, huge, 2, APH_DTYPE_F32, &out),
                            APH_ERR_INVALID_ARGUMENT, "overflows 64 bits");
    assert_true(out == POISON);
    /* 2^62 bytes fits, × 4 does not. */
    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 4.0));
    const int64_t big[] = {(int64_t)1 << 60};
    APH_ASSERT_ERR_CONTAINS(aph_tracker_estimate_with_overhead(t, big, 1, APH_DTYPE_F32, &out),
                            APH_ERR_INVALID_ARGUMENT, "overflows 64 bits");
    assert_true(out == POISON);
    APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, 2.0));
    APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, big, 1, APH_DTYPE_F32, &out));
    assert_int_equal(out, (uint64_t)1 << 63);

    APH_ASSERT_ERR(aph_tracker_estimate_with_overhead(t, s1000, 1, APH_DTYPE_F32, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_bytes must not be NULL");
    aph_tracker_release(t);
}

static void test_estimate_with_overhead_random(void** state) {
    (void)state;
    uint64_t rng = g_seed0 ^ 0xA5A5A5A5A5A5A5A5ULL;
    aph_tracker* t = make_tracker(0);
    for (int iter = 0; iter < 5000; ++iter) {
        const double factor = 0.05 + (double)(aph_test_rand(&rng) % 1000000) / 250000.0;
        APH_ASSERT_OK(aph_tracker_set_overhead_factor(t, factor));
        int64_t shape[4];
        const size_t ndim = (size_t)(aph_test_rand(&rng) % 5);
        uint64_t raw = 1;
        for (size_t i = 0; i < ndim; ++i) {
            shape[i] = 1 + (int64_t)(aph_test_rand(&rng) % 2000);
            raw *= (uint64_t)shape[i];
        }
        const aph_dtype dt = (aph_dtype)(aph_test_rand(&rng) % 13);
        raw *= aph_dtype_size(dt);
        const uint64_t expected = (uint64_t)((double)raw * factor);
        uint64_t out = POISON;
        APH_ASSERT_OK(aph_tracker_estimate_with_overhead(t, ndim ? shape : NULL, ndim, dt, &out));
        if (out != expected) {
            print_error("seed %llu: raw %llu × %.17g: got %llu, expected %llu\n", (unsigned long long)g_seed0,
                        (unsigned long long)raw, factor, (unsigned long long)out, (unsigned long long)expected);
            fail();
        }
    }
    aph_tracker_release(t);
}

/* ---------------------------------------------------------------------------------------------
 * NULL handles
 * ------------------------------------------------------------------------------------------- */

static void test_null_tracker(void** state) {
    (void)state;
    APH_ASSERT_ERR(aph_tracker_allocate(NULL, 1), APH_ERR_INVALID_ARGUMENT, NULL_TRACKER);
    APH_ASSERT_ERR(aph_tracker_allocate(NULL, 0), APH_ERR_INVALID_ARGUMENT, NULL_TRACKER);
    APH_ASSERT_ERR(aph_tracker_deallocate(NULL, 1), APH_ERR_INVALID_ARGUMENT, NULL_TRACKER);
    APH_ASSERT_ERR(aph_tracker_set_overhead_factor(NULL, 1.5), APH_ERR_INVALID_ARGUMENT, NULL_TRACKER);
    uint64_t out = POISON;
    const int64_t shape[] = {10};
    APH_ASSERT_ERR(aph_tracker_estimate_with_overhead(NULL, shape, 1, APH_DTYPE_F32, &out), APH_ERR_INVALID_ARGUMENT,
                   NULL_TRACKER);
    assert_true(out == POISON);

    assert_true(aph_tracker_overhead_factor(NULL) == 0.0);
    assert_int_equal(aph_tracker_would_fit(NULL, 0), 0);
    assert_int_equal(aph_tracker_would_fit(NULL, 1), 0);
    assert_int_equal(aph_tracker_allocated_bytes(NULL), 0);
    assert_int_equal(aph_tracker_peak_bytes(NULL), 0);
    assert_int_equal(aph_tracker_limit_bytes(NULL), 0);
    aph_tracker_reset(NULL);
    aph_tracker_retain(NULL);
    aph_tracker_release(NULL);
}

/* ---------------------------------------------------------------------------------------------
 * A random sequence of operations against a model of docs/compat.md's rules
 * ------------------------------------------------------------------------------------------- */

static void test_random_sequence_against_model(void** state) {
    (void)state;
    uint64_t rng = g_seed0 * 7 + 1;
    for (int round = 0; round < 20; ++round) {
        const uint64_t limit = (round % 4 == 0) ? 0 : 1 + aph_test_rand(&rng) % 100000;
        aph_tracker* t = make_tracker(limit);
        uint64_t cur = 0, peak = 0;
        for (int step = 0; step < 2000; ++step) {
            const unsigned op = (unsigned)(aph_test_rand(&rng) % 10);
            const uint64_t range = limit ? limit / 3 + 2 : 50000;
            const uint64_t n = aph_test_rand(&rng) % range;
            if (op < 5) {
                const int fits = limit == 0 || cur + n <= limit;
                assert_int_equal(aph_tracker_would_fit(t, n), fits);
                const aph_status st = aph_tracker_allocate(t, n);
                if (fits) {
                    if (st != APH_OK) print_error("seed %llu\n", (unsigned long long)g_seed0);
                    assert_int_equal(st, APH_OK);
                    cur += n;
                    if (cur > peak) peak = cur;
                } else {
                    char msg[256];
                    oom_message(msg, sizeof msg, n, limit, cur);
                    assert_int_equal(st, APH_ERR_OUT_OF_MEMORY);
                    assert_string_equal(aph_last_error(), msg);
                }
            } else if (op < 9) {
                /* Mostly valid amounts, sometimes one more than is allocated. */
                const uint64_t m = (aph_test_rand(&rng) % 8 == 0) ? cur + 1 + n : (cur ? n % (cur + 1) : 0);
                const aph_status st = aph_tracker_deallocate(t, m);
                if (m <= cur) {
                    assert_int_equal(st, APH_OK);
                    cur -= m;
                } else {
                    assert_int_equal(st, APH_ERR_INVALID_ARGUMENT);
                }
            } else if (aph_test_rand(&rng) % 20 == 0) {
                aph_tracker_reset(t);
                cur = peak = 0;
            }
            if (aph_tracker_allocated_bytes(t) != cur || aph_tracker_peak_bytes(t) != peak) {
                print_error("seed %llu round %d step %d\n", (unsigned long long)g_seed0, round, step);
            }
            assert_state(t, cur, peak);
            assert_int_equal(aph_tracker_limit_bytes(t), limit);
        }
        aph_tracker_release(t);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Concurrency
 * ------------------------------------------------------------------------------------------- */

#define N_WORKERS 8
#define ITERATIONS 20000
#define HELD_MAX 16 /* allocations a worker holds at once */
#define CONC_LIMIT (1u << 20)

typedef struct {
    aph_tracker* t;
    pthread_barrier_t* start;
    uint64_t seed;
    atomic_int* violations;   /* allocated_bytes seen above the limit */
    atomic_int* bad_statuses; /* a status or message that should not happen */
    uint64_t successes, failures;
} worker_arg;

static void* random_worker(void* p) {
    worker_arg* a = (worker_arg*)p;
    uint64_t held[HELD_MAX];
    int n_held = 0;
    uint64_t rng = a->seed ? a->seed : 1;
    pthread_barrier_wait(a->start);
    for (int i = 0; i < ITERATIONS; ++i) {
        const int do_alloc = n_held == 0 || (n_held < HELD_MAX && aph_test_rand(&rng) % 2 == 0);
        if (do_alloc) {
            /* 1 .. limit/8: one worker alone fills the limit with 16 of these now and then. */
            const uint64_t size = 1 + aph_test_rand(&rng) % (CONC_LIMIT / 8);
            const aph_status st = aph_tracker_allocate(a->t, size);
            if (st == APH_OK) {
                held[n_held++] = size;
                ++a->successes;
                if (aph_tracker_allocated_bytes(a->t) > CONC_LIMIT) atomic_fetch_add(a->violations, 1);
            } else {
                ++a->failures;
                static const char prefix[] = "out of memory: allocation of ";
                if (st != APH_ERR_OUT_OF_MEMORY || strncmp(aph_last_error(), prefix, sizeof prefix - 1) != 0) {
                    atomic_fetch_add(a->bad_statuses, 1);
                }
                /* Make room: give back one allocation. */
                if (n_held > 0) {
                    if (aph_tracker_deallocate(a->t, held[--n_held]) != APH_OK) {
                        atomic_fetch_add(a->bad_statuses, 1);
                    }
                }
            }
        } else {
            const int k = (int)(aph_test_rand(&rng) % (uint64_t)n_held);
            if (aph_tracker_deallocate(a->t, held[k]) != APH_OK) atomic_fetch_add(a->bad_statuses, 1);
            held[k] = held[--n_held];
        }
    }
    while (n_held > 0) {
        if (aph_tracker_deallocate(a->t, held[--n_held]) != APH_OK) atomic_fetch_add(a->bad_statuses, 1);
    }
    return NULL;
}

typedef struct {
    aph_tracker* t;
    uint64_t limit;
    atomic_int* stop;
    atomic_int* violations;
    uint64_t samples, max_seen;
} watcher_arg;

static void* watcher(void* p) {
    watcher_arg* w = (watcher_arg*)p;
    while (!atomic_load(w->stop)) {
        const uint64_t now = aph_tracker_allocated_bytes(w->t);
        const uint64_t peak = aph_tracker_peak_bytes(w->t);
        if (now > w->limit || peak > w->limit) atomic_fetch_add(w->violations, 1);
        if (now > w->max_seen) w->max_seen = now;
        ++w->samples;
    }
    return NULL;
}

static void test_concurrent_limit_never_exceeded(void** state) {
    (void)state;
    aph_tracker* t = make_tracker(CONC_LIMIT);
    pthread_t th[N_WORKERS], wt;
    worker_arg args[N_WORKERS];
    pthread_barrier_t start;
    atomic_int violations = 0, bad = 0, stop = 0;
    pthread_barrier_init(&start, NULL, N_WORKERS);

    watcher_arg w = {t, CONC_LIMIT, &stop, &violations, 0, 0};
    assert_int_equal(pthread_create(&wt, NULL, watcher, &w), 0);
    for (int i = 0; i < N_WORKERS; ++i) {
        args[i] = (worker_arg){t, &start, g_seed0 + 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1), &violations, &bad, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, random_worker, &args[i]), 0);
    }
    for (int i = 0; i < N_WORKERS; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
    atomic_store(&stop, 1);
    assert_int_equal(pthread_join(wt, NULL), 0);
    pthread_barrier_destroy(&start);

    uint64_t successes = 0, failures = 0;
    for (int i = 0; i < N_WORKERS; ++i) {
        successes += args[i].successes;
        failures += args[i].failures;
    }
    print_message("seed %llu: %llu allocations, %llu refused, watcher %llu samples, peak %llu\n",
                  (unsigned long long)g_seed0, (unsigned long long)successes, (unsigned long long)failures,
                  (unsigned long long)w.samples, (unsigned long long)aph_tracker_peak_bytes(t));
    assert_int_equal(atomic_load(&bad), 0);
    assert_int_equal(atomic_load(&violations), 0);
    assert_true(w.max_seen <= CONC_LIMIT);
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);
    assert_true(aph_tracker_peak_bytes(t) <= CONC_LIMIT);
    assert_true(aph_tracker_peak_bytes(t) > 0);
    assert_true(successes > 0);
    assert_true(failures > 0); /* the limit was actually reached */
    aph_tracker_release(t);
}

#define FIXED_LIMIT 1000003u /* prime, so the size never divides it */
#define FIXED_SIZE 97u

typedef struct {
    aph_tracker* t;
    pthread_barrier_t* start;
    uint64_t successes;
    aph_status last;
    char message[256];
} fixed_arg;

static void* fixed_worker(void* p) {
    fixed_arg* a = (fixed_arg*)p;
    pthread_barrier_wait(a->start);
    for (;;) {
        const aph_status st = aph_tracker_allocate(a->t, FIXED_SIZE);
        if (st != APH_OK) {
            a->last = st;
            snprintf(a->message, sizeof a->message, "%s", aph_last_error());
            break;
        }
        ++a->successes;
    }
    return NULL;
}

static void test_concurrent_fixed_size_until_full(void** state) {
    (void)state;
    for (int round = 0; round < 5; ++round) {
        aph_tracker* t = make_tracker(FIXED_LIMIT);
        pthread_t th[N_WORKERS];
        fixed_arg args[N_WORKERS];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, N_WORKERS);
        for (int i = 0; i < N_WORKERS; ++i) {
            memset(&args[i], 0, sizeof args[i]);
            args[i].t = t;
            args[i].start = &start;
            assert_int_equal(pthread_create(&th[i], NULL, fixed_worker, &args[i]), 0);
        }
        for (int i = 0; i < N_WORKERS; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
        pthread_barrier_destroy(&start);

        uint64_t successes = 0;
        for (int i = 0; i < N_WORKERS; ++i) {
            successes += args[i].successes;
            assert_int_equal(args[i].last, APH_ERR_OUT_OF_MEMORY);
            static const char prefix[] = "out of memory: allocation of 97 bytes would exceed limit of 1000003 bytes "
                                         "(current: ";
            if (strncmp(args[i].message, prefix, sizeof prefix - 1) != 0) {
                print_error("worker %d: '%s'\n", i, args[i].message);
                fail();
            }
            /* The total it was refused at: a multiple of the size with no room for one more. */
            unsigned long long current = 0;
            assert_int_equal(sscanf(args[i].message + sizeof prefix - 1, "%llu", &current), 1);
            assert_true(current <= FIXED_LIMIT);
            assert_true(current + FIXED_SIZE > FIXED_LIMIT);
            assert_int_equal(current % FIXED_SIZE, 0);
        }
        const uint64_t total = aph_tracker_allocated_bytes(t);
        assert_int_equal(total, successes * FIXED_SIZE);
        assert_true(total <= FIXED_LIMIT);
        /* Every worker stopped on a refusal, so not even one more fits: the limit is full. */
        assert_int_equal(total, (FIXED_LIMIT / FIXED_SIZE) * FIXED_SIZE);
        assert_int_equal(aph_tracker_peak_bytes(t), total);
        aph_tracker_release(t);
    }
}

int main(void) {
    g_seed0 = fresh_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_release_retain),
        cmocka_unit_test(test_retain_release_concurrent),
        cmocka_unit_test(test_unlimited),
        cmocka_unit_test(test_limit_equality_allowed),
        cmocka_unit_test(test_allocate_failure_changes_nothing),
        cmocka_unit_test(test_limit_uint64_max),
        cmocka_unit_test(test_peak_and_reset),
        cmocka_unit_test(test_deallocate),
        cmocka_unit_test(test_would_fit),
        cmocka_unit_test(test_unlimited_overflow),
        cmocka_unit_test(test_overhead_factor),
        cmocka_unit_test(test_estimate_with_overhead),
        cmocka_unit_test(test_estimate_with_overhead_random),
        cmocka_unit_test(test_null_tracker),
        cmocka_unit_test(test_random_sequence_against_model),
        cmocka_unit_test(test_concurrent_limit_never_exceeded),
        cmocka_unit_test(test_concurrent_fixed_size_until_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
