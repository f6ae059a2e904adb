/*
 * A simulated CUDA module for the test suite: it implements libaphelion's private module ABI
 * (cuda/module_abi.h) with host memory, so the core's CUDA code paths (the CUDA caching
 * allocator, page-locked staging and its chunking, strided gathers and scatters, streams,
 * events, DLPack with device memory) run in CI on machines without a GPU. Loaded through
 * APHELION_CUDA_MODULE by the `sim`-labelled tests; never installed.
 *
 * Two modes, chosen when the module is probed:
 *
 *  - Immediate (the default): every operation runs at once, but streams keep the bookkeeping of
 *    a real device: each queued operation increments the stream's "enqueued" count, and work
 *    only counts as done (stream_query, event_query) after a synchronisation that reaches it. So
 *    a block freed with a pending cross-stream use really is held back until the test
 *    synchronises that stream.
 *  - Deferred (SIM_CUDA_DEFER=1): stream operations (memcpy_async, memcpy_peer_async,
 *    memset_async, strided_copy_async) do not run when they are queued. Their parameters (a copy
 *    of the strided-copy struct included) go to a per-stream FIFO and run, in order, only when
 *    something flushes that stream: stream_synchronize flushes the stream; event_synchronize
 *    flushes the event's stream up to the event's record; stream_wait_event(s, e) does the same
 *    for e (conservative, and it orders s's later work after e's); device_synchronize, mem_free
 *    and host_free flush every stream (cudaFree synchronises the device). stream_query and
 *    event_query never flush: they report work as done only once a flush has run it, which
 *    models a device that has not got there yet. mem_alloc, host_alloc and stream_destroy do not
 *    flush (a destroyed stream's work stays queued until a flush reaches it). This shows a
 *    library that reads a staging buffer or a destination before synchronising, or reuses a
 *    staging buffer before the copy out of it ran. One mutex guards everything; queued
 *    operations run under it (they never call back into the library).
 *
 * The CUDA runtime's per-thread last error is simulated too, and handled by the same functions
 * as in the real module (cuda/last_error.h, which says why): every failing simulated runtime
 * call records its error as the calling thread's last error, as the runtime does: a query that
 * finds work not done (cudaErrorNotReady), a refused or failed cudaMalloc, a failed
 * cudaSetDevice. A kernel launch (kernel_launch, strided_copy_async) reports the thread's last
 * error after it as the launch's failure, exactly as the real launchers read it with
 * cudaGetLastError. Calls that take an ordinal switch the thread's simulated current device for
 * the call and restore it, as the real module's guard does. So a module that left an error
 * behind would make the next launch fail here as on a GPU.
 *
 * For tests, functions with default visibility, found with dlsym on the module:
 * sim_cuda_live_streams() (streams created minus destroyed), sim_cuda_host_bytes() (bytes of
 * live cudaHostAlloc memory), sim_cuda_peek_last_error() (the calling thread's last error, as
 * cudaPeekAtLastError), sim_cuda_set_last_error(err) (leaves err behind on the calling thread,
 * as a failed call outside libaphelion would), sim_cuda_fail_next_malloc(err) (the next
 * cudaMalloc fails with err) and sim_cuda_fail_next_set_device(ordinal, err) (the next
 * cudaSetDevice(ordinal) fails with err).
 * Devices: SIM_CUDA_DEVICES (default 1), each with SIM_CUDA_MEMORY_MIB of memory (default
 * 16384); allocations beyond it fail as cudaMalloc does (cudaErrorMemoryAllocation).
 * What it cannot check: real concurrency between streams, the CUDA kernels themselves, the real
 * driver.
 */
#include "last_error.h"
#include "module_abi.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_MAX_DEVICES 8
#define SIM_EXPORT __attribute__((visibility("default")))

/* A queued stream operation (deferred mode). */
typedef enum { OP_COPY, OP_SET, OP_STRIDED, OP_KERNEL } sim_op_kind;

/* The core's CPU kernels (sim_cuda_kernels.cpp): the simulated device runs the same kernels on
 * its host memory. Returns 0 or an APH_K_STATUS_* code with msg. */
int sim_run_kernel(int32_t op, const void* desc, char* msg, size_t len);

