/* test_device_memory.c — section 11 of aphelion.h through the public API, on the CPU device:
 * the caching allocator's statistics (struct_size handling, rounding to 512 bytes, small and
 * large pools and their segment sizes, cache hits, 64-byte alignment, peaks and their reset,
 * empty_cache, the counters), the error paths of allocate/free (nothing changes), the retry
 * after emptying the cache when the system refuses a segment, budgets (trackers charged with
 * the block size, the tracker's exact out-of-memory message, nothing moves on refusal, every
 * block gives back to the tracker it was charged to), the leak report at a device's final
 * release, and concurrent allocation under a budget.
 *
 * The allocator lives for the whole process, so every test starts from "nothing live": it
 * empties the cache and checks that no block is handed out and no segment held (each test
 * frees what it allocated). Each test opens and releases its own device handle, so between
 * tests no handle to the CPU device is open (the leak report depends on that). */
#define _DEFAULT_SOURCE /* pthread_barrier_t, clock_gettime */
#include "test_util.h"

#include <ctype.h>
#include <stdatomic.h>
#include <time.h>

#define KiB ((uint64_t)1024)
#define MiB ((uint64_t)1024 * 1024)

#define NULL_DEVICE "invalid argument: device must not be NULL"
#define NULL_OUT "invalid argument: out must not be NULL"

static uint64_t g_seed0;

/* Sanitizer builds: let the sanitizer's allocator return NULL for the 1 PiB request of
 * test_system_refusal_empties_cache_and_retries instead of aborting the process. */
#if defined(__SANITIZE_ADDRESS__)
const char* __asan_default_options(void);
const char* __asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif
#if defined(__SANITIZE_THREAD__)
const char* __tsan_default_options(void);
const char* __tsan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

static uint64_t fresh_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    return s ? s : 1;
}

static aph_device* open_cpu(void) {
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    assert_non_null(d);
    return d;
}

static aph_memory_stats stats_of(aph_device* d) {
    aph_memory_stats s;
    memset(&s, 0xCD, sizeof s);
    s.struct_size = sizeof s;
    APH_ASSERT_OK(aph_device_memory_stats(d, &s));
    assert_int_equal(s.struct_size, sizeof s);
    return s;
}

/* Empties the cache and checks that nothing is live and nothing is cached: the starting point
 * of every test. Returns the statistics at that point. */
static aph_memory_stats fresh(aph_device* d) {
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_memory_stats s = stats_of(d);
    assert_int_equal(s.active_allocations, 0);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.requested_bytes, 0);
    assert_int_equal(s.active_bytes, 0);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.segments, 0);
    return s;
}

static void* alloc(aph_device* d, size_t bytes) {
    void* p = NULL;
    APH_ASSERT_OK(aph_device_allocate(d, bytes, NULL, &p));
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    return p;
}

static void assert_stats_equal(const aph_memory_stats* a, const aph_memory_stats* b) {
    assert_int_equal(a->allocated_bytes, b->allocated_bytes);
    assert_int_equal(a->allocated_bytes_peak, b->allocated_bytes_peak);
    assert_int_equal(a->reserved_bytes, b->reserved_bytes);
    assert_int_equal(a->reserved_bytes_peak, b->reserved_bytes_peak);
    assert_int_equal(a->active_bytes, b->active_bytes);
    assert_int_equal(a->active_bytes_peak, b->active_bytes_peak);
    assert_int_equal(a->requested_bytes, b->requested_bytes);
    assert_int_equal(a->requested_bytes_peak, b->requested_bytes_peak);
    assert_int_equal(a->allocations, b->allocations);
    assert_int_equal(a->frees, b->frees);
    assert_int_equal(a->segment_allocations, b->segment_allocations);
    assert_int_equal(a->segment_frees, b->segment_frees);
    assert_int_equal(a->cache_misses, b->cache_misses);
    assert_int_equal(a->alloc_retries, b->alloc_retries);
    assert_int_equal(a->out_of_memory_events, b->out_of_memory_events);
    assert_int_equal(a->leaked_allocations, b->leaked_allocations);
    assert_int_equal(a->active_allocations, b->active_allocations);
    assert_int_equal(a->segments, b->segments);
    /* and nothing else in the struct: compare the raw bytes after struct_size too */
    assert_memory_equal((const char*)a + sizeof(size_t), (const char*)b + sizeof(size_t), sizeof *a - sizeof(size_t));
}

static void oom_message(char* buf, size_t size, uint64_t n, uint64_t limit, uint64_t current) {
    snprintf(buf, size,
             "out of memory: allocation of %llu bytes would exceed limit of %llu bytes "
             "(current: %llu bytes)",
             (unsigned long long)n, (unsigned long long)limit, (unsigned long long)current);
}

/* ---------------------------------------------------------------------------------------------
 * Statistics: struct_size
 * ------------------------------------------------------------------------------------------- */

