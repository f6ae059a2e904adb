/* Quantization (aph_quantize / aph_dequantize: int8, fp8 e4m3/e5m2, NF4, ternary) and the ternary
 * matrix product, against float64 references written here from the rounded inputs.
 *
 * Codes are compared exactly. The library divides in f32, the references in f64, so a code whose
 * reference x / s lies within the f32 rounding of a decision boundary (a .5 for int8 and ternary,
 * a midpoint between two levels for fp8 and NF4) may go either way: such codes are skipped (the
 * windows are a few f32 ulps of the quotient, so almost nothing is skipped). */
#include "ops_test_util.h"

#include <float.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static double finite_abs(double v) { return isfinite(v) ? fabs(v) : 0.0; }

/* The largest relative rounding error of storing a value in dtype (half an ulp). */
static double dtype_eps(aph_dtype dt) {
    switch (dt) {
        case APH_DTYPE_F64: return ldexp(1.0, -53);
        case APH_DTYPE_F32: return ldexp(1.0, -24);
        case APH_DTYPE_F16: return ldexp(1.0, -11);
        case APH_DTYPE_BF16: return ldexp(1.0, -8);
        default: return 0.0;
    }
}

/* Half the smallest subnormal step of dtype (the absolute rounding error near 0). */
static double dtype_tiny(aph_dtype dt) {
    switch (dt) {
        case APH_DTYPE_F16: return ldexp(1.0, -25);
        case APH_DTYPE_BF16: return ldexp(1.0, -134);
        case APH_DTYPE_F32: return ldexp(1.0, -150);
        default: return 0.0;
    }
}

/* Random values in [lo, hi) rounded to dtype. */
static double* random_values(aph_dtype dt, int64_t n, double lo, double hi) {
    double* x = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(x);
    ot_fill(x, (size_t)n, lo, hi);
    ot_round_all(dt, x, (size_t)n);
    return x;
}

/* The bytes of a one-byte-element tensor (any strides), row-major. Caller frees. */
static uint8_t* read_bytes(const aph_tensor* t) {
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous((aph_tensor*)t, &c));
    const size_t nb = aph_tensor_nbytes(c);
    uint8_t* b = malloc(nb ? nb : 1);
    assert_non_null(b);
    if (nb) APH_ASSERT_OK(aph_tensor_to_host(c, b, nb));
    aph_tensor_release(c);
    return b;
}

static int all_bytes_ff(const aph_tensor* t) {
    uint8_t* b = read_bytes(t);
    const size_t nb = aph_tensor_nbytes(t);
    int ok = 1;
    for (size_t i = 0; i < nb; ++i) ok &= b[i] == 0xFF;
    free(b);
    return ok;
}

/* An input tensor: contiguous, or a strided view when strided is set. */
static aph_tensor* input(aph_dtype dt, const int64_t* shape, size_t ndim, const double* v, int strided) {
    return strided ? ot_tensor_strided(dt, shape, ndim, v) : ot_tensor(dt, shape, ndim, v);
}

/* An output tensor: poisoned and contiguous, or a strided view when strided is set. */
static aph_tensor* output(aph_dtype dt, const int64_t* shape, size_t ndim, int strided) {
    return strided ? ot_tensor_strided(dt, shape, ndim, NULL) : ot_poisoned(dt, shape, ndim);
}

/* ================================ int8 ================================ */

/* x viewed as [outer, channels, inner] for a channel axis (axis < 0: one channel). */
typedef struct {
    int64_t outer, channels, inner;
} groups;

static groups groups_of(const int64_t* shape, size_t ndim, int64_t axis) {
    groups g = {1, 1, 1};
    if (axis < 0) {
        g.inner = ot_numel(shape, ndim);
        return g;
    }
    for (size_t i = 0; i < ndim; ++i) {
        if ((int64_t)i < axis) g.outer *= shape[i];
        else if ((int64_t)i == axis)
            g.channels = shape[i];
        else
            g.inner *= shape[i];
    }
    return g;
}

/* One int8 case: quantize x (dtype dt, shape, axis), check the scales, the codes and the round
 * trip through aph_dequantize. */
static void check_int8(aph_dtype dt, const int64_t* shape, size_t ndim, int64_t axis, int strided_in, int strided_out) {
    const int64_t n = ot_numel(shape, ndim);
    const groups g = groups_of(shape, ndim, axis);
    double* x = random_values(dt, n, -2.0, 2.0);
    aph_tensor* tx = input(dt, shape, ndim, x, strided_in);
    const int64_t sshape[1] = {g.channels};
    aph_tensor* tq = output(APH_DTYPE_I8, shape, ndim, strided_out);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, sshape, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_INT8, tx, axis, tq, ts, NULL));
    double* q = ot_read(tq);
    double* s = ot_read(ts);

    /* Scales: fl32(absmax / 127) over each channel (f32 division of an f32 absmax, or the f64
     * quotient rounded to f32 for f64 inputs: the same number either way). */
    double* ref_s = calloc((size_t)g.channels, sizeof(double));
    assert_non_null(ref_s);
    for (int64_t c = 0; c < g.channels; ++c) {
        double m = 0.0;
        for (int64_t o = 0; o < g.outer; ++o)
            for (int64_t i = 0; i < g.inner; ++i) {
                const double a = finite_abs(x[(o * g.channels + c) * g.inner + i]);
                if (a > m) m = a;
            }
        ref_s[c] = (double)(float)(m / 127.0);
        if (s[c] != ref_s[c]) fail_msg("int8 scale %lld: got %.9g, want %.9g", (long long)c, s[c], ref_s[c]);
    }
    /* Codes: round half to even of x / s, clamped; skip quotients within 1e-5 of a .5 (the f32
     * quotient's error is at most 127 · 2^-24 ≈ 7.6e-6). */
    for (int64_t i = 0; i < n; ++i) {
        const double sc = ref_s[(i / g.inner) % g.channels];
        const double v = x[i] / sc;
        if (fabs(fabs(v - floor(v)) - 0.5) < 1e-5) continue;
        double want = nearbyint(v);
        want = want > 127 ? 127 : (want < -127 ? -127 : want);
        if (q[i] != want) {
            fail_msg("int8 code %lld: got %g, want %g (x %.9g, s %.9g, dtype %s, seed %llu)", (long long)i, q[i], want,
                     x[i], sc, aph_dtype_name(dt), (unsigned long long)ot_seed());
        }
    }
    /* The round trip: |x - deq| <= s / 2, plus the rounding of deq to dt, plus the error of the
     * f32 quotient x / s (relative 2^-24, so |x| · 2^-24 once multiplied back by s), which can
     * carry a quotient just below .5 to the other side before it is rounded. */
    aph_tensor* tout = output(dt, shape, ndim, strided_out);
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_INT8, tq, ts, axis, tout, NULL));
    double* deq = ot_read(tout);
    double* want = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(want);
    for (int64_t i = 0; i < n; ++i) {
        const double sc = ref_s[(i / g.inner) % g.channels];
        want[i] = q[i] * sc;
        const double bound = sc / 2 * (1 + 1e-6) + (fabs(x[i]) + sc) * dtype_eps(dt) + fabs(x[i]) * 0x1p-24 +
                             dtype_tiny(dt);
        if (fabs(x[i] - deq[i]) > bound) {
            fail_msg("int8 round trip %lld: x %.9g, deq %.9g, s %.9g (dtype %s)", (long long)i, x[i], deq[i], sc,
                     aph_dtype_name(dt));
        }
    }
    ot_assert_close(deq, want, (size_t)n, dt, 1.0, "int8 dequantize");
    free(want);
    free(deq);
    free(ref_s);
    free(q);
    free(s);
    free(x);
    aph_tensor_release(tout);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

