/* test_tensor_views.c — the views of section 12 of aphelion.h on the CPU device: reshape (with
 * -1 inference, over non-contiguous layouts where a view exists, refused where none does),
 * permute, transpose, slice (Python semantics), narrow, select and expand; storage sharing and
 * the data pointer / byte offset arithmetic; views outliving the handle they came from;
 * compositions; views of zero-size and 0-dimensional tensors; every error path.
 *
 * Every view's elements are checked against a reference the test computes itself: a small
 * model of a view (shape, strides, offset in elements over the original row-major buffer),
 * updated by plain index arithmetic for each operation, gathers the expected elements from the
 * host buffer the base tensor was made from. A randomised test composes random operations on
 * random tensors and checks every intermediate result the same way (seeded from the clock;
 * APH_TEST_SEED=n replays a run). */
#define _DEFAULT_SOURCE /* clock_gettime */
#include "test_util.h"

#include <time.h>

#define SENTINEL ((aph_tensor*)(uintptr_t)0x5E47E1A0u)

static uint64_t g_seed0;
static uint64_t g_rng;

static uint64_t fresh_seed(void) {
    const char* env = getenv("APH_TEST_SEED");
    if (env != NULL && *env != '\0') return strtoull(env, NULL, 10) | 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    return s ? s : 1;
}

static int64_t rnd_range(int64_t lo, int64_t hi) { /* inclusive */
    return lo + (int64_t)(aph_test_rand(&g_rng) % (uint64_t)(hi - lo + 1));
}

/* Asserts APH_ERR_INVALID_ARGUMENT with a message that starts with "invalid argument: " and
 * contains name. */
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

/* Asserts APH_ERR_SHAPE_MISMATCH with a "shape mismatch: " message. */
#define ASSERT_SHAPE_MISMATCH(expr) APH_ASSERT_ERR_CONTAINS(expr, APH_ERR_SHAPE_MISMATCH, "shape mismatch: ")

