/*
 * bench_allocator.c — libaphelion's caching allocator (aphelion.h section 11) and tensor creation
 * (section 12), measured against the allocators they replace, in the same run.
 *
 *   (a) hit path: allocate+free of a cached size (512 B, 64 KiB, 4 MiB) on the CPU device,
 *       against malloc/free and posix_memalign(64)/free;
 *   (b) tensor create+release (f32 [256, 256]) against malloc/free of the same bytes;
 *   (c) trace replay: a seeded random trace of allocations and frees (sizes log-uniform from
 *       1 byte to 64 MiB, a few hundred live at once) through the allocator and through
 *       malloc/free: time per operation and the allocator's fragmentation;
 *   (d) the hit path from 2 threads at once, against malloc/free;
 *   (e) in CUDA builds on a machine with a GPU: the hit path and the trace on cuda:0 against
 *       cudaMalloc/cudaFree, and host<->device copies through aph_tensor_from_host /
 *       aph_tensor_to_host against cudaMemcpy from page-locked memory.
 *
 * Every figure is printed next to its baseline from the same run and as a ratio. Methods are
 * interleaved round by round (aphelion, baseline, aphelion, ...) and the median round is
 * reported, with the spread of the rounds as ±(max-min)/2 in percent of the median. Nothing is
 * touched in the memory that is allocated: these are the allocators' own costs.
 *
 * usage: bench_allocator [--quick] [--seed N]
 *   --quick   tiny iteration counts (the ctest smoke run; the numbers mean nothing)
 *   --seed N  seed of the random trace (default 20250101; printed either way)
 * Exit codes: 0 success, 1 a libaphelion (or CUDA) call failed or a check failed, 2 usage error.
 *
 * Written against the public C API only, plus the CUDA runtime for the baselines.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, posix_memalign, pthread_barrier, localtime_r */

#include <aphelion.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __GLIBC__
#include <gnu/libc-version.h>
#include <malloc.h>
#if __GLIBC_PREREQ(2, 33)
#define APH_BENCH_MALLINFO2 1 /* mallinfo2: the malloc baseline's footprint */
#endif
#endif

#if defined(APH_BENCH_CUDA) && APH_BENCH_CUDA
#include <cuda_runtime.h>
#define BENCH_CUDA 1
#else
#define BENCH_CUDA 0
#endif

#ifndef APH_BENCH_BUILD_TYPE
#define APH_BENCH_BUILD_TYPE "unknown"
#endif

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };
enum { MAX_ROUNDS = 15, MAX_METHODS = 4, BENCH_THREADS = 2 };

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* ---------------------------------------------------------------------------------------------
 * Failure handling: every aph_* status is checked; a failure ends the run with exit code 1.
 * ------------------------------------------------------------------------------------------- */

static void die(const char* what, const char* detail) {
    fprintf(stderr, "bench_allocator: %s failed: %s\n", what, detail);
    fflush(stdout);
    exit(EXIT_FAILED);
}

static void check_aph(aph_status st, const char* what) {
    if (st != APH_OK) {
        char detail[1024];
        snprintf(detail, sizeof detail, "%s: %s", aph_status_name(st), aph_last_error());
        die(what, detail);
    }
}

#define CHECK(call) check_aph((call), #call)

#if BENCH_CUDA
static void check_cuda(cudaError_t err, const char* what) {
    if (err != cudaSuccess) die(what, cudaGetErrorString(err));
}
#define CUDA_CHECK(call) check_cuda((call), #call)
#endif

/* ---------------------------------------------------------------------------------------------
 * Clock, statistics, formatting
 * ------------------------------------------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Every pointer an allocator hands out is stored here, so the compiler cannot drop a
 * malloc/free pair whose result is unused (GCC and Clang do elide those). Thread-local, so the
 * threads of (d) do not share a cache line. */
static _Thread_local void* volatile t_sink;

