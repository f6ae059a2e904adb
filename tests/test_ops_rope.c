/* Rotary position embedding (aph_op_rope) and embedding lookup (aph_op_embedding), against
 * float64 references computed here from the rounded inputs, on the device under test
 * (ops_test_util.h). */
#include "ops_test_util.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static double* random_values(aph_dtype dtype, int64_t n, double lo, double hi) {
    double* v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(v);
    ot_fill(v, (size_t)n, lo, hi);
    ot_round_all(dtype, v, (size_t)n);
    return v;
}

static double* nan_values(int64_t n) {
    double* v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(v);
    for (int64_t i = 0; i < n; ++i) v[i] = NAN;
    return v;
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

/* Is this a real GPU (not the simulated module, whose kernels are the CPU's)? The sim runs are
 * registered with SIM_CUDA_DEVICES set (tests/CMakeLists.txt). */
static int real_gpu(void) { return ot_is_cuda() && getenv("SIM_CUDA_DEVICES") == NULL; }

/* ---- rope ---------------------------------------------------------------------------------- */

/* x [B, S, H, D] row-major, pos [B, S] (shared: the same row for every b). */
static void rope_ref(const double* x, const double* pos, int shared, double theta, int layout, double* y, int64_t B,
                     int64_t S, int64_t H, int64_t D) {
    const int64_t half = D / 2;
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t s = 0; s < S; ++s) {
            const double p = pos[shared ? s : b * S + s];
            for (int64_t h = 0; h < H; ++h) {
                const double* xr = x + ((b * S + s) * H + h) * D;
                double* yr = y + ((b * S + s) * H + h) * D;
                for (int64_t i = 0; i < half; ++i) {
                    const double a = p * pow(theta, -2.0 * (double)i / (double)D);
                    const int64_t j0 = layout == APH_ROPE_INTERLEAVED ? 2 * i : i;
                    const int64_t j1 = layout == APH_ROPE_INTERLEAVED ? 2 * i + 1 : i + half;
                    yr[j0] = xr[j0] * cos(a) - xr[j1] * sin(a);
                    yr[j1] = xr[j0] * sin(a) + xr[j1] * cos(a);
                }
            }
        }
    }
}

/* How x (and out) are laid out in check_rope. */
enum { CONTIGUOUS = 0, STRIDED = 1, FUSED = 2 };

/* A [B, S, H, D] tensor holding v: contiguous, every other element of a doubled last dimension
 * (STRIDED), or heads H..2H-1 of a [B, S, 3H, D] tensor, as q/k/v views of one fused projection
 * are (FUSED; last stride 1, the others not contiguous). */
static aph_tensor* rope_tensor(aph_dtype dt, const int64_t* shape, const double* v, int layout) {
    if (layout == CONTIGUOUS) return ot_tensor(dt, shape, 4, v);
    if (layout == STRIDED) return ot_tensor_strided(dt, shape, 4, v);
    const int64_t B = shape[0], S = shape[1], H = shape[2], D = shape[3];
    const int64_t big[4] = {B, S, 3 * H, D};
    double* full = malloc(sizeof(double) * (size_t)(B * S * 3 * H * D));
    assert_non_null(full);
    for (int64_t i = 0; i < B * S * 3 * H * D; ++i) full[i] = 12345.0;
    for (int64_t bs = 0; bs < B * S; ++bs) {
        memcpy(full + (bs * 3 * H + H) * D, v + bs * H * D, sizeof(double) * (size_t)(H * D));
    }
    aph_tensor* storage = ot_tensor(dt, big, 4, full);
    free(full);
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(storage, 2, H, H, &view));
    aph_tensor_release(storage);
    return view;
}