/* Asserts that expr fails (either code is acceptable where the header does not pin it down). */
#define ASSERT_FAILS(expr)                                                             \
    do {                                                                               \
        aph_status st_ = (expr);                                                       \
        if (st_ == APH_OK) print_error("%s succeeded, expected a failure\n", #expr);   \
        assert_true(st_ == APH_ERR_INVALID_ARGUMENT || st_ == APH_ERR_SHAPE_MISMATCH); \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Random data and tensors
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

/* Random bytes with no all-zero element (bool: 0/1 with every third element 1). */
static void fill_random(void* buf, int64_t n, aph_dtype dt) {
    const size_t es = aph_dtype_size(dt);
    unsigned char* b = (unsigned char*)buf;
    for (int64_t i = 0; i < n; ++i) {
        uint64_t r = aph_test_rand(&g_rng);
        if (dt == APH_DTYPE_BOOL) {
            b[i] = (uint8_t)(i % 3 == 0 ? 1 : (r >> 33) & 1);
            continue;
        }
        if (dt == APH_DTYPE_F32) { /* finite values */
            int64_t v = (int64_t)(r % 200001) - 100000;
            float f = (float)(v ? v : 77) / 64.0f;
            memcpy(b + (size_t)i * es, &f, es);
            continue;
        }
        if (dt == APH_DTYPE_F64) {
            int64_t v = (int64_t)(r % 2000000001) - 1000000000;
            double f = (double)(v ? v : 77) / 4096.0;
            memcpy(b + (size_t)i * es, &f, es);
            continue;
        }
        memcpy(b + (size_t)i * es, &r, es);
        int nonzero = 0;
        for (size_t k = 0; k < es; ++k) nonzero |= b[(size_t)i * es + k];
        if (!nonzero) b[(size_t)i * es] = 0x5a;
    }
}

static void* random_host(aph_dtype dt, int64_t numel) {
    size_t bytes = (size_t)numel * aph_dtype_size(dt);
    void* p = malloc(bytes ? bytes : 1);
    assert_non_null(p);
    fill_random(p, numel, dt);
    return p;
}

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

/* ---------------------------------------------------------------------------------------------
 * The reference model of a view: shape, strides and offset (in elements) over the row-major
 * host buffer the base tensor was made from.
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    size_t ndim;
    int64_t shape[APH_TENSOR_MAX_DIMS];
    int64_t strides[APH_TENSOR_MAX_DIMS];
    int64_t offset;
} model;

static void model_init(model* m, const int64_t* shape, size_t ndim) {
    memset(m, 0, sizeof *m);
    m->ndim = ndim;
    int64_t s = 1;
    for (size_t i = ndim; i-- > 0;) {
        m->shape[i] = shape[i];
        m->strides[i] = s;
        s *= shape[i];
    }
}

static int64_t model_numel(const model* m) { return shape_numel(m->shape, m->ndim); }

/* Row-major without gaps; dimensions of size 1 may have any stride; empty is contiguous. */
static int model_contiguous(const model* m) {
    if (model_numel(m) == 0) return 1;
    int64_t expected = 1;
    for (size_t i = m->ndim; i-- > 0;) {
        if (m->shape[i] == 1) continue;
        if (m->strides[i] != expected) return 0;
        expected *= m->shape[i];
    }
    return 1;
}

/* Some element is reached twice (a stride 0 over a dimension longer than 1). */
static int model_overlaps(const model* m) {
    for (size_t i = 0; i < m->ndim; ++i)
        if (m->shape[i] > 1 && m->strides[i] == 0) return 1;
    return 0;
}

static void model_permute(model* m, const int64_t* dims) {
    model r = *m;
    for (size_t i = 0; i < m->ndim; ++i) {
        r.shape[i] = m->shape[dims[i]];
        r.strides[i] = m->strides[dims[i]];
    }
    *m = r;
}

static void model_transpose(model* m, size_t a, size_t b) {
    int64_t t = m->shape[a];
    m->shape[a] = m->shape[b];
    m->shape[b] = t;
    t = m->strides[a];
    m->strides[a] = m->strides[b];
    m->strides[b] = t;
}

/* Python's slice normalisation: negative counts from the end, then clamp to [0, size]. */
static int64_t py_clamp(int64_t v, int64_t size) {
    if (v < 0) v = (v < -size) ? 0 : v + size;
    return v > size ? size : v;
}

static int64_t py_slice_len(int64_t size, int64_t start, int64_t stop, int64_t step) {
    int64_t a = py_clamp(start, size), b = py_clamp(stop, size);
    return b > a ? (b - a - 1) / step + 1 : 0; /* no overflow for huge steps */
}

static void model_slice(model* m, size_t dim, int64_t start, int64_t stop, int64_t step) {
    const int64_t size = m->shape[dim];
    const int64_t len = py_slice_len(size, start, stop, step);
    if (len > 0) m->offset += py_clamp(start, size) * m->strides[dim];
    m->shape[dim] = len;
    m->strides[dim] *= step;
}

static void model_narrow(model* m, size_t dim, int64_t start, int64_t length) {
    m->offset += start * m->strides[dim];
    m->shape[dim] = length;
}

static void model_select(model* m, size_t dim, int64_t index) {
    if (index < 0) index += m->shape[dim];
    m->offset += index * m->strides[dim];
    for (size_t i = dim; i + 1 < m->ndim; ++i) {
        m->shape[i] = m->shape[i + 1];
        m->strides[i] = m->strides[i + 1];
    }
    m->ndim--;
}

static void model_expand(model* m, const int64_t* shape, size_t ndim) {
    model r;
    memset(&r, 0, sizeof r);
    r.ndim = ndim;
    r.offset = m->offset;
    const size_t lead = ndim - m->ndim;
    for (size_t i = 0; i < ndim; ++i) {
        if (i < lead) {
            r.shape[i] = shape[i];
            r.strides[i] = 0;
        } else {
            const size_t j = i - lead;
            if (shape[i] == -1 || shape[i] == m->shape[j]) {
                r.shape[i] = m->shape[j];
                r.strides[i] = m->strides[j];
            } else { /* m->shape[j] == 1 */
                r.shape[i] = shape[i];
                r.strides[i] = 0;
            }
        }
    }
    *m = r;
}

/* Reshape as a view: resolves a -1 and computes strides over the existing layout the way a
 * view must (dimensions are split and merged only within runs that are contiguous with each
 * other). Returns 0 when no view exists. */
static int model_reshape(model* m, const int64_t* shape_in, size_t ndim) {
    int64_t shape[APH_TENSOR_MAX_DIMS];
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 0; i < ndim; ++i) {
        shape[i] = shape_in[i];
        if (shape[i] == -1) infer = (int)i;
        else
            known *= shape[i];
    }
    const int64_t numel = model_numel(m);
    if (infer >= 0) shape[infer] = numel / known;
    model r;
    memset(&r, 0, sizeof r);
    r.ndim = ndim;
    r.offset = m->offset;
    memcpy(r.shape, shape, ndim * sizeof(int64_t));
    if (numel == 0 || m->ndim == 0) {
        int64_t s = 1;
        for (size_t i = ndim; i-- > 0;) {
            r.strides[i] = s;
            s *= shape[i] ? shape[i] : 1;
        }
        *m = r;
        return 1;
    }
    int64_t view_d = (int64_t)ndim - 1;
    int64_t chunk_base_stride = m->strides[m->ndim - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int64_t td = (int64_t)m->ndim - 1; td >= 0; --td) {
        tensor_numel *= m->shape[td];
        if (td == 0 || (m->shape[td - 1] != 1 && m->strides[td - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                r.strides[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return 0;
            if (td > 0) {
                chunk_base_stride = m->strides[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if (view_d != -1) return 0;
    *m = r;
    return 1;
}

/* The model's elements in row-major order, gathered from the base's host buffer. */
static void model_gather(const model* m, const void* host, size_t es, void* out) {
    const int64_t n = model_numel(m);
    int64_t idx[APH_TENSOR_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; ++k) {
        int64_t off = m->offset;
        for (size_t i = 0; i < m->ndim; ++i) off += idx[i] * m->strides[i];
        memcpy((char*)out + (size_t)k * es, (const char*)host + (size_t)off * es, es);
        for (size_t i = m->ndim; i-- > 0;) {
            if (++idx[i] < m->shape[i]) break;
            idx[i] = 0;
        }
    }
}

/* The inverse: writes src (row-major over the model) into the host buffer. */
static void model_scatter(const model* m, void* host, size_t es, const void* src) {
    const int64_t n = model_numel(m);
    int64_t idx[APH_TENSOR_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; ++k) {
        int64_t off = m->offset;
        for (size_t i = 0; i < m->ndim; ++i) off += idx[i] * m->strides[i];
        memcpy((char*)host + (size_t)off * es, (const char*)src + (size_t)k * es, es);
        for (size_t i = m->ndim; i-- > 0;) {
            if (++idx[i] < m->shape[i]) break;
            idx[i] = 0;
        }
    }
}

static void print_model(const char* what, const model* m, const aph_tensor* t) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s: model shape [", what);
    for (size_t i = 0; i < m->ndim; ++i)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld", i ? ", " : "", (long long)m->shape[i]);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "] strides [");
    for (size_t i = 0; i < m->ndim; ++i)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld", i ? ", " : "", (long long)m->strides[i]);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "] offset %lld; tensor shape [", (long long)m->offset);
    const size_t nd = aph_tensor_ndim(t);
    for (size_t i = 0; i < nd; ++i)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld", i ? ", " : "", (long long)aph_tensor_shape(t)[i]);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "] strides [");
    for (size_t i = 0; i < nd; ++i)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld", i ? ", " : "", (long long)aph_tensor_strides(t)[i]);
    snprintf(buf + n, sizeof buf - (size_t)n, "] byte offset %llu; seed %llu\n",
             (unsigned long long)aph_tensor_byte_offset(t), (unsigned long long)g_seed0);
    print_error("%s", buf);
}

/* Checks a view against the model: metadata, the data pointer (base data + offset × element
 * size), contiguity, storage sharing with `relative` (when not NULL), and the elements. */
static void check_view(const aph_tensor* t, const model* m, const char* base_data, aph_dtype dt, const void* host,
                       const aph_tensor* relative, const char* what) {
    assert_non_null(t);
    const size_t es = aph_dtype_size(dt);
    const int64_t numel = model_numel(m);
    int ok = aph_tensor_ndim(t) == m->ndim && aph_tensor_numel(t) == numel &&
             aph_tensor_nbytes(t) == (uint64_t)numel * es && aph_tensor_dtype(t) == dt;
    if (ok && m->ndim == 0) ok = aph_tensor_shape(t) == NULL && aph_tensor_strides(t) == NULL;
    for (size_t i = 0; ok && i < m->ndim; ++i) {
        ok = aph_tensor_shape(t)[i] == m->shape[i];
        if (ok && numel > 0 && m->shape[i] > 1) ok = aph_tensor_strides(t)[i] == m->strides[i];
    }
    if (ok && numel > 0) {
        ok = (const char*)aph_tensor_data(t) == base_data + (size_t)m->offset * es &&
             aph_tensor_byte_offset(t) == (uint64_t)m->offset * es;
    }
    if (ok && numel == 0) ok = aph_tensor_data(t) == NULL;
    if (!ok) {
        print_model(what, m, t);
        fail();
    }
    if (aph_tensor_is_contiguous(t) != model_contiguous(m)) {
        print_model(what, m, t);
        print_error("%s: is_contiguous %d, expected %d\n", what, aph_tensor_is_contiguous(t), model_contiguous(m));
        fail();
    }
    assert_int_equal(aph_tensor_is_read_only(t), 0);
    if (relative != NULL) assert_int_equal(aph_tensor_shares_storage(t, relative), 1);
    const size_t nbytes = (size_t)numel * es;
    char* want = (char*)malloc(nbytes ? nbytes : 1);
    char* got = (char*)malloc(nbytes ? nbytes : 1);
    model_gather(m, host, es, want);
    memset(got, 0xA5, nbytes ? nbytes : 1);
    APH_ASSERT_OK(aph_tensor_to_host(t, got, nbytes));
    assert_bytes_equal(got, want, nbytes, what);
    free(want);
    free(got);
}

/* A base tensor, its host data and its model. */
typedef struct {
    aph_tensor* t;
    void* host;
    char* data;
    aph_dtype dt;
    model m;
} fixture;

static void fixture_make(fixture* f, aph_device* d, aph_dtype dt, const int64_t* shape, size_t ndim) {
    f->dt = dt;
    f->t = random_tensor(d, dt, shape, ndim, &f->host);
    f->data = (char*)aph_tensor_data(f->t);
    model_init(&f->m, shape, ndim);
}

static void fixture_free(fixture* f) {
    aph_tensor_release(f->t);
    free(f->host);
}

/* ---------------------------------------------------------------------------------------------
 * reshape
 * ------------------------------------------------------------------------------------------- */

static void test_reshape_contiguous(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {2, 3, 4};
    fixture_make(&f, d, APH_DTYPE_F32, shape, 3);

    static const int64_t shapes[][4] = {{6, 4}, {4, -1}, {-1}, {2, -1, 2}, {1, 24, 1}, {24}, {3, 2, 2, 2}, {-1, 1}};
    static const size_t ndims[] = {2, 2, 1, 3, 3, 1, 4, 2};
    static const int64_t resolved[][4] = {{6, 4}, {4, 6}, {24}, {2, 6, 2}, {1, 24, 1}, {24}, {3, 2, 2, 2}, {24, 1}};
    for (size_t i = 0; i < sizeof ndims / sizeof ndims[0]; ++i) {
        aph_tensor* r = NULL;
        APH_ASSERT_OK(aph_tensor_reshape(f.t, shapes[i], ndims[i], &r));
        model m;
        model_init(&m, resolved[i], ndims[i]);
        check_view(r, &m, f.data, f.dt, f.host, f.t, "reshape of a contiguous tensor");
        assert_int_equal(aph_tensor_is_contiguous(r), 1);
        assert_ptr_equal(aph_tensor_data(r), aph_tensor_data(f.t));
        assert_ptr_equal(aph_tensor_device(r), d);
        aph_tensor_release(r);
    }

    /* A contiguous view with an offset keeps it. */
    aph_tensor* rows = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(f.t, 0, 1, 1, &rows)); /* [1, 3, 4] at element 12 */
    const int64_t flat[] = {12};
    aph_tensor* r = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(rows, flat, 1, &r));
    model m = f.m;
    model_narrow(&m, 0, 1, 1);
    assert_true(model_reshape(&m, flat, 1));
    check_view(r, &m, f.data, f.dt, f.host, f.t, "reshape of an offset view");
    assert_ptr_equal(aph_tensor_data(r), f.data + 12 * 4);
    assert_int_equal(aph_tensor_byte_offset(r), 48);
    aph_tensor_release(r);
    aph_tensor_release(rows);

    /* Size-1 dimensions may have any stride, and must not split the contiguous chunks around
     * them: [2, 1, 3] with strides [3, 99, 1] is contiguous and flattens to [6] / [1]. */
    {
        float blob[6];
        fill_random(blob, 6, APH_DTYPE_F32);
        const int64_t bshape[] = {2, 1, 3}, bstrides[] = {3, 99, 1};
        aph_tensor* b = NULL;
        APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F32, bshape, bstrides, 3, blob, NULL, NULL, &b));
        assert_int_equal(aph_tensor_is_contiguous(b), 1);
        static const int64_t bs[][3] = {{6}, {3, 2}, {6, 1}, {1, 6}, {2, 3}};
        static const size_t bn[] = {1, 2, 2, 2, 2};
        static const int64_t bst[][3] = {{1}, {2, 1}, {1, 1}, {6, 1}, {3, 1}};
        for (size_t i = 0; i < sizeof bn / sizeof bn[0]; ++i) {
            aph_tensor* r = NULL;
            APH_ASSERT_OK(aph_tensor_reshape(b, bs[i], bn[i], &r));
            assert_memory_equal(aph_tensor_shape(r), bs[i], bn[i] * sizeof(int64_t));
            for (size_t k = 0; k < bn[i]; ++k) {
                if (bs[i][k] == 1) continue; /* a size-1 dimension's stride is free */
                assert_int_equal(aph_tensor_strides(r)[k], bst[i][k]);
            }
            assert_int_equal(aph_tensor_is_contiguous(r), 1);
            assert_ptr_equal(aph_tensor_data(r), blob);
            float got[6];
            APH_ASSERT_OK(aph_tensor_to_host(r, got, sizeof got));
            assert_bytes_equal(got, blob, sizeof got, "reshape of [2, 1, 3] with strides [3, 99, 1]");
            aph_tensor_release(r);
        }
        aph_tensor_release(b);
    }

    /* The shape array was copied. */
    int64_t mutable_shape[] = {8, 3};
    APH_ASSERT_OK(aph_tensor_reshape(f.t, mutable_shape, 2, &r));
    mutable_shape[0] = 99;
    assert_int_equal(aph_tensor_shape(r)[0], 8);
    aph_tensor_release(r);
    fixture_free(&f);
    aph_device_release(d);
}

static void test_reshape_errors(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {2, 3, 4};
    aph_tensor* t = random_tensor(d, APH_DTYPE_I32, shape, 3, NULL);
    aph_tensor* out = SENTINEL;
    const int64_t two_infer[] = {-1, 4, -1};
    const int64_t neg[] = {-2, 12};
    const int64_t neg2[] = {4, -3, -2};
    const int64_t wrong[] = {5, 5};
    const int64_t wrong2[] = {25};
    const int64_t wrong3[] = {2, 3, 4, 2};
    const int64_t indivisible[] = {5, -1};
    const int64_t zero_infer[] = {0, -1};
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, two_infer, 3, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, neg, 2, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, neg2, 3, &out), "shape");
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(t, wrong, 2, &out));
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(t, wrong2, 1, &out));
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(t, wrong3, 4, &out));
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(t, NULL, 0, &out)); /* 0-dim: one element, not 24 */
    ASSERT_FAILS(aph_tensor_reshape(t, indivisible, 2, &out));
    ASSERT_FAILS(aph_tensor_reshape(t, zero_infer, 2, &out));
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, NULL, 2, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_reshape(NULL, wrong, 2, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, shape, 3, NULL), "out");
    int64_t many[APH_TENSOR_MAX_DIMS + 1];
    for (size_t i = 0; i < APH_TENSOR_MAX_DIMS + 1; ++i) many[i] = 1;
    many[0] = 24;
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, many, APH_TENSOR_MAX_DIMS + 1, &out), "ndim");
    /* Exactly APH_TENSOR_MAX_DIMS is fine. */
    aph_tensor* r = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(t, many, APH_TENSOR_MAX_DIMS, &r));
    assert_int_equal(aph_tensor_ndim(r), APH_TENSOR_MAX_DIMS);
    aph_tensor_release(r);
    assert_ptr_equal(out, SENTINEL);
    aph_tensor_release(t);
    aph_device_release(d);
}

