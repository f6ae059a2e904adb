/* test_memory.c — section 5 of aphelion.h: aph_estimate_tensor_bytes and
 * aph_estimate_attention_bytes. Fixed examples from docs/compat.md, randomised comparisons
 * against a reference computed here (fresh random inputs each run; the seed is printed on
 * failure), and the errors: negative dimensions, NULL pointers, invalid dtypes and byte counts
 * that overflow 64 bits (out parameters stay untouched on every failure). */
#define _DEFAULT_SOURCE /* clock_gettime */
#include "test_util.h"

#include <time.h>

#define N_DTYPES 13
#define POISON 0xDEADBEEFCAFEF00DULL

static uint64_t g_seed0; /* the seed of this run, printed when a randomised check fails */

static uint64_t fresh_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    return s ? s : 1;
}

#define CHECK(cond, ...)                                             \
    do {                                                             \
        if (!(cond)) {                                               \
            print_error("seed %llu: ", (unsigned long long)g_seed0); \
            print_error(__VA_ARGS__);                                \
            fail();                                                  \
        }                                                            \
    } while (0)

static size_t dtype_size_ref(aph_dtype d) {
    static const size_t sizes[N_DTYPES] = {4, 2, 2, 8, 1, 4, 1, 2, 4, 8, 1, 1, 1};
    return sizes[d];
}

/* ---------------------------------------------------------------------------------------------
 * aph_estimate_tensor_bytes
 * ------------------------------------------------------------------------------------------- */

static void test_tensor_bytes_examples(void** state) {
    (void)state;
    uint64_t out = POISON;
    const int64_t s3[] = {32, 64, 128};
    APH_ASSERT_OK(aph_estimate_tensor_bytes(s3, 3, APH_DTYPE_F32, &out));
    assert_int_equal(out, 1048576);
    APH_ASSERT_OK(aph_estimate_tensor_bytes(s3, 3, APH_DTYPE_BF16, &out));
    assert_int_equal(out, 524288);
    APH_ASSERT_OK(aph_estimate_tensor_bytes(s3, 3, APH_DTYPE_F64, &out));
    assert_int_equal(out, 2097152);

    const int64_t s1[] = {1000};
    APH_ASSERT_OK(aph_estimate_tensor_bytes(s1, 1, APH_DTYPE_F32, &out));
    assert_int_equal(out, 4000);
    const int64_t s2[] = {7, 3};
    APH_ASSERT_OK(aph_estimate_tensor_bytes(s2, 2, APH_DTYPE_U8, &out));
    assert_int_equal(out, 21);
    APH_ASSERT_OK(aph_estimate_tensor_bytes(s2, 2, APH_DTYPE_I64, &out));
    assert_int_equal(out, 168);
}

static void test_tensor_bytes_zero_dims_is_one_element(void** state) {
    (void)state;
    for (int d = 0; d < N_DTYPES; ++d) {
        uint64_t out = POISON;
        APH_ASSERT_OK(aph_estimate_tensor_bytes(NULL, 0, (aph_dtype)d, &out));
        assert_int_equal(out, aph_dtype_size((aph_dtype)d));
        assert_int_equal(out, dtype_size_ref((aph_dtype)d));
        /* A non-NULL pointer with ndim 0 is not read. */
        const int64_t ignored[] = {-5};
        out = POISON;
        APH_ASSERT_OK(aph_estimate_tensor_bytes(ignored, 0, (aph_dtype)d, &out));
        assert_int_equal(out, dtype_size_ref((aph_dtype)d));
    }
}

static void test_tensor_bytes_zero_dimension(void** state) {
    (void)state;
    const int64_t a[] = {0};
    const int64_t b[] = {5, 0, 7};
    const int64_t c[] = {1024, 1024, 0};
    /* A zero first: the other dimensions would overflow on their own. */
    const int64_t d[] = {0, INT64_MAX, INT64_MAX};
    const int64_t* shapes[] = {a, b, c, d};
    const size_t ndims[] = {1, 3, 3, 3};
    for (size_t i = 0; i < 4; ++i) {
        for (int dt = 0; dt < N_DTYPES; ++dt) {
            uint64_t out = POISON;
            APH_ASSERT_OK(aph_estimate_tensor_bytes(shapes[i], ndims[i], (aph_dtype)dt, &out));
            assert_int_equal(out, 0);
        }
    }
}

/* The element count is 0 wherever the zero stands, so no overflow can occur: the result must
 * not depend on the order of the dimensions. */