static void test_int8_per_tensor(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s1[] = {1}, s2[] = {3}, s3[] = {17, 33}, s4[] = {2, 3, 127};
    for (size_t d = 0; d < nd; ++d) {
        check_int8(dts[d], s1, 1, -1, 0, 0);
        check_int8(dts[d], s2, 1, -1, 1, 0);
        check_int8(dts[d], s3, 2, -1, 0, 1);
        check_int8(dts[d], s4, 3, -5, 1, 0); /* any negative axis is per tensor */
    }
}

static void test_int8_per_channel(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s1[] = {17, 33}, s2[] = {3, 5, 7}, s3[] = {4, 40}, s4[] = {1};
    for (size_t d = 0; d < nd; ++d) {
        check_int8(dts[d], s1, 2, 0, 0, 0); /* first axis, rows of 33 */
        check_int8(dts[d], s1, 2, 1, 1, 0); /* last axis */
        check_int8(dts[d], s2, 3, 1, 0, 1); /* a middle axis, inner 7 */
        check_int8(dts[d], s2, 3, 2, 1, 0);
        check_int8(dts[d], s2, 3, 0, 0, 0);
        check_int8(dts[d], s3, 2, 0, 1, 0);
        check_int8(dts[d], s4, 1, 0, 0, 0);
    }
}

/* A channel of zeros has scale 0 and codes 0 and dequantizes to 0; NaN and ±inf do not count
 * toward a scale, NaN encodes as 0 and ±inf saturate to ±127. Channels along axis 1 of [3, 4]. */
static void test_int8_special_values(void** state) {
    (void)state;
    const int64_t shape[] = {3, 4}, cs[] = {4};
    const double x[] = {0.0, 2.5, -0.0, NAN, 0.0, -1.0, 0.0, INFINITY, 0.0, 0.5, -0.0, -2.0};
    aph_tensor* tx = ot_tensor(APH_DTYPE_F32, shape, 2, x);
    aph_tensor* tq = ot_poisoned(APH_DTYPE_I8, shape, 2);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, cs, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_INT8, tx, 1, tq, ts, NULL));
    double* q = ot_read(tq);
    double* s = ot_read(ts);
    const double s1 = (double)(float)(2.5 / 127.0), s3 = (double)(float)(2.0 / 127.0);
    assert_true(s[0] == 0.0 && s[1] == s1 && s[2] == 0.0 && s[3] == s3);
    const double want_q[] = {0, 127, 0, 0, 0, nearbyint(-1.0 / s1), 0, 127, 0, nearbyint(0.5 / s1), 0, -127};
    for (int i = 0; i < 12; ++i) {
        if (q[i] != want_q[i]) fail_msg("int8 special code %d: got %g, want %g", i, q[i], want_q[i]);
    }
    aph_tensor* tout = ot_poisoned(APH_DTYPE_F32, shape, 2);
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_INT8, tq, ts, 1, tout, NULL));
    double* deq = ot_read(tout);
    for (int i = 0; i < 12; ++i) {
        const double w = (double)(float)(want_q[i] * s[i % 4]);
        if (deq[i] != w) fail_msg("int8 special dequantize %d: got %.9g, want %.9g", i, deq[i], w);
    }
    free(deq);
    free(q);
    free(s);
    aph_tensor_release(tout);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

/* ================================ fp8 ================================ */

/* The value of an fp8 code (e4m3 "FN": NaN at 0x7f/0xff, no infinities; e5m2 IEEE-like). */
static double fp8_value(uint8_t c, int e4m3) {
    const int sign = c >> 7;
    double v;
    if (e4m3) {
        const int e = (c >> 3) & 15, m = c & 7;
        if (e == 15 && m == 7) return NAN;
        v = e == 0 ? ldexp(m, -9) : ldexp(8 + m, e - 10);
    } else {
        const int e = (c >> 2) & 31, m = c & 3;
        if (e == 31) return m ? NAN : (sign ? -INFINITY : INFINITY);
        v = e == 0 ? ldexp(m, -16) : ldexp(4 + m, e - 17);
    }
    return sign ? -v : v;
}

/* The nearest fp8 code to v by search over the finite codes (ties to the even code, above the
 * largest: saturate). *tie is set when two candidates are within a relative 1e-6 of a tie. */
static uint8_t fp8_nearest(double v, int e4m3, int* tie) {
    *tie = 0;
    if (isnan(v)) return 0x7f;
    const uint8_t top = e4m3 ? 0x7e : 0x7b;
    const uint8_t sign = signbit(v) ? 0x80 : 0;
    const double a = fabs(v);
    if (a >= fp8_value(top, e4m3)) return sign | top;
    uint8_t lo = 0;
    while (lo < top && fp8_value((uint8_t)(lo + 1), e4m3) <= a) ++lo;
    const double d0 = a - fp8_value(lo, e4m3), d1 = fp8_value((uint8_t)(lo + 1), e4m3) - a;
    if (fabs(d0 - d1) <= 1e-6 * a) *tie = 1;
    const uint8_t c = (d1 < d0 || (d1 == d0 && (lo & 1))) ? (uint8_t)(lo + 1) : lo;
    return sign | c;
}

/* Known values through the per-tensor scale 1 (the finite absmax is the format's largest
 * value): rounding to nearest even, ties, subnormals, signed zero, NaN, saturation of ±inf. */
static void check_fp8_known(aph_dtype dt, int e4m3) {
    const double e4[] = {
        0.0,          -0.0,   448.0,  -448.0, 1.0, -1.0,     ldexp(1, -9), ldexp(1, -10), 3 * ldexp(1, -10),
        ldexp(1, -6), 1.0625, 1.1875, 240.0,  NAN, INFINITY, -INFINITY};
    const uint8_t e4c[] = {0x00, 0x80, 0x7e, 0xfe, 0x38, 0xb8, 0x01, 0x00,
                           0x02, 0x08, 0x38, 0x3a, 0x77, 0x7f, 0x7e, 0xfe};
    const double e5[] = {0.0,           -0.0,          57344.0,           -57344.0,      1.0,   -1.0,
                         ldexp(1, -16), ldexp(1, -17), 3 * ldexp(1, -17), ldexp(1, -14), 1.125, 1.375,
                         1.5,           NAN,           INFINITY,          -INFINITY};
    const uint8_t e5c[] = {0x00, 0x80, 0x7b, 0xfb, 0x3c, 0xbc, 0x01, 0x00,
                           0x02, 0x04, 0x3c, 0x3e, 0x3e, 0x7f, 0x7b, 0xfb};
    const double* x = e4m3 ? e4 : e5;
    const uint8_t* want = e4m3 ? e4c : e5c;
    const int64_t shape[] = {16}, one[] = {1};
    const aph_dtype qdt = e4m3 ? APH_DTYPE_F8E4M3 : APH_DTYPE_F8E5M2;
    const aph_quant_scheme sch = e4m3 ? APH_QUANT_FP8_E4M3 : APH_QUANT_FP8_E5M2;
    aph_tensor* tx = ot_tensor(dt, shape, 1, x);
    aph_tensor* tq = ot_poisoned(qdt, shape, 1);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, one, 1);
    APH_ASSERT_OK(aph_quantize(sch, tx, -1, tq, ts, NULL));
    uint8_t* q = read_bytes(tq);
    double* s = ot_read(ts);
    assert_true(s[0] == 1.0);
    for (int i = 0; i < 16; ++i) {
        if (q[i] != want[i]) {
            fail_msg("%s code %d (x %g, dtype %s): got 0x%02x, want 0x%02x", e4m3 ? "e4m3" : "e5m2", i, x[i],
                     aph_dtype_name(dt), q[i], want[i]);
        }
    }
    /* Dequantize: the codes' values (NaN stays NaN, -0 stays -0). */
    aph_tensor* tout = ot_poisoned(dt, shape, 1);
    APH_ASSERT_OK(aph_dequantize(sch, tq, ts, -1, tout, NULL));
    double* deq = ot_read(tout);
    for (int i = 0; i < 16; ++i) {
        const double w = fp8_value(want[i], e4m3);
        assert_true(isnan(w) ? isnan(deq[i]) : (deq[i] == w && signbit(deq[i]) == signbit(w)));
    }
    free(deq);
    free(q);
    free(s);
    aph_tensor_release(tout);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

