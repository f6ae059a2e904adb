/* Matrix products and the GRU cell (header section 14): aph_op_matmul, aph_op_linear and
 * aph_op_gru_cell against float64 references computed here from the rounded inputs, on every
 * float dtype of the device under test; layouts (transposes, strided and transposed views,
 * batch broadcasting, strided outputs), alpha/beta, empty products and zero-size shapes, a
 * custom stream, and the error paths (nothing written on failure). */
#include "ops_test_util.h"

/* ---------------------------------------------------------------------------------------- */
/* Helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Tolerance scale for sums of k products of inputs in [-1, 1). The error of an accumulated sum
 * is proportional to the sum of the magnitudes of its terms (about k/4 here) while the result
 * itself only grows like sqrt(k), and results near cancellation are common; cuBLAS may also
 * split K and add the partial sums in a different order than the reference. Half inputs are
 * multiplied exactly and accumulated in f32, so their error is mostly the final rounding; the
 * scale keeps the f32 part fair for the longest sums too. */
static double acc_scale(int64_t k) { return 1.0 + (double)k / 64.0; }

static double* random_values(aph_dtype dtype, int64_t n) {
    double* v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(v);
    ot_fill(v, (size_t)n, -1.0, 1.0);
    ot_round_all(dtype, v, (size_t)n);
    return v;
}

static aph_tensor* input(aph_dtype dtype, const int64_t* shape, size_t ndim, const double* v, int strided) {
    return strided ? ot_tensor_strided(dtype, shape, ndim, v) : ot_tensor(dtype, shape, ndim, v);
}

static int all_nan(const aph_tensor* t) {
    const int64_t n = aph_tensor_numel(t);
    double* v = ot_read(t);
    int ok = 1;
    for (int64_t i = 0; i < n; ++i) ok &= isnan(v[i]) != 0;
    free(v);
    return ok;
}

/* out[batch..., M, N] = alpha · op(a) · op(b) + beta · c0 with numpy batch broadcasting.
 * a and b are row-major values of their stored shapes; fills out_shape / *out_ndim. */
static double* ref_matmul(const double* a, const int64_t* as, size_t na, int ta, const double* b, const int64_t* bs,
                          size_t nb, int tb, double alpha, double beta, const double* c0, int64_t* os, size_t* ond) {
    const int64_t M = ta ? as[na - 1] : as[na - 2], K = ta ? as[na - 2] : as[na - 1];
    const int64_t N = tb ? bs[nb - 2] : bs[nb - 1];
    const size_t nbat = (na > nb ? na : nb) - 2;
    for (size_t i = 0; i < nbat; ++i) {
        const int64_t x = i + (na - 2) >= nbat ? as[i + (na - 2) - nbat] : 1;
        const int64_t y = i + (nb - 2) >= nbat ? bs[i + (nb - 2) - nbat] : 1;
        os[i] = x == 1 ? y : x;
    }
    os[nbat] = M;
    os[nbat + 1] = N;
    *ond = nbat + 2;
    const int64_t batches = ot_numel(os, nbat);
    double* out = malloc(sizeof(double) * (size_t)(batches * M * N + 1));
    assert_non_null(out);
    for (int64_t t = 0; t < batches; ++t) {
        /* Unravel t over the batch shape, then map to a's and b's (right-aligned, size 1 -> 0). */
        int64_t idx[APH_TENSOR_MAX_DIMS];
        int64_t rest = t;
        for (size_t i = nbat; i-- > 0;) {
            idx[i] = rest % os[i];
            rest /= os[i];
        }
        int64_t aoff = 0, boff = 0;
        for (size_t i = 0; i < nbat; ++i) {
            if (i + (na - 2) >= nbat) {
                const int64_t d = as[i + (na - 2) - nbat];
                aoff = aoff * d + (d == 1 ? 0 : idx[i]);
            }
            if (i + (nb - 2) >= nbat) {
                const int64_t d = bs[i + (nb - 2) - nbat];
                boff = boff * d + (d == 1 ? 0 : idx[i]);
            }
        }
        const double* A = a + aoff * as[na - 2] * as[na - 1];
        const double* B = b + boff * bs[nb - 2] * bs[nb - 1];
        for (int64_t m = 0; m < M; ++m) {
            for (int64_t n = 0; n < N; ++n) {
                double s = 0.0;
                for (int64_t k = 0; k < K; ++k) {
                    const double av = ta ? A[k * M + m] : A[m * K + k];
                    const double bv = tb ? B[n * K + k] : B[k * N + n];
                    s += av * bv;
                }
                const int64_t o = (t * M + m) * N + n;
                out[o] = alpha * s + (beta != 0.0 ? beta * c0[o] : 0.0);
            }
        }
    }
    return out;
}

/* A strided output: a view taking every other element of the last dimension of a storage
 * [..., 2·last]. The view holds values (NULL: the whole storage is poisoned), the gaps 12345. */
static aph_tensor* strided_out(aph_dtype dtype, const int64_t* shape, size_t ndim, const double* values,
                               aph_tensor** storage) {
    int64_t big[APH_TENSOR_MAX_DIMS];
    memcpy(big, shape, ndim * sizeof *big);
    big[ndim - 1] *= 2;
    if (values == NULL) {
        *storage = ot_poisoned(dtype, big, ndim);
    } else {
        const int64_t n = ot_numel(shape, ndim), nb = ot_numel(big, ndim), last = shape[ndim - 1];
        double* full = malloc(sizeof(double) * (size_t)(nb ? nb : 1));
        assert_non_null(full);
        for (int64_t i = 0; i < nb; ++i) full[i] = 12345.0;
        for (int64_t i = 0; i < n; ++i) full[(i / last) * 2 * last + 2 * (i % last)] = values[i];
        *storage = ot_tensor(dtype, big, ndim, full);
        free(full);
    }
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_slice(*storage, ndim - 1, 0, big[ndim - 1], 2, &view));
    return view;
}