/* One case: positions [S] (shared) or [B, S] of dtype pdt, values up to max_pos. */
static void check_rope(aph_dtype dt, aph_dtype pdt, int64_t B, int64_t S, int64_t H, int64_t D, int shared, int layout,
                       int x_layout, int out_layout, int in_place, int64_t max_pos) {
    const int64_t shape[4] = {B, S, H, D}, numel = B * S * H * D;
    const double theta = 10000.0;
    double* x = random_values(dt, numel, -2.0, 2.0);
    double* pos = malloc(sizeof(double) * (size_t)(B * S));
    for (int64_t i = 0; i < B * S; ++i) pos[i] = (double)ot_int(0, max_pos);
    double* want = malloc(sizeof(double) * (size_t)(numel ? numel : 1));
    rope_ref(x, pos, shared, theta, layout, want, B, S, H, D);
    aph_tensor* tx = rope_tensor(dt, shape, x, x_layout);
    const int64_t pshape[2] = {B, S};
    aph_tensor* tp;
    if (shared) tp = ot_tensor(pdt, &S, 1, pos);
    else if (x_layout == STRIDED)
        tp = ot_tensor_strided(pdt, pshape, 2, pos); /* strided positions too */
    else
        tp = ot_tensor(pdt, pshape, 2, pos);
    aph_tensor* out = tx;
    if (!in_place) {
        double* nan = nan_values(numel);
        out = rope_tensor(dt, shape, nan, out_layout);
        free(nan);
    }
    APH_ASSERT_OK(aph_op_rope(tx, tp, theta, (aph_rope_layout)layout, out, NULL));
    double* got = ot_read(out);
    /* Positions up to 10^6 make angles up to 10^6 rad: the device computes them in double and
     * rounds cos/sin to f32, so the f32 result is still within a few roundings. */
    const char* what = layout == APH_ROPE_INTERLEAVED ? "rope interleaved" : "rope half";
    ot_assert_close(got, want, (size_t)numel, dt, 1.0, what);
    free(got);
    free(want);
    free(x);
    free(pos);
    aph_tensor_release(tp);
    aph_tensor_release(tx);
    if (!in_place) aph_tensor_release(out);
}

static void test_rope(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t dims[3] = {2, 64, 128};
    for (size_t di = 0; di < nd; ++di) {
        for (int layout = 0; layout <= 1; ++layout) {
            for (int k = 0; k < 3; ++k) {
                for (int shared = 0; shared <= 1; ++shared) {
                    const aph_dtype pdt = (k + shared) & 1 ? APH_DTYPE_I64 : APH_DTYPE_I32;
                    const int xl = (k + shared + layout) % 3;
                    check_rope(dts[di], pdt, 2, 5, 3, dims[k], shared, layout, xl, (xl + 1) % 3, 0, 4096);
                }
            }
            /* In place: contiguous, strided, and a head slice of a fused projection. */
            check_rope(dts[di], APH_DTYPE_I64, 2, 5, 3, 64, 0, layout, CONTIGUOUS, CONTIGUOUS, 1, 4096);
            check_rope(dts[di], APH_DTYPE_I32, 1, 3, 2, 128, 1, layout, STRIDED, STRIDED, 1, 4096);
            check_rope(dts[di], APH_DTYPE_I32, 2, 17, 4, 64, 0, layout, FUSED, FUSED, 1, 4096);
            /* Large positions (long contexts). */
            check_rope(dts[di], APH_DTYPE_I64, 1, 33, 2, 128, 1, layout, CONTIGUOUS, CONTIGUOUS, 0, 1000000);
        }
    }
}

/* Inputs big enough for the CPU kernels to split rows over threads (parallel_for). */
static void test_rope_large(void** state) {
    (void)state;
    check_rope(APH_DTYPE_F32, APH_DTYPE_I32, 4, 64, 8, 128, 0, APH_ROPE_HALF, FUSED, CONTIGUOUS, 0, 8192);
    check_rope(APH_DTYPE_BF16, APH_DTYPE_I64, 4, 64, 8, 128, 1, APH_ROPE_INTERLEAVED, CONTIGUOUS, CONTIGUOUS, 1, 8192);
}