static void test_reshape_noncontiguous(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {4, 6};
    fixture_make(&f, d, APH_DTYPE_I16, shape, 2);
    const int16_t* h = (const int16_t*)f.host;
    aph_tensor* out = SENTINEL;

    /* Transposed [6, 4], strides [1, 6]: the first dimension splits into [2, 3]. */
    aph_tensor* tr = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(f.t, 0, 1, &tr));
    const int64_t s234[] = {2, 3, 4};
    aph_tensor* r = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(tr, s234, 3, &r));
    const int64_t want_strides[] = {3, 1, 6};
    assert_memory_equal(aph_tensor_strides(r), want_strides, sizeof want_strides);
    assert_int_equal(aph_tensor_is_contiguous(r), 0);
    assert_int_equal(aph_tensor_shares_storage(r, f.t), 1);
    int16_t want[24], got[24];
    for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 3; ++b)
            for (int c = 0; c < 4; ++c) want[(a * 3 + b) * 4 + c] = h[c * 6 + a * 3 + b];
    APH_ASSERT_OK(aph_tensor_to_host(r, got, sizeof got));
    assert_bytes_equal(got, want, sizeof got, "reshape of a transposed view");
    aph_tensor_release(r);
    /* ...but it cannot be flattened. */
    const int64_t s24[] = {24};
    APH_ASSERT_ERR_CONTAINS(aph_tensor_reshape(tr, s24, 1, &out), APH_ERR_INVALID_ARGUMENT, "contiguous");
    const int64_t s12_2[] = {12, 2};
    APH_ASSERT_ERR_CONTAINS(aph_tensor_reshape(tr, s12_2, 2, &out), APH_ERR_INVALID_ARGUMENT, "contiguous");

    /* Narrowed columns [4, 3], strides [6, 1]: the first dimension splits, the two don't merge. */
    aph_tensor* cols = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(f.t, 1, 2, 3, &cols));
    const int64_t s223[] = {2, 2, 3};
    APH_ASSERT_OK(aph_tensor_reshape(cols, s223, 3, &r));
    const int64_t want_strides2[] = {12, 6, 1};
    assert_memory_equal(aph_tensor_strides(r), want_strides2, sizeof want_strides2);
    assert_ptr_equal(aph_tensor_data(r), f.data + 2 * 2);
    for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b)
            for (int c = 0; c < 3; ++c) want[(a * 2 + b) * 3 + c] = h[(a * 2 + b) * 6 + 2 + c];
    APH_ASSERT_OK(aph_tensor_to_host(r, got, 24));
    assert_bytes_equal(got, want, 24, "reshape of narrowed columns");
    aph_tensor_release(r);
    const int64_t s12[] = {12};
    APH_ASSERT_ERR_CONTAINS(aph_tensor_reshape(cols, s12, 1, &out), APH_ERR_INVALID_ARGUMENT, "contiguous");

    /* Expanded [3, 4] from a [3, 1] column: strides [1, 0] split into [3, 2, 2] / [1, 0, 0]. */
    aph_tensor* col = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(tr, 0, 0, 3, &col)); /* [3, 4] strides [1, 6] */
    aph_tensor* c1 = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(col, 1, 1, 1, &c1)); /* [3, 1]: h[6 + i] */
    const int64_t s34[] = {3, 4};
    aph_tensor* e = NULL;
    APH_ASSERT_OK(aph_tensor_expand(c1, s34, 2, &e));
    const int64_t s322[] = {3, 2, 2};
    APH_ASSERT_OK(aph_tensor_reshape(e, s322, 3, &r));
    assert_int_equal(aph_tensor_strides(r)[0], 1);
    assert_int_equal(aph_tensor_strides(r)[1], 0);
    assert_int_equal(aph_tensor_strides(r)[2], 0);
    for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 4; ++k) want[i * 4 + k] = h[6 + i];
    APH_ASSERT_OK(aph_tensor_to_host(r, got, 24));
    assert_bytes_equal(got, want, 24, "reshape of an expanded view");
    aph_tensor_release(r);
    APH_ASSERT_ERR_CONTAINS(aph_tensor_reshape(e, s12, 1, &out), APH_ERR_INVALID_ARGUMENT, "contiguous");

    /* A permuted 3-d tensor cannot be flattened; after contiguous() it can. */
    const int64_t s3[] = {2, 3, 4};
    aph_tensor* t3 = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(f.t, s3, 3, &t3));
    const int64_t perm[] = {2, 0, 1};
    aph_tensor* p = NULL;
    APH_ASSERT_OK(aph_tensor_permute(t3, perm, 3, &p));
    APH_ASSERT_ERR_CONTAINS(aph_tensor_reshape(p, s24, 1, &out), APH_ERR_INVALID_ARGUMENT, "contiguous");
    /* A numel mismatch is still a shape mismatch, whatever the layout. */
    const int64_t s25[] = {25};
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(p, s25, 1, &out));
    aph_tensor* pc = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(p, &pc));
    APH_ASSERT_OK(aph_tensor_reshape(pc, s24, 1, &r));
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 2; ++b)
            for (int c = 0; c < 3; ++c) want[(a * 2 + b) * 3 + c] = h[b * 12 + c * 4 + a];
    APH_ASSERT_OK(aph_tensor_to_host(r, got, sizeof got));
    assert_bytes_equal(got, want, sizeof got, "reshape after contiguous()");
    assert_int_equal(aph_tensor_shares_storage(r, f.t), 0);
    aph_tensor_release(r);
    /* Splitting the permuted tensor's last dimension is a view. */
    const int64_t s4213[] = {4, 2, 1, 3};
    APH_ASSERT_OK(aph_tensor_reshape(p, s4213, 4, &r));
    APH_ASSERT_OK(aph_tensor_to_host(r, got, sizeof got));
    assert_bytes_equal(got, want, sizeof got, "reshape of a permuted view inserting a 1");
    assert_int_equal(aph_tensor_shares_storage(r, f.t), 1);
    aph_tensor_release(r);

    assert_ptr_equal(out, SENTINEL);
    aph_tensor_release(pc);
    aph_tensor_release(p);
    aph_tensor_release(t3);
    aph_tensor_release(e);
    aph_tensor_release(c1);
    aph_tensor_release(col);
    aph_tensor_release(cols);
    aph_tensor_release(tr);
    fixture_free(&f);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * permute, transpose
 * ------------------------------------------------------------------------------------------- */

static void test_permute(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {2, 3, 4};
    fixture_make(&f, d, APH_DTYPE_U8, shape, 3);
    const uint8_t* h = (const uint8_t*)f.host;

    const int64_t perm[] = {2, 0, 1};
    aph_tensor* p = NULL;
    APH_ASSERT_OK(aph_tensor_permute(f.t, perm, 3, &p));
    const int64_t want_shape[] = {4, 2, 3}, want_strides[] = {1, 12, 4};
    assert_memory_equal(aph_tensor_shape(p), want_shape, sizeof want_shape);
    assert_memory_equal(aph_tensor_strides(p), want_strides, sizeof want_strides);
    assert_int_equal(aph_tensor_is_contiguous(p), 0);
    assert_ptr_equal(aph_tensor_data(p), f.data);
    uint8_t want[24], got[24];
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 2; ++b)
            for (int c = 0; c < 3; ++c) want[(a * 2 + b) * 3 + c] = h[b * 12 + c * 4 + a];
    APH_ASSERT_OK(aph_tensor_to_host(p, got, 24));
    assert_bytes_equal(got, want, 24, "permute [2, 0, 1]");
    model m = f.m;
    model_permute(&m, perm);
    check_view(p, &m, f.data, f.dt, f.host, f.t, "permute [2, 0, 1] (model)");

    /* The inverse permutation gives the original layout back. */
    const int64_t inv[] = {1, 2, 0};
    aph_tensor* q = NULL;
    APH_ASSERT_OK(aph_tensor_permute(p, inv, 3, &q));
    check_view(q, &f.m, f.data, f.dt, f.host, f.t, "permute back");
    assert_int_equal(aph_tensor_is_contiguous(q), 1);
    aph_tensor_release(q);
    /* The identity permutation. */
    const int64_t id[] = {0, 1, 2};
    APH_ASSERT_OK(aph_tensor_permute(f.t, id, 3, &q));
    check_view(q, &f.m, f.data, f.dt, f.host, f.t, "identity permutation");
    aph_tensor_release(q);

    /* Negative entries count from the end: {-1, -3, -2} is {2, 0, 1}. */
    const int64_t negative[] = {-1, -3, -2};
    APH_ASSERT_OK(aph_tensor_permute(f.t, negative, 3, &q));
    check_view(q, &m, f.data, f.dt, f.host, f.t, "permute [-1, -3, -2]");
    aph_tensor_release(q);

    aph_tensor* out = SENTINEL;
    const int64_t dup[] = {0, 0, 1}, range[] = {0, 1, 3}, below[] = {-4, 0, 1}, two[] = {1, 0};
    const int64_t same[] = {2, -1, 0}; /* -1 is 2 again */
    const int64_t four[] = {0, 1, 2, 3};
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, dup, 3, &out), "dims");
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, range, 3, &out), "dims");
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, below, 3, &out), "dims");
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, same, 3, &out), "dims");
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, two, 2, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, four, 4, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, NULL, 3, &out), "dims");
    ASSERT_INVALID_ARG(aph_tensor_permute(NULL, perm, 3, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, perm, 3, NULL), "out");
    assert_ptr_equal(out, SENTINEL);

    aph_tensor_release(p);
    fixture_free(&f);
    aph_device_release(d);
}

