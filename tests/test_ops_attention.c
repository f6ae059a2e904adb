/* aph_op_attention against a float64 reference written here: scores materialised per query row
 * (fine at test sizes), softmax in double, causal masking aligned at the bottom right, GQA head
 * mapping, additive masks broadcast from their own shapes, fully masked rows giving zeros. */
#include "ops_test_util.h"

enum { MASK_NONE = 0, MASK_SQ_SK = 1, MASK_B11SK = 2 };
enum { LAYOUT_CONTIG = 0, LAYOUT_STRIDED = 1, LAYOUT_FUSED = 2, LAYOUT_PADDED = 3 };

typedef struct attn_case {
    int64_t B, Sq, Sk, Hq, Hkv, D;
    int causal;
    double scale;     /* passed as is: 0 means 1/sqrt(D) */
    int mask;         /* MASK_* */
    int mask_f32;     /* the mask is f32 (else q's dtype) */
    int64_t dead_row; /* MASK_SQ_SK: a query row whose every key is -inf; -1 for none */
    int layout;       /* LAYOUT_*: contiguous; last stride 2 (the op copies); views of [B, S, 3, H, D];
                       * views [..., 1:D+1] of [B, S, H, D + 1] (rows at odd offsets, last stride 1) */
    int strided_out;  /* out is a view with last stride 2 (the op writes through a stand-in) */
} attn_case;

/* ---- reference ------------------------------------------------------------------------------ */

/* The mask value for (b, h, i, j) from the mask's own shape (right-aligned, size-1 broadcast). */
static double mask_at(const double* m, const int64_t* ms, size_t nd, int64_t b, int64_t h, int64_t i, int64_t j) {
    const int64_t idx[4] = {b, h, i, j};
    int64_t off = 0;
    for (size_t a = 0; a < nd; ++a) {
        const int64_t x = ms[a] == 1 ? 0 : idx[4 - nd + a];
        off = off * ms[a] + x;
    }
    return m[off];
}

/* One output row: out[b, i, h, :] from q [B, Sq, Hq, D], k and v [B, Sk, Hkv, D] (contiguous
 * doubles), mask (NULL or values of shape ms). scratch holds Sk doubles. */
static void ref_row(const attn_case* c, double scale, const double* q, const double* k, const double* v,
                    const double* m, const int64_t* ms, size_t mnd, int64_t b, int64_t h, int64_t i, double* scratch,
                    double* out) {
    const int64_t D = c->D, hk = h / (c->Hq / c->Hkv);
    const double* qr = q + ((b * c->Sq + i) * c->Hq + h) * D;
    double mx = -INFINITY;
    for (int64_t j = 0; j < c->Sk; ++j) {
        double s;
        if (c->causal && j > i + c->Sk - c->Sq) {
            s = -INFINITY;
        } else {
            const double* kr = k + ((b * c->Sk + j) * c->Hkv + hk) * D;
            s = 0.0;
            for (int64_t d = 0; d < D; ++d) s += qr[d] * kr[d];
            s *= scale;
            if (m != NULL) s += mask_at(m, ms, mnd, b, h, i, j);
        }
        scratch[j] = s;
        if (s > mx) mx = s;
    }
    for (int64_t d = 0; d < D; ++d) out[d] = 0.0;
    if (mx == -INFINITY) return; /* every key masked: zeros */
    double sum = 0.0;
    for (int64_t j = 0; j < c->Sk; ++j) {
        const double p = exp(scratch[j] - mx);
        sum += p;
        const double* vr = v + ((b * c->Sk + j) * c->Hkv + hk) * D;
        for (int64_t d = 0; d < D; ++d) out[d] += p * vr[d];
    }
    for (int64_t d = 0; d < D; ++d) out[d] /= sum;
}

/* ---- inputs --------------------------------------------------------------------------------- */

static double* fresh(size_t n, aph_dtype dt) {
    double* x = malloc(sizeof(double) * (n ? n : 1));
    assert_non_null(x);
    ot_fill(x, n, -1.0, 1.0);
    ot_round_all(dt, x, n);
    return x;
}

static aph_tensor* input(aph_dtype dt, const int64_t* shape, const double* vals, int layout) {
    if (layout == LAYOUT_STRIDED) return ot_tensor_strided(dt, shape, 4, vals);
    if (layout != LAYOUT_PADDED) return ot_tensor(dt, shape, 4, vals);
    const int64_t D = shape[3], rows = shape[0] * shape[1] * shape[2];
    const int64_t big[4] = {shape[0], shape[1], shape[2], D + 1};
    const size_t n = (size_t)(rows * (D + 1));
    double* full = malloc(sizeof(double) * (n ? n : 1));
    assert_non_null(full);
    for (int64_t r = 0; r < rows; ++r) {
        full[r * (D + 1)] = 12345.0; /* the gap: a value no test expects */
        for (int64_t d = 0; d < D; ++d) full[r * (D + 1) + 1 + d] = vals[r * D + d];
    }
    aph_tensor* storage = ot_tensor(dt, big, 4, full);
    free(full);
    aph_tensor* view = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(storage, 3, 1, D, &view));
    aph_tensor_release(storage);
    return view;
}