static void test_fp8_known_values(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t d = 0; d < nd; ++d) {
        check_fp8_known(dts[d], 1);
        check_fp8_known(dts[d], 0);
    }
}

/* Random magnitudes over six decades (so subnormal codes occur), codes against the nearest-code
 * search, the scale exactly, the absmax element saturating to the largest code, and the round
 * trip within half a step. */
static void check_fp8_random(aph_dtype dt, int e4m3, const int64_t* shape, size_t ndim, int strided) {
    const int64_t n = ot_numel(shape, ndim), one[] = {1};
    double* x = malloc(sizeof(double) * (size_t)n);
    assert_non_null(x);
    for (int64_t i = 0; i < n; ++i) x[i] = ot_uniform(-1.0, 1.0) * pow(10.0, ot_uniform(-5.0, 0.5));
    ot_round_all(dt, x, (size_t)n);
    const aph_dtype qdt = e4m3 ? APH_DTYPE_F8E4M3 : APH_DTYPE_F8E5M2;
    const aph_quant_scheme sch = e4m3 ? APH_QUANT_FP8_E4M3 : APH_QUANT_FP8_E5M2;
    const double top = e4m3 ? 448.0 : 57344.0;
    aph_tensor* tx = input(dt, shape, ndim, x, strided);
    aph_tensor* tq = ot_poisoned(qdt, shape, ndim);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, one, 1);
    APH_ASSERT_OK(aph_quantize(sch, tx, -1, tq, ts, NULL));
    uint8_t* q = read_bytes(tq);
    double* s = ot_read(ts);
    double am = 0.0;
    for (int64_t i = 0; i < n; ++i) am = finite_abs(x[i]) > am ? finite_abs(x[i]) : am;
    const double sc = (double)(float)(am / top);
    assert_true(s[0] == sc);
    for (int64_t i = 0; i < n; ++i) {
        const double v = x[i] / sc;
        int tie;
        const uint8_t w = fp8_nearest(v, e4m3, &tie);
        if (fabs(x[i]) == am) assert_int_equal(q[i] & 0x7f, e4m3 ? 0x7e : 0x7b);
        if (tie) continue;
        if (q[i] != w) {
            fail_msg("%s code %lld: got 0x%02x, want 0x%02x (x %.9g, s %.9g, dtype %s, seed %llu)",
                     e4m3 ? "e4m3" : "e5m2", (long long)i, q[i], w, x[i], sc, aph_dtype_name(dt),
                     (unsigned long long)ot_seed());
        }
    }
    aph_tensor* tout = ot_poisoned(dt, shape, ndim);
    APH_ASSERT_OK(aph_dequantize(sch, tq, ts, -1, tout, NULL));
    double* deq = ot_read(tout);
    /* Half a step: 2^-4 (e4m3) / 2^-3 (e5m2) of |v| for normal codes, half the subnormal step
     * 2^-10 / 2^-17 below; times s; plus the rounding of deq to dt. */
    for (int64_t i = 0; i < n; ++i) {
        const double v = fabs(x[i]) / sc;
        const double half = e4m3 ? fmax(v * 0x1p-4, 0x1p-10) : fmax(v * 0x1p-3, 0x1p-17);
        const double bound = half * sc * (1 + 1e-6) + fabs(x[i]) * 2 * dtype_eps(dt) + dtype_tiny(dt);
        if (fabs(x[i] - deq[i]) > bound) {
            fail_msg("%s round trip %lld: x %.9g, deq %.9g, s %.9g (dtype %s)", e4m3 ? "e4m3" : "e5m2", (long long)i,
                     x[i], deq[i], sc, aph_dtype_name(dt));
        }
    }
    free(deq);
    free(q);
    free(s);
    free(x);
    aph_tensor_release(tout);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

static void test_fp8_random(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s1[] = {5}, s2[] = {17, 33}, s3[] = {3, 1, 127};
    for (size_t d = 0; d < nd; ++d) {
        for (int e4m3 = 0; e4m3 < 2; ++e4m3) {
            check_fp8_random(dts[d], e4m3, s1, 1, 0);
            check_fp8_random(dts[d], e4m3, s2, 2, 1);
            check_fp8_random(dts[d], e4m3, s3, 3, 0);
        }
    }
}

/* ================================ NF4 ================================ */

static const double NF4[16] = {-1.0,
                               -0.6961928009986877,
                               -0.5250730514526367,
                               -0.39491748809814453,
                               -0.28444138169288635,
                               -0.18477343022823334,
                               -0.09105003625154495,
                               0.0,
                               0.07958029955625534,
                               0.16093020141124725,
                               0.24611230194568634,
                               0.33791524171829224,
                               0.44070982933044434,
                               0.5626170039176941,
                               0.7229568362236023,
                               1.0};

static double nf4_level(int c) { return (double)(float)NF4[c]; }

/* The nearest level's index; *tie when v is within 1e-6 of a midpoint. */
static int nf4_nearest(double v, int* tie) {
    int best = 0;
    *tie = 0;
    for (int c = 1; c < 16; ++c) {
        if (fabs(v - nf4_level(c)) < fabs(v - nf4_level(best))) best = c;
    }
    for (int c = 0; c < 15; ++c) {
        if (fabs(v - (nf4_level(c) + nf4_level(c + 1)) / 2) < 1e-6) *tie = 1;
    }
    return best;
}

/* Code of element i of packed q: the high nibble holds the even elements. */
static int nibble(const double* q, int64_t i) { return ((int)q[i / 2] >> ((i % 2) ? 0 : 4)) & 15; }

static void check_nf4(aph_dtype dt, const int64_t* shape, size_t ndim, int strided) {
    const int64_t n = ot_numel(shape, ndim), nb = ceil_div(n, 64);
    const int64_t qshape[] = {ceil_div(n, 2)}, sshape[] = {nb};
    double* x = random_values(dt, n, -2.0, 2.0);
    aph_tensor* tx = input(dt, shape, ndim, x, strided);
    aph_tensor* tq = ot_poisoned(APH_DTYPE_U8, qshape, 1);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, sshape, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_NF4, tx, -1, tq, ts, NULL));
    double* q = ot_read(tq);
    double* s = ot_read(ts);
    for (int64_t b = 0; b < nb; ++b) {
        double m = 0.0;
        for (int64_t i = b * 64; i < n && i < (b + 1) * 64; ++i) m = finite_abs(x[i]) > m ? finite_abs(x[i]) : m;
        if (s[b] != (double)(float)m) fail_msg("nf4 scale %lld: got %.9g, want %.9g", (long long)b, s[b], m);
    }
    for (int64_t i = 0; i < n; ++i) {
        int tie;
        const int want = nf4_nearest(x[i] / s[i / 64], &tie);
        if (!tie && nibble(q, i) != want) {
            fail_msg("nf4 code %lld: got %d, want %d (x %.9g, absmax %.9g, dtype %s, seed %llu)", (long long)i,
                     nibble(q, i), want, x[i], s[i / 64], aph_dtype_name(dt), (unsigned long long)ot_seed());
        }
    }
    if (n % 2) assert_int_equal((int)q[n / 2] & 15, 0); /* the odd tail's low nibble */
    aph_tensor* tout = output(dt, shape, ndim, !strided);
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_NF4, tq, ts, -1, tout, NULL));
    double* deq = ot_read(tout);
    double* want = malloc(sizeof(double) * (size_t)n);
    assert_non_null(want);
    /* Half the widest gap between neighbouring levels (-1 to -0.696...) bounds the error. */
    double half_gap = 0.0;
    for (int c = 0; c < 15; ++c) half_gap = fmax(half_gap, (NF4[c + 1] - NF4[c]) / 2);
    for (int64_t i = 0; i < n; ++i) {
        want[i] = nf4_level(nibble(q, i)) * s[i / 64];
        const double bound = half_gap * s[i / 64] * (1 + 1e-6) + 2 * s[i / 64] * dtype_eps(dt) + dtype_tiny(dt);
        if (fabs(x[i] - deq[i]) > bound) {
            fail_msg("nf4 round trip %lld: x %.9g, deq %.9g (dtype %s)", (long long)i, x[i], deq[i],
                     aph_dtype_name(dt));
        }
    }
    ot_assert_close(deq, want, (size_t)n, dt, 1.0, "nf4 dequantize");
    free(want);
    free(deq);
    free(q);
    free(s);
    free(x);
    aph_tensor_release(tout);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

