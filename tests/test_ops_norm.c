/* The row-wise and reduction operations: aph_op_softmax, aph_op_log_softmax,
 * aph_op_layer_norm, aph_op_rms_norm, aph_op_reduce and aph_op_argmax, against float64
 * references computed here from the rounded inputs, on the device under test
 * (ops_test_util.h). Row lengths 1, 3, 17, 33 and 1000 take the CUDA warp-per-row path, 4097 the
 * block-per-row path. */
#include "ops_test_util.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* Random values in [lo, hi) rounded to dtype (so references see what the tensor stores) and a
 * tensor holding them, contiguous or a strided view. */
static double* random_values(aph_dtype dtype, int64_t n, double lo, double hi) {
    double* v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(v);
    ot_fill(v, (size_t)n, lo, hi);
    ot_round_all(dtype, v, (size_t)n);
    return v;
}

static aph_tensor* make(aph_dtype dtype, const int64_t* shape, size_t ndim, const double* v, int strided) {
    return strided ? ot_tensor_strided(dtype, shape, ndim, v) : ot_tensor(dtype, shape, ndim, v);
}

/* An output: poisoned (NaN) and contiguous, or a poisoned strided view. */
static aph_tensor* make_out(aph_dtype dtype, const int64_t* shape, size_t ndim, int strided) {
    if (!strided) return ot_poisoned(dtype, shape, ndim);
    const int64_t n = ot_numel(shape, ndim);
    double* nan = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(nan);
    for (int64_t i = 0; i < n; ++i) nan[i] = NAN;
    aph_tensor* t = ot_tensor_strided(dtype, shape, ndim, nan);
    free(nan);
    return t;
}

/* Every element of t is NaN (a poisoned output nothing wrote). */
static void assert_all_nan(const aph_tensor* t) {
    double* v = ot_read(t);
    const int64_t n = aph_tensor_numel(t);
    for (int64_t i = 0; i < n; ++i) {
        if (!isnan(v[i])) fail_msg("element %lld was written: %g", (long long)i, v[i]);
    }
    free(v);
}

static const int64_t kLengths[] = {1, 3, 17, 33, 1000, 4097};
#define N_LENGTHS (sizeof kLengths / sizeof kLengths[0])

/* ---- references ---------------------------------------------------------------------------- */

static void softmax_ref(const double* x, double* y, int64_t rows, int64_t n, int log_) {
    for (int64_t r = 0; r < rows; ++r) {
        const double* xr = x + r * n;
        double* yr = y + r * n;
        double m = -INFINITY;
        for (int64_t j = 0; j < n; ++j) m = xr[j] > m ? xr[j] : m;
        double s = 0;
        for (int64_t j = 0; j < n; ++j) s += exp(xr[j] - m);
        for (int64_t j = 0; j < n; ++j) {
            if (m == -INFINITY) yr[j] = NAN; /* a row of -inf: NaN, as in PyTorch */
            else
                yr[j] = log_ ? (xr[j] - m) - log(s) : exp(xr[j] - m) / s;
        }
    }
}

static void norm_ref(const double* x, const double* w, const double* b, double eps, int rms, double* y, int64_t rows,
                     int64_t n) {
    for (int64_t r = 0; r < rows; ++r) {
        const double* xr = x + r * n;
        double* yr = y + r * n;
        double mean = 0, var = 0;
        if (!rms) {
            for (int64_t j = 0; j < n; ++j) mean += xr[j];
            mean /= (double)n;
        }
        for (int64_t j = 0; j < n; ++j) var += (xr[j] - mean) * (xr[j] - mean);
        var /= (double)n;
        const double rstd = 1.0 / sqrt(var + eps);
        for (int64_t j = 0; j < n; ++j) yr[j] = (xr[j] - mean) * rstd * w[j] + (b ? b[j] : 0.0);
    }
}

/* op 0 sum, 1 mean, 2 max, 3 argmax over [outer, n, inner]. */
static void reduce_ref(int op, const double* x, double* y, int64_t outer, int64_t n, int64_t inner) {
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
            double acc = op == 2 || op == 3 ? -INFINITY : 0.0;
            int64_t best = 0;
            int nan = 0;
            for (int64_t k = 0; k < n; ++k) {
                const double v = x[(o * n + k) * inner + i];
                if (op <= 1) {
                    acc += v;
                } else if (isnan(v)) {
                    if (!nan) best = k;
                    nan = 1;
                } else if (!nan && (v > acc || k == 0)) {
                    acc = v;
                    best = k;
                }
            }
            double r = acc;
            if (op == 1) r = n ? acc / (double)n : NAN;
            if (op == 2 && nan) r = NAN;
            if (op == 3) r = (double)best;
            y[o * inner + i] = r;
        }
    }
}