/* The gaps of a strided_out storage are untouched: 12345 as stored, or NaN when it was poisoned. */
static void assert_gaps(const aph_tensor* storage, int poisoned) {
    const int64_t n = aph_tensor_numel(storage);
    const double gap = ot_round(aph_tensor_dtype(storage), 12345.0);
    double* v = ot_read(storage);
    for (int64_t i = 1; i < n; i += 2) {
        if (poisoned ? !isnan(v[i]) : v[i] != gap) fail_msg("gap element %lld was written: %g", (long long)i, v[i]);
    }
    free(v);
}

enum { STRIDE_A = 1, STRIDE_B = 2, STRIDE_OUT = 4 };

/* Runs one aph_op_matmul on fresh inputs and checks it against the reference. */
static void check_matmul(aph_dtype dt, const int64_t* as, size_t na, int ta, const int64_t* bs, size_t nb, int tb,
                         double alpha, double beta, int strides, aph_stream* stream) {
    const int64_t nav = ot_numel(as, na), nbv = ot_numel(bs, nb);
    double* av = random_values(dt, nav);
    double* bv = random_values(dt, nbv);
    int64_t os[APH_TENSOR_MAX_DIMS];
    size_t ond = 0;
    /* Shape first (c0 needs it); the reference is recomputed below with c0. */
    free(ref_matmul(av, as, na, ta, bv, bs, nb, tb, alpha, 0.0, NULL, os, &ond));
    const int64_t no = ot_numel(os, ond);
    double* c0 = beta != 0.0 ? random_values(dt, no) : NULL;
    double* want = ref_matmul(av, as, na, ta, bv, bs, nb, tb, alpha, beta, c0, os, &ond);

    aph_tensor* a = input(dt, as, na, av, strides & STRIDE_A);
    aph_tensor* b = input(dt, bs, nb, bv, strides & STRIDE_B);
    aph_tensor* storage = NULL;
    aph_tensor* out;
    if (strides & STRIDE_OUT) out = strided_out(dt, os, ond, c0, &storage);
    else
        out = c0 != NULL ? ot_tensor(dt, os, ond, c0) : ot_poisoned(dt, os, ond);

    APH_ASSERT_OK(aph_op_matmul(a, b, ta, tb, alpha, beta, out, stream));
    if (stream != NULL) APH_ASSERT_OK(aph_stream_synchronize(stream));
    double* got = ot_read(out);
    char what[160];
    snprintf(what, sizeof what, "matmul a[%lld..] ta %d tb %d K %lld alpha %g beta %g strides %d", (long long)as[0], ta,
             tb, (long long)(ta ? as[na - 2] : as[na - 1]), alpha, beta, strides);
    ot_assert_close(got, want, (size_t)no, dt, acc_scale(ta ? as[na - 2] : as[na - 1]), what);
    if (storage != NULL) assert_gaps(storage, c0 == NULL);

    free(got);
    free(want);
    free(c0);
    free(av);
    free(bv);
    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(out);
    aph_tensor_release(storage);
}

/* Stored shape of an operand [rows, cols] of the product, as given to aph_op_matmul. */
static void stored(int64_t rows, int64_t cols, int trans, int64_t out[2]) {
    out[0] = trans ? cols : rows;
    out[1] = trans ? rows : cols;
}

/* ---------------------------------------------------------------------------------------- */
/* aph_op_matmul                                                                            */
/* ---------------------------------------------------------------------------------------- */

static void test_matmul_sizes_and_transposes(void** state) {
    (void)state;
    static const int64_t sizes[][3] = {{1, 1, 1},    {3, 17, 1},   {1, 33, 3}, {17, 3, 33},
                                       {33, 65, 17}, {65, 33, 65}, {3, 1, 17}, {65, 1, 1}};
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
            const int64_t M = sizes[s][0], K = sizes[s][1], N = sizes[s][2];
            for (int t = 0; t < 4; ++t) {
                const int ta = t & 1, tb = t >> 1;
                int64_t as[2], bs[2];
                stored(M, K, ta, as);
                stored(K, N, tb, bs);
                check_matmul(dts[d], as, 2, ta, bs, 2, tb, 1.0, 0.0, 0, NULL);
            }
        }
    }
}

static void test_matmul_alpha_beta(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const int64_t as[2] = {17, 33}, bs[2] = {33, 3}, bt[2] = {3, 33};
        /* beta != 0: out holds random values that take part. */
        check_matmul(dts[d], as, 2, 0, bs, 2, 0, 0.5, -1.25, 0, NULL);
        check_matmul(dts[d], as, 2, 0, bt, 2, 1, -2.0, 1.0, 0, NULL);
        /* beta == 0: out is NaN-poisoned and must not be read. */
        check_matmul(dts[d], as, 2, 0, bs, 2, 0, 2.0, 0.0, 0, NULL);
        /* alpha == 0: out = beta · out. */
        check_matmul(dts[d], as, 2, 0, bs, 2, 0, 0.0, 0.75, 0, NULL);
    }
}

