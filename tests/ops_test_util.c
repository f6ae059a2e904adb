/* See ops_test_util.h. */
#include "ops_test_util.h"

#include <time.h>
#include <unistd.h>

static aph_device* g_device;
static int g_cuda;
static uint64_t g_seed, g_state;

static uint64_t next_u64(void) {
    /* splitmix64 */
    uint64_t z = (g_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ot_init(void) {
    const char* s = getenv("APH_TEST_SEED");
    g_seed = s ? strtoull(s, NULL, 10) : ((uint64_t)time(NULL) * 1000003u) ^ (uint64_t)getpid();
    g_state = g_seed;
    fprintf(stderr, "ops tests: APH_TEST_SEED=%llu\n", (unsigned long long)g_seed);
    const char* dev = getenv("APH_TEST_DEVICE");
    g_cuda = dev != NULL && strcmp(dev, "cuda") == 0;
    if (g_cuda) {
        int32_t n = 0;
        if (aph_device_count(APH_DEVICE_CUDA, &n) != APH_OK || n == 0) {
            fprintf(stderr, "ops tests: no CUDA device; skipped\n");
            exit(77);
        }
        if (aph_device_open(APH_DEVICE_CUDA, 0, &g_device) != APH_OK) {
            fprintf(stderr, "ops tests: cuda:0: %s\n", aph_last_error());
            exit(1);
        }
    } else if (aph_device_open(APH_DEVICE_CPU, 0, &g_device) != APH_OK) {
        fprintf(stderr, "ops tests: cpu: %s\n", aph_last_error());
        exit(1);
    }
}

aph_device* ot_device(void) { return g_device; }
int ot_is_cuda(void) { return g_cuda; }
void ot_fini(void) { aph_device_release(g_device); }
uint64_t ot_seed(void) { return g_seed; }

double ot_uniform(double lo, double hi) {
    for (;;) {
        const double u = (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
        const double v = lo + (hi - lo) * u;
        if (v != 0.0) return v;
    }
}

void ot_fill(double* x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; ++i) x[i] = ot_uniform(lo, hi);
}

int64_t ot_int(int64_t lo, int64_t hi) { return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1)); }

size_t ot_float_dtypes(aph_dtype out[4]) {
    size_t n = 0;
    out[n++] = APH_DTYPE_F32;
    out[n++] = APH_DTYPE_F16;
    out[n++] = APH_DTYPE_BF16;
    if (!g_cuda) out[n++] = APH_DTYPE_F64;
    return n;
}

/* ---- number formats (the same rules as runtime/kernels/numeric.hpp, written independently) */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static float from_bf16(uint16_t h) { return bits_f32((uint32_t)h << 16); }
static float from_f16(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 31) v = man ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexpf((float)man, -24);
    else
        v = ldexpf((float)(man + 1024), exp - 25);
    return sign ? -v : v;
}
/* Round to nearest even by search over the representable neighbours (slow, obviously right). */
static uint16_t to_f16(float f) {
    if (isnan(f)) return 0x7e00;
    const uint16_t sign = signbit(f) ? 0x8000 : 0;
    const double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7c00; /* 65504 + half a step rounds to inf */
    /* candidate magnitudes: floor code by binary search over 0..0x7bff (monotonic) */
    uint16_t lo = 0, hi = 0x7bff;
    while (lo < hi) {
        const uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if ((double)from_f16(mid) <= a) lo = mid;
        else
            hi = (uint16_t)(mid - 1);
    }
    uint16_t c = lo;
    if (c < 0x7bff) {
        const double d0 = a - (double)from_f16(c), d1 = (double)from_f16((uint16_t)(c + 1)) - a;
        if (d1 < d0 || (d1 == d0 && (c & 1))) c = (uint16_t)(c + 1);
    }
    return sign | c;
}

double ot_round(aph_dtype dtype, double v) {
    switch (dtype) {
        case APH_DTYPE_F64: return v;
        case APH_DTYPE_F32: return (double)(float)v;
        case APH_DTYPE_F16: return (double)from_f16(to_f16((float)v));
        case APH_DTYPE_BF16: return (double)from_bf16(to_bf16((float)v));
        case APH_DTYPE_I32: return (double)(int32_t)v;
        case APH_DTYPE_I64: return (double)(int64_t)v;
        case APH_DTYPE_I8: return (double)(int8_t)v;
        case APH_DTYPE_U8: return (double)(uint8_t)v;
        default: return v;
    }
}

void ot_round_all(aph_dtype dtype, double* x, size_t n) {
    for (size_t i = 0; i < n; ++i) x[i] = ot_round(dtype, x[i]);
}

int64_t ot_numel(const int64_t* shape, size_t ndim) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; ++i) n *= shape[i];
    return n;
}

/* v as an integer of 64 bits, then wrapped to the narrower types: defined for every double
 * (NaN and out-of-range values, used as poison, included), where a direct cast would not be. */
static int64_t to_i64(double v) {
    if (v != v) return INT64_MIN;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

static void encode(aph_dtype dtype, const double* v, void* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        switch (dtype) {
            case APH_DTYPE_F64: ((double*)dst)[i] = v[i]; break;
            case APH_DTYPE_F32: ((float*)dst)[i] = (float)v[i]; break;
            case APH_DTYPE_F16: ((uint16_t*)dst)[i] = to_f16((float)v[i]); break;
            case APH_DTYPE_BF16: ((uint16_t*)dst)[i] = to_bf16((float)v[i]); break;
            case APH_DTYPE_I32: ((int32_t*)dst)[i] = (int32_t)to_i64(v[i]); break;
            case APH_DTYPE_I64: ((int64_t*)dst)[i] = to_i64(v[i]); break;
            case APH_DTYPE_I8: ((int8_t*)dst)[i] = (int8_t)to_i64(v[i]); break;
            case APH_DTYPE_U8:
            case APH_DTYPE_BOOL: ((uint8_t*)dst)[i] = (uint8_t)to_i64(v[i]); break;
            default: fail_msg("ot: dtype %d not supported", (int)dtype);
        }
    }
}

