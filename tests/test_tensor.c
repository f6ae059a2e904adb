/* test_tensor.c — section 12 of aphelion.h on the CPU device: creating tensors (create, zeros,
 * from_host, from_blob), the getters (and their NULL answers), round trips through host memory
 * for every dtype and for 0-dimensional and zero-size shapes, zeros that are really zero even
 * when the allocator hands back memory that held garbage, borrowed memory and its deleter
 * (exactly once, with the right arguments, from the thread that drops the last reference, never
 * on failure, never under a library lock), copies between layouts, copy_from_host through a
 * strided view, to_device and contiguous, every error path (status, message naming the
 * argument, out parameters untouched), tensors keeping their device alive, streams and the
 * asynchronous variants, and concurrency (run under ThreadSanitizer in CI).
 *
 * Inputs are fresh random values (seeded from the clock; APH_TEST_SEED=n replays a run). */
#define _DEFAULT_SOURCE /* clock_gettime, pthread_barrier_t */
#include "test_util.h"

#include <stdatomic.h>
#include <time.h>

/* An out parameter's value before a call that must fail; it must still be there afterwards. */
#define SENTINEL ((aph_tensor*)(uintptr_t)0x5E47E1A0u)

static uint64_t g_seed0; /* this run's seed, printed at the start */
static uint64_t g_rng;   /* the main thread's generator; worker threads have their own */

static uint64_t fresh_seed(void) {
    const char* env = getenv("APH_TEST_SEED");
    if (env != NULL && *env != '\0') return strtoull(env, NULL, 10) | 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    return s ? s : 1;
}

static int64_t rnd_range_s(uint64_t* s, int64_t lo, int64_t hi) { /* inclusive */
    return lo + (int64_t)(aph_test_rand(s) % (uint64_t)(hi - lo + 1));
}

/* Asserts that expr fails with APH_ERR_INVALID_ARGUMENT and a message that starts with
 * "invalid argument: " and names the argument. */
#define ASSERT_INVALID_ARG(expr, name)                                                                           \
    do {                                                                                                         \
        aph_status st_ = (expr);                                                                                 \
        if (st_ != APH_ERR_INVALID_ARGUMENT) {                                                                   \
            print_error("%s returned %s (%s), expected APH_ERR_INVALID_ARGUMENT\n", #expr, aph_status_name(st_), \
                        st_ == APH_OK ? "" : aph_last_error());                                                  \
        }                                                                                                        \
        assert_string_equal(aph_status_name(st_), "APH_ERR_INVALID_ARGUMENT");                                   \
        const char* m_ = aph_last_error();                                                                       \
        if (strncmp(m_, "invalid argument: ", 18) != 0 || strstr(m_, (name)) == NULL) {                          \
            print_error("%s: message '%s' should start with 'invalid argument: ' and name "                      \
                        "'%s'\n",                                                                                \
                        #expr, m_, (name));                                                                      \
            fail();                                                                                              \
        }                                                                                                        \
    } while (0)

/* Asserts the status of expr by name (so a failure prints names, not numbers). */
#define ASSERT_STATUS(expr, code)                                                                 \
    do {                                                                                          \
        aph_status st_ = (expr);                                                                  \
        if (st_ != (code)) print_error("%s: %s\n", #expr, st_ == APH_OK ? "" : aph_last_error()); \
        assert_string_equal(aph_status_name(st_), aph_status_name(code));                         \
    } while (0)

static const aph_dtype k_dtypes[] = {
    APH_DTYPE_F32, APH_DTYPE_F16, APH_DTYPE_BF16, APH_DTYPE_F64,  APH_DTYPE_U8,     APH_DTYPE_U32,    APH_DTYPE_I8,
    APH_DTYPE_I16, APH_DTYPE_I32, APH_DTYPE_I64,  APH_DTYPE_BOOL, APH_DTYPE_F8E4M3, APH_DTYPE_F8E5M2,
};
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static aph_device* open_cpu(void) {
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    assert_non_null(d);
    return d;
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
        s *= shape[i];
    }
}

/* n random elements of dtype dt: never all zero (floats are finite, non-zero values; bool is a
 * mix of 0 and 1 with every third element 1; other types have no all-zero element). */
static void fill_random_s(void* buf, int64_t n, aph_dtype dt, uint64_t* s) {
    for (int64_t i = 0; i < n; ++i) {
        uint64_t r = aph_test_rand(s);
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
            case APH_DTYPE_I64: {
                ((uint64_t*)buf)[i] = r ? r : 99u;
                break;
            }
            case APH_DTYPE_BOOL: ((uint8_t*)buf)[i] = (uint8_t)(i % 3 == 0 ? 1 : (r >> 33) & 1); break;
            default: { /* u8, i8, fp8: one byte */
                uint8_t v = (uint8_t)(r >> 40);
                ((uint8_t*)buf)[i] = v ? v : 0x5a;
                break;
            }
        }
    }
}

static void fill_random(void* buf, int64_t n, aph_dtype dt) { fill_random_s(buf, n, dt, &g_rng); }

/* A malloc'd host buffer of numel random elements (at least one byte, never NULL). */
static void* random_host(aph_dtype dt, int64_t numel) {
    size_t bytes = (size_t)numel * aph_dtype_size(dt);
    void* p = malloc(bytes ? bytes : 1);
    assert_non_null(p);
    fill_random(p, numel, dt);
    return p;
}

/* A tensor holding fresh random data; *host (malloc'd, caller frees) receives the same data. */
static aph_tensor* random_tensor(aph_device* d, aph_dtype dt, const int64_t* shape, size_t ndim, void** host) {
    int64_t numel = shape_numel(shape, ndim);
    void* h = random_host(dt, numel);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(d, dt, shape, ndim, h, (size_t)numel * aph_dtype_size(dt), &t));
    assert_non_null(t);
    if (host) *host = h;
    else
        free(h);
    return t;
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

/* to_host of t compared with want (nbytes bytes), into a buffer poisoned first. */
static void assert_tensor_bytes(const aph_tensor* t, const void* want, size_t nbytes, const char* what) {
    assert_int_equal(aph_tensor_nbytes(t), nbytes);
    unsigned char* buf = (unsigned char*)malloc(nbytes ? nbytes : 1);
    assert_non_null(buf);
    memset(buf, 0xA5, nbytes ? nbytes : 1);
    APH_ASSERT_OK(aph_tensor_to_host(t, buf, nbytes));
    assert_bytes_equal(buf, want, nbytes, what);
    free(buf);
}

static void assert_all_zero(const void* p, size_t n, const char* what) {
    const unsigned char* b = (const unsigned char*)p;
    for (size_t i = 0; i < n; ++i) {
        if (b[i] != 0) {
            print_error("%s: byte %zu of %zu is 0x%02x, expected 0\n", what, i, n, b[i]);
            fail();
        }
    }
}

/* Everything the getters report for a freshly created contiguous tensor. */
static void check_fresh(const aph_tensor* t, aph_device* d, aph_dtype dt, const int64_t* shape, size_t ndim) {
    assert_non_null(t);
    const int64_t numel = shape_numel(shape, ndim);
    assert_int_equal(aph_tensor_dtype(t), dt);
    assert_int_equal(aph_tensor_ndim(t), ndim);
    assert_int_equal(aph_tensor_numel(t), numel);
    assert_int_equal(aph_tensor_nbytes(t), (uint64_t)numel * aph_dtype_size(dt));
    assert_ptr_equal(aph_tensor_device(t), d);
    assert_int_equal(aph_tensor_byte_offset(t), 0);
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    if (ndim == 0) {
        assert_null(aph_tensor_shape(t));
        assert_null(aph_tensor_strides(t));
    } else {
        assert_non_null(aph_tensor_shape(t));
        assert_non_null(aph_tensor_strides(t));
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
        assert_int_equal((uintptr_t)aph_tensor_data(t) % 64, 0);
        assert_int_equal(aph_tensor_shares_storage(t, t), 1);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Creation and getters
 * ------------------------------------------------------------------------------------------- */

static const int64_t k_shapes[][5] = {
    {5}, {3, 4}, {2, 3, 4}, {1, 7, 1}, {2, 1, 3, 1, 2}, {1}, {129}, {33, 65},
};
static const size_t k_ndims[] = {1, 2, 3, 3, 5, 1, 1, 2};
#define N_SHAPES (sizeof k_ndims / sizeof k_ndims[0])

static void test_create_getters(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    for (size_t k = 0; k < N_DTYPES; ++k) {
        for (size_t s = 0; s < N_SHAPES; ++s) {
            aph_tensor* t = NULL;
            APH_ASSERT_OK(aph_tensor_create(d, k_dtypes[k], k_shapes[s], k_ndims[s], &t));
            check_fresh(t, d, k_dtypes[k], k_shapes[s], k_ndims[s]);
            /* The tensor copied the shape: changing the caller's array changes nothing. */
            int64_t shape[5];
            memcpy(shape, k_shapes[s], sizeof shape);
            aph_tensor* u = NULL;
            APH_ASSERT_OK(aph_tensor_zeros(d, k_dtypes[k], shape, k_ndims[s], &u));
            shape[0] = 1000;
            check_fresh(u, d, k_dtypes[k], k_shapes[s], k_ndims[s]);
            /* Two tensors, two storages. */
            assert_ptr_not_equal(t, u);
            assert_ptr_not_equal(aph_tensor_data(t), aph_tensor_data(u));
            assert_int_equal(aph_tensor_shares_storage(t, u), 0);
            aph_tensor_release(t);
            aph_tensor_release(u);
        }
    }
    /* Exactly APH_TENSOR_MAX_DIMS dimensions is allowed. */
    int64_t big[APH_TENSOR_MAX_DIMS];
    for (size_t i = 0; i < APH_TENSOR_MAX_DIMS; ++i) big[i] = (i % 3 == 0) ? 2 : 1;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, big, APH_TENSOR_MAX_DIMS, &t));
    check_fresh(t, d, APH_DTYPE_F32, big, APH_TENSOR_MAX_DIMS);
    aph_tensor_release(t);
    aph_device_release(d);
}