static void test_matmul_batch_broadcast(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const aph_dtype dt = dts[d];
        /* [2, 1, M, K] x [3, K, N] -> [2, 3, M, N]: a's batch cannot be one stride. */
        const int64_t a1[4] = {2, 1, 5, 17}, b1[3] = {3, 17, 3};
        check_matmul(dt, a1, 4, 0, b1, 3, 0, 1.0, 0.0, 0, NULL);
        /* The same with transposes and beta. */
        const int64_t a1t[4] = {2, 1, 17, 5}, b1t[3] = {3, 3, 17};
        check_matmul(dt, a1t, 4, 1, b1t, 3, 1, 1.5, 0.5, 0, NULL);
        /* 3-D a with a 2-D b (b broadcast: batch stride 0), and the reverse. */
        const int64_t a2[3] = {4, 3, 33}, b2[2] = {33, 17};
        check_matmul(dt, a2, 3, 0, b2, 2, 0, 1.0, 0.0, 0, NULL);
        const int64_t a3[2] = {3, 33}, b3[3] = {4, 17, 33};
        check_matmul(dt, a3, 2, 0, b3, 3, 1, 1.0, 0.0, 0, NULL);
        /* [1, 3] batch against [2, 1]: both operands broadcast in different dimensions. */
        const int64_t a4[4] = {1, 3, 3, 5}, b4[4] = {2, 1, 5, 1};
        check_matmul(dt, a4, 4, 0, b4, 4, 0, 1.0, 0.0, 0, NULL);
        /* Same batch shapes, 4-D. */
        const int64_t a5[4] = {2, 3, 1, 65}, b5[4] = {2, 3, 65, 3};
        check_matmul(dt, a5, 4, 0, b5, 4, 0, 1.0, 0.0, 0, NULL);
    }
}

static void test_matmul_strided_inputs(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const aph_dtype dt = dts[d];
        for (int t = 0; t < 4; ++t) {
            const int ta = t & 1, tb = t >> 1;
            int64_t as[2], bs[2];
            stored(17, 33, ta, as);
            stored(33, 3, tb, bs);
            /* Every other element of the last dimension: a unit stride nowhere (copied), or
             * a padded leading stride where the transposed reading fits. */
            check_matmul(dt, as, 2, ta, bs, 2, tb, 1.0, 0.0, STRIDE_A, NULL);
            check_matmul(dt, as, 2, ta, bs, 2, tb, 1.0, 0.0, STRIDE_B, NULL);
            check_matmul(dt, as, 2, ta, bs, 2, tb, 1.0, 0.0, STRIDE_A | STRIDE_B, NULL);
        }
        const int64_t a3[3] = {3, 5, 17}, b3[3] = {3, 17, 4};
        check_matmul(dt, a3, 3, 0, b3, 3, 0, 1.0, 0.0, STRIDE_A | STRIDE_B, NULL);

        /* Transposed views (aph_tensor_transpose): column-major operands read in place. */
        const int64_t M = 17, K = 33, N = 5;
        const int64_t ast[2] = {K, M}, bst[2] = {N, K};
        double* av = random_values(dt, M * K);
        double* bv = random_values(dt, K * N);
        aph_tensor* a_kn = ot_tensor(dt, ast, 2, av); /* holds aᵀ: [K, M] */
        aph_tensor* b_nk = ot_tensor(dt, bst, 2, bv); /* holds bᵀ: [N, K] */
        aph_tensor *a = NULL, *b = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(a_kn, 0, 1, &a)); /* [M, K], strides (1, M) */
        APH_ASSERT_OK(aph_tensor_transpose(b_nk, 0, 1, &b)); /* [K, N], strides (1, K) */
        int64_t os[APH_TENSOR_MAX_DIMS];
        size_t ond = 0;
        double* want = ref_matmul(av, ast, 2, 1, bv, bst, 2, 1, 1.0, 0.0, NULL, os, &ond);
        aph_tensor* out = ot_poisoned(dt, os, ond);
        APH_ASSERT_OK(aph_op_matmul(a, b, 0, 0, 1.0, 0.0, out, NULL));
        double* got = ot_read(out);
        ot_assert_close(got, want, (size_t)(M * N), dt, acc_scale(K), "matmul of transposed views");
        free(got);
        /* The transposed view transposed again by the flag: aᵀ [K, M] read as [M, K]ᵀ... */
        aph_tensor* out2 = ot_poisoned(dt, (const int64_t[]){K, K}, 2);
        double* want2 = ref_matmul(av, ast, 2, 0, av, ast, 2, 1, 1.0, 0.0, NULL, os, &ond); /* aᵀ·a */
        APH_ASSERT_OK(aph_op_matmul(a, a, 1, 0, 1.0, 0.0, out2, NULL));
        got = ot_read(out2);
        ot_assert_close(got, want2, (size_t)(K * K), dt, acc_scale(M), "matmul of a transposed view with transpose_a");
        free(got);
        free(want2);
        free(want);
        free(av);
        free(bv);
        aph_tensor_release(out);
        aph_tensor_release(out2);
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(a_kn);
        aph_tensor_release(b_nk);
    }
}

static void test_matmul_strided_out(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const int64_t as[2] = {17, 33}, bs[2] = {33, 5};
        check_matmul(dts[d], as, 2, 0, bs, 2, 0, 1.0, 0.0, STRIDE_OUT, NULL);
        check_matmul(dts[d], as, 2, 0, bs, 2, 0, 0.5, 2.0, STRIDE_OUT, NULL);
        const int64_t a3[4] = {2, 1, 3, 17}, b3[3] = {3, 17, 5};
        check_matmul(dts[d], a3, 4, 0, b3, 3, 0, 1.0, -1.0, STRIDE_OUT | STRIDE_A, NULL);
    }
}

