/* The elementwise operations (header section 14): aph_op_binary, aph_op_binary_scalar,
 * aph_op_unary, aph_op_bias_activation and aph_op_cast, against float64 references written
 * here from the rounded inputs, on the device under test (ops_test_util.h): every operation and
 * enum value in every float dtype, numpy broadcasting, strided and broadcast inputs, strided
 * outputs (whose gaps must stay untouched), in-place use, zero-size tensors, NaN propagation,
 * rounding ties and saturation of casts, a custom stream, and the error paths (each of which
 * must leave the poisoned output as it was). */
#include "ops_test_util.h"

#include <aphelion_dlpack.h>

#define MAXD 4

static const aph_binary_op kBinaryOps[] = {APH_BINARY_ADD, APH_BINARY_SUB,     APH_BINARY_MUL,
                                           APH_BINARY_DIV, APH_BINARY_MAXIMUM, APH_BINARY_MINIMUM};
static const aph_unary_op kUnaryOps[] = {APH_UNARY_RELU, APH_UNARY_GELU,    APH_UNARY_GELU_TANH, APH_UNARY_SILU,
                                         APH_UNARY_TANH, APH_UNARY_SIGMOID, APH_UNARY_EXP,       APH_UNARY_LOG,
                                         APH_UNARY_NEG,  APH_UNARY_SQRT,    APH_UNARY_RSQRT,     APH_UNARY_ABS};
static const aph_activation kActivations[] = {APH_ACTIVATION_NONE,      APH_ACTIVATION_RELU, APH_ACTIVATION_GELU,
                                              APH_ACTIVATION_GELU_TANH, APH_ACTIVATION_SILU, APH_ACTIVATION_TANH};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- float64 references */

static double ref_binary(aph_binary_op op, double x, double y) {
    switch (op) {
        case APH_BINARY_ADD: return x + y;
        case APH_BINARY_SUB: return x - y;
        case APH_BINARY_MUL: return x * y;
        case APH_BINARY_DIV: return x / y;
        case APH_BINARY_MAXIMUM: return (isnan(x) || isnan(y)) ? NAN : (x > y ? x : y);
        case APH_BINARY_MINIMUM: return (isnan(x) || isnan(y)) ? NAN : (x < y ? x : y);
    }
    return NAN;
}

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static double ref_unary(aph_unary_op op, double x) {
    switch (op) {
        case APH_UNARY_RELU: return x > 0 ? x : 0.0;
        case APH_UNARY_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        case APH_UNARY_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        case APH_UNARY_SILU: return x * ref_sigmoid(x);
        case APH_UNARY_TANH: return tanh(x);
        case APH_UNARY_SIGMOID: return ref_sigmoid(x);
        case APH_UNARY_EXP: return exp(x);
        case APH_UNARY_LOG: return log(x);
        case APH_UNARY_NEG: return -x;
        case APH_UNARY_SQRT: return sqrt(x);
        case APH_UNARY_RSQRT: return 1.0 / sqrt(x);
        case APH_UNARY_ABS: return fabs(x);
    }
    return NAN;
}

static double ref_activation(aph_activation act, double x) {
    switch (act) {
        case APH_ACTIVATION_NONE: return x;
        case APH_ACTIVATION_RELU: return ref_unary(APH_UNARY_RELU, x);
        case APH_ACTIVATION_GELU: return ref_unary(APH_UNARY_GELU, x);
        case APH_ACTIVATION_GELU_TANH: return ref_unary(APH_UNARY_GELU_TANH, x);
        case APH_ACTIVATION_SILU: return ref_unary(APH_UNARY_SILU, x);
        case APH_ACTIVATION_TANH: return ref_unary(APH_UNARY_TANH, x);
    }
    return NAN;
}

/* The row-major index into a tensor of shape in[nin] (right-aligned against out[nout], size-1
 * dimensions broadcast) of element i of out. */
static size_t bcast_index(size_t i, const int64_t* out, size_t nout, const int64_t* in, size_t nin) {
    size_t idx = 0, mul = 1;
    for (size_t k = nout; k-- > 0;) {
        const size_t c = i % (size_t)out[k];
        i /= (size_t)out[k];
        if (k + nin < nout) continue;
        const size_t j = k + nin - nout;
        if (in[j] != 1) idx += c * mul;
        mul *= (size_t)in[j];
    }
    return idx;
}

/* ---- helpers */

static double* fresh(size_t n, double lo, double hi, aph_dtype dtype) {
    double* v = malloc(sizeof(double) * (n ? n : 1));
    assert_non_null(v);
    ot_fill(v, n, lo, hi);
    ot_round_all(dtype, v, n);
    return v;
}

/* Values in ±[0.5, 2] (divisors and second operands away from zero), rounded to dtype. */
static double* fresh_signed(size_t n, aph_dtype dtype) {
    double* v = fresh(n, 0.5, 2.0, dtype);
    for (size_t i = 0; i < n; ++i) {
        if (ot_int(0, 1)) v[i] = -v[i];
    }
    return v;
}

static aph_tensor* input(aph_dtype dtype, const int64_t* shape, size_t nd, const double* v, int strided) {
    return strided ? ot_tensor_strided(dtype, shape, nd, v) : ot_tensor(dtype, shape, nd, v);
}

/* An output view whose storage has the last dimension doubled: elements poisoned (NaN), the gaps
 * between them hold kGap; *storage receives the storage tensor (to check the gaps afterwards). */
static const double kGap = 7.0;
static aph_tensor* strided_out(aph_dtype dtype, const int64_t* shape, size_t nd, aph_tensor** storage) {
    assert_true(nd >= 1);
    int64_t big[MAXD];
    memcpy(big, shape, nd * sizeof *big);
    big[nd - 1] *= 2;
    const int64_t nb = ot_numel(big, nd);
    double* v = malloc(sizeof(double) * (size_t)(nb ? nb : 1));
    assert_non_null(v);
    for (int64_t i = 0; i < nb; ++i) v[i] = (i % 2) ? kGap : NAN;
    *storage = ot_tensor(dtype, big, nd, v);
    free(v);
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_slice(*storage, nd - 1, 0, big[nd - 1], 2, &view));
    return view;
}

static void assert_gaps_intact(const aph_tensor* storage) {
    const size_t n = (size_t)aph_tensor_numel(storage);
    double* v = ot_read(storage);
    for (size_t i = 1; i < n; i += 2) {
        if (v[i] != kGap) fail_msg("gap element %zu of the strided out was overwritten: %g", i, v[i]);
    }
    free(v);
}

/* Every element of t is NaN: a poisoned output nothing wrote, or an all-NaN result. */
static void assert_all_nan(const aph_tensor* t) {
    const size_t n = (size_t)aph_tensor_numel(t);
    double* v = ot_read(t);
    for (size_t i = 0; i < n; ++i) {
        if (!isnan(v[i])) fail_msg("element %zu of a poisoned output was written: %g", i, v[i]);
    }
    free(v);
}

/* Exact comparison (casts are exact): NaN matches NaN, -0 matches 0. */
static void assert_exact(const double* got, const double* want, size_t n, const char* what) {
    for (size_t i = 0; i < n; ++i) {
        const int ok = (isnan(got[i]) && isnan(want[i])) || got[i] == want[i];
        if (!ok) {
            fail_msg("%s: element %zu: got %.17g, want %.17g (APH_TEST_SEED=%llu)", what, i, got[i], want[i],
                     (unsigned long long)ot_seed());
        }
    }
}

/* ---- binary */

/* One binary case: a[an] (op) b[bn] into out of the broadcast shape (os[on]), checked against
 * the reference; strided_* pick strided views for the operands and out. */
static void binary_case(aph_dtype dtype, aph_binary_op op, const int64_t* as, size_t an, const int64_t* bs, size_t bn,
                        const int64_t* os, size_t on, int strided_a, int strided_b, int strided_o) {
    const size_t na = (size_t)ot_numel(as, an), nb = (size_t)ot_numel(bs, bn), no = (size_t)ot_numel(os, on);
    double* va = fresh(na, -2.0, 2.0, dtype);
    double* vb = fresh_signed(nb, dtype);
    aph_tensor* a = input(dtype, as, an, va, strided_a);
    aph_tensor* b = input(dtype, bs, bn, vb, strided_b);
    aph_tensor* storage = NULL;
    aph_tensor* out = (strided_o && on > 0) ? strided_out(dtype, os, on, &storage) : ot_poisoned(dtype, os, on);
    APH_ASSERT_OK(aph_op_binary(op, a, b, out, NULL));
    double* want = malloc(sizeof(double) * (no ? no : 1));
    assert_non_null(want);
    for (size_t i = 0; i < no; ++i) {
        want[i] = ref_binary(op, va[bcast_index(i, os, on, as, an)], vb[bcast_index(i, os, on, bs, bn)]);
    }
    double* got = ot_read(out);
    ot_assert_close(got, want, no, dtype, 1.0, "binary");
    if (storage) assert_gaps_intact(storage);
    free(got);
    free(want);
    free(va);
    free(vb);
    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(out);
    aph_tensor_release(storage);
}