static void test_null_getters(void** state) {
    (void)state;
    assert_int_equal(aph_tensor_dtype(NULL), APH_DTYPE_INVALID);
    assert_int_equal(aph_tensor_ndim(NULL), 0);
    assert_null(aph_tensor_shape(NULL));
    assert_null(aph_tensor_strides(NULL));
    assert_int_equal(aph_tensor_numel(NULL), 0);
    assert_int_equal(aph_tensor_nbytes(NULL), 0);
    assert_null(aph_tensor_data(NULL));
    assert_int_equal(aph_tensor_byte_offset(NULL), 0);
    assert_null(aph_tensor_device(NULL));
    assert_int_equal(aph_tensor_is_contiguous(NULL), 0);
    assert_int_equal(aph_tensor_is_read_only(NULL), 0);
    assert_int_equal(aph_tensor_shares_storage(NULL, NULL), 0);
    aph_device* d = open_cpu();
    aph_tensor* t = random_tensor(d, APH_DTYPE_F32, k_shapes[1], 2, NULL);
    assert_int_equal(aph_tensor_shares_storage(t, NULL), 0);
    assert_int_equal(aph_tensor_shares_storage(NULL, t), 0);
    aph_tensor_release(t);
    aph_device_release(d);
}

static void test_release_retain(void** state) {
    (void)state;
    aph_tensor_release(NULL);
    aph_tensor_retain(NULL);
    aph_device* d = open_cpu();
    void* host = NULL;
    const int64_t shape[] = {4, 9};
    aph_tensor* t = random_tensor(d, APH_DTYPE_I32, shape, 2, &host);
    /* A second reference keeps the tensor usable after the first is given back. */
    aph_tensor_retain(t);
    aph_tensor_retain(t);
    aph_tensor_release(t);
    aph_tensor_release(t);
    check_fresh(t, d, APH_DTYPE_I32, shape, 2);
    assert_tensor_bytes(t, host, 36 * 4, "after retain/release");
    aph_tensor_release(t);
    free(host);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------------- */

static void test_round_trip_all_dtypes(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    for (size_t k = 0; k < N_DTYPES; ++k) {
        const aph_dtype dt = k_dtypes[k];
        const size_t es = aph_dtype_size(dt);
        for (size_t s = 0; s < N_SHAPES; ++s) {
            const int64_t* shape = k_shapes[s];
            const size_t ndim = k_ndims[s];
            const int64_t numel = shape_numel(shape, ndim);
            const size_t nbytes = (size_t)numel * es;
            void* host = random_host(dt, numel);

            /* from_host -> to_host, and the memory itself (a CPU tensor's data is host memory). */
            aph_tensor* t = NULL;
            APH_ASSERT_OK(aph_tensor_from_host(d, dt, shape, ndim, host, nbytes, &t));
            check_fresh(t, d, dt, shape, ndim);
            assert_bytes_equal(aph_tensor_data(t), host, nbytes, "from_host memory");
            assert_tensor_bytes(t, host, nbytes, "from_host -> to_host");

            /* create -> copy_from_host -> to_host, with different data. */
            void* host2 = random_host(dt, numel);
            aph_tensor* u = NULL;
            APH_ASSERT_OK(aph_tensor_create(d, dt, shape, ndim, &u));
            APH_ASSERT_OK(aph_tensor_copy_from_host(u, host2, nbytes));
            assert_tensor_bytes(u, host2, nbytes, "copy_from_host -> to_host");
            assert_bytes_equal(aph_tensor_data(u), host2, nbytes, "copy_from_host memory");

            /* from_host copied: changing the source afterwards changes nothing. */
            memset(host, 0, nbytes);
            assert_bytes_equal(aph_tensor_data(u), host2, nbytes, "u after clearing host");
            /* Overwrite t with host2 and check the round trip again. */
            APH_ASSERT_OK(aph_tensor_copy_from_host(t, host2, nbytes));
            assert_tensor_bytes(t, host2, nbytes, "copy_from_host over from_host");

            aph_tensor_release(t);
            aph_tensor_release(u);
            free(host);
            free(host2);
        }
    }
    aph_device_release(d);
}

static void test_zero_dim(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    for (size_t k = 0; k < N_DTYPES; ++k) {
        const aph_dtype dt = k_dtypes[k];
        const size_t es = aph_dtype_size(dt);
        unsigned char v[8], w[8], back[8];
        fill_random(v, 1, dt);
        fill_random(w, 1, dt);
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_host(d, dt, NULL, 0, v, es, &t));
        check_fresh(t, d, dt, NULL, 0);
        assert_int_equal(aph_tensor_numel(t), 1);
        assert_int_equal(aph_tensor_nbytes(t), es);
        assert_tensor_bytes(t, v, es, "0-dim from_host");
        APH_ASSERT_OK(aph_tensor_copy_from_host(t, w, es));
        memset(back, 0xA5, sizeof back);
        APH_ASSERT_OK(aph_tensor_to_host(t, back, es));
        assert_bytes_equal(back, w, es, "0-dim copy_from_host");
        /* The byte count is still checked. */
        ASSERT_STATUS(aph_tensor_to_host(t, back, es + 1), APH_ERR_SHAPE_MISMATCH);
        ASSERT_STATUS(aph_tensor_to_host(t, back, 0), APH_ERR_SHAPE_MISMATCH);
        aph_tensor_release(t);

        aph_tensor* z = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(d, dt, NULL, 0, &z));
        check_fresh(z, d, dt, NULL, 0);
        memset(back, 0xA5, sizeof back);
        APH_ASSERT_OK(aph_tensor_to_host(z, back, es));
        assert_all_zero(back, es, "0-dim zeros");
        aph_tensor_release(z);

        aph_tensor* c = NULL;
        APH_ASSERT_OK(aph_tensor_create(d, dt, NULL, 0, &c));
        check_fresh(c, d, dt, NULL, 0);
        aph_tensor_release(c);
    }
    aph_device_release(d);
}

static void test_zero_size(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    static const int64_t shapes[][3] = {{0}, {3, 0, 2}, {0, 0}, {1, 0}, {0, 5, 7}};
    static const size_t ndims[] = {1, 3, 2, 2, 3};
    for (size_t s = 0; s < sizeof ndims / sizeof ndims[0]; ++s) {
        for (size_t k = 0; k < N_DTYPES; k += 3) {
            const aph_dtype dt = k_dtypes[k];
            unsigned char buf[4] = {1, 2, 3, 4};
            aph_tensor* t = NULL;
            APH_ASSERT_OK(aph_tensor_create(d, dt, shapes[s], ndims[s], &t));
            check_fresh(t, d, dt, shapes[s], ndims[s]);
            assert_int_equal(aph_tensor_numel(t), 0);
            assert_int_equal(aph_tensor_nbytes(t), 0);
            assert_null(aph_tensor_data(t));
            APH_ASSERT_OK(aph_tensor_to_host(t, buf, 0));
            APH_ASSERT_OK(aph_tensor_copy_from_host(t, buf, 0));
            assert_int_equal(buf[0], 1); /* nothing was written */
            ASSERT_STATUS(aph_tensor_to_host(t, buf, 4), APH_ERR_SHAPE_MISMATCH);
            ASSERT_STATUS(aph_tensor_copy_from_host(t, buf, 1), APH_ERR_SHAPE_MISMATCH);

            aph_tensor* z = NULL;
            APH_ASSERT_OK(aph_tensor_zeros(d, dt, shapes[s], ndims[s], &z));
            check_fresh(z, d, dt, shapes[s], ndims[s]);
            /* from_host with no data: NULL is allowed when nbytes is 0. */
            aph_tensor* h = NULL;
            APH_ASSERT_OK(aph_tensor_from_host(d, dt, shapes[s], ndims[s], NULL, 0, &h));
            check_fresh(h, d, dt, shapes[s], ndims[s]);
            aph_tensor* h2 = NULL;
            APH_ASSERT_OK(aph_tensor_from_host(d, dt, shapes[s], ndims[s], buf, 0, &h2));
            check_fresh(h2, d, dt, shapes[s], ndims[s]);
            /* Zero-size copies and conversions work everywhere. */
            APH_ASSERT_OK(aph_tensor_copy(z, h));
            aph_tensor* e = NULL;
            APH_ASSERT_OK(aph_tensor_to_device(h, d, &e));
            check_fresh(e, d, dt, shapes[s], ndims[s]);
            aph_tensor* c = NULL;
            APH_ASSERT_OK(aph_tensor_contiguous(h2, &c));
            assert_ptr_equal(c, h2);
            aph_tensor_release(c);
            aph_tensor_release(e);
            aph_tensor_release(h2);
            aph_tensor_release(h);
            aph_tensor_release(z);
            aph_tensor_release(t);
        }
    }
    /* Strides of a zero-size tensor count its zero dimensions as 1 (PyTorch's convention), so
     * the other dimensions keep the strides they would have. */
    {
        const int64_t s203[] = {2, 0, 3}, want[] = {3, 3, 1};
        aph_tensor* z = NULL;
        APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, s203, 3, &z));
        assert_memory_equal(aph_tensor_strides(z), want, sizeof want);
        aph_tensor_release(z);
        APH_ASSERT_OK(aph_tensor_zeros(d, APH_DTYPE_I16, s203, 3, &z));
        assert_memory_equal(aph_tensor_strides(z), want, sizeof want);
        aph_tensor_release(z);
        const int64_t s0[] = {0, 4}, want0[] = {4, 1};
        APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_U8, s0, 2, &z));
        assert_memory_equal(aph_tensor_strides(z), want0, sizeof want0);
        aph_tensor_release(z);
    }

    /* A zero dimension makes an empty tensor whatever the other sizes are. */
    const int64_t huge[] = {INT64_MAX, 0, INT64_MAX};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F64, huge, 3, &t));
    assert_int_equal(aph_tensor_numel(t), 0);
    assert_int_equal(aph_tensor_nbytes(t), 0);
    assert_null(aph_tensor_data(t));
    aph_tensor_release(t);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Zeros
 * ------------------------------------------------------------------------------------------- */