static int cmp_double(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

/* The median of n samples and their spread: ±(max-min)/2 in percent of the median. */
typedef struct Summary {
    double median;
    double spread_pct;
} Summary;

static Summary summarize(const double* samples, int n) {
    double s[MAX_ROUNDS];
    memcpy(s, samples, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    Summary r;
    r.median = (n % 2) ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    r.spread_pct = r.median > 0 ? 50.0 * (s[n - 1] - s[0]) / r.median : 0.0;
    return r;
}

/* "512 B", "64 KiB", "4 MiB" */
static const char* size_label(size_t bytes, char* buf, size_t cap) {
    if (bytes >= MiB && bytes % MiB == 0) {
        snprintf(buf, cap, "%zu MiB", bytes / MiB);
    } else if (bytes >= KiB && bytes % KiB == 0) {
        snprintf(buf, cap, "%zu KiB", bytes / KiB);
    } else {
        snprintf(buf, cap, "%zu B", bytes);
    }
    return buf;
}

static double mib(uint64_t bytes) { return (double)bytes / (double)MiB; }

/* ---------------------------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------------------------- */

typedef struct Settings {
    int quick;
    uint64_t seed;
    int rounds;              /* interleaved rounds for the hit paths and copies */
    int trace_rounds;        /* interleaved rounds for the trace replays */
    size_t pair_iters;       /* allocate+free pairs per measurement (CPU) */
    size_t tensor_iters;     /* tensor create+release pairs per measurement */
    size_t trace_slots;      /* slots a trace's live allocations occupy */
    size_t trace_ops;        /* timed operations of a trace (after the fill) */
    size_t cuda_pair_iters;  /* aphelion pairs on the GPU */
    size_t cudamalloc_iters; /* cudaMalloc+cudaFree pairs (slow: cudaFree synchronises) */
    size_t cuda_trace_ops;   /* timed operations of the GPU traces */
} Settings;

static Settings settings_for(int quick, uint64_t seed) {
    Settings s;
    s.quick = quick;
    s.seed = seed;
    if (quick) {
        s.rounds = 1;
        s.trace_rounds = 1;
        s.pair_iters = 2000;
        s.tensor_iters = 1000;
        s.trace_slots = 64;
        s.trace_ops = 2000;
        s.cuda_pair_iters = 200;
        s.cudamalloc_iters = 20;
        s.cuda_trace_ops = 200;
    } else {
        s.rounds = 5;
        s.trace_rounds = 3;
        s.pair_iters = 500000;
        s.tensor_iters = 200000;
        s.trace_slots = 512; /* filled to half: ~256 live, 50/50 allocations and frees */
        s.trace_ops = 200000;
        s.cuda_pair_iters = 200000;
        s.cudamalloc_iters = 2000;
        s.cuda_trace_ops = 20000;
    }
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Pair loops: `iters` allocate+free pairs of `bytes`; each returns the total nanoseconds.
 * One plain loop per allocator, so nothing but the allocator sits in the timed path.
 * ------------------------------------------------------------------------------------------- */

typedef double (*pair_fn)(void* ctx, size_t bytes, size_t iters);

typedef struct Method {
    const char* name;
    pair_fn run;
    void* ctx;
    size_t iters;
} Method;

/* ctx: the aph_device (CPU or CUDA). */
static double pairs_aph(void* ctx, size_t bytes, size_t iters) {
    aph_device* dev = ctx;
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) {
        void* p = NULL;
        CHECK(aph_device_allocate(dev, bytes, NULL, &p));
        t_sink = p;
        CHECK(aph_device_free(dev, p));
    }
    return (double)(now_ns() - t0);
}

static double pairs_malloc(void* ctx, size_t bytes, size_t iters) {
    (void)ctx;
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) {
        void* p = malloc(bytes);
        if (p == NULL) die("malloc", strerror(ENOMEM));
        t_sink = p;
        free(p);
    }
    return (double)(now_ns() - t0);
}

static double pairs_memalign(void* ctx, size_t bytes, size_t iters) {
    (void)ctx;
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) {
        void* p = NULL;
        const int rc = posix_memalign(&p, 64, bytes);
        if (rc != 0) die("posix_memalign", strerror(rc));
        t_sink = p;
        free(p);
    }
    return (double)(now_ns() - t0);
}

/* ctx: the aph_device; the tensor is f32 [256, 256] whatever bytes says (bytes is its size). */
static double pairs_tensor(void* ctx, size_t bytes, size_t iters) {
    (void)bytes;
    aph_device* dev = ctx;
    const int64_t shape[2] = {256, 256};
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) {
        aph_tensor* t = NULL;
        CHECK(aph_tensor_create(dev, APH_DTYPE_F32, shape, 2, &t));
        t_sink = t;
        aph_tensor_release(t);
    }
    return (double)(now_ns() - t0);
}

#if BENCH_CUDA
static double pairs_cudamalloc(void* ctx, size_t bytes, size_t iters) {
    (void)ctx;
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) {
        void* p = NULL;
        CUDA_CHECK(cudaMalloc(&p, bytes));
        t_sink = p;
        CUDA_CHECK(cudaFree(p));
    }
    return (double)(now_ns() - t0);
}
#endif

/* Measures each method `rounds` times, interleaved, after a warm-up that puts the size in the
 * allocator's cache (and lets malloc settle its thresholds); out[m] gets ns per pair. */