/* Every op in every dtype over same-shape operands of odd sizes. */
static void test_binary_ops(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    static const int64_t shapes[][2] = {{1, 1}, {1, 3}, {1, 17}, {3, 33}, {2, 127}};
    for (size_t t = 0; t < nd; ++t) {
        for (size_t o = 0; o < COUNT(kBinaryOps); ++o) {
            for (size_t s = 0; s < COUNT(shapes); ++s) {
                binary_case(dts[t], kBinaryOps[o], shapes[s], 2, shapes[s], 2, shapes[s], 2, 0, 0, 0);
            }
            /* 1-D and 3-D too. */
            const int64_t v[] = {127}, c[] = {2, 3, 5};
            binary_case(dts[t], kBinaryOps[o], v, 1, v, 1, v, 1, 0, 0, 0);
            binary_case(dts[t], kBinaryOps[o], c, 3, c, 3, c, 3, 0, 0, 0);
        }
    }
}

/* numpy broadcasting: [3,1,5] with [4,1], a 0-dim tensor with [2,3] (both ways), [1] with [7],
 * rows and columns. */
static void test_binary_broadcast(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s315[] = {3, 1, 5}, s41[] = {4, 1}, s345[] = {3, 4, 5};
    const int64_t s23[] = {2, 3}, s1[] = {1}, s7[] = {7};
    const int64_t s57[] = {5, 7}, s51[] = {5, 1}, s17[] = {1, 7};
    for (size_t t = 0; t < nd; ++t) {
        for (size_t o = 0; o < COUNT(kBinaryOps); ++o) {
            const aph_binary_op op = kBinaryOps[o];
            binary_case(dts[t], op, s315, 3, s41, 2, s345, 3, 0, 0, 0);
            binary_case(dts[t], op, s41, 2, s315, 3, s345, 3, 0, 0, 0);
            binary_case(dts[t], op, NULL, 0, s23, 2, s23, 2, 0, 0, 0);
            binary_case(dts[t], op, s23, 2, NULL, 0, s23, 2, 0, 0, 0);
            binary_case(dts[t], op, NULL, 0, NULL, 0, NULL, 0, 0, 0, 0);
            binary_case(dts[t], op, s1, 1, s7, 1, s7, 1, 0, 0, 0);
            binary_case(dts[t], op, s7, 1, s1, 1, s7, 1, 0, 0, 0);
            binary_case(dts[t], op, s57, 2, s7, 1, s57, 2, 0, 0, 0);
            binary_case(dts[t], op, s51, 2, s57, 2, s57, 2, 0, 0, 0);
            binary_case(dts[t], op, s51, 2, s17, 2, s57, 2, 0, 0, 0);
        }
    }
}

/* Strided operands and a strided out (its gaps untouched), with broadcasting; a transposed
 * operand (dimensions that cannot merge) and an expanded one (stride 0 over a size > 1). */
static void test_binary_strided(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s = 3, r = 17;
    const int64_t sh[] = {s, r}, row[] = {r}, s315[] = {3, 1, 5}, s41[] = {4, 1}, s345[] = {3, 4, 5};
    for (size_t t = 0; t < nd; ++t) {
        for (size_t o = 0; o < COUNT(kBinaryOps); ++o) {
            const aph_binary_op op = kBinaryOps[o];
            binary_case(dts[t], op, sh, 2, sh, 2, sh, 2, 1, 0, 0);
            binary_case(dts[t], op, sh, 2, sh, 2, sh, 2, 0, 1, 1);
            binary_case(dts[t], op, sh, 2, row, 1, sh, 2, 1, 1, 1);
            binary_case(dts[t], op, s315, 3, s41, 2, s345, 3, 1, 1, 1);
        }
        /* a transposed [5, 4] -> [4, 5] plus b expanded from [1, 5] to [4, 5]. */
        const aph_dtype dt = dts[t];
        const int64_t ts[] = {5, 4}, out_s[] = {4, 5}, b1[] = {1, 5};
        double* va = fresh(20, -2.0, 2.0, dt);
        double* vb = fresh_signed(5, dt);
        aph_tensor* a0 = ot_tensor(dt, ts, 2, va);
        aph_tensor* b0 = ot_tensor(dt, b1, 2, vb);
        aph_tensor *a = NULL, *b = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(a0, 0, 1, &a));
        APH_ASSERT_OK(aph_tensor_expand(b0, out_s, 2, &b));
        aph_tensor* storage = NULL;
        aph_tensor* out = strided_out(dt, out_s, 2, &storage);
        APH_ASSERT_OK(aph_op_binary(APH_BINARY_SUB, a, b, out, NULL));
        double want[20];
        for (int i = 0; i < 4; ++i) {
            for (int j = 0; j < 5; ++j) want[i * 5 + j] = va[j * 4 + i] - vb[j];
        }
        double* got = ot_read(out);
        ot_assert_close(got, want, 20, dt, 1.0, "transposed - expanded");
        assert_gaps_intact(storage);
        free(got);
        free(va);
        free(vb);
        aph_tensor_release(a0);
        aph_tensor_release(b0);
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(out);
        aph_tensor_release(storage);
    }
}

/* out may be exactly a or b: contiguous and strided, with the other operand broadcast. */
static void test_binary_in_place(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t sh[] = {4, 33}, row[] = {33};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        for (int strided = 0; strided < 2; ++strided) {
            double* va = fresh(132, -2.0, 2.0, dt);
            double* vb = fresh_signed(33, dt);
            double want[132];
            /* out == a: a = a * b (b a broadcast row). */
            aph_tensor* a = input(dt, sh, 2, va, strided);
            aph_tensor* b = ot_tensor(dt, row, 1, vb);
            APH_ASSERT_OK(aph_op_binary(APH_BINARY_MUL, a, b, a, NULL));
            for (int i = 0; i < 132; ++i) want[i] = va[i] * vb[i % 33];
            double* got = ot_read(a);
            ot_assert_close(got, want, 132, dt, 1.0, "out == a");
            free(got);
            aph_tensor_release(a);
            aph_tensor_release(b);
            /* out == b: b = row - b. */
            aph_tensor* r = ot_tensor(dt, row, 1, vb);
            aph_tensor* x = input(dt, sh, 2, va, strided);
            APH_ASSERT_OK(aph_op_binary(APH_BINARY_SUB, r, x, x, NULL));
            for (int i = 0; i < 132; ++i) want[i] = vb[i % 33] - va[i];
            got = ot_read(x);
            ot_assert_close(got, want, 132, dt, 1.0, "out == b");
            free(got);
            aph_tensor_release(r);
            aph_tensor_release(x);
            /* out == a == b. */
            aph_tensor* y = input(dt, sh, 2, va, strided);
            APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, y, y, y, NULL));
            for (int i = 0; i < 132; ++i) want[i] = va[i] + va[i];
            got = ot_read(y);
            ot_assert_close(got, want, 132, dt, 1.0, "out == a == b");
            free(got);
            aph_tensor_release(y);
            free(va);
            free(vb);
        }
    }
}

/* Zero-size operands: accepted, nothing launched, out untouched. */
static void test_binary_zero_size(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t z[] = {0}, z30[] = {3, 0}, z04[] = {0, 4}, s14[] = {1, 4}, one[] = {1};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        aph_tensor* a = ot_tensor(dt, z30, 2, NULL);
        aph_tensor* b = ot_tensor(dt, z, 1, NULL);
        aph_tensor* o = ot_tensor(dt, z30, 2, NULL);
        APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, a, b, o, NULL));
        APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MUL, a, 2.0, o, NULL));
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(o);
        a = ot_tensor(dt, z04, 2, NULL);
        b = ot_tensor(dt, s14, 2, NULL);
        o = ot_tensor(dt, z04, 2, NULL);
        APH_ASSERT_OK(aph_op_binary(APH_BINARY_DIV, a, b, o, NULL));
        aph_tensor_release(b);
        /* [0, 4] with [1]: still [0, 4]. */
        b = ot_tensor(dt, one, 1, NULL);
        APH_ASSERT_OK(aph_op_binary(APH_BINARY_MAXIMUM, b, a, o, NULL));
        aph_tensor_release(b);
        /* 0 against 3 does not broadcast (only 1 does), empty or not. */
        const int64_t s3[] = {3};
        b = ot_tensor(dt, s3, 1, NULL);
        APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, o, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: shapes [0, 4] and [3] do not broadcast (dimension 1: 4 vs 3)");
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(o);
        a = ot_tensor(dt, z, 1, NULL);
        b = ot_tensor(dt, s3, 1, NULL);
        o = ot_tensor(dt, z, 1, NULL);
        APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, o, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: shapes [0] and [3] do not broadcast (dimension 0: 0 vs 3)");
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(o);
    }
}