static void test_tensor_bytes_zero_dimension_after_huge_ones(void** state) {
    (void)state;
    const int64_t shape[] = {INT64_MAX, INT64_MAX, 0};
    uint64_t out = POISON;
    const aph_status st = aph_estimate_tensor_bytes(shape, 3, APH_DTYPE_F32, &out);
    if (st != APH_OK) print_error("[INT64_MAX, INT64_MAX, 0]: %s\n", aph_last_error());
    assert_int_equal(st, APH_OK);
    assert_int_equal(out, 0);
}

static void test_tensor_bytes_boundaries(void** state) {
    (void)state;
    uint64_t out = POISON;
    const int64_t max1[] = {INT64_MAX};
    APH_ASSERT_OK(aph_estimate_tensor_bytes(max1, 1, APH_DTYPE_U8, &out));
    assert_int_equal(out, (uint64_t)INT64_MAX);
    /* 2 * (2^63 - 1) = 2^64 - 2: the largest even byte count, still fits. */
    APH_ASSERT_OK(aph_estimate_tensor_bytes(max1, 1, APH_DTYPE_I16, &out));
    assert_int_equal(out, UINT64_MAX - 1);
    /* 2^32 * (2^32 - 1) = 2^64 - 2^32. */
    const int64_t s[] = {(int64_t)1 << 32, ((int64_t)1 << 32) - 1};
    APH_ASSERT_OK(aph_estimate_tensor_bytes(s, 2, APH_DTYPE_BOOL, &out));
    assert_int_equal(out, UINT64_MAX - 0xFFFFFFFFULL);
    /* 2^61 f32 elements = 2^63 bytes. */
    const int64_t p61[] = {(int64_t)1 << 61};
    APH_ASSERT_OK(aph_estimate_tensor_bytes(p61, 1, APH_DTYPE_F32, &out));
    assert_int_equal(out, (uint64_t)1 << 63);
}

/* Asserts an overflow error and that out was not written. */
static void assert_overflow(const int64_t* shape, size_t ndim, aph_dtype dtype) {
    uint64_t out = POISON;
    APH_ASSERT_ERR_CONTAINS(aph_estimate_tensor_bytes(shape, ndim, dtype, &out), APH_ERR_INVALID_ARGUMENT,
                            "overflows 64 bits");
    assert_true(out == POISON);
}

static void test_tensor_bytes_overflow(void** state) {
    (void)state;
    /* The element count overflows. */
    const int64_t a[] = {INT64_MAX, 4};
    assert_overflow(a, 2, APH_DTYPE_F32);
    assert_overflow(a, 2, APH_DTYPE_U8);
    const int64_t b[] = {(int64_t)1 << 32, (int64_t)1 << 32};
    assert_overflow(b, 2, APH_DTYPE_F32);
    assert_overflow(b, 2, APH_DTYPE_BOOL);
    const int64_t c[] = {1 << 22, 1 << 22, 1 << 22};
    assert_overflow(c, 3, APH_DTYPE_U8);
    /* The element count fits, the byte count does not. */
    const int64_t d[] = {INT64_MAX, 2};
    assert_overflow(d, 2, APH_DTYPE_F32);
    const int64_t e[] = {INT64_MAX};
    assert_overflow(e, 1, APH_DTYPE_F32);
    const int64_t f[] = {(int64_t)1 << 62};
    assert_overflow(f, 1, APH_DTYPE_F32);
    const int64_t g[] = {(int64_t)1 << 61};
    assert_overflow(g, 1, APH_DTYPE_F64);
    const int64_t h[] = {(int64_t)1 << 32, (int64_t)1 << 31};
    assert_overflow(h, 2, APH_DTYPE_I16);
    /* The message names the shape. */
    uint64_t out = POISON;
    APH_ASSERT_ERR_CONTAINS(aph_estimate_tensor_bytes(b, 2, APH_DTYPE_F32, &out), APH_ERR_INVALID_ARGUMENT,
                            "[4294967296, 4294967296]");
}