static void test_nf4(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s1[] = {1}, s2[] = {3}, s3[] = {63}, s4[] = {64}, s5[] = {65}, s6[] = {2, 64}, s7[] = {3, 5, 17},
                  s8[] = {200};
    for (size_t d = 0; d < nd; ++d) {
        check_nf4(dts[d], s1, 1, 0);
        check_nf4(dts[d], s2, 1, 1);
        check_nf4(dts[d], s3, 1, 0);
        check_nf4(dts[d], s4, 1, 1);
        check_nf4(dts[d], s5, 1, 0);
        check_nf4(dts[d], s6, 2, 1);
        check_nf4(dts[d], s7, 3, 0);
        check_nf4(dts[d], s8, 1, 1);
    }
}

/* The packing itself: levels ±1, 0, the nearest level of 0.5 and -0.3, first element high. */
static void test_nf4_packing(void** state) {
    (void)state;
    const int64_t shape[] = {5}, qs[] = {3}, ss[] = {1};
    const double x[] = {1.0, -1.0, 0.0, 0.5, -0.3};
    aph_tensor* tx = ot_tensor(APH_DTYPE_F32, shape, 1, x);
    aph_tensor* tq = ot_poisoned(APH_DTYPE_U8, qs, 1);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, ss, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_NF4, tx, -1, tq, ts, NULL));
    uint8_t* q = read_bytes(tq);
    double* s = ot_read(ts);
    assert_true(s[0] == 1.0);
    assert_int_equal(q[0], 0xF0); /* 1.0 -> 15, -1.0 -> 0 */
    assert_int_equal(q[1], 0x7C); /* 0 -> 7, 0.5 -> 12 (0.4407...) */
    assert_int_equal(q[2], 0x40); /* -0.3 -> 4 (-0.2844...), padding nibble 0 */
    free(q);
    free(s);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

/* ================================ ternary ================================ */

static int ternary_value(int code) { return code == 1 ? 1 : (code == 2 ? -1 : 0); }
static int packed_code(const double* q, int64_t row, int64_t KB, int64_t k) {
    return ((int)q[row * KB + k / 4] >> (2 * (k % 4))) & 3;
}

static void check_ternary(aph_dtype dt, const int64_t* shape, size_t ndim, int strided) {
    const int64_t n = ot_numel(shape, ndim), K = shape[ndim - 1], KB = ceil_div(K, 4), rows = n / K;
    int64_t qshape[8];
    memcpy(qshape, shape, ndim * sizeof *qshape);
    qshape[ndim - 1] = KB;
    const int64_t one[] = {1};
    double* x = random_values(dt, n, -1.0, 1.0);
    aph_tensor* tx = input(dt, shape, ndim, x, strided);
    aph_tensor* tq = ot_poisoned(APH_DTYPE_U8, qshape, ndim);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, one, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_TERNARY, tx, -1, tq, ts, NULL));
    double* q = ot_read(tq);
    double* s = ot_read(ts);
    double mean = 0.0;
    for (int64_t i = 0; i < n; ++i) mean += fabs(x[i]);
    mean /= (double)n;
    /* The CPU sums in f64; CUDA sums in f32 per block and across blocks in any order: allow a
     * few ulps of f32 for the few hundred elements here. */
    if (fabs(s[0] - mean) > 1e-5 * mean) fail_msg("ternary scale: got %.9g, want %.9g", s[0], mean);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t k = 0; k < K; ++k) {
            /* Codes from the library's scale; skip |v| within 1e-5 of 0.5. */
            const double v = x[r * K + k] / (s[0] + 1e-8);
            const int want = v > 0.5 ? 1 : (v < -0.5 ? 2 : 0);
            if (fabs(fabs(v) - 0.5) < 1e-5) continue;
            if (packed_code(q, r, KB, k) != want) {
                fail_msg("ternary code (%lld, %lld): got %d, want %d (x %.9g, s %.9g, dtype %s, seed %llu)",
                         (long long)r, (long long)k, packed_code(q, r, KB, k), want, x[r * K + k], s[0],
                         aph_dtype_name(dt), (unsigned long long)ot_seed());
            }
        }
        for (int64_t k = K; k < 4 * KB; ++k) assert_int_equal(packed_code(q, r, KB, k), 0); /* padding */
    }
    aph_tensor* tout = output(dt, shape, ndim, !strided);
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_TERNARY, tq, ts, -1, tout, NULL));
    double* deq = ot_read(tout);
    double* want = malloc(sizeof(double) * (size_t)n);
    assert_non_null(want);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < K; ++k) want[r * K + k] = ot_round(dt, ternary_value(packed_code(q, r, KB, k)) * s[0]);
    ot_assert_close(deq, want, (size_t)n, dt, 1.0, "ternary dequantize");
    free(want);
    free(deq);
    free(q);
    free(s);
    free(x);
    aph_tensor_release(tout);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

static void test_ternary_quantize(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s1[] = {3, 1}, s2[] = {2, 5}, s3[] = {63}, s4[] = {2, 3, 64}, s5[] = {4, 127};
    for (size_t d = 0; d < nd; ++d) {
        check_ternary(dts[d], s1, 2, 0);
        check_ternary(dts[d], s2, 2, 1);
        check_ternary(dts[d], s3, 1, 0);
        check_ternary(dts[d], s4, 3, 1);
        check_ternary(dts[d], s5, 2, 0);
    }
}

/* Known codes and bytes: mean |w| = 1.6, so w / s = ±1.875 -> ±1, ±0.125 -> 0, 1 -> +1. */
static void test_ternary_packing(void** state) {
    (void)state;
    const int64_t shape[] = {2, 5}, qs[] = {2, 2}, one[] = {1};
    const double w[] = {3.0, -3.0, 0.2, -0.2, 1.6, -3.0, 3.0, 0.2, -0.2, -1.6};
    aph_tensor* tx = ot_tensor(APH_DTYPE_F32, shape, 2, w);
    aph_tensor* tq = ot_poisoned(APH_DTYPE_U8, qs, 2);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, one, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_TERNARY, tx, -1, tq, ts, NULL));
    uint8_t* q = read_bytes(tq);
    double* s = ot_read(ts);
    assert_true(fabs(s[0] - 1.6) < 1e-6);
    assert_int_equal(q[0], 0x09); /* +1, -1, 0, 0 */
    assert_int_equal(q[1], 0x01); /* +1, then padding */
    assert_int_equal(q[2], 0x06); /* -1, +1, 0, 0 */
    assert_int_equal(q[3], 0x02); /* -1 */
    free(q);
    free(s);
    aph_tensor_release(tx);
    aph_tensor_release(tq);
    aph_tensor_release(ts);
}