typedef struct sim_op {
    sim_op_kind kind;
    void* dst;
    const void* src;
    size_t bytes;
    int value;
    aph_cuda_strided_copy strided; /* OP_STRIDED: a copy of the caller's struct */
    int32_t kernel;                /* OP_KERNEL: the aph_k_op ... */
    void* desc;                    /* ... and a malloc'd copy of its descriptor (freed after) */
    unsigned long long seq;        /* the stream's enqueued count once this was queued */
    struct sim_op* next;
} sim_op;

typedef struct sim_stream {
    unsigned long long enqueued;
    unsigned long long done;
    sim_op* head; /* deferred operations, oldest first */
    sim_op* tail;
} sim_stream;

typedef struct sim_event {
    sim_stream* stream; /* NULL: never recorded */
    unsigned long long seq;
} sim_event;

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static int g_devices = 1;
static int g_defer;
static unsigned long long g_capacity = 16384ULL << 20;
static unsigned long long g_used[SIM_MAX_DEVICES];
static sim_stream g_legacy[SIM_MAX_DEVICES]; /* each device's legacy default stream */
static sim_stream* g_streams[4096];          /* created streams (kept: handles stay valid) */
static int g_nstreams;
static int g_live_streams;              /* created minus destroyed */
static unsigned long long g_host_bytes; /* live cudaHostAlloc bytes */

SIM_EXPORT int sim_cuda_live_streams(void) {
    pthread_mutex_lock(&g_mutex);
    const int n = g_live_streams;
    pthread_mutex_unlock(&g_mutex);
    return n;
}

SIM_EXPORT unsigned long long sim_cuda_host_bytes(void) {
    pthread_mutex_lock(&g_mutex);
    const unsigned long long n = g_host_bytes;
    pthread_mutex_unlock(&g_mutex);
    return n;
}

static void put(char* msg, size_t len, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char* msg, size_t len, const char* fmt, ...) {
    if (msg == NULL || len == 0) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, len, fmt, args);
    va_end(args);
}

/* ---- The simulated runtime's error state (CUDA's codes and texts) ---------------------------- */

#define SIM_SUCCESS 0
#define SIM_ERR_INVALID_VALUE 1
#define SIM_ERR_MEMORY_ALLOCATION 2
#define SIM_ERR_INVALID_DEVICE 101
#define SIM_ERR_NOT_READY 600

static const char* sim_error_name(int err) {
    switch (err) {
        case SIM_SUCCESS: return "cudaSuccess";
        case SIM_ERR_INVALID_VALUE: return "cudaErrorInvalidValue";
        case SIM_ERR_MEMORY_ALLOCATION: return "cudaErrorMemoryAllocation";
        case SIM_ERR_INVALID_DEVICE: return "cudaErrorInvalidDevice";
        case SIM_ERR_NOT_READY: return "cudaErrorNotReady";
        default: return "cudaErrorUnknown";
    }
}

static const char* sim_error_string(int err) {
    switch (err) {
        case SIM_SUCCESS: return "no error";
        case SIM_ERR_INVALID_VALUE: return "invalid argument";
        case SIM_ERR_MEMORY_ALLOCATION: return "out of memory";
        case SIM_ERR_INVALID_DEVICE: return "invalid device ordinal";
        case SIM_ERR_NOT_READY: return "device not ready";
        default: return "unknown error";
    }
}

/* "{call} failed: {string} ({name})", as the real module writes it. */
static void put_sim(char* msg, size_t len, const char* call, int err) {
    put(msg, len, "%s failed: %s (%s)", call, sim_error_string(err), sim_error_name(err));
}

static __thread int t_last_error;  /* the calling thread's last error */
static __thread int t_device;      /* the calling thread's current device */
static int g_fail_malloc;          /* the next cudaMalloc fails with this (0: none) */
static int g_fail_set_device = -1; /* the next cudaSetDevice(this ordinal) fails ... */
static int g_fail_set_device_err;  /* ... with this */

/* A simulated runtime call failed with err: recorded as the thread's last error, as CUDA does. */
static int sim_fail(int err) {
    t_last_error = err;
    return err;
}

static int rt_get_last_error(void) {
    const int err = t_last_error;
    t_last_error = SIM_SUCCESS;
    return err;
}

static int rt_get_device(int* device) {
    *device = t_device;
    return SIM_SUCCESS;
}