static void test_zeros_all_dtypes(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {7, 13};
    for (size_t k = 0; k < N_DTYPES; ++k) {
        const size_t nbytes = 91 * aph_dtype_size(k_dtypes[k]);
        aph_tensor* z = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(d, k_dtypes[k], shape, 2, &z));
        check_fresh(z, d, k_dtypes[k], shape, 2);
        assert_all_zero(aph_tensor_data(z), nbytes, "zeros memory");
        unsigned char* buf = (unsigned char*)malloc(nbytes);
        memset(buf, 0xA5, nbytes);
        APH_ASSERT_OK(aph_tensor_to_host(z, buf, nbytes));
        assert_all_zero(buf, nbytes, "zeros to_host");
        free(buf);
        aph_tensor_release(z);
    }
    aph_device_release(d);
}

/* The allocator caches freed blocks, so zeros must clear memory that held something else. */
static void test_zeros_after_garbage(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    static const int64_t sizes[] = {1, 100, 128, 1000, 70000, 262144, 300000, 3000000};
    for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
            const int64_t shape[] = {sizes[i]};
            const size_t nbytes = (size_t)sizes[i] * 4;
            aph_tensor* g = NULL;
            APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, shape, 1, &g));
            memset(aph_test_data_mut(g), 0xFF, nbytes); /* garbage, written straight into memory */
            aph_tensor_release(g);

            aph_tensor* z = NULL;
            APH_ASSERT_OK(aph_tensor_zeros(d, APH_DTYPE_F32, shape, 1, &z));
            assert_all_zero(aph_tensor_data(z), nbytes, "zeros after garbage");
            /* And once more with the same bytes seen as another dtype and shape. */
            memset(aph_test_data_mut(z), 0xEE, nbytes);
            aph_tensor_release(z);
            const int64_t shape2[] = {sizes[i], 2};
            APH_ASSERT_OK(aph_tensor_zeros(d, APH_DTYPE_I16, shape2, 2, &z));
            assert_all_zero(aph_tensor_data(z), nbytes, "i16 zeros after garbage");
            aph_tensor_release(z);
        }
    }
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Errors of the constructors
 * ------------------------------------------------------------------------------------------- */

static void test_create_errors(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {2, 3};
    float data[6] = {1, 2, 3, 4, 5, 6};
    aph_tensor* out = SENTINEL;

    /* NULL device. */
    ASSERT_INVALID_ARG(aph_tensor_create(NULL, APH_DTYPE_F32, shape, 2, &out), "device");
    ASSERT_INVALID_ARG(aph_tensor_zeros(NULL, APH_DTYPE_F32, shape, 2, &out), "device");
    ASSERT_INVALID_ARG(aph_tensor_from_host(NULL, APH_DTYPE_F32, shape, 2, data, 24, &out), "device");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(NULL, APH_DTYPE_F32, shape, NULL, 2, data, NULL, NULL, &out), "device");
    /* NULL out. */
    ASSERT_INVALID_ARG(aph_tensor_create(d, APH_DTYPE_F32, shape, 2, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_zeros(d, APH_DTYPE_F32, shape, 2, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_from_host(d, APH_DTYPE_F32, shape, 2, data, 24, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, data, NULL, NULL, NULL), "out");
    /* NULL shape with ndim > 0. */
    ASSERT_INVALID_ARG(aph_tensor_create(d, APH_DTYPE_F32, NULL, 2, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_zeros(d, APH_DTYPE_F32, NULL, 1, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_from_host(d, APH_DTYPE_F32, NULL, 2, data, 24, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F32, NULL, NULL, 2, data, NULL, NULL, &out), "shape");
    /* NULL data with nbytes > 0. */
    ASSERT_INVALID_ARG(aph_tensor_from_host(d, APH_DTYPE_F32, shape, 2, NULL, 24, &out), "data");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, NULL, NULL, NULL, &out), "data");

    /* Negative dimensions, wherever they are, even next to a zero. */
    const int64_t neg1[] = {-1};
    const int64_t neg2[] = {2, -3};
    const int64_t neg3[] = {0, -1, 4};
    ASSERT_INVALID_ARG(aph_tensor_create(d, APH_DTYPE_F32, neg1, 1, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_create(d, APH_DTYPE_F32, neg2, 2, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_create(d, APH_DTYPE_F32, neg3, 3, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_zeros(d, APH_DTYPE_F32, neg2, 2, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_from_host(d, APH_DTYPE_F32, neg3, 3, NULL, 0, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F32, neg2, NULL, 2, data, NULL, NULL, &out), "shape");

    /* Too many dimensions. */
    int64_t many[APH_TENSOR_MAX_DIMS + 1];
    for (size_t i = 0; i < APH_TENSOR_MAX_DIMS + 1; ++i) many[i] = 1;
    ASSERT_INVALID_ARG(aph_tensor_create(d, APH_DTYPE_F32, many, APH_TENSOR_MAX_DIMS + 1, &out), "ndim");
    ASSERT_INVALID_ARG(aph_tensor_zeros(d, APH_DTYPE_F32, many, APH_TENSOR_MAX_DIMS + 1, &out), "ndim");
    ASSERT_INVALID_ARG(aph_tensor_from_host(d, APH_DTYPE_F32, many, APH_TENSOR_MAX_DIMS + 1, data, 4, &out), "ndim");
    ASSERT_INVALID_ARG(
        aph_tensor_from_blob(d, APH_DTYPE_F32, many, NULL, APH_TENSOR_MAX_DIMS + 1, data, NULL, NULL, &out), "ndim");

    /* Invalid dtypes. */
    static const int bad_dtypes[] = {-1, 13, 99, -7};
    for (size_t i = 0; i < 4; ++i) {
        const aph_dtype bad = (aph_dtype)bad_dtypes[i];
        ASSERT_INVALID_ARG(aph_tensor_create(d, bad, shape, 2, &out), "dtype");
        ASSERT_INVALID_ARG(aph_tensor_zeros(d, bad, shape, 2, &out), "dtype");
        ASSERT_INVALID_ARG(aph_tensor_from_host(d, bad, shape, 2, data, 24, &out), "dtype");
        ASSERT_INVALID_ARG(aph_tensor_from_blob(d, bad, shape, NULL, 2, data, NULL, NULL, &out), "dtype");
    }

    /* Sizes whose product (or byte count) overflows are refused, never wrapped. */
    const int64_t over1[] = {(int64_t)1 << 40, (int64_t)1 << 40};
    const int64_t over2[] = {INT64_MAX, 2};
    const int64_t over3[] = {(int64_t)1 << 62}; /* numel fits, bytes as i64 do not */
    aph_status st = aph_tensor_create(d, APH_DTYPE_F32, over1, 2, &out);
    assert_true(st == APH_ERR_INVALID_ARGUMENT || st == APH_ERR_OUT_OF_MEMORY);
    st = aph_tensor_zeros(d, APH_DTYPE_U8, over2, 2, &out);
    assert_true(st == APH_ERR_INVALID_ARGUMENT || st == APH_ERR_OUT_OF_MEMORY);
    st = aph_tensor_create(d, APH_DTYPE_I64, over3, 1, &out);
    assert_true(st == APH_ERR_INVALID_ARGUMENT || st == APH_ERR_OUT_OF_MEMORY);

    /* Nothing was ever written to out. */
    assert_ptr_equal(out, SENTINEL);
    aph_device_release(d);
}

static void test_from_host_nbytes_mismatch(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {2, 3};
    double data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    aph_tensor* out = SENTINEL;
    APH_ASSERT_ERR(aph_tensor_from_host(d, APH_DTYPE_F32, shape, 2, data, 20, &out), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [24], got [20]");
    APH_ASSERT_ERR(aph_tensor_from_host(d, APH_DTYPE_F32, shape, 2, data, 28, &out), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [24], got [28]");
    APH_ASSERT_ERR(aph_tensor_from_host(d, APH_DTYPE_F64, shape, 2, data, 24, &out), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [48], got [24]");
    APH_ASSERT_ERR(aph_tensor_from_host(d, APH_DTYPE_F16, NULL, 0, data, 4, &out), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2], got [4]");
    const int64_t empty[] = {4, 0};
    APH_ASSERT_ERR(aph_tensor_from_host(d, APH_DTYPE_F32, empty, 2, data, 8, &out), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [0], got [8]");
    assert_ptr_equal(out, SENTINEL);
    aph_device_release(d);
}

static void test_host_copy_errors(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {3, 5};
    void* host = NULL;
    aph_tensor* t = random_tensor(d, APH_DTYPE_I16, shape, 2, &host);
    unsigned char buf[64];
    memset(buf, 0x3C, sizeof buf);

    APH_ASSERT_ERR_CONTAINS(aph_tensor_to_host(t, buf, 29), APH_ERR_SHAPE_MISMATCH, "shape mismatch: ");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_to_host(t, buf, 31), APH_ERR_SHAPE_MISMATCH, "shape mismatch: ");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host(t, buf, 60), APH_ERR_SHAPE_MISMATCH, "shape mismatch: ");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_to_host_async(t, buf, 0, NULL), APH_ERR_SHAPE_MISMATCH, "shape mismatch: ");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host_async(t, buf, 15, NULL), APH_ERR_SHAPE_MISMATCH,
                            "shape mismatch: ");
    /* A failed copy_from_host changed nothing. */
    assert_tensor_bytes(t, host, 30, "after failed copy_from_host");
    /* A failed to_host wrote nothing. */
    for (size_t i = 0; i < sizeof buf; ++i) assert_int_equal(buf[i], 0x3C);

    ASSERT_INVALID_ARG(aph_tensor_to_host(NULL, buf, 30), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_to_host(t, NULL, 30), "dst");
    ASSERT_INVALID_ARG(aph_tensor_copy_from_host(NULL, buf, 30), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_copy_from_host(t, NULL, 30), "src");
    ASSERT_INVALID_ARG(aph_tensor_to_host_async(NULL, buf, 30, NULL), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_to_host_async(t, NULL, 30, NULL), "dst");
    ASSERT_INVALID_ARG(aph_tensor_copy_from_host_async(NULL, buf, 30, NULL), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_copy_from_host_async(t, NULL, 30, NULL), "src");
    assert_tensor_bytes(t, host, 30, "after failed calls");
    aph_tensor_release(t);
    free(host);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Borrowed memory: from_blob and its deleter
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    atomic_int calls;
    void* data;
    void* user_data;
    pthread_t thread;
} deleter_log;

static void record_deleter(void* user_data, void* data) {
    deleter_log* log = (deleter_log*)user_data;
    log->data = data;
    log->user_data = user_data;
    log->thread = pthread_self();
    atomic_fetch_add(&log->calls, 1);
}

static void deleter_log_init(deleter_log* log) {
    memset(log, 0, sizeof *log);
    atomic_init(&log->calls, 0);
}

static void test_from_blob_contiguous(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    float* buf = (float*)malloc(12 * sizeof(float));
    fill_random(buf, 12, APH_DTYPE_F32);
    const int64_t shape[] = {3, 4};
    deleter_log log;
    deleter_log_init(&log);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, buf, record_deleter, &log, &t));
    assert_non_null(t);
    assert_ptr_equal(aph_tensor_data(t), buf); /* no copy */
    assert_int_equal(aph_tensor_byte_offset(t), 0);
    assert_ptr_equal(aph_tensor_device(t), d);
    assert_int_equal(aph_tensor_dtype(t), APH_DTYPE_F32);
    assert_int_equal(aph_tensor_ndim(t), 2);
    assert_memory_equal(aph_tensor_shape(t), shape, sizeof shape);
    const int64_t want_strides[] = {4, 1};
    assert_memory_equal(aph_tensor_strides(t), want_strides, sizeof want_strides);
    assert_int_equal(aph_tensor_numel(t), 12);
    assert_int_equal(aph_tensor_nbytes(t), 48);
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    assert_tensor_bytes(t, buf, 48, "from_blob to_host");

    /* The tensor sees the caller's writes, and the caller sees the tensor's. */
    float snapshot[12];
    buf[5] = 12345.5f;
    memcpy(snapshot, buf, sizeof snapshot);
    assert_tensor_bytes(t, snapshot, 48, "from_blob after caller write");
    float fresh[12];
    fill_random(fresh, 12, APH_DTYPE_F32);
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, fresh, 48));
    assert_bytes_equal(buf, fresh, 48, "caller buffer after copy_from_host");
    assert_int_equal(atomic_load(&log.calls), 0);

    aph_tensor_release(t);
    assert_int_equal(atomic_load(&log.calls), 1);
    assert_ptr_equal(log.data, buf);
    assert_ptr_equal(log.user_data, &log);
    free(buf);

    /* No deleter: the caller keeps the memory; nothing is called. */
    float local[6];
    fill_random(local, 6, APH_DTYPE_F32);
    const int64_t shape2[] = {6};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape2, NULL, 1, local, NULL, NULL, &t));
    assert_ptr_equal(aph_tensor_data(t), local);
    assert_tensor_bytes(t, local, 24, "from_blob without deleter");
    aph_tensor_release(t);

    /* A 0-dimensional blob and an unaligned one (bytes have no alignment needs). */
    unsigned char bytes[9];
    fill_random(bytes, 9, APH_DTYPE_U8);
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_U8, NULL, NULL, 0, bytes + 3, NULL, NULL, &t));
    assert_int_equal(aph_tensor_ndim(t), 0);
    assert_int_equal(aph_tensor_numel(t), 1);
    assert_ptr_equal(aph_tensor_data(t), bytes + 3);
    assert_tensor_bytes(t, bytes + 3, 1, "0-dim blob");
    aph_tensor_release(t);
    const int64_t five[] = {5};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_U8, five, NULL, 1, bytes + 1, NULL, NULL, &t));
    assert_ptr_equal(aph_tensor_data(t), bytes + 1);
    assert_tensor_bytes(t, bytes + 1, 5, "unaligned blob");
    aph_tensor_release(t);

    /* A zero-size blob still hands its memory back to its owner, exactly once. */
    deleter_log_init(&log);
    const int64_t empty[] = {2, 0};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, empty, NULL, 2, local, record_deleter, &log, &t));
    assert_int_equal(aph_tensor_numel(t), 0);
    assert_null(aph_tensor_data(t));
    APH_ASSERT_OK(aph_tensor_to_host(t, local, 0));
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&log.calls), 1);
    assert_ptr_equal(log.data, local);
    aph_device_release(d);
}