/* ================================ ternary matmul ================================ */

/* Packs codes [N, K] (0, 1, 2) as APH_QUANT_TERNARY does: [N, ceil(K / 4)]. */
static double* pack_codes(const int* codes, int64_t N, int64_t K) {
    const int64_t KB = ceil_div(K, 4);
    const int64_t bytes = N * KB;
    double* p = calloc((size_t)(bytes > 0 ? bytes : 1), sizeof(double));
    assert_non_null(p);
    for (int64_t r = 0; r < N; ++r)
        for (int64_t k = 0; k < K; ++k) p[r * KB + k / 4] += (double)(codes[r * K + k] << (2 * (k % 4)));
    return p;
}

/* out [lead..., N] vs Σ_k x[m, k] · value(code[n, k]) · s in f64. */
static void check_tmm(aph_dtype dt, const int64_t* xshape, size_t ndim, int64_t N, int strided_x, int strided_out) {
    const int64_t K = xshape[ndim - 1], KB = ceil_div(K, 4), n = ot_numel(xshape, ndim), M = n / K;
    double* x = random_values(dt, n, -1.0, 1.0);
    const int64_t weights = N * K;
    int* codes = malloc(sizeof(int) * (size_t)(weights > 0 ? weights : 1));
    assert_non_null(codes);
    for (int64_t i = 0; i < N * K; ++i) codes[i] = (int)ot_int(0, 2);
    double* packed = pack_codes(codes, N, K);
    const double sv = (double)(float)ot_uniform(0.05, 2.0);
    const int64_t pshape[] = {N, KB}, one[] = {1};
    int64_t oshape[8];
    memcpy(oshape, xshape, ndim * sizeof *oshape);
    oshape[ndim - 1] = N;
    aph_tensor* tx = input(dt, xshape, ndim, x, strided_x);
    aph_tensor* tp = ot_tensor(APH_DTYPE_U8, pshape, 2, packed);
    aph_tensor* ts = ot_tensor(APH_DTYPE_F32, one, 1, &sv);
    aph_tensor* tout = output(dt, oshape, ndim, strided_out);
    APH_ASSERT_OK(aph_op_ternary_matmul(tx, tp, ts, tout, NULL));
    double* got = ot_read(tout);
    double* want = malloc(sizeof(double) * (size_t)(M * N));
    assert_non_null(want);
    for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < N; ++j) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; ++k) acc += x[m * K + k] * ternary_value(codes[j * K + k]);
            want[m * N + j] = acc * sv;
        }
    /* f32 sums of K terms: the tolerance grows with K. */
    ot_assert_close(got, want, (size_t)(M * N), dt, 1.0 + (double)K / 64.0, "ternary_matmul");
    free(want);
    free(got);
    free(packed);
    free(codes);
    free(x);
    aph_tensor_release(tx);
    aph_tensor_release(tp);
    aph_tensor_release(ts);
    aph_tensor_release(tout);
}

static void test_ternary_matmul(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t x1[] = {1, 1}, x2[] = {5, 5}, x3[] = {2, 3, 63}, x4[] = {4, 64}, x5[] = {9, 127}, x6[] = {3, 600},
                  x7[] = {17};
    for (size_t d = 0; d < nd; ++d) {
        check_tmm(dts[d], x1, 2, 3, 0, 0);
        check_tmm(dts[d], x2, 2, 7, 1, 0);
        check_tmm(dts[d], x3, 3, 17, 0, 1);
        check_tmm(dts[d], x4, 2, 33, 1, 0);
        check_tmm(dts[d], x5, 2, 5, 0, 0);
        check_tmm(dts[d], x6, 2, 4, 0, 1); /* more than one 512-weight chunk of K on CUDA */
        check_tmm(dts[d], x7, 1, 2, 1, 0); /* x [K]: out [N] */
    }
}

/* Quantize float weights with aph_quantize, multiply with the packed result, compare with the
 * f64 product of x and the dequantized weights (codes decoded here, times the stored scale). */
static void test_ternary_matmul_end_to_end(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t M = 3, N = 11, K = 45, KB = ceil_div(K, 4);
    for (size_t d = 0; d < nd; ++d) {
        const aph_dtype dt = dts[d];
        const int64_t wshape[] = {N, K}, pshape[] = {N, KB}, xshape[] = {M, K}, oshape[] = {M, N}, one[] = {1};
        double* w = random_values(dt, N * K, -1.0, 1.0);
        double* x = random_values(dt, M * K, -1.0, 1.0);
        aph_tensor* tw = ot_tensor(dt, wshape, 2, w);
        aph_tensor* tp = ot_poisoned(APH_DTYPE_U8, pshape, 2);
        aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, one, 1);
        APH_ASSERT_OK(aph_quantize(APH_QUANT_TERNARY, tw, -1, tp, ts, NULL));
        aph_tensor* tx = ot_tensor(dt, xshape, 2, x);
        aph_tensor* tout = ot_poisoned(dt, oshape, 2);
        APH_ASSERT_OK(aph_op_ternary_matmul(tx, tp, ts, tout, NULL));
        double* p = ot_read(tp);
        double* s = ot_read(ts);
        double* got = ot_read(tout);
        double want[3 * 11];
        for (int64_t m = 0; m < M; ++m)
            for (int64_t j = 0; j < N; ++j) {
                double acc = 0.0;
                for (int64_t k = 0; k < K; ++k) acc += x[m * K + k] * ternary_value(packed_code(p, j, KB, k)) * s[0];
                want[m * N + j] = acc;
            }
        ot_assert_close(got, want, (size_t)(M * N), dt, 2.0, "ternary_matmul end to end");
        free(got);
        free(s);
        free(p);
        free(x);
        free(w);
        aph_tensor_release(tw);
        aph_tensor_release(tp);
        aph_tensor_release(ts);
        aph_tensor_release(tx);
        aph_tensor_release(tout);
    }
}

/* A zero weight skips its x: a NaN there does not reach the output. */
static void test_ternary_matmul_skips_zero_weights(void** state) {
    (void)state;
    const int64_t xs[] = {1, 5}, ps[] = {2, 2}, one[] = {1}, os[] = {1, 2};
    const double x[] = {NAN, 1.0, 2.0, 3.0, 4.0};
    /* row 0: codes 0, +1, -1, +1 | +1 -> 1 - 2 + 3 + 4 = 6; row 1: 0, 0, 0, 0 | -1 -> -4 */
    const double packed[] = {(double)(1 << 2 | 2 << 4 | 1 << 6), 1.0, 0.0, 2.0};
    const double sv = 0.5;
    aph_tensor* tx = ot_tensor(APH_DTYPE_F32, xs, 2, x);
    aph_tensor* tp = ot_tensor(APH_DTYPE_U8, ps, 2, packed);
    aph_tensor* ts = ot_tensor(APH_DTYPE_F32, one, 1, &sv);
    aph_tensor* tout = ot_poisoned(APH_DTYPE_F32, os, 2);
    APH_ASSERT_OK(aph_op_ternary_matmul(tx, tp, ts, tout, NULL));
    double* got = ot_read(tout);
    assert_true(got[0] == 3.0);
    assert_true(got[1] == -2.0);
    free(got);
    aph_tensor_release(tx);
    aph_tensor_release(tp);
    aph_tensor_release(ts);
    aph_tensor_release(tout);
}