/* maximum and minimum propagate NaN from either side; otherwise they pick the larger/smaller. */
static void test_binary_nan(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t sh[] = {6};
    const double va[] = {NAN, 1.0, NAN, -2.0, 3.0, -INFINITY};
    const double vb[] = {1.0, NAN, NAN, 5.0, -4.0, INFINITY};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        aph_tensor* a = ot_tensor(dt, sh, 1, va);
        aph_tensor* b = ot_tensor(dt, sh, 1, vb);
        aph_tensor* o = ot_poisoned(dt, sh, 1);
        for (int k = 0; k < 2; ++k) {
            const aph_binary_op op = k ? APH_BINARY_MINIMUM : APH_BINARY_MAXIMUM;
            APH_ASSERT_OK(aph_op_binary(op, a, b, o, NULL));
            double want[6];
            for (int i = 0; i < 6; ++i) want[i] = ref_binary(op, va[i], vb[i]);
            double* got = ot_read(o);
            ot_assert_close(got, want, 6, dt, 1.0, k ? "minimum with NaN" : "maximum with NaN");
            free(got);
            /* With a NaN scalar: all NaN. */
            APH_ASSERT_OK(aph_op_binary_scalar(op, a, NAN, o, NULL));
            assert_all_nan(o);
        }
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(o);
    }
}

/* a (op) scalar: every op and dtype, 0-dim / odd / strided inputs, strided out, in place. */
static void test_binary_scalar(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s17[] = {17}, s35[] = {3, 5}, s127[] = {127};
    const double scalars[] = {1.75, -0.625};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        for (size_t o = 0; o < COUNT(kBinaryOps); ++o) {
            const aph_binary_op op = kBinaryOps[o];
            for (int c = 0; c < 5; ++c) {
                const int64_t* sh = c == 0 ? NULL : c == 1 ? s17 : c == 4 ? s127 : s35;
                const size_t n_d = c == 0 ? 0 : (c == 1 || c == 4) ? 1 : 2;
                const int strided = c == 3, in_place = c == 4;
                const double sc = scalars[c % 2];
                const size_t n = (size_t)ot_numel(sh, n_d);
                double* va = fresh(n, -2.0, 2.0, dt);
                aph_tensor* a = input(dt, sh, n_d, va, strided);
                aph_tensor* storage = NULL;
                aph_tensor* out = in_place  ? a
                                  : strided ? strided_out(dt, sh, n_d, &storage)
                                            : ot_poisoned(dt, sh, n_d);
                APH_ASSERT_OK(aph_op_binary_scalar(op, a, sc, out, NULL));
                double want[127];
                for (size_t i = 0; i < n; ++i) want[i] = ref_binary(op, va[i], sc);
                double* got = ot_read(out);
                ot_assert_close(got, want, n, dt, 1.0, "binary_scalar");
                if (storage) assert_gaps_intact(storage);
                free(got);
                free(va);
                if (!in_place) aph_tensor_release(out);
                aph_tensor_release(a);
                aph_tensor_release(storage);
            }
        }
    }
}

/* ---- unary */

/* The input range of op: log, sqrt and rsqrt positive, exp moderate, the rest symmetric. */
static void unary_range(aph_unary_op op, double* lo, double* hi) {
    switch (op) {
        case APH_UNARY_LOG:
        case APH_UNARY_SQRT:
        case APH_UNARY_RSQRT:
            *lo = 0.05;
            *hi = 8.0;
            break;
        case APH_UNARY_EXP:
            *lo = -5.0;
            *hi = 5.0;
            break;
        default:
            *lo = -6.0;
            *hi = 6.0;
            break;
    }
}

static void test_unary_ops(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 1, 3}, {1, 1, 17}, {2, 3, 33}, {1, 1, 127}};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        for (size_t o = 0; o < COUNT(kUnaryOps); ++o) {
            const aph_unary_op op = kUnaryOps[o];
            double lo, hi;
            unary_range(op, &lo, &hi);
            for (size_t s = 0; s < COUNT(shapes); ++s) {
                /* s: contiguous; 1: strided in; 3: strided in and out; 4: in place (strided). */
                const int strided_in = s == 1 || s == 3 || s == 4, strided_o = s == 3, in_place = s == 4;
                const size_t n = (size_t)ot_numel(shapes[s], 3);
                double* vx = fresh(n, lo, hi, dt);
                aph_tensor* x = input(dt, shapes[s], 3, vx, strided_in);
                aph_tensor* storage = NULL;
                aph_tensor* out = in_place    ? x
                                  : strided_o ? strided_out(dt, shapes[s], 3, &storage)
                                              : ot_poisoned(dt, shapes[s], 3);
                APH_ASSERT_OK(aph_op_unary(op, x, out, NULL));
                double* want = malloc(sizeof(double) * n);
                assert_non_null(want);
                for (size_t i = 0; i < n; ++i) want[i] = ref_unary(op, vx[i]);
                double* got = ot_read(out);
                ot_assert_close(got, want, n, dt, 1.0, "unary");
                if (storage) assert_gaps_intact(storage);
                free(got);
                free(want);
                free(vx);
                if (!in_place) aph_tensor_release(out);
                aph_tensor_release(x);
                aph_tensor_release(storage);
            }
        }
    }
}

/* Large |x|: the saturating functions stay finite and exact at the limits (no inf/inf NaN from a
 * naive sigmoid), and NaN passes through every op. */
static void test_unary_extremes(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const double vx[] = {-30000.0, -1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0, 30000.0};
    const int64_t sh[] = {8};
    const aph_unary_op ops[] = {APH_UNARY_SIGMOID, APH_UNARY_TANH,      APH_UNARY_SILU,
                                APH_UNARY_GELU,    APH_UNARY_GELU_TANH, APH_UNARY_RELU};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        aph_tensor* x = ot_tensor(dt, sh, 1, vx);
        aph_tensor* o = ot_poisoned(dt, sh, 1);
        for (size_t k = 0; k < COUNT(ops); ++k) {
            APH_ASSERT_OK(aph_op_unary(ops[k], x, o, NULL));
            double want[8];
            for (int i = 0; i < 8; ++i) want[i] = ref_unary(ops[k], vx[i]);
            double* got = ot_read(o);
            ot_assert_close(got, want, 8, dt, 1.0, "unary at large |x|");
            free(got);
        }
        aph_tensor_release(x);
        aph_tensor_release(o);
        /* NaN in, NaN out (out starts as 1.0, so a NaN there was written). */
        const double nan1[] = {NAN}, one[] = {1.0};
        const int64_t s1[] = {1};
        x = ot_tensor(dt, s1, 1, nan1);
        for (size_t k = 0; k < COUNT(kUnaryOps); ++k) {
            o = ot_tensor(dt, s1, 1, one);
            APH_ASSERT_OK(aph_op_unary(kUnaryOps[k], x, o, NULL));
            assert_all_nan(o);
            aph_tensor_release(o);
        }
        aph_tensor_release(x);
    }
}

static void test_unary_zero_size(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t z[] = {2, 0, 3};
    for (size_t t = 0; t < nd; ++t) {
        aph_tensor* x = ot_tensor(dts[t], z, 3, NULL);
        aph_tensor* o = ot_tensor(dts[t], z, 3, NULL);
        for (size_t k = 0; k < COUNT(kUnaryOps); ++k) APH_ASSERT_OK(aph_op_unary(kUnaryOps[k], x, o, NULL));
        aph_tensor_release(x);
        aph_tensor_release(o);
    }
}

/* ---- bias + activation */

static void test_bias_activation(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    static const int64_t shapes[][3] = {{1, 1, 1}, {1, 3, 17}, {2, 3, 33}, {1, 1, 127}, {1, 5, 8}, {1, 3, 17}};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        for (size_t a = 0; a < COUNT(kActivations); ++a) {
            const aph_activation act = kActivations[a];
            for (size_t s = 0; s < COUNT(shapes); ++s) {
                /* 1: strided x; 2: strided x and out; 4: in place; 5: in place, strided. */
                const int strided_x = s == 1 || s == 2 || s == 5, strided_o = s == 2, in_place = s == 4 || s == 5;
                /* 1-D x for the [127] case (bias [N] against x [N]). */
                const size_t xd = s == 3 ? 1 : 3;
                const int64_t* xs = s == 3 ? shapes[s] + 2 : shapes[s];
                const int64_t n = shapes[s][2];
                const size_t total = (size_t)ot_numel(xs, xd);
                double* vx = fresh(total, -4.0, 4.0, dt);
                double* vb = fresh(n, -1.0, 1.0, dt);
                aph_tensor* x = input(dt, xs, xd, vx, strided_x);
                aph_tensor* b = ot_tensor(dt, &n, 1, vb);
                aph_tensor* storage = NULL;
                aph_tensor* out = in_place    ? x
                                  : strided_o ? strided_out(dt, xs, xd, &storage)
                                              : ot_poisoned(dt, xs, xd);
                APH_ASSERT_OK(aph_op_bias_activation(x, b, act, out, NULL));
                double* want = malloc(sizeof(double) * total);
                assert_non_null(want);
                /* The kernel rounds nothing between the add and the activation (f32 for the half
                 * dtypes), so the reference applies the activation to the exact sum. */
                for (size_t i = 0; i < total; ++i) want[i] = ref_activation(act, vx[i] + vb[i % (size_t)n]);
                double* got = ot_read(out);
                ot_assert_close(got, want, total, dt, 1.0, "bias_activation");
                if (storage) assert_gaps_intact(storage);
                free(got);
                free(want);
                free(vx);
                free(vb);
                if (!in_place) aph_tensor_release(out);
                aph_tensor_release(x);
                aph_tensor_release(b);
                aph_tensor_release(storage);
            }
        }
    }
}