static void test_from_blob_strided(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    float buf[24];
    fill_random(buf, 24, APH_DTYPE_F32);
    float got[24], want[24];
    aph_tensor* t = NULL;

    /* Column-major 4x3 over a 3x4 row-major buffer: element (i, j) is buf[j * 4 + i]. */
    const int64_t shape_t[] = {4, 3}, strides_t[] = {1, 4};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape_t, strides_t, 2, buf, NULL, NULL, &t));
    assert_memory_equal(aph_tensor_strides(t), strides_t, sizeof strides_t);
    assert_memory_equal(aph_tensor_shape(t), shape_t, sizeof shape_t);
    assert_int_equal(aph_tensor_is_contiguous(t), 0);
    assert_ptr_equal(aph_tensor_data(t), buf);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j) want[i * 3 + j] = buf[j * 4 + i];
    assert_tensor_bytes(t, want, 48, "column-major blob");
    aph_tensor_release(t);

    /* Padded rows: 3 rows of 4 with a pitch of 7. */
    const int64_t shape_p[] = {3, 4}, strides_p[] = {7, 1};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape_p, strides_p, 2, buf + 2, NULL, NULL, &t));
    assert_int_equal(aph_tensor_is_contiguous(t), 0);
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) want[i * 4 + j] = buf[2 + i * 7 + j];
    assert_tensor_bytes(t, want, 48, "padded blob");
    /* Writes through a strided blob land in the right places, and nowhere else. */
    float fresh[12];
    fill_random(fresh, 12, APH_DTYPE_F32);
    float before[24];
    memcpy(before, buf, sizeof buf);
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, fresh, 48));
    for (int k = 0; k < 24; ++k) {
        int r = (k - 2) / 7, c = (k - 2) % 7;
        if (k >= 2 && r < 3 && c < 4) assert_memory_equal(&buf[k], &fresh[r * 4 + c], 4);
        else
            assert_memory_equal(&buf[k], &before[k], 4);
    }
    aph_tensor_release(t);

    /* Broadcast rows (stride 0) are allowed. */
    const int64_t shape_b[] = {3, 5}, strides_b[] = {0, 1};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape_b, strides_b, 2, buf, NULL, NULL, &t));
    assert_int_equal(aph_tensor_is_contiguous(t), 0);
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 5; ++j) want[i * 5 + j] = buf[j];
    memset(got, 0, sizeof got);
    APH_ASSERT_OK(aph_tensor_to_host(t, got, 60));
    assert_bytes_equal(got, want, 60, "broadcast blob");
    aph_tensor_release(t);

    /* Explicit contiguous strides are contiguous; size-1 dimensions may have any stride. */
    const int64_t shape_c[] = {2, 1, 3}, strides_c[] = {3, 17, 1};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape_c, strides_c, 3, buf, NULL, NULL, &t));
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    assert_tensor_bytes(t, buf, 24, "contiguous strided blob");
    aph_tensor_release(t);

    /* Even INT64_MAX: a size-1 dimension's stride never moves the address, so it cannot
     * overflow the extent. */
    deleter_log log;
    deleter_log_init(&log);
    const int64_t shape_1[] = {1}, strides_max[] = {INT64_MAX};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape_1, strides_max, 1, buf + 3, record_deleter, &log, &t));
    assert_int_equal(aph_tensor_strides(t)[0], INT64_MAX);
    assert_int_equal(aph_tensor_numel(t), 1);
    assert_int_equal(aph_tensor_nbytes(t), 4);
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    assert_ptr_equal(aph_tensor_data(t), buf + 3);
    assert_tensor_bytes(t, buf + 3, 4, "a one-element blob with stride INT64_MAX");
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&log.calls), 1);
    assert_ptr_equal(log.data, buf + 3);

    /* The largest span allowed: exactly INT64_MAX bytes (never read here, only described). */
    const int64_t two[] = {2}, edge[] = {INT64_MAX - 1};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_U8, two, edge, 1, buf, record_deleter, &log, &t));
    assert_int_equal(aph_tensor_strides(t)[0], INT64_MAX - 1);
    aph_tensor_release(t);
    assert_int_equal(atomic_load(&log.calls), 2);
    aph_device_release(d);
}