static void test_matmul_empty(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const aph_dtype dt = dts[d];
        /* K == 0: out = beta · out; beta 0 writes zeros over NaN. */
        const int64_t as[2] = {3, 0}, bs[2] = {0, 5}, bst[2] = {5, 0};
        check_matmul(dt, as, 2, 0, bs, 2, 0, 1.0, 0.0, 0, NULL);
        check_matmul(dt, as, 2, 0, bst, 2, 1, 1.0, 2.5, 0, NULL);
        check_matmul(dt, as, 2, 0, bs, 2, 0, 1.0, -1.0, STRIDE_OUT, NULL);
        const int64_t a3[3] = {2, 3, 0};
        check_matmul(dt, a3, 3, 0, bs, 2, 0, 1.0, 0.0, 0, NULL);

        /* M, N or a batch dimension 0: nothing to do, OK. */
        const int64_t shapes[][3][3] = {{{0, 4}, {4, 3}, {0, 3}}, {{3, 4}, {4, 0}, {3, 0}}, {{0, 0}, {0, 0}, {0, 0}}};
        for (size_t i = 0; i < 3; ++i) {
            aph_tensor* a = ot_tensor(dt, shapes[i][0], 2, NULL);
            aph_tensor* b = ot_tensor(dt, shapes[i][1], 2, NULL);
            aph_tensor* out = ot_tensor(dt, shapes[i][2], 2, NULL);
            APH_ASSERT_OK(aph_op_matmul(a, b, 0, 0, 1.0, 1.0, out, NULL));
            aph_tensor_release(a);
            aph_tensor_release(b);
            aph_tensor_release(out);
        }
        const int64_t ab[3] = {0, 3, 4}, bb[2] = {4, 5}, ob[3] = {0, 3, 5};
        aph_tensor* a = ot_tensor(dt, ab, 3, NULL);
        aph_tensor* b = ot_tensor(dt, bb, 2, NULL);
        aph_tensor* out = ot_tensor(dt, ob, 3, NULL);
        APH_ASSERT_OK(aph_op_matmul(a, b, 0, 0, 1.0, 0.0, out, NULL));
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(out);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* aph_op_linear                                                                            */
/* ---------------------------------------------------------------------------------------- */

static void check_linear(aph_dtype dt, const int64_t* xs, size_t nx, int64_t N, int with_bias, int strided_x,
                         int strided_o, aph_stream* stream) {
    const int64_t K = xs[nx - 1], rows = ot_numel(xs, nx - 1);
    const int64_t ws[2] = {N, K}, bsh[1] = {N};
    double* xv = random_values(dt, rows * K);
    double* wv = random_values(dt, N * K);
    double* bv = with_bias ? random_values(dt, N) : NULL;
    double* want = malloc(sizeof(double) * (size_t)(rows * N + 1));
    assert_non_null(want);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t n = 0; n < N; ++n) {
            double s = 0.0;
            for (int64_t k = 0; k < K; ++k) s += xv[r * K + k] * wv[n * K + k];
            want[r * N + n] = s + (bv ? bv[n] : 0.0);
        }
    }
    int64_t os[APH_TENSOR_MAX_DIMS];
    memcpy(os, xs, (nx - 1) * sizeof *os);
    os[nx - 1] = N;
    aph_tensor* x = input(dt, xs, nx, xv, strided_x);
    aph_tensor* w = ot_tensor(dt, ws, 2, wv);
    aph_tensor* bias = bv ? ot_tensor(dt, bsh, 1, bv) : NULL;
    aph_tensor* storage = NULL;
    aph_tensor* out = strided_o ? strided_out(dt, os, nx, NULL, &storage) : ot_poisoned(dt, os, nx);
    APH_ASSERT_OK(aph_op_linear(x, w, bias, out, stream));
    if (stream != NULL) APH_ASSERT_OK(aph_stream_synchronize(stream));
    double* got = ot_read(out);
    char what[128];
    snprintf(what, sizeof what, "linear rows %lld K %lld N %lld bias %d strided x %d out %d", (long long)rows,
             (long long)K, (long long)N, with_bias, strided_x, strided_o);
    ot_assert_close(got, want, (size_t)(rows * N), dt, acc_scale(K), what);
    if (storage != NULL) assert_gaps(storage, 1);
    free(got);
    free(want);
    free(xv);
    free(wv);
    free(bv);
    aph_tensor_release(x);
    aph_tensor_release(w);
    aph_tensor_release(bias);
    aph_tensor_release(out);
    aph_tensor_release(storage);
}

static void test_linear(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const aph_dtype dt = dts[d];
        static const int64_t sizes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 33, 65}, {65, 3, 1}, {1, 65, 33}};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
            const int64_t xs[2] = {sizes[s][0], sizes[s][1]};
            check_linear(dt, xs, 2, sizes[s][2], 1, 0, 0, NULL);
            check_linear(dt, xs, 2, sizes[s][2], 0, 0, 0, NULL);
        }
        /* 3-D x (rows = 2·3), strided x, strided out, 1-D x. */
        const int64_t x3[3] = {2, 3, 17};
        check_linear(dt, x3, 3, 5, 1, 0, 0, NULL);
        check_linear(dt, x3, 3, 5, 0, 1, 0, NULL);
        check_linear(dt, x3, 3, 5, 1, 1, 1, NULL);
        const int64_t x1[1] = {33};
        check_linear(dt, x1, 1, 3, 1, 0, 0, NULL);
        /* K == 0: out = bias (or zeros). */
        const int64_t x0[2] = {3, 0};
        check_linear(dt, x0, 2, 5, 1, 0, 0, NULL);
        check_linear(dt, x0, 2, 5, 0, 0, 0, NULL);
    }
}