static int is_all_nan(const aph_tensor* t) {
    double* got = ot_read(t);
    const int64_t n = aph_tensor_numel(t);
    int ok = 1;
    for (int64_t i = 0; i < n; ++i) ok = ok && isnan(got[i]);
    free(got);
    return ok;
}

/* Runs one case in dtype dt on stream (NULL: the default) and checks every output row. */
static void run_case(const attn_case* c, aph_dtype dt, aph_stream* stream) {
    const int64_t B = c->B, Sq = c->Sq, Sk = c->Sk, Hq = c->Hq, Hkv = c->Hkv, D = c->D;
    const int64_t qshape[4] = {B, Sq, Hq, D}, kshape[4] = {B, Sk, Hkv, D};
    const size_t nq = (size_t)ot_numel(qshape, 4), nk = (size_t)ot_numel(kshape, 4);
    double* q = fresh(nq, dt);
    double* k = fresh(nk, dt);
    double* v = fresh(nk, dt);

    /* The mask: finite values in [-2, 2) with some -inf. [Sq, Sk]: every 7th element, plus the
     * dead row; [B, 1, 1, Sk]: padding-style, key j of batch b when j % 5 == b + 1. */
    int64_t ms[4] = {0};
    size_t mnd = 0;
    double* m = NULL;
    aph_tensor* mask = NULL;
    const aph_dtype mdt = c->mask_f32 ? APH_DTYPE_F32 : dt;
    if (c->mask != MASK_NONE) {
        if (c->mask == MASK_SQ_SK) {
            ms[0] = Sq;
            ms[1] = Sk;
            mnd = 2;
        } else {
            ms[0] = B;
            ms[1] = 1;
            ms[2] = 1;
            ms[3] = Sk;
            mnd = 4;
        }
        const size_t n = (size_t)ot_numel(ms, mnd);
        m = malloc(sizeof(double) * (n ? n : 1));
        assert_non_null(m);
        ot_fill(m, n, -2.0, 2.0);
        for (size_t i = 0; i < n; ++i) {
            if (c->mask == MASK_SQ_SK) {
                const int64_t row = (int64_t)i / Sk;
                if (i % 7 == 3 || row == c->dead_row) m[i] = -INFINITY;
            } else {
                const int64_t b = (int64_t)i / Sk, j = (int64_t)i % Sk;
                if (j % 5 == b + 1) m[i] = -INFINITY;
            }
        }
        ot_round_all(mdt, m, n);
        mask = ot_tensor(mdt, ms, mnd, m);
    }

    aph_tensor *tq = NULL, *tk = NULL, *tv = NULL;
    if (c->layout == LAYOUT_FUSED) {
        /* One fused projection [B, S, 3, H, D]; q, k and v are its slices along dim 2. */
        assert_true(Sq == Sk && Hq == Hkv);
        const int64_t fshape[5] = {B, Sq, 3, Hq, D};
        double* f = malloc(sizeof(double) * (nq ? 3 * nq : 1));
        assert_non_null(f);
        for (size_t r = 0; r < (size_t)(B * Sq); ++r) {
            const size_t row = (size_t)(Hq * D);
            memcpy(f + (r * 3 + 0) * row, q + r * row, row * sizeof(double));
            memcpy(f + (r * 3 + 1) * row, k + r * row, row * sizeof(double));
            memcpy(f + (r * 3 + 2) * row, v + r * row, row * sizeof(double));
        }
        aph_tensor* fused = ot_tensor(dt, fshape, 5, f);
        free(f);
        APH_ASSERT_OK(aph_tensor_select(fused, 2, 0, &tq));
        APH_ASSERT_OK(aph_tensor_select(fused, 2, 1, &tk));
        APH_ASSERT_OK(aph_tensor_select(fused, 2, 2, &tv));
        aph_tensor_release(fused);
    } else {
        tq = input(dt, qshape, q, c->layout);
        tk = input(dt, kshape, k, c->layout);
        tv = input(dt, kshape, v, c->layout);
    }
    aph_tensor* out;
    if (c->strided_out) {
        double* nan = malloc(sizeof(double) * (nq ? nq : 1));
        assert_non_null(nan);
        for (size_t i = 0; i < nq; ++i) nan[i] = NAN;
        out = ot_tensor_strided(dt, qshape, 4, nan);
        free(nan);
    } else {
        out = ot_poisoned(dt, qshape, 4);
    }

    APH_ASSERT_OK(aph_op_attention(tq, tk, tv, mask, c->scale, c->causal, out, stream));
    if (stream != NULL) APH_ASSERT_OK(aph_stream_synchronize(stream));
    double* got = ot_read(out);

    double* want = malloc(sizeof(double) * (nq ? nq : 1));
    double* scratch = malloc(sizeof(double) * (size_t)(Sk ? Sk : 1));
    assert_non_null(want);
    assert_non_null(scratch);
    const double scale = c->scale == 0.0 ? 1.0 / sqrt((double)D) : c->scale;
    for (int64_t b = 0; b < B; ++b) {
        for (int64_t i = 0; i < Sq; ++i) {
            for (int64_t h = 0; h < Hq; ++h) {
                ref_row(c, scale, q, k, v, m, ms, mnd, b, h, i, scratch, want + ((b * Sq + i) * Hq + h) * D);
            }
        }
    }
    /* Accumulation is f32 (f64 for f64); only the inputs and the output are rounded on the CPU,
     * so the dtype's own tolerance holds. The CUDA tensor-core path also rounds the softmax
     * probabilities to f16/bf16 before P·V (as FlashAttention does): twice the half tolerance
     * covers that. */
    const double tol = (dt == APH_DTYPE_F16 || dt == APH_DTYPE_BF16) ? 2.0 : 1.0;
    char what[200];
    snprintf(what, sizeof what,
             "attention B=%lld Sq=%lld Sk=%lld Hq=%lld Hkv=%lld D=%lld causal=%d mask=%d%s layout=%d out=%s",
             (long long)B, (long long)Sq, (long long)Sk, (long long)Hq, (long long)Hkv, (long long)D, c->causal,
             c->mask, c->mask_f32 ? "(f32)" : "", c->layout, c->strided_out ? "strided" : "contiguous");
    ot_assert_close(got, want, nq, dt, tol, what);

    free(got);
    free(want);
    free(scratch);
    free(q);
    free(k);
    free(v);
    free(m);
    aph_tensor_release(tq);
    aph_tensor_release(tk);
    aph_tensor_release(tv);
    aph_tensor_release(mask);
    aph_tensor_release(out);
}