/* Broadcast inputs (stride 0): x [1, 7] expanded to [3, 7]. Every row is the same, so the
 * per-channel int8 scales along axis 0 agree, and so do the rows of the ternary product. */
static void test_broadcast_inputs(void** state) {
    (void)state;
    const int64_t row[] = {1, 7}, full[] = {3, 7}, three[] = {3}, ps[] = {2, 2}, one[] = {1}, os[] = {3, 2};
    double xv[7];
    ot_fill(xv, 7, -1.0, 1.0);
    aph_tensor* x1 = ot_tensor(APH_DTYPE_F32, row, 2, xv);
    aph_tensor* xb = NULL;
    APH_ASSERT_OK(aph_tensor_expand(x1, full, 2, &xb));
    aph_tensor* q = ot_poisoned(APH_DTYPE_I8, full, 2);
    aph_tensor* s = ot_poisoned(APH_DTYPE_F32, three, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_INT8, xb, 0, q, s, NULL));
    double* qv = ot_read(q);
    double* sv = ot_read(s);
    for (int r = 1; r < 3; ++r) {
        assert_true(sv[r] == sv[0]);
        for (int k = 0; k < 7; ++k) assert_true(qv[r * 7 + k] == qv[k]);
    }
    const double packed[] = {(double)(1 | 2 << 2 | 1 << 6), 2.0, 0.0, (double)(1 << 4)};
    const double scale = 0.25;
    aph_tensor* tp = ot_tensor(APH_DTYPE_U8, ps, 2, packed);
    aph_tensor* ts = ot_tensor(APH_DTYPE_F32, one, 1, &scale);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, os, 2);
    APH_ASSERT_OK(aph_op_ternary_matmul(xb, tp, ts, out, NULL));
    double* ov = ot_read(out);
    const double x[7] = {(float)xv[0], (float)xv[1], (float)xv[2], (float)xv[3],
                         (float)xv[4], (float)xv[5], (float)xv[6]};
    const double want0 = (x[0] - x[1] + x[3] - x[4]) * scale, want1 = x[6] * scale;
    for (int r = 0; r < 3; ++r) {
        assert_true(fabs(ov[r * 2] - want0) <= 1e-6);
        assert_true(fabs(ov[r * 2 + 1] - want1) <= 1e-6);
    }
    free(ov);
    free(qv);
    free(sv);
    aph_tensor_release(out);
    aph_tensor_release(ts);
    aph_tensor_release(tp);
    aph_tensor_release(q);
    aph_tensor_release(s);
    aph_tensor_release(xb);
    aph_tensor_release(x1);
}

/* Sizes past the CPU kernels' threshold for threads (so the parallel paths and their
 * per-chunk partial results run, under TSan too) and past one CUDA block. */
static void test_large(void** state) {
    (void)state;
    const int64_t shape[] = {256, 512}, x[] = {8, 600};
    check_int8(APH_DTYPE_F32, shape, 2, -1, 0, 0);
    check_int8(APH_DTYPE_BF16, shape, 2, 0, 1, 0);
    check_nf4(APH_DTYPE_F32, shape, 2, 0);
    check_ternary(APH_DTYPE_F16, shape, 2, 0);
    check_tmm(APH_DTYPE_F32, x, 2, 64, 0, 0);
}

/* ================================ edges ================================ */

static void test_zero_size(void** state) {
    (void)state;
    const int64_t x05[] = {0, 5}, x30[] = {3, 0}, one[] = {1}, five[] = {5}, zero[] = {0}, q02[] = {0, 2};
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, x05, 2, NULL);
    aph_tensor* x2 = ot_tensor(APH_DTYPE_F32, x30, 2, NULL);

    /* INT8 per tensor and per channel: the scales of nothing are 0. */
    aph_tensor* q = ot_tensor(APH_DTYPE_I8, x05, 2, NULL);
    aph_tensor* s = ot_poisoned(APH_DTYPE_F32, one, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_INT8, x, -1, q, s, NULL));
    double* v = ot_read(s);
    assert_true(v[0] == 0.0);
    free(v);
    aph_tensor* s5 = ot_poisoned(APH_DTYPE_F32, five, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_INT8, x, 1, q, s5, NULL));
    v = ot_read(s5);
    for (int i = 0; i < 5; ++i) assert_true(v[i] == 0.0);
    free(v);
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_INT8, q, s5, 1, x, NULL));
    aph_tensor_release(q);

    /* fp8 */
    aph_tensor* q8 = ot_tensor(APH_DTYPE_F8E5M2, x05, 2, NULL);
    aph_tensor_release(s);
    s = ot_poisoned(APH_DTYPE_F32, one, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_FP8_E5M2, x, -1, q8, s, NULL));
    v = ot_read(s);
    assert_true(v[0] == 0.0);
    free(v);
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_FP8_E5M2, q8, s, -1, x, NULL));
    aph_tensor_release(q8);

    /* NF4: empty codes, empty scales. */
    aph_tensor* qn = ot_tensor(APH_DTYPE_U8, zero, 1, NULL);
    aph_tensor* sn = ot_tensor(APH_DTYPE_F32, zero, 1, NULL);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_NF4, x, -1, qn, sn, NULL));
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_NF4, qn, sn, -1, x, NULL));
    aph_tensor_release(qn);
    aph_tensor_release(sn);

    /* Ternary: [0, 5] packs to [0, 2]; [3, 0] to [3, 0]; the scale is 0. */
    aph_tensor* qt = ot_tensor(APH_DTYPE_U8, q02, 2, NULL);
    aph_tensor_release(s);
    s = ot_poisoned(APH_DTYPE_F32, one, 1);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_TERNARY, x, -1, qt, s, NULL));
    v = ot_read(s);
    assert_true(v[0] == 0.0);
    free(v);
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_TERNARY, qt, s, -1, x, NULL));
    aph_tensor* qt2 = ot_tensor(APH_DTYPE_U8, x30, 2, NULL);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_TERNARY, x2, -1, qt2, s, NULL));

    /* Ternary matmul: M = 0, N = 0, and K = 0 (zeros). */
    const int64_t p30[] = {3, 0}, p02[] = {0, 2}, o03[] = {0, 3}, o30[] = {3, 3}, o50[] = {2, 0}, x25[] = {2, 5};
    aph_tensor* pk0 = ot_tensor(APH_DTYPE_U8, p30, 2, NULL);
    aph_tensor* pN0 = ot_tensor(APH_DTYPE_U8, p02, 2, NULL);
    aph_tensor* o1 = ot_poisoned(APH_DTYPE_F32, o03, 2);
    aph_tensor* o2 = ot_poisoned(APH_DTYPE_F32, o30, 2);
    aph_tensor* o3 = ot_poisoned(APH_DTYPE_F32, o50, 2);
    aph_tensor* xk = ot_tensor(APH_DTYPE_F32, x25, 2, NULL);
    /* x [0, 5] needs packed [N, 2]: use N = 3 via a [3, 2] packed. */
    const int64_t p32[] = {3, 2};
    aph_tensor* p3 = ot_tensor(APH_DTYPE_U8, p32, 2, NULL);
    APH_ASSERT_OK(aph_op_ternary_matmul(x, p3, s, o1, NULL));
    APH_ASSERT_OK(aph_op_ternary_matmul(xk, pN0, s, o3, NULL));
    APH_ASSERT_OK(aph_op_ternary_matmul(x2, pk0, s, o2, NULL));
    v = ot_read(o2);
    for (int i = 0; i < 9; ++i) assert_true(v[i] == 0.0);
    free(v);
    aph_tensor_release(p3);
    aph_tensor_release(xk);
    aph_tensor_release(pk0);
    aph_tensor_release(pN0);
    aph_tensor_release(o1);
    aph_tensor_release(o2);
    aph_tensor_release(o3);
    aph_tensor_release(qt);
    aph_tensor_release(qt2);
    aph_tensor_release(s);
    aph_tensor_release(s5);
    aph_tensor_release(x);
    aph_tensor_release(x2);
}

