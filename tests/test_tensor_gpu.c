/* test_tensor_gpu.c — sections 10 to 13 of aphelion.h on a CUDA device (label gpu). Exits 77
 * (skipped) before cmocka starts where aph_device_count(APH_DEVICE_CUDA) is 0.
 *
 * On cuda:0: tensors of every width of element (f32, bf16 as uint16 bits, f64, i8, i64, bool)
 * through create / zeros / from_host / to_host / copy_from_host, for one element, odd sizes,
 * 0-dimensional and zero-size shapes, and a transfer larger than the 64 MiB staging chunk;
 * zeros that are really zero in a cached block that held garbage; 512-byte alignment; strided
 * views (permuted, sliced with steps, selected, expanded with stride 0) read back against a
 * reference gathered on the host, written through copy_from_host (sync and async) and checked
 * in the base; aph_tensor_copy between CUDA layouts and between CPU and CUDA with
 * non-contiguous sides in both directions; contiguous and to_device. Streams: asynchronous
 * copies on created streams (the source of copy_from_host_async reusable at once), events
 * ordering two streams, the cudaStream_t handles and wrapping one without owning it. The
 * caching allocator: rounded sizes, 2 MiB and 20 MiB segments, reuse on the same stream only,
 * blocks held back while another stream may still use them (record_stream), empty_cache,
 * budgets, and a real out-of-memory that the process survives. DLPack export and zero-copy
 * import (kDLCUDA and kDLCUDAManaged). Raw device memory. Copies between two GPUs when the
 * machine has them (skipped otherwise). Staging: back-to-back asynchronous uploads never share
 * a staging buffer before its copy ran; synchronous copies leave the stream idle; a CPU stream
 * waiting for a CUDA event blocks until it completes.
 *
 * Against the simulated module (tests/sim_cuda_module.c, both its immediate and its deferred
 * mode; found through dlsym on $APHELION_CUDA_MODULE, absent on a real GPU) the test also reads
 * the module's counters: created streams are destroyed once released, and no page-locked memory
 * is left after empty_cache. Asynchronous calls leave their stream busy there (on a real GPU
 * that depends on timing and is not asserted).
 *
 * Inputs are fresh random values (seeded from the clock; APH_TEST_SEED=n replays a run); host
 * buffers are poisoned with 0xCD before anything is read into them; copies compare bytes. */
#define _DEFAULT_SOURCE /* clock_gettime */
#include "test_util.h"

#include <aphelion_dlpack.h>

#include <dlfcn.h>
#include <time.h>

#define MiB ((uint64_t)1024 * 1024)
#define POISON 0xCD

/* An out parameter's value before a call that must fail; it must still be there afterwards. */
#define SENTINEL ((aph_tensor*)(uintptr_t)0x5E47E1A0u)
#define SENTINEL_PTR ((void*)(uintptr_t)0x5E47E1A0u)

static int32_t g_count;   /* CUDA devices */
static aph_device* g_dev; /* cuda:0, held for the whole run */
static aph_device* g_cpu;
static uint64_t g_seed0; /* this run's seed, printed at the start */
static uint64_t g_rng;

/* The simulated module's counters (NULL on a real GPU) and whether it defers stream work. */
static int (*g_sim_live_streams)(void);
static unsigned long long (*g_sim_host_bytes)(void);
static int g_sim_defer;

/* Asserts the status of expr by name (so a failure prints names, not numbers). */
#define ASSERT_STATUS(expr, code)                                                                 \
    do {                                                                                          \
        aph_status st_ = (expr);                                                                  \
        if (st_ != (code)) print_error("%s: %s\n", #expr, st_ == APH_OK ? "" : aph_last_error()); \
        assert_string_equal(aph_status_name(st_), aph_status_name(code));                         \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static uint64_t fresh_seed(void) {
    const char* env = getenv("APH_TEST_SEED");
    if (env != NULL && *env != '\0') return strtoull(env, NULL, 10) | 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    return s ? s : 1;
}

static int64_t shape_numel(const int64_t* shape, size_t ndim) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; ++i) n *= shape[i];
    return n;
}

static void contiguous_strides(const int64_t* shape, size_t ndim, int64_t* strides) {
    int64_t s = 1;
    for (size_t i = ndim; i-- > 0;) {
        strides[i] = s;
        s *= shape[i] > 1 ? shape[i] : 1;
    }
}

static void* xmalloc(size_t n) {
    void* p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

/* n bytes of 0xCD: what a buffer holds before the library writes into it. */
static unsigned char* poisoned(size_t n) {
    unsigned char* p = (unsigned char*)xmalloc(n);
    memset(p, POISON, n ? n : 1);
    return p;
}

/* n random elements of dtype dt, never all zero: floats are finite non-zero values, bf16 is
 * random bits (never ±0), bool a mix of 0 and 1 with every third element 1, integers have no
 * zero element. */
static void fill_random(void* buf, int64_t n, aph_dtype dt) {
    for (int64_t i = 0; i < n; ++i) {
        uint64_t r = aph_test_rand(&g_rng);
        switch (dt) {
            case APH_DTYPE_F32: {
                int64_t v = (int64_t)(r % 200001) - 100000;
                ((float*)buf)[i] = (float)(v ? v : 77) / 64.0f;
                break;
            }
            case APH_DTYPE_F64: {
                int64_t v = (int64_t)(r % 2000000001) - 1000000000;
                ((double*)buf)[i] = (double)(v ? v : 77) / 4096.0;
                break;
            }
            case APH_DTYPE_F16:
            case APH_DTYPE_BF16:
            case APH_DTYPE_I16: {
                uint16_t v = (uint16_t)(r >> 20);
                if ((v & 0x7fff) == 0) v |= 0x3c00;
                ((uint16_t*)buf)[i] = v;
                break;
            }
            case APH_DTYPE_U32:
            case APH_DTYPE_I32: {
                uint32_t v = (uint32_t)(r >> 16);
                ((uint32_t*)buf)[i] = v ? v : 0x1234u;
                break;
            }
            case APH_DTYPE_I64: ((uint64_t*)buf)[i] = r ? r : 99u; break;
            case APH_DTYPE_BOOL: ((uint8_t*)buf)[i] = (uint8_t)(i % 3 == 0 ? 1 : (r >> 33) & 1); break;
            default: { /* u8, i8, fp8: one byte */
                uint8_t v = (uint8_t)(r >> 40);
                ((uint8_t*)buf)[i] = v ? v : 0x5a;
                break;
            }
        }
    }
}

/* n random bytes, eight at a time (fast enough for hundreds of MiB). */
static void fill_bytes(void* buf, size_t n) {
    unsigned char* p = (unsigned char*)buf;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint64_t r = aph_test_rand(&g_rng) | 0x0101010101010101ULL;
        memcpy(p + i, &r, 8);
    }
    const uint64_t r = aph_test_rand(&g_rng) | 0x0101010101010101ULL;
    memcpy(p + i, &r, n - i);
}

/* A malloc'd host buffer of numel random elements. */
static void* random_host(aph_dtype dt, int64_t numel) {
    void* p = xmalloc((size_t)numel * aph_dtype_size(dt));
    fill_random(p, numel, dt);
    return p;
}

static void* dup_bytes(const void* p, size_t n) {
    void* q = xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

/* Byte comparison that says where the first difference is. */
static void assert_bytes_equal(const void* got, const void* want, size_t n, const char* what) {
    if (n == 0 || memcmp(got, want, n) == 0) return;
    const unsigned char* g = (const unsigned char*)got;
    const unsigned char* w = (const unsigned char*)want;
    size_t i = 0;
    while (g[i] == w[i]) ++i;
    print_error("%s: first difference at byte %zu of %zu (got 0x%02x, want 0x%02x); seed %llu\n", what, i, n, g[i],
                w[i], (unsigned long long)g_seed0);
    fail();
}

static void assert_all_zero(const void* p, size_t n, const char* what) {
    const unsigned char* b = (const unsigned char*)p;
    for (size_t i = 0; i < n; ++i) {
        if (b[i] != 0) {
            print_error("%s: byte %zu of %zu is 0x%02x, expected 0; seed %llu\n", what, i, n, b[i],
                        (unsigned long long)g_seed0);
            fail();
        }
    }
}

/* aph_tensor_to_host of t into a poisoned buffer (caller frees). */
static unsigned char* read_back(const aph_tensor* t) {
    const size_t n = (size_t)aph_tensor_nbytes(t);
    unsigned char* buf = poisoned(n);
    APH_ASSERT_OK(aph_tensor_to_host(t, buf, n));
    return buf;
}

/* to_host of t compared with want (nbytes bytes). */
static void assert_tensor_bytes(const aph_tensor* t, const void* want, size_t nbytes, const char* what) {
    assert_int_equal(aph_tensor_nbytes(t), nbytes);
    unsigned char* buf = read_back(t);
    assert_bytes_equal(buf, want, nbytes, what);
    free(buf);
}

/* A tensor on device d holding fresh random data; *host (malloc'd, caller frees) receives it. */
static aph_tensor* random_tensor_on(aph_device* d, aph_dtype dt, const int64_t* shape, size_t ndim, void** host) {
    const int64_t numel = shape_numel(shape, ndim);
    void* h = random_host(dt, numel);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(d, dt, ndim ? shape : NULL, ndim, h, (size_t)numel * aph_dtype_size(dt), &t));
    assert_non_null(t);
    if (host) *host = h;
    else
        free(h);
    return t;
}

static aph_tensor* cuda_random(aph_dtype dt, const int64_t* shape, size_t ndim, void** host) {
    return random_tensor_on(g_dev, dt, shape, ndim, host);
}

static aph_memory_stats stats_of(aph_device* d) {
    aph_memory_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    APH_ASSERT_OK(aph_device_memory_stats(d, &s));
    return s;
}

/* The row-major elements of the view (shape, strides, offset in elements) of base, as the
 * reference the library's gathers are compared with. */
static void host_gather(void* dst, const void* base, size_t es, size_t ndim, const int64_t* shape,
                        const int64_t* strides, int64_t offset) {
    const int64_t n = shape_numel(shape, ndim);
    int64_t idx[APH_TENSOR_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; ++i) {
        int64_t off = offset;
        for (size_t d = 0; d < ndim; ++d) off += idx[d] * strides[d];
        memcpy((char*)dst + (size_t)i * es, (const char*)base + (size_t)off * es, es);
        for (size_t d = ndim; d-- > 0;) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* The inverse: writes row-major src into the view of base. */
static void host_scatter(void* base, const void* src, size_t es, size_t ndim, const int64_t* shape,
                         const int64_t* strides, int64_t offset) {
    const int64_t n = shape_numel(shape, ndim);
    int64_t idx[APH_TENSOR_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; ++i) {
        int64_t off = offset;
        for (size_t d = 0; d < ndim; ++d) off += idx[d] * strides[d];
        memcpy((char*)base + (size_t)off * es, (const char*)src + (size_t)i * es, es);
        for (size_t d = ndim; d-- > 0;) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* A view's layout: asserts what the getters report. */
static void check_layout(const aph_tensor* v, aph_device* d, size_t ndim, const int64_t* shape, const int64_t* strides,
                         int64_t off, int contig) {
    const size_t es = aph_dtype_size(aph_tensor_dtype(v));
    assert_ptr_equal(aph_tensor_device(v), d);
    assert_int_equal(aph_tensor_ndim(v), ndim);
    if (ndim > 0) {
        assert_memory_equal(aph_tensor_shape(v), shape, ndim * sizeof(int64_t));
        assert_memory_equal(aph_tensor_strides(v), strides, ndim * sizeof(int64_t));
    }
    assert_int_equal(aph_tensor_byte_offset(v), (uint64_t)off * es);
    assert_int_equal(aph_tensor_is_contiguous(v), contig);
}

/* Everything the getters report for a fresh contiguous CUDA tensor. */
static void check_cuda_tensor(const aph_tensor* t, aph_dtype dt, const int64_t* shape, size_t ndim) {
    assert_non_null(t);
    const int64_t numel = shape_numel(shape, ndim);
    aph_device* d = aph_tensor_device(t);
    assert_ptr_equal(d, g_dev);
    assert_int_equal(aph_device_get_kind(d), APH_DEVICE_CUDA);
    assert_int_equal(aph_device_ordinal(d), 0);
    assert_int_equal(aph_tensor_dtype(t), dt);
    assert_int_equal(aph_tensor_ndim(t), ndim);
    assert_int_equal(aph_tensor_numel(t), numel);
    assert_int_equal(aph_tensor_nbytes(t), (uint64_t)numel * aph_dtype_size(dt));
    assert_int_equal(aph_tensor_byte_offset(t), 0);
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    if (ndim == 0) {
        assert_null(aph_tensor_shape(t));
        assert_null(aph_tensor_strides(t));
    } else {
        assert_memory_equal(aph_tensor_shape(t), shape, ndim * sizeof(int64_t));
        if (numel > 0) {
            int64_t want[APH_TENSOR_MAX_DIMS];
            contiguous_strides(shape, ndim, want);
            assert_memory_equal(aph_tensor_strides(t), want, ndim * sizeof(int64_t));
        }
    }
    if (numel == 0) {
        assert_null(aph_tensor_data(t));
    } else {
        assert_non_null(aph_tensor_data(t));
        assert_int_equal((uintptr_t)aph_tensor_data(t) % 512, 0);
    }
}

static aph_stream* new_stream(void) {
    aph_stream* s = NULL;
    APH_ASSERT_OK(aph_stream_create(g_dev, &s));
    assert_non_null(s);
    return s;
}

/* Looks up the simulated module's counters in the module the library loaded (it must have been
 * loaded already: RTLD_NOLOAD). A real CUDA module has no such symbols. */
static void find_sim_counters(void) {
    const char* path = getenv("APHELION_CUDA_MODULE");
    if (path == NULL || *path == '\0') return;
    void* h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) return;
    void* live = dlsym(h, "sim_cuda_live_streams");
    void* host = dlsym(h, "sim_cuda_host_bytes");
    memcpy(&g_sim_live_streams, &live, sizeof live);
    memcpy(&g_sim_host_bytes, &host, sizeof host);
    dlclose(h); /* the library keeps its own reference */
    const char* defer = getenv("SIM_CUDA_DEFER");
    g_sim_defer = g_sim_live_streams != NULL && defer != NULL && strcmp(defer, "1") == 0;
}

static int stream_idle(aph_stream* s) {
    int idle = -1;
    APH_ASSERT_OK(aph_stream_query(s, &idle));
    assert_true(idle == 0 || idle == 1);
    return idle;
}

/* ---------------------------------------------------------------------------------------------
 * Tensors: round trips, zero-size, zeros, large transfers
 * ------------------------------------------------------------------------------------------- */

static const aph_dtype k_dtypes[] = {
    APH_DTYPE_F32, APH_DTYPE_BF16, APH_DTYPE_F64, APH_DTYPE_I8, APH_DTYPE_I64, APH_DTYPE_BOOL,
};
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

static void test_round_trips(void** state) {
    (void)state;
    static const int64_t shapes[][3] = {{0}, {1}, {1000003}, {3, 5, 7}, {1, 1, 1}, {2, 129}, {7, 1}};
    static const size_t ndims[] = {0, 1, 1, 3, 3, 2, 2};
    for (size_t k = 0; k < N_DTYPES; ++k) {
        const aph_dtype dt = k_dtypes[k];
        for (size_t s = 0; s < sizeof ndims / sizeof ndims[0]; ++s) {
            const size_t ndim = ndims[s];
            const int64_t* shape = ndim ? shapes[s] : NULL;
            const int64_t numel = shape_numel(shape, ndim);
            const size_t nbytes = (size_t)numel * aph_dtype_size(dt);

            void* h = NULL;
            aph_tensor* t = cuda_random(dt, shape, ndim, &h);
            check_cuda_tensor(t, dt, shape, ndim);
            assert_tensor_bytes(t, h, nbytes, "from_host -> to_host");

            /* create, then copy_from_host with other data. */
            void* h2 = random_host(dt, numel);
            aph_tensor* u = NULL;
            APH_ASSERT_OK(aph_tensor_create(g_dev, dt, shape, ndim, &u));
            check_cuda_tensor(u, dt, shape, ndim);
            assert_ptr_not_equal(aph_tensor_data(u), aph_tensor_data(t));
            APH_ASSERT_OK(aph_tensor_copy_from_host(u, h2, nbytes));
            assert_tensor_bytes(u, h2, nbytes, "create + copy_from_host -> to_host");
            assert_tensor_bytes(t, h, nbytes, "the first tensor is unchanged");

            /* Overwrite the first one in place; read it into an unaligned host buffer. */
            APH_ASSERT_OK(aph_tensor_copy_from_host(t, h2, nbytes));
            unsigned char* odd = poisoned(nbytes + 3);
            APH_ASSERT_OK(aph_tensor_to_host(t, odd + 3, nbytes));
            assert_bytes_equal(odd + 3, h2, nbytes, "copy_from_host over data -> unaligned to_host");
            for (int i = 0; i < 3; ++i) assert_int_equal(odd[i], POISON);
            free(odd);

            /* to_host_async on the default stream, then wait for it. */
            unsigned char* buf = poisoned(nbytes);
            APH_ASSERT_OK(aph_tensor_to_host_async(u, buf, nbytes, NULL));
            APH_ASSERT_OK(aph_stream_synchronize(aph_device_default_stream(g_dev)));
            assert_bytes_equal(buf, h2, nbytes, "to_host_async (default stream)");
            free(buf);

            aph_tensor_release(u);
            aph_tensor_release(t);
            free(h2);
            free(h);
        }
    }

    /* A byte count that is not the tensor's is a shape mismatch; nothing is written. */
    const int64_t shape[] = {3, 5};
    void* h = NULL;
    aph_tensor* t = cuda_random(APH_DTYPE_F32, shape, 2, &h);
    unsigned char* buf = poisoned(64);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_to_host(t, buf, 59), APH_ERR_SHAPE_MISMATCH,
                            "shape mismatch: expected [60], got [59]");
    for (int i = 0; i < 64; ++i) assert_int_equal(buf[i], POISON);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host(t, buf, 61), APH_ERR_SHAPE_MISMATCH,
                            "shape mismatch: expected [60], got [61]");
    aph_tensor* out = SENTINEL;
    APH_ASSERT_ERR_CONTAINS(aph_tensor_from_host(g_dev, APH_DTYPE_F32, shape, 2, h, 56, &out), APH_ERR_SHAPE_MISMATCH,
                            "shape mismatch: expected [60], got [56]");
    assert_ptr_equal(out, SENTINEL);
    assert_tensor_bytes(t, h, 60, "unchanged after the refused copies");
    free(buf);
    free(h);
    aph_tensor_release(t);
}

static void test_zero_size(void** state) {
    (void)state;
    static const int64_t shapes[][3] = {{0}, {3, 0, 5}, {0, 0}};
    static const size_t ndims[] = {1, 3, 2};
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    const aph_memory_stats s0 = stats_of(g_dev);
    int dummy = 7;
    for (size_t k = 0; k < N_DTYPES; ++k) {
        const aph_dtype dt = k_dtypes[k];
        for (size_t s = 0; s < 3; ++s) {
            const int64_t* shape = shapes[s];
            const size_t ndim = ndims[s];
            aph_tensor* a = NULL;
            APH_ASSERT_OK(aph_tensor_create(g_dev, dt, shape, ndim, &a));
            check_cuda_tensor(a, dt, shape, ndim);
            aph_tensor* z = NULL;
            APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, ndim, &z));
            check_cuda_tensor(z, dt, shape, ndim);
            aph_tensor* f = NULL;
            APH_ASSERT_OK(aph_tensor_from_host(g_dev, dt, shape, ndim, NULL, 0, &f));
            check_cuda_tensor(f, dt, shape, ndim);
            aph_tensor_release(f);
            APH_ASSERT_OK(aph_tensor_from_host(g_dev, dt, shape, ndim, &dummy, 0, &f));
            check_cuda_tensor(f, dt, shape, ndim);

            APH_ASSERT_OK(aph_tensor_to_host(a, NULL, 0));
            APH_ASSERT_OK(aph_tensor_copy_from_host(a, NULL, 0));
            APH_ASSERT_OK(aph_tensor_to_host_async(a, NULL, 0, NULL));
            APH_ASSERT_OK(aph_tensor_copy_from_host_async(a, NULL, 0, NULL));
            APH_ASSERT_OK(aph_tensor_copy(a, z));
            APH_ASSERT_OK(aph_tensor_copy(f, a));

            aph_tensor* c = NULL;
            APH_ASSERT_OK(aph_tensor_to_device(a, g_cpu, &c));
            assert_ptr_equal(aph_tensor_device(c), g_cpu);
            assert_int_equal(aph_tensor_numel(c), 0);
            assert_null(aph_tensor_data(c));
            aph_tensor* back = NULL;
            APH_ASSERT_OK(aph_tensor_to_device(c, g_dev, &back));
            check_cuda_tensor(back, dt, shape, ndim);
            APH_ASSERT_OK(aph_tensor_copy(back, c));
            APH_ASSERT_OK(aph_tensor_copy(c, back));

            aph_tensor_release(back);
            aph_tensor_release(c);
            aph_tensor_release(f);
            aph_tensor_release(z);
            aph_tensor_release(a);
        }
    }
    /* Zero-size tensors take no memory. */
    const aph_memory_stats s1 = stats_of(g_dev);
    assert_int_equal(s1.allocations, s0.allocations);
    assert_int_equal(s1.allocated_bytes, s0.allocated_bytes);
}