static void test_stats_struct_size(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    void* p = alloc(d, 1);

    /* Too small to hold anything: rejected, nothing written. */
    const size_t too_small[] = {0, 1, 4};
    for (size_t i = 0; i < sizeof too_small / sizeof too_small[0]; ++i) {
        aph_memory_stats s;
        memset(&s, 0xAB, sizeof s);
        s.struct_size = too_small[i];
        APH_ASSERT_ERR_CONTAINS(aph_device_memory_stats(d, &s), APH_ERR_INVALID_ARGUMENT, "struct_size");
        assert_int_equal(s.struct_size, too_small[i]);
        for (size_t b = sizeof(size_t); b < sizeof s; ++b) {
            assert_int_equal(((unsigned char*)&s)[b], 0xAB);
        }
    }

    /* An older caller's struct: only the leading fields that fit are written. */
    const size_t cuts[] = {
        offsetof(aph_memory_stats, allocated_bytes) + sizeof(uint64_t),
        offsetof(aph_memory_stats, reserved_bytes),
        offsetof(aph_memory_stats, requested_bytes),
        offsetof(aph_memory_stats, leaked_allocations),
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; ++i) {
        aph_memory_stats s;
        memset(&s, 0xAB, sizeof s);
        s.struct_size = cuts[i];
        APH_ASSERT_OK(aph_device_memory_stats(d, &s));
        assert_int_equal(s.struct_size, cuts[i]);
        assert_int_equal(s.allocated_bytes, 512); /* the first field always fits here */
        for (size_t b = cuts[i]; b < sizeof s; ++b) {
            if (((unsigned char*)&s)[b] != 0xAB) {
                print_error("struct_size %zu: byte %zu past it was written\n", cuts[i], b);
                fail();
            }
        }
        if (cuts[i] > offsetof(aph_memory_stats, allocated_bytes_peak)) {
            assert_true(s.allocated_bytes_peak >= 512);
        }
        if (cuts[i] >= offsetof(aph_memory_stats, active_bytes) + sizeof(uint64_t)) {
            assert_int_equal(s.reserved_bytes, 2 * MiB);
            assert_int_equal(s.active_bytes, 512);
        }
    }

    /* A newer caller's bigger struct: the known fields are filled, the rest is untouched. */
    struct {
        aph_memory_stats s;
        uint64_t extra[4];
    } big;
    memset(&big, 0xAB, sizeof big);
    big.s.struct_size = sizeof big;
    APH_ASSERT_OK(aph_device_memory_stats(d, &big.s));
    aph_memory_stats full = stats_of(d);
    full.struct_size = sizeof big;
    assert_stats_equal(&big.s, &full);
    for (size_t b = 0; b < sizeof big.extra; ++b) {
        assert_int_equal(((unsigned char*)big.extra)[b], 0xAB);
    }

    /* NULL arguments. */
    aph_memory_stats s;
    s.struct_size = sizeof s;
    APH_ASSERT_ERR(aph_device_memory_stats(NULL, &s), APH_ERR_INVALID_ARGUMENT, NULL_DEVICE);
    APH_ASSERT_ERR(aph_device_memory_stats(d, NULL), APH_ERR_INVALID_ARGUMENT, NULL_OUT);

    APH_ASSERT_OK(aph_device_free(d, p));
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Rounding, pools, segments
 * ------------------------------------------------------------------------------------------- */

static void test_rounding_small_pool(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const aph_memory_stats s0 = fresh(d);

    /* 1 byte: a 512-byte block carved from a new 2 MiB segment. */
    void* a = alloc(d, 1);
    aph_memory_stats s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 512);
    assert_int_equal(s.requested_bytes, 1);
    assert_int_equal(s.active_bytes, 512);
    assert_int_equal(s.reserved_bytes, 2 * MiB);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.active_allocations, 1);
    assert_int_equal(s.allocations - s0.allocations, 1);
    assert_int_equal(s.segment_allocations - s0.segment_allocations, 1);
    assert_int_equal(s.cache_misses - s0.cache_misses, 1);

    /* 1000 bytes: 1024, from the same segment (no new segment, no miss). */
    void* b = alloc(d, 1000);
    assert_ptr_not_equal(a, b);
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 512 + 1024);
    assert_int_equal(s.requested_bytes, 1 + 1000);
    assert_int_equal(s.reserved_bytes, 2 * MiB);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.cache_misses - s0.cache_misses, 1);
    assert_int_equal(s.segment_allocations - s0.segment_allocations, 1);

    /* Exactly 512: no rounding. */
    void* c = alloc(d, 512);
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 512 + 1024 + 512);
    assert_int_equal(s.requested_bytes, 1 + 1000 + 512);

    /* 1 MiB is still the small pool: fits in the rest of the 2 MiB segment. */
    void* e = alloc(d, (size_t)MiB);
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 2048 + MiB);
    assert_int_equal(s.reserved_bytes, 2 * MiB);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.cache_misses - s0.cache_misses, 1);

    /* Another 1 MiB does not fit in what is left (1 MiB - 2048): a second 2 MiB segment. */
    void* f = alloc(d, (size_t)MiB);
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 2048 + 2 * MiB);
    assert_int_equal(s.requested_bytes, 1 + 1000 + 512 + 2 * MiB);
    assert_int_equal(s.reserved_bytes, 4 * MiB);
    assert_int_equal(s.segments, 2);
    assert_int_equal(s.cache_misses - s0.cache_misses, 2);
    assert_int_equal(s.segment_allocations - s0.segment_allocations, 2);
    assert_int_equal(s.active_allocations, 5);
    assert_int_equal(s.allocations - s0.allocations, 5);

    void* all[] = {a, b, c, e, f};
    for (int i = 0; i < 5; ++i) APH_ASSERT_OK(aph_device_free(d, all[i]));
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.requested_bytes, 0);
    assert_int_equal(s.active_bytes, 0);
    assert_int_equal(s.active_allocations, 0);
    assert_int_equal(s.frees - s0.frees, 5);
    assert_int_equal(s.reserved_bytes, 4 * MiB); /* cached, not returned */
    assert_int_equal(s.segments, 2);
    assert_int_equal(s.segment_frees, s0.segment_frees);

    APH_ASSERT_OK(aph_device_empty_cache(d));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.segments, 0);
    assert_int_equal(s.segment_frees - s0.segment_frees, 2);
    aph_device_release(d);
}

