/*
 * transformer_layer.c — one Llama-style decoder layer, run eagerly with libaphelion's operations
 * (aphelion.h section 14), and a checksum of its output.
 *
 *   h  = rms_norm(x) · w_norm1
 *   q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ            grouped-query: 4 query heads share 2 key/value heads
 *   q, k = rope(q), rope(k)                  half-split layout, positions 0..S-1
 *   a  = attention(q, k, v, causal)          tiled, never materialises the score matrix
 *   x1 = x + a·Woᵀ
 *   h2 = rms_norm(x1) · w_norm2
 *   y  = x1 + (silu(h2·Wgᵀ) * (h2·Wuᵀ))·Wdᵀ  SwiGLU MLP
 *
 * The device is chosen the usual way (aph_device_select: CUDA when usable, else the CPU with the
 * once-per-process warning; APHELION_FORCE_CPU=1 picks the CPU quietly). All tensors are f32 and
 * the weights come from a fixed generator, so the checksum is the same on every run of one
 * device (the GPU's summation order differs from the CPU's in the last digits).
 *
 * As a check the attention is also computed the unfused way (matmul, mask, softmax, matmul) and
 * the largest difference printed; the program fails if it exceeds 1e-4.
 */
#include <aphelion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(expr)                                                                                         \
    do {                                                                                                    \
        aph_status st_ = (expr);                                                                            \
        if (st_ != APH_OK) {                                                                                \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, aph_status_name(st_), aph_last_error()); \
            exit(1);                                                                                        \
        }                                                                                                   \
    } while (0)

enum { B = 2, S = 24, DM = 64, HQ = 4, HKV = 2, HD = 16, FF = 128 };

static aph_device* dev;
static uint32_t rng = 12345u;

/* Uniform in [-scale, scale) from a fixed LCG. */
static float next(float scale) {
    rng = rng * 1664525u + 1013904223u;
    return scale * ((float)(rng >> 8) / 8388608.0f - 1.0f);
}

static aph_tensor* random_tensor(const int64_t* shape, size_t ndim, float scale) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; ++i) n *= shape[i];
    float* h = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; ++i) h[i] = next(scale);
    aph_tensor* t = NULL;
    CHECK(aph_tensor_from_host(dev, APH_DTYPE_F32, shape, ndim, h, sizeof(float) * (size_t)n, &t));
    free(h);
    return t;
}

static aph_tensor* empty(const int64_t* shape, size_t ndim) {
    aph_tensor* t = NULL;
    CHECK(aph_tensor_create(dev, APH_DTYPE_F32, shape, ndim, &t));
    return t;
}

static aph_tensor* reshape(aph_tensor* t, const int64_t* shape, size_t ndim) {
    aph_tensor* r = NULL;
    CHECK(aph_tensor_reshape(t, shape, ndim, &r));
    return r;
}

static double read_scalar(aph_tensor* t) {
    float v = 0.0f;
    CHECK(aph_tensor_to_host(t, &v, sizeof v));
    return v;
}