static void test_transpose(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {2, 3, 4};
    fixture_make(&f, d, APH_DTYPE_F64, shape, 3);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(f.t, 0, 2, &t));
    const int64_t want_shape[] = {4, 3, 2}, want_strides[] = {1, 4, 12};
    assert_memory_equal(aph_tensor_shape(t), want_shape, sizeof want_shape);
    assert_memory_equal(aph_tensor_strides(t), want_strides, sizeof want_strides);
    model m = f.m;
    model_transpose(&m, 0, 2);
    check_view(t, &m, f.data, f.dt, f.host, f.t, "transpose(0, 2)");
    const double* h = (const double*)f.host;
    double got[24];
    APH_ASSERT_OK(aph_tensor_to_host(t, got, sizeof got));
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 3; ++b)
            for (int c = 0; c < 2; ++c) assert_memory_equal(&got[(a * 3 + b) * 2 + c], &h[c * 12 + b * 4 + a], 8);

    /* Order of the two dimensions does not matter; twice is the original. */
    aph_tensor* t2 = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(f.t, 2, 0, &t2));
    check_view(t2, &m, f.data, f.dt, f.host, f.t, "transpose(2, 0)");
    aph_tensor* back = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(t2, 0, 2, &back));
    check_view(back, &f.m, f.data, f.dt, f.host, f.t, "transposed twice");
    assert_int_equal(aph_tensor_is_contiguous(back), 1);

    /* Negative dimensions count from the end: (-1, -3) is (2, 0), (0, -1) too. */
    aph_tensor* tn = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(f.t, -1, -3, &tn));
    check_view(tn, &m, f.data, f.dt, f.host, f.t, "transpose(-1, -3)");
    aph_tensor_release(tn);
    APH_ASSERT_OK(aph_tensor_transpose(f.t, 0, -1, &tn));
    check_view(tn, &m, f.data, f.dt, f.host, f.t, "transpose(0, -1)");
    aph_tensor_release(tn);

    aph_tensor* out = SENTINEL;
    ASSERT_INVALID_ARG(aph_tensor_transpose(f.t, 0, 3, &out), "dim1");
    ASSERT_INVALID_ARG(aph_tensor_transpose(f.t, 5, 1, &out), "dim0");
    ASSERT_INVALID_ARG(aph_tensor_transpose(f.t, -4, 1, &out), "dim0");
    ASSERT_INVALID_ARG(aph_tensor_transpose(f.t, 1, INT64_MIN, &out), "dim1");
    APH_ASSERT_ERR(aph_tensor_transpose(f.t, 0, -4, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dim1 -4 is out of range for a tensor with 3 dimensions");
    ASSERT_INVALID_ARG(aph_tensor_transpose(NULL, 0, 1, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_transpose(f.t, 0, 1, NULL), "out");
    assert_ptr_equal(out, SENTINEL);
    aph_tensor_release(back);
    aph_tensor_release(t2);
    aph_tensor_release(t);
    fixture_free(&f);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * slice, narrow, select
 * ------------------------------------------------------------------------------------------- */

static void test_slice_python_semantics(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {10};
    fixture_make(&f, d, APH_DTYPE_I32, shape, 1);
    const int32_t* h = (const int32_t*)f.host;
    /* start, stop, step -> first index, count (what Python's list[start:stop:step] gives). */
    static const struct {
        int64_t start, stop, step, first, count;
    } cases[] = {
        {2, 8, 1, 2, 6},
        {-3, 10, 1, 7, 3},
        {-100, 100, 1, 0, 10},
        {8, 2, 1, 0, 0},
        {0, 10, 3, 0, 4},
        {1, 10, 4, 1, 3},
        {-1, -100, 1, 0, 0},
        {5, 5, 1, 0, 0},
        {3, -3, 2, 3, 2},
        {10, 20, 1, 0, 0},
        {-10, -9, 1, 0, 1},
        {9, 10, 7, 9, 1},
        {0, 10, 10, 0, 1},
        {0, 10, 100, 0, 1},
        {-4, -1, 1, 6, 3},
        {11, -11, 1, 0, 0},
        {INT64_MIN, INT64_MAX, 5, 0, 2},
        {INT64_MIN, -5, 2, 0, 3},
        {7, INT64_MAX, INT64_MAX, 7, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        aph_tensor* s = NULL;
        APH_ASSERT_OK(aph_tensor_slice(f.t, 0, cases[i].start, cases[i].stop, cases[i].step, &s));
        const int64_t n = cases[i].count;
        if (aph_tensor_numel(s) != n) {
            print_error("slice(%lld, %lld, %lld): numel %lld, expected %lld\n", (long long)cases[i].start,
                        (long long)cases[i].stop, (long long)cases[i].step, (long long)aph_tensor_numel(s),
                        (long long)n);
            fail();
        }
        assert_int_equal(aph_tensor_ndim(s), 1);
        assert_int_equal(aph_tensor_shape(s)[0], n);
        int32_t got[10], want[10];
        for (int64_t k = 0; k < n; ++k) want[k] = h[cases[i].first + k * cases[i].step];
        memset(got, 0xA5, sizeof got);
        APH_ASSERT_OK(aph_tensor_to_host(s, got, (size_t)n * 4));
        assert_bytes_equal(got, want, (size_t)n * 4, "slice elements");
        if (n > 0) {
            assert_ptr_equal(aph_tensor_data(s), f.data + cases[i].first * 4);
            assert_int_equal(aph_tensor_byte_offset(s), cases[i].first * 4);
            /* One element: the step never applies, the stride stays the parent's. */
            assert_int_equal(aph_tensor_strides(s)[0], n > 1 ? cases[i].step : 1);
            assert_int_equal(aph_tensor_shares_storage(s, f.t), 1);
        } else {
            assert_null(aph_tensor_data(s));
            /* Empty: no first element to point at; the offset stays the parent's. */
            assert_int_equal(aph_tensor_byte_offset(s), aph_tensor_byte_offset(f.t));
        }
        assert_int_equal(aph_tensor_is_contiguous(s), n <= 1 || cases[i].step == 1);
        /* The model agrees with the table. */
        model m = f.m;
        model_slice(&m, 0, cases[i].start, cases[i].stop, cases[i].step);
        check_view(s, &m, f.data, f.dt, f.host, f.t, "slice (model)");
        aph_tensor_release(s);
    }

    /* Two dimensions: every second column from 1; the last two rows. */
    fixture g;
    const int64_t shape2[] = {4, 6};
    fixture_make(&g, d, APH_DTYPE_F16, shape2, 2);
    aph_tensor* s = NULL;
    APH_ASSERT_OK(aph_tensor_slice(g.t, 1, 1, 6, 2, &s));
    const int64_t want_shape[] = {4, 3}, want_strides[] = {6, 2};
    assert_memory_equal(aph_tensor_shape(s), want_shape, sizeof want_shape);
    assert_memory_equal(aph_tensor_strides(s), want_strides, sizeof want_strides);
    model m = g.m;
    model_slice(&m, 1, 1, 6, 2);
    check_view(s, &m, g.data, g.dt, g.host, g.t, "column slice");
    {
        /* dim -1 is the last dimension: the same view. */
        aph_tensor* sn = NULL;
        APH_ASSERT_OK(aph_tensor_slice(g.t, -1, 1, 6, 2, &sn));
        check_view(sn, &m, g.data, g.dt, g.host, g.t, "column slice along dim -1");
        aph_tensor_release(sn);
    }
    aph_tensor* s2 = NULL;
    APH_ASSERT_OK(aph_tensor_slice(s, 0, -2, 4, 1, &s2));
    model_slice(&m, 0, -2, 4, 1);
    check_view(s2, &m, g.data, g.dt, g.host, g.t, "row slice of a column slice");
    assert_ptr_equal(aph_tensor_data(s2), g.data + (2 * 6 + 1) * 2);
    aph_tensor_release(s2);
    /* A huge step over a dimension with stride 6: one row, and no overflow on the way (the
     * stride of a size-1 dimension is free, but step × stride must not be computed blindly). */
    APH_ASSERT_OK(aph_tensor_slice(g.t, 0, 1, 4, INT64_MAX / 2, &s2));
    const int64_t row_shape[] = {1, 6};
    assert_memory_equal(aph_tensor_shape(s2), row_shape, sizeof row_shape);
    const int64_t row_strides[] = {6, 1}; /* the parent's: 6 × step is never formed */
    assert_memory_equal(aph_tensor_strides(s2), row_strides, sizeof row_strides);
    assert_ptr_equal(aph_tensor_data(s2), g.data + 6 * 2);
    assert_int_equal(aph_tensor_is_contiguous(s2), 1);
    uint16_t row[6];
    APH_ASSERT_OK(aph_tensor_to_host(s2, row, sizeof row));
    assert_bytes_equal(row, (const char*)g.host + 6 * 2, sizeof row, "slice with a huge step");
    aph_tensor_release(s2);

    /* The same along the columns (stride 1), with a huge step from an offset. */
    APH_ASSERT_OK(aph_tensor_slice(g.t, 1, 4, 6, INT64_MAX, &s2));
    const int64_t col_shape[] = {4, 1}, col_strides[] = {6, 1};
    assert_memory_equal(aph_tensor_shape(s2), col_shape, sizeof col_shape);
    assert_memory_equal(aph_tensor_strides(s2), col_strides, sizeof col_strides);
    assert_int_equal(aph_tensor_byte_offset(s2), 4 * 2);
    aph_tensor_release(s2);

    /* Empty slices of a view with an offset keep the parent's offset, wherever the clamped
     * start lands. */
    aph_tensor* rows = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(g.t, 0, 1, 3, &rows)); /* [3, 6] at element 6 */
    assert_int_equal(aph_tensor_byte_offset(rows), 6 * 2);
    static const int64_t empty_cases[][3] = {{2, 1, 1}, {6, 10, 1}, {100, 200, 5}, {-1, -2, 1}, {1, 1, 3}};
    for (size_t i = 0; i < sizeof empty_cases / sizeof empty_cases[0]; ++i) {
        for (size_t dim = 0; dim < 2; ++dim) {
            APH_ASSERT_OK(aph_tensor_slice(rows, dim, empty_cases[i][0], empty_cases[i][1], empty_cases[i][2], &s2));
            assert_int_equal(aph_tensor_numel(s2), 0);
            assert_int_equal(aph_tensor_shape(s2)[dim], 0);
            assert_null(aph_tensor_data(s2));
            assert_int_equal(aph_tensor_byte_offset(s2), aph_tensor_byte_offset(rows));
            aph_tensor_release(s2);
        }
    }
    aph_tensor_release(rows);

    /* Errors. */
    aph_tensor* out = SENTINEL;
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, 0, 0, 4, 0, &out), "step");
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, 0, 0, 4, -1, &out), "step");
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, 1, 4, 0, INT64_MIN, &out), "step");
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, 2, 0, 1, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, 100, 0, 1, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, -3, 0, 1, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, INT64_MIN, 0, 1, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_slice(NULL, 0, 0, 1, 1, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_slice(g.t, 0, 0, 1, 1, NULL), "out");
    assert_ptr_equal(out, SENTINEL);
    aph_tensor_release(s);
    fixture_free(&g);
    fixture_free(&f);
    aph_device_release(d);
}