/* ================================ errors ================================ */

static void test_quantize_errors(void** state) {
    (void)state;
    const int64_t xs[] = {3, 5}, one[] = {1}, two[] = {2}, three[] = {3}, q35b[] = {3, 2};
    double xv[15];
    ot_fill(xv, 15, -1.0, 1.0);
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, xs, 2, xv);
    aph_tensor* q = ot_poisoned(APH_DTYPE_I8, xs, 2);
    aph_tensor* s = ot_poisoned(APH_DTYPE_F32, one, 1);

    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, NULL, -1, q, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, -1, NULL, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_q must not be NULL");
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, -1, q, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_scale must not be NULL");
    APH_ASSERT_ERR(aph_quantize((aph_quant_scheme)7, x, -1, q, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: scheme 7 is not an aph_quant_scheme value");

    /* Wrong dtypes. */
    aph_tensor* xi = ot_tensor(APH_DTYPE_I32, xs, 2, NULL);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, xi, -1, q, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x has dtype i32; expected f32, f16, bf16 or f64");
    aph_tensor* qu = ot_poisoned(APH_DTYPE_U8, xs, 2);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, -1, qu, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_q has dtype u8; this operation writes i8");
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_FP8_E4M3, x, -1, q, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_q has dtype i8; this operation writes f8e4m3");
    aph_tensor* q8 = ot_poisoned(APH_DTYPE_F8E4M3, xs, 2);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_FP8_E5M2, x, -1, q8, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_q has dtype f8e4m3; this operation writes f8e5m2");
    aph_tensor* s16 = ot_poisoned(APH_DTYPE_F16, one, 1);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, -1, q, s16, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_scale has dtype f16; this operation writes f32");

    /* Wrong shapes, with the expected shape. */
    aph_tensor* s2 = ot_poisoned(APH_DTYPE_F32, two, 1);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, -1, q, s2, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [1], got [2]");
    aph_tensor* s3 = ot_poisoned(APH_DTYPE_F32, three, 1);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, 1, q, s3, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [5], got [3]");
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_NF4, x, -1, qu, s, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [8], got [3, 5]");
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_TERNARY, x, -1, qu, s, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [3, 2], got [3, 5]");
    aph_tensor* qt = ot_poisoned(APH_DTYPE_U8, q35b, 2);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_TERNARY, x, -1, qt, s3, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [1], got [3]");
    const int64_t q8s[] = {8};
    aph_tensor* qn = ot_poisoned(APH_DTYPE_U8, q8s, 1);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_NF4, x, -1, qn, s2, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [1], got [2]");

    /* Axes. */
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, 2, q, s3, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: axis 2 is out of range for x with 2 dimensions");
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_FP8_E4M3, x, 0, q8, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: axis must be -1 for APH_QUANT_FP8_E4M3 (got 0); only APH_QUANT_INT8 "
                   "takes a channel axis");
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_NF4, x, -2, qn, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: axis must be -1 for APH_QUANT_NF4 (got -2); only APH_QUANT_INT8 takes a "
                   "channel axis");
    aph_tensor* x0 = ot_tensor(APH_DTYPE_F32, NULL, 0, xv);
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_TERNARY, x0, -1, qt, s, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must have at least 1 dimension for APH_QUANT_TERNARY (its last dimension "
                   "is packed)");

    /* out_scale inside x's memory. */
    const int64_t flat[] = {15};
    aph_tensor* xf = NULL;
    aph_tensor* xs1 = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(x, flat, 1, &xf));
    APH_ASSERT_OK(aph_tensor_narrow(xf, 0, 14, 1, &xs1));
    APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, x, -1, q, xs1, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_scale overlaps x in memory");
    double* xr = ot_read(x);
    for (int i = 0; i < 15; ++i) assert_true(xr[i] == (double)(float)xv[i]);
    free(xr);
    aph_tensor_release(xs1);
    aph_tensor_release(xf);

    /* Nothing was written by any failed call. */
    assert_true(all_bytes_ff(q));
    assert_true(all_bytes_ff(s));
    assert_true(all_bytes_ff(qu));
    assert_true(all_bytes_ff(qt));
    assert_true(all_bytes_ff(s3));

    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* xc = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, xs, 2, &xc));
        APH_ASSERT_ERR(aph_quantize(APH_QUANT_INT8, xc, -1, q, s, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(xc);
        aph_device_release(cpu);
        aph_tensor* x64 = ot_tensor(APH_DTYPE_F64, xs, 2, xv);
        APH_ASSERT_ERR_CONTAINS(aph_quantize(APH_QUANT_INT8, x64, -1, q, s, NULL), APH_ERR_NOT_IMPLEMENTED, "f64");
        aph_tensor_release(x64);
        assert_true(all_bytes_ff(q));
    }
    aph_tensor_release(x0);
    aph_tensor_release(qn);
    aph_tensor_release(qt);
    aph_tensor_release(s2);
    aph_tensor_release(s3);
    aph_tensor_release(s16);
    aph_tensor_release(q8);
    aph_tensor_release(qu);
    aph_tensor_release(xi);
    aph_tensor_release(x);
    aph_tensor_release(q);
    aph_tensor_release(s);
}

static void test_dequantize_errors(void** state) {
    (void)state;
    const int64_t xs[] = {3, 5}, one[] = {1}, two[] = {2}, q8s[] = {8}, q7s[] = {7}, qts[] = {3, 2}, qtb[] = {3, 3};
    aph_tensor* q = ot_poisoned(APH_DTYPE_I8, xs, 2);
    aph_tensor* s = ot_poisoned(APH_DTYPE_F32, one, 1);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, xs, 2);
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, NULL, s, -1, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: q must not be NULL");
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, q, NULL, -1, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: scale must not be NULL");
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, q, s, -1, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_dequantize((aph_quant_scheme)5, q, s, -1, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: scheme 5 is not an aph_quant_scheme value");
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_FP8_E4M3, q, s, -1, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: q has dtype i8; expected f8e4m3");
    aph_tensor* outi = ot_poisoned(APH_DTYPE_I32, xs, 2);
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, q, s, -1, outi, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype i32; expected f32, f16, bf16 or f64");
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, q, s, 3, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: axis 3 is out of range for out with 2 dimensions");
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, q, s, 1, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: scale has shape [1] but q [3, 5] needs [5] for APH_QUANT_INT8");
    const int64_t os[] = {5, 3};
    aph_tensor* out53 = ot_poisoned(APH_DTYPE_F32, os, 2);
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, q, s, -1, out53, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [3, 5], got [5, 3]");
    aph_tensor* qn = ot_poisoned(APH_DTYPE_U8, q7s, 1);
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_NF4, qn, s, -1, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: q has shape [7] but out [3, 5] needs [8] for APH_QUANT_NF4");
    aph_tensor* qn8 = ot_poisoned(APH_DTYPE_U8, q8s, 1);
    aph_tensor* s2 = ot_poisoned(APH_DTYPE_F32, two, 1);
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_NF4, qn8, s2, -1, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: scale has shape [2] but q [8] needs [1] for APH_QUANT_NF4");
    aph_tensor* qt = ot_poisoned(APH_DTYPE_U8, qtb, 2);
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_TERNARY, qt, s, -1, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: q has shape [3, 3] but out [3, 5] needs [3, 2] for APH_QUANT_TERNARY");
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_TERNARY, qt, s, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: axis must be -1 for APH_QUANT_TERNARY (got 0); only APH_QUANT_INT8 takes "
                   "a channel axis");
    aph_tensor* sf16 = ot_poisoned(APH_DTYPE_F16, one, 1);
    aph_tensor* qt2 = ot_poisoned(APH_DTYPE_U8, qts, 2);
    APH_ASSERT_ERR(aph_dequantize(APH_QUANT_TERNARY, qt2, sf16, -1, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: scale has dtype f16; expected f32");
    assert_true(all_bytes_ff(out));
    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* oc = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, xs, 2, &oc));
        APH_ASSERT_ERR(aph_dequantize(APH_QUANT_INT8, q, s, -1, oc, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(oc);
        aph_device_release(cpu);
    }
    aph_tensor_release(qt2);
    aph_tensor_release(sf16);
    aph_tensor_release(qt);
    aph_tensor_release(s2);
    aph_tensor_release(qn8);
    aph_tensor_release(qn);
    aph_tensor_release(out53);
    aph_tensor_release(outi);
    aph_tensor_release(q);
    aph_tensor_release(s);
    aph_tensor_release(out);
}