static void test_rounding_large_pool(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const aph_memory_stats s0 = fresh(d);

    /* 12 MiB: 10 MiB or more gets its own segment of its size rounded to 2 MiB: 12 MiB. */
    void* c = alloc(d, (size_t)(12 * MiB));
    aph_memory_stats s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 12 * MiB);
    assert_int_equal(s.allocated_bytes, 12 * MiB);
    assert_int_equal(s.requested_bytes, 12 * MiB);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.cache_misses - s0.cache_misses, 1);

    /* 11 MiB + 1: rounded up to a 12 MiB segment. Less than 1 MiB would remain, so the block
     * may be the whole segment: allocated grows by between the rounded request and 12 MiB. */
    void* e = alloc(d, (size_t)(11 * MiB) + 1);
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 24 * MiB);
    assert_int_equal(s.segments, 2);
    assert_int_equal(s.requested_bytes, 12 * MiB + 11 * MiB + 1);
    assert_true(s.allocated_bytes - 12 * MiB >= 11 * MiB + 512);
    assert_true(s.allocated_bytes - 12 * MiB <= 12 * MiB);
    const uint64_t allocated_e = s.allocated_bytes - 12 * MiB;

    /* Exactly 10 MiB is not "under 10 MiB": its own 10 MiB segment. */
    void* f = alloc(d, (size_t)(10 * MiB));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 34 * MiB);
    assert_int_equal(s.allocated_bytes, 22 * MiB + allocated_e);
    assert_int_equal(s.segments, 3);
    assert_int_equal(s.cache_misses - s0.cache_misses, 3);

    /* 3 MiB: under 10 MiB, a 20 MiB segment, split (more than 1 MiB remains). */
    void* a = alloc(d, (size_t)(3 * MiB));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 54 * MiB);
    assert_int_equal(s.allocated_bytes, 25 * MiB + allocated_e);
    assert_int_equal(s.segments, 4);
    assert_int_equal(s.cache_misses - s0.cache_misses, 4);

    /* 1 MiB + 1: large pool (over 1 MiB), rounded to 512, carved from the 20 MiB segment. */
    void* b = alloc(d, (size_t)MiB + 1);
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 54 * MiB);
    assert_int_equal(s.allocated_bytes, 26 * MiB + 512 + allocated_e);
    assert_int_equal(s.requested_bytes, 12 * MiB + 11 * MiB + 1 + 10 * MiB + 3 * MiB + MiB + 1);
    assert_int_equal(s.segments, 4);
    assert_int_equal(s.cache_misses - s0.cache_misses, 4);

    /* 9 MiB: carved from what the 20 MiB segment has left (16 MiB - 512). */
    void* g = alloc(d, (size_t)(9 * MiB));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 54 * MiB);
    assert_int_equal(s.allocated_bytes, 35 * MiB + 512 + allocated_e);
    assert_int_equal(s.segments, 4);
    assert_int_equal(s.cache_misses - s0.cache_misses, 4);
    assert_int_equal(s.segment_allocations - s0.segment_allocations, 4);
    assert_int_equal(s.active_allocations, 6);

    /* The memory is usable end to end. */
    memset(a, 1, 3 * MiB);
    memset(b, 2, MiB + 1);
    memset(c, 3, 12 * MiB);
    memset(e, 4, 11 * MiB + 1);
    memset(f, 5, 10 * MiB);
    memset(g, 6, 9 * MiB);
    assert_int_equal(((unsigned char*)a)[3 * MiB - 1], 1);
    assert_int_equal(((unsigned char*)b)[0], 2);

    void* all[] = {a, b, c, e, f, g};
    for (int i = 0; i < 6; ++i) APH_ASSERT_OK(aph_device_free(d, all[i]));
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.requested_bytes, 0);
    assert_int_equal(s.reserved_bytes, 54 * MiB);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.segments, 0);
    assert_int_equal(s.segment_frees - s0.segment_frees, 4);
    aph_device_release(d);
}

static void test_cache_hit_same_pointer(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    const size_t sizes[] = {1, 1000, 4096, (size_t)MiB, (size_t)(3 * MiB), (size_t)(12 * MiB)};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
        void* p = alloc(d, sizes[i]);
        APH_ASSERT_OK(aph_device_free(d, p));
        const aph_memory_stats before = stats_of(d);
        void* q = alloc(d, sizes[i]);
        const aph_memory_stats after = stats_of(d);
        if (p != q) {
            print_error("size %zu: freed %p, got %p\n", sizes[i], p, q);
            fail();
        }
        assert_int_equal(after.cache_misses, before.cache_misses);
        assert_int_equal(after.segment_allocations, before.segment_allocations);
        assert_int_equal(after.reserved_bytes, before.reserved_bytes);
        assert_int_equal(after.allocations, before.allocations + 1);
        assert_int_equal(after.requested_bytes, before.requested_bytes + sizes[i]);
        APH_ASSERT_OK(aph_device_free(d, q));
    }
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_device_release(d);
}

static void test_alignment_and_no_overlap(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    uint64_t rng = g_seed0 ^ 0x1234;
    enum { N = 200 };
    void* p[N];
    size_t size[N];
    for (int i = 0; i < N; ++i) {
        size[i] = (i % 40 == 39) ? (size_t)(1 + aph_test_rand(&rng) % (12 * MiB))
                                 : (size_t)(1 + aph_test_rand(&rng) % (64 * KiB));
        p[i] = alloc(d, size[i]); /* asserts 64-byte alignment */
        memset(p[i], i & 0xFF, size[i]);
    }
    /* Every block still holds its own pattern: no two overlap. */
    for (int i = 0; i < N; ++i) {
        const unsigned char* c = (const unsigned char*)p[i];
        for (size_t k = 0; k < size[i]; k += (size[i] > 4096 ? 509 : 1)) {
            if (c[k] != (unsigned char)(i & 0xFF)) {
                print_error("block %d (%zu bytes) overwritten at %zu (seed %llu)\n", i, size[i], k,
                            (unsigned long long)g_seed0);
                fail();
            }
        }
        assert_int_equal(c[size[i] - 1], (unsigned char)(i & 0xFF));
    }
    aph_memory_stats s = stats_of(d);
    assert_int_equal(s.active_allocations, N);
    uint64_t requested = 0, rounded = 0;
    for (int i = 0; i < N; ++i) {
        requested += size[i];
        rounded += (size[i] + 511) / 512 * 512;
    }
    assert_int_equal(s.requested_bytes, requested);
    assert_true(s.allocated_bytes >= rounded);
    assert_true(s.reserved_bytes >= s.allocated_bytes);
    for (int i = 0; i < N; ++i) APH_ASSERT_OK(aph_device_free(d, p[i]));
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.active_allocations, 0);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Peaks, empty_cache, counters
 * ------------------------------------------------------------------------------------------- */