/* Zero-size tensors are accepted and do nothing. */
static void test_rope_zero_size(void** state) {
    (void)state;
    const int64_t shapes[3][4] = {{0, 4, 2, 8}, {2, 0, 2, 8}, {2, 4, 0, 8}};
    for (int i = 0; i < 3; ++i) {
        aph_tensor* x = ot_tensor(APH_DTYPE_F32, shapes[i], 4, NULL);
        aph_tensor* out = ot_tensor(APH_DTYPE_F32, shapes[i], 4, NULL);
        aph_tensor* p = ot_tensor(APH_DTYPE_I32, &shapes[i][1], 1, NULL);
        APH_ASSERT_OK(aph_op_rope(x, p, 10000.0, APH_ROPE_HALF, out, NULL));
        aph_tensor_release(x);
        aph_tensor_release(out);
        aph_tensor_release(p);
    }
    /* D = 0 is even: nothing to rotate. */
    const int64_t d0[4] = {1, 2, 2, 0}, two = 2;
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, d0, 4, NULL);
    aph_tensor* p = ot_tensor(APH_DTYPE_I64, &two, 1, (double[]){0, 1});
    APH_ASSERT_OK(aph_op_rope(x, p, 10000.0, APH_ROPE_INTERLEAVED, x, NULL));
    aph_tensor_release(x);
    aph_tensor_release(p);
}

