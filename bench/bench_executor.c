/*
 * bench_executor: the graph executor (header section 20) against the same operations called
 * eagerly, in the same run, on the same weights and inputs.
 *
 *   eager:    the aph_op_* calls a careful C programmer would write, every intermediate in a
 *             tensor of its own allocated once up front (no reuse), run back to back;
 *   executor: the same computation as a graph, run by aph_executor_run (memory planned by
 *             liveness, allocated at the first run).
 *
 * It reports the time ratio (executor / eager: the executor's overhead per node, ideally ~1.00)
 * and the memory for intermediates (the plan's total against the eager sum), and checks that
 * both give bit-identical outputs. Usage: bench_executor [--quick] [--device cpu|cuda]
 */
#include <aphelion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXN 64

static int g_quick;
static aph_device* g_dev;

static void check(aph_status st, const char* what) {
    if (st != APH_OK) {
        fprintf(stderr, "bench_executor: %s failed: %s: %s\n", what, aph_status_name(st), aph_last_error());
        exit(1);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sync_dev(void) {
    if (aph_device_get_kind(g_dev) == APH_DEVICE_CUDA) check(aph_device_synchronize(g_dev), "aph_device_synchronize");
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static aph_tensor* randn(const int64_t* shape, size_t ndim, float scale) {
    int64_t n = 1;
    for (size_t i = 0; i < ndim; ++i) n *= shape[i];
    float* h = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; ++i) h[i] = frand() * scale;
    aph_tensor* t = NULL;
    check(aph_tensor_from_host(g_dev, APH_DTYPE_F32, shape, ndim, h, (size_t)n * sizeof(float), &t), "from_host");
    free(h);
    return t;
}

static uint64_t g_eager_bytes;
static aph_tensor* empty(const int64_t* shape, size_t ndim, aph_dtype dt) {
    aph_tensor* t = NULL;
    check(aph_tensor_create(g_dev, dt, shape, ndim, &t), "aph_tensor_create");
    g_eager_bytes += aph_tensor_nbytes(t);
    return t;
}

/* ---- graph building ---- */
typedef struct G {
    aph_graph* g;
} G;

static uint64_t node(G* g, const char* name, const char* op, const char* params_json) {
    aph_model_config* c = NULL;
    check(aph_model_config_create(op, "1.0.0", &c), "aph_model_config_create");
    if (params_json != NULL) {
        /* params_json: {"k": v, ...}: set each member through set_json */
        aph_model_config* parsed = NULL;
        char buf[1024];
        snprintf(buf, sizeof buf, "{\"name\":\"%s\",\"version\":\"1.0.0\",\"params\":%s}", op, params_json);
        check(aph_model_config_from_json(buf, &parsed), "aph_model_config_from_json");
        aph_model_config_release(c);
        c = parsed;
    }
    uint64_t id = 0;
    check(aph_graph_add_node(g->g, name, c, &id), "aph_graph_add_node");
    aph_model_config_release(c);
    return id;
}
static void edge(G* g, uint64_t a, uint64_t b) { check(aph_graph_add_edge(g->g, a, b), "aph_graph_add_edge"); }
static uint64_t op1(G* g, const char* name, const char* op, const char* params, uint64_t a) {
    uint64_t id = node(g, name, op, params);
    edge(g, a, id);
    return id;
}
static uint64_t op2(G* g, const char* name, const char* op, const char* params, uint64_t a, uint64_t b) {
    uint64_t id = node(g, name, op, params);
    edge(g, a, id);
    edge(g, b, id);
    return id;
}
static uint64_t weight(G* g, const char* name, const int64_t* shape, size_t ndim) {
    char p[256];
    int off = snprintf(p, sizeof p, "{\"shape\":[");
    for (size_t i = 0; i < ndim; ++i)
        off += snprintf(p + off, sizeof p - (size_t)off, "%s%lld", i ? "," : "", (long long)shape[i]);
    snprintf(p + off, sizeof p - (size_t)off, "],\"dtype\":\"f32\"}");
    return node(g, name, "weight", p);
}

/* ---- the two workloads ---- */

typedef struct Work {
    const char* name;
    aph_graph* graph;
    int nweights;
    const char* wname[MAXN];
    aph_tensor* w[MAXN];
    aph_tensor* x;
    /* eager state */
    aph_tensor* t[MAXN];
    aph_tensor* positions;
    int64_t dims[8];
} Work;

static void add_weight(Work* w, G* g, const char* name, const int64_t* shape, size_t ndim, float scale) {
    weight(g, name, shape, ndim);
    w->wname[w->nweights] = name;
    w->w[w->nweights++] = randn(shape, ndim, scale);
}

/* MLP: x [B, D] -> linear D->F -> gelu -> linear F->D -> (+ x) -> layer_norm */
static void mlp_build(Work* w, int64_t B, int64_t D, int64_t F) {
    G g;
    check(aph_graph_create(&g.g), "aph_graph_create");
    w->name = "mlp";
    w->dims[0] = B, w->dims[1] = D, w->dims[2] = F;
    char p[128];
    snprintf(p, sizeof p, "{\"shape\":[%lld,%lld]}", (long long)B, (long long)D);
    uint64_t x = node(&g, "x", "input", p);
    int64_t s1[2] = {F, D}, b1[1] = {F}, s2[2] = {D, F}, b2[1] = {D};
    uint64_t base = aph_graph_node_count(g.g);
    add_weight(w, &g, "w1", s1, 2, 1.0f / sqrtf((float)D));
    add_weight(w, &g, "b1", b1, 1, 0.1f);
    add_weight(w, &g, "w2", s2, 2, 1.0f / sqrtf((float)F));
    add_weight(w, &g, "b2", b2, 1, 0.1f);
    add_weight(w, &g, "ln_w", b2, 1, 1.0f);
    add_weight(w, &g, "ln_b", b2, 1, 0.1f);
    uint64_t h = node(&g, "fc1", "linear", NULL);
    edge(&g, x, h), edge(&g, base + 1, h), edge(&g, base + 2, h);
    uint64_t a = op1(&g, "act", "gelu", NULL, h);
    uint64_t o = node(&g, "fc2", "linear", NULL);
    edge(&g, a, o), edge(&g, base + 3, o), edge(&g, base + 4, o);
    uint64_t r = op2(&g, "residual", "add", NULL, o, x);
    uint64_t n = node(&g, "norm", "layer_norm", NULL);
    edge(&g, r, n), edge(&g, base + 5, n), edge(&g, base + 6, n);
    op1(&g, "y", "output", NULL, n);
    w->graph = g.g;
    int64_t xs[2] = {B, D};
    w->x = randn(xs, 2, 1.0f);
    int64_t hs[2] = {B, F};
    w->t[0] = empty(hs, 2, APH_DTYPE_F32);
    w->t[1] = empty(hs, 2, APH_DTYPE_F32);
    w->t[2] = empty(xs, 2, APH_DTYPE_F32);
    w->t[3] = empty(xs, 2, APH_DTYPE_F32);
    w->t[4] = empty(xs, 2, APH_DTYPE_F32);
}

static aph_tensor* mlp_eager(Work* w) {
    aph_tensor** t = w->t;
    aph_tensor** W = w->w;
    check(aph_op_linear(w->x, W[0], W[1], t[0], NULL), "linear");
    check(aph_op_unary(APH_UNARY_GELU, t[0], t[1], NULL), "gelu");
    check(aph_op_linear(t[1], W[2], W[3], t[2], NULL), "linear");
    check(aph_op_binary(APH_BINARY_ADD, t[2], w->x, t[3], NULL), "add");
    check(aph_op_layer_norm(t[3], W[4], W[5], 1e-5, t[4], NULL), "layer_norm");
    return t[4];
}

/* Llama-style block: B, S, H hidden, NH query heads, NKV kv heads, head dim HD, MLP F. */
static void block_build(Work* w, int64_t B, int64_t S, int64_t NH, int64_t NKV, int64_t HD, int64_t F) {
    const int64_t H = NH * HD, KV = NKV * HD;
    G g;
    check(aph_graph_create(&g.g), "aph_graph_create");
    w->name = "transformer block";
    w->dims[0] = B, w->dims[1] = S, w->dims[2] = NH, w->dims[3] = NKV, w->dims[4] = HD, w->dims[5] = F;
    char p[4096];
    snprintf(p, sizeof p, "{\"shape\":[%lld,%lld,%lld]}", (long long)B, (long long)S, (long long)H);
    uint64_t x = node(&g, "x", "input", p);
    int off = snprintf(p, sizeof p, "{\"shape\":[%lld],\"dtype\":\"i64\",\"value\":[", (long long)S);
    for (int64_t i = 0; i < S; ++i)
        off += snprintf(p + off, sizeof p - (size_t)off, "%s%lld", i ? "," : "", (long long)i);
    snprintf(p + off, sizeof p - (size_t)off, "]}");
    uint64_t pos = node(&g, "positions", "constant", p);
    int64_t hv[1] = {H}, wq[2] = {H, H}, wkv[2] = {KV, H}, wg[2] = {F, H}, wd[2] = {H, F};
    uint64_t base = aph_graph_node_count(g.g);
    add_weight(w, &g, "attn_norm", hv, 1, 1.0f);
    add_weight(w, &g, "wq", wq, 2, 1.0f / sqrtf((float)H));
    add_weight(w, &g, "wk", wkv, 2, 1.0f / sqrtf((float)H));
    add_weight(w, &g, "wv", wkv, 2, 1.0f / sqrtf((float)H));
    add_weight(w, &g, "wo", wq, 2, 1.0f / sqrtf((float)H));
    add_weight(w, &g, "mlp_norm", hv, 1, 1.0f);
    add_weight(w, &g, "w_gate", wg, 2, 1.0f / sqrtf((float)H));
    add_weight(w, &g, "w_up", wg, 2, 1.0f / sqrtf((float)H));
    add_weight(w, &g, "w_down", wd, 2, 1.0f / sqrtf((float)F));
    uint64_t n1 = op2(&g, "attn_norm_x", "rms_norm", "{\"eps\":1e-6}", x, base + 1);
    uint64_t q = op2(&g, "q_proj", "linear", NULL, n1, base + 2);
    uint64_t k = op2(&g, "k_proj", "linear", NULL, n1, base + 3);
    uint64_t v = op2(&g, "v_proj", "linear", NULL, n1, base + 4);
    snprintf(p, sizeof p, "{\"shape\":[%lld,%lld,%lld,%lld]}", (long long)B, (long long)S, (long long)NH,
             (long long)HD);
    uint64_t q4 = op1(&g, "q_heads", "reshape", p, q);
    snprintf(p, sizeof p, "{\"shape\":[%lld,%lld,%lld,%lld]}", (long long)B, (long long)S, (long long)NKV,
             (long long)HD);
    uint64_t k4 = op1(&g, "k_heads", "reshape", p, k);
    uint64_t v4 = op1(&g, "v_heads", "reshape", p, v);
    uint64_t qr = op2(&g, "q_rope", "rope", "{\"theta\":10000.0,\"layout\":\"half\"}", q4, pos);
    uint64_t kr = op2(&g, "k_rope", "rope", "{\"theta\":10000.0,\"layout\":\"half\"}", k4, pos);
    uint64_t at = node(&g, "attn", "attention", "{\"causal\":true}");
    edge(&g, qr, at), edge(&g, kr, at), edge(&g, v4, at);
    snprintf(p, sizeof p, "{\"shape\":[%lld,%lld,%lld]}", (long long)B, (long long)S, (long long)H);
    uint64_t a3 = op1(&g, "attn_merge", "reshape", p, at);
    uint64_t o = op2(&g, "o_proj", "linear", NULL, a3, base + 5);
    uint64_t h1 = op2(&g, "residual1", "add", NULL, x, o);
    uint64_t n2 = op2(&g, "mlp_norm_x", "rms_norm", "{\"eps\":1e-6}", h1, base + 6);
    uint64_t ga = op2(&g, "gate", "linear", NULL, n2, base + 7);
    uint64_t up = op2(&g, "up", "linear", NULL, n2, base + 8);
    uint64_t sg = op1(&g, "gate_act", "silu", NULL, ga);
    uint64_t gu = op2(&g, "swiglu", "mul", NULL, sg, up);
    uint64_t dn = op2(&g, "down", "linear", NULL, gu, base + 9);
    uint64_t y = op2(&g, "residual2", "add", NULL, h1, dn);
    op1(&g, "y", "output", NULL, y);
    w->graph = g.g;

    int64_t xs[3] = {B, S, H}, qs[4] = {B, S, NH, HD}, ks[4] = {B, S, NKV, HD}, fs[3] = {B, S, F};
    w->x = randn(xs, 3, 1.0f);
    int64_t* pv = malloc((size_t)S * sizeof(int64_t));
    for (int64_t i = 0; i < S; ++i) pv[i] = i;
    int64_t ps[1] = {S};
    check(aph_tensor_from_host(g_dev, APH_DTYPE_I64, ps, 1, pv, (size_t)S * sizeof(int64_t), &w->positions),
          "positions");
    free(pv);
    w->t[0] = empty(xs, 3, APH_DTYPE_F32);  /* n1 */
    w->t[1] = empty(qs, 4, APH_DTYPE_F32);  /* q */
    w->t[2] = empty(ks, 4, APH_DTYPE_F32);  /* k */
    w->t[3] = empty(ks, 4, APH_DTYPE_F32);  /* v */
    w->t[4] = empty(qs, 4, APH_DTYPE_F32);  /* q rope */
    w->t[5] = empty(ks, 4, APH_DTYPE_F32);  /* k rope */
    w->t[6] = empty(qs, 4, APH_DTYPE_F32);  /* attention */
    w->t[7] = empty(xs, 3, APH_DTYPE_F32);  /* o */
    w->t[8] = empty(xs, 3, APH_DTYPE_F32);  /* h1 */
    w->t[9] = empty(xs, 3, APH_DTYPE_F32);  /* n2 */
    w->t[10] = empty(fs, 3, APH_DTYPE_F32); /* gate */
    w->t[11] = empty(fs, 3, APH_DTYPE_F32); /* up */
    w->t[12] = empty(fs, 3, APH_DTYPE_F32); /* silu */
    w->t[13] = empty(fs, 3, APH_DTYPE_F32); /* swiglu */
    w->t[14] = empty(xs, 3, APH_DTYPE_F32); /* down */
    w->t[15] = empty(xs, 3, APH_DTYPE_F32); /* y */
    /* 3-D views of the 4-D projections for linear's output */
    int64_t q3[3] = {B, S, H}, k3[3] = {B, S, KV};
    check(aph_tensor_reshape(w->t[1], q3, 3, &w->t[16]), "reshape");
    check(aph_tensor_reshape(w->t[2], k3, 3, &w->t[17]), "reshape");
    check(aph_tensor_reshape(w->t[3], k3, 3, &w->t[18]), "reshape");
    check(aph_tensor_reshape(w->t[6], q3, 3, &w->t[19]), "reshape");
}

static aph_tensor* block_eager(Work* w) {
    aph_tensor** t = w->t;
    aph_tensor** W = w->w;
    check(aph_op_rms_norm(w->x, W[0], 1e-6, t[0], NULL), "rms_norm");
    check(aph_op_linear(t[0], W[1], NULL, t[16], NULL), "q");
    check(aph_op_linear(t[0], W[2], NULL, t[17], NULL), "k");
    check(aph_op_linear(t[0], W[3], NULL, t[18], NULL), "v");
    check(aph_op_rope(t[1], w->positions, 10000.0, APH_ROPE_HALF, t[4], NULL), "rope");
    check(aph_op_rope(t[2], w->positions, 10000.0, APH_ROPE_HALF, t[5], NULL), "rope");
    check(aph_op_attention(t[4], t[5], t[3], NULL, 0.0, 1, t[6], NULL), "attention");
    check(aph_op_linear(t[19], W[4], NULL, t[7], NULL), "o");
    check(aph_op_binary(APH_BINARY_ADD, w->x, t[7], t[8], NULL), "add");
    check(aph_op_rms_norm(t[8], W[5], 1e-6, t[9], NULL), "rms_norm");
    check(aph_op_linear(t[9], W[6], NULL, t[10], NULL), "gate");
    check(aph_op_linear(t[9], W[7], NULL, t[11], NULL), "up");
    check(aph_op_unary(APH_UNARY_SILU, t[10], t[12], NULL), "silu");
    check(aph_op_binary(APH_BINARY_MUL, t[12], t[11], t[13], NULL), "mul");
    check(aph_op_linear(t[13], W[8], NULL, t[14], NULL), "down");
    check(aph_op_binary(APH_BINARY_ADD, t[8], t[14], t[15], NULL), "add");
    return t[15];
}

static int cmp_d(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

static void bench(Work* w, aph_tensor* (*eager)(Work*), int reps) {
    aph_executor* ex = NULL;
    check(aph_executor_create(w->graph, g_dev, NULL, &ex), "aph_executor_create");
    check(aph_executor_set_input(ex, "x", w->x), "set_input");
    for (int i = 0; i < w->nweights; ++i) check(aph_executor_set_weight(ex, w->wname[i], w->w[i]), "set_weight");

    /* warm-up: allocation, OpenBLAS threads, caches */
    aph_tensor* e = eager(w);
    check(aph_executor_run(ex), "aph_executor_run");
    sync_dev();
    aph_tensor* y = NULL;
    check(aph_executor_output(ex, "y", &y), "output");
    const size_t nb = (size_t)aph_tensor_nbytes(y);
    char* h1 = malloc(nb);
    char* h2 = malloc(nb);
    check(aph_tensor_to_host(e, h1, nb), "to_host");
    check(aph_tensor_to_host(y, h2, nb), "to_host");
    const int same = memcmp(h1, h2, nb) == 0;
    free(h1), free(h2);
    aph_tensor_release(y);

    double* te = malloc((size_t)reps * sizeof(double));
    double* tx = malloc((size_t)reps * sizeof(double));
    for (int r = 0; r < reps; ++r) { /* interleaved, so drift hits both alike */
        double t0 = now_s();
        eager(w);
        sync_dev();
        te[r] = now_s() - t0;
        t0 = now_s();
        check(aph_executor_run(ex), "aph_executor_run");
        sync_dev();
        tx[r] = now_s() - t0;
    }
    qsort(te, (size_t)reps, sizeof(double), cmp_d);
    qsort(tx, (size_t)reps, sizeof(double), cmp_d);
    aph_plan_info pi;
    memset(&pi, 0, sizeof pi);
    pi.struct_size = sizeof pi;
    check(aph_executor_plan_info(ex, &pi), "plan_info");
    printf("%-18s eager median %8.3f ms   executor median %8.3f ms   ratio %.3f   (min %.3f / %.3f ms)   outputs %s\n",
           w->name, te[reps / 2] * 1e3, tx[reps / 2] * 1e3, tx[reps / 2] / te[reps / 2], te[0] * 1e3, tx[0] * 1e3,
           same ? "bit-identical" : "DIFFER");
    printf("%-18s intermediates: eager %.2f MiB (one tensor each), executor plan %.2f MiB (arena %.2f MiB, live peak "
           "%.2f MiB, output %.2f MiB, constants %.2f MiB): %.2fx less\n",
           "", (double)g_eager_bytes / 1048576.0, (double)pi.total_bytes / 1048576.0,
           (double)pi.arena_bytes / 1048576.0, (double)pi.live_peak_bytes / 1048576.0,
           (double)pi.output_bytes / 1048576.0, (double)pi.constant_bytes / 1048576.0,
           (double)g_eager_bytes / (double)pi.total_bytes);
    free(te), free(tx);
    aph_executor_release(ex);
    if (!same) exit(1);
}

static void work_free(Work* w) {
    for (int i = 0; i < w->nweights; ++i) aph_tensor_release(w->w[i]);
    for (int i = 0; i < MAXN; ++i) aph_tensor_release(w->t[i]);
    aph_tensor_release(w->x);
    aph_tensor_release(w->positions);
    aph_graph_release(w->graph);
}

int main(int argc, char** argv) {
    const char* device = "cpu";
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--quick") == 0) g_quick = 1;
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else {
            fprintf(stderr, "usage: bench_executor [--quick] [--device cpu|cuda]\n");
            return 2;
        }
    }
    if (strcmp(device, "cuda") == 0) {
        int32_t n = 0;
        check(aph_device_count(APH_DEVICE_CUDA, &n), "aph_device_count");
        if (n == 0) {
            printf("bench_executor: no CUDA device; nothing to do\n");
            return 0;
        }
        check(aph_device_open(APH_DEVICE_CUDA, 0, &g_dev), "aph_device_open");
    } else {
        check(aph_device_open(APH_DEVICE_CPU, 0, &g_dev), "aph_device_open");
    }
    printf("bench_executor: libaphelion %s, device %s%s\n", aph_version_string(), aph_device_label(g_dev),
           g_quick ? " (--quick: tiny sizes, numbers meaningless)" : "");
    const int reps = g_quick ? 3 : 30;
    Work w;
    memset(&w, 0, sizeof w);
    g_eager_bytes = 0;
    if (g_quick) mlp_build(&w, 4, 32, 64);
    else
        mlp_build(&w, 64, 1024, 4096);
    bench(&w, mlp_eager, reps);
    work_free(&w);

    memset(&w, 0, sizeof w);
    g_eager_bytes = 0;
    if (g_quick) block_build(&w, 1, 16, 4, 2, 16, 64);
    else
        block_build(&w, 1, 256, 16, 4, 64, 2816);
    bench(&w, block_eager, g_quick ? 3 : 20);
    work_free(&w);
    aph_device_release(g_dev);
    return 0;
}