static void test_peaks_and_reset(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    APH_ASSERT_OK(aph_device_reset_peak_stats(d));
    aph_memory_stats s = stats_of(d);
    assert_int_equal(s.allocated_bytes_peak, 0);
    assert_int_equal(s.reserved_bytes_peak, 0);
    assert_int_equal(s.active_bytes_peak, 0);
    assert_int_equal(s.requested_bytes_peak, 0);

    void* big = alloc(d, (size_t)(3 * MiB));
    void* small = alloc(d, 1000);
    APH_ASSERT_OK(aph_device_free(d, big));
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 1024);
    assert_int_equal(s.allocated_bytes_peak, 3 * MiB + 1024);
    assert_int_equal(s.requested_bytes_peak, 3 * MiB + 1000);
    assert_int_equal(s.active_bytes_peak, 3 * MiB + 1024);
    assert_int_equal(s.reserved_bytes, 22 * MiB);
    assert_int_equal(s.reserved_bytes_peak, 22 * MiB);

    /* Reset: every peak becomes its current value. */
    APH_ASSERT_OK(aph_device_reset_peak_stats(d));
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes_peak, 1024);
    assert_int_equal(s.requested_bytes_peak, 1000);
    assert_int_equal(s.active_bytes_peak, 1024);
    assert_int_equal(s.reserved_bytes_peak, 22 * MiB);

    /* Freeing and emptying lower the current values, never the peaks. */
    APH_ASSERT_OK(aph_device_free(d, small));
    APH_ASSERT_OK(aph_device_empty_cache(d));
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.allocated_bytes_peak, 1024);
    assert_int_equal(s.reserved_bytes_peak, 22 * MiB);

    /* A new high raises the peak again. */
    void* again = alloc(d, 5000);
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes_peak, 5120);
    assert_int_equal(s.requested_bytes_peak, 5000);
    APH_ASSERT_OK(aph_device_free(d, again));

    APH_ASSERT_OK(aph_device_empty_cache(d));
    APH_ASSERT_OK(aph_device_reset_peak_stats(d));
    s = stats_of(d);
    assert_int_equal(s.allocated_bytes_peak, 0);
    assert_int_equal(s.reserved_bytes_peak, 0);
    assert_int_equal(s.active_bytes_peak, 0);
    assert_int_equal(s.requested_bytes_peak, 0);

    APH_ASSERT_ERR(aph_device_reset_peak_stats(NULL), APH_ERR_INVALID_ARGUMENT, NULL_DEVICE);
    aph_device_release(d);
}

static void test_empty_cache(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const aph_memory_stats s0 = fresh(d);

    /* Nothing cached: nothing to do. */
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_memory_stats s = stats_of(d);
    assert_int_equal(s.segment_frees, s0.segment_frees);

    /* A segment with a live block stays; a completely free one goes. */
    void* small = alloc(d, 100);
    void* large = alloc(d, (size_t)(2 * MiB));
    APH_ASSERT_OK(aph_device_free(d, small));
    APH_ASSERT_OK(aph_device_empty_cache(d));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 20 * MiB);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.segment_frees - s0.segment_frees, 1);
    assert_int_equal(s.allocated_bytes, 2 * MiB);
    memset(large, 7, 2 * MiB); /* still ours */
    APH_ASSERT_OK(aph_device_free(d, large));
    APH_ASSERT_OK(aph_device_empty_cache(d));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.segments, 0);
    assert_int_equal(s.segment_frees - s0.segment_frees, 2);

    /* Freed neighbours coalesce: three blocks freed middle-first make the segment whole again,
     * its head is handed out for a request of their combined size, and empty_cache returns it. */
    void* x = alloc(d, 512);
    void* y = alloc(d, 512);
    void* z = alloc(d, 512);
    APH_ASSERT_OK(aph_device_free(d, y));
    APH_ASSERT_OK(aph_device_free(d, x));
    APH_ASSERT_OK(aph_device_free(d, z));
    s = stats_of(d);
    assert_int_equal(s.segments, 1);
    void* xyz = alloc(d, 1536);
    assert_ptr_equal(xyz, x);
    s = stats_of(d);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.reserved_bytes, 2 * MiB);
    APH_ASSERT_OK(aph_device_free(d, xyz));
    APH_ASSERT_OK(aph_device_empty_cache(d));
    s = stats_of(d);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.segments, 0);

    APH_ASSERT_ERR(aph_device_empty_cache(NULL), APH_ERR_INVALID_ARGUMENT, NULL_DEVICE);
    aph_device_release(d);
}

static void test_counters(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const aph_memory_stats s0 = fresh(d);
    enum { N = 10 };
    void* p[N];
    for (int i = 0; i < N; ++i) p[i] = alloc(d, 100 * (size_t)(i + 1));
    aph_memory_stats s = stats_of(d);
    assert_int_equal(s.allocations - s0.allocations, N);
    assert_int_equal(s.active_allocations, N);
    assert_int_equal(s.segment_allocations - s0.segment_allocations, 1);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.frees, s0.frees);

    /* A zero-byte allocation takes nothing and is not counted. */
    void* z = (void*)&z;
    APH_ASSERT_OK(aph_device_allocate(d, 0, NULL, &z));
    assert_null(z);
    aph_memory_stats s2 = stats_of(d);
    assert_stats_equal(&s2, &s);

    for (int i = 0; i < N; ++i) APH_ASSERT_OK(aph_device_free(d, p[i]));
    s = stats_of(d);
    assert_int_equal(s.frees - s0.frees, N);
    assert_int_equal(s.active_allocations, 0);
    assert_int_equal(s.allocations - s0.allocations, N);
    assert_int_equal(s.segment_frees, s0.segment_frees);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    s = stats_of(d);
    assert_int_equal(s.segment_frees - s0.segment_frees, 1);
    assert_int_equal(s.segments, 0);
    /* None of this was a failure. */
    assert_int_equal(s.alloc_retries, s0.alloc_retries);
    assert_int_equal(s.out_of_memory_events, s0.out_of_memory_events);
    assert_int_equal(s.leaked_allocations, s0.leaked_allocations);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Error paths
 * ------------------------------------------------------------------------------------------- */