static void test_from_blob_errors(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    float buf[16] = {0};
    deleter_log log;
    deleter_log_init(&log);
    aph_tensor* out = SENTINEL;
    const int64_t shape[] = {2, 3};
    const int64_t neg_strides[] = {-3, 1};
    const int64_t neg_strides2[] = {3, -1};
    ASSERT_INVALID_ARG(
        aph_tensor_from_blob(d, APH_DTYPE_F32, shape, neg_strides, 2, buf + 8, record_deleter, &log, &out), "strides");
    ASSERT_INVALID_ARG(
        aph_tensor_from_blob(d, APH_DTYPE_F32, shape, neg_strides2, 2, buf + 8, record_deleter, &log, &out), "strides");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, NULL, record_deleter, &log, &out),
                       "data");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, (aph_dtype)42, shape, NULL, 2, buf, record_deleter, &log, &out),
                       "dtype");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(NULL, APH_DTYPE_F32, shape, NULL, 2, buf, record_deleter, &log, &out),
                       "device");
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, buf, record_deleter, &log, NULL), "out");
    const int64_t neg_shape[] = {2, -3};
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F32, neg_shape, NULL, 2, buf, record_deleter, &log, &out),
                       "shape");
    /* The last element's address overflows 64 bits only once scaled to bytes: (2^61 + 1) × 8. */
    const int64_t two[] = {2}, huge_stride[] = {1LL << 61};
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F64, two, huge_stride, 1, buf, record_deleter, &log, &out),
                       "strides");
    /* Fits 64 unsigned bits but not a signed byte offset: 2 × INT64_MAX + 1 bytes. */
    const int64_t three[] = {3}, max_stride[] = {INT64_MAX};
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_U8, three, max_stride, 1, buf, record_deleter, &log, &out),
                       "strides");
    const int64_t two_d[] = {3, 2}, big_strides[] = {1LL << 62, 1}; /* 2^63 + 2 bytes */
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_U8, two_d, big_strides, 2, buf, record_deleter, &log, &out),
                       "strides");
    /* Broadcast (stride 0) dimensions span one element, but numel × size must still fit:
     * (2^61 + 1) f64 elements would claim nbytes 8 (to_host into 8 bytes then wrote 2^61 + 1
     * elements), and [2^62, 3] u8 elements a negative numel. */
    const int64_t wrap_bytes[] = {(1LL << 61) + 1}, zero1[] = {0};
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_F64, wrap_bytes, zero1, 1, buf, record_deleter, &log, &out),
                       "shape");
    const int64_t wrap_numel[] = {1LL << 62, 3}, zero2[] = {0, 0};
    ASSERT_INVALID_ARG(aph_tensor_from_blob(d, APH_DTYPE_U8, wrap_numel, zero2, 2, buf, record_deleter, &log, &out),
                       "shape");
    /* On failure the caller keeps ownership: the deleter is never called. */
    assert_int_equal(atomic_load(&log.calls), 0);
    assert_ptr_equal(out, SENTINEL);
    aph_device_release(d);
}

/* The deleter runs once, when the last of several handles and views goes, whatever the order. */
static void test_from_blob_deleter_last_reference(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    for (int order = 0; order < 4; ++order) {
        float* buf = (float*)malloc(24 * sizeof(float));
        fill_random(buf, 24, APH_DTYPE_F32);
        deleter_log log;
        deleter_log_init(&log);
        const int64_t shape[] = {4, 6};
        aph_tensor* t = NULL;
        APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, buf, record_deleter, &log, &t));
        aph_tensor_retain(t); /* a second handle */
        aph_tensor* tr = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &tr));
        aph_tensor* row = NULL;
        APH_ASSERT_OK(aph_tensor_select(tr, 1, 2, &row)); /* a view of a view: column 2 */
        assert_int_equal(aph_tensor_shares_storage(row, t), 1);
        aph_tensor* copy = NULL;
        APH_ASSERT_OK(aph_tensor_contiguous(tr, &copy)); /* a copy: does not hold the blob */
        assert_ptr_not_equal(copy, tr);
        assert_int_equal(aph_tensor_shares_storage(copy, t), 0);
        aph_tensor_release(copy);
        assert_int_equal(atomic_load(&log.calls), 0);

        aph_tensor* handles[4] = {t, t, tr, row};
        /* Release in one of four orders; the deleter waits for the last. */
        static const int orders[4][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {0, 3, 1, 2}};
        for (int k = 0; k < 4; ++k) {
            aph_tensor* h = handles[orders[order][k]];
            if (k == 3) {
                /* The last handle still reads the caller's memory. */
                assert_true(aph_tensor_numel(h) > 0);
                float tmp[24];
                APH_ASSERT_OK(aph_tensor_to_host(h, tmp, aph_tensor_nbytes(h)));
            }
            aph_tensor_release(h);
            assert_int_equal(atomic_load(&log.calls), k == 3 ? 1 : 0);
        }
        assert_ptr_equal(log.data, buf);
        assert_ptr_equal(log.user_data, &log);
        free(buf);
    }
    aph_device_release(d);
}

typedef struct {
    aph_tensor* t;
} release_arg;

static void* release_in_thread(void* p) {
    aph_tensor_release(((release_arg*)p)->t);
    return NULL;
}

/* The deleter runs on the thread that drops the last reference. */
static void test_from_blob_deleter_thread(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    double buf[5];
    fill_random(buf, 5, APH_DTYPE_F64);
    deleter_log log;
    deleter_log_init(&log);
    const int64_t shape[] = {5};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F64, shape, NULL, 1, buf, record_deleter, &log, &t));
    pthread_t th;
    release_arg arg = {t};
    assert_int_equal(pthread_create(&th, NULL, release_in_thread, &arg), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(atomic_load(&log.calls), 1);
    assert_true(pthread_equal(log.thread, th));
    assert_false(pthread_equal(log.thread, pthread_self()));
    assert_ptr_equal(log.data, buf);
    aph_device_release(d);
}

/* The deleter may call back into the library: it runs with no library lock held. */
typedef struct {
    aph_device* device;
    int calls;
    aph_status st_zeros, st_to_host, st_blob;
    float back[4];
} reentrant_log;

static void reentrant_deleter(void* user_data, void* data) {
    (void)data;
    reentrant_log* log = (reentrant_log*)user_data;
    log->calls++;
    const int64_t shape[] = {4};
    aph_tensor* z = NULL;
    log->st_zeros = aph_tensor_zeros(log->device, APH_DTYPE_F32, shape, 1, &z);
    if (log->st_zeros == APH_OK) {
        memset(log->back, 0x7F, sizeof log->back);
        log->st_to_host = aph_tensor_to_host(z, log->back, sizeof log->back);
        aph_tensor_release(z);
    }
    aph_tensor* b = NULL;
    log->st_blob = aph_tensor_from_blob(log->device, APH_DTYPE_F32, shape, NULL, 1, log->back, NULL, NULL, &b);
    if (log->st_blob == APH_OK) aph_tensor_release(b);
}

static void test_from_blob_deleter_reentrant(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    reentrant_log log;
    memset(&log, 0, sizeof log);
    log.device = d;
    log.st_zeros = log.st_to_host = log.st_blob = APH_ERR_INTERNAL;
    float buf[8];
    fill_random(buf, 8, APH_DTYPE_F32);
    const int64_t shape[] = {2, 4};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, buf, reentrant_deleter, &log, &t));
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_select(t, 0, 1, &v));
    aph_tensor_release(t);
    assert_int_equal(log.calls, 0);
    aph_tensor_release(v);
    assert_int_equal(log.calls, 1);
    assert_int_equal(log.st_zeros, APH_OK);
    assert_int_equal(log.st_to_host, APH_OK);
    assert_int_equal(log.st_blob, APH_OK);
    assert_all_zero(log.back, sizeof log.back, "zeros inside a deleter");
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Copies
 * ------------------------------------------------------------------------------------------- */

static void test_copy_layouts(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    enum { R = 5, C = 7 };
    const int64_t shape[] = {R, C}, shape_t[] = {C, R};
    const aph_dtype dts[] = {APH_DTYPE_F32, APH_DTYPE_I64, APH_DTYPE_BF16, APH_DTYPE_U8};
    for (size_t k = 0; k < 4; ++k) {
        const aph_dtype dt = dts[k];
        const size_t es = aph_dtype_size(dt);
        const size_t nbytes = (size_t)R * C * es;
        unsigned char* host = NULL;
        aph_tensor* a = random_tensor(d, dt, shape, 2, (void**)&host);
        unsigned char* want_t = (unsigned char*)malloc(nbytes);
        for (int i = 0; i < C; ++i)
            for (int j = 0; j < R; ++j) memcpy(want_t + (i * R + j) * es, host + (j * C + i) * es, es);

        /* A transposed view into a contiguous tensor: element order is the view's. */
        aph_tensor* at = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(a, 0, 1, &at));
        aph_tensor* dst = NULL;
        APH_ASSERT_OK(aph_tensor_create(d, dt, shape_t, 2, &dst));
        memset(aph_test_data_mut(dst), 0xCD, nbytes);
        APH_ASSERT_OK(aph_tensor_copy(dst, at));
        assert_bytes_equal(aph_tensor_data(dst), want_t, nbytes, "copy transposed -> contiguous");
        assert_tensor_bytes(dst, want_t, nbytes, "copy transposed -> contiguous (to_host)");
        assert_int_equal(aph_tensor_shares_storage(dst, a), 0);

        /* A contiguous tensor into a transposed view: writes land transposed in the base. */
        aph_tensor* b = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(d, dt, shape, 2, &b));
        aph_tensor* bt = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(b, 0, 1, &bt));
        APH_ASSERT_OK(aph_tensor_copy(bt, dst));
        assert_bytes_equal(aph_tensor_data(b), host, nbytes, "copy contiguous -> transposed view");

        /* Strided into strided (transposed into transposed). */
        aph_tensor* c = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(d, dt, shape, 2, &c));
        aph_tensor* ct = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(c, 0, 1, &ct));
        APH_ASSERT_OK(aph_tensor_copy(ct, at));
        assert_bytes_equal(aph_tensor_data(c), host, nbytes, "copy transposed -> transposed");

        /* A tensor copied onto itself (the same view) is unchanged. */
        APH_ASSERT_OK(aph_tensor_copy(a, a));
        assert_tensor_bytes(a, host, nbytes, "copy onto itself");

        /* Non-overlapping views of one storage: row 3 into row 0. */
        aph_tensor* row0 = NULL;
        aph_tensor* row3 = NULL;
        APH_ASSERT_OK(aph_tensor_select(c, 0, 0, &row0));
        APH_ASSERT_OK(aph_tensor_select(c, 0, 3, &row3));
        APH_ASSERT_OK(aph_tensor_copy(row0, row3));
        unsigned char* want = (unsigned char*)malloc(nbytes);
        memcpy(want, host, nbytes);
        memcpy(want, host + 3 * C * es, C * es);
        assert_bytes_equal(aph_tensor_data(c), want, nbytes, "copy row 3 into row 0");

        /* A broadcast (expanded) source. */
        aph_tensor* col = NULL;
        APH_ASSERT_OK(aph_tensor_narrow(a, 1, 2, 1, &col)); /* [R, 1]: column 2 */
        aph_tensor* wide = NULL;
        APH_ASSERT_OK(aph_tensor_expand(col, shape, 2, &wide));
        APH_ASSERT_OK(aph_tensor_copy(b, wide));
        for (int i = 0; i < R; ++i)
            for (int j = 0; j < C; ++j) memcpy(want + (i * C + j) * es, host + (i * C + 2) * es, es);
        assert_bytes_equal(aph_tensor_data(b), want, nbytes, "copy from an expanded view");

        aph_tensor_release(wide);
        aph_tensor_release(col);
        aph_tensor_release(row0);
        aph_tensor_release(row3);
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
    aph_device_release(d);
}