static void run_all_dtypes(const attn_case* c) {
    aph_dtype dts[4];
    const size_t n = ot_float_dtypes(dts);
    for (size_t i = 0; i < n; ++i) run_case(c, dts[i], NULL);
}

/* ---- shapes --------------------------------------------------------------------------------- */

/* Sq = Sk over 1, 17, 65, 130 (one key block, partial blocks, several blocks), Hq 4 with Hkv 4,
 * 2 and 1 (MHA, GQA, MQA), head_dim 64 and 128 (the CUDA tensor-core path) and 1, 8, 40, 96,
 * 256 (the generic path), causal and not. */
static void test_square(void** state) {
    (void)state;
    static const struct {
        int64_t S, Hkv, D;
        int causal;
    } shapes[] = {
        {1, 4, 64, 0},  {1, 1, 8, 1},    {17, 2, 40, 0},   {17, 4, 128, 1}, {65, 1, 64, 1},
        {65, 2, 96, 0}, {130, 4, 64, 0}, {130, 2, 128, 1}, {33, 1, 256, 0}, {17, 2, 1, 1},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
        const attn_case c = {.B = 2,
                             .Sq = shapes[s].S,
                             .Sk = shapes[s].S,
                             .Hq = 4,
                             .Hkv = shapes[s].Hkv,
                             .D = shapes[s].D,
                             .causal = shapes[s].causal,
                             .dead_row = -1};
        run_all_dtypes(&c);
    }
}

/* Sq != Sk: fewer queries than keys (decoding with a cache, causal aligned at the bottom right:
 * the last query sees every key) and more queries than keys (causal: the first Sq - Sk rows see
 * no key and are zeros). */
static void test_rectangular(void** state) {
    (void)state;
    static const struct {
        int64_t Sq, Sk, Hkv, D;
        int causal;
    } shapes[] = {
        {1, 130, 2, 64, 1}, {3, 127, 1, 128, 1}, {17, 65, 4, 40, 1}, {33, 130, 2, 96, 0},
        {65, 17, 4, 64, 1}, {130, 33, 1, 8, 1},  {17, 1, 2, 128, 0},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
        const attn_case c = {.B = 2,
                             .Sq = shapes[s].Sq,
                             .Sk = shapes[s].Sk,
                             .Hq = 4,
                             .Hkv = shapes[s].Hkv,
                             .D = shapes[s].D,
                             .causal = shapes[s].causal,
                             .dead_row = -1};
        run_all_dtypes(&c);
    }
}

/* Additive masks [Sq, Sk] and [B, 1, 1, Sk], in q's dtype and in f32, with -inf entries, with
 * and without causal masking; a query row whose keys are all masked gives zeros. */
static void test_masks(void** state) {
    (void)state;
    static const struct {
        int64_t Sq, Sk, Hkv, D;
        int causal, mask, f32;
        int64_t dead;
    } cases[] = {
        {17, 17, 2, 64, 0, MASK_SQ_SK, 0, 5},    {65, 65, 4, 128, 1, MASK_SQ_SK, 1, 64},
        {33, 130, 1, 40, 1, MASK_SQ_SK, 0, 0},   {17, 17, 4, 64, 0, MASK_B11SK, 1, -1},
        {65, 130, 2, 128, 1, MASK_B11SK, 0, -1}, {1, 65, 1, 8, 0, MASK_B11SK, 0, -1},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; ++s) {
        const attn_case c = {.B = 2,
                             .Sq = cases[s].Sq,
                             .Sk = cases[s].Sk,
                             .Hq = 4,
                             .Hkv = cases[s].Hkv,
                             .D = cases[s].D,
                             .causal = cases[s].causal,
                             .mask = cases[s].mask,
                             .mask_f32 = cases[s].f32,
                             .dead_row = cases[s].dead};
        run_all_dtypes(&c);
    }
}