static void measure_pairs(const Method* methods, int n, size_t bytes, int rounds, Summary* out) {
    double samples[MAX_METHODS][MAX_ROUNDS];
    for (int m = 0; m < n; ++m) {
        const size_t warm = methods[m].iters < 1000 ? methods[m].iters : 1000;
        methods[m].run(methods[m].ctx, bytes, warm);
    }
    for (int r = 0; r < rounds; ++r) {
        for (int m = 0; m < n; ++m) {
            samples[m][r] = methods[m].run(methods[m].ctx, bytes, methods[m].iters) / (double)methods[m].iters;
        }
    }
    for (int m = 0; m < n; ++m) out[m] = summarize(samples[m], rounds);
}

static void print_cell(Summary s) { printf("  %9.1f ±%3.0f%%", s.median, s.spread_pct); }

/* ---------------------------------------------------------------------------------------------
 * (a) hit path and (b) tensors, CPU
 * ------------------------------------------------------------------------------------------- */

static const size_t kHitSizes[3] = {512, 64 * KiB, 4 * MiB};

/* Fills aph_ns[i] with the aphelion medians (reused by (d) for the 1-thread comparison). */
static void bench_hit_path_cpu(aph_device* cpu, const Settings* s, double aph_ns[3]) {
    const Method methods[3] = {
        {"aphelion", pairs_aph, cpu, s->pair_iters},
        {"malloc", pairs_malloc, NULL, s->pair_iters},
        {"posix_memalign(64)", pairs_memalign, NULL, s->pair_iters},
    };
    printf("\n(a) Hit path, CPU: allocate+free of a cached size, ns per pair (%zu pairs, median of "
           "%d rounds)\n",
           s->pair_iters, s->rounds);
    printf("  %-8s  %15s  %15s  %15s  %10s  %12s\n", "size", "aphelion", "malloc", "memalign(64)", "aph/malloc",
           "aph/memalign");
    for (int i = 0; i < 3; ++i) {
        Summary r[3];
        char label[32];
        measure_pairs(methods, 3, kHitSizes[i], s->rounds, r);
        printf("  %-8s", size_label(kHitSizes[i], label, sizeof label));
        for (int m = 0; m < 3; ++m) print_cell(r[m]);
        printf("  %9.2fx  %11.2fx\n", r[0].median / r[1].median, r[0].median / r[2].median);
        aph_ns[i] = r[0].median;
    }
}

static void bench_tensor_cpu(aph_device* cpu, const Settings* s) {
    const size_t bytes = 256 * 256 * sizeof(float);
    const Method methods[3] = {
        {"tensor", pairs_tensor, cpu, s->tensor_iters},
        {"aph_device_allocate", pairs_aph, cpu, s->tensor_iters},
        {"malloc", pairs_malloc, NULL, s->tensor_iters},
    };
    Summary r[3];
    measure_pairs(methods, 3, bytes, s->rounds, r);
    printf("\n(b) Tensors, CPU: aph_tensor_create f32 [256, 256] + aph_tensor_release (256 KiB), "
           "ns per pair\n");
    printf("  %-8s  %15s  %15s  %15s  %13s  %14s\n", "", "tensor", "aph_allocate", "malloc", "tensor/malloc",
           "tensor/allocate");
    printf("  %-8s", "256 KiB");
    for (int m = 0; m < 3; ++m) print_cell(r[m]);
    printf("  %12.2fx  %13.2fx\n", r[0].median / r[2].median, r[0].median / r[1].median);
}

/* ---------------------------------------------------------------------------------------------
 * (c) Trace replay
 *
 * The trace: `slots` slots; a fill phase allocates half of them; then each timed operation
 * picks a slot at random and frees it if it is occupied, else allocates into it. Occupancy
 * stays near half the slots and allocations and frees come about 50/50. Sizes are log-uniform
 * by octave: an octave 2^e (e uniform in 0..25), then a size uniform in [2^e, 2^(e+1)], so
 * from 1 byte to 64 MiB.
 * ------------------------------------------------------------------------------------------- */

typedef struct TraceOp {
    uint32_t slot;
    uint32_t alloc; /* 1: allocate `bytes` into slot; 0: free slot */
    size_t bytes;
} TraceOp;

typedef struct Trace {
    size_t slots;
    size_t fill;             /* op[0..fill): the untimed fill (all allocations) */
    size_t ops;              /* op[fill..fill+ops): the timed operations */
    size_t timed_allocs;     /* allocations among the timed operations */
    uint64_t peak_requested; /* highest total of live requested bytes (fill included) */
    TraceOp* op;
} Trace;