static void test_free_errors_change_nothing(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    void* live = alloc(d, 4096);
    void* gone = alloc(d, 2048);
    APH_ASSERT_OK(aph_device_free(d, gone));
    /* A tensor's memory belongs to the tensor: it cannot be freed (or given stream uses)
     * through its pointer. */
    {
        const int64_t shape[1] = {1000};
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, shape, 1, &t));
        const aph_memory_stats with_tensor = stats_of(d);
        APH_ASSERT_ERR_CONTAINS(aph_device_free(d, aph_test_data_mut(t)), APH_ERR_INVALID_ARGUMENT,
                                "was not allocated by cpu's allocator");
        APH_ASSERT_ERR_CONTAINS(aph_device_record_stream(d, aph_test_data_mut(t), NULL), APH_ERR_INVALID_ARGUMENT,
                                "invalid argument: ");
        const aph_memory_stats after_try = stats_of(d);
        assert_int_equal(after_try.frees, with_tensor.frees);
        assert_int_equal(after_try.allocated_bytes, with_tensor.allocated_bytes);
        aph_tensor_release(t);
    }
    const aph_memory_stats before = stats_of(d);

    /* A pointer the device never handed out. */
    void* foreign = malloc(4096);
    assert_non_null(foreign);
    APH_ASSERT_ERR_CONTAINS(aph_device_free(d, foreign), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    free(foreign);
    /* A pointer inside a live block. */
    APH_ASSERT_ERR_CONTAINS(aph_device_free(d, (char*)live + 64), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    /* A block already freed (double free). */
    APH_ASSERT_ERR_CONTAINS(aph_device_free(d, gone), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    aph_memory_stats after = stats_of(d);
    assert_stats_equal(&after, &before);

    /* NULL is a no-op; NULL device is an error. */
    APH_ASSERT_OK(aph_device_free(d, NULL));
    APH_ASSERT_ERR(aph_device_free(NULL, live), APH_ERR_INVALID_ARGUMENT, NULL_DEVICE);
    after = stats_of(d);
    assert_stats_equal(&after, &before);

    /* The live block is unaffected and frees normally, exactly once. */
    memset(live, 0x5A, 4096);
    APH_ASSERT_OK(aph_device_free(d, live));
    APH_ASSERT_ERR_CONTAINS(aph_device_free(d, live), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    after = stats_of(d);
    assert_int_equal(after.active_allocations, 0);
    assert_int_equal(after.frees, before.frees + 1);

    /* allocate's argument errors write nothing. */
    void* out = (void*)&out;
    APH_ASSERT_ERR(aph_device_allocate(NULL, 16, NULL, &out), APH_ERR_INVALID_ARGUMENT, NULL_DEVICE);
    assert_ptr_equal(out, (void*)&out);
    APH_ASSERT_ERR(aph_device_allocate(d, 16, NULL, NULL), APH_ERR_INVALID_ARGUMENT, NULL_OUT);
    aph_memory_stats last = stats_of(d);
    assert_int_equal(last.allocations, after.allocations);
    assert_int_equal(last.active_allocations, 0);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_device_release(d);
}

static int overcommit_always(void) {
    FILE* f = fopen("/proc/sys/vm/overcommit_memory", "r");
    if (!f) return 0;
    int v = 0;
    if (fscanf(f, "%d", &v) != 1) v = 0;
    fclose(f);
    return v == 1;
}

static void test_system_refusal_empties_cache_and_retries(void** state) {
    (void)state;
    if (overcommit_always()) skip(); /* the system would hand out 1 PiB of address space */
    aph_device* d = open_cpu();
    fresh(d);
    /* A completely free cached segment the retry can give back. */
    void* p = alloc(d, 1000);
    APH_ASSERT_OK(aph_device_free(d, p));
    const aph_memory_stats before = stats_of(d);
    assert_int_equal(before.reserved_bytes, 2 * MiB);

    void* out = (void*)&out;
    aph_capture cap; /* keeps the allocator's out-of-memory report off stderr */
    aph_capture_start(&cap);
    const aph_status st = aph_device_allocate(d, (size_t)1 << 50, NULL, &out);
    aph_capture_stop(&cap);
    APH_ASSERT_ERR_CONTAINS(st, APH_ERR_OUT_OF_MEMORY, "out of memory: ");
    assert_ptr_equal(out, (void*)&out);
    const aph_memory_stats after = stats_of(d);
    assert_int_equal(after.out_of_memory_events, before.out_of_memory_events + 1);
    assert_int_equal(after.alloc_retries, before.alloc_retries + 1);
    assert_int_equal(after.reserved_bytes, 0); /* the cache was emptied before the retry */
    assert_int_equal(after.segments, 0);
    assert_int_equal(after.segment_frees, before.segment_frees + 1);
    assert_int_equal(after.allocations, before.allocations);
    assert_int_equal(after.allocated_bytes, before.allocated_bytes);
    assert_int_equal(after.requested_bytes, before.requested_bytes);
    assert_int_equal(after.active_allocations, 0);

    /* The allocator still works. */
    void* q = alloc(d, 1000);
    APH_ASSERT_OK(aph_device_free(d, q));
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Budgets
 * ------------------------------------------------------------------------------------------- */

static aph_tracker* make_tracker(uint64_t limit) {
    aph_tracker* t = NULL;
    APH_ASSERT_OK(aph_tracker_create(limit, &t));
    assert_non_null(t);
    return t;
}

static void test_budget_charges_and_refuses(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    assert_null(aph_test_device_tracker(d));
    aph_tracker* t = make_tracker(4096);
    APH_ASSERT_OK(aph_device_set_tracker(d, t));
    assert_ptr_equal(aph_test_device_tracker(d), t);

    /* Each allocation is charged its rounded block size. */
    void* a = alloc(d, 1);
    assert_int_equal(aph_tracker_allocated_bytes(t), 512);
    void* b = alloc(d, 1000);
    assert_int_equal(aph_tracker_allocated_bytes(t), 1536);
    assert_int_equal(aph_tracker_peak_bytes(t), 1536);

    /* 3000 bytes is a 3072-byte block: 1536 + 3072 > 4096. Refused with the tracker's message;
     * nothing changes anywhere. */
    const aph_memory_stats before = stats_of(d);
    char msg[256];
    oom_message(msg, sizeof msg, 3072, 4096, 1536);
    void* out = (void*)&out;
    APH_ASSERT_ERR(aph_device_allocate(d, 3000, NULL, &out), APH_ERR_OUT_OF_MEMORY, msg);
    assert_ptr_equal(out, (void*)&out);
    aph_memory_stats after = stats_of(d);
    assert_stats_equal(&after, &before);
    assert_int_equal(aph_tracker_allocated_bytes(t), 1536);
    assert_int_equal(aph_tracker_peak_bytes(t), 1536);

    /* A large request over the budget: also nothing (no 20 MiB segment is taken). */
    oom_message(msg, sizeof msg, 3 * MiB, 4096, 1536);
    APH_ASSERT_ERR(aph_device_allocate(d, (size_t)(3 * MiB), NULL, &out), APH_ERR_OUT_OF_MEMORY, msg);
    after = stats_of(d);
    assert_stats_equal(&after, &before);

    /* Reaching the limit exactly is allowed: 1536 + 2560 = 4096. */
    void* c = alloc(d, 2049); /* rounds to 2560 */
    assert_int_equal(aph_tracker_allocated_bytes(t), 4096);
    assert_int_equal(aph_tracker_peak_bytes(t), 4096);
    oom_message(msg, sizeof msg, 512, 4096, 4096);
    APH_ASSERT_ERR(aph_device_allocate(d, 1, NULL, &out), APH_ERR_OUT_OF_MEMORY, msg);

    /* Frees give back. */
    APH_ASSERT_OK(aph_device_free(d, b));
    assert_int_equal(aph_tracker_allocated_bytes(t), 3072);
    APH_ASSERT_OK(aph_device_free(d, a));
    APH_ASSERT_OK(aph_device_free(d, c));
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);
    assert_int_equal(aph_tracker_peak_bytes(t), 4096);

    /* A refused free gives nothing back. */
    APH_ASSERT_ERR_CONTAINS(aph_device_free(d, a), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);

    /* A reference from aph_device_tracker outlives a detach by someone else (0.1 lent a
     * pointer that the detach could free). */
    aph_tracker* held = NULL;
    APH_ASSERT_OK(aph_device_tracker(d, &held));
    assert_ptr_equal(held, t);
    /* Detach: later allocations are not charged. */
    APH_ASSERT_OK(aph_device_set_tracker(d, NULL));
    assert_null(aph_test_device_tracker(d));
    void* e = alloc(d, (size_t)(64 * KiB)); /* over the old limit */
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);
    APH_ASSERT_OK(aph_device_free(d, e));
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);

    APH_ASSERT_ERR(aph_device_set_tracker(NULL, t), APH_ERR_INVALID_ARGUMENT, NULL_DEVICE);

    {
        aph_tracker* none = (aph_tracker*)0x1;
        APH_ASSERT_ERR(aph_device_tracker(NULL, &none), APH_ERR_INVALID_ARGUMENT, NULL_DEVICE);
        assert_ptr_equal(none, (aph_tracker*)0x1);
    }
    aph_tracker_release(t);
    assert_int_equal(aph_tracker_limit_bytes(held), 4096); /* alive through held */
    aph_tracker_release(held);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_device_release(d);
}

static void test_budget_blocks_remember_their_tracker(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    aph_tracker* ta = make_tracker(0);
    aph_tracker* tb = make_tracker(1 * MiB);

    APH_ASSERT_OK(aph_device_set_tracker(d, ta));
    void* pa = alloc(d, 10000); /* 10240 */
    assert_int_equal(aph_tracker_allocated_bytes(ta), 10240);

    APH_ASSERT_OK(aph_device_set_tracker(d, tb));
    assert_ptr_equal(aph_test_device_tracker(d), tb);
    void* pb = alloc(d, 700); /* 1024 */
    assert_int_equal(aph_tracker_allocated_bytes(ta), 10240);
    assert_int_equal(aph_tracker_allocated_bytes(tb), 1024);

    /* pa was charged to A: freeing it under B gives back to A, B untouched. */
    APH_ASSERT_OK(aph_device_free(d, pa));
    assert_int_equal(aph_tracker_allocated_bytes(ta), 0);
    assert_int_equal(aph_tracker_allocated_bytes(tb), 1024);

    /* Detached: pb still gives back to B. */
    APH_ASSERT_OK(aph_device_set_tracker(d, NULL));
    void* pn = alloc(d, 512);
    APH_ASSERT_OK(aph_device_free(d, pb));
    assert_int_equal(aph_tracker_allocated_bytes(tb), 0);
    assert_int_equal(aph_tracker_allocated_bytes(ta), 0);

    /* A block charged to nobody gives back to nobody, even with a tracker attached now. */
    APH_ASSERT_OK(aph_device_set_tracker(d, ta));
    APH_ASSERT_OK(aph_device_free(d, pn));
    assert_int_equal(aph_tracker_allocated_bytes(ta), 0);
    assert_int_equal(aph_tracker_peak_bytes(ta), 10240);
    assert_int_equal(aph_tracker_peak_bytes(tb), 1024);

    /* The device retains the tracker: our reference can go while it is attached and while a
     * block charged to it is live. */
    APH_ASSERT_OK(aph_device_set_tracker(d, tb));
    void* pk = alloc(d, 3000);
    aph_tracker_release(tb);
    assert_int_equal(aph_tracker_limit_bytes(aph_test_device_tracker(d)), 1 * MiB);
    assert_int_equal(aph_tracker_allocated_bytes(aph_test_device_tracker(d)), 3072);
    APH_ASSERT_OK(aph_device_set_tracker(d, ta)); /* B now lives only through pk's charge */
    APH_ASSERT_OK(aph_device_free(d, pk));
    assert_int_equal(aph_tracker_allocated_bytes(ta), 0);

    APH_ASSERT_OK(aph_device_set_tracker(d, NULL));
    aph_tracker_release(ta);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_device_release(d);
}

static void test_budget_tensors(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fresh(d);
    aph_tracker* t = make_tracker(4096);
    APH_ASSERT_OK(aph_device_set_tracker(d, t));

    /* Within budget: a 400-byte tensor is charged a 512-byte block, given back on release. */
    const int64_t small_shape[] = {100};
    aph_tensor* x = NULL;
    APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, small_shape, 1, &x));
    assert_int_equal(aph_tracker_allocated_bytes(t), 512);

    /* Over budget: create, zeros and from_host all fail with the tracker's error, and nothing
     * moves. */
    const int64_t big_shape[] = {2000}; /* 8000 bytes -> 8192 */
    const aph_memory_stats before = stats_of(d);
    char msg[256];
    oom_message(msg, sizeof msg, 8192, 4096, 512);
    aph_tensor* y = (aph_tensor*)&y;
    APH_ASSERT_ERR(aph_tensor_create(d, APH_DTYPE_F32, big_shape, 1, &y), APH_ERR_OUT_OF_MEMORY, msg);
    assert_ptr_equal(y, (aph_tensor*)&y);
    APH_ASSERT_ERR(aph_tensor_zeros(d, APH_DTYPE_F32, big_shape, 1, &y), APH_ERR_OUT_OF_MEMORY, msg);
    float* host = calloc(2000, sizeof(float));
    assert_non_null(host);
    APH_ASSERT_ERR(aph_tensor_from_host(d, APH_DTYPE_F32, big_shape, 1, host, 8000, &y), APH_ERR_OUT_OF_MEMORY, msg);
    free(host);
    assert_ptr_equal(y, (aph_tensor*)&y);
    aph_memory_stats after = stats_of(d);
    assert_stats_equal(&after, &before);
    assert_int_equal(aph_tracker_allocated_bytes(t), 512);
    assert_int_equal(aph_tracker_peak_bytes(t), 512);

    /* A view costs nothing; the memory goes back when the last view goes. */
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(x, 0, 10, 20, &v));
    assert_int_equal(aph_tracker_allocated_bytes(t), 512);
    aph_tensor_release(x);
    assert_int_equal(aph_tracker_allocated_bytes(t), 512);
    aph_tensor_release(v);
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);
    after = stats_of(d);
    assert_int_equal(after.allocated_bytes, 0);

    APH_ASSERT_OK(aph_device_set_tracker(d, NULL));
    aph_tracker_release(t);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Leak report
 * ------------------------------------------------------------------------------------------- */