static void test_narrow(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {5, 4};
    fixture_make(&f, d, APH_DTYPE_I64, shape, 2);
    aph_tensor* n = NULL;

    APH_ASSERT_OK(aph_tensor_narrow(f.t, 0, 1, 3, &n));
    model m = f.m;
    model_narrow(&m, 0, 1, 3);
    check_view(n, &m, f.data, f.dt, f.host, f.t, "narrow rows");
    assert_int_equal(aph_tensor_is_contiguous(n), 1);
    assert_ptr_equal(aph_tensor_data(n), f.data + 4 * 8);
    assert_int_equal(aph_tensor_byte_offset(n), 32);
    aph_tensor_release(n);

    APH_ASSERT_OK(aph_tensor_narrow(f.t, 1, 2, 2, &n));
    m = f.m;
    model_narrow(&m, 1, 2, 2);
    check_view(n, &m, f.data, f.dt, f.host, f.t, "narrow columns");
    assert_int_equal(aph_tensor_is_contiguous(n), 0);
    const int64_t want_strides[] = {4, 1};
    assert_memory_equal(aph_tensor_strides(n), want_strides, sizeof want_strides);
    aph_tensor_release(n);

    /* dim -1 is the columns, -2 the rows. */
    APH_ASSERT_OK(aph_tensor_narrow(f.t, -1, 2, 2, &n));
    check_view(n, &m, f.data, f.dt, f.host, f.t, "narrow columns along dim -1");
    aph_tensor_release(n);
    APH_ASSERT_OK(aph_tensor_narrow(f.t, -2, 1, 3, &n));
    m = f.m;
    model_narrow(&m, 0, 1, 3);
    check_view(n, &m, f.data, f.dt, f.host, f.t, "narrow rows along dim -2");
    aph_tensor_release(n);

    /* The whole dimension, and nothing at the very end. */
    APH_ASSERT_OK(aph_tensor_narrow(f.t, 0, 0, 5, &n));
    check_view(n, &f.m, f.data, f.dt, f.host, f.t, "narrow everything");
    aph_tensor_release(n);
    APH_ASSERT_OK(aph_tensor_narrow(f.t, 1, 4, 0, &n));
    assert_int_equal(aph_tensor_numel(n), 0);
    assert_int_equal(aph_tensor_shape(n)[1], 0);
    assert_null(aph_tensor_data(n));
    aph_tensor_release(n);

    aph_tensor* out = SENTINEL;
    aph_status st = aph_tensor_narrow(f.t, 0, 4, 2, &out); /* 4 + 2 > 5 */
    assert_string_equal(aph_status_name(st), "APH_ERR_INVALID_ARGUMENT");
    assert_true(strstr(aph_last_error(), "start") != NULL || strstr(aph_last_error(), "length") != NULL);
    ASSERT_INVALID_ARG(aph_tensor_narrow(f.t, 1, 0, 5, &out), "length");
    ASSERT_INVALID_ARG(aph_tensor_narrow(f.t, 1, 2, -1, &out), "length");
    st = aph_tensor_narrow(f.t, 1, 5, 0, &out); /* start past the end */
    assert_string_equal(aph_status_name(st), "APH_ERR_INVALID_ARGUMENT");
    st = aph_tensor_narrow(f.t, 1, INT64_MAX, 2, &out); /* start + length overflows */
    assert_string_equal(aph_status_name(st), "APH_ERR_INVALID_ARGUMENT");
    st = aph_tensor_narrow(f.t, 1, 2, INT64_MAX, &out);
    assert_string_equal(aph_status_name(st), "APH_ERR_INVALID_ARGUMENT");
    ASSERT_INVALID_ARG(aph_tensor_narrow(f.t, 2, 0, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_narrow(f.t, -3, 0, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_narrow(NULL, 0, 0, 1, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_narrow(f.t, 0, 0, 1, NULL), "out");
    assert_ptr_equal(out, SENTINEL);
    fixture_free(&f);
    aph_device_release(d);
}

static void test_select(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {3, 4, 5};
    fixture_make(&f, d, APH_DTYPE_BF16, shape, 3);
    aph_tensor* s = NULL;

    APH_ASSERT_OK(aph_tensor_select(f.t, 1, 2, &s));
    const int64_t want_shape[] = {3, 5}, want_strides[] = {20, 1};
    assert_int_equal(aph_tensor_ndim(s), 2);
    assert_memory_equal(aph_tensor_shape(s), want_shape, sizeof want_shape);
    assert_memory_equal(aph_tensor_strides(s), want_strides, sizeof want_strides);
    assert_ptr_equal(aph_tensor_data(s), f.data + 10 * 2);
    model m = f.m;
    model_select(&m, 1, 2);
    check_view(s, &m, f.data, f.dt, f.host, f.t, "select(1, 2)");
    aph_tensor_release(s);

    /* Negative indices count from the end. */
    APH_ASSERT_OK(aph_tensor_select(f.t, 1, -1, &s));
    m = f.m;
    model_select(&m, 1, 3);
    check_view(s, &m, f.data, f.dt, f.host, f.t, "select(1, -1)");
    aph_tensor_release(s);
    APH_ASSERT_OK(aph_tensor_select(f.t, 0, -3, &s));
    m = f.m;
    model_select(&m, 0, 0);
    check_view(s, &m, f.data, f.dt, f.host, f.t, "select(0, -3)");
    assert_int_equal(aph_tensor_is_contiguous(s), 1);
    aph_tensor_release(s);
    APH_ASSERT_OK(aph_tensor_select(f.t, 2, 4, &s));
    m = f.m;
    model_select(&m, 2, 4);
    check_view(s, &m, f.data, f.dt, f.host, f.t, "select(2, 4)");
    aph_tensor_release(s);
    /* Negative dimensions count from the end too: dim -1 is 2, -3 is 0. */
    APH_ASSERT_OK(aph_tensor_select(f.t, -1, 4, &s));
    check_view(s, &m, f.data, f.dt, f.host, f.t, "select(-1, 4)");
    aph_tensor_release(s);
    APH_ASSERT_OK(aph_tensor_select(f.t, -3, -1, &s));
    m = f.m;
    model_select(&m, 0, 2);
    check_view(s, &m, f.data, f.dt, f.host, f.t, "select(-3, -1)");
    aph_tensor_release(s);

    /* Down to 0 dimensions. */
    aph_tensor* a = NULL;
    aph_tensor* b = NULL;
    APH_ASSERT_OK(aph_tensor_select(f.t, 0, 2, &a));
    APH_ASSERT_OK(aph_tensor_select(a, 0, 1, &b));
    APH_ASSERT_OK(aph_tensor_select(b, 0, -2, &s));
    assert_int_equal(aph_tensor_ndim(s), 0);
    assert_null(aph_tensor_shape(s));
    assert_null(aph_tensor_strides(s));
    assert_int_equal(aph_tensor_numel(s), 1);
    assert_int_equal(aph_tensor_is_contiguous(s), 1);
    assert_ptr_equal(aph_tensor_data(s), f.data + (2 * 20 + 1 * 5 + 3) * 2);
    m = f.m;
    model_select(&m, 0, 2);
    model_select(&m, 0, 1);
    model_select(&m, 0, 3);
    check_view(s, &m, f.data, f.dt, f.host, f.t, "select to 0-dim");
    aph_tensor* out = SENTINEL;
    ASSERT_INVALID_ARG(aph_tensor_select(s, 0, 0, &out), "dim"); /* no dimension left */
    ASSERT_INVALID_ARG(aph_tensor_select(s, -1, 0, &out), "dim");
    aph_tensor_release(s);
    aph_tensor_release(b);
    aph_tensor_release(a);

    ASSERT_INVALID_ARG(aph_tensor_select(f.t, 1, 4, &out), "index");
    ASSERT_INVALID_ARG(aph_tensor_select(f.t, 1, -5, &out), "index");
    ASSERT_INVALID_ARG(aph_tensor_select(f.t, 0, INT64_MIN, &out), "index");
    ASSERT_INVALID_ARG(aph_tensor_select(f.t, 0, INT64_MAX, &out), "index");
    ASSERT_INVALID_ARG(aph_tensor_select(f.t, 3, 0, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_select(f.t, -4, 0, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_select(NULL, 0, 0, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_select(f.t, 0, 0, NULL), "out");
    assert_ptr_equal(out, SENTINEL);
    fixture_free(&f);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * expand
 * ------------------------------------------------------------------------------------------- */

static void test_expand(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {3, 1};
    fixture_make(&f, d, APH_DTYPE_I64, shape, 2);
    const int64_t* h = (const int64_t*)f.host;
    aph_tensor* e = NULL;

    const int64_t s34[] = {3, 4};
    APH_ASSERT_OK(aph_tensor_expand(f.t, s34, 2, &e));
    assert_memory_equal(aph_tensor_shape(e), s34, sizeof s34);
    assert_int_equal(aph_tensor_strides(e)[0], 1);
    assert_int_equal(aph_tensor_strides(e)[1], 0);
    assert_int_equal(aph_tensor_is_contiguous(e), 0);
    assert_ptr_equal(aph_tensor_data(e), f.data);
    int64_t got[24];
    APH_ASSERT_OK(aph_tensor_to_host(e, got, 12 * 8));
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) assert_int_equal(got[i * 4 + j], h[i]);
    model m = f.m;
    model_expand(&m, s34, 2);
    check_view(e, &m, f.data, f.dt, f.host, f.t, "expand [3, 4]");
    aph_tensor_release(e);

    /* -1 keeps a dimension; more leading dimensions get stride 0. */
    const int64_t keep[] = {-1, 4};
    APH_ASSERT_OK(aph_tensor_expand(f.t, keep, 2, &e));
    check_view(e, &m, f.data, f.dt, f.host, f.t, "expand [-1, 4]");
    aph_tensor_release(e);
    const int64_t s234[] = {2, 3, 4};
    APH_ASSERT_OK(aph_tensor_expand(f.t, s234, 3, &e));
    assert_memory_equal(aph_tensor_shape(e), s234, sizeof s234);
    assert_int_equal(aph_tensor_strides(e)[0], 0);
    assert_int_equal(aph_tensor_strides(e)[1], 1);
    assert_int_equal(aph_tensor_strides(e)[2], 0);
    APH_ASSERT_OK(aph_tensor_to_host(e, got, 24 * 8));
    for (int a = 0; a < 2; ++a)
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j) assert_int_equal(got[(a * 3 + i) * 4 + j], h[i]);
    m = f.m;
    model_expand(&m, s234, 3);
    check_view(e, &m, f.data, f.dt, f.host, f.t, "expand [2, 3, 4]");
    /* Expanding an expanded view. */
    aph_tensor* e2 = NULL;
    const int64_t s5234[] = {5, -1, -1, 4};
    APH_ASSERT_OK(aph_tensor_expand(e, s5234, 4, &e2));
    model_expand(&m, s5234, 4);
    check_view(e2, &m, f.data, f.dt, f.host, f.t, "expand of an expanded view");
    aph_tensor_release(e2);
    aph_tensor_release(e);
    /* The same shape: the same layout. */
    APH_ASSERT_OK(aph_tensor_expand(f.t, shape, 2, &e));
    check_view(e, &f.m, f.data, f.dt, f.host, f.t, "expand to its own shape");
    aph_tensor_release(e);
    const int64_t keep1[] = {3, -1};
    APH_ASSERT_OK(aph_tensor_expand(f.t, keep1, 2, &e));
    check_view(e, &f.m, f.data, f.dt, f.host, f.t, "expand [3, -1]");
    aph_tensor_release(e);

    aph_tensor* out = SENTINEL;
    const int64_t s44[] = {4, 4}, s24[] = {2, 4}, s3[] = {3}, s234x[] = {2, 6, 4};
    const int64_t lead_infer[] = {-1, 3, 4}, neg[] = {3, -2};
    ASSERT_SHAPE_MISMATCH(aph_tensor_expand(f.t, s44, 2, &out));
    ASSERT_SHAPE_MISMATCH(aph_tensor_expand(f.t, s24, 2, &out));
    ASSERT_SHAPE_MISMATCH(aph_tensor_expand(f.t, s234x, 3, &out));
    ASSERT_FAILS(aph_tensor_expand(f.t, s3, 1, &out)); /* fewer dimensions */
    /* -1 for a new dimension: there is nothing to keep. */
    ASSERT_INVALID_ARG(aph_tensor_expand(f.t, lead_infer, 3, &out), "shape[0]");
    ASSERT_FAILS(aph_tensor_expand(f.t, neg, 2, &out));
    ASSERT_INVALID_ARG(aph_tensor_expand(f.t, NULL, 2, &out), "shape");
    ASSERT_INVALID_ARG(aph_tensor_expand(NULL, s34, 2, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_expand(f.t, s34, 2, NULL), "out");
    int64_t many[APH_TENSOR_MAX_DIMS + 1];
    for (size_t i = 0; i < APH_TENSOR_MAX_DIMS + 1; ++i) many[i] = 1;
    many[APH_TENSOR_MAX_DIMS - 1] = 3;
    ASSERT_FAILS(aph_tensor_expand(f.t, many, APH_TENSOR_MAX_DIMS + 1, &out));
    assert_ptr_equal(out, SENTINEL);
    fixture_free(&f);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Storage sharing and lifetimes
 * ------------------------------------------------------------------------------------------- */

static void test_shares_storage(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {4, 5};
    aph_tensor* a = random_tensor(d, APH_DTYPE_F32, shape, 2, NULL);
    aph_tensor* b = random_tensor(d, APH_DTYPE_F32, shape, 2, NULL);
    aph_tensor *v1 = NULL, *v2 = NULL, *v3 = NULL, *c = NULL, *cc = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(a, 0, 1, &v1));
    APH_ASSERT_OK(aph_tensor_select(a, 0, 3, &v2));
    APH_ASSERT_OK(aph_tensor_slice(v1, 0, 1, 5, 2, &v3));
    APH_ASSERT_OK(aph_tensor_to_device(a, d, &c));
    APH_ASSERT_OK(aph_tensor_contiguous(v1, &cc));
    assert_int_equal(aph_tensor_shares_storage(a, a), 1);
    assert_int_equal(aph_tensor_shares_storage(a, v1), 1);
    assert_int_equal(aph_tensor_shares_storage(v1, a), 1);
    assert_int_equal(aph_tensor_shares_storage(v1, v2), 1); /* both views of a third */
    assert_int_equal(aph_tensor_shares_storage(v3, v2), 1); /* a view of a view */
    assert_int_equal(aph_tensor_shares_storage(a, b), 0);
    assert_int_equal(aph_tensor_shares_storage(v3, b), 0);
    assert_int_equal(aph_tensor_shares_storage(a, c), 0);
    assert_int_equal(aph_tensor_shares_storage(cc, a), 0);
    assert_int_equal(aph_tensor_shares_storage(cc, v1), 0);
    /* Writing through a view is seen by every other view of the storage. */
    float x = 1234.25f, y = 0;
    aph_tensor* e = NULL;
    APH_ASSERT_OK(aph_tensor_select(v2, 0, 1, &e)); /* a[3][1] */
    APH_ASSERT_OK(aph_tensor_copy_from_host(e, &x, 4));
    aph_tensor* e2 = NULL;
    aph_tensor* col = NULL;
    APH_ASSERT_OK(aph_tensor_select(v1, 0, 1, &col)); /* column 1 of a */
    APH_ASSERT_OK(aph_tensor_select(col, 0, 3, &e2));
    APH_ASSERT_OK(aph_tensor_to_host(e2, &y, 4));
    assert_memory_equal(&x, &y, 4);
    assert_ptr_equal(aph_tensor_data(e), aph_tensor_data(e2));
    assert_ptr_equal(aph_tensor_data(e), (char*)aph_tensor_data(a) + (3 * 5 + 1) * 4);
    aph_tensor* handles[] = {a, b, v1, v2, v3, c, cc, e, e2, col};
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; ++i) aph_tensor_release(handles[i]);
    aph_device_release(d);
}

static uint64_t active_allocations(aph_device* d) {
    aph_memory_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    APH_ASSERT_OK(aph_device_memory_stats(d, &st));
    return st.active_allocations;
}

static void test_view_outlives_base(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const uint64_t before = active_allocations(d);
    fixture f;
    const int64_t shape[] = {6, 7};
    fixture_make(&f, d, APH_DTYPE_F32, shape, 2);
    assert_int_equal(active_allocations(d), before + 1);

    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_slice(f.t, 1, 1, 7, 3, &v));
    aph_tensor* w = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(v, 0, 1, &w));
    model m = f.m;
    model_slice(&m, 1, 1, 7, 3);
    model mw = m;
    model_transpose(&mw, 0, 1);
    aph_tensor_release(f.t); /* the base handle goes first */
    aph_tensor_release(v);   /* and the intermediate view */
    f.t = NULL;
    /* The storage is still there, unchanged, and counted once. */
    assert_int_equal(active_allocations(d), before + 1);
    check_view(w, &mw, f.data, f.dt, f.host, NULL, "view after its base was released");
    /* Views of the survivor still work. */
    aph_tensor* x = NULL;
    APH_ASSERT_OK(aph_tensor_select(w, 1, -1, &x));
    model_select(&mw, 1, 5);
    check_view(x, &mw, f.data, f.dt, f.host, w, "view of the survivor");
    aph_tensor_release(w);
    assert_int_equal(active_allocations(d), before + 1);
    aph_tensor_release(x); /* the last reference: the block goes back */
    assert_int_equal(active_allocations(d), before);
    free(f.host);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Compositions, zero-size and 0-dimensional tensors
 * ------------------------------------------------------------------------------------------- */

static void test_composition(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    const int64_t shape[] = {4, 6};
    fixture_make(&f, d, APH_DTYPE_F32, shape, 2);
    const float* h = (const float*)f.host;

    /* reshape [2, 3, 4] -> permute [2, 0, 1] ([4, 2, 3], strides [1, 12, 4]) ->
     * slice dim 2 by 2 ([4, 2, 2], strides [1, 12, 8]). Element (a, b, c) = h[b*12 + 8c + a]. */
    const int64_t s234[] = {2, 3, 4}, perm[] = {2, 0, 1};
    aph_tensor *r = NULL, *p = NULL, *s = NULL, *x = NULL, *e = NULL, *r2 = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(f.t, s234, 3, &r));
    APH_ASSERT_OK(aph_tensor_permute(r, perm, 3, &p));
    APH_ASSERT_OK(aph_tensor_slice(p, 2, 0, 3, 2, &s));
    const int64_t want_shape[] = {4, 2, 2}, want_strides[] = {1, 12, 8};
    assert_memory_equal(aph_tensor_shape(s), want_shape, sizeof want_shape);
    assert_memory_equal(aph_tensor_strides(s), want_strides, sizeof want_strides);
    float got[48], want[48];
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 2; ++b)
            for (int c = 0; c < 2; ++c) want[(a * 2 + b) * 2 + c] = h[b * 12 + 8 * c + a];
    APH_ASSERT_OK(aph_tensor_to_host(s, got, 16 * 4));
    assert_bytes_equal(got, want, 16 * 4, "slice of a permute of a reshape");

    /* select the last of dim 0: [2, 2] = h[b*12 + 8c + 3], offset 3. */
    APH_ASSERT_OK(aph_tensor_select(s, 0, -1, &x));
    assert_ptr_equal(aph_tensor_data(x), f.data + 3 * 4);
    for (int b = 0; b < 2; ++b)
        for (int c = 0; c < 2; ++c) want[b * 2 + c] = h[b * 12 + 8 * c + 3];
    APH_ASSERT_OK(aph_tensor_to_host(x, got, 4 * 4));
    assert_bytes_equal(got, want, 4 * 4, "select of the composition");

    /* expand to [3, 2, 2], then reshape [3, 4]: the last two dims (strides [12, 8]) do not merge. */
    const int64_t s322[] = {3, 2, 2}, s34[] = {3, 4};
    APH_ASSERT_OK(aph_tensor_expand(x, s322, 3, &e));
    for (int k = 0; k < 3; ++k)
        for (int b = 0; b < 2; ++b)
            for (int c = 0; c < 2; ++c) want[(k * 2 + b) * 2 + c] = h[b * 12 + 8 * c + 3];
    APH_ASSERT_OK(aph_tensor_to_host(e, got, 12 * 4));
    assert_bytes_equal(got, want, 12 * 4, "expand of the composition");
    aph_tensor* out = SENTINEL;
    APH_ASSERT_ERR_CONTAINS(aph_tensor_reshape(e, s34, 2, &out), APH_ERR_INVALID_ARGUMENT, "contiguous");
    assert_ptr_equal(out, SENTINEL);
    /* ... but splitting and merging the leading (stride 0) dimension with nothing else works. */
    const int64_t s3_1_2_2[] = {3, 1, 2, 2};
    APH_ASSERT_OK(aph_tensor_reshape(e, s3_1_2_2, 4, &r2));
    APH_ASSERT_OK(aph_tensor_to_host(r2, got, 12 * 4));
    assert_bytes_equal(got, want, 12 * 4, "reshape of the expanded composition");

    /* The same chain through the model. */
    model m = f.m;
    assert_true(model_reshape(&m, s234, 3));
    model_permute(&m, perm);
    model_slice(&m, 2, 0, 3, 2);
    check_view(s, &m, f.data, f.dt, f.host, f.t, "composition (model)");
    model_select(&m, 0, 3);
    check_view(x, &m, f.data, f.dt, f.host, f.t, "composition + select (model)");
    model_expand(&m, s322, 3);
    check_view(e, &m, f.data, f.dt, f.host, f.t, "composition + expand (model)");
    model m2 = m;
    assert_false(model_reshape(&m2, s34, 2));
    assert_true(model_reshape(&m, s3_1_2_2, 4));
    check_view(r2, &m, f.data, f.dt, f.host, f.t, "composition + reshape (model)");

    /* contiguous() of the composition, and copying it out. */
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(s, &c));
    assert_int_equal(aph_tensor_is_contiguous(c), 1);
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 2; ++b)
            for (int cc = 0; cc < 2; ++cc) want[(a * 2 + b) * 2 + cc] = h[b * 12 + 8 * cc + a];
    assert_bytes_equal(aph_tensor_data(c), want, 16 * 4, "contiguous() of the composition");
    aph_tensor_release(c);

    aph_tensor_release(r2);
    aph_tensor_release(e);
    aph_tensor_release(x);
    aph_tensor_release(s);
    aph_tensor_release(p);
    aph_tensor_release(r);
    fixture_free(&f);
    aph_device_release(d);
}