/* Zeros are zero even in a cached block that held garbage: the garbage tensor's block is handed
 * straight back to aph_tensor_zeros (same stream, same size: the same pointer). */
static void test_zeros_after_garbage(void** state) {
    (void)state;
    /* Nothing queued and no block waiting on an event: the pools change only by our calls. */
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    APH_ASSERT_OK(aph_device_empty_cache(g_dev));
    static const int64_t sizes[] = {1, 100, 128, 1000, 70000, 262144, 300000, 3000000, 7000001};
    for (int round = 0; round < 2; ++round) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
            const int64_t shape[] = {sizes[i]};
            const int64_t shape2[] = {sizes[i], 2};
            const size_t nbytes = (size_t)sizes[i] * 4;
            unsigned char* garbage = (unsigned char*)xmalloc(nbytes);

            fill_bytes(garbage, nbytes);
            aph_tensor* g = NULL;
            APH_ASSERT_OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, shape, 1, garbage, nbytes, &g));
            const void* gp = aph_tensor_data(g);
            aph_tensor_release(g);
            aph_tensor* z = NULL;
            APH_ASSERT_OK(aph_tensor_zeros(g_dev, APH_DTYPE_F32, shape, 1, &z));
            check_cuda_tensor(z, APH_DTYPE_F32, shape, 1);
            assert_ptr_equal(aph_tensor_data(z), gp); /* the dirty block came back */
            unsigned char* buf = read_back(z);
            assert_all_zero(buf, nbytes, "f32 zeros after garbage");
            free(buf);
            aph_tensor_release(z);

            /* The same bytes seen as another dtype and shape. */
            fill_bytes(garbage, nbytes);
            APH_ASSERT_OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, shape, 1, garbage, nbytes, &g));
            gp = aph_tensor_data(g);
            aph_tensor_release(g);
            APH_ASSERT_OK(aph_tensor_zeros(g_dev, APH_DTYPE_I16, shape2, 2, &z));
            check_cuda_tensor(z, APH_DTYPE_I16, shape2, 2);
            assert_ptr_equal(aph_tensor_data(z), gp);
            buf = read_back(z);
            assert_all_zero(buf, nbytes, "i16 zeros after garbage");
            free(buf);
            aph_tensor_release(z);
            free(garbage);
        }
    }
    /* Zeros of every dtype and of a 0-dimensional shape. */
    for (size_t k = 0; k < N_DTYPES; ++k) {
        const int64_t shape[] = {5, 1001};
        const size_t nbytes = 5 * 1001 * aph_dtype_size(k_dtypes[k]);
        aph_tensor* z = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, k_dtypes[k], shape, 2, &z));
        check_cuda_tensor(z, k_dtypes[k], shape, 2);
        unsigned char* buf = read_back(z);
        assert_all_zero(buf, nbytes, "zeros");
        free(buf);
        aph_tensor_release(z);
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, k_dtypes[k], NULL, 0, &z));
        check_cuda_tensor(z, k_dtypes[k], NULL, 0);
        buf = read_back(z);
        assert_all_zero(buf, aph_dtype_size(k_dtypes[k]), "0-dim zeros");
        free(buf);
        aph_tensor_release(z);
    }
}

/* Transfers larger than the 64 MiB staging chunk, and sizes at the chunk boundary, with random
 * data checked exactly. */
static void test_large_transfers(void** state) {
    (void)state;
    /* f32, 200 MiB + 12 bytes: three whole chunks and a ragged tail. */
    const int64_t n = (int64_t)(50 * MiB) + 3;
    const size_t nbytes = (size_t)n * 4;
    const int64_t shape[] = {n};
    float* h = (float*)random_host(APH_DTYPE_F32, n);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, shape, 1, h, nbytes, &t));
    check_cuda_tensor(t, APH_DTYPE_F32, shape, 1);
    assert_tensor_bytes(t, h, nbytes, "200 MiB from_host -> to_host");

    fill_random(h, n, APH_DTYPE_F32); /* fresh values over the same tensor */
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, h, nbytes));
    assert_tensor_bytes(t, h, nbytes, "200 MiB copy_from_host -> to_host");

    unsigned char* buf = poisoned(nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, buf, nbytes, NULL));
    APH_ASSERT_OK(aph_stream_synchronize(aph_device_default_stream(g_dev)));
    assert_bytes_equal(buf, h, nbytes, "200 MiB to_host_async");
    free(buf);

    /* To the CPU and back. */
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(t, g_cpu, &c));
    assert_bytes_equal(aph_tensor_data(c), h, nbytes, "200 MiB to_device(cpu)");
    aph_tensor* back = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(c, g_dev, &back));
    check_cuda_tensor(back, APH_DTYPE_F32, shape, 1);
    assert_tensor_bytes(back, h, nbytes, "200 MiB to_device(cuda)");
    aph_tensor_release(back);
    aph_tensor_release(c);
    aph_tensor_release(t);
    free(h);

    /* Exactly one chunk, and one byte more. */
    static const int64_t edges[] = {(int64_t)(64 * MiB), (int64_t)(64 * MiB) + 1};
    for (size_t i = 0; i < 2; ++i) {
        const int64_t es[] = {edges[i]};
        unsigned char* u = (unsigned char*)xmalloc((size_t)edges[i]);
        fill_bytes(u, (size_t)edges[i]);
        APH_ASSERT_OK(aph_tensor_from_host(g_dev, APH_DTYPE_I8, es, 1, u, (size_t)edges[i], &t));
        assert_tensor_bytes(t, u, (size_t)edges[i], "chunk-boundary round trip");
        aph_tensor_release(t);
        free(u);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Strided views
 * ------------------------------------------------------------------------------------------- */

/* Reads view v (of a base whose row-major host copy is base_host) every way there is, each
 * compared with the host gather: to_host, to_host_async on stream, contiguous, a copy into a
 * CPU tensor and into a CUDA tensor, to_device(cpu). */
static void check_view_read(aph_tensor* v, const void* base_host, size_t ndim, const int64_t* shape,
                            const int64_t* strides, int64_t off, int contig, aph_stream* stream, const char* what) {
    const aph_dtype dt = aph_tensor_dtype(v);
    const size_t es = aph_dtype_size(dt);
    const int64_t n = shape_numel(shape, ndim);
    const size_t nbytes = (size_t)n * es;
    check_layout(v, g_dev, ndim, shape, strides, off, contig);
    void* want = xmalloc(nbytes);
    host_gather(want, base_host, es, ndim, shape, strides, off);

    assert_tensor_bytes(v, want, nbytes, what);

    unsigned char* buf = poisoned(nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(v, buf, nbytes, stream));
    APH_ASSERT_OK(aph_stream_synchronize(stream));
    assert_bytes_equal(buf, want, nbytes, what);
    free(buf);

    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(v, &c));
    if (contig) {
        assert_ptr_equal(c, v);
    } else {
        assert_ptr_not_equal(c, v);
        assert_int_equal(aph_tensor_shares_storage(c, v), 0);
        check_cuda_tensor(c, dt, shape, ndim);
    }
    assert_tensor_bytes(c, want, nbytes, what);
    aph_tensor_release(c);

    aph_tensor* h = NULL;
    APH_ASSERT_OK(aph_tensor_create(g_cpu, dt, shape, ndim, &h));
    memset(aph_test_data_mut(h), POISON, nbytes);
    APH_ASSERT_OK(aph_tensor_copy(h, v));
    assert_bytes_equal(aph_tensor_data(h), want, nbytes, what);
    aph_tensor_release(h);

    APH_ASSERT_OK(aph_tensor_to_device(v, g_cpu, &h));
    assert_int_equal(aph_tensor_is_contiguous(h), 1);
    assert_bytes_equal(aph_tensor_data(h), want, nbytes, what);
    aph_tensor_release(h);

    aph_tensor* d = NULL;
    APH_ASSERT_OK(aph_tensor_create(g_dev, dt, shape, ndim, &d));
    APH_ASSERT_OK(aph_tensor_copy(d, v));
    assert_tensor_bytes(d, want, nbytes, what);
    aph_tensor_release(d);
    free(want);
}