/* A bias that is a strided view, a broadcast (expanded) x, and zero-size x. */
static void test_bias_activation_views(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        const int64_t n = 9, row[] = {1, 9}, sh[] = {4, 9};
        double* vx = fresh(9, -3.0, 3.0, dt);
        double* vb = fresh(9, -1.0, 1.0, dt);
        aph_tensor* x0 = ot_tensor(dt, row, 2, vx);
        aph_tensor* x = NULL;
        APH_ASSERT_OK(aph_tensor_expand(x0, sh, 2, &x));
        aph_tensor* b = ot_tensor_strided(dt, &n, 1, vb);
        aph_tensor* out = ot_poisoned(dt, sh, 2);
        APH_ASSERT_OK(aph_op_bias_activation(x, b, APH_ACTIVATION_SILU, out, NULL));
        double want[36];
        for (int i = 0; i < 36; ++i) want[i] = ref_activation(APH_ACTIVATION_SILU, vx[i % 9] + vb[i % 9]);
        double* got = ot_read(out);
        ot_assert_close(got, want, 36, dt, 1.0, "bias_activation over views");
        free(got);
        free(vx);
        free(vb);
        aph_tensor_release(x0);
        aph_tensor_release(x);
        aph_tensor_release(b);
        aph_tensor_release(out);

        const int64_t z[] = {0, 5}, five = 5;
        aph_tensor* zx = ot_tensor(dt, z, 2, NULL);
        aph_tensor* zb = ot_tensor(dt, &five, 1, NULL);
        aph_tensor* zo = ot_tensor(dt, z, 2, NULL);
        APH_ASSERT_OK(aph_op_bias_activation(zx, zb, APH_ACTIVATION_GELU, zo, NULL));
        aph_tensor_release(zx);
        aph_tensor_release(zb);
        aph_tensor_release(zo);
    }
}

/* ---- cast */

static const aph_dtype kCastDtypes[] = {APH_DTYPE_F64,  APH_DTYPE_F32, APH_DTYPE_F16,
                                        APH_DTYPE_BF16, APH_DTYPE_I32, APH_DTYPE_I64};

static int is_int(aph_dtype d) { return d == APH_DTYPE_I32 || d == APH_DTYPE_I64; }

/* The reference conversion of v (exactly representable in the source dtype) for the values the
 * matrix test uses (in range; no ties): truncation toward zero for integers, nearest otherwise. */
static double ref_cast(aph_dtype to, double v) {
    if (is_int(to)) return trunc(v);
    return ot_round(to, v);
}

/* Every pair of cast dtypes, contiguous and strided, in and out. f64 on CUDA: not implemented. */
static void test_cast_matrix(void** state) {
    (void)state;
    static const int64_t shapes[][2] = {{1, 1}, {1, 3}, {17, 3}, {1, 127}};
    for (size_t i = 0; i < COUNT(kCastDtypes); ++i) {
        for (size_t j = 0; j < COUNT(kCastDtypes); ++j) {
            const aph_dtype from = kCastDtypes[i], to = kCastDtypes[j];
            for (size_t s = 0; s < COUNT(shapes); ++s) {
                const size_t n = (size_t)ot_numel(shapes[s], 2);
                /* f64 sources hold f32 values when going to f16/bf16, so that the reference (which
                 * rounds through f32) rounds once too; test_cast_rounding covers f64 ties. */
                const int via_f32 = from == APH_DTYPE_F64 && (to == APH_DTYPE_F16 || to == APH_DTYPE_BF16);
                double* v = fresh(n, -300.0, 300.0, via_f32 ? APH_DTYPE_F32 : from);
                const int strided_x = s >= 2, strided_o = s == 3;
                aph_tensor* x = input(from, shapes[s], 2, v, strided_x);
                aph_tensor* storage = NULL;
                aph_tensor* out = strided_o ? strided_out(to, shapes[s], 2, &storage) : ot_poisoned(to, shapes[s], 2);
                if (ot_is_cuda() && (from == APH_DTYPE_F64 || to == APH_DTYPE_F64)) {
                    APH_ASSERT_ERR(aph_op_cast(x, out, NULL), APH_ERR_NOT_IMPLEMENTED,
                                   from == APH_DTYPE_F64 ? "not implemented: f64 operations on CUDA (x)"
                                                         : "not implemented: f64 operations on CUDA (out)");
                } else {
                    APH_ASSERT_OK(aph_op_cast(x, out, NULL));
                    double* want = malloc(sizeof(double) * n);
                    assert_non_null(want);
                    for (size_t k = 0; k < n; ++k) want[k] = ref_cast(to, v[k]);
                    double* got = ot_read(out);
                    char what[64];
                    snprintf(what, sizeof what, "cast %s -> %s", aph_dtype_name(from), aph_dtype_name(to));
                    assert_exact(got, want, n, what);
                    if (storage) assert_gaps_intact(storage);
                    free(got);
                    free(want);
                }
                free(v);
                aph_tensor_release(x);
                aph_tensor_release(out);
                aph_tensor_release(storage);
            }
        }
    }
}

/* Casts x (values v[n] in dtype from) to `to` and compares with want exactly. */
static void cast_exact(aph_dtype from, aph_dtype to, const double* v, const double* want, size_t n, const char* what) {
    if (ot_is_cuda() && (from == APH_DTYPE_F64 || to == APH_DTYPE_F64)) return;
    const int64_t sh[] = {(int64_t)n};
    aph_tensor* x = ot_tensor(from, sh, 1, v);
    aph_tensor* out = ot_poisoned(to, sh, 1);
    APH_ASSERT_OK(aph_op_cast(x, out, NULL));
    double* got = ot_read(out);
    assert_exact(got, want, n, what);
    free(got);
    aph_tensor_release(x);
    aph_tensor_release(out);
}

/* Rounding to nearest even at exact ties, and rounding once: a value just above a tie that a
 * first rounding to f32 (or f64) would move onto the tie must still round up. */