static int rt_set_device(int device) {
    pthread_mutex_lock(&g_mutex);
    int err = SIM_SUCCESS;
    if (g_fail_set_device >= 0 && device == g_fail_set_device) {
        err = g_fail_set_device_err;
        g_fail_set_device = -1;
    }
    pthread_mutex_unlock(&g_mutex);
    if (err != SIM_SUCCESS) return sim_fail(err);
    if (device < 0 || device >= g_devices) return sim_fail(SIM_ERR_INVALID_DEVICE);
    t_device = device;
    return SIM_SUCCESS;
}

static const aph_cuda_runtime k_rt = {SIM_SUCCESS, SIM_ERR_NOT_READY, rt_get_last_error, rt_get_device, rt_set_device};

SIM_EXPORT int sim_cuda_peek_last_error(void) { return t_last_error; }
SIM_EXPORT void sim_cuda_set_last_error(int err) { t_last_error = err; }

SIM_EXPORT void sim_cuda_fail_next_malloc(int err) {
    pthread_mutex_lock(&g_mutex);
    g_fail_malloc = err;
    pthread_mutex_unlock(&g_mutex);
}

SIM_EXPORT void sim_cuda_fail_next_set_device(int ordinal, int err) {
    pthread_mutex_lock(&g_mutex);
    g_fail_set_device = ordinal;
    g_fail_set_device_err = err;
    pthread_mutex_unlock(&g_mutex);
}

/* The device guard of the real module (module.cu's DeviceGuard, over last_error.h): the call
 * runs with `ordinal` as the thread's device, and the previous one comes back when the guard
 * goes out of scope (cleanup attribute: on every return path). */
static void sim_leave(aph_cuda_device_scope* scope) { aph_cuda_device_leave(&k_rt, scope); }

/* A failure reported in msg: consumed, as the real module's report_cuda does. */
static void report(char* msg, size_t len, const char* call, int err) {
    aph_cuda_consume(&k_rt, err);
    put_sim(msg, len, call, err);
}

static int sim_enter(int32_t ordinal, aph_cuda_device_scope* scope, char* msg, size_t len) {
    const char* what = "";
    const int err = aph_cuda_device_enter(&k_rt, ordinal, scope, &what);
    if (err != SIM_SUCCESS) put_sim(msg, len, what, err);
    return err != SIM_SUCCESS;
}

#define SIM_GUARD_DEVICE(ordinal)                                         \
    __attribute__((cleanup(sim_leave))) aph_cuda_device_scope sim_scope_; \
    if (sim_enter((ordinal), &sim_scope_, msg, len)) return 1

static sim_stream* stream_of(int32_t ordinal, void* s) {
    return s ? (sim_stream*)s : &g_legacy[ordinal < 0 ? 0 : ordinal];
}

static void run_strided(const aph_cuda_strided_copy* c) {
    int64_t n = 1;
    for (int d = 0; d < c->ndim; ++d) n *= c->shape[d];
    /* The same index arithmetic as the kernel: last dimension fastest. */
    for (int64_t i = 0; i < n; ++i) {
        int64_t rest = i, d_off = 0, s_off = 0;
        for (int d = c->ndim - 1; d >= 0; --d) {
            const int64_t k = rest % c->shape[d];
            rest /= c->shape[d];
            d_off += k * c->dst_strides[d];
            s_off += k * c->src_strides[d];
        }
        memcpy((char*)c->dst + d_off * c->elem_size, (const char*)c->src + s_off * c->elem_size, (size_t)c->elem_size);
    }
}

static void run_op(const sim_op* op) {
    switch (op->kind) {
        case OP_COPY:
            if (op->bytes) memmove(op->dst, op->src, op->bytes);
            break;
        case OP_SET:
            if (op->bytes) memset(op->dst, op->value, op->bytes);
            break;
        case OP_STRIDED: run_strided(&op->strided); break;
        case OP_KERNEL: {
            char msg[512] = {0};
            /* Deferred: a failure can only be reported, as an asynchronous CUDA error would be. */
            if (sim_run_kernel(op->kernel, op->desc, msg, sizeof msg) != 0) {
                fprintf(stderr, "sim_cuda: deferred kernel %d failed: %s\n", (int)op->kernel, msg);
            }
            break;
        }
    }
}