static void test_linear_views(void** state) {
    (void)state;
    /* x as a transposed view [3, 2, K] of [2, 3, K]: its rows do not collapse into one
     * stride (copied); weight as a transposed view of [K, N] (read in place, row-major). */
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const aph_dtype dt = dts[d];
        const int64_t xs[3] = {2, 3, 17}, wts[2] = {17, 5};
        const int64_t K = 17, N = 5;
        double* xv = random_values(dt, 2 * 3 * K);
        double* wv = random_values(dt, K * N); /* wᵀ stored [K, N] */
        aph_tensor* xb = ot_tensor(dt, xs, 3, xv);
        aph_tensor* wb = ot_tensor(dt, wts, 2, wv);
        aph_tensor *x = NULL, *w = NULL;
        APH_ASSERT_OK(aph_tensor_transpose(xb, 0, 1, &x)); /* [3, 2, K] */
        APH_ASSERT_OK(aph_tensor_transpose(wb, 0, 1, &w)); /* [N, K] */
        const int64_t os[3] = {3, 2, N};
        aph_tensor* out = ot_poisoned(dt, os, 3);
        APH_ASSERT_OK(aph_op_linear(x, w, NULL, out, NULL));
        double want[3 * 2 * 5];
        for (int64_t i = 0; i < 3; ++i) {
            for (int64_t j = 0; j < 2; ++j) {
                for (int64_t n = 0; n < N; ++n) {
                    double s = 0.0;
                    for (int64_t k = 0; k < K; ++k) s += xv[(j * 3 + i) * K + k] * wv[k * N + n];
                    want[(i * 2 + j) * N + n] = s;
                }
            }
        }
        double* got = ot_read(out);
        ot_assert_close(got, want, 30, dt, acc_scale(K), "linear of transposed views");
        free(got);
        free(xv);
        free(wv);
        aph_tensor_release(out);
        aph_tensor_release(x);
        aph_tensor_release(w);
        aph_tensor_release(xb);
        aph_tensor_release(wb);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* aph_op_gru_cell                                                                          */
/* ---------------------------------------------------------------------------------------- */

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

static void check_gru(aph_dtype dt, int64_t B, int64_t I, int64_t H, int with_bias, int strided, aph_stream* stream) {
    const int64_t xs[2] = {B, I}, hs[2] = {B, H}, wis[2] = {3 * H, I}, whs[2] = {3 * H, H}, bsh[1] = {3 * H};
    double* xv = random_values(dt, B * I);
    double* hv = random_values(dt, B * H);
    double* wiv = random_values(dt, 3 * H * I);
    double* whv = random_values(dt, 3 * H * H);
    double* biv = with_bias ? random_values(dt, 3 * H) : NULL;
    double* bhv = with_bias ? random_values(dt, 3 * H) : NULL;
    double* want = malloc(sizeof(double) * (size_t)(B * H + 1));
    double* gi = malloc(sizeof(double) * (size_t)(3 * H));
    double* gh = malloc(sizeof(double) * (size_t)(3 * H));
    assert_non_null(want);
    assert_non_null(gi);
    assert_non_null(gh);
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t g = 0; g < 3 * H; ++g) {
            double si = biv ? biv[g] : 0.0, sh = bhv ? bhv[g] : 0.0;
            for (int64_t i = 0; i < I; ++i) si += xv[b * I + i] * wiv[g * I + i];
            for (int64_t j = 0; j < H; ++j) sh += hv[b * H + j] * whv[g * H + j];
            gi[g] = si;
            gh[g] = sh;
        }
        for (int64_t j = 0; j < H; ++j) {
            const double r = sigmoid(gi[j] + gh[j]);
            const double z = sigmoid(gi[H + j] + gh[H + j]);
            const double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
            want[b * H + j] = (1.0 - z) * n + z * hv[b * H + j];
        }
    }
    aph_tensor* x = input(dt, xs, 2, xv, strided);
    aph_tensor* h = input(dt, hs, 2, hv, strided);
    aph_tensor* wi = ot_tensor(dt, wis, 2, wiv);
    aph_tensor* wh = input(dt, whs, 2, whv, strided);
    aph_tensor* bi = biv ? ot_tensor(dt, bsh, 1, biv) : NULL;
    aph_tensor* bh = bhv ? input(dt, bsh, 1, bhv, strided) : NULL;
    aph_tensor* storage = NULL;
    aph_tensor* out = strided ? strided_out(dt, hs, 2, NULL, &storage) : ot_poisoned(dt, hs, 2);
    APH_ASSERT_OK(aph_op_gru_cell(x, h, wi, wh, bi, bh, out, stream));
    if (stream != NULL) APH_ASSERT_OK(aph_stream_synchronize(stream));
    double* got = ot_read(out);
    char what[128];
    snprintf(what, sizeof what, "gru B %lld I %lld H %lld bias %d strided %d", (long long)B, (long long)I, (long long)H,
             with_bias, strided);
    /* The gates see sums of I and H products (then sigmoid/tanh, whose slopes are at most 1). */
    ot_assert_close(got, want, (size_t)(B * H), dt, acc_scale(I > H ? I : H), what);
    if (storage != NULL) assert_gaps(storage, 1);
    free(got);
    free(want);
    free(gi);
    free(gh);
    free(xv);
    free(hv);
    free(wiv);
    free(whv);
    free(biv);
    free(bhv);
    aph_tensor_release(x);
    aph_tensor_release(h);
    aph_tensor_release(wi);
    aph_tensor_release(wh);
    aph_tensor_release(bi);
    aph_tensor_release(bh);
    aph_tensor_release(out);
    aph_tensor_release(storage);
}

static void test_gru_cell(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    static const int64_t sizes[][3] = {{1, 1, 1}, {3, 17, 5}, {17, 33, 3}, {5, 3, 65}, {2, 65, 33}};
    for (size_t d = 0; d < ndt; ++d) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
            check_gru(dts[d], sizes[s][0], sizes[s][1], sizes[s][2], 1, 0, NULL);
            check_gru(dts[d], sizes[s][0], sizes[s][1], sizes[s][2], 0, 0, NULL);
        }
        check_gru(dts[d], 3, 17, 5, 1, 1, NULL);
        /* input size 0: gi is b_ih alone. */
        check_gru(dts[d], 3, 0, 5, 1, 0, NULL);
        check_gru(dts[d], 3, 0, 5, 0, 0, NULL);
    }
}