/* A mask that hides everything: every row is zeros (l == 0 must not divide). */
static void test_all_masked(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        const int64_t qs[4] = {1, 9, 2, 64}, ks[4] = {1, 70, 2, 64}, ms[2] = {9, 70};
        double* q = fresh(9 * 2 * 64, dt);
        double* kv = fresh(70 * 2 * 64, dt);
        double* m = malloc(sizeof(double) * 9 * 70);
        assert_non_null(m);
        for (int i = 0; i < 9 * 70; ++i) m[i] = -INFINITY;
        aph_tensor* tq = ot_tensor(dt, qs, 4, q);
        aph_tensor* tk = ot_tensor(dt, ks, 4, kv);
        aph_tensor* tv = ot_tensor(dt, ks, 4, kv);
        aph_tensor* mask = ot_tensor(APH_DTYPE_F32, ms, 2, m);
        aph_tensor* out = ot_poisoned(dt, qs, 4);
        APH_ASSERT_OK(aph_op_attention(tq, tk, tv, mask, 0.0, 1, out, NULL));
        double* got = ot_read(out);
        for (int i = 0; i < 9 * 2 * 64; ++i) assert_true(got[i] == 0.0);
        free(got);
        free(q);
        free(kv);
        free(m);
        aph_tensor_release(tq);
        aph_tensor_release(tk);
        aph_tensor_release(tv);
        aph_tensor_release(mask);
        aph_tensor_release(out);
    }
}

/* Right padding, as a batch of sentences of different lengths gives: a [B, 1, 1, Sk] mask of 0
 * then -inf. The CPU kernel stops at the last visible key when that cannot change the result;
 * these check that it gives the reference's numbers, and that a NaN or an infinity in a padded
 * key or value still reaches the output as the arithmetic (0·NaN, -inf + inf) would take it. */
static void test_padding(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    const attn_case c = {.B = 3, .Sq = 70, .Sk = 70, .Hq = 4, .Hkv = 2, .D = 32, .dead_row = -1};
    const int64_t len[3] = {70, 41, 5};
    const int64_t qs[4] = {3, 70, 4, 32}, ks[4] = {3, 70, 2, 32}, ms[4] = {3, 1, 1, 70};
    const size_t nq = 3 * 70 * 4 * 32, nk = 3 * 70 * 2 * 32;
    double m[3 * 70];
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t j = 0; j < 70; ++j) m[b * 70 + j] = j < len[b] ? 0.0 : -INFINITY;
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        double* q = fresh(nq, dt);
        double* k = fresh(nk, dt);
        double* v = fresh(nk, dt);
        double* want = malloc(sizeof(double) * nq);
        double scratch[70];
        assert_non_null(want);
        aph_tensor* mask = ot_tensor(APH_DTYPE_F32, ms, 4, m);
        /* 0: as drawn; 1: a NaN in a padded value (batch 1, key 60, kv head 0, dim 3); 2: also
         * +inf in a padded key (batch 2, key 69, kv head 1, dim 0): its score is ±inf, and
         * ±inf + -inf is NaN for every query of the heads reading it. */
        for (int variant = 0; variant < 3; ++variant) {
            if (variant == 1) v[((1 * 70 + 60) * 2 + 0) * 32 + 3] = NAN;
            if (variant == 2) k[((2 * 70 + 69) * 2 + 1) * 32 + 0] = INFINITY;
            aph_tensor* tq = ot_tensor(dt, qs, 4, q);
            aph_tensor* tk = ot_tensor(dt, ks, 4, k);
            aph_tensor* tv = ot_tensor(dt, ks, 4, v);
            aph_tensor* out = ot_poisoned(dt, qs, 4);
            APH_ASSERT_OK(aph_op_attention(tq, tk, tv, mask, 0.0, 0, out, NULL));
            double* got = ot_read(out);
            for (int64_t b = 0; b < 3; ++b)
                for (int64_t i = 0; i < 70; ++i)
                    for (int64_t h = 0; h < 4; ++h)
                        ref_row(&c, 1.0 / sqrt(32.0), q, k, v, m, ms, 4, b, h, i, scratch,
                                want + ((b * 70 + i) * 4 + h) * 32);
            /* (The variants do put NaN in the reference: in dim 3 of every row of batch 1, heads
             * 0 and 1; in whole rows of batch 2, heads 2 and 3, whose q[0] is positive.) */
            if (variant == 1) assert_true(isnan(want[((1 * 70 + 7) * 4 + 1) * 32 + 3]));
            if (variant == 2) {
                int rows = 0;
                for (int64_t i = 0; i < 70; ++i) rows += isnan(want[((2 * 70 + i) * 4 + 3) * 32 + 5]);
                assert_true(rows > 0);
            }
            ot_assert_close(got, want, nq, dt, (dt == APH_DTYPE_F16 || dt == APH_DTYPE_BF16) ? 2.0 : 1.0,
                            variant == 0 ? "right-padded batch" : "right-padded batch, non-finite padding");
            free(got);
            aph_tensor_release(tq);
            aph_tensor_release(tk);
            aph_tensor_release(tv);
            aph_tensor_release(out);
        }
        aph_tensor_release(mask);
        free(q);
        free(k);
        free(v);
        free(want);
    }
}