static void test_strided_reads(void** state) {
    (void)state;
    static const aph_dtype dts[] = {APH_DTYPE_I8, APH_DTYPE_BF16, APH_DTYPE_F32, APH_DTYPE_F64, APH_DTYPE_I64};
    aph_stream* s = new_stream();
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; ++k) {
        const aph_dtype dt = dts[k];
        aph_tensor* v = NULL;
        aph_tensor* w = NULL;

        /* a: [4, 5, 6], strides [30, 6, 1]. */
        const int64_t sa[] = {4, 5, 6};
        void* ha = NULL;
        aph_tensor* a = cuda_random(dt, sa, 3, &ha);
        {
            const int64_t perm[] = {2, 0, 1}, sh[] = {6, 4, 5}, st[] = {1, 30, 6};
            APH_ASSERT_OK(aph_tensor_permute(a, perm, 3, &v));
            check_view_read(v, ha, 3, sh, st, 0, 0, s, "permute(2, 0, 1)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {6, 5, 4}, st[] = {1, 6, 30};
            APH_ASSERT_OK(aph_tensor_transpose(a, 0, 2, &v));
            check_view_read(v, ha, 3, sh, st, 0, 0, s, "transpose(0, 2)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {4, 6}, st[] = {30, 1};
            APH_ASSERT_OK(aph_tensor_select(a, 1, 2, &v));
            check_view_read(v, ha, 2, sh, st, 12, 0, s, "select(1, 2)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {5, 6}, st[] = {6, 1}; /* contiguous, at an offset */
            APH_ASSERT_OK(aph_tensor_select(a, 0, -1, &v));
            check_view_read(v, ha, 2, sh, st, 90, 1, s, "select(0, -1)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {4, 5, 2}, st[] = {30, 6, 3};
            APH_ASSERT_OK(aph_tensor_slice(a, 2, 1, 6, 3, &v));
            check_view_read(v, ha, 3, sh, st, 1, 0, s, "slice(2, 1, 6, step 3)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {2, 5, 6}, st[] = {60, 6, 1};
            APH_ASSERT_OK(aph_tensor_slice(a, 0, -3, INT64_MAX, 2, &v));
            check_view_read(v, ha, 3, sh, st, 30, 0, s, "slice(0, -3, max, step 2)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {4, 3, 6}, st[] = {30, 6, 1};
            APH_ASSERT_OK(aph_tensor_narrow(a, 1, 1, 3, &v));
            check_view_read(v, ha, 3, sh, st, 6, 0, s, "narrow(1, 1, 3)");
            aph_tensor_release(v);
        }

        /* b: [10, 7]; rows 1, 4, 7 and, of those, columns 2 and 5. */
        const int64_t sb[] = {10, 7};
        void* hb = NULL;
        aph_tensor* b = cuda_random(dt, sb, 2, &hb);
        {
            const int64_t sh[] = {3, 7}, st[] = {21, 1};
            APH_ASSERT_OK(aph_tensor_slice(b, 0, 1, 10, 3, &v));
            check_view_read(v, hb, 2, sh, st, 7, 0, s, "slice(0, 1, 10, step 3)");
            const int64_t sh2[] = {3, 2}, st2[] = {21, 3};
            APH_ASSERT_OK(aph_tensor_slice(v, 1, 2, 7, 3, &w));
            check_view_read(w, hb, 2, sh2, st2, 9, 0, s, "slice of a slice, both step 3");
            aph_tensor_release(v);
            const int64_t sh3[] = {2, 3}, st3[] = {3, 21};
            APH_ASSERT_OK(aph_tensor_transpose(w, 0, 1, &v));
            check_view_read(v, hb, 2, sh3, st3, 9, 0, s, "transposed slice");
            aph_tensor_release(v);
            aph_tensor_release(w);
        }

        /* Expanded (stride 0) views of [1, 5], [3, 1] and a 0-dimensional tensor. */
        const int64_t sc[] = {1, 5};
        void* hc = NULL;
        aph_tensor* c = cuda_random(dt, sc, 2, &hc);
        {
            const int64_t sh[] = {4, 5}, st[] = {0, 1};
            APH_ASSERT_OK(aph_tensor_expand(c, sh, 2, &v));
            check_view_read(v, hc, 2, sh, st, 0, 0, s, "expand [1, 5] -> [4, 5]");
            aph_tensor_release(v);
            const int64_t sh2[] = {3, 4, 5}, st2[] = {0, 0, 1};
            APH_ASSERT_OK(aph_tensor_expand(c, sh2, 3, &v));
            check_view_read(v, hc, 3, sh2, st2, 0, 0, s, "expand [1, 5] -> [3, 4, 5]");
            aph_tensor_release(v);
        }
        const int64_t sd[] = {3, 1};
        void* hd = NULL;
        aph_tensor* d = cuda_random(dt, sd, 2, &hd);
        {
            const int64_t sh[] = {3, 6}, st[] = {1, 0};
            APH_ASSERT_OK(aph_tensor_expand(d, sh, 2, &v));
            check_view_read(v, hd, 2, sh, st, 0, 0, s, "expand [3, 1] -> [3, 6]");
            aph_tensor_release(v);
        }
        void* he = NULL;
        aph_tensor* e = cuda_random(dt, NULL, 0, &he);
        {
            const int64_t sh[] = {2, 3}, st[] = {0, 0};
            APH_ASSERT_OK(aph_tensor_expand(e, sh, 2, &v));
            check_view_read(v, he, 2, sh, st, 0, 0, s, "expand [] -> [2, 3]");
            aph_tensor_release(v);
            check_view_read(e, he, 0, NULL, NULL, 0, 1, s, "0-dimensional");
        }

        /* A bigger permuted view, so the gather kernel runs over many blocks. */
        const int64_t sf[] = {67, 45, 131};
        void* hf = NULL;
        aph_tensor* f = cuda_random(dt, sf, 3, &hf);
        {
            const int64_t perm[] = {2, 0, 1}, sh[] = {131, 67, 45}, st[] = {1, 45 * 131, 131};
            APH_ASSERT_OK(aph_tensor_permute(f, perm, 3, &v));
            check_view_read(v, hf, 3, sh, st, 0, 0, s, "permute of [67, 45, 131]");
            aph_tensor_release(v);
        }

        /* The bases are untouched by all that reading. */
        assert_tensor_bytes(a, ha, 120 * aph_dtype_size(dt), "base a unchanged");
        assert_tensor_bytes(f, hf, (size_t)67 * 45 * 131 * aph_dtype_size(dt), "base f unchanged");
        aph_tensor_release(f);
        aph_tensor_release(e);
        aph_tensor_release(d);
        aph_tensor_release(c);
        aph_tensor_release(b);
        aph_tensor_release(a);
        free(hf);
        free(he);
        free(hd);
        free(hc);
        free(hb);
        free(ha);
    }
    aph_stream_release(s);
}

/* Writes random data through view v of base (whose host copy base_host is kept up to date)
 * with copy_from_host and with copy_from_host_async on stream (its source overwritten as soon
 * as the call returns), and checks the whole base each time. */
static void check_view_write(aph_tensor* base, void* base_host, aph_tensor* v, size_t ndim, const int64_t* shape,
                             const int64_t* strides, int64_t off, int contig, aph_stream* stream, const char* what) {
    const aph_dtype dt = aph_tensor_dtype(v);
    const size_t es = aph_dtype_size(dt);
    const int64_t n = shape_numel(shape, ndim);
    const size_t nbytes = (size_t)n * es;
    const size_t base_bytes = (size_t)aph_tensor_nbytes(base);
    check_layout(v, g_dev, ndim, shape, strides, off, contig);

    void* fresh = random_host(dt, n);
    APH_ASSERT_OK(aph_tensor_copy_from_host(v, fresh, nbytes));
    host_scatter(base_host, fresh, es, ndim, shape, strides, off);
    assert_tensor_bytes(base, base_host, base_bytes, what);

    fill_random(fresh, n, dt);
    void* saved = dup_bytes(fresh, nbytes);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(v, fresh, nbytes, stream));
    memset(fresh, POISON, nbytes); /* staged: the source is the caller's again */
    APH_ASSERT_OK(aph_stream_synchronize(stream));
    host_scatter(base_host, saved, es, ndim, shape, strides, off);
    assert_tensor_bytes(base, base_host, base_bytes, what);
    free(saved);
    free(fresh);
}

static void test_strided_writes(void** state) {
    (void)state;
    static const aph_dtype dts[] = {APH_DTYPE_I8, APH_DTYPE_BF16, APH_DTYPE_F32, APH_DTYPE_I64};
    aph_stream* s = new_stream();
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; ++k) {
        const aph_dtype dt = dts[k];
        aph_tensor* v = NULL;
        aph_tensor* w = NULL;
        const int64_t sa[] = {4, 5, 6};
        void* ha = NULL;
        aph_tensor* a = cuda_random(dt, sa, 3, &ha);
        {
            const int64_t perm[] = {2, 0, 1}, sh[] = {6, 4, 5}, st[] = {1, 30, 6};
            APH_ASSERT_OK(aph_tensor_permute(a, perm, 3, &v));
            check_view_write(a, ha, v, 3, sh, st, 0, 0, s, "write through permute(2, 0, 1)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {4, 5, 2}, st[] = {30, 6, 3};
            APH_ASSERT_OK(aph_tensor_slice(a, 2, 1, 6, 3, &v));
            check_view_write(a, ha, v, 3, sh, st, 1, 0, s, "write through slice step 3");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {4, 6}, st[] = {30, 1};
            APH_ASSERT_OK(aph_tensor_select(a, 1, 2, &v));
            check_view_write(a, ha, v, 2, sh, st, 12, 0, s, "write through select(1, 2)");
            aph_tensor_release(v);
        }
        {
            const int64_t sh[] = {5, 6}, st[] = {6, 1};
            APH_ASSERT_OK(aph_tensor_select(a, 0, -1, &v));
            check_view_write(a, ha, v, 2, sh, st, 90, 1, s, "write through select(0, -1)");
            aph_tensor_release(v);
        }
        const int64_t sb[] = {10, 7};
        void* hb = NULL;
        aph_tensor* b = cuda_random(dt, sb, 2, &hb);
        {
            APH_ASSERT_OK(aph_tensor_slice(b, 0, 1, 10, 3, &w));
            aph_tensor* x = NULL;
            APH_ASSERT_OK(aph_tensor_slice(w, 1, 2, 7, 3, &x));
            const int64_t sh[] = {2, 3}, st[] = {3, 21};
            APH_ASSERT_OK(aph_tensor_transpose(x, 0, 1, &v));
            check_view_write(b, hb, v, 2, sh, st, 9, 0, s, "write through a transposed slice");
            aph_tensor_release(v);
            aph_tensor_release(x);
            aph_tensor_release(w);
        }
        /* A bigger one: every other column of [300, 517], transposed. */
        const int64_t sc[] = {300, 517};
        void* hc = NULL;
        aph_tensor* c = cuda_random(dt, sc, 2, &hc);
        {
            APH_ASSERT_OK(aph_tensor_slice(c, 1, 0, 517, 2, &w));
            const int64_t sh[] = {259, 300}, st[] = {2, 517};
            APH_ASSERT_OK(aph_tensor_transpose(w, 0, 1, &v));
            check_view_write(c, hc, v, 2, sh, st, 0, 0, s, "write through [300, 517][:, ::2].T");
            aph_tensor_release(v);
            aph_tensor_release(w);
        }
        aph_tensor_release(c);
        aph_tensor_release(b);
        aph_tensor_release(a);
        free(hc);
        free(hb);
        free(ha);
    }
    aph_stream_release(s);
}

/* aph_tensor_copy between CUDA tensors of different layouts (and copy_async on a stream). */
static void test_copy_cuda_layouts(void** state) {
    (void)state;
    enum { R = 67, C = 131 };
    const int64_t shape[] = {R, C}, shape_t[] = {C, R};
    static const aph_dtype dts[] = {APH_DTYPE_F32, APH_DTYPE_I64, APH_DTYPE_BF16, APH_DTYPE_I8};
    aph_stream* s = new_stream();
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; ++k) {
        const aph_dtype dt = dts[k];
        const size_t es = aph_dtype_size(dt);
        const size_t nbytes = (size_t)R * C * es;
        unsigned char* host = NULL;
        aph_tensor* a = cuda_random(dt, shape, 2, (void**)&host);
        unsigned char* want_t = (unsigned char*)xmalloc(nbytes);
        {
            const int64_t st[] = {1, C};
            host_gather(want_t, host, es, 2, shape_t, st, 0);
        }
        unsigned char* want = (unsigned char*)xmalloc(nbytes);

        /* Transposed view -> contiguous. */
        aph_tensor* at = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(a, 0, 1, &at));
        aph_tensor* dst = NULL;
        APH_ASSERT_OK(aph_tensor_create(g_dev, dt, shape_t, 2, &dst));
        APH_ASSERT_OK(aph_tensor_copy(dst, at));
        assert_tensor_bytes(dst, want_t, nbytes, "cuda copy transposed -> contiguous");
        assert_int_equal(aph_tensor_shares_storage(dst, a), 0);

        /* Contiguous -> transposed view. */
        aph_tensor* b = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &b));
        aph_tensor* bt = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(b, 0, 1, &bt));
        APH_ASSERT_OK(aph_tensor_copy(bt, dst));
        assert_tensor_bytes(b, host, nbytes, "cuda copy contiguous -> transposed view");

        /* Transposed -> transposed. */
        aph_tensor* c = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &c));
        aph_tensor* ct = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(c, 0, 1, &ct));
        APH_ASSERT_OK(aph_tensor_copy(ct, at));
        assert_tensor_bytes(c, host, nbytes, "cuda copy transposed -> transposed");

        /* Contiguous -> contiguous, and a tensor onto itself. */
        aph_tensor* e = NULL;
        APH_ASSERT_OK(aph_tensor_create(g_dev, dt, shape, 2, &e));
        APH_ASSERT_OK(aph_tensor_copy(e, a));
        assert_tensor_bytes(e, host, nbytes, "cuda copy contiguous -> contiguous");
        APH_ASSERT_OK(aph_tensor_copy(a, a));
        assert_tensor_bytes(a, host, nbytes, "cuda copy onto itself");

        /* Row 3 into row 0 of one storage. */
        aph_tensor* row0 = NULL;
        aph_tensor* row3 = NULL;
        APH_ASSERT_OK(aph_tensor_select(c, 0, 0, &row0));
        APH_ASSERT_OK(aph_tensor_select(c, 0, 3, &row3));
        APH_ASSERT_OK(aph_tensor_copy(row0, row3));
        memcpy(want, host, nbytes);
        memcpy(want, host + 3 * C * es, C * es);
        assert_tensor_bytes(c, want, nbytes, "cuda copy row 3 into row 0");

        /* A broadcast (expanded) source: column 2 everywhere. */
        aph_tensor* col = NULL;
        APH_ASSERT_OK(aph_tensor_narrow(a, 1, 2, 1, &col));
        aph_tensor* wide = NULL;
        APH_ASSERT_OK(aph_tensor_expand(col, shape, 2, &wide));
        APH_ASSERT_OK(aph_tensor_copy(b, wide));
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < C; ++j) memcpy(want + (i * C + j) * es, host + (i * C + 2) * es, es);
        assert_tensor_bytes(b, want, nbytes, "cuda copy from an expanded view");

        /* Step-2 columns into step-3 columns: [R, 44] both. */
        aph_tensor* f = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &f));
        aph_tensor* fv = NULL;
        APH_ASSERT_OK(aph_tensor_slice(f, 1, 0, C, 3, &fv));
        aph_tensor* av = NULL;
        APH_ASSERT_OK(aph_tensor_slice(a, 1, 1, 89, 2, &av));
        {
            const int64_t sh[] = {R, 44}, sa[] = {C, 2}, sf[] = {C, 3};
            check_layout(fv, g_dev, 2, sh, sf, 0, 0);
            check_layout(av, g_dev, 2, sh, sa, 1, 0);
            APH_ASSERT_OK(aph_tensor_copy(fv, av));
            unsigned char* vals = (unsigned char*)xmalloc((size_t)R * 44 * es);
            host_gather(vals, host, es, 2, sh, sa, 1);
            memset(want, 0, nbytes);
            host_scatter(want, vals, es, 2, sh, sf, 0);
            free(vals);
            assert_tensor_bytes(f, want, nbytes, "cuda copy step-2 slice -> step-3 slice");
        }

        /* copy_async on a created stream, then wait for it. */
        aph_tensor* g = NULL;
        APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, dt, shape, 2, s, &g));
        aph_tensor* gt = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(g, 0, 1, &gt));
        APH_ASSERT_OK(aph_tensor_copy_async(gt, dst, s));
        APH_ASSERT_OK(aph_stream_synchronize(s));
        assert_tensor_bytes(g, host, nbytes, "cuda copy_async contiguous -> transposed view");

        aph_tensor_release(gt);
        aph_tensor_release(g);
        aph_tensor_release(av);
        aph_tensor_release(fv);
        aph_tensor_release(f);
        aph_tensor_release(wide);
        aph_tensor_release(col);
        aph_tensor_release(row3);
        aph_tensor_release(row0);
        aph_tensor_release(e);
        aph_tensor_release(ct);
        aph_tensor_release(c);
        aph_tensor_release(bt);
        aph_tensor_release(b);
        aph_tensor_release(dst);
        aph_tensor_release(at);
        aph_tensor_release(a);
        free(want);
        free(want_t);
        free(host);
    }
    aph_stream_release(s);
}

/* aph_tensor_copy between CPU and CUDA tensors with non-contiguous sides, both directions. */
/* Overlapping views of one CUDA storage: copied as if the source were read in full first
 * (contiguous ranges, strided windows, a transpose into itself), synchronously and on a stream.
 * Expected values come from the same moves done on the host. */
static void test_copy_overlapping_cuda(void** state) {
    (void)state;
    enum { N = 16 };
    float* v = (float*)random_host(APH_DTYPE_F32, N);
    const int64_t s16[] = {N}, s44[] = {4, 4};
    float want[N];
    aph_stream* st = new_stream();
    for (int pass = 0; pass < 2; ++pass) {
        aph_stream* use = pass ? st : NULL;
        /* Contiguous ranges shifted by 4 both ways: t[0:12] = t[4:16], t[4:16] = t[0:12]. */
        for (int dir = 0; dir < 2; ++dir) {
            aph_tensor *t = NULL, *lo = NULL, *hi = NULL;
            APH_ASSERT_OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s16, 1, v, sizeof want, &t));
            APH_ASSERT_OK(aph_tensor_slice(t, 0, 0, 12, 1, &lo));
            APH_ASSERT_OK(aph_tensor_slice(t, 0, 4, 16, 1, &hi));
            memcpy(want, v, sizeof want);
            if (dir == 0) memmove(want, want + 4, 12 * sizeof(float));
            else
                memmove(want + 4, want, 12 * sizeof(float));
            if (use) {
                APH_ASSERT_OK(aph_tensor_copy_async(dir ? hi : lo, dir ? lo : hi, use));
                APH_ASSERT_OK(aph_stream_synchronize(use));
            } else {
                APH_ASSERT_OK(aph_tensor_copy(dir ? hi : lo, dir ? lo : hi));
            }
            assert_tensor_bytes(t, want, sizeof want, dir ? "cuda t[4:16] = t[0:12]" : "cuda t[0:12] = t[4:16]");
            aph_tensor_release(hi);
            aph_tensor_release(lo);
            aph_tensor_release(t);
        }
        /* Strided windows of a 4x4: t[1:, 1:] = t[:3, :3]. */
        aph_tensor *t = NULL, *a = NULL, *dst = NULL, *b = NULL, *src = NULL, *tt = NULL;
        APH_ASSERT_OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s44, 2, v, sizeof want, &t));
        APH_ASSERT_OK(aph_tensor_slice(t, 0, 1, 4, 1, &a));
        APH_ASSERT_OK(aph_tensor_slice(a, 1, 1, 4, 1, &dst));
        APH_ASSERT_OK(aph_tensor_slice(t, 0, 0, 3, 1, &b));
        APH_ASSERT_OK(aph_tensor_slice(b, 1, 0, 3, 1, &src));
        if (use) {
            APH_ASSERT_OK(aph_tensor_copy_async(dst, src, use));
            APH_ASSERT_OK(aph_stream_synchronize(use));
        } else {
            APH_ASSERT_OK(aph_tensor_copy(dst, src));
        }
        memcpy(want, v, sizeof want);
        for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 3; ++j) want[(i + 1) * 4 + j + 1] = v[i * 4 + j];
        }
        assert_tensor_bytes(t, want, sizeof want, "cuda t[1:, 1:] = t[:3, :3]");
        /* t = t^T. */
        APH_ASSERT_OK(aph_tensor_copy_from_host(t, v, sizeof want));
        APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &tt));
        APH_ASSERT_OK(aph_tensor_copy(t, tt));
        for (int i = 0; i < 4; ++i) {
            for (int j = 0; j < 4; ++j) want[i * 4 + j] = v[j * 4 + i];
        }
        assert_tensor_bytes(t, want, sizeof want, "cuda t = t^T");
        aph_tensor_release(tt);
        aph_tensor_release(src);
        aph_tensor_release(b);
        aph_tensor_release(dst);
        aph_tensor_release(a);
        aph_tensor_release(t);
    }
    aph_stream_release(st);
    free(v);
}

/* A broadcast destination (stride 0, size > 1) is refused by every call that writes, and
 * nothing is written. */