/* The unfused attention: per batch and head, S = q·kᵀ/√d (+ causal mask), softmax, ·v. */
static aph_tensor* attention_unfused(aph_tensor* q, aph_tensor* k, aph_tensor* v) {
    const int64_t perm[4] = {0, 2, 1, 3};
    aph_tensor *qp, *kp, *vp;
    CHECK(aph_tensor_permute(q, perm, 4, &qp)); /* [B, HQ, S, HD] */
    CHECK(aph_tensor_permute(k, perm, 4, &kp)); /* [B, HKV, S, HD] */
    CHECK(aph_tensor_permute(v, perm, 4, &vp));
    /* Grouped-query: query head h reads key/value head h / (HQ / HKV). Repeat the kv heads. */
    const int64_t rep5[5] = {B, HKV, HQ / HKV, S, HD}, full4[4] = {B, HQ, S, HD};
    aph_tensor *k5, *v5, *ke, *ve, *kc, *vc;
    const int64_t k5shape[5] = {B, HKV, 1, S, HD};
    k5 = reshape(kp, k5shape, 5);
    v5 = reshape(vp, k5shape, 5);
    CHECK(aph_tensor_expand(k5, rep5, 5, &ke));
    CHECK(aph_tensor_expand(v5, rep5, 5, &ve));
    CHECK(aph_tensor_contiguous(ke, &kc));
    CHECK(aph_tensor_contiguous(ve, &vc));
    aph_tensor* kr = reshape(kc, full4, 4);
    aph_tensor* vr = reshape(vc, full4, 4);

    const int64_t ss[4] = {B, HQ, S, S}, s2[2] = {S, S};
    aph_tensor* scores = empty(ss, 4);
    CHECK(aph_op_matmul(qp, kr, 0, 1, 1.0 / sqrt((double)HD), 0.0, scores, NULL));
    float mask[S * S];
    for (int i = 0; i < S; ++i)
        for (int j = 0; j < S; ++j) mask[i * S + j] = j > i ? -INFINITY : 0.0f;
    aph_tensor* m = NULL;
    CHECK(aph_tensor_from_host(dev, APH_DTYPE_F32, s2, 2, mask, sizeof mask, &m));
    CHECK(aph_op_binary(APH_BINARY_ADD, scores, m, scores, NULL));
    CHECK(aph_op_softmax(scores, scores, NULL));
    aph_tensor* o = empty(full4, 4);
    CHECK(aph_op_matmul(scores, vr, 0, 0, 1.0, 0.0, o, NULL));
    aph_tensor* out = NULL; /* back to [B, S, HQ, HD] */
    aph_tensor* op = NULL;
    CHECK(aph_tensor_permute(o, perm, 4, &op));
    CHECK(aph_tensor_contiguous(op, &out));
    aph_tensor* all[] = {qp, kp, vp, k5, v5, ke, ve, kc, vc, kr, vr, scores, m, o, op};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) aph_tensor_release(all[i]);
    return out;
}