/* Runs s's queued operations up to sequence number upto, in order, and marks the stream done
 * that far. Called with g_mutex held. */
static void flush_locked(sim_stream* s, unsigned long long upto) {
    while (s->head && s->head->seq <= upto) {
        sim_op* op = s->head;
        s->head = op->next;
        if (s->head == NULL) s->tail = NULL;
        run_op(op);
        free(op->desc);
        free(op);
    }
    if (s->done < upto) s->done = upto;
}

static void flush_all_locked(void) {
    for (int i = 0; i < g_devices; ++i) flush_locked(&g_legacy[i], g_legacy[i].enqueued);
    for (int i = 0; i < g_nstreams; ++i) flush_locked(g_streams[i], g_streams[i]->enqueued);
}

static void flush_all(void) {
    if (!g_defer) return;
    pthread_mutex_lock(&g_mutex);
    flush_all_locked();
    pthread_mutex_unlock(&g_mutex);
}

/* Queues op on the stream: counted at once; run now (immediate mode) or at the next flush that
 * reaches it (deferred mode). */
static int submit(int32_t ordinal, void* stream, const sim_op* op, char* msg, size_t len) {
    if (!g_defer) {
        pthread_mutex_lock(&g_mutex);
        stream_of(ordinal, stream)->enqueued++;
        pthread_mutex_unlock(&g_mutex);
        run_op(op);
        return 0;
    }
    sim_op* q = malloc(sizeof *q);
    if (q == NULL) {
        put(msg, len, "%s", "cudaMemcpyAsync failed: out of memory (cudaErrorMemoryAllocation)");
        return 1;
    }
    *q = *op;
    q->next = NULL;
    pthread_mutex_lock(&g_mutex);
    sim_stream* s = stream_of(ordinal, stream);
    q->seq = ++s->enqueued;
    if (s->tail) s->tail->next = q;
    else
        s->head = q;
    s->tail = q;
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

static int probe(int* driver_present, int32_t* driver_version, int32_t* device_count, char* reason, size_t reason_len) {
    if (!driver_present || !driver_version || !device_count) return 1;
    const char* n = getenv("SIM_CUDA_DEVICES");
    const char* m = getenv("SIM_CUDA_MEMORY_MIB");
    const char* defer = getenv("SIM_CUDA_DEFER");
    if (n) g_devices = atoi(n) < 1 ? 1 : (atoi(n) > SIM_MAX_DEVICES ? SIM_MAX_DEVICES : atoi(n));
    if (m && atoll(m) > 0) g_capacity = (unsigned long long)atoll(m) << 20;
    g_defer = defer != NULL && strcmp(defer, "1") == 0;
    *driver_present = 1;
    *driver_version = 13000;
    *device_count = g_devices;
    put(reason, reason_len, "%s", "");
    return 0;
}

static int device_properties(int32_t ordinal, aph_cuda_module_device* out, char* msg, size_t len) {
    if (ordinal < 0 || ordinal >= g_devices) {
        report(msg, len, "cudaGetDeviceProperties", sim_fail(SIM_ERR_INVALID_DEVICE));
        return 1;
    }
    snprintf(out->name, sizeof out->name, "Simulated CUDA device %d", ordinal);
    out->cc_major = 9;
    out->cc_minor = 0;
    out->multiprocessors = 132;
    out->total_memory = g_capacity;
    return 0;
}

static int memory_info(int32_t ordinal, uint64_t* free_bytes, uint64_t* total_bytes, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    pthread_mutex_lock(&g_mutex);
    if (free_bytes) *free_bytes = g_capacity - g_used[ordinal];
    if (total_bytes) *total_bytes = g_capacity;
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

/* Device memory: host memory with a header recording its size and device, poisoned on
 * allocation so that reads of uninitialised memory show. */
typedef struct sim_header {
    unsigned long long bytes;
    int32_t ordinal;
    char pad[512 - sizeof(unsigned long long) - sizeof(int32_t)];
} sim_header;

static int mem_alloc(int32_t ordinal, size_t bytes, void** out, int* out_of_memory, char* msg, size_t len) {
    if (out_of_memory) *out_of_memory = 0;
    SIM_GUARD_DEVICE(ordinal);
    pthread_mutex_lock(&g_mutex);
    const int injected = g_fail_malloc;
    g_fail_malloc = 0;
    const int refuse = !injected && bytes > g_capacity - g_used[ordinal];
    if (!injected && !refuse) g_used[ordinal] += bytes;
    pthread_mutex_unlock(&g_mutex);
    sim_header* h = injected || refuse ? NULL : aligned_alloc(512, sizeof(sim_header) + (bytes + 511) / 512 * 512);
    if (h == NULL) {
        if (!injected && !refuse) {
            pthread_mutex_lock(&g_mutex);
            g_used[ordinal] -= bytes;
            pthread_mutex_unlock(&g_mutex);
        }
        /* As module.cu's mem_alloc: the failure is recorded as the thread's error, then consumed
         * whatever it was. */
        const int err = sim_fail(injected ? injected : SIM_ERR_MEMORY_ALLOCATION);
        if (out_of_memory) *out_of_memory = err == SIM_ERR_MEMORY_ALLOCATION;
        report(msg, len, "cudaMalloc", err);
        return 1;
    }
    h->bytes = bytes;
    h->ordinal = ordinal;
    memset(h + 1, 0xAB, bytes);
    *out = h + 1;
    return 0;
}

static int mem_free(int32_t ordinal, void* ptr, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    if (ptr == NULL) return 0;
    sim_header* h = (sim_header*)ptr - 1;
    if (h->ordinal != ordinal) {
        aph_cuda_consume(&k_rt, sim_fail(SIM_ERR_INVALID_VALUE));
        put(msg, len, "cudaFree failed: pointer of device %d freed on device %d", h->ordinal, ordinal);
        return 1;
    }
    flush_all(); /* cudaFree synchronises the device */
    pthread_mutex_lock(&g_mutex);
    g_used[ordinal] -= h->bytes;
    pthread_mutex_unlock(&g_mutex);
    free(h);
    return 0;
}

/* Page-locked memory: a 4096-byte header before the memory holds its size. */
#define SIM_HOST_HEADER 4096

static int host_alloc(size_t bytes, void** out, int* out_of_memory, char* msg, size_t len) {
    if (out_of_memory) *out_of_memory = 0;
    char* p = aligned_alloc(4096, SIM_HOST_HEADER + (bytes + 4095) / 4096 * 4096);
    if (p == NULL) {
        if (out_of_memory) *out_of_memory = 1;
        put(msg, len, "cudaHostAlloc failed: out of memory (cudaErrorMemoryAllocation)");
        return 1;
    }
    memcpy(p, &bytes, sizeof bytes);
    pthread_mutex_lock(&g_mutex);
    g_host_bytes += bytes;
    pthread_mutex_unlock(&g_mutex);
    *out = p + SIM_HOST_HEADER;
    return 0;
}

static int host_free(void* ptr, char* msg, size_t len) {
    (void)msg;
    (void)len;
    if (ptr == NULL) return 0;
    flush_all(); /* cudaFreeHost synchronises the device */
    char* p = (char*)ptr - SIM_HOST_HEADER;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    pthread_mutex_lock(&g_mutex);
    g_host_bytes -= bytes;
    pthread_mutex_unlock(&g_mutex);
    free(p);
    return 0;
}

static int memcpy_async(int32_t ordinal, void* dst, const void* src, size_t bytes, void* stream, char* msg,
                        size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    const sim_op op = {.kind = OP_COPY, .dst = dst, .src = src, .bytes = bytes};
    return submit(ordinal, stream, &op, msg, len);
}

static int memcpy_peer_async(void* dst, int32_t dst_ordinal, const void* src, int32_t src_ordinal, size_t bytes,
                             void* stream, char* msg, size_t len) {
    SIM_GUARD_DEVICE(src_ordinal);
    if (dst_ordinal < 0 || dst_ordinal >= g_devices) {
        report(msg, len, "cudaMemcpyPeerAsync", sim_fail(SIM_ERR_INVALID_DEVICE));
        return 1;
    }
    const sim_op op = {.kind = OP_COPY, .dst = dst, .src = src, .bytes = bytes};
    return submit(src_ordinal, stream, &op, msg, len);
}

static int memset_async(int32_t ordinal, void* ptr, int value, size_t bytes, void* stream, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    const sim_op op = {.kind = OP_SET, .dst = ptr, .value = value, .bytes = bytes};
    return submit(ordinal, stream, &op, msg, len);
}

static int strided_copy_async(int32_t ordinal, const aph_cuda_strided_copy* c, void* stream, char* msg, size_t len) {
    if (c == NULL || c->ndim < 0 || c->ndim > APH_CUDA_MAX_DIMS) {
        put(msg, len, "%s", "strided copy: invalid parameters");
        return 1;
    }
    int64_t numel = 1;
    for (int d = 0; d < c->ndim; ++d) numel *= c->shape[d];
    if (numel == 0) return 0;
    SIM_GUARD_DEVICE(ordinal);
    if (c->elem_size != 1 && c->elem_size != 2 && c->elem_size != 4 && c->elem_size != 8) {
        put(msg, len, "strided copy: element size %d not supported", c->elem_size);
        return 1;
    }
    /* A kernel launch, as in module.cu: stale errors dropped before, the launch's own read after. */
    aph_cuda_before_launch(&k_rt);
    const sim_op op = {.kind = OP_STRIDED, .strided = *c}; /* a copy: the caller's may be gone by then */
    if (submit(ordinal, stream, &op, msg, len) != 0) return 1;
    const int err = aph_cuda_launch_result(&k_rt);
    if (err != SIM_SUCCESS) {
        put_sim(msg, len, "strided copy kernel launch", err);
        return 1;
    }
    return 0;
}

/* The launch itself: run now (immediate mode: the kernel's own status, as a synchronous device
 * would report it) or queued (deferred mode). */
static int launch_kernel(int32_t ordinal, int32_t kernel, const void* desc, size_t desc_size, void* stream, char* msg,
                         size_t len) {
    if (!g_defer) {
        pthread_mutex_lock(&g_mutex);
        stream_of(ordinal, stream)->enqueued++;
        pthread_mutex_unlock(&g_mutex);
        return sim_run_kernel(kernel, desc, msg, len);
    }
    void* copy = malloc(desc_size);
    if (copy == NULL) {
        put(msg, len, "%s", "kernel launch: out of memory (cudaErrorMemoryAllocation)");
        return APH_K_STATUS_OUT_OF_MEMORY;
    }
    memcpy(copy, desc, desc_size);
    const sim_op op = {.kind = OP_KERNEL, .kernel = kernel, .desc = copy};
    const int rc = submit(ordinal, stream, &op, msg, len);
    if (rc != 0) free(copy);
    return rc;
}

static int kernel_launch(int32_t ordinal, int32_t kernel, const void* desc, size_t desc_size, void* stream, char* msg,
                         size_t len) {
    if (desc == NULL) {
        put(msg, len, "%s", "kernel launch: descriptor is NULL");
        return APH_K_STATUS_FAILED;
    }
    SIM_GUARD_DEVICE(ordinal);
    /* As module.cu's kernel_launch and the launchers behind it: stale errors dropped, the launch,
     * then its error read with cudaGetLastError (a stale one would be reported as the launch's). */
    aph_cuda_before_launch(&k_rt);
    const int rc = launch_kernel(ordinal, kernel, desc, desc_size, stream, msg, len);
    if (rc != 0) return rc;
    const int err = aph_cuda_launch_result(&k_rt);
    if (err != SIM_SUCCESS) {
        put_sim(msg, len, "kernel launch", err);
        return APH_K_STATUS_FAILED;
    }
    return 0;
}

static int stream_create(int32_t ordinal, void** out, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    sim_stream* s = calloc(1, sizeof *s);
    pthread_mutex_lock(&g_mutex);
    const int full = s == NULL || g_nstreams == (int)(sizeof g_streams / sizeof g_streams[0]);
    if (!full) {
        g_streams[g_nstreams++] = s;
        g_live_streams++;
    }
    pthread_mutex_unlock(&g_mutex);
    if (full) {
        free(s);
        put(msg, len, "%s", "cudaStreamCreateWithFlags failed: out of resources");
        return 1;
    }
    *out = s;
    return 0;
}

static int stream_destroy(int32_t ordinal, void* stream, char* msg, size_t len) {
    /* Kept allocated: events recorded on it stay queryable, as CUDA allows, and its queued work
     * still runs at the next flush that reaches it. */
    SIM_GUARD_DEVICE(ordinal);
    if (stream == NULL) {
        put(msg, len, "%s", "cudaStreamDestroy failed: the legacy default stream (cudaErrorInvalidResourceHandle)");
        return 1;
    }
    pthread_mutex_lock(&g_mutex);
    g_live_streams--;
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

static int stream_synchronize(int32_t ordinal, void* stream, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    pthread_mutex_lock(&g_mutex);
    sim_stream* s = stream_of(ordinal, stream);
    flush_locked(s, s->enqueued);
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

static int stream_query(int32_t ordinal, void* stream, int* idle, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    pthread_mutex_lock(&g_mutex);
    sim_stream* s = stream_of(ordinal, stream);
    const int done = s->done == s->enqueued;
    pthread_mutex_unlock(&g_mutex);
    /* cudaStreamQuery: not done is cudaErrorNotReady, recorded as the thread's error. */
    const int err = done ? SIM_SUCCESS : sim_fail(SIM_ERR_NOT_READY);
    if (aph_cuda_query(&k_rt, err, idle) != SIM_SUCCESS) {
        put_sim(msg, len, "cudaStreamQuery", err);
        return 1;
    }
    return 0;
}

static int event_create(int32_t ordinal, void** out, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    sim_event* e = calloc(1, sizeof *e);
    if (e == NULL) {
        put(msg, len, "%s", "cudaEventCreateWithFlags failed: out of memory");
        return 1;
    }
    *out = e;
    return 0;
}

static int event_destroy(void* event, char* msg, size_t len) {
    (void)msg;
    (void)len;
    free(event);
    return 0;
}

static int event_record(int32_t ordinal, void* event, void* stream, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    pthread_mutex_lock(&g_mutex);
    sim_event* e = event;
    e->stream = stream_of(ordinal, stream);
    e->seq = e->stream->enqueued;
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

static int event_query(void* event, int* done, char* msg, size_t len) {
    pthread_mutex_lock(&g_mutex);
    const sim_event* e = event;
    const int complete = e->stream == NULL || e->stream->done >= e->seq;
    pthread_mutex_unlock(&g_mutex);
    /* cudaEventQuery: not done is cudaErrorNotReady, recorded as the thread's error. */
    const int err = complete ? SIM_SUCCESS : sim_fail(SIM_ERR_NOT_READY);
    if (aph_cuda_query(&k_rt, err, done) != SIM_SUCCESS) {
        put_sim(msg, len, "cudaEventQuery", err);
        return 1;
    }
    return 0;
}

static int event_synchronize(void* event, char* msg, size_t len) {
    (void)msg;
    (void)len;
    pthread_mutex_lock(&g_mutex);
    sim_event* e = event;
    if (e->stream) flush_locked(e->stream, e->seq);
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

static int stream_wait_event(int32_t ordinal, void* stream, void* event, char* msg, size_t len) {
    (void)stream;
    SIM_GUARD_DEVICE(ordinal);
    if (!g_defer) return 0; /* operations ran at once: nothing to wait for */
    /* Deferred: run the event's work now, so everything queued on stream later runs after it. */
    pthread_mutex_lock(&g_mutex);
    sim_event* e = event;
    if (e->stream) flush_locked(e->stream, e->seq);
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

static int device_synchronize(int32_t ordinal, char* msg, size_t len) {
    SIM_GUARD_DEVICE(ordinal);
    pthread_mutex_lock(&g_mutex);
    flush_all_locked();
    pthread_mutex_unlock(&g_mutex);
    return 0;
}

static const aph_cuda_module_api kApi = {
    APH_CUDA_MODULE_ABI_VERSION,
    APHELION_VERSION_STRING,
    13000,
    probe,
    device_properties,
    memory_info,
    mem_alloc,
    mem_free,
    host_alloc,
    host_free,
    memcpy_async,
    memcpy_peer_async,
    memset_async,
    strided_copy_async,
    stream_create,
    stream_destroy,
    stream_synchronize,
    stream_query,
    event_create,
    event_destroy,
    event_record,
    event_query,
    event_synchronize,
    stream_wait_event,
    device_synchronize,
    kernel_launch,
};

__attribute__((visibility("default"))) const aph_cuda_module_api* aph_cuda_module_entry(void) { return &kApi; }