static void test_broadcast_destination_refused_cuda(void** state) {
    (void)state;
    const int64_t s1[] = {1, 5}, s45[] = {4, 5};
    void* h = NULL;
    aph_tensor* row = cuda_random(APH_DTYPE_F32, s1, 2, &h);
    aph_tensor* wide = NULL;
    APH_ASSERT_OK(aph_tensor_expand(row, s45, 2, &wide));
    aph_tensor* src = cuda_random(APH_DTYPE_F32, s45, 2, NULL);
    float host[20];
    fill_random(host, 20, APH_DTYPE_F32);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy(wide, src), APH_ERR_INVALID_ARGUMENT, "broadcast");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host(wide, host, sizeof host), APH_ERR_INVALID_ARGUMENT, "broadcast");
    aph_tensor* cpu_src = random_tensor_on(g_cpu, APH_DTYPE_F32, s45, 2, NULL);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy(wide, cpu_src), APH_ERR_INVALID_ARGUMENT, "broadcast");
    assert_tensor_bytes(row, h, 5 * sizeof(float), "the broadcast destination's memory is untouched");
    aph_tensor_release(cpu_src);
    aph_tensor_release(src);
    aph_tensor_release(wide);
    aph_tensor_release(row);
    free(h);
}

static void test_copy_cpu_cuda(void** state) {
    (void)state;
    enum { R = 33, C = 65 };
    const int64_t shape[] = {R, C}, shape_t[] = {C, R};
    static const aph_dtype dts[] = {APH_DTYPE_F32, APH_DTYPE_BF16, APH_DTYPE_I8, APH_DTYPE_F64};
    aph_stream* s = new_stream();
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; ++k) {
        const aph_dtype dt = dts[k];
        const size_t es = aph_dtype_size(dt);
        const size_t nbytes = (size_t)R * C * es;
        unsigned char* host = NULL;
        aph_tensor* cpu_x = random_tensor_on(g_cpu, dt, shape, 2, (void**)&host);
        aph_tensor* cuda_x = NULL;
        APH_ASSERT_OK(aph_tensor_from_host(g_dev, dt, shape, 2, host, nbytes, &cuda_x));
        unsigned char* want_t = (unsigned char*)xmalloc(nbytes);
        {
            const int64_t st[] = {1, C};
            host_gather(want_t, host, es, 2, shape_t, st, 0);
        }
        aph_tensor* cpu_xt = NULL;
        aph_tensor* cuda_xt = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(cpu_x, 0, 1, &cpu_xt));
        APH_ASSERT_OK(aph_tensor_transpose(cuda_x, 0, 1, &cuda_xt));
        aph_tensor* cpu_tc = NULL; /* the transpose, contiguous, on the CPU */
        APH_ASSERT_OK(aph_tensor_from_host(g_cpu, dt, shape_t, 2, want_t, nbytes, &cpu_tc));
        aph_tensor* cuda_tc = NULL;
        APH_ASSERT_OK(aph_tensor_from_host(g_dev, dt, shape_t, 2, want_t, nbytes, &cuda_tc));

        /* (a) CPU transposed view -> CUDA contiguous. */
        aph_tensor* d = NULL;
        APH_ASSERT_OK(aph_tensor_create(g_dev, dt, shape_t, 2, &d));
        APH_ASSERT_OK(aph_tensor_copy(d, cpu_xt));
        assert_tensor_bytes(d, want_t, nbytes, "cpu transposed -> cuda contiguous");
        aph_tensor_release(d);

        /* (b) CPU contiguous -> CUDA transposed view. */
        aph_tensor* z = NULL;
        aph_tensor* zt = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &z));
        APH_ASSERT_OK(aph_tensor_transpose(z, 0, 1, &zt));
        APH_ASSERT_OK(aph_tensor_copy(zt, cpu_tc));
        assert_tensor_bytes(z, host, nbytes, "cpu contiguous -> cuda transposed view");
        aph_tensor_release(zt);
        aph_tensor_release(z);

        /* (c) CPU transposed view -> CUDA transposed view. */
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &z));
        APH_ASSERT_OK(aph_tensor_transpose(z, 0, 1, &zt));
        APH_ASSERT_OK(aph_tensor_copy(zt, cpu_xt));
        assert_tensor_bytes(z, host, nbytes, "cpu transposed -> cuda transposed");
        aph_tensor_release(zt);
        aph_tensor_release(z);

        /* (d) CUDA transposed view -> CPU contiguous. */
        aph_tensor* h = NULL;
        APH_ASSERT_OK(aph_tensor_create(g_cpu, dt, shape_t, 2, &h));
        memset(aph_test_data_mut(h), POISON, nbytes);
        APH_ASSERT_OK(aph_tensor_copy(h, cuda_xt));
        assert_bytes_equal(aph_tensor_data(h), want_t, nbytes, "cuda transposed -> cpu contiguous");
        aph_tensor_release(h);

        /* (e) CUDA contiguous -> CPU transposed view. */
        aph_tensor* ht = NULL;
        APH_ASSERT_OK(aph_tensor_create(g_cpu, dt, shape, 2, &h));
        memset(aph_test_data_mut(h), POISON, nbytes);
        APH_ASSERT_OK(aph_tensor_transpose(h, 0, 1, &ht));
        APH_ASSERT_OK(aph_tensor_copy(ht, cuda_tc));
        assert_bytes_equal(aph_tensor_data(h), host, nbytes, "cuda contiguous -> cpu transposed view");
        aph_tensor_release(ht);
        aph_tensor_release(h);

        /* (f) CUDA step-3 columns (from 1) -> CPU step-3 columns (from 0): [R, 22] both. */
        {
            const int64_t sh[] = {R, 22}, st[] = {C, 3};
            aph_tensor* cv = NULL;
            APH_ASSERT_OK(aph_tensor_slice(cuda_x, 1, 1, C, 3, &cv));
            check_layout(cv, g_dev, 2, sh, st, 1, 0);
            APH_ASSERT_OK(aph_tensor_create(g_cpu, dt, shape, 2, &h));
            memset(aph_test_data_mut(h), POISON, nbytes);
            aph_tensor* hv = NULL;
            APH_ASSERT_OK(aph_tensor_slice(h, 1, 0, C, 3, &hv));
            check_layout(hv, g_cpu, 2, sh, st, 0, 0);
            APH_ASSERT_OK(aph_tensor_copy(hv, cv));
            unsigned char* want = poisoned(nbytes);
            unsigned char* vals = (unsigned char*)xmalloc((size_t)R * 22 * es);
            host_gather(vals, host, es, 2, sh, st, 1);
            host_scatter(want, vals, es, 2, sh, st, 0);
            assert_bytes_equal(aph_tensor_data(h), want, nbytes, "cuda slice -> cpu slice");
            /* And back the other way: CPU slice -> CUDA slice of a zeroed tensor. */
            APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &z));
            aph_tensor* zv = NULL;
            APH_ASSERT_OK(aph_tensor_slice(z, 1, 1, C, 3, &zv));
            APH_ASSERT_OK(aph_tensor_copy(zv, hv));
            memset(want, 0, nbytes);
            host_scatter(want, vals, es, 2, sh, st, 1);
            assert_tensor_bytes(z, want, nbytes, "cpu slice -> cuda slice");
            aph_tensor_release(zv);
            aph_tensor_release(z);
            free(vals);
            free(want);
            aph_tensor_release(hv);
            aph_tensor_release(h);
            aph_tensor_release(cv);
        }

        /* (g) copy_async from a non-contiguous CPU source waits for the stream: the source may be
         * overwritten as soon as the call returns. */
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &z));
        APH_ASSERT_OK(aph_tensor_transpose(z, 0, 1, &zt));
        aph_tensor* src = NULL;
        APH_ASSERT_OK(aph_tensor_from_host(g_cpu, dt, shape, 2, host, nbytes, &src));
        aph_tensor* srct = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(src, 0, 1, &srct));
        APH_ASSERT_OK(aph_tensor_copy_async(zt, srct, s));
        memset(aph_test_data_mut(src), POISON, nbytes);
        APH_ASSERT_OK(aph_stream_synchronize(s));
        assert_tensor_bytes(z, host, nbytes, "copy_async cpu transposed -> cuda transposed");
        aph_tensor_release(srct);
        aph_tensor_release(src);
        aph_tensor_release(zt);
        aph_tensor_release(z);

        /* (h) copy_async into a CPU destination waits too: the data is there on return. */
        APH_ASSERT_OK(aph_tensor_create(g_cpu, dt, shape, 2, &h));
        memset(aph_test_data_mut(h), POISON, nbytes);
        APH_ASSERT_OK(aph_tensor_transpose(h, 0, 1, &ht));
        APH_ASSERT_OK(aph_tensor_copy_async(ht, cuda_tc, s));
        assert_bytes_equal(aph_tensor_data(h), host, nbytes, "copy_async cuda -> cpu transposed view");
        aph_tensor_release(ht);
        aph_tensor_release(h);

        aph_tensor_release(cuda_tc);
        aph_tensor_release(cpu_tc);
        aph_tensor_release(cuda_xt);
        aph_tensor_release(cpu_xt);
        aph_tensor_release(cuda_x);
        aph_tensor_release(cpu_x);
        free(want_t);
        free(host);
    }
    aph_stream_release(s);
}

static void test_contiguous_and_to_device(void** state) {
    (void)state;
    const int64_t shape[] = {3, 1000, 7};
    const size_t nbytes = 3 * 1000 * 7 * 8;
    void* h = NULL;
    aph_tensor* cpu = random_tensor_on(g_cpu, APH_DTYPE_I64, shape, 3, &h);

    /* CPU -> CUDA -> CPU. */
    aph_tensor* g = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(cpu, g_dev, &g));
    check_cuda_tensor(g, APH_DTYPE_I64, shape, 3);
    assert_int_equal(aph_tensor_shares_storage(g, cpu), 0);
    assert_tensor_bytes(g, h, nbytes, "to_device(cuda)");
    aph_tensor* back = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(g, g_cpu, &back));
    assert_ptr_equal(aph_tensor_device(back), g_cpu);
    assert_int_equal(aph_tensor_is_contiguous(back), 1);
    assert_bytes_equal(aph_tensor_data(back), h, nbytes, "to_device(cuda) then to_device(cpu)");
    aph_tensor_release(back);

    /* CUDA -> the same CUDA device: a new storage with the same elements. */
    aph_tensor* g2 = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(g, g_dev, &g2));
    check_cuda_tensor(g2, APH_DTYPE_I64, shape, 3);
    assert_int_equal(aph_tensor_shares_storage(g2, g), 0);
    assert_tensor_bytes(g2, h, nbytes, "to_device(same cuda device)");
    aph_tensor_release(g2);

    /* Non-contiguous sources on either side. */
    const int64_t perm[] = {2, 0, 1}, psh[] = {7, 3, 1000}, pst[] = {1, 7000, 7};
    void* want = xmalloc(nbytes);
    host_gather(want, h, 8, 3, psh, pst, 0);
    aph_tensor* cpu_p = NULL;
    APH_ASSERT_OK(aph_tensor_permute(cpu, perm, 3, &cpu_p));
    APH_ASSERT_OK(aph_tensor_to_device(cpu_p, g_dev, &g2));
    check_cuda_tensor(g2, APH_DTYPE_I64, psh, 3);
    assert_tensor_bytes(g2, want, nbytes, "to_device(cuda) of a permuted cpu view");
    aph_tensor_release(g2);
    aph_tensor* g_p = NULL;
    APH_ASSERT_OK(aph_tensor_permute(g, perm, 3, &g_p));
    APH_ASSERT_OK(aph_tensor_to_device(g_p, g_cpu, &back));
    assert_int_equal(aph_tensor_is_contiguous(back), 1);
    assert_bytes_equal(aph_tensor_data(back), want, nbytes, "to_device(cpu) of a permuted cuda view");
    aph_tensor_release(back);

    /* contiguous: the same handle for a contiguous tensor, a copy on the device otherwise. */
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(g, &c));
    assert_ptr_equal(c, g);
    aph_tensor_release(c); /* the extra reference */
    APH_ASSERT_OK(aph_tensor_contiguous(g_p, &c));
    assert_ptr_not_equal(c, g_p);
    check_cuda_tensor(c, APH_DTYPE_I64, psh, 3);
    assert_int_equal(aph_tensor_shares_storage(c, g), 0);
    assert_tensor_bytes(c, want, nbytes, "contiguous of a permuted cuda view");
    aph_tensor_release(c);
    assert_tensor_bytes(g, h, nbytes, "the source is unchanged");

    aph_tensor_release(g_p);
    aph_tensor_release(cpu_p);
    aph_tensor_release(g);
    aph_tensor_release(cpu);
    free(want);
    free(h);
}

/* ---------------------------------------------------------------------------------------------
 * Streams and events
 * ------------------------------------------------------------------------------------------- */

static void test_streams_async(void** state) {
    (void)state;
    aph_stream* def = aph_device_default_stream(g_dev);
    assert_non_null(def);
    assert_null(aph_stream_cuda_handle(def)); /* the legacy default stream is handle 0 */
    assert_ptr_equal(aph_stream_device(def), g_dev);

    aph_stream* s = new_stream();
    assert_non_null(aph_stream_cuda_handle(s));
    assert_ptr_equal(aph_stream_device(s), g_dev);
    aph_stream* s2 = new_stream();
    assert_ptr_not_equal(aph_stream_cuda_handle(s2), aph_stream_cuda_handle(s));
    aph_stream_release(s2);

    /* copy_from_host_async, source overwritten at once, to_host_async, then wait. */
    const int64_t n = 1500001;
    const int64_t shape[] = {n};
    const size_t nbytes = (size_t)n * 4;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_F32, shape, 1, s, &t));
    check_cuda_tensor(t, APH_DTYPE_F32, shape, 1);
    void* src = random_host(APH_DTYPE_F32, n);
    void* saved = dup_bytes(src, nbytes);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, src, nbytes, s));
    fill_random(src, n, APH_DTYPE_F32); /* the caller's buffer is free again */
    unsigned char* out = poisoned(nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, out, nbytes, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_bytes_equal(out, saved, nbytes, "copy_from_host_async -> to_host_async on a stream");
    int idle = -1;
    APH_ASSERT_OK(aph_stream_query(s, &idle));
    assert_int_equal(idle, 1);

    /* Several copies queued back to back on the stream run in order: the last one wins. */
    void* third = random_host(APH_DTYPE_F32, n);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, src, nbytes, s));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, third, nbytes, s));
    memset(out, POISON, nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, out, nbytes, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_bytes_equal(out, third, nbytes, "two async copies in stream order");

    /* A non-contiguous view read asynchronously (made contiguous on the stream first). */
    const int64_t shape2[] = {1000, 777};
    const size_t nbytes2 = 1000 * 777 * 8;
    void* h2 = random_host(APH_DTYPE_F64, 1000 * 777);
    aph_tensor* m = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_F64, shape2, 2, s, &m));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(m, h2, nbytes2, s));
    aph_tensor* mt = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(m, 0, 1, &mt));
    unsigned char* out2 = poisoned(nbytes2);
    APH_ASSERT_OK(aph_tensor_to_host_async(mt, out2, nbytes2, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    void* want2 = xmalloc(nbytes2);
    {
        const int64_t sh[] = {777, 1000}, st[] = {1, 777};
        host_gather(want2, h2, 8, 2, sh, st, 0);
    }
    assert_bytes_equal(out2, want2, nbytes2, "to_host_async of a transposed view");

    /* NULL is the default stream. */
    fill_random(src, n, APH_DTYPE_F32);
    memcpy(saved, src, nbytes);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, src, nbytes, NULL));
    memset(src, POISON, nbytes);
    memset(out, POISON, nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, out, nbytes, NULL));
    APH_ASSERT_OK(aph_stream_synchronize(def));
    assert_bytes_equal(out, saved, nbytes, "async copies on the default stream");
    APH_ASSERT_OK(aph_stream_query(def, &idle));
    assert_int_equal(idle, 1);

    /* A stream of another device is refused; nothing is written. */
    memset(out, POISON, nbytes);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_to_host_async(t, out, nbytes, aph_device_default_stream(g_cpu)),
                            APH_ERR_DEVICE_MISMATCH, "device mismatch: ");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host_async(t, saved, nbytes, aph_device_default_stream(g_cpu)),
                            APH_ERR_DEVICE_MISMATCH, "device mismatch: ");
    for (size_t i = 0; i < nbytes; i += 4099) assert_int_equal(out[i], POISON);

    aph_tensor_release(mt);
    aph_tensor_release(m);
    aph_tensor_release(t); /* the tensors keep s alive; release them first anyway */
    aph_stream_release(s);
    free(want2);
    free(out2);
    free(h2);
    free(third);
    free(out);
    free(saved);
    free(src);
}

/* An event recorded on stream A after a host-to-device copy; stream B waits for it and then
 * copies the result on. Without the wait B could read the memory before A wrote it. */