static void test_ternary_matmul_errors(void** state) {
    (void)state;
    const int64_t xs[] = {2, 5}, ps[] = {3, 2}, pbad[] = {3, 3}, one[] = {1}, two[] = {2}, os[] = {2, 3},
                  obad[] = {3, 2}, p1[] = {6};
    double xv[10];
    ot_fill(xv, 10, -1.0, 1.0);
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, xs, 2, xv);
    aph_tensor* p = ot_tensor(APH_DTYPE_U8, ps, 2, NULL);
    aph_tensor* s = ot_tensor(APH_DTYPE_F32, one, 1, xv);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, os, 2);
    APH_ASSERT_ERR(aph_op_ternary_matmul(NULL, p, s, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, NULL, s, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: packed must not be NULL");
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, p, NULL, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: scale must not be NULL");
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, p, s, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    aph_tensor* pb = ot_tensor(APH_DTYPE_U8, pbad, 2, NULL);
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, pb, s, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x [2, 5] and packed [3, 3] do not fit: K = 5 needs packed [N, 2] "
                   "(ceil(K / 4) bytes per row)");
    aph_tensor* p1d = ot_tensor(APH_DTYPE_U8, p1, 1, NULL);
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, p1d, s, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x [2, 5] and packed [6] do not fit: K = 5 needs packed [N, 2] "
                   "(ceil(K / 4) bytes per row)");
    aph_tensor* s2 = ot_tensor(APH_DTYPE_F32, two, 1, xv);
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, p, s2, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: scale has shape [2]; the ternary scale is [1]");
    aph_tensor* ob = ot_poisoned(APH_DTYPE_F32, obad, 2);
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, p, s, ob, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    aph_tensor* o16 = ot_poisoned(APH_DTYPE_F16, os, 2);
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, p, s, o16, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype f16; this operation writes f32");
    aph_tensor* pi = ot_tensor(APH_DTYPE_I8, ps, 2, NULL);
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, pi, s, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: packed has dtype i8; expected u8");
    aph_tensor* x0 = ot_tensor(APH_DTYPE_F32, NULL, 0, xv);
    APH_ASSERT_ERR(aph_op_ternary_matmul(x0, p, s, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x has shape []; it must be [..., K]");
    /* out inside x's memory: x [2, 5] and out [2, 3] as views of one [2, 5] buffer. */
    aph_tensor* xo = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(x, 1, 1, 3, &xo));
    APH_ASSERT_ERR(aph_op_ternary_matmul(x, p, s, xo, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps x in memory");
    aph_tensor_release(xo);
    double* xr = ot_read(x);
    for (int i = 0; i < 10; ++i) assert_true(xr[i] == (double)(float)xv[i]);
    free(xr);
    assert_true(all_bytes_ff(out));
    assert_true(all_bytes_ff(ob));
    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* pc = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_U8, ps, 2, &pc));
        APH_ASSERT_ERR(aph_op_ternary_matmul(x, pc, s, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(pc);
        aph_device_release(cpu);
        assert_true(all_bytes_ff(out));
    }
    aph_tensor_release(x0);
    aph_tensor_release(pi);
    aph_tensor_release(o16);
    aph_tensor_release(ob);
    aph_tensor_release(s2);
    aph_tensor_release(p1d);
    aph_tensor_release(pb);
    aph_tensor_release(x);
    aph_tensor_release(p);
    aph_tensor_release(s);
    aph_tensor_release(out);
}

/* ================================ streams ================================ */

/* Quantize, dequantize and multiply on a stream of our own; synchronise it, then read. */
static void test_custom_stream(void** state) {
    (void)state;
    aph_stream* st = NULL;
    APH_ASSERT_OK(aph_stream_create(ot_device(), &st));
    const int64_t ws[] = {6, 130}, ps[] = {6, 33}, one[] = {1}, xs[] = {4, 130}, os[] = {4, 6};
    double* w = random_values(APH_DTYPE_F32, 6 * 130, -1.0, 1.0);
    double* x = random_values(APH_DTYPE_F32, 4 * 130, -1.0, 1.0);
    aph_tensor* tw = ot_tensor(APH_DTYPE_F32, ws, 2, w);
    aph_tensor* tx = ot_tensor(APH_DTYPE_F32, xs, 2, x);
    aph_tensor* tp = ot_poisoned(APH_DTYPE_U8, ps, 2);
    aph_tensor* ts = ot_poisoned(APH_DTYPE_F32, one, 1);
    aph_tensor* tdeq = ot_poisoned(APH_DTYPE_F32, ws, 2);
    aph_tensor* tout = ot_poisoned(APH_DTYPE_F32, os, 2);
    APH_ASSERT_OK(aph_quantize(APH_QUANT_TERNARY, tw, -1, tp, ts, st));
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_TERNARY, tp, ts, -1, tdeq, st));
    APH_ASSERT_OK(aph_op_ternary_matmul(tx, tp, ts, tout, st));
    APH_ASSERT_OK(aph_stream_synchronize(st));
    double* deq = ot_read(tdeq);
    double* got = ot_read(tout);
    double want[4 * 6];
    for (int m = 0; m < 4; ++m)
        for (int n = 0; n < 6; ++n) {
            double acc = 0.0;
            for (int k = 0; k < 130; ++k) acc += x[m * 130 + k] * deq[n * 130 + k];
            want[m * 6 + n] = acc;
        }
    ot_assert_close(got, want, 24, APH_DTYPE_F32, 1.0 + 130.0 / 64.0, "ternary_matmul on a stream");
    free(got);
    free(deq);
    free(x);
    free(w);
    aph_tensor_release(tw);
    aph_tensor_release(tx);
    aph_tensor_release(tp);
    aph_tensor_release(ts);
    aph_tensor_release(tdeq);
    aph_tensor_release(tout);
    aph_stream_release(st);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_per_tensor),
        cmocka_unit_test(test_int8_per_channel),
        cmocka_unit_test(test_int8_special_values),
        cmocka_unit_test(test_fp8_known_values),
        cmocka_unit_test(test_fp8_random),
        cmocka_unit_test(test_nf4),
        cmocka_unit_test(test_nf4_packing),
        cmocka_unit_test(test_ternary_quantize),
        cmocka_unit_test(test_ternary_packing),
        cmocka_unit_test(test_ternary_matmul),
        cmocka_unit_test(test_ternary_matmul_end_to_end),
        cmocka_unit_test(test_ternary_matmul_skips_zero_weights),
        cmocka_unit_test(test_broadcast_inputs),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_quantize_errors),
        cmocka_unit_test(test_dequantize_errors),
        cmocka_unit_test(test_ternary_matmul_errors),
        cmocka_unit_test(test_custom_stream),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