static void assert_empty_view(const aph_tensor* t, const int64_t* shape, size_t ndim) {
    assert_non_null(t);
    assert_int_equal(aph_tensor_ndim(t), ndim);
    assert_memory_equal(aph_tensor_shape(t), shape, ndim * sizeof(int64_t));
    assert_int_equal(aph_tensor_numel(t), 0);
    assert_int_equal(aph_tensor_nbytes(t), 0);
    assert_null(aph_tensor_data(t));
    assert_int_equal(aph_tensor_is_contiguous(t), 1);
    char c = 0;
    APH_ASSERT_OK(aph_tensor_to_host(t, &c, 0));
}

static void test_zero_size_views(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {3, 0, 4};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, shape, 3, &t));
    aph_tensor* v = NULL;
    aph_tensor* out = SENTINEL;

    const int64_t perm[] = {2, 0, 1}, p_shape[] = {4, 3, 0};
    APH_ASSERT_OK(aph_tensor_permute(t, perm, 3, &v));
    assert_empty_view(v, p_shape, 3);
    aph_tensor_release(v);
    const int64_t t_shape[] = {0, 3, 4};
    APH_ASSERT_OK(aph_tensor_transpose(t, 0, 1, &v));
    assert_empty_view(v, t_shape, 3);
    aph_tensor_release(v);
    const int64_t s_shape[] = {2, 0, 4};
    APH_ASSERT_OK(aph_tensor_slice(t, 0, 1, 3, 1, &v));
    assert_empty_view(v, s_shape, 3);
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_slice(t, 1, -5, 5, 2, &v));
    assert_empty_view(v, shape, 3);
    aph_tensor_release(v);
    const int64_t n_shape[] = {3, 0, 2};
    APH_ASSERT_OK(aph_tensor_narrow(t, 2, 1, 2, &v));
    assert_empty_view(v, n_shape, 3);
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_narrow(t, 1, 0, 0, &v));
    assert_empty_view(v, shape, 3);
    aph_tensor_release(v);
    const int64_t sel_shape[] = {0, 4};
    APH_ASSERT_OK(aph_tensor_select(t, 0, -1, &v));
    assert_empty_view(v, sel_shape, 2);
    aph_tensor_release(v);
    ASSERT_INVALID_ARG(aph_tensor_select(t, 1, 0, &out), "index"); /* nothing to select */
    ASSERT_INVALID_ARG(aph_tensor_select(t, 1, -1, &out), "index");
    ASSERT_INVALID_ARG(aph_tensor_narrow(t, 1, 0, 1, &out), "length");
    const int64_t e_shape[] = {2, 3, 0, 4};
    APH_ASSERT_OK(aph_tensor_expand(t, e_shape, 4, &v));
    assert_empty_view(v, e_shape, 4);
    aph_tensor_release(v);
    const int64_t r1[] = {0, 12}, r2[] = {12, 0}, r3[] = {-1, 4}, r3w[] = {0, 4}, r4[] = {0};
    APH_ASSERT_OK(aph_tensor_reshape(t, r1, 2, &v));
    assert_empty_view(v, r1, 2);
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_reshape(t, r2, 2, &v));
    assert_empty_view(v, r2, 2);
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_reshape(t, r3, 2, &v));
    assert_empty_view(v, r3w, 2);
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_reshape(t, r4, 1, &v));
    assert_empty_view(v, r4, 1);
    /* A zero-size permuted view reshapes freely (there is nothing to lay out). */
    aph_tensor* p = NULL;
    aph_tensor* pr = NULL;
    APH_ASSERT_OK(aph_tensor_permute(t, perm, 3, &p));
    APH_ASSERT_OK(aph_tensor_reshape(p, r1, 2, &pr));
    assert_empty_view(pr, r1, 2);
    aph_tensor_release(pr);
    aph_tensor_release(p);
    aph_tensor_release(v);
    const int64_t bad[] = {5};
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(t, bad, 1, &out));
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(t, NULL, 0, &out));
    assert_ptr_equal(out, SENTINEL);

    /* An empty slice of a non-empty tensor. */
    const int64_t s5[] = {5, 2};
    aph_tensor* full = random_tensor(d, APH_DTYPE_I8, s5, 2, NULL);
    const int64_t empty_shape[] = {0, 2};
    APH_ASSERT_OK(aph_tensor_slice(full, 0, 4, 1, 1, &v));
    assert_empty_view(v, empty_shape, 2);
    /* ...and views of that. */
    aph_tensor* w = NULL;
    const int64_t wt[] = {2, 0};
    APH_ASSERT_OK(aph_tensor_transpose(v, 0, 1, &w));
    assert_empty_view(w, wt, 2);
    aph_tensor_release(w);
    aph_tensor_release(v);
    aph_tensor_release(full);
    aph_tensor_release(t);
    aph_device_release(d);
}