/* An explicit scale instead of 1/sqrt(D). */
static void test_scale(void** state) {
    (void)state;
    const attn_case a = {.B = 2, .Sq = 17, .Sk = 33, .Hq = 4, .Hkv = 2, .D = 64, .scale = 0.3, .dead_row = -1};
    const attn_case b = {
        .B = 2, .Sq = 9, .Sk = 9, .Hq = 4, .Hkv = 1, .D = 40, .causal = 1, .scale = 1.7, .dead_row = -1};
    run_all_dtypes(&a);
    run_all_dtypes(&b);
}

/* causal is a boolean: any non-zero value masks as 1 does (the reference masks for any non-zero
 * value too). */
static void test_causal_any_nonzero(void** state) {
    (void)state;
    const attn_case a = {.B = 1, .Sq = 9, .Sk = 9, .Hq = 2, .Hkv = 1, .D = 8, .causal = 2, .dead_row = -1};
    const attn_case b = {.B = 2, .Sq = 5, .Sk = 12, .Hq = 2, .Hkv = 2, .D = 16, .causal = -1, .dead_row = -1};
    run_all_dtypes(&a);
    run_all_dtypes(&b);
}

/* Strided inputs: q, k, v as views into one fused [B, S, 3, H, D] projection (rows of D with
 * last stride 1, taken as they are), views whose rows start at odd element offsets (taken as
 * they are; on CUDA, the tensor-core path's unaligned loads) and views with last stride 2
 * (copied first); strided out. */
static void test_strided(void** state) {
    (void)state;
    const attn_case cases[] = {
        {.B = 2, .Sq = 65, .Sk = 65, .Hq = 4, .Hkv = 4, .D = 64, .causal = 1, .layout = LAYOUT_FUSED, .dead_row = -1},
        {.B = 2,
         .Sq = 17,
         .Sk = 17,
         .Hq = 4,
         .Hkv = 4,
         .D = 40,
         .layout = LAYOUT_FUSED,
         .strided_out = 1,
         .dead_row = -1},
        {.B = 2,
         .Sq = 17,
         .Sk = 33,
         .Hq = 4,
         .Hkv = 2,
         .D = 128,
         .causal = 1,
         .layout = LAYOUT_STRIDED,
         .dead_row = -1},
        {.B = 2,
         .Sq = 33,
         .Sk = 17,
         .Hq = 4,
         .Hkv = 1,
         .D = 64,
         .mask = MASK_SQ_SK,
         .dead_row = 2,
         .layout = LAYOUT_STRIDED,
         .strided_out = 1},
        {.B = 2, .Sq = 65, .Sk = 130, .Hq = 4, .Hkv = 2, .D = 64, .causal = 1, .layout = LAYOUT_PADDED, .dead_row = -1},
        {.B = 2,
         .Sq = 17,
         .Sk = 17,
         .Hq = 4,
         .Hkv = 4,
         .D = 128,
         .mask = MASK_B11SK,
         .layout = LAYOUT_PADDED,
         .dead_row = -1},
        {.B = 2, .Sq = 17, .Sk = 33, .Hq = 4, .Hkv = 1, .D = 40, .layout = LAYOUT_PADDED, .dead_row = -1},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; ++s) run_all_dtypes(&cases[s]);
}

/* Zero-size: no batch, no queries, no head_dim (nothing written, no launch); no keys (every row
 * has all its keys masked: zeros). */
static void test_zero_size(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t nd = ot_float_dtypes(dts);
    for (size_t t = 0; t < nd; ++t) {
        const aph_dtype dt = dts[t];
        static const int64_t shapes[][2][4] = {
            {{0, 5, 4, 64}, {0, 7, 2, 64}},
            {{2, 0, 4, 64}, {2, 7, 2, 64}},
            {{2, 5, 4, 0}, {2, 7, 2, 0}},
        };
        for (size_t s = 0; s < 3; ++s) {
            aph_tensor* q = ot_tensor(dt, shapes[s][0], 4, NULL);
            aph_tensor* kv = ot_tensor(dt, shapes[s][1], 4, NULL);
            aph_tensor* out = ot_tensor(dt, shapes[s][0], 4, NULL);
            APH_ASSERT_OK(aph_op_attention(q, kv, kv, NULL, 0.0, 1, out, NULL));
            aph_tensor_release(q);
            aph_tensor_release(kv);
            aph_tensor_release(out);
        }
        /* Sk = 0 with queries: zeros, with and without a [Sq, 0] mask. */
        const int64_t qs[4] = {2, 5, 4, 64}, ks[4] = {2, 0, 2, 64}, ms[2] = {5, 0};
        double* qv = fresh(2 * 5 * 4 * 64, dt);
        aph_tensor* q = ot_tensor(dt, qs, 4, qv);
        aph_tensor* kv = ot_tensor(dt, ks, 4, NULL);
        aph_tensor* mask = ot_tensor(dt, ms, 2, NULL);
        for (int with_mask = 0; with_mask < 2; ++with_mask) {
            aph_tensor* out = ot_poisoned(dt, qs, 4);
            APH_ASSERT_OK(aph_op_attention(q, kv, kv, with_mask ? mask : NULL, 0.0, with_mask, out, NULL));
            double* got = ot_read(out);
            for (int i = 0; i < 2 * 5 * 4 * 64; ++i) assert_true(got[i] == 0.0);
            free(got);
            aph_tensor_release(out);
        }
        free(qv);
        aph_tensor_release(q);
        aph_tensor_release(kv);
        aph_tensor_release(mask);
    }
}