static void test_cast_rounding(void** state) {
    (void)state;
    /* f32 -> bf16 (8 significant bits): ties between 1 and 1 + 2^-7, between 1 + 2^-7 and 1 + 2^-6. */
    const double t1 = ldexp(1.0, -8), t2 = ldexp(1.0, -11);
    {
        const double v[] = {1 + t1, 1 + 3 * t1, -(1 + t1), -(1 + 3 * t1), 256 + 1, 256 + 3};
        const double w[] = {1.0, 1 + 4 * t1, -1.0, -(1 + 4 * t1), 256, 256 + 4};
        cast_exact(APH_DTYPE_F32, APH_DTYPE_BF16, v, w, 6, "f32 -> bf16 ties");
        cast_exact(APH_DTYPE_F64, APH_DTYPE_BF16, v, w, 6, "f64 -> bf16 ties");
    }
    /* f32 -> f16 (11 bits): ties, the subnormal tie at half the smallest subnormal (2^-25), and
     * overflow at 65520 (65504 + half a step). */
    {
        const double v[] = {1 + t2, 1 + 3 * t2, 2049, 2051, ldexp(1.0, -25), ldexp(3.0, -25), 65519, 65520, -65520};
        const double w[] = {1.0, 1 + 4 * t2, 2048, 2052, 0.0, ldexp(1.0, -23), 65504, INFINITY, -INFINITY};
        cast_exact(APH_DTYPE_F32, APH_DTYPE_F16, v, w, 9, "f32 -> f16 ties");
        cast_exact(APH_DTYPE_F64, APH_DTYPE_F16, v, w, 9, "f64 -> f16 ties");
    }
    /* f64 just above a tie: rounding to f32 first would land on the tie and go to even (down). */
    {
        const double v16[] = {1 + t2 + ldexp(1.0, -40)}, w16[] = {1 + 2 * t2};
        cast_exact(APH_DTYPE_F64, APH_DTYPE_F16, v16, w16, 1, "f64 -> f16 rounds once");
        const double vb[] = {1 + t1 + ldexp(1.0, -40)}, wb[] = {1 + 2 * t1};
        cast_exact(APH_DTYPE_F64, APH_DTYPE_BF16, vb, wb, 1, "f64 -> bf16 rounds once");
        /* f64 -> f32 ties: 1 + 2^-24 is halfway between 1 and 1 + 2^-23. */
        const double vf[] = {1 + ldexp(1.0, -24), 1 + ldexp(3.0, -24)}, wf[] = {1.0, 1 + ldexp(1.0, -22)};
        cast_exact(APH_DTYPE_F64, APH_DTYPE_F32, vf, wf, 2, "f64 -> f32 ties");
    }
    /* Integers to floats: ties, and values just above a tie that an intermediate f32 (or f64)
     * would round onto it. */
    {
        /* 2^24 + 1 and 2^24 + 3 are ties in f32; 2^30 + 2^22 + 1 is near 2^30 + 2^22 (f32 step 128). */
        const double v[] = {16777217.0, 16777219.0, -16777217.0, 1073741824.0 + 4194304.0 + 1.0};
        const double wf[] = {16777216.0, 16777220.0, -16777216.0, 1073741824.0 + 4194304.0};
        cast_exact(APH_DTYPE_I32, APH_DTYPE_F32, v, wf, 4, "i32 -> f32");
        cast_exact(APH_DTYPE_I32, APH_DTYPE_F64, v, v, 4, "i32 -> f64");
        cast_exact(APH_DTYPE_I64, APH_DTYPE_F32, v, wf, 4, "i64 -> f32");
        /* bf16 (8 bits): 2^30 + 2^22 + 1 is just above the tie 2^30 + 2^22: up to 2^30 + 2^23. */
        const double vb[] = {1073741824.0 + 4194304.0 + 1.0, 1073741824.0 + 4194304.0, 257.0, 259.0,
                             1073741824.0 + 12582912.0};
        const double wb[] = {1073741824.0 + 8388608.0, 1073741824.0, 256.0, 260.0, 1073741824.0 + 16777216.0};
        cast_exact(APH_DTYPE_I32, APH_DTYPE_BF16, vb, wb, 5, "i32 -> bf16");
        cast_exact(APH_DTYPE_I64, APH_DTYPE_BF16, vb, wb, 5, "i64 -> bf16");
        /* f16: 2049 ties to 2048, 2051 to 2052, 65519 -> 65504, 65520 -> inf, 4099 (above the
         * tie 4098 between 4096 and 4100) -> 4100. */
        const double vh[] = {2049, 2051, 65519, 65520, 4099, -65520, 100000};
        const double wh[] = {2048, 2052, 65504, INFINITY, 4100, -INFINITY, INFINITY};
        cast_exact(APH_DTYPE_I32, APH_DTYPE_F16, vh, wh, 7, "i32 -> f16");
        cast_exact(APH_DTYPE_I64, APH_DTYPE_F16, vh, wh, 7, "i64 -> f16");
    }
}

/* i64 values beyond 2^53 (not exact in a double, so they are written and read as raw bits). */
static aph_tensor* i64_tensor(const int64_t* v, size_t n) {
    const int64_t sh[] = {(int64_t)n};
    aph_tensor* t = ot_tensor(APH_DTYPE_I64, sh, 1, NULL);
    APH_ASSERT_OK(aph_tensor_copy_from_host(t, v, n * sizeof(int64_t)));
    return t;
}

static void read_i64(const aph_tensor* t, int64_t* v, size_t n) {
    APH_ASSERT_OK(aph_tensor_to_host(t, v, n * sizeof(int64_t)));
}

/* i64 -> floats rounds once from the full 64-bit value; i64 -> i32 saturates. */
static void test_cast_i64_exact(void** state) {
    (void)state;
    const int64_t p60 = (int64_t)1 << 60, p53 = (int64_t)1 << 53;
    /* 2^60 + 2^52 + 1: just above the bf16 tie (step 2^53 there); a first rounding to f64 (step
     * 2^8) would land on the tie. 2^53 + 1 ties to 2^53 in f64; 2^53 + 3 goes up to 2^53 + 4. */
    const int64_t v[] = {p60 + (p53 >> 1) + 1, p53 + 1, p53 + 3, INT64_MAX, INT64_MIN, -(p60 + (p53 >> 1) + 1)};
    aph_tensor* x = i64_tensor(v, 6);
    const int64_t sh[] = {6};
    aph_tensor* o = ot_poisoned(APH_DTYPE_BF16, sh, 1);
    APH_ASSERT_OK(aph_op_cast(x, o, NULL));
    double* got = ot_read(o);
    const double wb[] = {
        ldexp(1.0, 60) + ldexp(1.0, 53),   ldexp(1.0, 53), ldexp(1.0, 53), ldexp(1.0, 63), -ldexp(1.0, 63),
        -(ldexp(1.0, 60) + ldexp(1.0, 53))};
    assert_exact(got, wb, 6, "i64 -> bf16");
    free(got);
    aph_tensor_release(o);
    if (!ot_is_cuda()) {
        o = ot_poisoned(APH_DTYPE_F64, sh, 1);
        APH_ASSERT_OK(aph_op_cast(x, o, NULL));
        got = ot_read(o);
        const double wd[] = {
            ldexp(1.0, 60) + ldexp(1.0, 52),   ldexp(1.0, 53), ldexp(1.0, 53) + 4, ldexp(1.0, 63), -ldexp(1.0, 63),
            -(ldexp(1.0, 60) + ldexp(1.0, 52))};
        assert_exact(got, wd, 6, "i64 -> f64");
        free(got);
        aph_tensor_release(o);
    }
    /* i64 -> i32: saturating. */
    const int64_t vi[] = {INT64_MAX, INT64_MIN, 2147483648LL, -2147483649LL, 2147483647LL, -2147483648LL, -5};
    aph_tensor* xi = i64_tensor(vi, 7);
    const int64_t sh7[] = {7};
    o = ot_poisoned(APH_DTYPE_I32, sh7, 1);
    APH_ASSERT_OK(aph_op_cast(xi, o, NULL));
    got = ot_read(o);
    const double wi[] = {2147483647.0, -2147483648.0, 2147483647.0, -2147483648.0, 2147483647.0, -2147483648.0, -5.0};
    assert_exact(got, wi, 7, "i64 -> i32");
    free(got);
    aph_tensor_release(o);
    /* i32 -> i64 widens exactly; i64 -> i64 is a copy. */
    aph_tensor* back = ot_poisoned(APH_DTYPE_I64, sh7, 1);
    aph_tensor* i32 = ot_tensor(APH_DTYPE_I32, sh7, 1, wi);
    APH_ASSERT_OK(aph_op_cast(i32, back, NULL));
    int64_t r[7];
    read_i64(back, r, 7);
    for (int i = 0; i < 7; ++i) assert_int_equal(r[i], (int64_t)wi[i]);
    APH_ASSERT_OK(aph_op_cast(x, x, NULL));
    aph_tensor* copy = ot_poisoned(APH_DTYPE_I64, sh, 1);
    APH_ASSERT_OK(aph_op_cast(x, copy, NULL));
    int64_t c[6];
    read_i64(copy, c, 6);
    for (int i = 0; i < 6; ++i) assert_int_equal(c[i], v[i]);
    aph_tensor_release(copy);
    aph_tensor_release(i32);
    aph_tensor_release(back);
    aph_tensor_release(xi);
    aph_tensor_release(x);
}

/* Floats to integers: toward zero, saturating, NaN -> 0, infinities to the limits. */
static void test_cast_saturation(void** state) {
    (void)state;
    aph_dtype srcs[4];
    const size_t ns = ot_float_dtypes(srcs);
    const double v[] = {NAN, INFINITY, -INFINITY, 3e10, -3e10, 2.75, -2.75, -0.5, 0.5, 1e20, -1e20, 60000.0};
    const int64_t sh[] = {12};
    for (size_t s = 0; s < ns; ++s) {
        const aph_dtype from = srcs[s];
        double vr[12];
        for (int i = 0; i < 12; ++i) vr[i] = ot_round(from, v[i]);
        aph_tensor* x = ot_tensor(from, sh, 1, vr);
        /* i32 */
        aph_tensor* o = ot_poisoned(APH_DTYPE_I32, sh, 1);
        APH_ASSERT_OK(aph_op_cast(x, o, NULL));
        double* got = ot_read(o);
        double w[12];
        for (int i = 0; i < 12; ++i) {
            const double t = trunc(vr[i]);
            w[i] = isnan(vr[i]) ? 0.0 : t > 2147483647.0 ? 2147483647.0 : t < -2147483648.0 ? -2147483648.0 : t;
        }
        char what[64];
        snprintf(what, sizeof what, "%s -> i32", aph_dtype_name(from));
        assert_exact(got, w, 12, what);
        free(got);
        aph_tensor_release(o);
        /* i64, read as raw bits */
        o = ot_poisoned(APH_DTYPE_I64, sh, 1);
        APH_ASSERT_OK(aph_op_cast(x, o, NULL));
        int64_t r[12];
        read_i64(o, r, 12);
        for (int i = 0; i < 12; ++i) {
            int64_t want;
            if (isnan(vr[i])) want = 0;
            else if (vr[i] >= 9223372036854775808.0)
                want = INT64_MAX;
            else if (vr[i] < -9223372036854775808.0)
                want = INT64_MIN;
            else
                want = (int64_t)vr[i];
            if (r[i] != want) {
                fail_msg("%s -> i64: element %d (%g): got %lld, want %lld", aph_dtype_name(from), i, vr[i],
                         (long long)r[i], (long long)want);
            }
        }
        aph_tensor_release(o);
        aph_tensor_release(x);
    }
}