static void test_zero_dim_views(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    fixture f;
    fixture_make(&f, d, APH_DTYPE_F64, NULL, 0);
    aph_tensor* v = NULL;
    aph_tensor* out = SENTINEL;

    const int64_t s1[] = {1}, s11[] = {1, 1}, inf[] = {-1}, inf2[] = {1, -1, 1};
    const int64_t* shapes[] = {s1, s11, inf, inf2};
    const size_t ndims[] = {1, 2, 1, 3};
    for (size_t i = 0; i < 4; ++i) {
        APH_ASSERT_OK(aph_tensor_reshape(f.t, shapes[i], ndims[i], &v));
        assert_int_equal(aph_tensor_ndim(v), ndims[i]);
        for (size_t k = 0; k < ndims[i]; ++k) assert_int_equal(aph_tensor_shape(v)[k], 1);
        assert_int_equal(aph_tensor_numel(v), 1);
        assert_ptr_equal(aph_tensor_data(v), f.data);
        assert_int_equal(aph_tensor_is_contiguous(v), 1);
        double x = 0;
        APH_ASSERT_OK(aph_tensor_to_host(v, &x, 8));
        assert_memory_equal(&x, f.host, 8);
        /* ...and back to 0 dimensions. */
        aph_tensor* back = NULL;
        APH_ASSERT_OK(aph_tensor_reshape(v, NULL, 0, &back));
        check_view(back, &f.m, f.data, f.dt, f.host, f.t, "reshape back to 0-dim");
        aph_tensor_release(back);
        aph_tensor_release(v);
    }
    /* The empty permutation. */
    APH_ASSERT_OK(aph_tensor_permute(f.t, NULL, 0, &v));
    check_view(v, &f.m, f.data, f.dt, f.host, f.t, "permute of a 0-dim tensor");
    aph_tensor_release(v);
    /* Broadcasting a scalar. */
    const int64_t s23[] = {2, 3};
    APH_ASSERT_OK(aph_tensor_expand(f.t, s23, 2, &v));
    assert_int_equal(aph_tensor_strides(v)[0], 0);
    assert_int_equal(aph_tensor_strides(v)[1], 0);
    model m = f.m;
    model_expand(&m, s23, 2);
    check_view(v, &m, f.data, f.dt, f.host, f.t, "expand of a 0-dim tensor");
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_expand(f.t, NULL, 0, &v));
    check_view(v, &f.m, f.data, f.dt, f.host, f.t, "expand of a 0-dim tensor to 0-dim");
    aph_tensor_release(v);

    /* Nothing to index. */
    ASSERT_INVALID_ARG(aph_tensor_slice(f.t, 0, 0, 1, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_select(f.t, 0, 0, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_narrow(f.t, 0, 0, 1, &out), "dim");
    ASSERT_INVALID_ARG(aph_tensor_transpose(f.t, 0, 1, &out), "dim");
    const int64_t one[] = {0};
    ASSERT_INVALID_ARG(aph_tensor_permute(f.t, one, 1, &out), "dim");
    const int64_t s2[] = {2};
    ASSERT_SHAPE_MISMATCH(aph_tensor_reshape(f.t, s2, 1, &out));
    assert_ptr_equal(out, SENTINEL);
    fixture_free(&f);
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * Randomised compositions
 * ------------------------------------------------------------------------------------------- */

/* A random shape with numel elements (numel > 0: its prime factors spread over 1-4 dims). */
static size_t random_shape_with_numel(int64_t numel, int64_t* out) {
    const size_t nd = (size_t)rnd_range(1, 4);
    for (size_t i = 0; i < nd; ++i) out[i] = 1;
    if (numel == 0) {
        for (size_t i = 0; i < nd; ++i) out[i] = rnd_range(1, 3);
        out[rnd_range(0, (int64_t)nd - 1)] = 0;
        return nd;
    }
    int64_t n = numel;
    for (int64_t p = 2; p * p <= n; ++p) {
        while (n % p == 0) {
            out[rnd_range(0, (int64_t)nd - 1)] *= p;
            n /= p;
        }
    }
    if (n > 1) out[rnd_range(0, (int64_t)nd - 1)] *= n;
    return nd;
}

static void test_random_compositions(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    static const aph_dtype dts[] = {APH_DTYPE_F32, APH_DTYPE_F64, APH_DTYPE_I8, APH_DTYPE_I16,
                                    APH_DTYPE_I64, APH_DTYPE_F16, APH_DTYPE_U8, APH_DTYPE_BOOL};
    int counts[8] = {0};
    for (int trial = 0; trial < 400; ++trial) {
        fixture f;
        int64_t shape[4];
        const size_t ndim = (size_t)rnd_range(0, 4);
        for (size_t i = 0; i < ndim; ++i) shape[i] = rnd_range(1, 5);
        if (ndim > 0 && rnd_range(0, 19) == 0) shape[rnd_range(0, (int64_t)ndim - 1)] = 0;
        fixture_make(&f, d, dts[rnd_range(0, 7)], shape, ndim);
        const size_t es = aph_dtype_size(f.dt);
        /* cur: the current view (one reference of ours). The base handle sometimes goes at once;
         * the views must keep the storage alive. */
        aph_tensor* cur = f.t;
        aph_tensor_retain(cur);
        if (rnd_range(0, 3) == 0) {
            aph_tensor_release(f.t);
            f.t = NULL;
        }
        model m = f.m;
        /* A zero-size base may have no storage at all; otherwise every view shares the base's. */
        const int has_storage = model_numel(&f.m) > 0;
        const int steps = (int)rnd_range(1, 6);
        for (int step = 0; step < steps; ++step) {
            aph_tensor* next = NULL;
            model nm = m;
            const int op = (int)rnd_range(0, 6);
            aph_status st = APH_OK;
            char what[64];
            snprintf(what, sizeof what, "trial %d step %d op %d", trial, step, op);
            if (op == 0) { /* permute */
                int64_t dims[APH_TENSOR_MAX_DIMS];
                for (size_t i = 0; i < m.ndim; ++i) dims[i] = (int64_t)i;
                for (size_t i = m.ndim; i > 1; --i) {
                    size_t j = (size_t)rnd_range(0, (int64_t)i - 1);
                    int64_t t = dims[i - 1];
                    dims[i - 1] = dims[j];
                    dims[j] = t;
                }
                st = aph_tensor_permute(cur, m.ndim ? dims : NULL, m.ndim, &next);
                model_permute(&nm, dims);
            } else if (op == 1 && m.ndim >= 2) { /* transpose */
                size_t a = (size_t)rnd_range(0, (int64_t)m.ndim - 1), b = (size_t)rnd_range(0, (int64_t)m.ndim - 1);
                if (a == b) b = (a + 1) % m.ndim;
                st = aph_tensor_transpose(cur, a, b, &next);
                model_transpose(&nm, a, b);
            } else if (op == 2 && m.ndim >= 1) { /* slice */
                size_t dim = (size_t)rnd_range(0, (int64_t)m.ndim - 1);
                int64_t size = m.shape[dim];
                int64_t start = rnd_range(-size - 2, size + 2), stop = rnd_range(-size - 2, size + 2);
                int64_t stp = rnd_range(1, 3);
                st = aph_tensor_slice(cur, dim, start, stop, stp, &next);
                model_slice(&nm, dim, start, stop, stp);
            } else if (op == 3 && m.ndim >= 1) { /* narrow */
                size_t dim = (size_t)rnd_range(0, (int64_t)m.ndim - 1);
                int64_t size = m.shape[dim];
                int64_t start = rnd_range(0, size), length = rnd_range(0, size - start);
                st = aph_tensor_narrow(cur, dim, start, length, &next);
                model_narrow(&nm, dim, start, length);
            } else if (op == 4 && m.ndim >= 1) { /* select */
                size_t dim = (size_t)rnd_range(0, (int64_t)m.ndim - 1);
                int64_t size = m.shape[dim];
                if (size == 0) continue;
                int64_t index = rnd_range(-size, size - 1);
                st = aph_tensor_select(cur, dim, index, &next);
                model_select(&nm, dim, index);
            } else if (op == 5) { /* expand */
                const size_t lead = m.ndim + 2 <= 6 ? (size_t)rnd_range(0, 2) : 0;
                int64_t es_shape[APH_TENSOR_MAX_DIMS];
                for (size_t i = 0; i < lead; ++i) es_shape[i] = rnd_range(1, 3);
                for (size_t i = 0; i < m.ndim; ++i) {
                    int64_t s = m.shape[i];
                    if (s == 1) es_shape[lead + i] = rnd_range(0, 3) == 0 ? -1 : rnd_range(1, 3);
                    else
                        es_shape[lead + i] = rnd_range(0, 2) == 0 ? -1 : s;
                }
                model_expand(&nm, es_shape, lead + m.ndim);
                if (model_numel(&nm) > 4000) continue;
                st = aph_tensor_expand(cur, es_shape, lead + m.ndim, &next);
            } else if (op == 6) { /* reshape, as a view where one exists */
                int64_t rs[APH_TENSOR_MAX_DIMS];
                const int64_t numel = model_numel(&m);
                size_t rnd = random_shape_with_numel(numel, rs);
                if (numel > 0 && rnd_range(0, 2) == 0) rs[rnd_range(0, (int64_t)rnd - 1)] = -1;
                const int viewable = model_reshape(&nm, rs, rnd);
                st = aph_tensor_reshape(cur, rs, rnd, &next);
                if (!viewable) {
                    if (st != APH_ERR_INVALID_ARGUMENT) {
                        print_model(what, &m, cur);
                        print_error("%s: reshape to a shape with no view gave %s\n", what, aph_status_name(st));
                        if (st == APH_OK) aph_tensor_release(next);
                        fail();
                    }
                    counts[7]++;
                    continue;
                }
            } else {
                continue;
            }
            if (st != APH_OK) {
                print_model(what, &m, cur);
                print_error("%s: %s: %s\n", what, aph_status_name(st), aph_last_error());
                fail();
            }
            counts[op]++;
            check_view(next, &nm, f.data, f.dt, f.host, has_storage ? cur : NULL, what);
            aph_tensor_release(cur);
            cur = next;
            m = nm;
        }
        /* Copies out of the final view agree with the model too. */
        const size_t nbytes = (size_t)model_numel(&m) * es;
        char* want = (char*)malloc(nbytes ? nbytes : 1);
        model_gather(&m, f.host, es, want);
        aph_tensor* c = NULL;
        APH_ASSERT_OK(aph_tensor_contiguous(cur, &c));
        assert_int_equal(aph_tensor_is_contiguous(c), 1);
        if (model_contiguous(&m)) assert_ptr_equal(c, cur);
        else
            assert_ptr_not_equal(c, cur);
        if (nbytes) assert_bytes_equal(aph_tensor_data(c), want, nbytes, "contiguous() of a random view");
        aph_tensor_release(c);
        aph_tensor* dst = NULL;
        APH_ASSERT_OK(aph_tensor_create(d, f.dt, m.ndim ? m.shape : NULL, m.ndim, &dst));
        APH_ASSERT_OK(aph_tensor_copy(dst, cur));
        if (nbytes) assert_bytes_equal(aph_tensor_data(dst), want, nbytes, "copy of a random view");
        aph_tensor_release(dst);
        /* Writing through the view (when no element repeats) lands where the model says. */
        if (!model_overlaps(&m) && nbytes > 0) {
            void* src = random_host(f.dt, model_numel(&m));
            APH_ASSERT_OK(aph_tensor_copy_from_host(cur, src, nbytes));
            model_scatter(&m, f.host, es, src);
            const size_t base_bytes = (size_t)model_numel(&f.m) * es;
            assert_bytes_equal(f.data, f.host, base_bytes, "base after writing through a random view");
            free(src);
        }
        free(want);
        aph_tensor_release(cur);
        aph_tensor_release(f.t); /* NULL when it went early */
        free(f.host);
    }
    /* Every kind of operation was exercised. */
    for (int k = 0; k < 8; ++k) {
        if (counts[k] == 0) print_error("operation %d never ran; seed %llu\n", k, (unsigned long long)g_seed0);
        assert_true(counts[k] > 0);
    }
    aph_device_release(d);
}

/* ---------------------------------------------------------------------------------------------
 * NULL arguments and out parameters
 * ------------------------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------------------------
 * Sizes at the edges of 64 bits
 * ------------------------------------------------------------------------------------------- */

/* A view's element count is an int64_t and its byte count numel × dtype size: an expand whose
 * count (or byte count) does not fit is refused, never wrapped. Wrapped, (2^61 + 1) f64
 * elements claimed aph_tensor_nbytes 8, and aph_tensor_to_host into an 8-byte buffer then wrote
 * 2^61 + 1 elements into it; [2^62, 3] u8 elements gave a negative aph_tensor_numel. */
static void test_expand_size_overflow(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t one[] = {1};
    const double v = 2.5;
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(d, APH_DTYPE_F64, one, 1, &v, sizeof v, &t));
    aph_tensor* out = SENTINEL;
    const int64_t wrap_bytes[] = {((int64_t)1 << 61) + 1};
    ASSERT_INVALID_ARG(aph_tensor_expand(t, wrap_bytes, 1, &out), "shape");
    const int64_t two_d[] = {1, 1};
    aph_tensor* u8 = NULL;
    const unsigned char b = 7;
    APH_ASSERT_OK(aph_tensor_from_host(d, APH_DTYPE_U8, two_d, 2, &b, 1, &u8));
    const int64_t wrap_numel[] = {(int64_t)1 << 62, 3}; /* 3 × 2^62 > INT64_MAX */
    ASSERT_INVALID_ARG(aph_tensor_expand(u8, wrap_numel, 2, &out), "shape");
    assert_ptr_equal(out, SENTINEL);
    /* Large but representable broadcasts still work, with numel × size == nbytes. */
    const int64_t big[] = {(int64_t)1 << 40, (int64_t)1 << 19};
    APH_ASSERT_OK(aph_tensor_expand(t, big, 2, &out));
    assert_int_equal(aph_tensor_numel(out), (int64_t)1 << 59);
    assert_int_equal(aph_tensor_nbytes(out), (uint64_t)1 << 62);
    aph_tensor_release(out);
    aph_tensor_release(u8);
    aph_tensor_release(t);
    aph_device_release(d);
}

/* Views of zero-size tensors whose other dimensions are huge: their strides (saturated at
 * INT64_MAX by create, or anything from_blob accepted) must not overflow the byte offset. */
static void test_zero_size_huge_dims_offset(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {(int64_t)1 << 40, (int64_t)1 << 40, (int64_t)1 << 40, 0};
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(d, APH_DTYPE_F32, shape, 4, &t));
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_slice(t, 0, 2, 4, 1, &v));
    const int64_t s_shape[] = {2, (int64_t)1 << 40, (int64_t)1 << 40, 0};
    assert_empty_view(v, s_shape, 4);
    assert_int_equal(aph_tensor_byte_offset(v), 0); /* slice of a zero-size tensor: the parent's offset */
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_select(t, 0, 3, &v));
    assert_int_equal(aph_tensor_byte_offset(v), 0); /* select of a zero-size tensor: the parent's offset */
    aph_tensor_release(v);
    aph_tensor_release(t);

    /* from_blob takes any non-negative strides for a zero-size tensor. */
    const int64_t zshape[] = {0, 4}, zstrides[] = {1, INT64_MAX};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_F64, zshape, zstrides, 2, NULL, NULL, NULL, &t));
    APH_ASSERT_OK(aph_tensor_select(t, 1, 3, &v));
    assert_int_equal(aph_tensor_byte_offset(v), 0); /* select of a zero-size blob: the parent's offset */
    aph_tensor_release(v);
    APH_ASSERT_OK(aph_tensor_slice(t, 1, 1, 4, 2, &v));
    assert_int_equal(aph_tensor_byte_offset(v), 0); /* slice of a zero-size blob: the parent's offset */
    aph_tensor_release(v);
    aph_tensor_release(t);
    aph_device_release(d);
}