static void decode(aph_dtype dtype, const void* src, double* v, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        switch (dtype) {
            case APH_DTYPE_F64: v[i] = ((const double*)src)[i]; break;
            case APH_DTYPE_F32: v[i] = ((const float*)src)[i]; break;
            case APH_DTYPE_F16: v[i] = from_f16(((const uint16_t*)src)[i]); break;
            case APH_DTYPE_BF16: v[i] = from_bf16(((const uint16_t*)src)[i]); break;
            case APH_DTYPE_I32: v[i] = ((const int32_t*)src)[i]; break;
            case APH_DTYPE_I64: v[i] = (double)((const int64_t*)src)[i]; break;
            case APH_DTYPE_I8: v[i] = ((const int8_t*)src)[i]; break;
            case APH_DTYPE_U8:
            case APH_DTYPE_BOOL: v[i] = ((const uint8_t*)src)[i]; break;
            default: fail_msg("ot: dtype %d not supported", (int)dtype);
        }
    }
}

aph_tensor* ot_tensor(aph_dtype dtype, const int64_t* shape, size_t ndim, const double* values) {
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_create(g_device, dtype, shape, ndim, &t));
    if (values != NULL) {
        const int64_t n = ot_numel(shape, ndim);
        const size_t bytes = (size_t)n * aph_dtype_size(dtype);
        void* buf = malloc(bytes ? bytes : 1);
        assert_non_null(buf);
        encode(dtype, values, buf, n);
        APH_ASSERT_OK(aph_tensor_copy_from_host(t, buf, bytes));
        free(buf);
    }
    return t;
}

aph_tensor* ot_tensor_strided(aph_dtype dtype, const int64_t* shape, size_t ndim, const double* values) {
    if (ndim == 0) return ot_tensor(dtype, shape, ndim, values);
    int64_t big[APH_TENSOR_MAX_DIMS];
    memcpy(big, shape, ndim * sizeof *big);
    big[ndim - 1] *= 2;
    const int64_t n = ot_numel(shape, ndim), nb = ot_numel(big, ndim);
    double* full = malloc(sizeof(double) * (size_t)(nb ? nb : 1));
    assert_non_null(full);
    for (int64_t i = 0; i < nb; ++i) full[i] = 12345.0; /* the gaps: a value no test expects */
    const int64_t last = shape[ndim - 1];
    for (int64_t i = 0; i < n; ++i) {
        const int64_t row = last ? i / last : 0, col = last ? i % last : 0;
        full[row * 2 * last + 2 * col] = values ? values[i] : 0.0;
    }
    aph_tensor* storage = ot_tensor(dtype, big, ndim, full);
    free(full);
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_slice(storage, ndim - 1, 0, big[ndim - 1], 2, &view));
    aph_tensor_release(storage);
    return view;
}

aph_tensor* ot_poisoned(aph_dtype dtype, const int64_t* shape, size_t ndim) {
    aph_tensor* t = ot_tensor(dtype, shape, ndim, NULL);
    const size_t bytes = aph_tensor_nbytes(t);
    if (bytes) {
        void* buf = malloc(bytes);
        assert_non_null(buf);
        memset(buf, 0xFF, bytes);
        APH_ASSERT_OK(aph_tensor_copy_from_host(t, buf, bytes));
        free(buf);
    }
    return t;
}

double* ot_read(const aph_tensor* t) {
    const int64_t n = aph_tensor_numel(t);
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous((aph_tensor*)t, &c));
    const size_t bytes = aph_tensor_nbytes(c);
    void* buf = malloc(bytes ? bytes : 1);
    double* v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(buf);
    assert_non_null(v);
    APH_ASSERT_OK(aph_tensor_to_host(c, buf, bytes));
    decode(aph_tensor_dtype(c), buf, v, n);
    free(buf);
    aph_tensor_release(c);
    return v;
}

void ot_tolerance(aph_dtype dtype, double scale, double* atol, double* rtol) {
    double a, r;
    switch (dtype) {
        case APH_DTYPE_F64:
            a = 1e-12;
            r = 1e-10;
            break;
        case APH_DTYPE_F32:
            a = 1e-5;
            r = 1e-5;
            break;
        case APH_DTYPE_F16:
            a = 1e-3;
            r = 1e-2;
            break;
        case APH_DTYPE_BF16:
            a = 1e-2;
            r = 1.6e-2;
            break;
        default:
            a = 0;
            r = 0;
            break;
    }
    *atol = a * scale;
    *rtol = r * scale;
}

void ot_assert_close(const double* got, const double* want, size_t n, aph_dtype dtype, double scale, const char* what) {
    double atol, rtol;
    ot_tolerance(dtype, scale, &atol, &rtol);
    for (size_t i = 0; i < n; ++i) {
        const double g = got[i], w = want[i];
        int ok;
        if (isnan(w)) ok = isnan(g);
        else if (isinf(w))
            ok = g == w;
        else
            ok = !isnan(g) && fabs(g - w) <= atol + rtol * fabs(w);
        if (!ok) {
            fail_msg("%s: element %zu of %zu: got %.9g, want %.9g (dtype %s, atol %.3g, rtol %.3g, "
                     "APH_TEST_SEED=%llu)",
                     what, i, n, g, w, aph_dtype_name(dtype), atol, rtol, (unsigned long long)g_seed);
        }
    }
}