/* Same dtype: a plain strided copy (NaN payloads and all), in place a no-op. */
static void test_cast_same_dtype(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t sh[] = {3, 17};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        double* v = fresh(51, -5.0, 5.0, dt);
        aph_tensor* x = ot_tensor_strided(dt, sh, 2, v);
        aph_tensor* storage = NULL;
        aph_tensor* out = strided_out(dt, sh, 2, &storage);
        APH_ASSERT_OK(aph_op_cast(x, out, NULL));
        double* got = ot_read(out);
        assert_exact(got, v, 51, "same-dtype cast");
        assert_gaps_intact(storage);
        free(got);
        APH_ASSERT_OK(aph_op_cast(x, x, NULL));
        got = ot_read(x);
        assert_exact(got, v, 51, "in-place same-dtype cast");
        free(got);
        free(v);
        aph_tensor_release(x);
        aph_tensor_release(out);
        aph_tensor_release(storage);
    }
}

static void test_cast_zero_size(void** state) {
    (void)state;
    const int64_t z[] = {4, 0};
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, z, 2, NULL);
    aph_tensor* o = ot_tensor(APH_DTYPE_I32, z, 2, NULL);
    APH_ASSERT_OK(aph_op_cast(x, o, NULL));
    aph_tensor_release(x);
    aph_tensor_release(o);
}

/* ---- views the index simplification cannot flatten, and sizes that take the parallel path */

/* x [5, 7, 3] permuted to [3, 5, 7]: no two dimensions merge, so the kernels walk three. */
static void test_permuted_input(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t base[] = {5, 7, 3}, perm[] = {2, 0, 1}, sh[] = {3, 5, 7};
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        double* v = fresh(105, -3.0, 3.0, dt);
        aph_tensor* x0 = ot_tensor(dt, base, 3, v);
        aph_tensor* x = NULL;
        APH_ASSERT_OK(aph_tensor_permute(x0, perm, 3, &x));
        /* element (i, j, k) of x is v[(j·7 + k)·3 + i] */
        double src[105];
        for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 5; ++j) {
                for (int k = 0; k < 7; ++k) src[(i * 5 + j) * 7 + k] = v[(j * 7 + k) * 3 + i];
            }
        }
        double want[105];
        aph_tensor* storage = NULL;
        aph_tensor* out = strided_out(dt, sh, 3, &storage);
        APH_ASSERT_OK(aph_op_unary(APH_UNARY_TANH, x, out, NULL));
        for (int i = 0; i < 105; ++i) want[i] = ref_unary(APH_UNARY_TANH, src[i]);
        double* got = ot_read(out);
        ot_assert_close(got, want, 105, dt, 1.0, "unary over a permuted view");
        assert_gaps_intact(storage);
        free(got);
        aph_tensor_release(out);
        aph_tensor_release(storage);

        aph_tensor* oi = ot_poisoned(APH_DTYPE_I32, sh, 3);
        APH_ASSERT_OK(aph_op_cast(x, oi, NULL));
        for (int i = 0; i < 105; ++i) want[i] = trunc(src[i]);
        got = ot_read(oi);
        assert_exact(got, want, 105, "cast over a permuted view");
        free(got);
        aph_tensor_release(oi);

        const aph_dtype other = dt == APH_DTYPE_F32 ? APH_DTYPE_BF16 : APH_DTYPE_F32;
        aph_tensor* of = ot_poisoned(other, sh, 3);
        APH_ASSERT_OK(aph_op_cast(x, of, NULL));
        for (int i = 0; i < 105; ++i) want[i] = ot_round(other, src[i]);
        got = ot_read(of);
        assert_exact(got, want, 105, "float cast over a permuted view");
        free(got);
        aph_tensor_release(of);
        free(v);
        aph_tensor_release(x0);
        aph_tensor_release(x);
    }
}

/* Half a million elements: rows longer than a kernel block and enough work for the CPU kernels
 * to split it over threads; a row broadcast, a transposed operand and a strided out. */
static void test_large(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    const int64_t r = 513, c = 1031, sh[] = {513, 1031}, tsh[] = {1031, 513}, row[] = {1031};
    const size_t n = (size_t)(r * c);
    double* va = fresh(n, -2.0, 2.0, dt);
    double* vt = fresh(n, -2.0, 2.0, dt);
    double* vb = fresh_signed((size_t)c, dt);
    aph_tensor* a = ot_tensor(dt, sh, 2, va);
    aph_tensor* t0 = ot_tensor(dt, tsh, 2, vt);
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(t0, 0, 1, &t));
    aph_tensor* b = ot_tensor(dt, row, 1, vb);
    aph_tensor* o = ot_poisoned(dt, sh, 2);
    double* want = malloc(sizeof(double) * n);
    assert_non_null(want);

    APH_ASSERT_OK(aph_op_binary(APH_BINARY_DIV, a, b, o, NULL));
    for (size_t i = 0; i < n; ++i) want[i] = va[i] / vb[i % (size_t)c];
    double* got = ot_read(o);
    ot_assert_close(got, want, n, dt, 1.0, "large / row");
    free(got);

    APH_ASSERT_OK(aph_op_binary(APH_BINARY_MAXIMUM, a, t, o, NULL));
    for (size_t i = 0; i < n; ++i) {
        const size_t y = i / (size_t)c, x = i % (size_t)c;
        want[i] = ref_binary(APH_BINARY_MAXIMUM, va[i], vt[x * (size_t)r + y]);
    }
    got = ot_read(o);
    ot_assert_close(got, want, n, dt, 1.0, "large maximum with a transposed operand");
    free(got);

    aph_tensor* storage = NULL;
    aph_tensor* so = strided_out(dt, sh, 2, &storage);
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_SIGMOID, a, so, NULL));
    for (size_t i = 0; i < n; ++i) want[i] = ref_unary(APH_UNARY_SIGMOID, va[i]);
    got = ot_read(so);
    ot_assert_close(got, want, n, dt, 1.0, "large sigmoid into a strided out");
    assert_gaps_intact(storage);
    free(got);

    APH_ASSERT_OK(aph_op_bias_activation(a, b, APH_ACTIVATION_GELU_TANH, o, NULL));
    for (size_t i = 0; i < n; ++i) want[i] = ref_activation(APH_ACTIVATION_GELU_TANH, va[i] + vb[i % (size_t)c]);
    got = ot_read(o);
    ot_assert_close(got, want, n, dt, 1.0, "large bias_activation");
    free(got);

    aph_tensor* h = ot_poisoned(APH_DTYPE_F16, sh, 2);
    APH_ASSERT_OK(aph_op_cast(t, h, NULL));
    for (size_t i = 0; i < n; ++i) want[i] = ot_round(APH_DTYPE_F16, vt[(i % (size_t)c) * (size_t)r + i / (size_t)c]);
    got = ot_read(h);
    assert_exact(got, want, n, "large cast of a transposed view");
    free(got);

    free(want);
    free(va);
    free(vt);
    free(vb);
    aph_tensor_release(a);
    aph_tensor_release(t0);
    aph_tensor_release(t);
    aph_tensor_release(b);
    aph_tensor_release(o);
    aph_tensor_release(so);
    aph_tensor_release(storage);
    aph_tensor_release(h);
}

/* ---- a custom stream: every operation queued on it, read after synchronising it */

static void test_custom_stream(void** state) {
    (void)state;
    aph_stream* st = NULL;
    APH_ASSERT_OK(aph_stream_create(ot_device(), &st));
    const aph_dtype dt = APH_DTYPE_F32;
    const int64_t sh[] = {33, 65}, row[] = {65};
    const size_t n = 33 * 65;
    double* va = fresh(n, -2.0, 2.0, dt);
    double* vb = fresh_signed(65, dt);
    aph_tensor* a = ot_tensor(dt, sh, 2, va);
    aph_tensor* b = ot_tensor(dt, row, 1, vb);
    aph_tensor* o = ot_poisoned(dt, sh, 2);
    aph_tensor* h = ot_poisoned(APH_DTYPE_BF16, sh, 2);
    /* o = gelu(tanh(a + b) * 3 + b) in bf16. */
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, a, b, o, st));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_TANH, o, o, st));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MUL, o, 3.0, o, st));
    APH_ASSERT_OK(aph_op_bias_activation(o, b, APH_ACTIVATION_GELU, o, st));
    APH_ASSERT_OK(aph_op_cast(o, h, st));
    APH_ASSERT_OK(aph_stream_synchronize(st));
    double* want = malloc(sizeof(double) * n);
    assert_non_null(want);
    for (size_t i = 0; i < n; ++i) {
        const double y = (double)(float)(va[i] + vb[i % 65]);
        const double z = (double)(float)(3.0 * (double)(float)tanh(y));
        want[i] = ot_round(APH_DTYPE_BF16, ref_activation(APH_ACTIVATION_GELU, z + vb[i % 65]));
    }
    double* got = ot_read(h);
    ot_assert_close(got, want, n, APH_DTYPE_BF16, 1.0, "on a custom stream");
    free(got);
    free(want);
    free(va);
    free(vb);
    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(o);
    aph_tensor_release(h);
    aph_stream_release(st);
}