/* Messages captured at warn level on target "aphelion::memory" containing part (case-insensitive
 * for hex addresses when lower_hex is set). */
static int memory_warnings(aph_capture* c, const char* part) {
    int n = 0;
    int total = c->count < APH_CAPTURE_MAX ? c->count : APH_CAPTURE_MAX;
    for (int i = 0; i < total; ++i) {
        if (c->levels[i] != APH_LOG_WARN || strcmp(c->targets[i], "aphelion::memory") != 0) continue;
        char lower[512];
        size_t k = 0;
        for (; c->messages[i][k] && k + 1 < sizeof lower; ++k) {
            lower[k] = (char)tolower((unsigned char)c->messages[i][k]);
        }
        lower[k] = '\0';
        if (part == NULL || strstr(lower, part) != NULL) ++n;
    }
    return n;
}

static void test_leak_report(void** state) {
    (void)state;
    const aph_log_level old_level = aph_log_get_level();
    APH_ASSERT_OK(aph_log_set_level(APH_LOG_WARN));

    aph_device* d = open_cpu();
    fresh(d);
    const aph_memory_stats s0 = stats_of(d);
    void* p1 = alloc(d, 4608);
    void* p2 = alloc(d, (size_t)(3 * MiB));
    memset(p1, 0x11, 4608);
    memset(p2, 0x22, 3 * MiB);

    /* The last handle goes while both are live: one warning each. */
    aph_capture cap;
    aph_capture_start(&cap);
    aph_device_release(d);
    aph_capture_stop(&cap);
    assert_int_equal(memory_warnings(&cap, NULL), 2);
    assert_int_equal(memory_warnings(&cap, "4608"), 1);
    assert_int_equal(memory_warnings(&cap, "3145728"), 1);
    char addr[32];
    snprintf(addr, sizeof addr, "%llx", (unsigned long long)(uintptr_t)p1);
    assert_int_equal(memory_warnings(&cap, addr), 1);
    snprintf(addr, sizeof addr, "%llx", (unsigned long long)(uintptr_t)p2);
    assert_int_equal(memory_warnings(&cap, addr), 1);

    /* The memory stays valid. */
    assert_int_equal(((unsigned char*)p1)[4607], 0x11);
    assert_int_equal(((unsigned char*)p2)[3 * MiB - 1], 0x22);

    /* A new handle sees them counted as leaked, still live, and can free them. */
    aph_device* d2 = open_cpu();
    aph_memory_stats s = stats_of(d2);
    assert_int_equal(s.leaked_allocations - s0.leaked_allocations, 2);
    assert_int_equal(s.active_allocations, 2);
    assert_int_equal(s.allocated_bytes, 4608 + 3 * MiB);
    APH_ASSERT_OK(aph_device_free(d2, p1));
    APH_ASSERT_OK(aph_device_free(d2, p2));
    s = stats_of(d2);
    assert_int_equal(s.active_allocations, 0);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.leaked_allocations - s0.leaked_allocations, 2); /* a count, not a gauge */

    /* Releasing with nothing live reports nothing. */
    aph_capture_start(&cap);
    aph_device_release(d2);
    aph_capture_stop(&cap);
    assert_int_equal(memory_warnings(&cap, NULL), 0);

    /* Tensors keep their device alive, so releasing the handle under a live tensor reports
     * nothing either, and neither does the tensor's release. */
    aph_device* d3 = open_cpu();
    const int64_t shape[] = {64};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_zeros(d3, APH_DTYPE_F32, shape, 1, &t));
    aph_capture_start(&cap);
    aph_device_release(d3);
    assert_int_equal(aph_device_get_kind(aph_tensor_device(t)), APH_DEVICE_CPU);
    aph_tensor_release(t);
    aph_capture_stop(&cap);
    assert_int_equal(memory_warnings(&cap, NULL), 0);

    aph_device* d4 = open_cpu();
    s = stats_of(d4);
    assert_int_equal(s.leaked_allocations - s0.leaked_allocations, 2);
    assert_int_equal(s.active_allocations, 0);
    APH_ASSERT_OK(aph_device_empty_cache(d4));
    aph_device_release(d4);
    APH_ASSERT_OK(aph_log_set_level(old_level));
}