static void test_gru_cell_empty(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    const int64_t xs[2] = {0, 4}, hs[2] = {0, 3}, wi[2] = {9, 4}, wh[2] = {9, 3};
    aph_tensor* x = ot_tensor(dt, xs, 2, NULL);
    aph_tensor* h = ot_tensor(dt, hs, 2, NULL);
    aph_tensor* w1 = ot_tensor(dt, wi, 2, NULL);
    aph_tensor* w2 = ot_tensor(dt, wh, 2, NULL);
    aph_tensor* out = ot_tensor(dt, hs, 2, NULL);
    APH_ASSERT_OK(aph_op_gru_cell(x, h, w1, w2, NULL, NULL, out, NULL));
    aph_tensor_release(x);
    aph_tensor_release(h);
    aph_tensor_release(w1);
    aph_tensor_release(w2);
    aph_tensor_release(out);
}

/* ---------------------------------------------------------------------------------------- */
/* A custom stream                                                                          */
/* ---------------------------------------------------------------------------------------- */

static void test_custom_stream(void** state) {
    (void)state;
    aph_stream* s = NULL;
    APH_ASSERT_OK(aph_stream_create(ot_device(), &s));
    aph_dtype dts[4];
    const size_t ndt = ot_float_dtypes(dts);
    for (size_t d = 0; d < ndt; ++d) {
        const int64_t a3[4] = {2, 1, 3, 17}, b3[3] = {3, 5, 17};
        check_matmul(dts[d], a3, 4, 0, b3, 3, 1, 1.0, 0.5, STRIDE_OUT, s);
        check_matmul(dts[d], a3, 4, 0, b3, 3, 1, 1.0, 0.0, STRIDE_A, s);
        const int64_t xs[3] = {2, 3, 33};
        check_linear(dts[d], xs, 3, 17, 1, 1, 1, s);
        check_gru(dts[d], 3, 17, 33, 1, 1, s);
    }
    aph_stream_release(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void test_matmul_errors(void** state) {
    (void)state;
    const int64_t s23[2] = {2, 3}, s34[2] = {3, 4}, s45[2] = {4, 5}, s24[2] = {2, 4}, s42[2] = {4, 2};
    aph_tensor* a = ot_tensor(APH_DTYPE_F32, s23, 2, NULL);
    aph_tensor* b = ot_tensor(APH_DTYPE_F32, s34, 2, NULL);
    aph_tensor* bad = ot_tensor(APH_DTYPE_F32, s45, 2, NULL);
    aph_tensor* bh = ot_tensor(APH_DTYPE_F16, s34, 2, NULL);
    aph_tensor* bi = ot_tensor(APH_DTYPE_I32, s34, 2, NULL);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, s24, 2);
    aph_tensor* out_t = ot_poisoned(APH_DTYPE_F32, s42, 2);
    aph_tensor* out_h = ot_poisoned(APH_DTYPE_F16, s24, 2);

    APH_ASSERT_ERR(aph_op_matmul(NULL, b, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: a must not be NULL");
    APH_ASSERT_ERR(aph_op_matmul(a, NULL, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: b must not be NULL");
    APH_ASSERT_ERR(aph_op_matmul(a, b, 0, 0, 1.0, 0.0, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    /* The transpose flags are booleans: any non-zero value is true (messages say 1). */
    APH_ASSERT_ERR(aph_op_matmul(a, b, 7, 0, 1.0, 0.0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: a [2, 3] (transpose_a 1) and b [3, 4] (transpose_b 0): inner "
                   "dimensions 2 and 3 differ");
    {
        /* bᵀ·aᵀ [4, 2] with flags (2, -1) and (1, 1): the same bits. */
        double av[6], bv[12];
        ot_fill(av, 6, -1.0, 1.0);
        ot_fill(bv, 12, -1.0, 1.0);
        aph_tensor* ar = ot_tensor(APH_DTYPE_F32, s23, 2, av);
        aph_tensor* br = ot_tensor(APH_DTYPE_F32, s34, 2, bv);
        aph_tensor* ones = ot_poisoned(APH_DTYPE_F32, s42, 2);
        aph_tensor* others = ot_poisoned(APH_DTYPE_F32, s42, 2);
        APH_ASSERT_OK(aph_op_matmul(br, ar, 1, 1, 1.0, 0.0, ones, NULL));
        APH_ASSERT_OK(aph_op_matmul(br, ar, 2, -1, 1.0, 0.0, others, NULL));
        double* want = ot_read(ones);
        double* got = ot_read(others);
        assert_memory_equal(got, want, 8 * sizeof(double));
        assert_false(isnan(got[0]));
        free(want);
        free(got);
        aph_tensor_release(ar);
        aph_tensor_release(br);
        aph_tensor_release(ones);
        aph_tensor_release(others);
    }
    APH_ASSERT_ERR(aph_op_matmul(a, bh, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: b has dtype f16; expected f32");
    APH_ASSERT_ERR(aph_op_matmul(bi, bi, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: a has dtype i32; expected f32, f16, bf16 or f64");
    APH_ASSERT_ERR(aph_op_matmul(a, bad, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: a [2, 3] (transpose_a 0) and b [4, 5] (transpose_b 0): inner "
                   "dimensions 3 and 4 differ");
    APH_ASSERT_ERR(aph_op_matmul(a, b, 1, 0, 1.0, 0.0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: a [2, 3] (transpose_a 1) and b [3, 4] (transpose_b 0): inner "
                   "dimensions 2 and 3 differ");
    APH_ASSERT_ERR(aph_op_matmul(a, b, 0, 0, 1.0, 0.0, out_t, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 4], got [4, 2]");
    APH_ASSERT_ERR(aph_op_matmul(a, b, 0, 0, 1.0, 0.0, out_h, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out has dtype f16; this operation writes f32");

    /* Ranks and batch broadcasting. */
    const int64_t s3[1] = {3}, b234[3] = {2, 3, 4}, b345[3] = {3, 4, 5};
    aph_tensor* v = ot_tensor(APH_DTYPE_F32, s3, 1, NULL);
    APH_ASSERT_ERR(aph_op_matmul(v, b, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: a has shape [3]; a matrix product needs at least 2 dimensions");
    APH_ASSERT_ERR(aph_op_matmul(a, v, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: b has shape [3]; a matrix product needs at least 2 dimensions");
    aph_tensor* x234 = ot_tensor(APH_DTYPE_F32, b234, 3, NULL);
    aph_tensor* x345 = ot_tensor(APH_DTYPE_F32, b345, 3, NULL);
    APH_ASSERT_ERR(aph_op_matmul(x234, x345, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: a [2, 3, 4] and b [3, 4, 5]: batch dimensions do not broadcast "
                   "(2 vs 3)");

    /* out overlapping an input. */
    const int64_t s33[2] = {3, 3};
    aph_tensor* sq = ot_tensor(APH_DTYPE_F32, s33, 2, NULL);
    aph_tensor* sq2 = ot_tensor(APH_DTYPE_F32, s33, 2, NULL);
    APH_ASSERT_ERR(aph_op_matmul(sq, sq2, 0, 0, 1.0, 0.0, sq, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps a in memory");
    APH_ASSERT_ERR(aph_op_matmul(sq, sq2, 0, 0, 1.0, 0.0, sq2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps b in memory");

    /* Nothing was written by any failed call. */
    assert_true(all_nan(out));
    assert_true(all_nan(out_t));
    assert_true(all_nan(out_h));

    if (ot_is_cuda()) {
        /* f64 is CPU-only. */
        aph_tensor* a64 = ot_tensor(APH_DTYPE_F64, s23, 2, NULL);
        aph_tensor* b64 = ot_tensor(APH_DTYPE_F64, s34, 2, NULL);
        aph_tensor* o64 = ot_tensor(APH_DTYPE_F64, s24, 2, NULL);
        APH_ASSERT_ERR(aph_op_matmul(a64, b64, 0, 0, 1.0, 0.0, o64, NULL), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: f64 operations on CUDA (a)");
        aph_tensor_release(a64);
        aph_tensor_release(b64);
        aph_tensor_release(o64);

        /* A CPU tensor among CUDA ones. */
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* bc = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, APH_DTYPE_F32, s34, 2, &bc));
        APH_ASSERT_ERR(aph_op_matmul(a, bc, 0, 0, 1.0, 0.0, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        APH_ASSERT_ERR(aph_op_linear(a, bc, NULL, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        assert_true(all_nan(out));
        aph_tensor_release(bc);
        aph_device_release(cpu);
    }

    aph_tensor_release(a);
    aph_tensor_release(b);
    aph_tensor_release(bad);
    aph_tensor_release(bh);
    aph_tensor_release(bi);
    aph_tensor_release(out);
    aph_tensor_release(out_t);
    aph_tensor_release(out_h);
    aph_tensor_release(v);
    aph_tensor_release(x234);
    aph_tensor_release(x345);
    aph_tensor_release(sq);
    aph_tensor_release(sq2);
}

static void test_linear_errors(void** state) {
    (void)state;
    const int64_t xs[2] = {2, 3}, ws[2] = {5, 3}, wbad[2] = {5, 4}, w1[1] = {3}, bs[1] = {5}, bbad[1] = {4};
    const int64_t os[2] = {2, 5}, obad[2] = {5, 2}, s0[1] = {1};
    aph_tensor* x = ot_tensor(APH_DTYPE_F32, xs, 2, NULL);
    aph_tensor* w = ot_tensor(APH_DTYPE_F32, ws, 2, NULL);
    aph_tensor* wb = ot_tensor(APH_DTYPE_F32, wbad, 2, NULL);
    aph_tensor* wv = ot_tensor(APH_DTYPE_F32, w1, 1, NULL);
    aph_tensor* wh = ot_tensor(APH_DTYPE_BF16, ws, 2, NULL);
    aph_tensor* b = ot_tensor(APH_DTYPE_F32, bs, 1, NULL);
    aph_tensor* bb = ot_tensor(APH_DTYPE_F32, bbad, 1, NULL);
    aph_tensor* b16 = ot_tensor(APH_DTYPE_F16, bs, 1, NULL);
    aph_tensor* out = ot_poisoned(APH_DTYPE_F32, os, 2);
    aph_tensor* out_t = ot_poisoned(APH_DTYPE_F32, obad, 2);
    aph_tensor* scalar = ot_tensor(APH_DTYPE_F32, s0, 0, NULL);

    APH_ASSERT_ERR(aph_op_linear(NULL, w, b, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_linear(x, NULL, b, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: weight must not be NULL");
    APH_ASSERT_ERR(aph_op_linear(x, w, b, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_linear(x, wh, b, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: weight has dtype bf16; expected f32");
    APH_ASSERT_ERR(aph_op_linear(x, w, b16, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: bias has dtype f16; expected f32");
    APH_ASSERT_ERR(aph_op_linear(x, wb, b, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x [2, 3] and weight [5, 4]: x's last dimension 3 differs from "
                   "weight's K 4 (weight is [N, K])");
    APH_ASSERT_ERR(aph_op_linear(x, wv, b, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: weight has shape [3]; a linear layer needs weight [N, K]");
    APH_ASSERT_ERR(aph_op_linear(scalar, w, b, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x has shape []; a linear layer needs x [..., K]");
    APH_ASSERT_ERR(aph_op_linear(x, w, bb, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: bias has shape [4]; weight [5, 3] needs bias [5]");
    APH_ASSERT_ERR(aph_op_linear(x, w, b, out_t, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 5], got [5, 2]");
    assert_true(all_nan(out));
    assert_true(all_nan(out_t));

    if (ot_is_cuda()) {
        aph_tensor* x64 = ot_tensor(APH_DTYPE_F64, xs, 2, NULL);
        aph_tensor* w64 = ot_tensor(APH_DTYPE_F64, ws, 2, NULL);
        aph_tensor* o64 = ot_tensor(APH_DTYPE_F64, os, 2, NULL);
        APH_ASSERT_ERR(aph_op_linear(x64, w64, NULL, o64, NULL), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: f64 operations on CUDA (x)");
        aph_tensor_release(x64);
        aph_tensor_release(w64);
        aph_tensor_release(o64);
    }

    aph_tensor_release(x);
    aph_tensor_release(w);
    aph_tensor_release(wb);
    aph_tensor_release(wv);
    aph_tensor_release(wh);
    aph_tensor_release(b);
    aph_tensor_release(bb);
    aph_tensor_release(b16);
    aph_tensor_release(out);
    aph_tensor_release(out_t);
    aph_tensor_release(scalar);
}

static void test_gru_errors(void** state) {
    (void)state;
    const aph_dtype f = APH_DTYPE_F32;
    const int64_t xs[2] = {2, 3}, hs[2] = {2, 4}, wis[2] = {12, 3}, whs[2] = {12, 4}, bs[1] = {12};
    const int64_t h_bad[2] = {3, 4}, wi_bad[2] = {12, 4}, wh_bad[2] = {9, 4}, b_bad[1] = {9}, o_bad[2] = {4, 2};
    aph_tensor* x = ot_tensor(f, xs, 2, NULL);
    aph_tensor* h = ot_tensor(f, hs, 2, NULL);
    aph_tensor* wi = ot_tensor(f, wis, 2, NULL);
    aph_tensor* wh = ot_tensor(f, whs, 2, NULL);
    aph_tensor* bi = ot_tensor(f, bs, 1, NULL);
    aph_tensor* bh = ot_tensor(f, bs, 1, NULL);
    aph_tensor* hb = ot_tensor(f, h_bad, 2, NULL);
    aph_tensor* wib = ot_tensor(f, wi_bad, 2, NULL);
    aph_tensor* whb = ot_tensor(f, wh_bad, 2, NULL);
    aph_tensor* bb = ot_tensor(f, b_bad, 1, NULL);
    aph_tensor* h16 = ot_tensor(APH_DTYPE_F16, hs, 2, NULL);
    aph_tensor* out = ot_poisoned(f, hs, 2);
    aph_tensor* out_b = ot_poisoned(f, o_bad, 2);

    APH_ASSERT_ERR(aph_op_gru_cell(NULL, h, wi, wh, bi, bh, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_gru_cell(x, NULL, wi, wh, bi, bh, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: h must not be NULL");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h, NULL, wh, bi, bh, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: w_ih must not be NULL");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h, wi, NULL, bi, bh, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: w_hh must not be NULL");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h, wi, wh, bi, bh, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h16, wi, wh, bi, bh, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: h has dtype f16; expected f32");
    APH_ASSERT_ERR(aph_op_gru_cell(x, hb, wi, wh, bi, bh, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x [2, 3] and h [3, 4]: batch sizes 2 and 3 differ");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h, wib, wh, bi, bh, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: w_ih has shape [12, 4]; x [2, 3] and h [2, 4] need w_ih [12, 3] "
                   "([3·hidden, input])");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h, wi, whb, bi, bh, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: w_hh has shape [9, 4]; x [2, 3] and h [2, 4] need w_hh [12, 4] "
                   "([3·hidden, hidden])");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h, wi, wh, bi, bb, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: b_hh has shape [9]; x [2, 3] and h [2, 4] need b_hh [12] "
                   "([3·hidden])");
    APH_ASSERT_ERR(aph_op_gru_cell(bi, h, wi, wh, bi, bh, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: x has shape [12]; the GRU cell needs x [batch, input]");
    APH_ASSERT_ERR(aph_op_gru_cell(x, h, wi, wh, bi, bh, out_b, NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [2, 4], got [4, 2]");
    /* out may not be h (nor overlap any input). */
    APH_ASSERT_ERR(aph_op_gru_cell(x, out, wi, wh, bi, bh, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out overlaps h in memory");
    assert_true(all_nan(out));
    assert_true(all_nan(out_b));

    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* hc = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, f, hs, 2, &hc));
        APH_ASSERT_ERR(aph_op_gru_cell(x, hc, wi, wh, bi, bh, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        assert_true(all_nan(out));
        aph_tensor_release(hc);
        aph_device_release(cpu);
    }

    aph_tensor_release(x);
    aph_tensor_release(h);
    aph_tensor_release(wi);
    aph_tensor_release(wh);
    aph_tensor_release(bi);
    aph_tensor_release(bh);
    aph_tensor_release(hb);
    aph_tensor_release(wib);
    aph_tensor_release(whb);
    aph_tensor_release(bb);
    aph_tensor_release(h16);
    aph_tensor_release(out);
    aph_tensor_release(out_b);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_sizes_and_transposes),
        cmocka_unit_test(test_matmul_alpha_beta),
        cmocka_unit_test(test_matmul_batch_broadcast),
        cmocka_unit_test(test_matmul_strided_inputs),
        cmocka_unit_test(test_matmul_strided_out),
        cmocka_unit_test(test_matmul_empty),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_views),
        cmocka_unit_test(test_gru_cell),
        cmocka_unit_test(test_gru_cell_empty),
        cmocka_unit_test(test_custom_stream),
        cmocka_unit_test(test_matmul_errors),
        cmocka_unit_test(test_linear_errors),
        cmocka_unit_test(test_gru_errors),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