static void test_events(void** state) {
    (void)state;
    aph_event* e = NULL;
    APH_ASSERT_OK(aph_event_create(g_dev, &e));
    int done = -1;
    APH_ASSERT_OK(aph_event_query(e, &done)); /* never recorded: complete */
    assert_int_equal(done, 1);
    APH_ASSERT_OK(aph_event_synchronize(e));

    aph_stream* a = new_stream();
    aph_stream* b = new_stream();
    const int64_t n = (int64_t)(64 * MiB);
    const int64_t shape[] = {n};
    unsigned char* src = (unsigned char*)xmalloc((size_t)n);
    fill_bytes(src, (size_t)n);
    void* saved = dup_bytes(src, (size_t)n);
    aph_tensor* x = NULL;
    aph_tensor* y = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_U8, shape, 1, a, &x));
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_U8, shape, 1, b, &y));
    for (int round = 0; round < 3; ++round) {
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(x, src, (size_t)n, a));
        fill_bytes(src, (size_t)n); /* the next round's data */
        APH_ASSERT_OK(aph_event_record(e, a));
        APH_ASSERT_OK(aph_stream_wait_event(b, e));
        APH_ASSERT_OK(aph_tensor_copy_async(y, x, b));
        APH_ASSERT_OK(aph_tensor_record_stream(x, b));
        unsigned char* out = poisoned((size_t)n);
        APH_ASSERT_OK(aph_tensor_to_host_async(y, out, (size_t)n, b));
        APH_ASSERT_OK(aph_stream_synchronize(b));
        assert_bytes_equal(out, saved, (size_t)n, "stream b waited for stream a's event");
        free(out);
        APH_ASSERT_OK(aph_event_synchronize(e));
        APH_ASSERT_OK(aph_event_query(e, &done));
        assert_int_equal(done, 1);
        APH_ASSERT_OK(aph_stream_synchronize(a));
        memcpy(saved, src, (size_t)n);
    }

    /* Recording on the default stream (NULL), waiting on it from a created stream. */
    APH_ASSERT_OK(aph_event_record(e, NULL));
    APH_ASSERT_OK(aph_stream_wait_event(a, e));
    APH_ASSERT_OK(aph_event_synchronize(e));
    APH_ASSERT_OK(aph_event_query(e, &done));
    assert_int_equal(done, 1);
    APH_ASSERT_OK(aph_stream_synchronize(a));
    int idle = -1;
    APH_ASSERT_OK(aph_stream_query(a, &idle));
    assert_int_equal(idle, 1);

    /* A stream of another device is refused. */
    APH_ASSERT_ERR_CONTAINS(aph_event_record(e, aph_device_default_stream(g_cpu)), APH_ERR_DEVICE_MISMATCH,
                            "device mismatch: ");

    /* The handles are reference counted. */
    aph_event_retain(e);
    aph_event_release(e);
    APH_ASSERT_OK(aph_event_query(e, &done));
    APH_ASSERT_OK(aph_device_synchronize(g_dev));

    aph_tensor_release(y);
    aph_tensor_release(x);
    aph_stream_release(b);
    aph_stream_release(a);
    aph_event_release(e);
    free(saved);
    free(src);
}

/* aph_stream_wrap_cuda over a created stream's cudaStream_t: usable, and releasing the wrapper
 * leaves the stream alive. */
static void test_stream_wrap(void** state) {
    (void)state;
    aph_stream* s = new_stream();
    void* handle = aph_stream_cuda_handle(s);
    assert_non_null(handle);
    aph_stream* w = NULL;
    APH_ASSERT_OK(aph_stream_wrap_cuda(g_dev, handle, &w));
    assert_non_null(w);
    assert_ptr_not_equal(w, s);
    assert_ptr_equal(aph_stream_cuda_handle(w), handle);
    assert_ptr_equal(aph_stream_device(w), g_dev);
    aph_stream_retain(w);
    aph_stream_release(w);

    const int64_t n = 300007;
    const int64_t shape[] = {n};
    const size_t nbytes = (size_t)n * 8;
    void* h = random_host(APH_DTYPE_I64, n);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_I64, shape, 1, w, &t));
    check_cuda_tensor(t, APH_DTYPE_I64, shape, 1);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, nbytes, w));
    unsigned char* out = poisoned(nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, out, nbytes, w));
    APH_ASSERT_OK(aph_stream_synchronize(w));
    assert_bytes_equal(out, h, nbytes, "async copies on a wrapped stream");
    aph_tensor_release(t);
    aph_stream_release(w);

    /* The stream survived its wrapper. */
    fill_random(h, n, APH_DTYPE_I64);
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_I64, shape, 1, s, &t));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, nbytes, s));
    memset(out, POISON, nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, out, nbytes, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    int idle = -1;
    APH_ASSERT_OK(aph_stream_query(s, &idle));
    assert_int_equal(idle, 1);
    assert_bytes_equal(out, h, nbytes, "the created stream after its wrapper was released");
    aph_tensor_release(t);

    /* Wrapping NULL gives the legacy default stream. */
    APH_ASSERT_OK(aph_stream_wrap_cuda(g_dev, NULL, &w));
    assert_null(aph_stream_cuda_handle(w));
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_I64, shape, 1, w, &t));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, h, nbytes, w));
    memset(out, POISON, nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, out, nbytes, w));
    APH_ASSERT_OK(aph_stream_synchronize(w));
    assert_bytes_equal(out, h, nbytes, "async copies on a wrapped legacy default stream");
    aph_tensor_release(t);
    aph_stream_release(w);

    /* Only CUDA streams can be wrapped. */
    aph_stream* bad = (aph_stream*)SENTINEL_PTR;
    APH_ASSERT_ERR_CONTAINS(aph_stream_wrap_cuda(g_cpu, handle, &bad), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    assert_ptr_equal(bad, SENTINEL_PTR);

    aph_stream_release(s);
    free(out);
    free(h);
}

/* Two uploads of the same size queued back to back on one stream, their sources overwritten at
 * once: each staging buffer stays with its copy until the stream has run it (a staging block
 * handed out again before the first copy ran would leave the second's data in both tensors). */
static void test_async_uploads_back_to_back(void** state) {
    (void)state;
    static const int64_t sizes[] = {1000, 300001}; /* the small and the large pool */
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
        aph_stream* s = new_stream();
        const int64_t n = sizes[k];
        const int64_t shape[] = {n};
        const size_t nbytes = (size_t)n * 4;
        aph_tensor* a = NULL;
        aph_tensor* b = NULL;
        APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_F32, shape, 1, s, &a));
        APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_F32, shape, 1, s, &b));
        void* ha = random_host(APH_DTYPE_F32, n);
        void* hb = random_host(APH_DTYPE_F32, n);
        void* want_a = dup_bytes(ha, nbytes);
        void* want_b = dup_bytes(hb, nbytes);
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(a, ha, nbytes, s));
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(b, hb, nbytes, s));
        fill_random(ha, n, APH_DTYPE_F32);
        memset(hb, POISON, nbytes);
        APH_ASSERT_OK(aph_stream_synchronize(s));
        assert_tensor_bytes(a, want_a, nbytes, "first of two back-to-back async uploads");
        assert_tensor_bytes(b, want_b, nbytes, "second of two back-to-back async uploads");

        /* The same on the default stream (NULL). */
        fill_random(ha, n, APH_DTYPE_F32);
        fill_random(hb, n, APH_DTYPE_F32);
        memcpy(want_a, ha, nbytes);
        memcpy(want_b, hb, nbytes);
        APH_ASSERT_OK(aph_stream_synchronize(s)); /* a and b were made on s */
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(a, ha, nbytes, NULL));
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(b, hb, nbytes, NULL));
        memset(ha, POISON, nbytes);
        fill_random(hb, n, APH_DTYPE_F32);
        APH_ASSERT_OK(aph_stream_synchronize(aph_device_default_stream(g_dev)));
        assert_tensor_bytes(a, want_a, nbytes, "first of two async uploads on the default stream");
        assert_tensor_bytes(b, want_b, nbytes, "second of two async uploads on the default stream");

        aph_tensor_release(b);
        aph_tensor_release(a);
        aph_stream_release(s);
        free(want_b);
        free(want_a);
        free(hb);
        free(ha);
    }
}

/* Synchronous functions wait for the stream they use (the default stream): when they return,
 * nothing they queued is pending. One exception on a real GPU: a contiguous host-to-device copy
 * (and to_host) frees its page-locked staging block after the last wait, and that free records
 * a CUDA event on the stream (the block's use there), which the GPU may not have passed yet
 * when the stream is queried. The simulated module does not count event records as work, so
 * those two are asserted there only. */
static void test_sync_copies_leave_stream_idle(void** state) {
    (void)state;
    aph_stream* def = aph_device_default_stream(g_dev);
    APH_ASSERT_OK(aph_stream_synchronize(def));
    assert_int_equal(stream_idle(def), 1);

    const int64_t shape[] = {300, 257};
    const size_t n = 300 * 257, nbytes = n * 8;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(g_dev, APH_DTYPE_F64, shape, 2, &t));
    void* h = random_host(APH_DTYPE_F64, (int64_t)n);
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, h, nbytes));
    if (g_sim_live_streams) assert_int_equal(stream_idle(def), 1); /* staged DMA, waited for */
    assert_tensor_bytes(t, h, nbytes, "copy_from_host, then the stream was idle");

    /* Through a transposed view: DMA into a temporary, then a scatter; both waited for. */
    aph_tensor* tt = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &tt));
    void* h2 = random_host(APH_DTYPE_F64, (int64_t)n);
    APH_ASSERT_OK(aph_tensor_copy_from_host(tt, h2, nbytes));
    assert_int_equal(stream_idle(def), 1);
    void* want = xmalloc(nbytes);
    {
        const int64_t sh[] = {257, 300}, st[] = {1, 257};
        memcpy(want, h, nbytes);
        host_scatter(want, h2, 8, 2, sh, st, 0);
    }
    assert_tensor_bytes(t, want, nbytes, "copy_from_host through a transposed view");
    if (g_sim_live_streams) assert_int_equal(stream_idle(def), 1); /* to_host: staged, waited for */

    /* zeros and a same-device copy are synchronous too. */
    aph_tensor* z = NULL;
    APH_ASSERT_OK(aph_tensor_zeros(g_dev, APH_DTYPE_F64, shape, 2, &z));
    assert_int_equal(stream_idle(def), 1);
    APH_ASSERT_OK(aph_tensor_copy(z, t));
    assert_int_equal(stream_idle(def), 1);
    assert_tensor_bytes(z, want, nbytes, "aph_tensor_copy, then the stream was idle");

    aph_tensor_release(z);
    aph_tensor_release(tt);
    aph_tensor_release(t);
    free(want);
    free(h2);
    free(h);
}

/* Asynchronous calls return with their work queued (asserted with the simulated module, which
 * runs nothing before a synchronisation in deferred mode and keeps the books in both modes; on a
 * real GPU the work may have finished already). The results are right once the stream is done. */
static void test_async_calls_leave_stream_busy(void** state) {
    (void)state;
    aph_stream* s = new_stream();
    const int64_t n = 200003;
    const int64_t shape[] = {n};
    const size_t nbytes = (size_t)n * 4;
    void* h = NULL;
    aph_tensor* t = cuda_random(APH_DTYPE_I32, shape, 1, &h);
    aph_tensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_I32, shape, 1, s, &u));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_int_equal(stream_idle(s), 1);

    unsigned char* out = poisoned(nbytes);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, out, nbytes, s));
    if (g_sim_live_streams) assert_int_equal(stream_idle(s), 0);
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_int_equal(stream_idle(s), 1);
    assert_bytes_equal(out, h, nbytes, "to_host_async on a created stream");

    APH_ASSERT_OK(aph_tensor_copy_async(u, t, s));
    if (g_sim_live_streams) assert_int_equal(stream_idle(s), 0);
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_int_equal(stream_idle(s), 1);
    assert_tensor_bytes(u, h, nbytes, "same-device copy_async on a created stream");

    /* A strided same-device copy_async (a transposed view of t's first 200000 elements) is
     * queued too. */
    aph_tensor* ut = NULL;
    aph_tensor* v = NULL;
    aph_tensor* t2 = NULL;
    const int64_t sq[] = {400, 500};
    APH_ASSERT_OK(aph_tensor_narrow(t, 0, 0, 200000, &t2));
    aph_tensor* t2r = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(t2, sq, 2, &t2r));
    APH_ASSERT_OK(aph_tensor_transpose(t2r, 0, 1, &ut)); /* [500, 400], strides [1, 500] */
    const int64_t sq_t[] = {500, 400};
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_I32, sq_t, 2, s, &v));
    APH_ASSERT_OK(aph_tensor_copy_async(v, ut, s));
    if (g_sim_live_streams) assert_int_equal(stream_idle(s), 0);
    APH_ASSERT_OK(aph_stream_synchronize(s));
    void* want = xmalloc(200000 * 4);
    {
        const int64_t st[] = {1, 500};
        host_gather(want, h, 4, 2, sq_t, st, 0);
    }
    assert_tensor_bytes(v, want, 200000 * 4, "strided same-device copy_async");

    aph_tensor_release(v);
    aph_tensor_release(ut);
    aph_tensor_release(t2r);
    aph_tensor_release(t2);
    aph_tensor_release(u);
    aph_tensor_release(t);
    aph_stream_release(s);
    free(want);
    free(out);
    free(h);
}

/* A CPU stream runs inline, so waiting on a CUDA event from it blocks until the event is done. */
static void test_cpu_stream_waits_for_cuda_event(void** state) {
    (void)state;
    aph_stream* s = new_stream();
    aph_event* e = NULL;
    APH_ASSERT_OK(aph_event_create(g_dev, &e));
    const size_t n = (size_t)(16 * MiB);
    const int64_t shape[] = {(int64_t)n};
    unsigned char* src = (unsigned char*)xmalloc(n);
    fill_bytes(src, n);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_U8, shape, 1, s, &t));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, src, n, s));
    APH_ASSERT_OK(aph_event_record(e, s));
    int done = -1;
    if (g_sim_defer) {
        APH_ASSERT_OK(aph_event_query(e, &done));
        assert_int_equal(done, 0); /* the upload has not run yet */
    }
    APH_ASSERT_OK(aph_stream_wait_event(aph_device_default_stream(g_cpu), e));
    done = -1;
    APH_ASSERT_OK(aph_event_query(e, &done));
    assert_int_equal(done, 1);
    /* A created CPU stream blocks the same way. */
    aph_stream* cs = NULL;
    APH_ASSERT_OK(aph_stream_create(g_cpu, &cs));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, src, n, s));
    APH_ASSERT_OK(aph_event_record(e, s));
    APH_ASSERT_OK(aph_stream_wait_event(cs, e));
    done = -1;
    APH_ASSERT_OK(aph_event_query(e, &done));
    assert_int_equal(done, 1);
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_tensor_bytes(t, src, n, "the upload the CPU stream waited for");

    aph_stream_release(cs);
    aph_tensor_release(t);
    aph_event_release(e);
    aph_stream_release(s);
    free(src);
}

/* copy_async between two CPU tensors on a CUDA stream: the stream belongs to neither tensor's
 * device. Nothing is copied. */
static void test_copy_async_cpu_tensors_on_cuda_stream(void** state) {
    (void)state;
    aph_stream* s = new_stream();
    const int64_t shape[] = {5, 7};
    void* hs = NULL;
    aph_tensor* src = random_tensor_on(g_cpu, APH_DTYPE_F32, shape, 2, &hs);
    void* hd = NULL;
    aph_tensor* dst = random_tensor_on(g_cpu, APH_DTYPE_F32, shape, 2, &hd);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_async(dst, src, s), APH_ERR_DEVICE_MISMATCH, "device mismatch: ");
    assert_tensor_bytes(dst, hd, 35 * 4, "a CPU tensor after a refused copy_async");
    /* The default stream of cuda:0 is refused the same way. */
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_async(dst, src, aph_device_default_stream(g_dev)), APH_ERR_DEVICE_MISMATCH,
                            "device mismatch: ");
    assert_tensor_bytes(dst, hd, 35 * 4, "a CPU tensor after a refused copy_async");
    /* ... while a CPU stream copies inline. */
    APH_ASSERT_OK(aph_tensor_copy_async(dst, src, aph_device_default_stream(g_cpu)));
    assert_tensor_bytes(dst, hs, 35 * 4, "copy_async between CPU tensors on a CPU stream");
    aph_tensor_release(dst);
    aph_tensor_release(src);
    aph_stream_release(s);
    free(hd);
    free(hs);
}

/* Created streams are destroyed once their last reference goes (the simulated module counts
 * them; skipped on a real GPU). A tensor allocated on a stream keeps it alive. */