/* ---- errors: each leaves the poisoned out as it was */

#define IA APH_ERR_INVALID_ARGUMENT

/* t imported again through DLPack with the READ_ONLY flag (a read-only view of t's memory). */
static aph_tensor* read_only_view(aph_tensor* t) {
    struct DLManagedTensorVersioned* m = NULL;
    APH_ASSERT_OK(aph_tensor_to_dlpack(t, &m));
    m->flags |= DLPACK_FLAG_BITMASK_READ_ONLY;
    aph_tensor* r = NULL;
    APH_ASSERT_OK(aph_tensor_from_dlpack(m, &r));
    assert_int_equal(aph_tensor_is_read_only(r), 1);
    return r;
}

static void test_errors_binary(void** state) {
    (void)state;
    const int64_t s23[] = {2, 3}, s32[] = {3, 2}, s3[] = {3}, s34[] = {3, 4}, s5[] = {5}, s13[] = {1, 3},
                  s33[] = {3, 3};
    double v6[6];
    ot_fill(v6, 6, -1.0, 1.0);
    aph_tensor* a = ot_tensor(APH_DTYPE_F32, s23, 2, v6);
    aph_tensor* b = ot_tensor(APH_DTYPE_F32, s3, 1, v6);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, s23, 2);

    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, NULL, b, out, NULL), IA, "invalid argument: a must not be NULL");
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, NULL, out, NULL), IA, "invalid argument: b must not be NULL");
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, NULL, NULL), IA, "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_binary_scalar(APH_BINARY_ADD, NULL, 1.0, out, NULL), IA,
                   "invalid argument: a must not be NULL");
    APH_ASSERT_ERR(aph_op_binary_scalar(APH_BINARY_ADD, a, 1.0, NULL, NULL), IA,
                   "invalid argument: out must not be NULL");
    /* Enum values outside aph_binary_op. */
    APH_ASSERT_ERR(aph_op_binary((aph_binary_op)6, a, b, out, NULL), IA,
                   "invalid argument: op 6 is not an aph_binary_op");
    APH_ASSERT_ERR(aph_op_binary((aph_binary_op)-1, a, b, out, NULL), IA,
                   "invalid argument: op -1 is not an aph_binary_op");
    APH_ASSERT_ERR(aph_op_binary_scalar((aph_binary_op)99, a, 1.0, out, NULL), IA,
                   "invalid argument: op 99 is not an aph_binary_op");
    /* Dtypes: b and out must have a's dtype; a must be a float. */
    aph_tensor* b16 = ot_tensor(APH_DTYPE_F16, s3, 1, v6);
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b16, out, NULL), IA,
                   "invalid argument: b has dtype f16; expected f32");
    aph_tensor* o16 = ot_poisoned(APH_DTYPE_F16, s23, 2);
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, o16, NULL), IA,
                   "invalid argument: out has dtype f16; this operation writes f32");
    APH_ASSERT_ERR(aph_op_binary_scalar(APH_BINARY_ADD, a, 1.0, o16, NULL), IA,
                   "invalid argument: out has dtype f16; this operation writes f32");
    assert_all_nan(o16);
    aph_tensor* ai = ot_tensor(APH_DTYPE_I32, s23, 2, v6);
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, ai, b, out, NULL), IA,
                   "invalid argument: a has dtype i32; expected f32, f16, bf16 or f64");
    if (ot_is_cuda()) {
        aph_tensor* a64 = ot_tensor(APH_DTYPE_F64, s23, 2, v6);
        aph_tensor* o64 = ot_poisoned(APH_DTYPE_F64, s23, 2);
        APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a64, a64, o64, NULL), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: f64 operations on CUDA (a)");
        aph_tensor_release(a64);
        aph_tensor_release(o64);
    }
    /* Shapes: inputs that do not broadcast; an out that is not the broadcast shape. */
    aph_tensor* a34 = ot_tensor(APH_DTYPE_F32, s34, 2, NULL);
    aph_tensor* b5 = ot_tensor(APH_DTYPE_F32, s5, 1, NULL);
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a34, b5, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: shapes [3, 4] and [5] do not broadcast (dimension 1: 4 vs 5)");
    aph_tensor* o32 = ot_poisoned(APH_DTYPE_F32, s32, 2);
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, o32, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    APH_ASSERT_ERR(aph_op_binary_scalar(APH_BINARY_ADD, a, 2.0, o32, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    assert_all_nan(o32);
    /* b [3] cannot be out for a [2, 3] + b (out must have the broadcast shape). */
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, b, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3]");
    /* A broadcast out and a read-only out. */
    aph_tensor* o13 = ot_poisoned(APH_DTYPE_F32, s13, 2);
    aph_tensor* ob = NULL;
    APH_ASSERT_OK(aph_tensor_expand(o13, s23, 2, &ob));
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, ob, NULL), IA,
                   "invalid argument: out has a broadcast dimension (dim 0: size 2, stride 0); write into a "
                   "contiguous tensor instead");
    assert_all_nan(o13);
    aph_tensor* ro = read_only_view(out);
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, ro, NULL), IA,
                   "invalid argument: out is read-only (memory-mapped weights or a read-only DLPack import)");
    /* out overlapping an input other than exactly (a transposed view of a). */
    aph_tensor* sq = ot_tensor(APH_DTYPE_F32, s33, 2, NULL);
    aph_tensor* sqt = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(sq, 0, 1, &sqt));
    APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, sq, sq, sqt, NULL), IA,
                   "invalid argument: out overlaps a in memory (only exactly the same view is allowed: in place)");
    APH_ASSERT_ERR(aph_op_binary_scalar(APH_BINARY_ADD, sqt, 1.0, sq, NULL), IA,
                   "invalid argument: out overlaps a in memory (only exactly the same view is allowed: in place)");
    /* Devices. */
    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* c = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, s3, 1, &c));
        APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, c, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor* co = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, s23, 2, &co));
        APH_ASSERT_ERR(aph_op_binary_scalar(APH_BINARY_ADD, a, 1.0, co, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        /* A stream of another device. */
        APH_ASSERT_ERR(aph_op_binary(APH_BINARY_ADD, a, b, out, aph_device_default_stream(cpu)),
                       APH_ERR_DEVICE_MISMATCH, "device mismatch: tensors must be on the same device");
        aph_tensor_release(c);
        aph_tensor_release(co);
        aph_device_release(cpu);
    }
    assert_all_nan(out);

    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(out);
    aph_tensor_release(b16);
    aph_tensor_release(o16);
    aph_tensor_release(ai);
    aph_tensor_release(a34);
    aph_tensor_release(b5);
    aph_tensor_release(o32);
    aph_tensor_release(o13);
    aph_tensor_release(ob);
    aph_tensor_release(ro);
    aph_tensor_release(sq);
    aph_tensor_release(sqt);
}