/* Long sequences: the tiling keeps memory O(seq). 16384 keys for a few query rows (all rows
 * checked), and a causal 16384 x 16384 run with a small head checked on a sample of rows. */
static void check_rows(const attn_case* c, const double* q, const double* k, const double* v, const double* got,
                       const int64_t* rows, size_t nrows, aph_dtype dt, double tol, const char* what) {
    double* scratch = malloc(sizeof(double) * (size_t)c->Sk);
    double* want = malloc(sizeof(double) * (size_t)c->D);
    assert_non_null(scratch);
    assert_non_null(want);
    const double scale = 1.0 / sqrt((double)c->D);
    for (int64_t b = 0; b < c->B; ++b) {
        for (size_t r = 0; r < nrows; ++r) {
            for (int64_t h = 0; h < c->Hq; ++h) {
                ref_row(c, scale, q, k, v, NULL, NULL, 0, b, h, rows[r], scratch, want);
                ot_assert_close(got + ((b * c->Sq + rows[r]) * c->Hq + h) * c->D, want, (size_t)c->D, dt, tol, what);
            }
        }
    }
    free(scratch);
    free(want);
}

static void run_long(const attn_case* c, aph_dtype dt, const int64_t* rows, size_t nrows, const char* what) {
    const int64_t qs[4] = {c->B, c->Sq, c->Hq, c->D}, ks[4] = {c->B, c->Sk, c->Hkv, c->D};
    const size_t nq = (size_t)ot_numel(qs, 4), nk = (size_t)ot_numel(ks, 4);
    double* q = fresh(nq, dt);
    double* k = fresh(nk, dt);
    double* v = fresh(nk, dt);
    aph_tensor* tq = ot_tensor(dt, qs, 4, q);
    aph_tensor* tk = ot_tensor(dt, ks, 4, k);
    aph_tensor* tv = ot_tensor(dt, ks, 4, v);
    aph_tensor* out = ot_poisoned(dt, qs, 4);
    APH_ASSERT_OK(aph_op_attention(tq, tk, tv, NULL, 0.0, c->causal, out, NULL));
    double* got = ot_read(out);
    /* Sums over up to 16384 keys in f32: a few times the f32 tolerance. */
    check_rows(c, q, k, v, got, rows, nrows, dt, dt == APH_DTYPE_F32 ? 4.0 : 2.0, what);
    free(got);
    free(q);
    free(k);
    free(v);
    aph_tensor_release(tq);
    aph_tensor_release(tk);
    aph_tensor_release(tv);
    aph_tensor_release(out);
}

static void test_long_keys(void** state) {
    (void)state;
    const int64_t rows[] = {0, 1, 2, 3};
    const attn_case plain = {.B = 1, .Sq = 4, .Sk = 16384, .Hq = 2, .Hkv = 1, .D = 64, .dead_row = -1};
    const attn_case causal = {.B = 1, .Sq = 4, .Sk = 16384, .Hq = 2, .Hkv = 1, .D = 64, .causal = 1, .dead_row = -1};
    run_long(&plain, APH_DTYPE_F32, rows, 4, "attention, 4 queries over 16384 keys");
    run_long(&causal, APH_DTYPE_BF16, rows, 4, "attention, 4 queries over 16384 keys, causal (bf16)");
}

static void test_long_causal(void** state) {
    (void)state;
    const int64_t rows[] = {0, 1, 63, 64, 65, 1000, 4095, 8191, 8192, 12345, 16320, 16383};
    const attn_case c = {.B = 1, .Sq = 16384, .Sk = 16384, .Hq = 1, .Hkv = 1, .D = 8, .causal = 1, .dead_row = -1};
    run_long(&c, APH_DTYPE_F32, rows, sizeof rows / sizeof rows[0], "attention, causal 16384 x 16384");
}

/* A stream of the caller's. */
static void test_custom_stream(void** state) {
    (void)state;
    aph_stream* stream = NULL;
    APH_ASSERT_OK(aph_stream_create(ot_device(), &stream));
    const attn_case c = {
        .B = 2, .Sq = 33, .Sk = 65, .Hq = 4, .Hkv = 2, .D = 64, .causal = 1, .mask = MASK_B11SK, .dead_row = -1};
    run_case(&c, APH_DTYPE_F16, stream);
    run_case(&c, APH_DTYPE_F32, stream);
    aph_stream_release(stream);
}