static void test_streams_destroyed(void** state) {
    (void)state;
    if (g_sim_live_streams == NULL) {
        print_message("skipped: the CUDA module does not count streams (not the simulated one)\n");
        skip();
    }
    const int before = g_sim_live_streams();
    aph_stream* a = new_stream();
    aph_stream* b = new_stream();
    assert_int_equal(g_sim_live_streams(), before + 2);
    aph_stream_retain(a);
    aph_stream_release(a);
    assert_int_equal(g_sim_live_streams(), before + 2);
    aph_stream_release(a);
    assert_int_equal(g_sim_live_streams(), before + 1);
    const int64_t shape[] = {1000};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_F32, shape, 1, b, &t));
    aph_stream_release(b);
    assert_int_equal(g_sim_live_streams(), before + 1); /* t's memory holds b */
    aph_tensor_release(t);
    assert_int_equal(g_sim_live_streams(), before);
    /* Wrapping a stream creates none, and releasing the wrapper destroys none. */
    aph_stream* c = new_stream();
    aph_stream* w = NULL;
    APH_ASSERT_OK(aph_stream_wrap_cuda(g_dev, aph_stream_cuda_handle(c), &w));
    assert_int_equal(g_sim_live_streams(), before + 1);
    aph_stream_release(w);
    assert_int_equal(g_sim_live_streams(), before + 1);
    aph_stream_release(c);
    assert_int_equal(g_sim_live_streams(), before);
}

/* ---------------------------------------------------------------------------------------------
 * The caching allocator on CUDA
 * ------------------------------------------------------------------------------------------- */

#define ASSERT_DELTA(after, before, field, d) \
    assert_int_equal((uint64_t)((after).field - (before).field), (uint64_t)(d))

static aph_tensor* bytes_on(aph_stream* s, uint64_t n) {
    const int64_t shape[] = {(int64_t)n};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(g_dev, APH_DTYPE_U8, shape, 1, s, &t));
    assert_non_null(t);
    assert_int_equal((uintptr_t)aph_tensor_data(t) % 512, 0);
    return t;
}

/* Sizes, segments and reuse, on streams of their own (so no cached block of another test can
 * serve these requests). */
static void test_allocator_stats(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    aph_stream* s = new_stream();
    const aph_memory_stats s0 = stats_of(g_dev);
    aph_memory_stats p = s0, q;

    /* Small pool: 1000 bytes -> 1024, from a new 2 MiB segment. */
    aph_tensor* t1 = bytes_on(s, 1000);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, 1024);
    ASSERT_DELTA(q, p, active_bytes, 1024);
    ASSERT_DELTA(q, p, requested_bytes, 1000);
    ASSERT_DELTA(q, p, reserved_bytes, 2 * MiB);
    ASSERT_DELTA(q, p, segments, 1);
    ASSERT_DELTA(q, p, segment_allocations, 1);
    ASSERT_DELTA(q, p, cache_misses, 1);
    ASSERT_DELTA(q, p, allocations, 1);
    ASSERT_DELTA(q, p, active_allocations, 1);
    p = q;

    /* The next small block is carved from the same segment, right after the first. */
    aph_tensor* t2 = bytes_on(s, 1000);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, 1024);
    ASSERT_DELTA(q, p, reserved_bytes, 0);
    ASSERT_DELTA(q, p, cache_misses, 0);
    ASSERT_DELTA(q, p, allocations, 1);
    assert_ptr_equal(aph_tensor_data(t2), (char*)aph_tensor_data(t1) + 1024);
    p = q;

    /* 11 MiB (>= 10 MiB): a segment of its size rounded to 2 MiB (12 MiB); the 1 MiB left is not
     * worth splitting off, so the whole block is handed out. */
    aph_tensor* t5 = bytes_on(s, 11 * MiB);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, 12 * MiB);
    ASSERT_DELTA(q, p, requested_bytes, 11 * MiB);
    ASSERT_DELTA(q, p, reserved_bytes, 12 * MiB);
    ASSERT_DELTA(q, p, segments, 1);
    p = q;

    /* 12 MiB + 1: 12 MiB + 512 from a 14 MiB segment, the rest (> 1 MiB) split off and cached. */
    aph_tensor* t6 = bytes_on(s, 12 * MiB + 1);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, 12 * MiB + 512);
    ASSERT_DELTA(q, p, reserved_bytes, 14 * MiB);
    p = q;

    /* Large pool under 10 MiB: a 20 MiB segment; the next request is carved from its rest. */
    aph_tensor* t3 = bytes_on(s, 3 * MiB);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, 3 * MiB);
    ASSERT_DELTA(q, p, reserved_bytes, 20 * MiB);
    ASSERT_DELTA(q, p, cache_misses, 1);
    p = q;
    aph_tensor* t4 = bytes_on(s, 3 * MiB + 1);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, 3 * MiB + 512);
    ASSERT_DELTA(q, p, reserved_bytes, 0);
    ASSERT_DELTA(q, p, cache_misses, 0);
    assert_ptr_equal(aph_tensor_data(t4), (char*)aph_tensor_data(t3) + 3 * MiB);
    p = q;

    /* Peaks follow the current values after a reset. */
    APH_ASSERT_OK(aph_device_reset_peak_stats(g_dev));
    q = stats_of(g_dev);
    assert_int_equal(q.allocated_bytes_peak, q.allocated_bytes);
    assert_int_equal(q.reserved_bytes_peak, q.reserved_bytes);
    assert_int_equal(q.active_bytes_peak, q.active_bytes);
    assert_int_equal(q.requested_bytes_peak, q.requested_bytes);
    p = q;

    /* Free + allocate the same size on the same stream: the same memory, from the cache. */
    const void* p2 = aph_tensor_data(t2);
    aph_tensor_release(t2);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, -1024);
    ASSERT_DELTA(q, p, frees, 1);
    ASSERT_DELTA(q, p, reserved_bytes, 0);
    ASSERT_DELTA(q, p, active_allocations, -1);
    assert_int_equal(q.allocated_bytes_peak, p.allocated_bytes); /* the peak stays */
    p = q;
    t2 = bytes_on(s, 1000);
    assert_ptr_equal(aph_tensor_data(t2), p2);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, allocated_bytes, 1024);
    ASSERT_DELTA(q, p, cache_misses, 0);
    ASSERT_DELTA(q, p, segment_allocations, 0);
    p = q;

    const void* p5 = aph_tensor_data(t5);
    aph_tensor_release(t5);
    t5 = bytes_on(s, 11 * MiB);
    assert_ptr_equal(aph_tensor_data(t5), p5);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, cache_misses, 0);
    ASSERT_DELTA(q, p, reserved_bytes, 0);
    p = q;

    /* A block freed on one stream is not handed to an allocation on another. */
    aph_stream* s2 = new_stream();
    aph_tensor_release(t5);
    aph_tensor* other = bytes_on(s2, 11 * MiB);
    assert_ptr_not_equal(aph_tensor_data(other), p5);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, p, cache_misses, 1);
    ASSERT_DELTA(q, p, reserved_bytes, 12 * MiB);
    /* ... while the first stream still gets it back. */
    t5 = bytes_on(s, 11 * MiB);
    assert_ptr_equal(aph_tensor_data(t5), p5);
    aph_tensor* small_other = bytes_on(s2, 1000);
    assert_ptr_not_equal(aph_tensor_data(small_other), p2);

    /* Everything given back: allocated and active return to where they started. */
    aph_tensor_release(small_other);
    aph_tensor_release(other);
    aph_tensor_release(t1);
    aph_tensor_release(t2);
    aph_tensor_release(t3);
    aph_tensor_release(t4);
    aph_tensor_release(t5);
    aph_tensor_release(t6);
    q = stats_of(g_dev);
    assert_int_equal(q.allocated_bytes, s0.allocated_bytes);
    assert_int_equal(q.active_bytes, s0.active_bytes);
    assert_int_equal(q.requested_bytes, s0.requested_bytes);
    assert_int_equal(q.active_allocations, s0.active_allocations);
    ASSERT_DELTA(q, s0, allocations, q.frees - s0.frees);
    aph_stream_release(s2);
    aph_stream_release(s);
}

/* record_stream: a block freed while another stream may still read it is held back (counted in
 * active_bytes) until that stream's work is done, and only then reused. Stream B is kept busy
 * with a 512 MiB host-to-device transfer queued ahead of its read of T. */
static void test_record_stream_pending(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    aph_stream* a = new_stream();
    aph_stream* b = new_stream();
    const uint64_t seg = 12 * MiB; /* >= 10 MiB: a segment of exactly this size, never split */
    const size_t big = (size_t)(512 * MiB);

    unsigned char* data = (unsigned char*)xmalloc(seg);
    unsigned char* garbage = (unsigned char*)xmalloc(seg);
    unsigned char* bigsrc = (unsigned char*)xmalloc(big);
    fill_bytes(data, seg);
    fill_bytes(garbage, seg);
    fill_bytes(bigsrc, big);

    aph_tensor* z = bytes_on(a, seg); /* garbage, on A */
    aph_tensor* t = bytes_on(a, seg); /* the data, on A, read on B */
    aph_tensor* y = bytes_on(b, seg); /* where B copies T */
    aph_tensor* bigt = bytes_on(b, big);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(z, garbage, seg, a));
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, data, seg, a));
    APH_ASSERT_OK(aph_stream_synchronize(a));
    const void* tp = aph_tensor_data(t);
    const aph_memory_stats s0 = stats_of(g_dev);

    /* B: a long transfer, then T read into Y behind it. T's last reference goes at once. */
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(bigt, bigsrc, big, b));
    APH_ASSERT_OK(aph_tensor_copy_async(y, t, b));
    APH_ASSERT_OK(aph_tensor_record_stream(t, b));
    aph_tensor_release(t);
    const aph_memory_stats s1 = stats_of(g_dev);
    /* A allocates the same size and overwrites it at once. */
    aph_tensor* u = bytes_on(a, seg);
    APH_ASSERT_OK(aph_tensor_copy_async(u, z, a));
    int idle = -1;
    APH_ASSERT_OK(aph_stream_query(b, &idle));
    if (!idle) {
        /* B had not finished when we looked, so it had not when T was freed: T's block was held
         * back (no longer allocated, still active) and U got other memory. */
        ASSERT_DELTA(s0, s1, allocated_bytes, seg);
        ASSERT_DELTA(s1, s0, active_bytes, 0);
        ASSERT_DELTA(s1, s0, frees, 1);
        assert_ptr_not_equal(aph_tensor_data(u), tp);
    } else {
        print_message("note: stream B finished before it was checked; the pending-block "
                      "assertions were not exercised this run\n");
    }

    APH_ASSERT_OK(aph_stream_synchronize(b));
    APH_ASSERT_OK(aph_stream_synchronize(a));
    /* B is done: the block is free (no longer counted as active) ... */
    const aph_memory_stats s2 = stats_of(g_dev);
    assert_int_equal(s2.active_bytes - s2.allocated_bytes, s0.active_bytes - s0.allocated_bytes);
    /* ... and A gets it back. */
    aph_tensor* v = bytes_on(a, seg);
    if (!idle) assert_ptr_equal(aph_tensor_data(v), tp);
    else
        assert_true(aph_tensor_data(u) == tp || aph_tensor_data(v) == tp);

    /* Y holds T's data: nothing overwrote T's memory before B read it. */
    assert_tensor_bytes(y, data, seg, "B's copy of T, read after T was released");
    assert_tensor_bytes(bigt, bigsrc, big, "the 512 MiB async transfer on B");
    assert_tensor_bytes(u, garbage, seg, "U on A");

    aph_tensor_release(v);
    aph_tensor_release(u);
    aph_tensor_release(bigt);
    aph_tensor_release(y);
    aph_tensor_release(z);
    const aph_memory_stats s3 = stats_of(g_dev);
    assert_int_equal(s3.allocated_bytes, s0.allocated_bytes - 3 * seg - big);
    assert_int_equal(s3.active_bytes, s3.allocated_bytes + (s0.active_bytes - s0.allocated_bytes));
    aph_stream_release(b);
    aph_stream_release(a);
    free(bigsrc);
    free(garbage);
    free(data);
}