/* splitmix64: small, fast, and the same sequence everywhere for a given seed. */
static uint64_t rng_next(uint64_t* state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t* state, uint64_t n) { return rng_next(state) % n; }

static size_t trace_size(uint64_t* state) {
    const size_t octave = (size_t)1 << rng_below(state, 26);
    return octave + (size_t)rng_below(state, octave + 1);
}

static Trace trace_make(uint64_t seed, size_t slots, size_t ops) {
    Trace t = {slots, slots / 2, ops, 0, 0, NULL};
    t.op = calloc(t.fill + ops, sizeof *t.op);
    size_t* live = calloc(slots, sizeof *live); /* requested bytes per slot, 0 = empty */
    if (t.op == NULL || live == NULL) die("calloc", "trace");
    uint64_t state = seed, current = 0;
    for (size_t i = 0; i < t.fill + ops; ++i) {
        TraceOp* o = &t.op[i];
        o->slot = (uint32_t)(i < t.fill ? i : rng_below(&state, slots));
        o->alloc = live[o->slot] == 0;
        if (o->alloc) {
            o->bytes = trace_size(&state);
            live[o->slot] = o->bytes;
            current += o->bytes;
            if (current > t.peak_requested) t.peak_requested = current;
            if (i >= t.fill) t.timed_allocs++;
        } else {
            current -= live[o->slot];
            live[o->slot] = 0;
        }
    }
    free(live);
    return t;
}

/* An allocator as the replay sees it. The call through a pointer costs both sides the same
 * nanosecond or two, small next to the operations being measured. */
typedef struct Replayer {
    const char* name;
    void* (*alloc)(void* ctx, size_t bytes);
    void (*free)(void* ctx, void* p);
    void* ctx;
} Replayer;

static void* replay_aph_alloc(void* ctx, size_t bytes) {
    void* p = NULL;
    CHECK(aph_device_allocate(ctx, bytes, NULL, &p));
    return p;
}
static void replay_aph_free(void* ctx, void* p) { CHECK(aph_device_free(ctx, p)); }

static void* replay_malloc_alloc(void* ctx, size_t bytes) {
    (void)ctx;
    void* p = malloc(bytes);
    if (p == NULL) die("malloc", strerror(ENOMEM));
    return p;
}
static void replay_malloc_free(void* ctx, void* p) {
    (void)ctx;
    free(p);
}

#if BENCH_CUDA
static void* replay_cuda_alloc(void* ctx, size_t bytes) {
    (void)ctx;
    void* p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
}
static void replay_cuda_free(void* ctx, void* p) {
    (void)ctx;
    CUDA_CHECK(cudaFree(p));
}
#endif

/* Replays the trace: the fill untimed, the operations timed, then frees what is left
 * (untimed). Returns ns per timed operation. */
static double replay(const Trace* t, const Replayer* a, void** slots) {
    memset(slots, 0, t->slots * sizeof *slots);
    for (size_t i = 0; i < t->fill; ++i) slots[t->op[i].slot] = a->alloc(a->ctx, t->op[i].bytes);
    const uint64_t t0 = now_ns();
    for (size_t i = t->fill; i < t->fill + t->ops; ++i) {
        const TraceOp* o = &t->op[i];
        if (o->alloc) {
            slots[o->slot] = a->alloc(a->ctx, o->bytes);
        } else {
            a->free(a->ctx, slots[o->slot]);
            slots[o->slot] = NULL;
        }
    }
    const uint64_t elapsed = now_ns() - t0;
    for (size_t i = 0; i < t->slots; ++i) {
        if (slots[i]) a->free(a->ctx, slots[i]);
    }
    return (double)elapsed / (double)t->ops;
}

#ifdef APH_BENCH_MALLINFO2
/* The malloc baseline's footprint: an extra, untimed replay that samples glibc's heap size
 * (arena: bytes taken with brk, free chunks included) plus its mmapped chunks after every
 * allocation. Returns the peak. */
static uint64_t malloc_peak_footprint(const Trace* t, void** slots) {
    malloc_trim(0);
    uint64_t peak = 0;
    memset(slots, 0, t->slots * sizeof *slots);
    for (size_t i = 0; i < t->fill + t->ops; ++i) {
        const TraceOp* o = &t->op[i];
        if (o->alloc) {
            slots[o->slot] = replay_malloc_alloc(NULL, o->bytes);
            const struct mallinfo2 mi = mallinfo2();
            const uint64_t footprint = (uint64_t)mi.arena + (uint64_t)mi.hblkhd;
            if (footprint > peak) peak = footprint;
        } else {
            free(slots[o->slot]);
            slots[o->slot] = NULL;
        }
    }
    for (size_t i = 0; i < t->slots; ++i) free(slots[i]);
    return peak;
}
#endif