static void test_errors_unary_bias(void** state) {
    (void)state;
    const int64_t s23[] = {2, 3}, s32[] = {3, 2}, s3[] = {3}, s4[] = {4}, s23b[] = {2, 3};
    double v6[6];
    ot_fill(v6, 6, 0.5, 1.0);
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, s23, 2, v6);
    aph_tensor* bias = ot_tensor(APH_DTYPE_F32, s3, 1, v6);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, s23, 2);

    /* unary */
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_EXP, NULL, out, NULL), IA, "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_EXP, x, NULL, NULL), IA, "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_unary((aph_unary_op)12, x, out, NULL), IA, "invalid argument: op 12 is not an aph_unary_op");
    APH_ASSERT_ERR(aph_op_unary((aph_unary_op)-3, x, out, NULL), IA, "invalid argument: op -3 is not an aph_unary_op");
    aph_tensor* o16 = ot_poisoned(APH_DTYPE_BF16, s23, 2);
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_EXP, x, o16, NULL), IA,
                   "invalid argument: out has dtype bf16; this operation writes f32");
    aph_tensor* xi = ot_tensor(APH_DTYPE_I64, s23, 2, v6);
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_EXP, xi, out, NULL), IA,
                   "invalid argument: x has dtype i64; expected f32, f16, bf16 or f64");
    aph_tensor* o32 = ot_poisoned(APH_DTYPE_F32, s32, 2);
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_EXP, x, o32, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    aph_tensor* ro = read_only_view(out);
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_EXP, x, ro, NULL), IA,
                   "invalid argument: out is read-only (memory-mapped weights or a read-only DLPack import)");
    /* unary in place on a read-only tensor: refused too. */
    APH_ASSERT_ERR(aph_op_unary(APH_UNARY_NEG, ro, ro, NULL), IA,
                   "invalid argument: out is read-only (memory-mapped weights or a read-only DLPack import)");

    /* bias_activation */
    APH_ASSERT_ERR(aph_op_bias_activation(NULL, bias, APH_ACTIVATION_RELU, out, NULL), IA,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_bias_activation(x, NULL, APH_ACTIVATION_RELU, out, NULL), IA,
                   "invalid argument: bias must not be NULL");
    APH_ASSERT_ERR(aph_op_bias_activation(x, bias, APH_ACTIVATION_RELU, NULL, NULL), IA,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_bias_activation(x, bias, (aph_activation)6, out, NULL), IA,
                   "invalid argument: activation 6 is not an aph_activation");
    APH_ASSERT_ERR(aph_op_bias_activation(x, bias, (aph_activation)-1, out, NULL), IA,
                   "invalid argument: activation -1 is not an aph_activation");
    aph_tensor* b16 = ot_tensor(APH_DTYPE_F16, s3, 1, v6);
    APH_ASSERT_ERR(aph_op_bias_activation(x, b16, APH_ACTIVATION_RELU, out, NULL), IA,
                   "invalid argument: bias has dtype f16; expected f32");
    APH_ASSERT_ERR(aph_op_bias_activation(x, bias, APH_ACTIVATION_RELU, o16, NULL), IA,
                   "invalid argument: out has dtype bf16; this operation writes f32");
    aph_tensor* b4 = ot_tensor(APH_DTYPE_F32, s4, 1, NULL);
    APH_ASSERT_ERR(aph_op_bias_activation(x, b4, APH_ACTIVATION_RELU, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: bias [4] does not match the last dimension of x [2, 3] (bias must be [N] "
                   "for x [..., N])");
    aph_tensor* b2d = ot_tensor(APH_DTYPE_F32, s23b, 2, NULL);
    APH_ASSERT_ERR(aph_op_bias_activation(x, b2d, APH_ACTIVATION_RELU, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: bias [2, 3] does not match the last dimension of x [2, 3] (bias must be "
                   "[N] for x [..., N])");
    aph_tensor* x0 = ot_tensor(APH_DTYPE_F32, NULL, 0, v6);
    APH_ASSERT_ERR(aph_op_bias_activation(x0, bias, APH_ACTIVATION_RELU, x0, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: bias [3] does not match the last dimension of x [] (bias must be [N] for "
                   "x [..., N])");
    APH_ASSERT_ERR(aph_op_bias_activation(x, bias, APH_ACTIVATION_RELU, o32, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    APH_ASSERT_ERR(aph_op_bias_activation(x, bias, APH_ACTIVATION_RELU, ro, NULL), IA,
                   "invalid argument: out is read-only (memory-mapped weights or a read-only DLPack import)");
    /* out overlapping bias (bias is never an allowed in-place target). */
    aph_tensor* row = ot_tensor(APH_DTYPE_F32, s3, 1, v6);
    APH_ASSERT_ERR(aph_op_bias_activation(row, row, APH_ACTIVATION_RELU, row, NULL), IA,
                   "invalid argument: out overlaps bias in memory");
    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* c = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, s3, 1, &c));
        APH_ASSERT_ERR(aph_op_bias_activation(x, c, APH_ACTIVATION_RELU, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor* cx = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, s23, 2, &cx));
        APH_ASSERT_ERR(aph_op_unary(APH_UNARY_EXP, cx, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(c);
        aph_tensor_release(cx);
        aph_device_release(cpu);
    }
    assert_all_nan(out);
    assert_all_nan(o16);
    assert_all_nan(o32);

    aph_tensor_release(x);
    aph_tensor_release(bias);
    aph_tensor_release(out);
    aph_tensor_release(o16);
    aph_tensor_release(xi);
    aph_tensor_release(o32);
    aph_tensor_release(ro);
    aph_tensor_release(b16);
    aph_tensor_release(b4);
    aph_tensor_release(b2d);
    aph_tensor_release(x0);
    aph_tensor_release(row);
}

static void test_errors_cast(void** state) {
    (void)state;
    const int64_t s23[] = {2, 3}, s32[] = {3, 2}, s13[] = {1, 3};
    double v6[6];
    ot_fill(v6, 6, -1.0, 1.0);
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, s23, 2, v6);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F16, s23, 2);
    APH_ASSERT_ERR(aph_op_cast(NULL, out, NULL), IA, "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_cast(x, NULL, NULL), IA, "invalid argument: out must not be NULL");
    aph_tensor* xu8 = ot_tensor(APH_DTYPE_U8, s23, 2, NULL);
    APH_ASSERT_ERR(aph_op_cast(xu8, out, NULL), IA,
                   "invalid argument: x has dtype u8; expected f64, f32, f16, bf16, i32 or i64");
    aph_tensor* oi8 = ot_tensor(APH_DTYPE_I8, s23, 2, NULL);
    APH_ASSERT_ERR(aph_op_cast(x, oi8, NULL), IA,
                   "invalid argument: out has dtype i8; expected f64, f32, f16, bf16, i32 or i64");
    aph_tensor* o32 = ot_poisoned(APH_DTYPE_F16, s32, 2);
    APH_ASSERT_ERR(aph_op_cast(x, o32, NULL), APH_ERR_SHAPE_MISMATCH, "shape mismatch: expected [2, 3], got [3, 2]");
    aph_tensor* o13 = ot_poisoned(APH_DTYPE_F16, s13, 2);
    aph_tensor* ob = NULL;
    APH_ASSERT_OK(aph_tensor_expand(o13, s23, 2, &ob));
    APH_ASSERT_ERR(aph_op_cast(x, ob, NULL), IA,
                   "invalid argument: out has a broadcast dimension (dim 0: size 2, stride 0); write into a "
                   "contiguous tensor instead");
    aph_tensor* ro = read_only_view(out);
    APH_ASSERT_ERR(aph_op_cast(x, ro, NULL), IA,
                   "invalid argument: out is read-only (memory-mapped weights or a read-only DLPack import)");
    /* In place across dtypes is an overlap (the same bytes as another type). */
    aph_tensor* xi = ot_tensor(APH_DTYPE_I32, s23, 2, v6);
    aph_tensor* xf = NULL;
    {
        struct DLManagedTensorVersioned* m = NULL;
        APH_ASSERT_OK(aph_tensor_to_dlpack(xi, &m));
        m->dl_tensor.dtype.code = kDLFloat; /* the same memory seen as f32 */
        APH_ASSERT_OK(aph_tensor_from_dlpack(m, &xf));
    }
    APH_ASSERT_ERR(aph_op_cast(xi, xf, NULL), IA,
                   "invalid argument: out overlaps x in memory (only exactly the same view is allowed: in place)");
    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* c = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F16, s23, 2, &c));
        APH_ASSERT_ERR(aph_op_cast(x, c, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(c);
        aph_device_release(cpu);
    }
    assert_all_nan(out);
    assert_all_nan(o32);
    assert_all_nan(o13);
    aph_tensor_release(x);
    aph_tensor_release(out);
    aph_tensor_release(xu8);
    aph_tensor_release(oi8);
    aph_tensor_release(o32);
    aph_tensor_release(o13);
    aph_tensor_release(ob);
    aph_tensor_release(ro);
    aph_tensor_release(xi);
    aph_tensor_release(xf);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_ops),        cmocka_unit_test(test_binary_broadcast),
        cmocka_unit_test(test_binary_strided),    cmocka_unit_test(test_binary_in_place),
        cmocka_unit_test(test_binary_zero_size),  cmocka_unit_test(test_binary_nan),
        cmocka_unit_test(test_binary_scalar),     cmocka_unit_test(test_unary_ops),
        cmocka_unit_test(test_unary_extremes),    cmocka_unit_test(test_unary_zero_size),
        cmocka_unit_test(test_bias_activation),   cmocka_unit_test(test_bias_activation_views),
        cmocka_unit_test(test_cast_matrix),       cmocka_unit_test(test_cast_rounding),
        cmocka_unit_test(test_cast_i64_exact),    cmocka_unit_test(test_cast_saturation),
        cmocka_unit_test(test_cast_same_dtype),   cmocka_unit_test(test_cast_zero_size),
        cmocka_unit_test(test_permuted_input),    cmocka_unit_test(test_large),
        cmocka_unit_test(test_custom_stream),     cmocka_unit_test(test_errors_binary),
        cmocka_unit_test(test_errors_unary_bias), cmocka_unit_test(test_errors_cast),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