static void test_tensor_bytes_negative_dimension(void** state) {
    (void)state;
    uint64_t out = POISON;
    const int64_t s[] = {2, -5, 3};
    APH_ASSERT_ERR(aph_estimate_tensor_bytes(s, 3, APH_DTYPE_F32, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: shape[1] is -5; dimensions must be >= 0 (shape [2, -5, 3])");
    assert_true(out == POISON);

    const int64_t m[] = {INT64_MIN};
    APH_ASSERT_ERR_CONTAINS(aph_estimate_tensor_bytes(m, 1, APH_DTYPE_U8, &out), APH_ERR_INVALID_ARGUMENT, "shape[0]");
    assert_true(out == POISON);

    /* A negative dimension after a zero is still an error (not 0 bytes). */
    const int64_t z[] = {0, -1};
    APH_ASSERT_ERR_CONTAINS(aph_estimate_tensor_bytes(z, 2, APH_DTYPE_U8, &out), APH_ERR_INVALID_ARGUMENT, "shape[1]");
    assert_true(out == POISON);

    /* -1 * -1 = 1 would hide two negatives in a plain product. */
    const int64_t two[] = {-1, -1};
    APH_ASSERT_ERR_CONTAINS(aph_estimate_tensor_bytes(two, 2, APH_DTYPE_U8, &out), APH_ERR_INVALID_ARGUMENT,
                            "shape[0]");
    assert_true(out == POISON);

    /* Random shapes with one negative dimension at a random place. */
    uint64_t rng = g_seed0 ^ 0x9E3779B97F4A7C15ULL;
    for (int iter = 0; iter < 500; ++iter) {
        int64_t shape[8];
        const size_t ndim = 1 + (size_t)(aph_test_rand(&rng) % 8);
        for (size_t i = 0; i < ndim; ++i) shape[i] = (int64_t)(aph_test_rand(&rng) % 100);
        const size_t bad = (size_t)(aph_test_rand(&rng) % ndim);
        shape[bad] = -1 - (int64_t)(aph_test_rand(&rng) % INT64_MAX);
        char part[64];
        snprintf(part, sizeof part, "shape[%zu] is %lld;", bad, (long long)shape[bad]);
        out = POISON;
        const aph_status st = aph_estimate_tensor_bytes(shape, ndim, (aph_dtype)(aph_test_rand(&rng) % N_DTYPES), &out);
        CHECK(st == APH_ERR_INVALID_ARGUMENT && strstr(aph_last_error(), part) != NULL,
              "negative shape[%zu]: %s '%s'\n", bad, aph_status_name(st), aph_last_error());
        CHECK(out == POISON, "out written on failure\n");
    }
}

static void test_tensor_bytes_null_and_invalid_arguments(void** state) {
    (void)state;
    uint64_t out = POISON;
    APH_ASSERT_ERR(aph_estimate_tensor_bytes(NULL, 3, APH_DTYPE_F32, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: shape must not be NULL when ndim is 3");
    assert_true(out == POISON);
    APH_ASSERT_ERR_CONTAINS(aph_estimate_tensor_bytes(NULL, 1, APH_DTYPE_F32, &out), APH_ERR_INVALID_ARGUMENT,
                            "shape must not be NULL");
    assert_true(out == POISON);

    const int64_t s[] = {2, 3};
    APH_ASSERT_ERR(aph_estimate_tensor_bytes(s, 2, APH_DTYPE_F32, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_bytes must not be NULL");

    const int bad_dtypes[] = {-1, 13, 999, -1000};
    for (size_t i = 0; i < sizeof bad_dtypes / sizeof bad_dtypes[0]; ++i) {
        char expected[128];
        snprintf(expected, sizeof expected, "invalid argument: dtype is %d, not a valid aph_dtype", bad_dtypes[i]);
        APH_ASSERT_ERR(aph_estimate_tensor_bytes(s, 2, (aph_dtype)bad_dtypes[i], &out), APH_ERR_INVALID_ARGUMENT,
                       expected);
        assert_true(out == POISON);
        /* Also for a 0-dimensional shape. */
        APH_ASSERT_ERR(aph_estimate_tensor_bytes(NULL, 0, (aph_dtype)bad_dtypes[i], &out), APH_ERR_INVALID_ARGUMENT,
                       expected);
        assert_true(out == POISON);
    }
}

/* product(shape) * size with exact overflow detection; 1 if it fits. */
static int reference_bytes(const int64_t* shape, size_t ndim, size_t size, uint64_t* out) {
    unsigned __int128 n = 1;
    int overflow = 0;
    for (size_t i = 0; i < ndim; ++i) {
        n *= (uint64_t)shape[i];
        if (n > UINT64_MAX) { /* every dimension is >= 1 here, so it can only grow */
            overflow = 1;
            n = (unsigned __int128)UINT64_MAX + 1;
        }
    }
    n *= size;
    if (overflow || n > UINT64_MAX) return 0;
    *out = (uint64_t)n;
    return 1;
}

static void test_tensor_bytes_random_small(void** state) {
    (void)state;
    uint64_t rng = g_seed0;
    for (int iter = 0; iter < 20000; ++iter) {
        int64_t shape[6];
        const size_t ndim = (size_t)(aph_test_rand(&rng) % 7);
        uint64_t expected_elems = 1;
        for (size_t i = 0; i < ndim; ++i) {
            /* 0..63, zeros included now and then. */
            shape[i] = (int64_t)(aph_test_rand(&rng) % 64);
            expected_elems *= (uint64_t)shape[i];
        }
        const aph_dtype dt = (aph_dtype)(aph_test_rand(&rng) % N_DTYPES);
        const uint64_t expected = expected_elems * dtype_size_ref(dt);
        uint64_t out = POISON;
        const aph_status st = aph_estimate_tensor_bytes(ndim ? shape : NULL, ndim, dt, &out);
        CHECK(st == APH_OK, "ndim %zu: %s\n", ndim, aph_last_error());
        CHECK(out == expected, "ndim %zu dtype %s: got %llu, expected %llu\n", ndim, aph_dtype_name(dt),
              (unsigned long long)out, (unsigned long long)expected);
    }
}

static void test_tensor_bytes_random_large(void** state) {
    (void)state;
    uint64_t rng = g_seed0 * 31 + 7;
    int fits = 0, overflows = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        int64_t shape[5];
        const size_t ndim = 1 + (size_t)(aph_test_rand(&rng) % 5);
        for (size_t i = 0; i < ndim; ++i) {
            /* Dimensions of random bit length, >= 1, so that roughly half overflow. */
            const unsigned bits = 1 + (unsigned)(aph_test_rand(&rng) % (64 / ndim + 8));
            const uint64_t mask = bits >= 63 ? (uint64_t)INT64_MAX : ((uint64_t)1 << bits) - 1;
            shape[i] = (int64_t)((aph_test_rand(&rng) & mask) | 1);
        }
        const aph_dtype dt = (aph_dtype)(aph_test_rand(&rng) % N_DTYPES);
        uint64_t expected = 0;
        const int ok = reference_bytes(shape, ndim, dtype_size_ref(dt), &expected);
        uint64_t out = POISON;
        const aph_status st = aph_estimate_tensor_bytes(shape, ndim, dt, &out);
        if (ok) {
            ++fits;
            CHECK(st == APH_OK, "expected %llu, got %s '%s'\n", (unsigned long long)expected, aph_status_name(st),
                  aph_last_error());
            CHECK(out == expected, "got %llu, expected %llu\n", (unsigned long long)out, (unsigned long long)expected);
        } else {
            ++overflows;
            CHECK(st == APH_ERR_INVALID_ARGUMENT && strstr(aph_last_error(), "overflows 64 bits") != NULL,
                  "expected overflow, got %s '%s' (%llu)\n", aph_status_name(st), aph_last_error(),
                  (unsigned long long)out);
            CHECK(out == POISON, "out written on failure\n");
        }
    }
    /* The draw must exercise both outcomes. */
    assert_true(fits > 1000);
    assert_true(overflows > 1000);
}

/* ---------------------------------------------------------------------------------------------
 * aph_estimate_attention_bytes
 * ------------------------------------------------------------------------------------------- */

/* b*h*s*size*(4d + s) in 128 bits; 1 if it fits in 64. */
static int reference_attention(uint64_t b, uint64_t h, uint64_t s, uint64_t d, size_t size, uint64_t* out) {
    if (b == 0 || h == 0 || s == 0) {
        *out = 0;
        return 1;
    }
    const unsigned __int128 inner = (unsigned __int128)d * 4 + s;
    if (inner > UINT64_MAX) return 0;
    unsigned __int128 r = (unsigned __int128)b * h;
    if (r > UINT64_MAX) return 0;
    r *= s;
    if (r > UINT64_MAX) return 0;
    r *= size;
    if (r > UINT64_MAX) return 0;
    r *= inner;
    if (r > UINT64_MAX) return 0;
    *out = (uint64_t)r;
    return 1;
}

static void test_attention_examples(void** state) {
    (void)state;
    uint64_t out = POISON;
    APH_ASSERT_OK(aph_estimate_attention_bytes(1, 1, 4, 2, APH_DTYPE_F32, &out));
    assert_int_equal(out, 192);
    APH_ASSERT_OK(aph_estimate_attention_bytes(1, 32, 4096, 128, APH_DTYPE_BF16, &out));
    assert_int_equal(out, 1207959552ULL);
    /* head_dim 0 leaves the score matrix: b*h*s*s*size. */
    APH_ASSERT_OK(aph_estimate_attention_bytes(2, 3, 5, 0, APH_DTYPE_F64, &out));
    assert_int_equal(out, 2 * 3 * 5 * 5 * 8);
}

static void test_attention_zero_sizes(void** state) {
    (void)state;
    uint64_t out = POISON;
    APH_ASSERT_OK(aph_estimate_attention_bytes(0, 32, 4096, 128, APH_DTYPE_F32, &out));
    assert_int_equal(out, 0);
    out = POISON;
    APH_ASSERT_OK(aph_estimate_attention_bytes(8, 0, 4096, 128, APH_DTYPE_F32, &out));
    assert_int_equal(out, 0);
    out = POISON;
    APH_ASSERT_OK(aph_estimate_attention_bytes(8, 32, 0, 128, APH_DTYPE_F32, &out));
    assert_int_equal(out, 0);
    /* Zero batch makes huge other sizes harmless. */
    out = POISON;
    APH_ASSERT_OK(aph_estimate_attention_bytes(0, UINT64_MAX, UINT64_MAX, UINT64_MAX, APH_DTYPE_F64, &out));
    assert_int_equal(out, 0);
}

static void test_attention_random(void** state) {
    (void)state;
    uint64_t rng = g_seed0 * 17 + 3;
    for (int iter = 0; iter < 20000; ++iter) {
        const uint64_t b = 1 + aph_test_rand(&rng) % 64;
        const uint64_t h = 1 + aph_test_rand(&rng) % 128;
        const uint64_t s = 1 + aph_test_rand(&rng) % 32768;
        const uint64_t d = aph_test_rand(&rng) % 512;
        const aph_dtype dt = (aph_dtype)(aph_test_rand(&rng) % N_DTYPES);
        const uint64_t size = dtype_size_ref(dt);
        /* The formula written out as docs/compat.md does: Q, K, V, scores, output. */
        const uint64_t expected = size * (3 * b * h * s * d + b * h * s * s + b * h * s * d);
        uint64_t out = POISON;
        const aph_status st = aph_estimate_attention_bytes(b, h, s, d, dt, &out);
        CHECK(st == APH_OK, "(%llu,%llu,%llu,%llu,%s): %s\n", (unsigned long long)b, (unsigned long long)h,
              (unsigned long long)s, (unsigned long long)d, aph_dtype_name(dt), aph_last_error());
        CHECK(out == expected, "(%llu,%llu,%llu,%llu,%s): got %llu, expected %llu\n", (unsigned long long)b,
              (unsigned long long)h, (unsigned long long)s, (unsigned long long)d, aph_dtype_name(dt),
              (unsigned long long)out, (unsigned long long)expected);
    }
}

static void test_attention_random_large(void** state) {
    (void)state;
    uint64_t rng = g_seed0 * 101 + 11;
    int fits = 0, overflows = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        uint64_t v[4];
        for (int k = 0; k < 4; ++k) {
            const unsigned bits = 1 + (unsigned)(aph_test_rand(&rng) % 24);
            v[k] = aph_test_rand(&rng) & (((uint64_t)1 << bits) - 1);
            if (k < 3 && v[k] == 0) v[k] = 1;
        }
        if (aph_test_rand(&rng) % 8 == 0) v[3] = aph_test_rand(&rng); /* a huge head_dim */
        const aph_dtype dt = (aph_dtype)(aph_test_rand(&rng) % N_DTYPES);
        uint64_t expected = 0;
        const int ok = reference_attention(v[0], v[1], v[2], v[3], dtype_size_ref(dt), &expected);
        uint64_t out = POISON;
        const aph_status st = aph_estimate_attention_bytes(v[0], v[1], v[2], v[3], dt, &out);
        if (ok) {
            ++fits;
            CHECK(st == APH_OK && out == expected, "(%llu,%llu,%llu,%llu,%s): %s %llu vs %llu\n",
                  (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
                  (unsigned long long)v[3], aph_dtype_name(dt), aph_status_name(st), (unsigned long long)out,
                  (unsigned long long)expected);
        } else {
            ++overflows;
            CHECK(st == APH_ERR_INVALID_ARGUMENT && strstr(aph_last_error(), "overflows 64 bits") != NULL &&
                      out == POISON,
                  "(%llu,%llu,%llu,%llu,%s): expected overflow, got %s '%s'\n", (unsigned long long)v[0],
                  (unsigned long long)v[1], (unsigned long long)v[2], (unsigned long long)v[3], aph_dtype_name(dt),
                  aph_status_name(st), aph_last_error());
        }
    }
    assert_true(fits > 1000);
    assert_true(overflows > 1000);
}

static void test_attention_errors(void** state) {
    (void)state;
    uint64_t out = POISON;
    /* Overflow in each factor. */
    APH_ASSERT_ERR_CONTAINS(aph_estimate_attention_bytes(1, 1, 1, UINT64_MAX / 2, APH_DTYPE_F32, &out),
                            APH_ERR_INVALID_ARGUMENT, "overflows 64 bits");
    assert_true(out == POISON);
    APH_ASSERT_ERR_CONTAINS(aph_estimate_attention_bytes(1, 1, UINT64_MAX, 0, APH_DTYPE_U8, &out),
                            APH_ERR_INVALID_ARGUMENT, "overflows 64 bits");
    assert_true(out == POISON);
    APH_ASSERT_ERR_CONTAINS(
        aph_estimate_attention_bytes((uint64_t)1 << 32, (uint64_t)1 << 32, 1, 1, APH_DTYPE_U8, &out),
        APH_ERR_INVALID_ARGUMENT, "overflows 64 bits");
    assert_true(out == POISON);
    APH_ASSERT_ERR_CONTAINS(aph_estimate_attention_bytes(1 << 20, 1 << 20, 1 << 20, 128, APH_DTYPE_F32, &out),
                            APH_ERR_INVALID_ARGUMENT, "overflows 64 bits");
    assert_true(out == POISON);
    /* The last multiplication (by the dtype size) is the one that overflows. */
    APH_ASSERT_ERR_CONTAINS(aph_estimate_attention_bytes(1, 1, 1, ((uint64_t)1 << 61) - 1, APH_DTYPE_F64, &out),
                            APH_ERR_INVALID_ARGUMENT, "overflows 64 bits");
    assert_true(out == POISON);
    /* ...but with one byte per element it fits: 1 * (4 * (2^61 - 1) + 1) = 2^63 - 3. */
    APH_ASSERT_OK(aph_estimate_attention_bytes(1, 1, 1, ((uint64_t)1 << 61) - 1, APH_DTYPE_U8, &out));
    assert_int_equal(out, ((uint64_t)1 << 63) - 3);

    /* Invalid dtype, also with a zero batch. */
    out = POISON;
    APH_ASSERT_ERR(aph_estimate_attention_bytes(1, 1, 4, 2, (aph_dtype)13, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dtype is 13, not a valid aph_dtype");
    assert_true(out == POISON);
    APH_ASSERT_ERR(aph_estimate_attention_bytes(1, 1, 4, 2, APH_DTYPE_INVALID, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dtype is -1, not a valid aph_dtype");
    assert_true(out == POISON);
    APH_ASSERT_ERR_CONTAINS(aph_estimate_attention_bytes(0, 1, 4, 2, (aph_dtype)999, &out), APH_ERR_INVALID_ARGUMENT,
                            "dtype");
    assert_true(out == POISON);

    /* NULL out. */
    APH_ASSERT_ERR(aph_estimate_attention_bytes(1, 1, 4, 2, APH_DTYPE_F32, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_bytes must not be NULL");
}

int main(void) {
    g_seed0 = fresh_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_bytes_examples),
        cmocka_unit_test(test_tensor_bytes_zero_dims_is_one_element),
        cmocka_unit_test(test_tensor_bytes_zero_dimension),
        cmocka_unit_test(test_tensor_bytes_zero_dimension_after_huge_ones),
        cmocka_unit_test(test_tensor_bytes_boundaries),
        cmocka_unit_test(test_tensor_bytes_overflow),
        cmocka_unit_test(test_tensor_bytes_negative_dimension),
        cmocka_unit_test(test_tensor_bytes_null_and_invalid_arguments),
        cmocka_unit_test(test_tensor_bytes_random_small),
        cmocka_unit_test(test_tensor_bytes_random_large),
        cmocka_unit_test(test_attention_examples),
        cmocka_unit_test(test_attention_zero_sizes),
        cmocka_unit_test(test_attention_random),
        cmocka_unit_test(test_attention_random_large),
        cmocka_unit_test(test_attention_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