/* Replays the trace through the device's allocator and through `baseline`, interleaved, and
 * prints times and the allocator's peaks. Returns 0, or 1 when the allocator's requested-bytes
 * peak disagrees with the trace's own. */
static int bench_trace(aph_device* dev, const Replayer* baseline, const Trace* t, int rounds, int malloc_footprint) {
    const Replayer aph = {"aphelion", replay_aph_alloc, replay_aph_free, dev};
    void** slots = calloc(t->slots, sizeof *slots);
    if (slots == NULL) die("calloc", "slots");
    double aph_ns[MAX_ROUNDS], base_ns[MAX_ROUNDS];
    aph_memory_stats st;
    for (int r = 0; r < rounds; ++r) {
        /* Each aphelion round starts from an empty cache with fresh peaks, so the rounds are
         * alike and the peaks belong to this trace alone (the cache misses are timed). */
        CHECK(aph_device_empty_cache(dev));
        CHECK(aph_device_reset_peak_stats(dev));
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        CHECK(aph_device_memory_stats(dev, &st));
        const uint64_t allocations0 = st.allocations, misses0 = st.cache_misses;
        aph_ns[r] = replay(t, &aph, slots);
        CHECK(aph_device_memory_stats(dev, &st));
        st.allocations -= allocations0;
        st.cache_misses -= misses0;
        base_ns[r] = replay(t, baseline, slots);
    }
    CHECK(aph_device_empty_cache(dev));
    const Summary a = summarize(aph_ns, rounds), b = summarize(base_ns, rounds);

    printf("  time per operation    aphelion %9.1f ns ±%.0f%%   %s %9.1f ns ±%.0f%%   "
           "aph/%s %.2fx\n",
           a.median, a.spread_pct, baseline->name, b.median, b.spread_pct, baseline->name, a.median / b.median);
    printf("  peak requested        %10.1f MiB (the trace's live bytes as asked for)\n", mib(st.requested_bytes_peak));
    printf("  peak allocated        %10.1f MiB (after rounding to 512 B and whole blocks: "
           "%.3fx requested)\n",
           mib(st.allocated_bytes_peak), (double)st.allocated_bytes_peak / (double)st.requested_bytes_peak);
    printf("  peak reserved         %10.1f MiB (segments held from the %s)\n", mib(st.reserved_bytes_peak),
           aph_device_get_kind(dev) == APH_DEVICE_CPU ? "system" : "driver");
    printf("  fragmentation         %10.3f   (peak reserved / peak allocated; 1.0 is none)\n",
           (double)st.reserved_bytes_peak / (double)st.allocated_bytes_peak);
    printf("  reserved / requested  %10.3f   (peak reserved / peak requested)\n",
           (double)st.reserved_bytes_peak / (double)st.requested_bytes_peak);
    printf("  cache                 %" PRIu64 " allocations, %" PRIu64 " needed a new segment (%.2f%% misses)\n",
           st.allocations, st.cache_misses,
           st.allocations ? 100.0 * (double)st.cache_misses / (double)st.allocations : 0.0);
#ifdef APH_BENCH_MALLINFO2
    if (malloc_footprint) {
        const uint64_t peak = malloc_peak_footprint(t, slots);
        printf("  malloc footprint      %10.1f MiB peak (glibc heap + mmapped chunks, mallinfo2):"
               " %.3fx requested\n",
               mib(peak), (double)peak / (double)t->peak_requested);
    }
#else
    (void)malloc_footprint;
#endif
    free(slots);

    if (st.requested_bytes_peak != t->peak_requested) {
        fprintf(stderr,
                "bench_allocator: check failed: requested_bytes_peak is %" PRIu64
                " but the trace's peak of live requested bytes is %" PRIu64 "\n",
                st.requested_bytes_peak, t->peak_requested);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * (d) Hit path from several threads at once
 * ------------------------------------------------------------------------------------------- */

typedef struct Worker {
    const Method* method;
    size_t bytes;
    pthread_barrier_t* start;
    double ns_per_pair;
} Worker;

static void* worker_main(void* arg) {
    Worker* w = arg;
    const Method* m = w->method;
    m->run(m->ctx, w->bytes, m->iters < 1000 ? m->iters : 1000); /* this thread's warm-up */
    pthread_barrier_wait(w->start);
    w->ns_per_pair = m->run(m->ctx, w->bytes, m->iters) / (double)m->iters;
    return NULL;
}

/* ns per pair per thread, averaged over the threads, with all threads running the method. */
static double run_threads(const Method* m, size_t bytes) {
    pthread_t threads[BENCH_THREADS];
    Worker workers[BENCH_THREADS];
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, BENCH_THREADS) != 0) die("pthread_barrier_init", "");
    for (int i = 0; i < BENCH_THREADS; ++i) {
        workers[i] = (Worker){m, bytes, &start, 0.0};
        const int rc = pthread_create(&threads[i], NULL, worker_main, &workers[i]);
        if (rc != 0) die("pthread_create", strerror(rc));
    }
    double sum = 0.0;
    for (int i = 0; i < BENCH_THREADS; ++i) {
        pthread_join(threads[i], NULL);
        sum += workers[i].ns_per_pair;
    }
    pthread_barrier_destroy(&start);
    return sum / BENCH_THREADS;
}