/* ---- softmax ------------------------------------------------------------------------------- */

static void check_softmax(aph_dtype dt, const int64_t* shape, size_t ndim, int log_, int strided_x, int strided_out) {
    const int64_t numel = ot_numel(shape, ndim);
    const int64_t n = ndim ? shape[ndim - 1] : 1;
    const int64_t rows = n ? numel / n : 0;
    double* x = random_values(dt, numel, -4.0, 4.0);
    double* want = malloc(sizeof(double) * (size_t)(numel ? numel : 1));
    softmax_ref(x, want, rows, n, log_);
    aph_tensor* tx = make(dt, shape, ndim, x, strided_x);
    aph_tensor* out = make_out(dt, shape, ndim, strided_out);
    APH_ASSERT_OK(log_ ? aph_op_log_softmax(tx, out, NULL) : aph_op_softmax(tx, out, NULL));
    double* got = ot_read(out);
    ot_assert_close(got, want, (size_t)numel, dt, 1.0, log_ ? "log_softmax" : "softmax");
    free(got);
    free(want);
    free(x);
    aph_tensor_release(tx);
    aph_tensor_release(out);
}

static void test_softmax(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t di = 0; di < nd; ++di) {
        for (int log_ = 0; log_ <= 1; ++log_) {
            for (size_t li = 0; li < N_LENGTHS; ++li) {
                const int64_t shape[2] = {3, kLengths[li]};
                check_softmax(dts[di], shape, 2, log_, (int)(li & 1), 0);
            }
            const int64_t s3[3] = {2, 3, 17};
            check_softmax(dts[di], s3, 3, log_, 1, 1);   /* strided x and strided out */
            check_softmax(dts[di], s3, 1, log_, 0, 1);   /* 1-D: one row */
            check_softmax(dts[di], NULL, 0, log_, 0, 0); /* 0-dim: one row of one */
        }
    }
}

/* -inf entries give exact zeros (-inf for log-softmax); a row of only -inf gives NaN. */
static void test_softmax_inf(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t lengths[] = {5, 1000, 4097}; /* warp and block paths */
    for (size_t di = 0; di < nd; ++di) {
        for (size_t li = 0; li < 3; ++li) {
            const int64_t n = lengths[li], shape[2] = {3, n};
            double* x = random_values(dts[di], 3 * n, -4.0, 4.0);
            for (int64_t j = 0; j < n; j += 2) x[j] = -INFINITY;  /* row 0: every other -inf */
            for (int64_t j = 0; j < n; ++j) x[n + j] = -INFINITY; /* row 1: all -inf */
            x[2 * n + n - 1] = -INFINITY;                         /* row 2: the last -inf */
            double* want = malloc(sizeof(double) * (size_t)(3 * n));
            for (int log_ = 0; log_ <= 1; ++log_) {
                softmax_ref(x, want, 3, n, log_);
                aph_tensor* tx = ot_tensor(dts[di], shape, 2, x);
                aph_tensor* out = ot_poisoned(dts[di], shape, 2);
                APH_ASSERT_OK(log_ ? aph_op_log_softmax(tx, out, NULL) : aph_op_softmax(tx, out, NULL));
                double* got = ot_read(out);
                ot_assert_close(got, want, (size_t)(3 * n), dts[di], 1.0, log_ ? "log_softmax -inf" : "softmax -inf");
                assert_true(log_ ? got[0] == -INFINITY : got[0] == 0.0);
                assert_true(isnan(got[n]));
                free(got);
                aph_tensor_release(tx);
                aph_tensor_release(out);
            }
            free(want);
            free(x);
        }
    }
}

/* out exactly x: in place. */
static void test_softmax_in_place(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t di = 0; di < nd; ++di) {
        const int64_t lengths[] = {33, 4097};
        for (size_t li = 0; li < 2; ++li) {
            const int64_t shape[2] = {2, lengths[li]}, numel = 2 * lengths[li];
            double* x = random_values(dts[di], numel, -3.0, 3.0);
            double* want = malloc(sizeof(double) * (size_t)numel);
            softmax_ref(x, want, 2, lengths[li], 1);
            aph_tensor* t = ot_tensor(dts[di], shape, 2, x);
            APH_ASSERT_OK(aph_op_log_softmax(t, t, NULL));
            double* got = ot_read(t);
            ot_assert_close(got, want, (size_t)numel, dts[di], 1.0, "log_softmax in place");
            free(got);
            free(want);
            free(x);
            aph_tensor_release(t);
        }
    }
}