/* ---------------------------------------------------------------------------------------------
 * Concurrency
 * ------------------------------------------------------------------------------------------- */

#define CONC_THREADS 8
#define CONC_ITERS 5000
#define CONC_LIVE 8
#define CONC_LIMIT (16 * MiB) /* below the threads' typical demand: refusals happen */

typedef struct {
    aph_device* d;
    pthread_barrier_t* start;
    uint64_t seed;
    int id;
    uint64_t successes;
    uint64_t refusals;
    int bad; /* a failure found on this thread (cmocka asserts only on the main thread) */
    char why[256];
} conc_arg;

/* Writes tag into the first 8 bytes of a block and into its last 8 (the tail only when the
 * two do not overlap), so that a block handed out twice at once shows up. */
static void stamp(void* p, size_t n, uint64_t tag) {
    unsigned char* c = (unsigned char*)p;
    const size_t k = n < 8 ? n : 8;
    for (size_t i = 0; i < k; ++i) c[i] = (unsigned char)(tag >> (8 * i));
    if (n >= 16) {
        for (size_t i = 0; i < 8; ++i) c[n - 1 - i] = (unsigned char)(tag >> (8 * i));
    }
}

static int stamped(const void* p, size_t n, uint64_t tag) {
    const unsigned char* c = (const unsigned char*)p;
    const size_t k = n < 8 ? n : 8;
    for (size_t i = 0; i < k; ++i) {
        if (c[i] != (unsigned char)(tag >> (8 * i))) return 0;
    }
    if (n >= 16) {
        for (size_t i = 0; i < 8; ++i) {
            if (c[n - 1 - i] != (unsigned char)(tag >> (8 * i))) return 0;
        }
    }
    return 1;
}