static void bench_threads_cpu(aph_device* cpu, const Settings* s, const double aph_1t_ns[3]) {
    const Method methods[2] = {
        {"aphelion", pairs_aph, cpu, s->pair_iters},
        {"malloc", pairs_malloc, NULL, s->pair_iters},
    };
    printf("\n(d) Hit path, CPU, %d threads at once: ns per pair per thread (%zu pairs each, "
           "median of %d rounds)\n",
           BENCH_THREADS, s->pair_iters, s->rounds);
    printf("  %-8s  %15s  %15s  %10s  %17s\n", "size", "aphelion", "malloc", "aph/malloc", "aph vs 1 thread");
    for (int i = 0; i < 3; ++i) {
        double samples[2][MAX_ROUNDS];
        for (int r = 0; r < s->rounds; ++r) {
            for (int m = 0; m < 2; ++m) samples[m][r] = run_threads(&methods[m], kHitSizes[i]);
        }
        const Summary a = summarize(samples[0], s->rounds), b = summarize(samples[1], s->rounds);
        char label[32];
        printf("  %-8s", size_label(kHitSizes[i], label, sizeof label));
        print_cell(a);
        print_cell(b);
        printf("  %9.2fx  %16.2fx\n", a.median / b.median, a.median / aph_1t_ns[i]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * (e) CUDA
 * ------------------------------------------------------------------------------------------- */

#if BENCH_CUDA
static void bench_hit_path_cuda(aph_device* gpu, const Settings* s) {
    const Method methods[2] = {
        {"aphelion", pairs_aph, gpu, s->cuda_pair_iters},
        {"cudaMalloc", pairs_cudamalloc, NULL, s->cudamalloc_iters},
    };
    printf("\n(e1) Hit path, %s: allocate+free of a cached size, ns per pair (%zu aphelion pairs,"
           " %zu cudaMalloc+cudaFree pairs, median of %d rounds)\n",
           aph_device_label(gpu), s->cuda_pair_iters, s->cudamalloc_iters, s->rounds);
    printf("  %-8s  %15s  %15s  %14s\n", "size", "aphelion", "cudaMalloc", "aph/cudaMalloc");
    for (int i = 0; i < 3; ++i) {
        Summary r[2];
        char label[32];
        measure_pairs(methods, 2, kHitSizes[i], s->rounds, r);
        printf("  %-8s", size_label(kHitSizes[i], label, sizeof label));
        print_cell(r[0]);
        print_cell(r[1]);
        printf("  %13.4fx\n", r[0].median / r[1].median);
    }
}

/* Copy loops: `iters` copies of `bytes`; total ns. Host buffers are touched beforehand. */
typedef struct CopyCtx {
    aph_device* gpu;
    aph_tensor* resident; /* a GPU tensor of `bytes` for the device-to-host copies */
    void* host;           /* pageable host buffer */
    void* pinned;         /* page-locked host buffer (cudaMallocHost) */
    void* device;         /* cudaMalloc'd buffer */
} CopyCtx;

static double copy_aph_h2d(void* ctx, size_t bytes, size_t iters) {
    CopyCtx* c = ctx;
    const int64_t n = (int64_t)(bytes / sizeof(float));
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) {
        aph_tensor* t = NULL;
        CHECK(aph_tensor_from_host(c->gpu, APH_DTYPE_F32, &n, 1, c->host, bytes, &t));
        aph_tensor_release(t);
    }
    return (double)(now_ns() - t0);
}

static double copy_aph_d2h(void* ctx, size_t bytes, size_t iters) {
    CopyCtx* c = ctx;
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) CHECK(aph_tensor_to_host(c->resident, c->host, bytes));
    return (double)(now_ns() - t0);
}

static double copy_cuda(void* dst, const void* src, size_t bytes, size_t iters, enum cudaMemcpyKind kind) {
    const uint64_t t0 = now_ns();
    for (size_t i = 0; i < iters; ++i) CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
    CUDA_CHECK(cudaDeviceSynchronize());
    return (double)(now_ns() - t0);
}

static double copy_pinned_h2d(void* ctx, size_t bytes, size_t iters) {
    CopyCtx* c = ctx;
    return copy_cuda(c->device, c->pinned, bytes, iters, cudaMemcpyHostToDevice);
}
static double copy_pinned_d2h(void* ctx, size_t bytes, size_t iters) {
    CopyCtx* c = ctx;
    return copy_cuda(c->pinned, c->device, bytes, iters, cudaMemcpyDeviceToHost);
}
static double copy_pageable_h2d(void* ctx, size_t bytes, size_t iters) {
    CopyCtx* c = ctx;
    return copy_cuda(c->device, c->host, bytes, iters, cudaMemcpyHostToDevice);
}
static double copy_pageable_d2h(void* ctx, size_t bytes, size_t iters) {
    CopyCtx* c = ctx;
    return copy_cuda(c->host, c->device, bytes, iters, cudaMemcpyDeviceToHost);
}

static void bench_copies_cuda(aph_device* gpu, const Settings* s) {
    static const size_t sizes[2] = {1 * MiB, 256 * MiB};
    printf("\n(e3) Host<->device copies, %s: GB/s (1e9 bytes/s; median of %d rounds). aphelion:"
           " aph_tensor_from_host / aph_tensor_to_host\n"
           "     with pageable host memory (allocation from the cache included); baseline:"
           " cudaMemcpy from/to page-locked memory\n",
           aph_device_label(gpu), s->rounds);
    printf("  %-8s  %-4s  %15s  %15s  %15s  %12s\n", "size", "dir", "aphelion", "cudaMemcpy", "cudaMemcpy",
           "aph/pinned");
    printf("  %-8s  %-4s  %15s  %15s  %15s\n", "", "", "", "pinned", "pageable");
    for (int i = 0; i < 2; ++i) {
        const size_t bytes = s->quick ? sizes[i] / 64 : sizes[i];
        const size_t iters = s->quick ? 2 : (bytes <= MiB ? 500 : 20);
        CopyCtx c = {gpu, NULL, malloc(bytes), NULL, NULL};
        if (c.host == NULL) die("malloc", "copy buffer");
        memset(c.host, 0x5a, bytes);
        CUDA_CHECK(cudaMallocHost(&c.pinned, bytes));
        memset(c.pinned, 0x5a, bytes);
        CUDA_CHECK(cudaMalloc(&c.device, bytes));
        const int64_t n = (int64_t)(bytes / sizeof(float));
        CHECK(aph_tensor_from_host(gpu, APH_DTYPE_F32, &n, 1, c.host, bytes, &c.resident));

        /* One round trip checked, untimed: what went up comes back. */
        memset(c.pinned, 0, bytes);
        CHECK(aph_tensor_to_host(c.resident, c.pinned, bytes));
        if (memcmp(c.pinned, c.host, bytes) != 0) die("aph_tensor_to_host", "data differs");

        const Method h2d[3] = {{"aphelion", copy_aph_h2d, &c, iters},
                               {"pinned", copy_pinned_h2d, &c, iters},
                               {"pageable", copy_pageable_h2d, &c, iters}};
        const Method d2h[3] = {{"aphelion", copy_aph_d2h, &c, iters},
                               {"pinned", copy_pinned_d2h, &c, iters},
                               {"pageable", copy_pageable_d2h, &c, iters}};
        for (int d = 0; d < 2; ++d) {
            Summary r[3];
            measure_pairs(d == 0 ? h2d : d2h, 3, bytes, s->rounds, r);
            char label[32];
            printf("  %-8s  %-4s", size_label(bytes, label, sizeof label), d == 0 ? "H2D" : "D2H");
            for (int m = 0; m < 3; ++m) {
                /* ns per copy -> GB/s; the spread is the same in percent. */
                r[m].median = (double)bytes / r[m].median;
                print_cell(r[m]);
            }
            printf("  %11.2fx\n", r[0].median / r[1].median);
        }
        aph_tensor_release(c.resident);
        CUDA_CHECK(cudaFree(c.device));
        CUDA_CHECK(cudaFreeHost(c.pinned));
        free(c.host);
    }
}
#endif /* BENCH_CUDA */

/* Runs (e) when there is a GPU, else says why not. Returns the number of failed checks. */
static int bench_cuda(const Settings* s) {
    printf("\n(e) CUDA\n");
    int32_t count = 0;
    CHECK(aph_device_count(APH_DEVICE_CUDA, &count));
    aph_cuda_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK(aph_cuda_get_info(&info));
#if !BENCH_CUDA
    printf("  skipped: this benchmark was built without CUDA (configure with -DAPHELION_CUDA=ON)"
           "; libaphelion reports %d CUDA device(s)%s%s\n",
           count, info.reason && info.reason[0] ? ": " : "", info.reason ? info.reason : "");
    (void)s;
    return 0;
#else
    if (count == 0) {
        printf("  skipped: no CUDA device: %s\n", info.reason && info.reason[0] ? info.reason : "(no reason given)");
        return 0;
    }
    aph_device* gpu = NULL;
    CHECK(aph_device_open(APH_DEVICE_CUDA, 0, &gpu));
    CUDA_CHECK(cudaSetDevice(0));
    CUDA_CHECK(cudaFree(NULL)); /* create the baseline's context before anything is timed */
    printf("  device   %s (%s), driver %d, runtime %d\n", aph_device_label(gpu), aph_device_name(gpu),
           info.driver_version, info.runtime_version);

    bench_hit_path_cuda(gpu, s);

    const Trace t = trace_make(s->seed, s->trace_slots, s->cuda_trace_ops);
    const Replayer cuda = {"cudaMalloc", replay_cuda_alloc, replay_cuda_free, NULL};
    printf("\n(e2) Trace replay, %s: seed %" PRIu64 ", %zu slots, %zu-allocation fill, %zu timed "
           "operations (%zu allocations), median of %d rounds\n",
           aph_device_label(gpu), s->seed, t.slots, t.fill, t.ops, t.timed_allocs, s->trace_rounds);
    const int failed = bench_trace(gpu, &cuda, &t, s->trace_rounds, 0);
    free(t.op);

    bench_copies_cuda(gpu, s);
    CHECK(aph_device_empty_cache(gpu));
    aph_device_release(gpu);
    return failed;
#endif
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

static void usage(FILE* f) {
    fputs("usage: bench_allocator [--quick] [--seed N]\n"
          "  --quick   tiny iteration counts (a smoke run; the numbers mean nothing)\n"
          "  --seed N  seed of the random allocation trace (default 20250101)\n",
          f);
}

int main(int argc, char** argv) {
    int quick = 0;
    uint64_t seed = 20250101u;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            char* end = NULL;
            errno = 0;
            seed = strtoull(argv[++i], &end, 0);
            if (errno != 0 || end == argv[i] || *end != '\0') {
                fprintf(stderr, "bench_allocator: --seed needs an unsigned integer\n");
                return EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    const Settings s = settings_for(quick, seed);

    aph_device* cpu = NULL;
    CHECK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));

    char date[64];
    const time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %z", &tm);
    printf("libaphelion allocator benchmark\n");
    printf("  date     %s\n", date);
    printf("  library  libaphelion %s (benchmark built as %s)\n", aph_version_string(), APH_BENCH_BUILD_TYPE);
    printf("  cpu      %s, %d logical cores\n", aph_device_name(cpu), aph_device_logical_cores(cpu));
#ifdef __GLIBC__
    printf("  libc     glibc %s (the malloc baseline)\n", gnu_get_libc_version());
#endif
    printf("  mode     %s\n", quick ? "quick (smoke run: tiny counts, the numbers mean nothing)" : "full");
    printf("  reading  ratios are aphelion / baseline: for times, below 1 means aphelion is "
           "faster;\n"
           "           each cell is the median round ± half the range of the rounds, in %%\n");

    double aph_1t_ns[3];
    bench_hit_path_cpu(cpu, &s, aph_1t_ns);
    bench_tensor_cpu(cpu, &s);

    const Trace t = trace_make(s.seed, s.trace_slots, s.trace_ops);
    const Replayer libc = {"malloc", replay_malloc_alloc, replay_malloc_free, NULL};
    printf("\n(c) Trace replay, CPU: seed %" PRIu64 ", %zu slots, %zu-allocation fill, %zu timed "
           "operations (%zu allocations), sizes 1 B..64 MiB log-uniform, median of %d rounds\n",
           s.seed, t.slots, t.fill, t.ops, t.timed_allocs, s.trace_rounds);
    int failed = bench_trace(cpu, &libc, &t, s.trace_rounds, 1);
    free(t.op);

    bench_threads_cpu(cpu, &s, aph_1t_ns);
    failed += bench_cuda(&s);

    CHECK(aph_device_empty_cache(cpu));
    aph_device_release(cpu);
    return failed ? EXIT_FAILED : 0;
}