/* Raw memory: aph_device_allocate / aph_device_free / aph_device_record_stream on CUDA. */
static void test_raw_device_memory(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    aph_stream* a = new_stream();
    aph_stream* b = new_stream();
    const aph_memory_stats s0 = stats_of(g_dev);

    void* p = SENTINEL_PTR;
    APH_ASSERT_OK(aph_device_allocate(g_dev, 0, a, &p));
    assert_null(p);
    aph_memory_stats q = stats_of(g_dev);
    assert_int_equal(q.allocations, s0.allocations);

    void* m = NULL;
    APH_ASSERT_OK(aph_device_allocate(g_dev, 1000, a, &m));
    assert_non_null(m);
    assert_int_equal((uintptr_t)m % 512, 0);
    q = stats_of(g_dev);
    ASSERT_DELTA(q, s0, allocated_bytes, 1024);
    ASSERT_DELTA(q, s0, requested_bytes, 1000);
    ASSERT_DELTA(q, s0, reserved_bytes, 2 * MiB);
    ASSERT_DELTA(q, s0, active_allocations, 1);

    /* It is device memory: wrap it and move data through it. */
    {
        const int64_t shape[] = {1000};
        unsigned char* h = (unsigned char*)xmalloc(1000);
        fill_bytes(h, 1000);
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_blob(g_dev, APH_DTYPE_U8, shape, NULL, 1, m, NULL, NULL, &t));
        assert_ptr_equal(aph_tensor_data(t), m);
        assert_ptr_equal(aph_tensor_device(t), g_dev);
        APH_ASSERT_OK(aph_tensor_copy_from_host(t, h, 1000));
        assert_tensor_bytes(t, h, 1000, "raw device memory through from_blob");
        APH_ASSERT_OK(aph_tensor_record_stream(t, b)); /* borrowed memory: a no-op */
        aph_tensor_release(t);
        free(h);
    }
    q = stats_of(g_dev);
    ASSERT_DELTA(q, s0, allocated_bytes, 1024); /* still ours: from_blob only borrowed it */

    /* Free and allocate again on the same stream: the same pointer. */
    APH_ASSERT_OK(aph_device_free(g_dev, m));
    void* m2 = NULL;
    APH_ASSERT_OK(aph_device_allocate(g_dev, 1000, a, &m2));
    assert_ptr_equal(m2, m);
    /* Another stream does not get it while it is free. */
    APH_ASSERT_OK(aph_device_free(g_dev, m2));
    void* other = NULL;
    APH_ASSERT_OK(aph_device_allocate(g_dev, 1000, b, &other));
    assert_ptr_not_equal(other, m);
    APH_ASSERT_OK(aph_device_free(g_dev, other));

    /* Used on B: once B is done, A reuses it. */
    APH_ASSERT_OK(aph_device_allocate(g_dev, 1000, a, &m2));
    assert_ptr_equal(m2, m);
    APH_ASSERT_OK(aph_device_record_stream(g_dev, m2, b));
    APH_ASSERT_OK(aph_device_record_stream(g_dev, m2, b)); /* twice is once */
    APH_ASSERT_OK(aph_device_record_stream(g_dev, m2, a)); /* its own stream: nothing to do */
    APH_ASSERT_OK(aph_device_record_stream(g_dev, m2, NULL));
    APH_ASSERT_OK(aph_device_free(g_dev, m2));
    APH_ASSERT_OK(aph_stream_synchronize(b));
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    APH_ASSERT_OK(aph_device_allocate(g_dev, 1000, a, &m2));
    assert_ptr_equal(m2, m);

    /* Errors change nothing. */
    APH_ASSERT_ERR_CONTAINS(aph_device_record_stream(g_dev, m2, aph_device_default_stream(g_cpu)),
                            APH_ERR_DEVICE_MISMATCH, "device mismatch: ");
    void* untouched = SENTINEL_PTR;
    APH_ASSERT_ERR_CONTAINS(aph_device_allocate(g_dev, 64, aph_device_default_stream(g_cpu), &untouched),
                            APH_ERR_DEVICE_MISMATCH, "device mismatch: ");
    assert_ptr_equal(untouched, SENTINEL_PTR);
    void* big = NULL;
    APH_ASSERT_OK(aph_device_allocate(g_dev, 3 * MiB, a, &big));
    assert_int_equal((uintptr_t)big % 512, 0);
    const aph_memory_stats before = stats_of(g_dev);
    APH_ASSERT_ERR_CONTAINS(aph_device_free(g_dev, (char*)big + 512), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    void* cpu_mem = NULL;
    APH_ASSERT_OK(aph_device_allocate(g_cpu, 64, NULL, &cpu_mem));
    APH_ASSERT_ERR_CONTAINS(aph_device_free(g_dev, cpu_mem), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    APH_ASSERT_OK(aph_device_free(g_cpu, cpu_mem));
    const aph_memory_stats after = stats_of(g_dev);
    assert_int_equal(after.allocated_bytes, before.allocated_bytes);
    assert_int_equal(after.frees, before.frees);
    APH_ASSERT_OK(aph_device_free(g_dev, big));
    APH_ASSERT_OK(aph_device_free(g_dev, m2));
    APH_ASSERT_ERR_CONTAINS(aph_device_free(g_dev, m2), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    APH_ASSERT_ERR_CONTAINS(aph_device_record_stream(g_dev, m2, b), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    APH_ASSERT_OK(aph_device_free(g_dev, NULL));

    q = stats_of(g_dev);
    assert_int_equal(q.allocated_bytes, s0.allocated_bytes);
    assert_int_equal(q.active_bytes, s0.active_bytes);
    assert_int_equal(q.active_allocations, s0.active_allocations);
    aph_stream_release(b);
    aph_stream_release(a);
}

/* empty_cache returns every completely free segment: reserved_bytes drops to the segments that
 * still hold live blocks. */
static void test_empty_cache(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    APH_ASSERT_OK(aph_device_empty_cache(g_dev));
    const aph_memory_stats s0 = stats_of(g_dev);
    aph_stream* s = new_stream();
    aph_tensor* live = bytes_on(s, 16 * MiB); /* a 16 MiB segment of its own */
    aph_tensor* c1 = bytes_on(s, 1000);       /* a 2 MiB segment */
    aph_tensor* c2 = bytes_on(s, 3 * MiB);    /* a 20 MiB segment */
    aph_tensor_release(c1);
    aph_tensor_release(c2);
    aph_memory_stats q = stats_of(g_dev);
    ASSERT_DELTA(q, s0, reserved_bytes, 38 * MiB);
    ASSERT_DELTA(q, s0, segments, 3);
    ASSERT_DELTA(q, s0, allocated_bytes, 16 * MiB);

    APH_ASSERT_OK(aph_device_empty_cache(g_dev));
    q = stats_of(g_dev);
    ASSERT_DELTA(q, s0, reserved_bytes, 16 * MiB);
    ASSERT_DELTA(q, s0, segments, 1);
    ASSERT_DELTA(q, s0, segment_frees, 2);
    ASSERT_DELTA(q, s0, allocated_bytes, 16 * MiB);
    /* The live tensor is intact. */
    unsigned char* h = (unsigned char*)xmalloc(16 * MiB);
    fill_bytes(h, 16 * MiB);
    APH_ASSERT_OK(aph_tensor_copy_from_host(live, h, 16 * MiB));
    assert_tensor_bytes(live, h, 16 * MiB, "a live tensor across empty_cache");

    aph_tensor_release(live);
    aph_stream_release(s);
    APH_ASSERT_OK(aph_device_empty_cache(g_dev));
    q = stats_of(g_dev);
    assert_int_equal(q.reserved_bytes, s0.reserved_bytes);
    assert_int_equal(q.segments, s0.segments);
    assert_int_equal(q.allocated_bytes, s0.allocated_bytes);
    free(h);
}

/* Budgets: an attached tracker is charged the block size; an allocation over its limit fails
 * with the tracker's message and moves nothing. */
static int detach_tracker(void** state) {
    (void)state;
    aph_device_set_tracker(g_dev, NULL);
    return 0;
}

static void test_budget(void** state) {
    (void)state;
    aph_tracker* tr = NULL;
    APH_ASSERT_OK(aph_tracker_create(1 * MiB, &tr));
    APH_ASSERT_OK(aph_device_set_tracker(g_dev, tr));
    assert_ptr_equal(aph_test_device_tracker(g_dev), tr);

    const int64_t small[] = {250}; /* 1000 bytes: charged 1024 */
    void* h = NULL;
    aph_tensor* t = cuda_random(APH_DTYPE_F32, small, 1, &h);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 1024);
    assert_tensor_bytes(t, h, 1000, "a tensor under a budget");

    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    const aph_memory_stats before = stats_of(g_dev);
    const int64_t over[] = {(int64_t)(2 * MiB / 4)};
    const char* tail = "would exceed limit of 1048576 bytes (current: 1024 bytes)";
    aph_tensor* out = SENTINEL;
    APH_ASSERT_ERR_CONTAINS(aph_tensor_create(g_dev, APH_DTYPE_F32, over, 1, &out), APH_ERR_OUT_OF_MEMORY, tail);
    assert_int_equal(strncmp(aph_last_error(), "out of memory: allocation of ", 29), 0);
    assert_ptr_equal(out, SENTINEL);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_zeros(g_dev, APH_DTYPE_F32, over, 1, &out), APH_ERR_OUT_OF_MEMORY, tail);
    assert_ptr_equal(out, SENTINEL);
    void* big = xmalloc(2 * MiB);
    fill_bytes(big, 2 * MiB);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_from_host(g_dev, APH_DTYPE_F32, over, 1, big, 2 * MiB, &out),
                            APH_ERR_OUT_OF_MEMORY, tail);
    assert_ptr_equal(out, SENTINEL);
    void* raw = SENTINEL_PTR;
    APH_ASSERT_ERR_CONTAINS(aph_device_allocate(g_dev, 2 * MiB, NULL, &raw), APH_ERR_OUT_OF_MEMORY, tail);
    assert_ptr_equal(raw, SENTINEL_PTR);
    const aph_memory_stats after = stats_of(g_dev);
    assert_memory_equal(&after, &before, sizeof before); /* no statistic moved */
    assert_int_equal(aph_tracker_allocated_bytes(tr), 1024);

    /* Reaching the limit exactly is allowed; one block more is not. */
    APH_ASSERT_OK(aph_device_allocate(g_dev, 1 * MiB - 1024, NULL, &raw));
    assert_int_equal(aph_tracker_allocated_bytes(tr), 1 * MiB);
    void* one = SENTINEL_PTR;
    APH_ASSERT_ERR_CONTAINS(aph_device_allocate(g_dev, 1, NULL, &one), APH_ERR_OUT_OF_MEMORY,
                            "would exceed limit of 1048576 bytes (current: 1048576 bytes)");
    assert_ptr_equal(one, SENTINEL_PTR);
    APH_ASSERT_OK(aph_device_free(g_dev, raw));
    assert_int_equal(aph_tracker_allocated_bytes(tr), 1024);

    /* Detached: later allocations are not charged; earlier ones give back to their tracker. */
    APH_ASSERT_OK(aph_device_set_tracker(g_dev, NULL));
    assert_null(aph_test_device_tracker(g_dev));
    aph_tensor* free_of_budget = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(g_dev, APH_DTYPE_F32, over, 1, big, 2 * MiB, &free_of_budget));
    assert_int_equal(aph_tracker_allocated_bytes(tr), 1024);
    aph_tensor_release(t);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    assert_true(aph_tracker_peak_bytes(tr) <= 1 * MiB);
    aph_tensor_release(free_of_budget);
    aph_tracker_release(tr);
    free(big);
    free(h);
}

/* A request the GPU cannot satisfy (4 × its memory): APH_ERR_OUT_OF_MEMORY naming the device,
 * counted, after the cache was emptied and the request retried; the process carries on. */
static void test_out_of_memory(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    /* A completely free segment in the cache, for the retry to give back. */
    aph_stream* s = new_stream();
    void* hold = NULL;
    APH_ASSERT_OK(aph_device_allocate(g_dev, 30 * MiB, s, &hold));
    APH_ASSERT_OK(aph_device_free(g_dev, hold));
    const aph_memory_stats s0 = stats_of(g_dev);
    assert_true(s0.reserved_bytes >= 30 * MiB);

    const uint64_t total = aph_device_total_memory(g_dev);
    assert_true(total > 0);
    const int64_t huge[] = {(int64_t)total}; /* f32: 4 × the device's memory */
    char expect[160];
    snprintf(expect, sizeof expect, "out of memory: cuda:0: tried to allocate %llu bytes",
             (unsigned long long)(4 * total));

    static aph_capture cap; /* static: the sink must outlive any failed assertion below */
    aph_capture_start(&cap);
    aph_tensor* out = SENTINEL;
    const aph_status st = aph_tensor_create(g_dev, APH_DTYPE_F32, huge, 1, &out);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", aph_last_error());
    const int warned = aph_capture_find(&cap, APH_LOG_WARN, "out of memory: cuda:0");
    aph_capture_stop(&cap);

    assert_string_equal(aph_status_name(st), "APH_ERR_OUT_OF_MEMORY");
    if (strstr(msg, "out of memory: cuda:0") != msg || strstr(msg, expect) == NULL) {
        print_error("message '%s' should start with '%s'\n", msg, expect);
        fail();
    }
    assert_ptr_equal(out, SENTINEL);
    assert_true(warned >= 1);
    const aph_memory_stats s1 = stats_of(g_dev);
    ASSERT_DELTA(s1, s0, out_of_memory_events, 1);
    ASSERT_DELTA(s1, s0, alloc_retries, 1); /* the cache held a free segment: emptied, retried */
    assert_true(s1.reserved_bytes <= s0.reserved_bytes - 30 * MiB);
    assert_true(s1.segment_frees >= s0.segment_frees + 1);
    assert_int_equal(s1.allocated_bytes, s0.allocated_bytes);
    assert_int_equal(s1.allocations, s0.allocations);
    assert_int_equal(s1.active_allocations, s0.active_allocations);

    /* Again, raw: nothing left to give back, so no retry. */
    void* raw = SENTINEL_PTR;
    APH_ASSERT_ERR_CONTAINS(aph_device_allocate(g_dev, (size_t)(4 * total), NULL, &raw), APH_ERR_OUT_OF_MEMORY,
                            "out of memory: cuda:0");
    assert_ptr_equal(raw, SENTINEL_PTR);
    const aph_memory_stats s2 = stats_of(g_dev);
    ASSERT_DELTA(s2, s1, out_of_memory_events, 1);
    ASSERT_DELTA(s2, s1, alloc_retries, 0);
    assert_int_equal(s2.allocated_bytes, s0.allocated_bytes);

    /* The device still works. */
    const int64_t shape[] = {4096};
    void* h = NULL;
    aph_tensor* t = cuda_random(APH_DTYPE_F32, shape, 1, &h);
    assert_tensor_bytes(t, h, 4096 * 4, "a tensor after an out-of-memory");
    const aph_memory_stats s3 = stats_of(g_dev);
    ASSERT_DELTA(s3, s2, allocations, 1);
    aph_tensor_release(t);
    free(h);
    aph_stream_release(s);
}

/* ---------------------------------------------------------------------------------------------
 * DLPack
 * ------------------------------------------------------------------------------------------- */

static void check_dl_tensor(const DLTensor* dl, const aph_tensor* t, uint8_t code, uint8_t bits) {
    assert_int_equal(dl->device.device_type, kDLCUDA);
    assert_int_equal(dl->device.device_id, 0);
    assert_int_equal(dl->dtype.code, code);
    assert_int_equal(dl->dtype.bits, bits);
    assert_int_equal(dl->dtype.lanes, 1);
    assert_int_equal(dl->ndim, (int32_t)aph_tensor_ndim(t));
    if (aph_tensor_numel(t) == 0) {
        assert_null(dl->data);
    } else {
        assert_ptr_equal((char*)dl->data + dl->byte_offset, aph_tensor_data(t));
        assert_int_equal(dl->byte_offset, aph_tensor_byte_offset(t));
    }
    if (dl->ndim > 0) {
        assert_memory_equal(dl->shape, aph_tensor_shape(t), (size_t)dl->ndim * sizeof(int64_t));
        assert_non_null(dl->strides);
        assert_memory_equal(dl->strides, aph_tensor_strides(t), (size_t)dl->ndim * sizeof(int64_t));
    }
}

static void test_dlpack_export(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    const aph_memory_stats s0 = stats_of(g_dev);
    static const struct {
        aph_dtype dt;
        uint8_t code, bits;
    } kinds[] = {
        {APH_DTYPE_F32, kDLFloat, 32}, {APH_DTYPE_BF16, kDLBfloat, 16}, {APH_DTYPE_F64, kDLFloat, 64},
        {APH_DTYPE_I8, kDLInt, 8},     {APH_DTYPE_I64, kDLInt, 64},     {APH_DTYPE_BOOL, kDLBool, 8},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; ++k) {
        const aph_dtype dt = kinds[k].dt;
        const size_t es = aph_dtype_size(dt);
        const int64_t shape[] = {3, 4};
        void* h = NULL;
        aph_tensor* t = cuda_random(dt, shape, 2, &h);
        struct DLManagedTensorVersioned* dl = NULL;
        APH_ASSERT_OK(aph_tensor_to_dlpack(t, &dl));
        assert_non_null(dl);
        assert_int_equal(dl->version.major, 1);
        assert_int_equal(dl->version.minor, 1);
        assert_int_equal(dl->flags, 0);
        assert_non_null(dl->deleter);
        check_dl_tensor(&dl->dl_tensor, t, kinds[k].code, kinds[k].bits);
        dl->deleter(dl);

        /* A view: data is the storage's base, byte_offset the view's. */
        aph_tensor* v = NULL;
        APH_ASSERT_OK(aph_tensor_slice(t, 1, 1, 4, 2, &v)); /* [3, 2], strides [4, 2], offset 1 */
        APH_ASSERT_OK(aph_tensor_to_dlpack(v, &dl));
        check_dl_tensor(&dl->dl_tensor, v, kinds[k].code, kinds[k].bits);
        assert_ptr_equal(dl->dl_tensor.data, aph_tensor_data(t));
        assert_int_equal(dl->dl_tensor.byte_offset, es);

        /* The export keeps the memory alive after every handle of ours is gone; importing it
         * back is zero-copy, and dropping the import runs the export's deleter. */
        const void* vp = aph_tensor_data(v);
        aph_tensor_release(v);
        aph_tensor_release(t);
        aph_tensor* back = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack(dl, &back));
        assert_ptr_equal(aph_tensor_data(back), vp);
        assert_ptr_equal(aph_tensor_device(back), g_dev);
        {
            const int64_t sh[] = {3, 2}, st[] = {4, 2};
            check_layout(back, g_dev, 2, sh, st, 0, 0);
            void* want = xmalloc(6 * es);
            host_gather(want, h, es, 2, sh, st, 1);
            assert_tensor_bytes(back, want, 6 * es, "an exported view imported back");
            free(want);
        }
        aph_tensor_release(back);
        free(h);
    }

    /* The unversioned struct, and a zero-size tensor (data NULL). */
    const int64_t shape[] = {5, 2};
    aph_tensor* t = cuda_random(APH_DTYPE_F32, shape, 2, NULL);
    struct DLManagedTensor* old = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack_unversioned(t, &old));
    check_dl_tensor(&old->dl_tensor, t, kDLFloat, 32);
    old->deleter(old);
    aph_tensor_release(t);
    const int64_t empty[] = {0, 3};
    APH_ASSERT_OK(aph_tensor_create(g_dev, APH_DTYPE_F32, empty, 2, &t));
    struct DLManagedTensorVersioned* dl = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &dl));
    check_dl_tensor(&dl->dl_tensor, t, kDLFloat, 32);
    dl->deleter(dl);
    aph_tensor_release(t);

    /* Every exported reference was given back. */
    const aph_memory_stats s1 = stats_of(g_dev);
    assert_int_equal(s1.allocated_bytes, s0.allocated_bytes);
    assert_int_equal(s1.active_allocations, s0.active_allocations);
}

/* A producer's DLPack tensor over memory from aph_device_allocate, with a deleter that counts
 * its calls and frees the memory. */
typedef struct import_ctx {
    DLManagedTensorVersioned m;
    int64_t shape[2];
    int64_t strides[2];
    void* raw;
    int deleted;
    aph_status free_status;
} import_ctx;

static void import_deleter(DLManagedTensorVersioned* self) {
    import_ctx* c = (import_ctx*)self->manager_ctx;
    c->deleted++;
    c->free_status = aph_device_free(g_dev, c->raw);
}

static void import_ctx_init(import_ctx* c, DLDeviceType type, int32_t device_id, uint64_t flags) {
    memset(c, 0, sizeof *c);
    c->free_status = APH_ERR_INTERNAL; /* until the deleter runs */
    APH_ASSERT_OK(aph_device_allocate(g_dev, 16 * 8 * 4 + 512, NULL, &c->raw));
    c->shape[0] = 16;
    c->shape[1] = 8;
    c->m.version.major = 1;
    c->m.version.minor = 1;
    c->m.manager_ctx = c;
    c->m.deleter = import_deleter;
    c->m.flags = flags;
    c->m.dl_tensor.data = c->raw;
    c->m.dl_tensor.device.device_type = type;
    c->m.dl_tensor.device.device_id = device_id;
    c->m.dl_tensor.ndim = 2;
    c->m.dl_tensor.dtype.code = kDLFloat;
    c->m.dl_tensor.dtype.bits = 32;
    c->m.dl_tensor.dtype.lanes = 1;
    c->m.dl_tensor.shape = c->shape;
    c->m.dl_tensor.strides = NULL;
    c->m.dl_tensor.byte_offset = 512;
}

typedef struct import_ctx_unversioned {
    DLManagedTensor m;
    int64_t shape[1];
    void* raw;
    int deleted;
} import_ctx_unversioned;

static void import_deleter_unversioned(DLManagedTensor* self) {
    import_ctx_unversioned* c = (import_ctx_unversioned*)self->manager_ctx;
    c->deleted++;
    aph_device_free(g_dev, c->raw);
}