int main(void) {
    CHECK(aph_device_select(NULL, &dev));
    printf("device: %s (%s)\n", aph_device_label(dev), aph_device_name(dev));

    const int64_t sx[3] = {B, S, DM}, sq[3] = {B, S, HQ * HD}, skv[3] = {B, S, HKV * HD}, sf[3] = {B, S, FF};
    const int64_t wq[2] = {HQ * HD, DM}, wkv[2] = {HKV * HD, DM}, wo[2] = {DM, HQ * HD};
    const int64_t wup[2] = {FF, DM}, wdown[2] = {DM, FF}, dm = DM;

    aph_tensor* x = random_tensor(sx, 3, 1.0f);
    aph_tensor* norm1 = random_tensor(&dm, 1, 1.0f);
    aph_tensor* norm2 = random_tensor(&dm, 1, 1.0f);
    const float ws = 1.0f / sqrtf((float)DM);
    aph_tensor* Wq = random_tensor(wq, 2, ws);
    aph_tensor* Wk = random_tensor(wkv, 2, ws);
    aph_tensor* Wv = random_tensor(wkv, 2, ws);
    aph_tensor* Wo = random_tensor(wo, 2, ws);
    aph_tensor* Wg = random_tensor(wup, 2, ws);
    aph_tensor* Wu = random_tensor(wup, 2, ws);
    aph_tensor* Wd = random_tensor(wdown, 2, 1.0f / sqrtf((float)FF));

    int64_t pos[S];
    for (int i = 0; i < S; ++i) pos[i] = i;
    const int64_t ns = S;
    aph_tensor* positions = NULL;
    CHECK(aph_tensor_from_host(dev, APH_DTYPE_I64, &ns, 1, pos, sizeof pos, &positions));

    /* Attention block. */
    aph_tensor* h = empty(sx, 3);
    CHECK(aph_op_rms_norm(x, norm1, 1e-5, h, NULL));
    aph_tensor *q = empty(sq, 3), *k = empty(skv, 3), *v = empty(skv, 3);
    CHECK(aph_op_linear(h, Wq, NULL, q, NULL));
    CHECK(aph_op_linear(h, Wk, NULL, k, NULL));
    CHECK(aph_op_linear(h, Wv, NULL, v, NULL));
    const int64_t q4[4] = {B, S, HQ, HD}, kv4[4] = {B, S, HKV, HD};
    aph_tensor* q4v = reshape(q, q4, 4);
    aph_tensor* k4v = reshape(k, kv4, 4);
    aph_tensor* v4v = reshape(v, kv4, 4);
    CHECK(aph_op_rope(q4v, positions, 10000.0, APH_ROPE_HALF, q4v, NULL)); /* in place */
    CHECK(aph_op_rope(k4v, positions, 10000.0, APH_ROPE_HALF, k4v, NULL));
    aph_tensor* a4 = empty(q4, 4);
    CHECK(aph_op_attention(q4v, k4v, v4v, NULL, 0.0, 1, a4, NULL));

    /* Check the fused attention against the unfused composition. */
    aph_tensor* ref = attention_unfused(q4v, k4v, v4v);
    aph_tensor* diff = empty(q4, 4);
    CHECK(aph_op_binary(APH_BINARY_SUB, a4, ref, diff, NULL));
    CHECK(aph_op_unary(APH_UNARY_ABS, diff, diff, NULL));
    const int64_t flat = (int64_t)B * S * HQ * HD;
    aph_tensor* dflat = reshape(diff, &flat, 1);
    aph_tensor* maxdiff = empty(NULL, 0);
    CHECK(aph_op_reduce(APH_REDUCE_MAX, dflat, 0, 0, maxdiff, NULL));
    const double max_diff = read_scalar(maxdiff);
    printf("attention: fused vs unfused max |difference| = %.3g\n", max_diff);

    aph_tensor* a = reshape(a4, sq, 3);
    aph_tensor* proj = empty(sx, 3);
    CHECK(aph_op_linear(a, Wo, NULL, proj, NULL));
    aph_tensor* x1 = empty(sx, 3);
    CHECK(aph_op_binary(APH_BINARY_ADD, x, proj, x1, NULL));

    /* MLP block (SwiGLU). */
    aph_tensor* h2 = empty(sx, 3);
    CHECK(aph_op_rms_norm(x1, norm2, 1e-5, h2, NULL));
    aph_tensor *g = empty(sf, 3), *u = empty(sf, 3);
    CHECK(aph_op_linear(h2, Wg, NULL, g, NULL));
    CHECK(aph_op_linear(h2, Wu, NULL, u, NULL));
    CHECK(aph_op_unary(APH_UNARY_SILU, g, g, NULL));
    CHECK(aph_op_binary(APH_BINARY_MUL, g, u, g, NULL));
    aph_tensor* down = empty(sx, 3);
    CHECK(aph_op_linear(g, Wd, NULL, down, NULL));
    aph_tensor* y = empty(sx, 3);
    CHECK(aph_op_binary(APH_BINARY_ADD, x1, down, y, NULL));

    /* Checksum: sum and sum of absolute values of y. */
    const int64_t ny = (int64_t)B * S * DM;
    aph_tensor* yflat = reshape(y, &ny, 1);
    aph_tensor* yabs = empty(&ny, 1);
    CHECK(aph_op_unary(APH_UNARY_ABS, yflat, yabs, NULL));
    aph_tensor *sum = empty(NULL, 0), *sum_abs = empty(NULL, 0);
    CHECK(aph_op_reduce(APH_REDUCE_SUM, yflat, 0, 0, sum, NULL));
    CHECK(aph_op_reduce(APH_REDUCE_SUM, yabs, 0, 0, sum_abs, NULL));
    printf("output [%d, %d, %d]: checksum sum = %.4f, sum |y| = %.4f\n", B, S, DM, read_scalar(sum),
           read_scalar(sum_abs));

    aph_tensor* all[] = {x,    norm1, norm2, Wq,  Wk,  Wv,   Wo, Wg,    Wu,   Wd,    positions, h,
                         q,    k,     v,     q4v, k4v, v4v,  a4, ref,   diff, dflat, maxdiff,   a,
                         proj, x1,    h2,    g,   u,   down, y,  yflat, yabs, sum,   sum_abs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) aph_tensor_release(all[i]);
    aph_device_release(dev);
    if (!(max_diff <= 1e-4)) {
        fprintf(stderr, "transformer_layer: fused and unfused attention disagree\n");
        return 1;
    }
    printf("example: ok\n");
    return 0;
}