/* Overlapping views of one storage on the CPU: the result is the copy of src as it was before
 * the call (element-by-element in row-major order, src's later rows were read after dst's
 * earlier rows had overwritten them: [1:, 1:] = [:3, :3] of a 4 × 4 tensor propagated the
 * first row down the diagonal). */
static void test_copy_overlapping_views(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    float v[16];
    for (int i = 0; i < 16; ++i) v[i] = (float)(i + 1) * 1.5f;
    const int64_t s[] = {4, 4};
    aph_tensor *t = NULL, *a = NULL, *b = NULL, *src = NULL, *dst = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(d, APH_DTYPE_F32, s, 2, v, sizeof v, &t));
    APH_ASSERT_OK(aph_tensor_slice(t, 0, 1, 4, 1, &a));
    APH_ASSERT_OK(aph_tensor_slice(a, 1, 1, 4, 1, &dst));
    APH_ASSERT_OK(aph_tensor_slice(t, 0, 0, 3, 1, &b));
    APH_ASSERT_OK(aph_tensor_slice(b, 1, 0, 3, 1, &src));
    APH_ASSERT_OK(aph_tensor_copy(dst, src));
    float want[16], got[16];
    memcpy(want, v, sizeof v);
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) want[(i + 1) * 4 + j + 1] = v[i * 4 + j];
    }
    APH_ASSERT_OK(aph_tensor_to_host(t, got, sizeof got));
    assert_memory_equal(got, want, sizeof want);
    /* And the other direction, [:3, :3] = [1:, 1:]. */
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, v, sizeof v));
    APH_ASSERT_OK(aph_tensor_copy(src, dst));
    memcpy(want, v, sizeof v);
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) want[i * 4 + j] = v[(i + 1) * 4 + j + 1];
    }
    APH_ASSERT_OK(aph_tensor_to_host(t, got, sizeof got));
    assert_memory_equal(got, want, sizeof want);
    /* A transpose into itself: t = t^T. */
    aph_tensor* tt = NULL;
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, v, sizeof v));
    APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &tt));
    APH_ASSERT_OK(aph_tensor_copy(t, tt));
    for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) want[i * 4 + j] = v[j * 4 + i];
    }
    APH_ASSERT_OK(aph_tensor_to_host(t, got, sizeof got));
    assert_memory_equal(got, want, sizeof want);
    aph_tensor_release(tt);
    aph_tensor_release(src);
    aph_tensor_release(b);
    aph_tensor_release(dst);
    aph_tensor_release(a);
    aph_tensor_release(t);
    aph_device_release(d);
}

/* A broadcast destination (stride 0, size > 1) makes several elements one location: every
 * write into one is refused and nothing changes. A size-1 dimension with stride 0 is fine. */
static void test_broadcast_destination_refused(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t s31[] = {3, 1}, s35[] = {3, 5}, s15[] = {1, 5};
    void* host = NULL;
    aph_tensor* col = random_tensor(d, APH_DTYPE_F32, s31, 2, &host);
    aph_tensor *wide = NULL, *src = random_tensor(d, APH_DTYPE_F32, s35, 2, NULL);
    APH_ASSERT_OK(aph_tensor_expand(col, s35, 2, &wide));
    float buf[15];
    fill_random(buf, 15, APH_DTYPE_F32);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy(wide, src), APH_ERR_INVALID_ARGUMENT, "broadcast");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_from_host(wide, buf, sizeof buf), APH_ERR_INVALID_ARGUMENT, "dim 1");
    assert_tensor_bytes(col, host, 3 * sizeof(float), "broadcast destination untouched");
    /* Stride 0 on a size-1 dimension addresses one element: writable. */
    const int64_t st0[] = {0, 1};
    float blob[5] = {0};
    aph_tensor* one = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, s15, st0, 2, blob, NULL, NULL, &one));
    APH_ASSERT_OK(aph_tensor_copy_from_host(one, buf, 5 * sizeof(float)));
    assert_memory_equal(blob, buf, 5 * sizeof(float));
    aph_tensor_release(one);
    aph_tensor_release(src);
    aph_tensor_release(wide);
    aph_tensor_release(col);
    free(host);
    aph_device_release(d);
}

static void test_copy_errors(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t s23[] = {2, 3}, s32[] = {3, 2}, s6[] = {6}, s1[] = {1};
    void* host = NULL;
    aph_tensor* a = random_tensor(d, APH_DTYPE_F32, s23, 2, &host);
    aph_tensor* b = random_tensor(d, APH_DTYPE_F32, s32, 2, NULL);
    aph_tensor* c = random_tensor(d, APH_DTYPE_F32, s6, 1, NULL);
    aph_tensor* i = random_tensor(d, APH_DTYPE_I32, s23, 2, NULL);
    aph_tensor* u = random_tensor(d, APH_DTYPE_U32, s23, 2, NULL);
    aph_tensor* one = random_tensor(d, APH_DTYPE_F32, s1, 1, NULL);
    aph_tensor* scalar = random_tensor(d, APH_DTYPE_F32, NULL, 0, NULL);

    APH_ASSERT_ERR(aph_tensor_copy(a, b), APH_ERR_SHAPE_MISMATCH, "shape mismatch: expected [2, 3], got [3, 2]");
    APH_ASSERT_ERR(aph_tensor_copy(b, a), APH_ERR_SHAPE_MISMATCH, "shape mismatch: expected [3, 2], got [2, 3]");
    APH_ASSERT_ERR(aph_tensor_copy(c, a), APH_ERR_SHAPE_MISMATCH, "shape mismatch: expected [6], got [2, 3]");
    APH_ASSERT_ERR(aph_tensor_copy(scalar, one), APH_ERR_SHAPE_MISMATCH, "shape mismatch: expected [], got [1]");
    APH_ASSERT_ERR(aph_tensor_copy_async(a, b, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    /* Same size in bytes, other dtype: still refused (no conversion). */
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy(a, i), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy(i, u), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    APH_ASSERT_ERR_CONTAINS(aph_tensor_copy_async(u, a, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: ");
    ASSERT_INVALID_ARG(aph_tensor_copy(NULL, a), "dst");
    ASSERT_INVALID_ARG(aph_tensor_copy(a, NULL), "src");
    ASSERT_INVALID_ARG(aph_tensor_copy_async(NULL, a, NULL), "dst");
    ASSERT_INVALID_ARG(aph_tensor_copy_async(a, NULL, NULL), "src");
    /* Nothing was written by the failed copies. */
    assert_tensor_bytes(a, host, 24, "dst after failed copies");

    aph_tensor* out = SENTINEL;
    ASSERT_INVALID_ARG(aph_tensor_to_device(NULL, d, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_to_device(a, NULL, &out), "device");
    ASSERT_INVALID_ARG(aph_tensor_to_device(a, d, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_contiguous(NULL, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_contiguous(a, NULL), "out");
    assert_ptr_equal(out, SENTINEL);

    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(c);
    aph_tensor_release(i);
    aph_tensor_release(u);
    aph_tensor_release(one);
    aph_tensor_release(scalar);
    free(host);
    aph_device_release(d);
}

/* copy_from_host into a view writes through to the right places of the base, and nowhere else. */
static void test_copy_from_host_into_view(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    enum { R = 6, C = 9 };
    const int64_t shape[] = {R, C};
    int32_t* host = NULL;
    aph_tensor* base = random_tensor(d, APH_DTYPE_I32, shape, 2, (void**)&host);

    /* Every second column from 1: a [R, 4] view with strides [C, 2]. */
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_slice(base, 1, 1, C, 2, &v));
    assert_int_equal(aph_tensor_is_contiguous(v), 0);
    assert_int_equal(aph_tensor_numel(v), R * 4);
    int32_t src[R * 4];
    fill_random(src, R * 4, APH_DTYPE_I32);
    APH_ASSERT_OK(aph_tensor_copy_from_host(v, src, sizeof src));
    int32_t want[R * C];
    memcpy(want, host, sizeof want);
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < 4; ++j) want[i * C + 1 + 2 * j] = src[i * 4 + j];
    assert_tensor_bytes(base, want, sizeof want, "base after copy_from_host into a column slice");
    assert_tensor_bytes(v, src, sizeof src, "the view reads back what was written");

    /* A transposed view: row-major host data of the [C, R] view is the base transposed. */
    aph_tensor* tr = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(base, 0, 1, &tr));
    int32_t src2[C * R];
    fill_random(src2, C * R, APH_DTYPE_I32);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(tr, src2, sizeof src2, NULL));
    for (int i = 0; i < C; ++i)
        for (int j = 0; j < R; ++j) want[j * C + i] = src2[i * R + j];
    assert_tensor_bytes(base, want, sizeof want, "base after copy_from_host into a transposed view");

    /* A single element through select of select. */
    aph_tensor* row = NULL;
    aph_tensor* elem = NULL;
    APH_ASSERT_OK(aph_tensor_select(base, 0, 4, &row));
    APH_ASSERT_OK(aph_tensor_select(row, 0, -2, &elem));
    int32_t x = 0x12345678;
    APH_ASSERT_OK(aph_tensor_copy_from_host(elem, &x, sizeof x));
    want[4 * C + C - 2] = x;
    assert_tensor_bytes(base, want, sizeof want, "base after writing one element");

    aph_tensor_release(elem);
    aph_tensor_release(row);
    aph_tensor_release(tr);
    aph_tensor_release(v);
    aph_tensor_release(base);
    free(host);
    aph_device_release(d);
}

static void test_to_device_cpu(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {4, 3, 5};
    float* host = NULL;
    aph_tensor* a = random_tensor(d, APH_DTYPE_F32, shape, 3, (void**)&host);
    aph_tensor* b = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(a, d, &b));
    check_fresh(b, d, APH_DTYPE_F32, shape, 3);
    assert_ptr_not_equal(b, a);
    assert_ptr_not_equal(aph_tensor_data(b), aph_tensor_data(a));
    assert_int_equal(aph_tensor_shares_storage(a, b), 0);
    assert_tensor_bytes(b, host, 240, "to_device copy");
    /* A real copy: writing one leaves the other alone. */
    float fresh[60];
    fill_random(fresh, 60, APH_DTYPE_F32);
    APH_ASSERT_OK(aph_tensor_copy_from_host(b, fresh, sizeof fresh));
    assert_tensor_bytes(a, host, 240, "source after writing the copy");

    /* A permuted source gives a contiguous copy in the view's element order. */
    const int64_t perm[] = {2, 0, 1};
    aph_tensor* p = NULL;
    APH_ASSERT_OK(aph_tensor_permute(a, perm, 3, &p));
    aph_tensor* q = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(p, d, &q));
    const int64_t qshape[] = {5, 4, 3};
    check_fresh(q, d, APH_DTYPE_F32, qshape, 3);
    float want[60];
    for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 3; ++k) want[(i * 4 + j) * 3 + k] = host[(j * 3 + k) * 5 + i];
    assert_bytes_equal(aph_tensor_data(q), want, sizeof want, "to_device of a permuted view");

    aph_tensor_release(q);
    aph_tensor_release(p);
    aph_tensor_release(b);
    aph_tensor_release(a);
    free(host);
    aph_device_release(d);
}