static void test_dlpack_import(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    const aph_memory_stats s0 = stats_of(g_dev);
    const int64_t shape[] = {16, 8};
    const size_t nbytes = 16 * 8 * 4;

    static const DLDeviceType types[] = {kDLCUDA, kDLCUDAManaged};
    for (size_t k = 0; k < 2; ++k) {
        import_ctx c;
        import_ctx_init(&c, types[k], 0, 0);
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack(&c.m, &t));
        /* Zero-copy: the tensor is the producer's memory. */
        assert_ptr_equal(aph_tensor_data(t), (char*)c.raw + 512);
        check_layout(t, g_dev, 2, shape, (const int64_t[]){8, 1}, 0, 1);
        assert_int_equal(aph_device_get_kind(aph_tensor_device(t)), APH_DEVICE_CUDA);
        assert_int_equal(aph_tensor_dtype(t), APH_DTYPE_F32);
        assert_int_equal(aph_tensor_is_read_only(t), 0);
        void* h = random_host(APH_DTYPE_F32, 128);
        APH_ASSERT_OK(aph_tensor_copy_from_host(t, h, nbytes));
        assert_tensor_bytes(t, h, nbytes, "an imported CUDA tensor");
        /* Writing through our tensor wrote the producer's memory: read it independently. */
        aph_tensor* raw_view = NULL;
        APH_ASSERT_OK(
            aph_tensor_from_blob(g_dev, APH_DTYPE_F32, shape, NULL, 2, (char*)c.raw + 512, NULL, NULL, &raw_view));
        assert_tensor_bytes(raw_view, h, nbytes, "the producer's memory");
        aph_tensor_release(raw_view);

        /* The deleter runs once, when the last view goes. */
        aph_tensor* tt = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &tt));
        aph_tensor_release(t);
        assert_int_equal(c.deleted, 0);
        aph_tensor* cont = NULL;
        APH_ASSERT_OK(aph_tensor_contiguous(tt, &cont)); /* a copy: no reference to the import */
        aph_tensor_release(tt);
        assert_int_equal(c.deleted, 1);
        APH_ASSERT_OK(c.free_status);
        {
            const int64_t sh[] = {8, 16}, st[] = {1, 8};
            void* want = xmalloc(nbytes);
            host_gather(want, h, 4, 2, sh, st, 0);
            assert_tensor_bytes(cont, want, nbytes, "contiguous copy of an imported view");
            free(want);
        }
        aph_tensor_release(cont);
        assert_int_equal(c.deleted, 1);
        free(h);
    }

    /* Explicit (column-major) strides. */
    {
        import_ctx c;
        import_ctx_init(&c, kDLCUDA, 0, 0);
        c.strides[0] = 1;
        c.strides[1] = 16;
        c.m.dl_tensor.strides = c.strides;
        c.m.dl_tensor.byte_offset = 0;
        /* The producer's memory holds the data column-major. */
        void* h = random_host(APH_DTYPE_F32, 128);
        const int64_t flat[] = {128};
        aph_tensor* raw_view = NULL;
        APH_ASSERT_OK(aph_tensor_from_blob(g_dev, APH_DTYPE_F32, flat, NULL, 1, c.raw, NULL, NULL, &raw_view));
        APH_ASSERT_OK(aph_tensor_copy_from_host(raw_view, h, nbytes));
        aph_tensor_release(raw_view);
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack(&c.m, &t));
        assert_ptr_equal(aph_tensor_data(t), c.raw);
        check_layout(t, g_dev, 2, shape, c.strides, 0, 0);
        void* want = xmalloc(nbytes);
        host_gather(want, h, 4, 2, shape, c.strides, 0);
        assert_tensor_bytes(t, want, nbytes, "an imported column-major CUDA tensor");
        aph_tensor_release(t);
        assert_int_equal(c.deleted, 1);
        APH_ASSERT_OK(c.free_status);
        free(want);
        free(h);
    }

    /* Read-only: reads work, writes are refused. */
    {
        import_ctx c;
        import_ctx_init(&c, kDLCUDA, 0, DLPACK_FLAG_BITMASK_READ_ONLY);
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack(&c.m, &t));
        assert_int_equal(aph_tensor_is_read_only(t), 1);
        void* h = random_host(APH_DTYPE_F32, 128);
        APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host(t, h, nbytes), APH_ERR_INVALID_ARGUMENT, "read-only");
        unsigned char* buf = read_back(t);
        free(buf);
        aph_tensor_release(t);
        assert_int_equal(c.deleted, 1);
        free(h);
    }

    /* A CUDA device that is not there: refused, the caller keeps ownership. */
    {
        import_ctx c;
        import_ctx_init(&c, kDLCUDA, g_count, 0);
        aph_tensor* t = SENTINEL;
        char expect[64];
        snprintf(expect, sizeof expect, "device not available: cuda:%d", g_count);
        APH_ASSERT_ERR_CONTAINS(aph_tensor_from_dlpack(&c.m, &t), APH_ERR_DEVICE_NOT_AVAILABLE, expect);
        assert_ptr_equal(t, SENTINEL);
        assert_int_equal(c.deleted, 0);
        c.m.deleter(&c.m); /* ours to delete */
        assert_int_equal(c.deleted, 1);
        APH_ASSERT_OK(c.free_status);
    }

    /* The unversioned struct. */
    {
        import_ctx_unversioned c;
        memset(&c, 0, sizeof c);
        APH_ASSERT_OK(aph_device_allocate(g_dev, 1000, NULL, &c.raw));
        c.shape[0] = 125;
        c.m.manager_ctx = &c;
        c.m.deleter = import_deleter_unversioned;
        c.m.dl_tensor.data = c.raw;
        c.m.dl_tensor.device.device_type = kDLCUDA;
        c.m.dl_tensor.device.device_id = 0;
        c.m.dl_tensor.ndim = 1;
        c.m.dl_tensor.dtype.code = kDLInt;
        c.m.dl_tensor.dtype.bits = 64;
        c.m.dl_tensor.dtype.lanes = 1;
        c.m.dl_tensor.shape = c.shape;
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_dlpack_unversioned(&c.m, &t));
        assert_ptr_equal(aph_tensor_data(t), c.raw);
        assert_ptr_equal(aph_tensor_device(t), g_dev);
        assert_int_equal(aph_tensor_dtype(t), APH_DTYPE_I64);
        void* h = random_host(APH_DTYPE_I64, 125);
        APH_ASSERT_OK(aph_tensor_copy_from_host(t, h, 1000));
        assert_tensor_bytes(t, h, 1000, "an unversioned import");
        aph_tensor_release(t);
        assert_int_equal(c.deleted, 1);
        free(h);
    }

    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    const aph_memory_stats s1 = stats_of(g_dev);
    assert_int_equal(s1.allocated_bytes, s0.allocated_bytes);
    assert_int_equal(s1.active_allocations, s0.active_allocations);
}

/* ---------------------------------------------------------------------------------------------
 * Two GPUs
 * ------------------------------------------------------------------------------------------- */

static void test_cross_device(void** state) {
    (void)state;
    if (g_count < 2) {
        print_message("skipped: one CUDA device; copies between GPUs need two\n");
        skip();
    }
    aph_device* d1 = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CUDA, 1, &d1));
    enum { R = 37, C = 53 };
    const int64_t shape[] = {R, C}, shape_t[] = {C, R};
    static const aph_dtype dts[] = {APH_DTYPE_F32, APH_DTYPE_I8, APH_DTYPE_F64};
    aph_stream* s1 = NULL;
    APH_ASSERT_OK(aph_stream_create(d1, &s1));
    aph_stream* s0 = new_stream();
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; ++k) {
        const aph_dtype dt = dts[k];
        const size_t es = aph_dtype_size(dt);
        const size_t nbytes = (size_t)R * C * es;
        unsigned char* host = NULL;
        aph_tensor* a = cuda_random(dt, shape, 2, (void**)&host);
        unsigned char* want_t = (unsigned char*)xmalloc(nbytes);
        {
            const int64_t st[] = {1, C};
            host_gather(want_t, host, es, 2, shape_t, st, 0);
        }

        aph_tensor* b = NULL;
        APH_ASSERT_OK(aph_tensor_to_device(a, d1, &b));
        assert_ptr_equal(aph_tensor_device(b), d1);
        assert_int_equal(aph_device_ordinal(aph_tensor_device(b)), 1);
        assert_tensor_bytes(b, host, nbytes, "to_device(cuda:1)");
        aph_tensor* back = NULL;
        APH_ASSERT_OK(aph_tensor_to_device(b, g_dev, &back));
        assert_ptr_equal(aph_tensor_device(back), g_dev);
        assert_tensor_bytes(back, host, nbytes, "cuda:0 -> cuda:1 -> cuda:0");

        /* Non-contiguous source on cuda:0 -> contiguous on cuda:1. */
        aph_tensor* at = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(a, 0, 1, &at));
        aph_tensor* d = NULL;
        APH_ASSERT_OK(aph_tensor_create(d1, dt, shape_t, 2, &d));
        APH_ASSERT_OK(aph_tensor_copy(d, at));
        assert_tensor_bytes(d, want_t, nbytes, "cuda:0 transposed -> cuda:1 contiguous");

        /* Non-contiguous on both sides. */
        aph_tensor* z = NULL;
        aph_tensor* zt = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(d1, dt, shape, 2, &z));
        APH_ASSERT_OK(aph_tensor_transpose(z, 0, 1, &zt));
        APH_ASSERT_OK(aph_tensor_copy(zt, at));
        assert_tensor_bytes(z, host, nbytes, "cuda:0 transposed -> cuda:1 transposed");

        /* cuda:1 contiguous -> cuda:0 transposed view. */
        aph_tensor* z0 = NULL;
        aph_tensor* z0t = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(g_dev, dt, shape, 2, &z0));
        APH_ASSERT_OK(aph_tensor_transpose(z0, 0, 1, &z0t));
        APH_ASSERT_OK(aph_tensor_copy(z0t, d));
        assert_tensor_bytes(z0, host, nbytes, "cuda:1 contiguous -> cuda:0 transposed");

        /* copy_async on a stream of the destination device. */
        aph_tensor* e = NULL;
        APH_ASSERT_OK(aph_tensor_create_on_stream(d1, dt, shape, 2, s1, &e));
        /* A stream of another device than the tensor's is refused (nothing allocated). */
        aph_tensor* wrong = (aph_tensor*)&wrong;
        APH_ASSERT_ERR(aph_tensor_create_on_stream(g_dev, dt, shape, 2, s1, &wrong), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        assert_ptr_equal(wrong, (aph_tensor*)&wrong);
        APH_ASSERT_OK(aph_tensor_copy_async(e, a, s1));
        APH_ASSERT_OK(aph_stream_synchronize(s1));
        assert_tensor_bytes(e, host, nbytes, "copy_async cuda:0 -> cuda:1");

        /* copy_async on a stream of the source device, queued right behind an upload of new
         * data into the source on that stream: the peer copy runs there, after the upload. */
        unsigned char* fresh = (unsigned char*)random_host(dt, R * C);
        unsigned char* fresh_t = (unsigned char*)xmalloc(nbytes);
        {
            const int64_t st[] = {1, C};
            host_gather(fresh_t, fresh, es, 2, shape_t, st, 0);
        }
        APH_ASSERT_OK(aph_tensor_copy_from_host_async(a, fresh, nbytes, s0));
        aph_tensor* f = NULL;
        APH_ASSERT_OK(aph_tensor_create(d1, dt, shape, 2, &f));
        APH_ASSERT_OK(aph_tensor_copy_async(f, a, s0));
        APH_ASSERT_OK(aph_stream_synchronize(s0));
        assert_tensor_bytes(f, fresh, nbytes, "copy_async cuda:0 -> cuda:1 on a stream of cuda:0");
        /* ... and into a transposed view on cuda:1 (scattered there). */
        aph_tensor* g = NULL;
        aph_tensor* gt = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(d1, dt, shape_t, 2, &g));
        APH_ASSERT_OK(aph_tensor_transpose(g, 0, 1, &gt));
        APH_ASSERT_OK(aph_tensor_copy_async(gt, a, s0));
        APH_ASSERT_OK(aph_stream_synchronize(s0));
        assert_tensor_bytes(g, fresh_t, nbytes, "copy_async cuda:0 -> transposed cuda:1 on a stream of cuda:0");
        aph_tensor_release(gt);
        aph_tensor_release(g);
        aph_tensor_release(f);
        free(fresh_t);
        free(fresh);

        aph_tensor_release(e);
        aph_tensor_release(z0t);
        aph_tensor_release(z0);
        aph_tensor_release(zt);
        aph_tensor_release(z);
        aph_tensor_release(d);
        aph_tensor_release(at);
        aph_tensor_release(back);
        aph_tensor_release(b);
        aph_tensor_release(a);
        free(want_t);
        free(host);
    }
    /* An event of cuda:0 cannot be recorded on a stream of cuda:1. */
    aph_event* ev = NULL;
    APH_ASSERT_OK(aph_event_create(g_dev, &ev));
    APH_ASSERT_ERR_CONTAINS(aph_event_record(ev, s1), APH_ERR_DEVICE_MISMATCH, "device mismatch: ");
    aph_event_release(ev);
    aph_stream_release(s0);
    aph_stream_release(s1);
    aph_device_release(d1);
}

/* Last: every test gave back what it took (temporaries of strided copies included). */
static void test_nothing_leaked(void** state) {
    (void)state;
    APH_ASSERT_OK(aph_device_synchronize(g_dev));
    APH_ASSERT_OK(aph_device_empty_cache(g_dev));
    const aph_memory_stats s = stats_of(g_dev);
    assert_int_equal(s.allocated_bytes, 0);
    assert_int_equal(s.active_bytes, 0);
    assert_int_equal(s.requested_bytes, 0);
    assert_int_equal(s.active_allocations, 0);
    assert_int_equal(s.reserved_bytes, 0);
    assert_int_equal(s.segments, 0);
    assert_int_equal(s.allocations, s.frees);
    assert_int_equal(s.segment_allocations, s.segment_frees);
    assert_int_equal(s.leaked_allocations, 0);
    /* With the simulated module: every created stream was destroyed, and empty_cache gave back
     * every page-locked staging buffer. */
    if (g_sim_live_streams != NULL) assert_int_equal(g_sim_live_streams(), 0);
    if (g_sim_host_bytes != NULL) {
        const unsigned long long pinned = g_sim_host_bytes();
        if (pinned != 0) print_error("%llu bytes of page-locked memory left\n", pinned);
        assert_int_equal(pinned, 0);
    }
}

static int group_setup(void** state) {
    (void)state;
    if (aph_device_open(APH_DEVICE_CUDA, 0, &g_dev) != APH_OK) {
        fprintf(stderr, "cannot open cuda:0: %s\n", aph_last_error());
        return -1;
    }
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) {
        fprintf(stderr, "cannot open the CPU device: %s\n", aph_last_error());
        return -1;
    }
    return 0;
}

static int group_teardown(void** state) {
    (void)state;
    aph_device_release(g_cpu);
    aph_device_release(g_dev);
    return 0;
}

int main(void) {
    if (aph_device_count(APH_DEVICE_CUDA, &g_count) != APH_OK || g_count == 0) {
        aph_cuda_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        aph_cuda_get_info(&info);
        printf("skipped: no CUDA device (%s)\n", info.reason ? info.reason : "");
        return 77;
    }
    g_seed0 = fresh_seed();
    g_rng = g_seed0;
    fprintf(stderr, "test_tensor_gpu: seed %llu (APH_TEST_SEED=%llu replays it)\n", (unsigned long long)g_seed0,
            (unsigned long long)g_seed0);
    find_sim_counters();
    if (g_sim_live_streams != NULL) {
        fprintf(stderr, "test_tensor_gpu: simulated CUDA module, %s mode\n", g_sim_defer ? "deferred" : "immediate");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_zeros_after_garbage),
        cmocka_unit_test(test_large_transfers),
        cmocka_unit_test(test_strided_reads),
        cmocka_unit_test(test_strided_writes),
        cmocka_unit_test(test_copy_cuda_layouts),
        cmocka_unit_test(test_copy_overlapping_cuda),
        cmocka_unit_test(test_broadcast_destination_refused_cuda),
        cmocka_unit_test(test_copy_cpu_cuda),
        cmocka_unit_test(test_contiguous_and_to_device),
        cmocka_unit_test(test_streams_async),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_stream_wrap),
        cmocka_unit_test(test_async_uploads_back_to_back),
        cmocka_unit_test(test_sync_copies_leave_stream_idle),
        cmocka_unit_test(test_async_calls_leave_stream_busy),
        cmocka_unit_test(test_cpu_stream_waits_for_cuda_event),
        cmocka_unit_test(test_copy_async_cpu_tensors_on_cuda_stream),
        cmocka_unit_test(test_streams_destroyed),
        cmocka_unit_test(test_allocator_stats),
        cmocka_unit_test(test_record_stream_pending),
        cmocka_unit_test(test_raw_device_memory),
        cmocka_unit_test(test_empty_cache),
        cmocka_unit_test_teardown(test_budget, detach_tracker),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_dlpack_export),
        cmocka_unit_test(test_dlpack_import),
        cmocka_unit_test(test_cross_device),
        cmocka_unit_test(test_nothing_leaked),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