/* Checks every operation of this file shares: out overlapping x other than exactly, device
 * mismatch (CUDA only), f64 on CUDA. */
static void test_softmax_errors(void** state) {
    (void)state;
    const int64_t shape[2] = {2, 3}, other[2] = {3, 2}, big[2] = {3, 3};
    const double v[6] = {1, 2, 3, 4, 5, 6};
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, shape, 2, v);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, shape, 2);
    aph_tensor* bad_shape = ot_poisoned(APH_DTYPE_F32, other, 2);
    aph_tensor* bad_dtype = ot_poisoned(APH_DTYPE_F16, shape, 2);
    aph_tensor* ints = ot_tensor(APH_DTYPE_I32, shape, 2, v);

    APH_ASSERT_ERR(aph_op_softmax(NULL, out, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_log_softmax(x, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_softmax(ints, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x has dtype i32; expected f32, f16, bf16 or f64");
    APH_ASSERT_ERR(aph_op_softmax(x, bad_shape, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    APH_ASSERT_ERR(aph_op_log_softmax(x, bad_dtype, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype f16; this operation writes f32");
    assert_all_nan(out);
    assert_all_nan(bad_shape);
    assert_all_nan(bad_dtype);

    /* Rows 0-1 and rows 1-2 of one [3, 3] tensor overlap without being the same view. */
    aph_tensor* base = ot_poisoned(APH_DTYPE_F32, big, 2);
    aph_tensor *lo = NULL, *hi = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(base, 0, 0, 2, &lo));
    APH_ASSERT_OK(aph_tensor_narrow(base, 0, 1, 2, &hi));
    APH_ASSERT_ERR(aph_op_softmax(lo, hi, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps x in memory (only exactly the same view is allowed: in place)");
    assert_all_nan(base);
    aph_tensor_release(lo);
    aph_tensor_release(hi);
    aph_tensor_release(base);

    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* cpu_out = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, shape, 2, &cpu_out));
        APH_ASSERT_ERR(aph_op_softmax(x, cpu_out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(cpu_out);
        aph_device_release(cpu);
        aph_tensor* x64 = ot_tensor(APH_DTYPE_F64, shape, 2, v);
        aph_tensor* o64 = ot_poisoned(APH_DTYPE_F64, shape, 2);
        APH_ASSERT_ERR(aph_op_softmax(x64, o64, NULL), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: f64 operations on CUDA (x)");
        aph_tensor_release(x64);
        aph_tensor_release(o64);
    }

    /* Zero-size: accepted, nothing to do. */
    const int64_t z0[2] = {0, 5}, z1[2] = {3, 0};
    aph_tensor* e0 = ot_tensor(APH_DTYPE_F32, z0, 2, NULL);
    aph_tensor* e1 = ot_tensor(APH_DTYPE_F32, z1, 2, NULL);
    aph_tensor* o0 = ot_tensor(APH_DTYPE_F32, z0, 2, NULL);
    aph_tensor* o1 = ot_tensor(APH_DTYPE_F32, z1, 2, NULL);
    APH_ASSERT_OK(aph_op_softmax(e0, o0, NULL));
    APH_ASSERT_OK(aph_op_log_softmax(e1, o1, NULL));
    aph_tensor_release(e0);
    aph_tensor_release(e1);
    aph_tensor_release(o0);
    aph_tensor_release(o1);
    aph_tensor_release(x);
    aph_tensor_release(out);
    aph_tensor_release(bad_shape);
    aph_tensor_release(bad_dtype);
    aph_tensor_release(ints);
}

/* ---- layer norm / RMS norm ------------------------------------------------------------------ */

/* mode 0: layer norm without bias, 1: with bias, 2: RMS norm. */
static void check_norm(aph_dtype dt, const int64_t* shape, size_t ndim, int mode, int strided_x, int strided_out,
                       int in_place) {
    const int64_t numel = ot_numel(shape, ndim), n = shape[ndim - 1], rows = n ? numel / n : 0;
    const double eps = 1e-5;
    double* x = random_values(dt, numel, -3.0, 3.0);
    double* w = random_values(dt, n, 0.5, 1.5);
    double* b = random_values(dt, n, -1.0, 1.0);
    double* want = malloc(sizeof(double) * (size_t)(numel ? numel : 1));
    norm_ref(x, w, mode == 1 ? b : NULL, eps, mode == 2, want, rows, n);
    aph_tensor* tx = make(dt, shape, ndim, x, strided_x);
    aph_tensor* tw = make(dt, &n, 1, w, strided_x);
    aph_tensor* tb = mode == 1 ? ot_tensor(dt, &n, 1, b) : NULL;
    aph_tensor* out = in_place ? tx : make_out(dt, shape, ndim, strided_out);
    if (mode == 2) APH_ASSERT_OK(aph_op_rms_norm(tx, tw, eps, out, NULL));
    else
        APH_ASSERT_OK(aph_op_layer_norm(tx, tw, tb, eps, out, NULL));
    double* got = ot_read(out);
    /* The statistics of long rows are f32 sums over n terms: allow a few more roundings. */
    ot_assert_close(got, want, (size_t)numel, dt, n > 1000 ? 4.0 : 1.0, mode == 2 ? "rms_norm" : "layer_norm");
    free(got);
    free(want);
    free(x);
    free(w);
    free(b);
    aph_tensor_release(tx);
    aph_tensor_release(tw);
    aph_tensor_release(tb);
    if (!in_place) aph_tensor_release(out);
}

static void test_norms(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t di = 0; di < nd; ++di) {
        for (int mode = 0; mode < 3; ++mode) {
            for (size_t li = 0; li < N_LENGTHS; ++li) {
                const int64_t shape[2] = {3, kLengths[li]};
                check_norm(dts[di], shape, 2, mode, (int)(li & 1), 0, 0);
            }
            const int64_t s3[3] = {2, 3, 33};
            check_norm(dts[di], s3, 3, mode, 1, 1, 0); /* strided x and weight, strided out */
            check_norm(dts[di], s3, 3, mode, 0, 0, 1); /* in place */
            const int64_t s4097[2] = {2, 4097};
            check_norm(dts[di], s4097, 2, mode, 0, 0, 1);  /* in place, block path */
            check_norm(dts[di], s3 + 2, 1, mode, 0, 0, 0); /* 1-D: one row */
        }
    }
}

static void test_norm_errors(void** state) {
    (void)state;
    const int64_t shape[2] = {2, 3}, other[2] = {3, 2}, n3 = 3, n4 = 4, s13[2] = {1, 3};
    const double v[6] = {1, 2, 3, 4, 5, 6};
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, shape, 2, v);
    aph_tensor* w = ot_tensor(APH_DTYPE_F32, &n3, 1, v);
    aph_tensor* w4 = ot_tensor(APH_DTYPE_F32, &n4, 1, v);
    aph_tensor* w13 = ot_tensor(APH_DTYPE_F32, s13, 2, v);
    aph_tensor* w16 = ot_tensor(APH_DTYPE_F16, &n3, 1, v);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, shape, 2);
    aph_tensor* bad_shape = ot_poisoned(APH_DTYPE_F32, other, 2);
    aph_tensor* x0 = ot_tensor(APH_DTYPE_F32, NULL, 0, v);
    aph_tensor* o0 = ot_poisoned(APH_DTYPE_F32, NULL, 0);

    APH_ASSERT_ERR(aph_op_layer_norm(NULL, w, NULL, 1e-5, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_layer_norm(x, NULL, w, 1e-5, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: weight must not be NULL");
    APH_ASSERT_ERR(aph_op_rms_norm(x, w, 1e-5, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_rms_norm(x, w16, 1e-5, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: weight has dtype f16; expected f32");
    APH_ASSERT_ERR(aph_op_layer_norm(x, w, w16, 1e-5, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: bias has dtype f16; expected f32");
    const double bad_eps[] = {0.0, -1e-5, NAN, INFINITY};
    const char* eps_msg[] = {"invalid argument: eps must be positive and finite, got 0",
                             "invalid argument: eps must be positive and finite, got -1e-05",
                             "invalid argument: eps must be positive and finite, got nan",
                             "invalid argument: eps must be positive and finite, got inf"};
    for (int i = 0; i < 4; ++i) {
        APH_ASSERT_ERR(aph_op_layer_norm(x, w, NULL, bad_eps[i], out, NULL), APH_ERR_INVALID_ARGUMENT, eps_msg[i]);
        APH_ASSERT_ERR(aph_op_rms_norm(x, w, bad_eps[i], out, NULL), APH_ERR_INVALID_ARGUMENT, eps_msg[i]);
    }
    APH_ASSERT_ERR(aph_op_layer_norm(x, w4, NULL, 1e-5, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: weight [4] does not match the last dimension of x [2, 3] (expected [3])");
    APH_ASSERT_ERR(aph_op_rms_norm(x, w13, 1e-5, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: weight [1, 3] does not match the last dimension of x [2, 3] (expected [3])");
    APH_ASSERT_ERR(aph_op_layer_norm(x, w, w4, 1e-5, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: bias [4] does not match the last dimension of x [2, 3] (expected [3])");
    APH_ASSERT_ERR(aph_op_layer_norm(x0, w, NULL, 1e-5, o0, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x [] has no last dimension to normalise over (weight [3])");
    APH_ASSERT_ERR(aph_op_layer_norm(x, w, NULL, 1e-5, bad_shape, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3], got [3, 2]");
    /* out must not be the weight (nor overlap it). */
    aph_tensor* wrow = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(w, s13, 2, &wrow));
    aph_tensor* x13 = ot_tensor(APH_DTYPE_F32, s13, 2, v);
    APH_ASSERT_ERR(aph_op_rms_norm(x13, w, 1e-5, wrow, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps weight in memory");
    aph_tensor_release(x13);
    aph_tensor_release(wrow);
    assert_all_nan(out);
    assert_all_nan(bad_shape);
    assert_all_nan(o0);

    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* cpu_w = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, &n3, 1, &cpu_w));
        APH_ASSERT_ERR(aph_op_layer_norm(x, cpu_w, NULL, 1e-5, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        APH_ASSERT_ERR(aph_op_rms_norm(x, cpu_w, 1e-5, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(cpu_w);
        aph_device_release(cpu);
        assert_all_nan(out);
    }

    /* Zero-size rows. */
    const int64_t z[2] = {0, 3};
    aph_tensor* ez = ot_tensor(APH_DTYPE_F32, z, 2, NULL);
    aph_tensor* oz = ot_tensor(APH_DTYPE_F32, z, 2, NULL);
    APH_ASSERT_OK(aph_op_layer_norm(ez, w, w, 1e-5, oz, NULL));
    APH_ASSERT_OK(aph_op_rms_norm(ez, w, 1e-5, oz, NULL));
    aph_tensor_release(ez);
    aph_tensor_release(oz);

    aph_tensor_release(x);
    aph_tensor_release(w);
    aph_tensor_release(w4);
    aph_tensor_release(w13);
    aph_tensor_release(w16);
    aph_tensor_release(out);
    aph_tensor_release(bad_shape);
    aph_tensor_release(x0);
    aph_tensor_release(o0);
}

/* ---- reductions ---------------------------------------------------------------------------- */

/* Reduces x (shape, ndim) along dim with op (0-2, or 3 for argmax) and checks against the
 * reference. */
static void check_reduce(aph_dtype dt, int op, const double* x, const int64_t* shape, size_t ndim, int64_t dim,
                         int keepdim, int strided_x, int strided_out) {
    const size_t d = ndim == 0 ? 0 : (size_t)(dim < 0 ? dim + (int64_t)ndim : dim);
    int64_t outer = 1, inner = 1, oshape[APH_TENSOR_MAX_DIMS];
    size_t ond = 0;
    for (size_t i = 0; i < ndim; ++i) {
        if (i < d) outer *= shape[i];
        if (i > d) inner *= shape[i];
        if (i != d) oshape[ond++] = shape[i];
        else if (keepdim)
            oshape[ond++] = 1;
    }
    const int64_t n = ndim ? shape[d] : 1, onumel = outer * inner;
    double* want = malloc(sizeof(double) * (size_t)(onumel ? onumel : 1));
    reduce_ref(op, x, want, outer, n, inner);
    const aph_dtype odt = op == 3 ? APH_DTYPE_I64 : dt;
    aph_tensor* tx = make(dt, shape, ndim, x, strided_x);
    aph_tensor* out = op == 3 ? ot_poisoned(odt, oshape, ond) : make_out(odt, oshape, ond, strided_out);
    if (op == 3) APH_ASSERT_OK(aph_op_argmax(tx, dim, keepdim, out, NULL));
    else
        APH_ASSERT_OK(aph_op_reduce((aph_reduce_op)op, tx, dim, keepdim, out, NULL));
    double* got = ot_read(out);
    static const char* names[] = {"sum", "mean", "max", "argmax"};
    if (op == 3) {
        for (int64_t i = 0; i < onumel; ++i) {
            if (got[i] != want[i]) {
                fail_msg("argmax dim %lld: element %lld: got %g, want %g (dtype %s, APH_TEST_SEED=%llu)",
                         (long long)dim, (long long)i, got[i], want[i], aph_dtype_name(dt),
                         (unsigned long long)ot_seed());
            }
        }
    } else {
        /* A sum of n terms accumulates n roundings of its partial sums in f32 (f64), which grow
         * like sqrt(n) for random signs; half-precision results are dominated by the final
         * rounding instead, which the default tolerance covers. */
        const int wide = dt == APH_DTYPE_F32 || dt == APH_DTYPE_F64;
        const double scale = op == 0 && wide && n > 64 ? sqrt((double)n) / 4.0 : 1.0;
        ot_assert_close(got, want, (size_t)onumel, dt, scale, names[op]);
    }
    free(got);
    free(want);
    aph_tensor_release(tx);
    aph_tensor_release(out);
}

/* Every dim of 3-D tensors (positive and negative), keepdim 0 and 1, every op and dtype. */
static void test_reduce_dims(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t shapes[2][3] = {{3, 17, 5}, {4, 2, 33}};
    for (size_t di = 0; di < nd; ++di) {
        for (int si = 0; si < 2; ++si) {
            const int64_t* shape = shapes[si];
            const int64_t numel = ot_numel(shape, 3);
            double* x = random_values(dts[di], numel, -1.0, 1.0);
            for (int64_t dim = -3; dim < 3; ++dim) {
                for (int keep = 0; keep <= 1; ++keep) {
                    for (int op = 0; op < 4; ++op) {
                        const int strided = (int)((dim + 3 + keep + op) & 1);
                        check_reduce(dts[di], op, x, shape, 3, dim, keep, strided, !strided && op != 3);
                    }
                }
            }
            free(x);
        }
    }
}

/* Long rows (the CUDA block-per-row path) and long columns (many slices per column tile); 1-D
 * and 0-dim tensors. */
static void test_reduce_long(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t di = 0; di < nd; ++di) {
        const int64_t rows[2] = {3, 4097}, cols[3] = {1000, 3, 2}, flat = 1000;
        double* x = random_values(dts[di], 3 * 4097, -1.0, 1.0);
        for (int op = 0; op < 4; ++op) {
            check_reduce(dts[di], op, x, rows, 2, -1, 0, 0, 0);
            check_reduce(dts[di], op, x, cols, 3, 0, 1, 0, 0);
            check_reduce(dts[di], op, x, &flat, 1, 0, 0, op & 1, 0);
            check_reduce(dts[di], op, x, NULL, 0, -1, op & 1, 0, 0); /* 0-dim: the element itself */
        }
        free(x);
    }
}

/* max propagates NaN; argmax takes the first of equal values and the first NaN. */
static void test_reduce_nan_and_ties(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    /* Rows of 6 (and the same values down columns of a [6, 5] tensor, transposed). */
    const double rows[5][6] = {
        {1, 3, 3, 2, 3, 0},                                                 /* tie: index 1 */
        {1, NAN, 5, NAN, 2, 9},                                             /* first NaN: index 1 */
        {-2, -2, -2, -2, -2, -2},                                           /* all equal: index 0 */
        {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY}, /* index 0 */
        {0.5, 0.25, INFINITY, 7, INFINITY, NAN},                            /* NaN last: index 5 */
    };
    const double want_max[5] = {3, NAN, -2, -INFINITY, NAN};
    const double want_arg[5] = {1, 1, 0, 0, 5};
    double cols[6 * 5];
    for (int r = 0; r < 5; ++r) {
        for (int k = 0; k < 6; ++k) cols[k * 5 + r] = rows[r][k];
    }
    for (size_t di = 0; di < nd; ++di) {
        const int64_t rs[2] = {5, 6}, cs[2] = {6, 5};
        for (int layout = 0; layout < 2; ++layout) {
            aph_tensor* x = layout == 0 ? ot_tensor(dts[di], rs, 2, &rows[0][0]) : ot_tensor(dts[di], cs, 2, cols);
            const int64_t dim = layout == 0 ? 1 : 0, five = 5;
            aph_tensor* m = ot_poisoned(dts[di], &five, 1);
            aph_tensor* a = ot_poisoned(APH_DTYPE_I64, &five, 1);
            APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_MAX, x, dim, 0, m, NULL));
            APH_ASSERT_OK(aph_op_argmax(x, dim, 0, a, NULL));
            double* gm = ot_read(m);
            double* ga = ot_read(a);
            ot_assert_close(gm, want_max, 5, dts[di], 1.0, "max with NaN");
            for (int i = 0; i < 5; ++i) assert_true(ga[i] == want_arg[i]);
            free(gm);
            free(ga);
            aph_tensor_release(x);
            aph_tensor_release(m);
            aph_tensor_release(a);
        }
    }
}

/* An empty reduced dimension: sum 0, mean NaN, max and argmax errors. Empty outputs: nothing. */
static void test_reduce_empty(void** state) {
    (void)state;
    const int64_t shape[3] = {2, 0, 3}, oshape[2] = {2, 3}, keep[3] = {2, 1, 3};
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, shape, 3, NULL);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, oshape, 2);
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, x, 1, 0, out, NULL));
    double* got = ot_read(out);
    for (int i = 0; i < 6; ++i) assert_true(got[i] == 0.0);
    free(got);
    aph_tensor* out_keep = ot_poisoned(APH_DTYPE_F32, keep, 3);
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, x, -2, 1, out_keep, NULL));
    got = ot_read(out_keep);
    for (int i = 0; i < 6; ++i) assert_true(got[i] == 0.0);
    free(got);
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_MEAN, x, 1, 0, out, NULL));
    assert_all_nan(out);
    aph_tensor* poisoned = ot_poisoned(APH_DTYPE_F32, oshape, 2);
    aph_tensor* idx = ot_poisoned(APH_DTYPE_I64, oshape, 2);
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_MAX, x, 1, 0, poisoned, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dim 1 has size 0: max of an empty dimension is undefined");
    APH_ASSERT_ERR(aph_op_argmax(x, -2, 0, idx, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dim -2 has size 0: argmax of an empty dimension is undefined");
    assert_all_nan(poisoned);
    got = ot_read(idx);
    for (int i = 0; i < 6; ++i) assert_true(got[i] == -1.0); /* 0xFF bytes: still -1 */
    free(got);
    /* Reducing a non-empty dimension of an empty tensor: an empty result, nothing to do. */
    const int64_t e02[2] = {2, 0};
    aph_tensor* empty_out = ot_tensor(APH_DTYPE_F32, e02, 2, NULL);
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_MAX, x, 2, 0, empty_out, NULL));
    aph_tensor* empty_idx = ot_tensor(APH_DTYPE_I64, e02, 2, NULL);
    APH_ASSERT_OK(aph_op_argmax(x, 2, 0, empty_idx, NULL));
    aph_tensor_release(empty_out);
    aph_tensor_release(empty_idx);
    aph_tensor_release(x);
    aph_tensor_release(out);
    aph_tensor_release(out_keep);
    aph_tensor_release(poisoned);
    aph_tensor_release(idx);
}

static void test_reduce_errors(void** state) {
    (void)state;
    const int64_t shape[3] = {2, 3, 4}, oshape[2] = {2, 4}, wrong[2] = {2, 3};
    double v[24];
    for (int i = 0; i < 24; ++i) v[i] = i + 1;
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, shape, 3, v);
    aph_tensor* ints = ot_tensor(APH_DTYPE_I64, shape, 3, v);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, oshape, 2);
    aph_tensor* out_wrong = ot_poisoned(APH_DTYPE_F32, wrong, 2);
    aph_tensor* idx = ot_poisoned(APH_DTYPE_I64, oshape, 2);

    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_SUM, NULL, 1, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_SUM, x, 1, 0, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_argmax(NULL, 1, 0, idx, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_argmax(x, 1, 0, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_SUM, ints, 1, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x has dtype i64; expected f32, f16, bf16 or f64");
    APH_ASSERT_ERR(aph_op_argmax(ints, 1, 0, idx, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x has dtype i64; expected f32, f16, bf16 or f64");
    APH_ASSERT_ERR(aph_op_reduce((aph_reduce_op)3, x, 1, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op 3 is not an aph_reduce_op");
    APH_ASSERT_ERR(aph_op_reduce((aph_reduce_op)-1, x, 1, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op -1 is not an aph_reduce_op");
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_MEAN, x, 3, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dim 3 is out of range for a tensor with 3 dimensions");
    APH_ASSERT_ERR(aph_op_argmax(x, -4, 0, idx, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dim -4 is out of range for a tensor with 3 dimensions");
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_SUM, x, 1, 0, out_wrong, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 4], got [2, 3]");
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_SUM, x, 1, 1, out, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 1, 4], got [2, 4]");
    APH_ASSERT_ERR(aph_op_argmax(x, 1, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype f32; this operation writes i64");
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_MAX, x, 1, 0, idx, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype i64; this operation writes f32");
    aph_tensor* x0 = ot_tensor(APH_DTYPE_F32, NULL, 0, v);
    aph_tensor* o0 = ot_poisoned(APH_DTYPE_F32, NULL, 0);
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_SUM, x0, 1, 0, o0, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dim 1 is out of range for a tensor with 0 dimensions");
    /* out inside x's memory. */
    aph_tensor* x_as_out = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(x, 1, 0, 1, &x_as_out)); /* [2, 1, 4] */
    APH_ASSERT_ERR(aph_op_reduce(APH_REDUCE_SUM, x, 1, 1, x_as_out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps x in memory");
    double* got = ot_read(x);
    for (int i = 0; i < 24; ++i) assert_true(got[i] == v[i]);
    free(got);
    aph_tensor_release(x_as_out);
    assert_all_nan(out);
    assert_all_nan(out_wrong);
    assert_all_nan(o0);
    got = ot_read(idx);
    for (int i = 0; i < 8; ++i) assert_true(got[i] == -1.0);
    free(got);

    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* cpu_out = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_I64, oshape, 2, &cpu_out));
        APH_ASSERT_ERR(aph_op_argmax(x, 1, 0, cpu_out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(cpu_out);
        aph_device_release(cpu);
    }
    aph_tensor_release(x0);
    aph_tensor_release(o0);
    aph_tensor_release(x);
    aph_tensor_release(ints);
    aph_tensor_release(out);
    aph_tensor_release(out_wrong);
    aph_tensor_release(idx);
}

/* Inputs big enough for the CPU kernels to split rows over threads (parallel_for). */
static void test_large(void** state) {
    (void)state;
    const aph_dtype dts[2] = {APH_DTYPE_F32, APH_DTYPE_BF16};
    for (int di = 0; di < 2; ++di) {
        const int64_t shape[2] = {96, 1000}, cols[2] = {1024, 130};
        check_softmax(dts[di], shape, 2, 0, 0, 0);
        check_softmax(dts[di], shape, 2, 1, 1, 0);
        for (int mode = 0; mode < 3; ++mode) check_norm(dts[di], shape, 2, mode, 0, 0, 0);
        double* x = random_values(dts[di], 1024 * 130, -1.0, 1.0);
        for (int op = 0; op < 4; ++op) {
            check_reduce(dts[di], op, x, cols, 2, -1, 0, 0, 0); /* rows of 130 */
            check_reduce(dts[di], op, x, cols, 2, 0, 1, 0, 0);  /* columns of 1024 */
        }
        free(x);
    }
}

/* Work queued on a stream the caller created: softmax, layer norm and a reduction, in order on
 * that stream, read after synchronising it. */
static void test_custom_stream(void** state) {
    (void)state;
    aph_stream* stream = NULL;
    APH_ASSERT_OK(aph_stream_create(ot_device(), &stream));
    const int64_t shape[2] = {4, 33}, n = 33, four = 4;
    double* x = random_values(APH_DTYPE_F32, 4 * 33, -2.0, 2.0);
    double* w = random_values(APH_DTYPE_F32, 33, 0.5, 1.5);
    double sm[4 * 33], ln[4 * 33], want_sum[4];
    /* Each intermediate is rounded to f32 as the device stores it. */
    softmax_ref(x, sm, 4, 33, 0);
    ot_round_all(APH_DTYPE_F32, sm, 4 * 33);
    norm_ref(sm, w, NULL, 1e-5, 0, ln, 4, 33);
    ot_round_all(APH_DTYPE_F32, ln, 4 * 33);
    reduce_ref(0, ln, want_sum, 4, 33, 1);
    aph_tensor* tx = ot_tensor(APH_DTYPE_F32, shape, 2, x);
    aph_tensor* tw = ot_tensor(APH_DTYPE_F32, &n, 1, w);
    aph_tensor* a = ot_poisoned(APH_DTYPE_F32, shape, 2);
    aph_tensor* b = ot_poisoned(APH_DTYPE_F32, shape, 2);
    aph_tensor* s = ot_poisoned(APH_DTYPE_F32, &four, 1);
    APH_ASSERT_OK(aph_op_softmax(tx, a, stream));
    APH_ASSERT_OK(aph_op_layer_norm(a, tw, NULL, 1e-5, b, stream));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, b, -1, 0, s, stream));
    APH_ASSERT_OK(aph_stream_synchronize(stream));
    double* got = ot_read(s);
    /* Softmax outputs are ~1/33 with a spread of the same order: layer norm magnifies the
     * softmax's own f32 rounding errors about 33-fold. */
    ot_assert_close(got, want_sum, 4, APH_DTYPE_F32, 40.0, "softmax -> layer_norm -> sum on a stream");
    free(got);
    free(x);
    free(w);
    aph_tensor_release(tx);
    aph_tensor_release(tw);
    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(s);
    aph_stream_release(stream);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_softmax_inf),
        cmocka_unit_test(test_softmax_in_place),
        cmocka_unit_test(test_softmax_errors),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_norm_errors),
        cmocka_unit_test(test_reduce_dims),
        cmocka_unit_test(test_reduce_long),
        cmocka_unit_test(test_reduce_nan_and_ties),
        cmocka_unit_test(test_reduce_empty),
        cmocka_unit_test(test_reduce_errors),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_custom_stream),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