static void test_contiguous(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {3, 4, 2};
    int64_t* host = NULL;
    aph_tensor* a = random_tensor(d, APH_DTYPE_I64, shape, 3, (void**)&host);

    /* Contiguous already: the same handle, with one more reference. */
    aph_tensor* same = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(a, &same));
    assert_ptr_equal(same, a);
    aph_tensor_release(same);
    assert_tensor_bytes(a, host, 192, "still alive after releasing the extra reference");

    /* Permuted: a new contiguous tensor with the view's elements. */
    const int64_t perm[] = {1, 2, 0};
    aph_tensor* p = NULL;
    APH_ASSERT_OK(aph_tensor_permute(a, perm, 3, &p));
    assert_int_equal(aph_tensor_is_contiguous(p), 0);
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(p, &c));
    assert_ptr_not_equal(c, p);
    const int64_t cshape[] = {4, 2, 3};
    check_fresh(c, d, APH_DTYPE_I64, cshape, 3);
    assert_int_equal(aph_tensor_shares_storage(c, a), 0);
    int64_t want[24];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 2; ++j)
            for (int k = 0; k < 3; ++k) want[(i * 2 + j) * 3 + k] = host[(k * 4 + i) * 2 + j];
    assert_bytes_equal(aph_tensor_data(c), want, sizeof want, "contiguous of a permuted view");
    /* contiguous of the result is the result. */
    aph_tensor* c2 = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(c, &c2));
    assert_ptr_equal(c2, c);
    aph_tensor_release(c2);

    /* A contiguous view (a leading slice) comes back as itself, offset included. */
    aph_tensor* rows = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(a, 0, 1, 2, &rows));
    assert_int_equal(aph_tensor_is_contiguous(rows), 1);
    aph_tensor* rc = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(rows, &rc));
    assert_ptr_equal(rc, rows);
    aph_tensor_release(rc);
    /* 0-dim: contiguous. */
    aph_tensor* s = random_tensor(d, APH_DTYPE_I64, NULL, 0, NULL);
    aph_tensor* sc = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(s, &sc));
    assert_ptr_equal(sc, s);
    aph_tensor_release(sc);

    aph_tensor_release(s);
    aph_tensor_release(rows);
    aph_tensor_release(c);
    aph_tensor_release(p);
    aph_tensor_release(a);
    free(host);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Devices, streams, asynchronous variants
 * ------------------------------------------------------------------------------------------- */

static void test_tensor_keeps_device_alive(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {8, 8};
    uint8_t* host = NULL;
    aph_tensor* t = random_tensor(d, APH_DTYPE_U8, shape, 2, (void**)&host);
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &v));
    aph_device_release(d); /* our only device reference */

    aph_device* td = aph_tensor_device(t);
    assert_non_null(td);
    assert_string_equal(aph_device_label(td), "cpu");
    assert_ptr_equal(aph_tensor_device(v), td);
    /* The handle is still alive: opening the device again gives the very same handle. */
    aph_device* again = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &again));
    assert_ptr_equal(again, td);
    aph_device_release(again);

    assert_tensor_bytes(t, host, 64, "tensor after its device handle was released");
    aph_tensor* z = NULL;
    APH_ASSERT_OK(aph_tensor_zeros(td, APH_DTYPE_U8, shape, 2, &z));
    APH_ASSERT_OK(aph_tensor_copy(z, t));
    assert_tensor_bytes(z, host, 64, "copy on the borrowed device");
    aph_tensor_release(t);
    aph_tensor_release(z);
    assert_string_equal(aph_device_label(aph_tensor_device(v)), "cpu");
    aph_tensor_release(v);
    free(host);
}