static void* conc_worker(void* vp) {
    conc_arg* a = (conc_arg*)vp;
    uint64_t rng = a->seed;
    void* live[CONC_LIVE];
    size_t size[CONC_LIVE];
    uint64_t tag[CONC_LIVE];
    int n = 0;
    pthread_barrier_wait(a->start);
    for (int it = 0; it < CONC_ITERS && !a->bad; ++it) {
        const uint64_t r = aph_test_rand(&rng);
        if (n < CONC_LIVE && (n == 0 || (r & 1))) {
            size_t bytes = (r >> 8) & 1 ? (size_t)(1 + (r >> 16) % (64 * KiB)) : (size_t)(1 + (r >> 16) % (4 * MiB));
            void* p = NULL;
            aph_status st = aph_device_allocate(a->d, bytes, NULL, &p);
            if (st == APH_OK) {
                if (p == NULL || (uintptr_t)p % 64 != 0) {
                    a->bad = 1;
                    snprintf(a->why, sizeof a->why, "bad pointer %p for %zu bytes", p, bytes);
                    break;
                }
                const uint64_t tg = ((uint64_t)a->id << 56) ^ (uint64_t)it ^ r;
                stamp(p, bytes, tg);
                live[n] = p;
                size[n] = bytes;
                tag[n] = tg;
                ++n;
                a->successes++;
            } else if (st == APH_ERR_OUT_OF_MEMORY) {
                a->refusals++;
                if (strncmp(aph_last_error(), "out of memory: allocation of ", 29) != 0) {
                    a->bad = 1;
                    snprintf(a->why, sizeof a->why, "unexpected message: %s", aph_last_error());
                }
            } else {
                a->bad = 1;
                snprintf(a->why, sizeof a->why, "allocate: %s %s", aph_status_name(st), aph_last_error());
            }
        } else {
            const int k = (int)((r >> 8) % (uint64_t)n);
            if (!stamped(live[k], size[k], tag[k])) {
                a->bad = 1;
                snprintf(a->why, sizeof a->why, "block %p (%zu bytes) overwritten", live[k], size[k]);
                break;
            }
            aph_status st = aph_device_free(a->d, live[k]);
            if (st != APH_OK) {
                a->bad = 1;
                snprintf(a->why, sizeof a->why, "free: %s %s", aph_status_name(st), aph_last_error());
                break;
            }
            live[k] = live[n - 1];
            size[k] = size[n - 1];
            tag[k] = tag[n - 1];
            --n;
        }
    }
    for (int k = 0; k < n; ++k) {
        if (!stamped(live[k], size[k], tag[k]) && !a->bad) {
            a->bad = 1;
            snprintf(a->why, sizeof a->why, "block %p (%zu bytes) overwritten", live[k], size[k]);
        }
        if (aph_device_free(a->d, live[k]) != APH_OK && !a->bad) {
            a->bad = 1;
            snprintf(a->why, sizeof a->why, "final free: %s", aph_last_error());
        }
    }
    return NULL;
}

static void test_concurrent_allocate_free_with_budget(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const aph_memory_stats s0 = fresh(d);
    APH_ASSERT_OK(aph_device_reset_peak_stats(d));
    aph_tracker* t = make_tracker(CONC_LIMIT);
    APH_ASSERT_OK(aph_device_set_tracker(d, t));

    pthread_t th[CONC_THREADS];
    conc_arg args[CONC_THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, CONC_THREADS);
    uint64_t seed = g_seed0;
    for (int i = 0; i < CONC_THREADS; ++i) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].d = d;
        args[i].start = &start;
        args[i].id = i;
        args[i].seed = aph_test_rand(&seed) | 1;
        assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &args[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);

    uint64_t successes = 0, refusals = 0;
    for (int i = 0; i < CONC_THREADS; ++i) {
        if (args[i].bad) {
            print_error("thread %d: %s (seed %llu)\n", i, args[i].why, (unsigned long long)g_seed0);
            fail();
        }
        successes += args[i].successes;
        refusals += args[i].refusals;
    }
    print_message("concurrent: %llu allocations, %llu refused by the budget\n", (unsigned long long)successes,
                  (unsigned long long)refusals);
    assert_true(successes > 0);
    assert_true(refusals > 0); /* the budget was exercised */

    /* Balanced: the tracker is back to zero, never went past its limit, and the allocator's
     * numbers are back where they started. */
    assert_int_equal(aph_tracker_allocated_bytes(t), 0);
    assert_true(aph_tracker_peak_bytes(t) <= CONC_LIMIT);
    assert_true(aph_tracker_peak_bytes(t) > 0);
    const aph_memory_stats s = stats_of(d);
    assert_int_equal(s.allocated_bytes, s0.allocated_bytes);
    assert_int_equal(s.requested_bytes, s0.requested_bytes);
    assert_int_equal(s.active_bytes, s0.active_bytes);
    assert_int_equal(s.active_allocations, s0.active_allocations);
    assert_int_equal(s.allocations - s0.allocations, successes);
    assert_int_equal(s.frees - s0.frees, successes);
    /* Budget refusals are not the system's: not counted as out-of-memory events. */
    assert_int_equal(s.out_of_memory_events, s0.out_of_memory_events);
    assert_true(s.allocated_bytes_peak <= CONC_LIMIT);

    APH_ASSERT_OK(aph_device_set_tracker(d, NULL));
    aph_tracker_release(t);
    APH_ASSERT_OK(aph_device_empty_cache(d));
    const aph_memory_stats e = stats_of(d);
    assert_int_equal(e.reserved_bytes, 0);
    assert_int_equal(e.segments, 0);
    assert_int_equal(e.segment_allocations - s0.segment_allocations, e.segment_frees - s0.segment_frees);
    aph_device_release(d);
}

int main(void) {
    g_seed0 = fresh_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_struct_size),
        cmocka_unit_test(test_rounding_small_pool),
        cmocka_unit_test(test_rounding_large_pool),
        cmocka_unit_test(test_cache_hit_same_pointer),
        cmocka_unit_test(test_alignment_and_no_overlap),
        cmocka_unit_test(test_peaks_and_reset),
        cmocka_unit_test(test_empty_cache),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_free_errors_change_nothing),
        cmocka_unit_test(test_system_refusal_empties_cache_and_retries),
        cmocka_unit_test(test_budget_charges_and_refuses),
        cmocka_unit_test(test_budget_blocks_remember_their_tracker),
        cmocka_unit_test(test_budget_tensors),
        cmocka_unit_test(test_leak_report),
        cmocka_unit_test(test_concurrent_allocate_free_with_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