/* reshape over strides near 2^62 (a u8 span from_blob accepts): the stride arithmetic must not
 * overflow (signed overflow is undefined; a build with APHELION_SANITIZE=undefined aborts). */
static void test_reshape_huge_strides(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    static unsigned char buf[16];
    aph_tensor* t = NULL;
    aph_tensor* v = NULL;
    aph_tensor* out = SENTINEL;
    const int64_t shape[] = {2, 2}, strides[] = {1, (int64_t)1 << 62};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_U8, shape, strides, 2, buf, NULL, NULL, &t));
    const int64_t four[] = {4};
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, four, 1, &out), "cannot view");
    assert_ptr_equal(out, SENTINEL);
    const int64_t split[] = {2, 1, 2, 1};
    APH_ASSERT_OK(aph_tensor_reshape(t, split, 4, &v));
    assert_int_equal(aph_tensor_strides(v)[0], 1);
    assert_int_equal(aph_tensor_strides(v)[2], (int64_t)1 << 62);
    aph_tensor_release(v);
    aph_tensor_release(t);
    const int64_t two[] = {2}, big[] = {(int64_t)1 << 62};
    APH_ASSERT_OK(aph_tensor_from_blob(d, APH_DTYPE_U8, two, big, 1, buf, NULL, NULL, &t));
    const int64_t padded[] = {1, 2, 1};
    APH_ASSERT_OK(aph_tensor_reshape(t, padded, 3, &v));
    assert_int_equal(aph_tensor_shape(v)[1], 2);
    assert_int_equal(aph_tensor_strides(v)[1], (int64_t)1 << 62);
    assert_ptr_equal(aph_tensor_data(v), buf);
    aph_tensor_release(v);
    aph_tensor_release(t);
    aph_device_release(d);
}

static void test_view_null_args(void** state) {
    (void)state;
    aph_device* d = open_cpu();
    const int64_t shape[] = {2, 3};
    aph_tensor* t = random_tensor(d, APH_DTYPE_F32, shape, 2, NULL);
    aph_tensor* out = SENTINEL;
    const int64_t perm[] = {1, 0};
    ASSERT_INVALID_ARG(aph_tensor_reshape(NULL, shape, 2, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_permute(NULL, perm, 2, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_transpose(NULL, 0, 1, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_slice(NULL, 0, 0, 1, 1, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_narrow(NULL, 0, 0, 1, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_select(NULL, 0, 0, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_expand(NULL, shape, 2, &out), "tensor");
    ASSERT_INVALID_ARG(aph_tensor_reshape(t, shape, 2, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_permute(t, perm, 2, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_transpose(t, 0, 1, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_slice(t, 0, 0, 1, 1, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_narrow(t, 0, 0, 1, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_select(t, 0, 0, NULL), "out");
    ASSERT_INVALID_ARG(aph_tensor_expand(t, shape, 2, NULL), "out");
    assert_ptr_equal(out, SENTINEL);
    aph_tensor_release(t);
    aph_device_release(d);
}

int main(void) {
    g_seed0 = fresh_seed();
    g_rng = g_seed0;
    fprintf(stderr, "test_tensor_views: seed %llu (APH_TEST_SEED=%llu replays it)\n", (unsigned long long)g_seed0,
            (unsigned long long)g_seed0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape_contiguous),
        cmocka_unit_test(test_reshape_errors),
        cmocka_unit_test(test_reshape_noncontiguous),
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_slice_python_semantics),
        cmocka_unit_test(test_narrow),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_shares_storage),
        cmocka_unit_test(test_view_outlives_base),
        cmocka_unit_test(test_composition),
        cmocka_unit_test(test_zero_size_views),
        cmocka_unit_test(test_zero_dim_views),
        cmocka_unit_test(test_random_compositions),
        cmocka_unit_test(test_view_null_args),
        cmocka_unit_test(test_expand_size_overflow),
        cmocka_unit_test(test_zero_size_huge_dims_offset),
        cmocka_unit_test(test_reshape_huge_strides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