static void test_streams_and_async(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {6, 10};
    float* host = NULL;
    aph_tensor* t = random_tensor(d, APH_DTYPE_F32, shape, 2, (void**)&host);
    float buf[60];

    aph_stream* ds = aph_device_default_stream(d);
    assert_non_null(ds);
    APH_ASSERT_OK(aph_tensor_record_stream(t, ds));
    aph_stream* s = NULL;
    APH_ASSERT_OK(aph_stream_create(d, &s));
    APH_ASSERT_OK(aph_tensor_record_stream(t, s));
    ASSERT_INVALID_ARG(aph_tensor_record_stream(NULL, ds), "tensor");

    /* NULL stream: the device's default stream; on the CPU the copy is done on return. */
    memset(buf, 0, sizeof buf);
    APH_ASSERT_OK(aph_tensor_to_host_async(t, buf, sizeof buf, NULL));
    assert_bytes_equal(buf, host, sizeof buf, "to_host_async (NULL stream)");
    float fresh[60];
    fill_random(fresh, 60, APH_DTYPE_F32);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, fresh, sizeof fresh, NULL));
    assert_bytes_equal(aph_tensor_data(t), fresh, sizeof fresh, "copy_from_host_async (NULL stream)");
    aph_tensor* u = NULL;
    APH_ASSERT_OK(aph_tensor_zeros(d, APH_DTYPE_F32, shape, 2, &u));
    APH_ASSERT_OK(aph_tensor_copy_async(u, t, NULL));
    assert_bytes_equal(aph_tensor_data(u), fresh, sizeof fresh, "copy_async (NULL stream)");

    /* Explicit streams, default and created. */
    fill_random(fresh, 60, APH_DTYPE_F32);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(t, fresh, sizeof fresh, ds));
    APH_ASSERT_OK(aph_tensor_copy_async(u, t, s));
    memset(buf, 0, sizeof buf);
    APH_ASSERT_OK(aph_tensor_to_host_async(u, buf, sizeof buf, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_bytes_equal(buf, fresh, sizeof buf, "async round trip on a created stream");
    int idle = 0;
    APH_ASSERT_OK(aph_stream_query(s, &idle));
    assert_int_equal(idle, 1);

    /* A tensor allocated for a created stream lives on the stream's device. */
    aph_tensor* w = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(d, APH_DTYPE_F32, shape, 2, s, &w));
    check_fresh(w, d, APH_DTYPE_F32, shape, 2);
    APH_ASSERT_OK(aph_tensor_copy_from_host_async(w, host, 240, s));
    APH_ASSERT_OK(aph_stream_synchronize(s));
    assert_tensor_bytes(w, host, 240, "create_on_stream round trip");
    aph_tensor* out = SENTINEL;
    ASSERT_INVALID_ARG(aph_tensor_create_on_stream(d, APH_DTYPE_F32, shape, 2, s, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_create_on_stream(d, (aph_dtype)77, shape, 2, s, &out), "dtype");
    ASSERT_INVALID_ARG(aph_tensor_create_on_stream(d, APH_DTYPE_F32, NULL, 2, s, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_create_on_stream(NULL, APH_DTYPE_F32, shape, 2, s, &out), "device");
    assert_ptr_equal(out, SENTINEL);
    /* NULL stream: the device's default stream, as aph_tensor_create. */
    aph_tensor* dflt = NULL;
    APH_ASSERT_OK(aph_tensor_create_on_stream(d, APH_DTYPE_F32, shape, 2, NULL, &dflt));
    check_fresh(dflt, d, APH_DTYPE_F32, shape, 2);
    aph_tensor_release(dflt);

    /* The stream is released before the tensor whose memory is kept for it. */
    aph_stream_release(s);
    assert_tensor_bytes(w, host, 240, "create_on_stream tensor after its stream handle went");
    aph_tensor_release(w);
    aph_tensor_release(u);
    aph_tensor_release(t);
    free(host);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Concurrency
 * ------------------------------------------------------------------------------------------- */

enum { N_WORKERS = 4, N_ITERATIONS = 1000 };

typedef struct {
    aph_device* device;
    aph_tensor* shared; /* read by every thread */
    const float* shared_host;
    uint64_t seed;
    pthread_barrier_t* start;
    int failures;
    char first_failure[160];
} worker_arg;

#define WORKER_CHECK(cond)                                                                               \
    do {                                                                                                 \
        if (!(cond)) {                                                                                   \
            if (a->failures++ == 0)                                                                      \
                snprintf(a->first_failure, sizeof a->first_failure, "line %d: %s (%s)", __LINE__, #cond, \
                         aph_last_error());                                                              \
        }                                                                                                \
    } while (0)

static void* tensor_worker(void* p) {
    worker_arg* a = (worker_arg*)p;
    uint64_t s = a->seed;
    pthread_barrier_wait(a->start);
    for (int it = 0; it < N_ITERATIONS; ++it) {
        const int64_t rows = rnd_range_s(&s, 1, 9), cols = rnd_range_s(&s, 1, 9);
        const int64_t shape[] = {rows, cols}, shape_t[] = {cols, rows};
        float host[81], want_t[81], back[81];
        fill_random_s(host, rows * cols, APH_DTYPE_F32, &s);
        for (int64_t i = 0; i < cols; ++i)
            for (int64_t j = 0; j < rows; ++j) want_t[i * rows + j] = host[j * cols + i];
        const size_t nbytes = (size_t)(rows * cols) * sizeof(float);

        aph_tensor *t = NULL, *tr = NULL, *c = NULL, *b = NULL, *e = NULL, *z = NULL;
        WORKER_CHECK(aph_tensor_from_host(a->device, APH_DTYPE_F32, shape, 2, host, nbytes, &t) == APH_OK);
        WORKER_CHECK(aph_tensor_transpose(t, 0, 1, &tr) == APH_OK);
        WORKER_CHECK(aph_tensor_contiguous(tr, &c) == APH_OK);
        WORKER_CHECK(aph_tensor_create(a->device, APH_DTYPE_F32, shape_t, 2, &b) == APH_OK);
        WORKER_CHECK(aph_tensor_copy(b, tr) == APH_OK);
        WORKER_CHECK(aph_tensor_to_device(t, a->device, &e) == APH_OK);
        WORKER_CHECK(aph_tensor_zeros(a->device, APH_DTYPE_F32, shape, 2, &z) == APH_OK);
        if (a->failures) break;

        memset(back, 0xA5, sizeof back);
        WORKER_CHECK(aph_tensor_to_host(c, back, nbytes) == APH_OK && memcmp(back, want_t, nbytes) == 0);
        memset(back, 0xA5, sizeof back);
        WORKER_CHECK(aph_tensor_to_host(b, back, nbytes) == APH_OK && memcmp(back, want_t, nbytes) == 0);
        memset(back, 0xA5, sizeof back);
        WORKER_CHECK(aph_tensor_to_host(e, back, nbytes) == APH_OK && memcmp(back, host, nbytes) == 0);
        WORKER_CHECK(aph_tensor_data(e) != aph_tensor_data(t));
        memset(back, 0xA5, sizeof back);
        WORKER_CHECK(aph_tensor_to_host(z, back, nbytes) == APH_OK);
        for (int64_t i = 0; i < rows * cols; ++i) WORKER_CHECK(back[i] == 0.0f);
        /* Garbage in memory that goes back to the cache, for the next zeros to clear. */
        void* cw = NULL;
        WORKER_CHECK(aph_tensor_data_mut(c, &cw) == APH_OK && cw != NULL);
        if (cw != NULL) memset(cw, 0xFF, nbytes);

        /* The shared tensor: extra references and views from every thread at once. */
        aph_tensor_retain(a->shared);
        aph_tensor* sv = NULL;
        WORKER_CHECK(aph_tensor_select(a->shared, 0, it % 16, &sv) == APH_OK);
        float row[32];
        WORKER_CHECK(sv != NULL && aph_tensor_to_host(sv, row, sizeof row) == APH_OK &&
                     memcmp(row, a->shared_host + (it % 16) * 32, sizeof row) == 0);
        aph_tensor_release(sv);
        aph_tensor_release(a->shared);

        aph_tensor_release(z);
        aph_tensor_release(e);
        aph_tensor_release(b);
        aph_tensor_release(c);
        aph_tensor_release(tr);
        aph_tensor_release(t);
    }
    return NULL;
}

static void test_threads(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {16, 32};
    float* shared_host = NULL;
    aph_tensor* shared = random_tensor(d, APH_DTYPE_F32, shape, 2, (void**)&shared_host);
    pthread_t th[N_WORKERS];
    worker_arg args[N_WORKERS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_WORKERS);
    for (int i = 0; i < N_WORKERS; ++i) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].device = d;
        args[i].shared = shared;
        args[i].shared_host = shared_host;
        args[i].seed = aph_test_rand(&g_rng) | 1;
        args[i].start = &start;
        assert_int_equal(pthread_create(&th[i], NULL, tensor_worker, &args[i]), 0);
    }
    for (int i = 0; i < N_WORKERS; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < N_WORKERS; ++i) {
        if (args[i].failures)
            print_error("worker %d: %d failures, first: %s\n", i, args[i].failures, args[i].first_failure);
        assert_int_equal(args[i].failures, 0);
    }
    assert_tensor_bytes(shared, shared_host, 16 * 32 * 4, "shared tensor after the threads");
    aph_tensor_release(shared);
    free(shared_host);
    aph_device_release(d);
}

/* Threads share a borrowed tensor, each holding a reference given to it; the deleter runs once,
 * on whichever thread lets go last. */
typedef struct {
    aph_tensor* t;
    pthread_barrier_t* start;
    int failures;
} blob_worker_arg;

static void* blob_worker(void* p) {
    blob_worker_arg* a = (blob_worker_arg*)p;
    pthread_barrier_wait(a->start);
    for (int it = 0; it < 2000; ++it) {
        aph_tensor_retain(a->t);
        aph_tensor* v = NULL;
        if (aph_tensor_transpose(a->t, 0, 1, &v) != APH_OK) a->failures++;
        aph_tensor_release(a->t);
        aph_tensor* w = NULL;
        if (aph_tensor_select(v, 1, it % 3, &w) != APH_OK) a->failures++;
        aph_tensor_release(v);
        if (aph_tensor_numel(w) != 4) a->failures++;
        aph_tensor_release(w);
    }
    aph_tensor_release(a->t); /* the reference this thread was given */
    return NULL;
}

static void test_blob_shared_between_threads(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    enum { N = 8 };
    float buf[12];
    fill_random(buf, 12, APH_DTYPE_F32);
    deleter_log log;
    deleter_log_init(&log);
    const int64_t shape[] = {3, 4};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, shape, NULL, 2, buf, record_deleter, &log, &t));
    pthread_t th[N];
    blob_worker_arg args[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; ++i) {
        aph_tensor_retain(t);
        args[i].t = t;
        args[i].start = &start;
        args[i].failures = 0;
    }
    aph_tensor_release(t); /* from here on only the threads hold it */
    for (int i = 0; i < N; ++i) assert_int_equal(pthread_create(&th[i], NULL, blob_worker, &args[i]), 0);
    for (int i = 0; i < N; ++i) assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < N; ++i) assert_int_equal(args[i].failures, 0);
    assert_int_equal(atomic_load(&log.calls), 1);
    assert_ptr_equal(log.data, buf);
    int on_a_worker = 0;
    for (int i = 0; i < N; ++i) on_a_worker |= pthread_equal(log.thread, th[i]) ? 1 : 0;
    assert_int_equal(on_a_worker, 1);
    aph_device_release(d);
}

/* A second release of the same handle is reported (error log on aphelion::tensor) and ignored
 * instead of corrupting memory. Reading a freed handle is exactly what AddressSanitizer forbids,
 * so sanitizer builds skip this test. */
static void test_double_release_detected(void** state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip();
#else
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    const int64_t shape[1] = {8};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, shape, 1, &t));
    aph_capture cap;
    aph_capture_start(&cap);
    aph_tensor_release(t);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_ERROR, "not a live tensor"), 0);
    aph_tensor_release(t); /* the bug being detected */
    aph_capture_stop(&cap);
    assert_int_equal(aph_capture_find(&cap, APH_LOG_ERROR, "not a live tensor"), 1);
    aph_device_release(d);
#endif
}

int main(void) {
    g_seed0 = fresh_seed();
    g_rng = g_seed0;
    fprintf(stderr, "test_tensor: seed %llu (APH_TEST_SEED=%llu replays it)\n", (unsigned long long)g_seed0,
            (unsigned long long)g_seed0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_getters),
        cmocka_unit_test(test_null_getters),
        cmocka_unit_test(test_release_retain),
        cmocka_unit_test(test_round_trip_all_dtypes),
        cmocka_unit_test(test_zero_dim),
        cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_zeros_all_dtypes),
        cmocka_unit_test(test_zeros_after_garbage),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_from_host_nbytes_mismatch),
        cmocka_unit_test(test_host_copy_errors),
        cmocka_unit_test(test_from_blob_contiguous),
        cmocka_unit_test(test_from_blob_strided),
        cmocka_unit_test(test_from_blob_errors),
        cmocka_unit_test(test_from_blob_deleter_last_reference),
        cmocka_unit_test(test_from_blob_deleter_thread),
        cmocka_unit_test(test_from_blob_deleter_reentrant),
        cmocka_unit_test(test_copy_layouts),
        cmocka_unit_test(test_copy_errors),
        cmocka_unit_test(test_copy_overlapping_views),
        cmocka_unit_test(test_broadcast_destination_refused),
        cmocka_unit_test(test_copy_from_host_into_view),
        cmocka_unit_test(test_to_device_cpu),
        cmocka_unit_test(test_contiguous),
        cmocka_unit_test(test_tensor_keeps_device_alive),
        cmocka_unit_test(test_streams_and_async),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_blob_shared_between_threads),
        cmocka_unit_test(test_double_release_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