static void test_rope_errors(void** state) {
    (void)state;
    const int64_t shape[4] = {2, 3, 2, 4}, wrong[4] = {2, 3, 2, 2}, odd[4] = {2, 3, 2, 5}, three[3] = {2, 3, 8};
    const int64_t s3 = 3, s4 = 4, bs[2] = {2, 3}, sb[2] = {3, 2};
    const double pv[6] = {0, 1, 2, 3, 4, 5};
    double* xv = random_values(APH_DTYPE_F32, 48, -1.0, 1.0);
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, shape, 4, xv);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, shape, 4);
    aph_tensor* p = ot_tensor(APH_DTYPE_I32, &s3, 1, pv);
    aph_tensor* p4 = ot_tensor(APH_DTYPE_I32, &s4, 1, pv);
    aph_tensor* pbs = ot_tensor(APH_DTYPE_I64, sb, 2, pv);
    aph_tensor* pf = ot_tensor(APH_DTYPE_F32, &s3, 1, pv);
    aph_tensor* xi = ot_tensor(APH_DTYPE_I32, shape, 4, xv);
    aph_tensor* x3 = ot_tensor(APH_DTYPE_F32, three, 3, NULL);
    aph_tensor* xodd = ot_tensor(APH_DTYPE_F32, odd, 4, NULL);
    aph_tensor* out_wrong = ot_poisoned(APH_DTYPE_F32, wrong, 4);
    aph_tensor* out_f16 = ot_poisoned(APH_DTYPE_F16, shape, 4);

    APH_ASSERT_ERR(aph_op_rope(NULL, p, 1e4, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_rope(x, NULL, 1e4, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: positions must not be NULL");
    APH_ASSERT_ERR(aph_op_rope(x, p, 1e4, APH_ROPE_HALF, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_rope(xi, p, 1e4, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x has dtype i32; expected f32, f16, bf16 or f64");
    APH_ASSERT_ERR(aph_op_rope(x, pf, 1e4, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: positions has dtype f32; expected i32 or i64");
    APH_ASSERT_ERR(aph_op_rope(x, p, 0.0, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: theta must be positive and finite, got 0");
    APH_ASSERT_ERR(aph_op_rope(x, p, -10.0, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: theta must be positive and finite, got -10");
    APH_ASSERT_ERR(aph_op_rope(x, p, INFINITY, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: theta must be positive and finite, got inf");
    APH_ASSERT_ERR(aph_op_rope(x, p, NAN, APH_ROPE_HALF, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: theta must be positive and finite, got nan");
    APH_ASSERT_ERR(aph_op_rope(x, p, 1e4, (aph_rope_layout)2, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: layout 2 is not an aph_rope_layout");
    APH_ASSERT_ERR(aph_op_rope(x3, p, 1e4, APH_ROPE_HALF, x3, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x [2, 3, 8] must be [batch, seq, heads, head_dim]");
    APH_ASSERT_ERR(aph_op_rope(xodd, p, 1e4, APH_ROPE_HALF, xodd, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x [2, 3, 2, 5] has an odd head_dim (5); rope rotates pairs");
    APH_ASSERT_ERR(aph_op_rope(x, p4, 1e4, APH_ROPE_HALF, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: positions [4] does not fit x [2, 3, 2, 4] (expected [3] or [2, 3])");
    APH_ASSERT_ERR(aph_op_rope(x, pbs, 1e4, APH_ROPE_HALF, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: positions [3, 2] does not fit x [2, 3, 2, 4] (expected [3] or [2, 3])");
    APH_ASSERT_ERR(aph_op_rope(x, p, 1e4, APH_ROPE_HALF, out_wrong, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 3, 2, 4], got [2, 3, 2, 2]");
    APH_ASSERT_ERR(aph_op_rope(x, p, 1e4, APH_ROPE_HALF, out_f16, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype f16; this operation writes f32");
    /* out overlapping x other than exactly: x shifted by one head dimension element. */
    const int64_t flat = 48 + 4;
    aph_tensor* buf = ot_poisoned(APH_DTYPE_F32, &flat, 1);
    aph_tensor *a = NULL, *b = NULL, *av = NULL, *bv = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(buf, 0, 0, 48, &a));
    APH_ASSERT_OK(aph_tensor_narrow(buf, 0, 4, 48, &b));
    APH_ASSERT_OK(aph_tensor_reshape(a, shape, 4, &av));
    APH_ASSERT_OK(aph_tensor_reshape(b, shape, 4, &bv));
    APH_ASSERT_ERR(aph_op_rope(av, p, 1e4, APH_ROPE_HALF, bv, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps x in memory (only exactly the same view is allowed: in place)");
    assert_all_nan(buf);
    /* A broadcast out is refused. */
    const int64_t one[4] = {1, 3, 2, 4};
    aph_tensor* small = ot_poisoned(APH_DTYPE_F32, one, 4);
    aph_tensor* bcast = NULL;
    APH_ASSERT_OK(aph_tensor_expand(small, shape, 4, &bcast));
    APH_ASSERT_ERR(aph_op_rope(x, p, 1e4, APH_ROPE_HALF, bcast, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has a broadcast dimension (dim 0: size 2, stride 0); "
                   "write into a contiguous tensor instead");
    assert_all_nan(small);
    aph_tensor_release(bcast);
    aph_tensor_release(small);
    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(av);
    aph_tensor_release(bv);
    aph_tensor_release(buf);
    assert_all_nan(out);
    assert_all_nan(out_wrong);
    assert_all_nan(out_f16);

    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* cpu_p = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_I32, bs, 2, &cpu_p));
        APH_ASSERT_ERR(aph_op_rope(x, cpu_p, 1e4, APH_ROPE_HALF, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(cpu_p);
        aph_device_release(cpu);
        assert_all_nan(out);
    }
    free(xv);
    aph_tensor_release(x);
    aph_tensor_release(out);
    aph_tensor_release(p);
    aph_tensor_release(p4);
    aph_tensor_release(pbs);
    aph_tensor_release(pf);
    aph_tensor_release(xi);
    aph_tensor_release(x3);
    aph_tensor_release(xodd);
    aph_tensor_release(out_wrong);
    aph_tensor_release(out_f16);
}

/* ---- embedding ----------------------------------------------------------------------------- */

static void check_embedding(aph_dtype dt, aph_dtype idt, int64_t vocab, int64_t dim, const int64_t* ishape,
                            size_t indim, int strided) {
    const int64_t n = ot_numel(ishape, indim), tshape[2] = {vocab, dim};
    int64_t oshape[APH_TENSOR_MAX_DIMS];
    for (size_t i = 0; i < indim; ++i) oshape[i] = ishape[i];
    oshape[indim] = dim;
    double* table = random_values(dt, vocab * dim, -1.0, 1.0);
    double* ids = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; ++i) ids[i] = (double)ot_int(0, vocab - 1);
    double* want = malloc(sizeof(double) * (size_t)(n * dim + 1));
    for (int64_t i = 0; i < n; ++i) memcpy(want + i * dim, table + (int64_t)ids[i] * dim, sizeof(double) * (size_t)dim);
    aph_tensor* tt = strided ? ot_tensor_strided(dt, tshape, 2, table) : ot_tensor(dt, tshape, 2, table);
    aph_tensor* ti = strided && indim ? ot_tensor_strided(idt, ishape, indim, ids) : ot_tensor(idt, ishape, indim, ids);
    aph_tensor* out;
    if (strided) {
        double* nan = nan_values(n * dim);
        out = ot_tensor_strided(dt, oshape, indim + 1, nan);
        free(nan);
    } else {
        out = ot_poisoned(dt, oshape, indim + 1);
    }
    APH_ASSERT_OK(aph_op_embedding(tt, ti, out, NULL));
    double* got = ot_read(out);
    ot_assert_close(got, want, (size_t)(n * dim), dt, 0.0, "embedding (exact copy)");
    free(got);
    free(want);
    free(table);
    free(ids);
    aph_tensor_release(tt);
    aph_tensor_release(ti);
    aph_tensor_release(out);
}

static void test_embedding(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const int64_t s5 = 5, s23[2] = {2, 3};
    const int64_t dims[4] = {1, 3, 64, 1000}; /* odd rows and 16-byte-multiple rows */
    for (size_t di = 0; di < nd; ++di) {
        for (int k = 0; k < 4; ++k) {
            for (int it = 0; it <= 1; ++it) {
                const aph_dtype idt = it ? APH_DTYPE_I64 : APH_DTYPE_I32;
                check_embedding(dts[di], idt, 50, dims[k], &s5, 1, (k + it) & 1);
                check_embedding(dts[di], idt, 17, dims[k], s23, 2, (k + it + 1) & 1);
                check_embedding(dts[di], idt, 7, dims[k], NULL, 0, k & 1); /* 0-dim ids: out [dim] */
            }
        }
    }
    /* Enough rows for the CPU kernel to split them over threads. */
    const int64_t s300 = 300;
    check_embedding(APH_DTYPE_F32, APH_DTYPE_I64, 500, 1000, &s300, 1, 0);
}

/* An id outside [0, vocab): on the CPU an error naming it, nothing written. Only where the CPU
 * kernel runs (not when ot_is_cuda(): the simulated module runs the CPU kernel too, but a real
 * GPU writes zero rows instead, checked below only on a real GPU). */
static void test_embedding_bad_ids(void** state) {
    (void)state;
    const int64_t tshape[2] = {50, 4}, s5 = 5, oshape[2] = {5, 4}, s23[2] = {2, 3}, o23[3] = {2, 3, 4};
    double* table = random_values(APH_DTYPE_F32, 200, -1.0, 1.0);
    aph_tensor* tt = ot_tensor(APH_DTYPE_F32, tshape, 2, table);
    const double high[5] = {0, 49, 3, 50, 1000}, low[6] = {0, 1, 2, 3, -1, 5};
    if (!ot_is_cuda()) {
        for (int it = 0; it <= 1; ++it) {
            const aph_dtype idt = it ? APH_DTYPE_I64 : APH_DTYPE_I32;
            aph_tensor* ids = ot_tensor(idt, &s5, 1, high);
            aph_tensor* out = ot_poisoned(APH_DTYPE_F32, oshape, 2);
            APH_ASSERT_ERR(aph_op_embedding(tt, ids, out, NULL), APH_ERR_INVALID_ARGUMENT,
                           "invalid argument: ids[3] = 50 is outside [0, 50)");
            assert_all_nan(out);
            aph_tensor* ids23 = ot_tensor(idt, s23, 2, low);
            aph_tensor* out23 = ot_poisoned(APH_DTYPE_F32, o23, 3);
            APH_ASSERT_ERR(aph_op_embedding(tt, ids23, out23, NULL), APH_ERR_INVALID_ARGUMENT,
                           "invalid argument: ids[4] = -1 is outside [0, 50)");
            assert_all_nan(out23);
            /* A strided out (written through a temporary) is untouched too. */
            double* nan = nan_values(20);
            aph_tensor* sout = ot_tensor_strided(APH_DTYPE_F32, oshape, 2, nan);
            free(nan);
            APH_ASSERT_ERR(aph_op_embedding(tt, ids, sout, NULL), APH_ERR_INVALID_ARGUMENT,
                           "invalid argument: ids[3] = 50 is outside [0, 50)");
            assert_all_nan(sout);
            aph_tensor_release(sout);
            aph_tensor_release(ids);
            aph_tensor_release(out);
            aph_tensor_release(ids23);
            aph_tensor_release(out23);
        }
    } else if (real_gpu()) {
        aph_tensor* ids = ot_tensor(APH_DTYPE_I64, &s5, 1, high);
        aph_tensor* out = ot_poisoned(APH_DTYPE_F32, oshape, 2);
        APH_ASSERT_OK(aph_op_embedding(tt, ids, out, NULL));
        double* got = ot_read(out);
        for (int i = 0; i < 5; ++i) {
            for (int j = 0; j < 4; ++j) {
                const double want = i >= 3 ? 0.0 : table[(int)high[i] * 4 + j];
                assert_true(got[i * 4 + j] == want);
            }
        }
        free(got);
        aph_tensor_release(ids);
        aph_tensor_release(out);
    }
    free(table);
    aph_tensor_release(tt);
}

static void test_embedding_errors(void** state) {
    (void)state;
    const int64_t tshape[2] = {10, 4}, t3[3] = {10, 4, 1}, s3 = 3, oshape[2] = {3, 4}, wrong[2] = {3, 5};
    const double idv[3] = {1, 2, 3};
    double* tv = random_values(APH_DTYPE_F32, 40, -1.0, 1.0);
    aph_tensor* table = ot_tensor(APH_DTYPE_F32, tshape, 2, tv);
    aph_tensor* ids = ot_tensor(APH_DTYPE_I32, &s3, 1, idv);
    aph_tensor* fids = ot_tensor(APH_DTYPE_F32, &s3, 1, idv);
    aph_tensor* itable = ot_tensor(APH_DTYPE_I32, tshape, 2, tv);
    aph_tensor* table3 = ot_tensor(APH_DTYPE_F32, t3, 3, tv);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, oshape, 2);
    aph_tensor* out_wrong = ot_poisoned(APH_DTYPE_F32, wrong, 2);
    aph_tensor* out_f16 = ot_poisoned(APH_DTYPE_F16, oshape, 2);

    APH_ASSERT_ERR(aph_op_embedding(NULL, ids, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: table must not be NULL");
    APH_ASSERT_ERR(aph_op_embedding(table, NULL, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: ids must not be NULL");
    APH_ASSERT_ERR(aph_op_embedding(table, ids, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_embedding(itable, ids, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: table has dtype i32; expected f32, f16, bf16 or f64");
    APH_ASSERT_ERR(aph_op_embedding(table, fids, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: ids has dtype f32; expected i32 or i64");
    APH_ASSERT_ERR(aph_op_embedding(table3, ids, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: table [10, 4, 1] must be [vocab, dim]");
    APH_ASSERT_ERR(aph_op_embedding(table, ids, out_wrong, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [3, 4], got [3, 5]");
    APH_ASSERT_ERR(aph_op_embedding(table, ids, out_f16, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype f16; this operation writes f32");
    /* out inside the table's memory. */
    aph_tensor* rows = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(table, 0, 2, 3, &rows));
    APH_ASSERT_ERR(aph_op_embedding(table, ids, rows, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps table in memory");
    aph_tensor_release(rows);
    double* got = ot_read(table);
    for (int i = 0; i < 40; ++i) assert_true(got[i] == tv[i]);
    free(got);
    assert_all_nan(out);
    assert_all_nan(out_wrong);
    assert_all_nan(out_f16);
    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* cpu_ids = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_I64, &s3, 1, &cpu_ids));
        APH_ASSERT_ERR(aph_op_embedding(table, cpu_ids, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(cpu_ids);
        aph_device_release(cpu);
        assert_all_nan(out);
    }
    /* Zero-size: no ids, or rows of 0. */
    const int64_t zero = 0, oz[2] = {0, 4}, t0[2] = {10, 0}, o30[2] = {3, 0};
    aph_tensor* no_ids = ot_tensor(APH_DTYPE_I64, &zero, 1, NULL);
    aph_tensor* out0 = ot_tensor(APH_DTYPE_F32, oz, 2, NULL);
    APH_ASSERT_OK(aph_op_embedding(table, no_ids, out0, NULL));
    aph_tensor* empty_rows = ot_tensor(APH_DTYPE_F32, t0, 2, NULL);
    aph_tensor* out30 = ot_tensor(APH_DTYPE_F32, o30, 2, NULL);
    APH_ASSERT_OK(aph_op_embedding(empty_rows, ids, out30, NULL));
    aph_tensor_release(no_ids);
    aph_tensor_release(out0);
    aph_tensor_release(empty_rows);
    aph_tensor_release(out30);
    free(tv);
    aph_tensor_release(table);
    aph_tensor_release(ids);
    aph_tensor_release(fids);
    aph_tensor_release(itable);
    aph_tensor_release(table3);
    aph_tensor_release(out);
    aph_tensor_release(out_wrong);
    aph_tensor_release(out_f16);
}

/* rope in place on q, then an embedding gather, queued on a stream the caller created and read
 * after synchronising it. */
static void test_custom_stream(void** state) {
    (void)state;
    aph_stream* stream = NULL;
    APH_ASSERT_OK(aph_stream_create(ot_device(), &stream));
    const int64_t shape[4] = {2, 4, 2, 8}, S = 4, numel = 2 * 4 * 2 * 8;
    double* x = random_values(APH_DTYPE_F32, numel, -1.0, 1.0);
    const double pos[4] = {3, 1000, 7, 65536};
    double want[2 * 4 * 2 * 8];
    rope_ref(x, pos, 1, 500000.0, APH_ROPE_HALF, want, 2, 4, 2, 8);
    aph_tensor* tx = ot_tensor(APH_DTYPE_F32, shape, 4, x);
    aph_tensor* tp = ot_tensor(APH_DTYPE_I64, &S, 1, pos);
    APH_ASSERT_OK(aph_op_rope(tx, tp, 500000.0, APH_ROPE_HALF, tx, stream));
    /* Gather rows 3, 0 of tx seen as a [16, 8] table. */
    const int64_t tshape[2] = {16, 8}, two = 2, oshape[2] = {2, 8};
    aph_tensor* table = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(tx, tshape, 2, &table));
    aph_tensor* ids = ot_tensor(APH_DTYPE_I32, &two, 1, (double[]){3, 0});
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, oshape, 2);
    APH_ASSERT_OK(aph_op_embedding(table, ids, out, stream));
    APH_ASSERT_OK(aph_stream_synchronize(stream));
    double* got = ot_read(tx);
    ot_assert_close(got, want, (size_t)numel, APH_DTYPE_F32, 1.0, "rope on a stream");
    free(got);
    got = ot_read(out);
    ot_assert_close(got, want + 3 * 8, 8, APH_DTYPE_F32, 1.0, "embedding on a stream (row 3)");
    ot_assert_close(got + 8, want, 8, APH_DTYPE_F32, 1.0, "embedding on a stream (row 0)");
    free(got);
    free(x);
    aph_tensor_release(table);
    aph_tensor_release(ids);
    aph_tensor_release(out);
    aph_tensor_release(tx);
    aph_tensor_release(tp);
    aph_stream_release(stream);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_rope_large),
        cmocka_unit_test(test_rope_zero_size),
        cmocka_unit_test(test_rope_errors),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_embedding_bad_ids),
        cmocka_unit_test(test_embedding_errors),
        cmocka_unit_test(test_custom_stream),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