/* ---- errors --------------------------------------------------------------------------------- */

static void test_errors(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    const int64_t qs[4] = {2, 5, 4, 8}, ks[4] = {2, 7, 2, 8};
    double* qv = fresh(2 * 5 * 4 * 8, dt);
    double* kv = fresh(2 * 7 * 2 * 8, dt);
    aph_tensor* q = ot_tensor(dt, qs, 4, qv);
    aph_tensor* k = ot_tensor(dt, ks, 4, kv);
    aph_tensor* v = ot_tensor(dt, ks, 4, kv);
    aph_tensor* out = ot_poisoned(dt, qs, 4);

    /* NULLs */
    APH_ASSERT_ERR(aph_op_attention(NULL, k, v, NULL, 0.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: q must not be NULL");
    APH_ASSERT_ERR(aph_op_attention(q, NULL, v, NULL, 0.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: k must not be NULL");
    APH_ASSERT_ERR(aph_op_attention(q, k, NULL, NULL, 0.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: v must not be NULL");
    APH_ASSERT_ERR(aph_op_attention(q, k, v, NULL, 0.0, 0, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");

    /* dtypes */
    {
        aph_tensor* kh = ot_tensor(APH_DTYPE_F16, ks, 4, kv);
        APH_ASSERT_ERR(aph_op_attention(q, kh, v, NULL, 0.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: k has dtype f16; expected f32");
        APH_ASSERT_ERR(aph_op_attention(q, k, kh, NULL, 0.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: v has dtype f16; expected f32");
        const int64_t ms[2] = {5, 7};
        aph_tensor* mh = ot_tensor(APH_DTYPE_F16, ms, 2, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, k, v, mh, 0.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: mask has dtype f16; expected f32");
        aph_tensor* qi = ot_tensor(APH_DTYPE_I32, qs, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(qi, k, v, NULL, 0.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: q has dtype i32; expected f32, f16, bf16 or f64");
        aph_tensor* oh = ot_tensor(APH_DTYPE_F16, qs, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, k, v, NULL, 0.0, 0, oh, NULL), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: out has dtype f16; this operation writes f32");
        /* a bf16 mask with f16 inputs */
        aph_tensor* qh = ot_tensor(APH_DTYPE_F16, qs, 4, qv);
        aph_tensor* vh = ot_tensor(APH_DTYPE_F16, ks, 4, kv);
        aph_tensor* mb = ot_tensor(APH_DTYPE_BF16, ms, 2, NULL);
        APH_ASSERT_ERR(aph_op_attention(qh, kh, vh, mb, 0.0, 0, oh, NULL), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: mask has dtype bf16; expected f16 (q's dtype) or f32");
        if (ot_is_cuda()) {
            aph_tensor* qd = ot_tensor(APH_DTYPE_F64, qs, 4, qv);
            APH_ASSERT_ERR(aph_op_attention(qd, k, v, NULL, 0.0, 0, out, NULL), APH_ERR_NOT_IMPLEMENTED,
                           "not implemented: f64 operations on CUDA (q)");
            aph_tensor_release(qd);
        }
        aph_tensor_release(kh);
        aph_tensor_release(mh);
        aph_tensor_release(qi);
        aph_tensor_release(oh);
        aph_tensor_release(qh);
        aph_tensor_release(vh);
        aph_tensor_release(mb);
    }

    /* shapes that do not fit each other */
    {
        const int64_t q3[3] = {2, 5, 8};
        aph_tensor* t3 = ot_tensor(dt, q3, 3, NULL);
        APH_ASSERT_ERR(aph_op_attention(t3, k, v, NULL, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: q must be 4-D [batch, seq_q, heads_q, head_dim], got [2, 5, 8]");
        APH_ASSERT_ERR(aph_op_attention(q, t3, v, NULL, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: k must be 4-D [batch, seq_k, heads_kv, head_dim], got [2, 5, 8]");
        aph_tensor_release(t3);

        const int64_t kh3[4] = {2, 7, 3, 8}, kd[4] = {2, 7, 2, 16}, kb[4] = {1, 7, 2, 8}, ksk[4] = {2, 6, 2, 8};
        aph_tensor* k3 = ot_tensor(dt, kh3, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, k3, k3, NULL, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: heads_q 4 (q [2, 5, 4, 8]) is not a multiple of heads_kv 3 "
                       "(k [2, 7, 3, 8])");
        aph_tensor* kdd = ot_tensor(dt, kd, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, kdd, kdd, NULL, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: q [2, 5, 4, 8] and k [2, 7, 2, 16] must have the same head_dim");
        APH_ASSERT_ERR(aph_op_attention(q, k, kdd, NULL, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: k [2, 7, 2, 8] and v [2, 7, 2, 16] must have the same shape");
        aph_tensor* kbb = ot_tensor(dt, kb, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, kbb, kbb, NULL, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: q [2, 5, 4, 8] and k [1, 7, 2, 8] must have the same batch size");
        aph_tensor* ks6 = ot_tensor(dt, ksk, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, k, ks6, NULL, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: k [2, 7, 2, 8] and v [2, 6, 2, 8] must have the same shape");
        aph_tensor_release(k3);
        aph_tensor_release(kdd);
        aph_tensor_release(kbb);
        aph_tensor_release(ks6);

        /* masks that do not broadcast to [B, Hq, Sq, Sk] = [2, 4, 5, 7] */
        const int64_t m1[2] = {5, 6}, m2[4] = {2, 3, 5, 7}, m5[5] = {1, 2, 4, 5, 7};
        aph_tensor* a = ot_tensor(dt, m1, 2, NULL);
        aph_tensor* b = ot_tensor(dt, m2, 4, NULL);
        aph_tensor* c = ot_tensor(dt, m5, 5, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, k, v, a, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: mask [5, 6] does not broadcast to [batch, heads_q, seq_q, seq_k] = "
                       "[2, 4, 5, 7]");
        APH_ASSERT_ERR(aph_op_attention(q, k, v, b, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: mask [2, 3, 5, 7] does not broadcast to [batch, heads_q, seq_q, "
                       "seq_k] = [2, 4, 5, 7]");
        APH_ASSERT_ERR(aph_op_attention(q, k, v, c, 0.0, 0, out, NULL), APH_ERR_DIMENSION_MISMATCH,
                       "dimension mismatch: mask [1, 2, 4, 5, 7] does not broadcast to [batch, heads_q, seq_q, "
                       "seq_k] = [2, 4, 5, 7]");
        aph_tensor_release(a);
        aph_tensor_release(b);
        aph_tensor_release(c);
    }

    /* the output's shape */
    {
        const int64_t o1[4] = {2, 5, 4, 9}, o2[4] = {2, 4, 5, 8};
        aph_tensor* a = ot_tensor(dt, o1, 4, NULL);
        aph_tensor* b = ot_tensor(dt, o2, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(q, k, v, NULL, 0.0, 0, a, NULL), APH_ERR_SHAPE_MISMATCH,
                       "shape mismatch: expected [2, 5, 4, 8], got [2, 5, 4, 9]");
        APH_ASSERT_ERR(aph_op_attention(q, k, v, NULL, 0.0, 0, b, NULL), APH_ERR_SHAPE_MISMATCH,
                       "shape mismatch: expected [2, 5, 4, 8], got [2, 4, 5, 8]");
        aph_tensor_release(a);
        aph_tensor_release(b);
    }

    /* head_dim above 256 */
    {
        const int64_t big[4] = {1, 2, 1, 320};
        aph_tensor* t = ot_tensor(dt, big, 4, NULL);
        aph_tensor* o = ot_tensor(dt, big, 4, NULL);
        APH_ASSERT_ERR(aph_op_attention(t, t, t, NULL, 0.0, 0, o, NULL), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: attention with head_dim 320 (at most 256)");
        aph_tensor_release(t);
        aph_tensor_release(o);
    }

    /* scale and causal */
    APH_ASSERT_ERR(aph_op_attention(q, k, v, NULL, -1.0, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: scale must be finite and >= 0 (0 means 1/sqrt(head_dim)), got -1");
    APH_ASSERT_ERR(aph_op_attention(q, k, v, NULL, INFINITY, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: scale must be finite and >= 0 (0 means 1/sqrt(head_dim)), got inf");
    APH_ASSERT_ERR_CONTAINS(aph_op_attention(q, k, v, NULL, NAN, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                            "scale must be finite and >= 0");

    /* out overlapping an input */
    {
        aph_tensor* qq = ot_tensor(dt, qs, 4, qv);
        APH_ASSERT_ERR(aph_op_attention(qq, k, v, NULL, 0.0, 0, qq, NULL), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: out overlaps q in memory");
        aph_tensor_release(qq);
    }

    /* tensors on two devices */
    if (ot_is_cuda()) {
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* kc = NULL;
        APH_ASSERT_OK(aph_tensor_to_device(k, cpu, &kc));
        APH_ASSERT_ERR(aph_op_attention(q, kc, v, NULL, 0.0, 0, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        const int64_t ms[2] = {5, 7};
        aph_tensor* mc = NULL;
        APH_ASSERT_OK(aph_tensor_create(cpu, dt, ms, 2, &mc));
        APH_ASSERT_ERR(aph_op_attention(q, k, v, mc, 0.0, 0, out, NULL), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(kc);
        aph_tensor_release(mc);
        aph_device_release(cpu);
    }

    /* nothing was written by any failed call */
    assert_true(is_all_nan(out));

    free(qv);
    free(kv);
    aph_tensor_release(q);
    aph_tensor_release(k);
    aph_tensor_release(v);
    aph_tensor_release(out);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_square),      cmocka_unit_test(test_rectangular),
        cmocka_unit_test(test_masks),       cmocka_unit_test(test_all_masked),
        cmocka_unit_test(test_padding),     cmocka_unit_test(test_scale),
        cmocka_unit_test(test_strided),     cmocka_unit_test(test_causal_any_nonzero),
        cmocka_unit_test(test_zero_size),   cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_long_causal), cmocka_unit_test(test_custom_stream),
        cmocka_unit_test(test_errors),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
