/* build_examples.c — writes the example executable graphs of examples/graphs/ with the C API
 * (header sections 16, 17, 20 and 21):
 *
 *   build_examples OUTDIR [--seed N] [--run]
 *
 * writes (creating OUTDIR if needed) OUTDIR/mlp.json, OUTDIR/mlp.safetensors, OUTDIR/transformer_block.json and
 * OUTDIR/transformer_block.safetensors. The JSON files do not depend on the seed (it only draws
 * the weights), so the checked-in copies in examples/graphs/ are compared with fresh ones by a
 * test. Each graph is loaded back from its file and checked (same stable hash, no cycle) before
 * the program reports success. With --run, each loaded graph is also executed on the CPU with
 * its weights from the file and a random input, and its output checked (finite; the MLP's rows
 * of probabilities sum to 1).
 *
 * How a graph is written: every node's configuration name is an operation of section 20 and its
 * version "1.0.0"; its params are the operation's attributes; its operands are its incoming
 * edges in the order they were added. Weight nodes are found in the safetensors file under their
 * node name (the "key" param's default). */
#define _POSIX_C_SOURCE 200809L /* mkdir */
#include <aphelion.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------------------------------------
 * Error handling: any failing call prints the library's message and exits.
 * ------------------------------------------------------------------------------------------- */

#define CHECK(expr)                                                                                                \
    do {                                                                                                           \
        aph_status st_ = (expr);                                                                                   \
        if (st_ != APH_OK) {                                                                                       \
            fprintf(stderr, "build_examples: %s failed: %s: %s\n", #expr, aph_status_name(st_), aph_last_error()); \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Weights: a fixed-seed generator (splitmix64) and normal draws (Box-Muller).
 * ------------------------------------------------------------------------------------------- */

static uint64_t g_state;

static uint64_t next_u64(void) {
    uint64_t z = (g_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double next_uniform(void) { /* in (0, 1) */
    return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0;
}

static double next_normal(void) { return sqrt(-2.0 * log(next_uniform())) * cos(6.283185307179586 * next_uniform()); }

/* The weights of one graph, saved together at the end. */
#define MAX_WEIGHTS 32
typedef struct {
    aph_device* cpu;
    size_t count;
    const char* names[MAX_WEIGHTS];
    aph_tensor* tensors[MAX_WEIGHTS];
} weight_set;

/* A new f32 tensor of values mean + stddev * N(0, 1). */
static void add_weight_tensor(weight_set* ws, const char* name, const int64_t* shape, size_t ndim, double mean,
                              double stddev) {
    if (ws->count == MAX_WEIGHTS) {
        fprintf(stderr, "build_examples: too many weights\n");
        exit(1);
    }
    aph_tensor* t = NULL;
    CHECK(aph_tensor_create(ws->cpu, APH_DTYPE_F32, shape, ndim, &t));
    float* p = NULL;
    CHECK(aph_tensor_data_mut(t, (void**)&p));
    for (int64_t i = 0; i < aph_tensor_numel(t); ++i) p[i] = (float)(mean + stddev * next_normal());
    ws->names[ws->count] = name;
    ws->tensors[ws->count] = t;
    ws->count++;
}

/* ---------------------------------------------------------------------------------------------
 * Graph building helpers.
 * ------------------------------------------------------------------------------------------- */

/* A node configuration: operation op, version "1.0.0", no params yet. */
static aph_model_config* op_config(const char* op) {
    aph_model_config* c = NULL;
    CHECK(aph_model_config_create(op, "1.0.0", &c));
    return c;
}

/* Adds node name with configuration c (released here) and edges from the operands, in order. */
static uint64_t add(aph_graph* g, const char* name, aph_model_config* c, size_t n_operands, const uint64_t* operands) {
    uint64_t id = 0;
    CHECK(aph_graph_add_node(g, name, c, &id));
    aph_model_config_release(c);
    for (size_t i = 0; i < n_operands; ++i) CHECK(aph_graph_add_edge(g, operands[i], id));
    return id;
}

static void set_shape(aph_model_config* c, const char* key, const int64_t* shape, size_t ndim) {
    char json[256];
    size_t len = 0;
    len += (size_t)snprintf(json + len, sizeof json - len, "[");
    for (size_t i = 0; i < ndim; ++i) {
        len += (size_t)snprintf(json + len, sizeof json - len, "%s%lld", i ? "," : "", (long long)shape[i]);
    }
    snprintf(json + len, sizeof json - len, "]");
    CHECK(aph_model_config_set_json(c, key, json));
}

static uint64_t input(aph_graph* g, const char* name, const int64_t* shape, size_t ndim) {
    aph_model_config* c = op_config("input");
    set_shape(c, "shape", shape, ndim);
    CHECK(aph_model_config_set_string(c, "dtype", "f32"));
    return add(g, name, c, 0, NULL);
}

/* A weight node (f32, found in the safetensors file under its name) and its values. */
static uint64_t weight(aph_graph* g, weight_set* ws, const char* name, const int64_t* shape, size_t ndim, double mean,
                       double stddev) {
    aph_model_config* c = op_config("weight");
    set_shape(c, "shape", shape, ndim);
    CHECK(aph_model_config_set_string(c, "dtype", "f32"));
    add_weight_tensor(ws, name, shape, ndim, mean, stddev);
    return add(g, name, c, 0, NULL);
}

/* A linear layer's weight [out, in], drawn as PyTorch-style fan-in scaled normals. */
static uint64_t linear_weight(aph_graph* g, weight_set* ws, const char* name, int64_t out, int64_t in) {
    const int64_t shape[2] = {out, in};
    return weight(g, ws, name, shape, 2, 0.0, 1.0 / sqrt((double)in));
}

static uint64_t unary(aph_graph* g, const char* op, const char* name, uint64_t x) {
    return add(g, name, op_config(op), 1, &x);
}

static uint64_t binary(aph_graph* g, const char* op, const char* name, uint64_t a, uint64_t b) {
    const uint64_t operands[2] = {a, b};
    return add(g, name, op_config(op), 2, operands);
}

static uint64_t reshape(aph_graph* g, const char* name, uint64_t x, const int64_t* shape, size_t ndim) {
    aph_model_config* c = op_config("reshape");
    set_shape(c, "shape", shape, ndim);
    return add(g, name, c, 1, &x);
}

static uint64_t output(aph_graph* g, const char* name, uint64_t x) { return add(g, name, op_config("output"), 1, &x); }

/* ---------------------------------------------------------------------------------------------
 * The MLP: x [8, 64] -> linear 256 -> gelu -> linear 256 -> gelu -> linear 10 -> softmax.
 * ------------------------------------------------------------------------------------------- */

static aph_graph* build_mlp(weight_set* ws) {
    aph_graph* g = NULL;
    CHECK(aph_graph_create(&g));
    const int64_t x_shape[2] = {8, 64};
    uint64_t h = input(g, "x", x_shape, 2);

    static const struct {
        const char* linear;
        const char* weight;
        const char* bias;
        const char* activation; /* NULL: none */
        int64_t out, in;
    } layers[3] = {
        {"fc1", "fc1.weight", "fc1.bias", "gelu", 256, 64},
        {"fc2", "fc2.weight", "fc2.bias", "gelu", 256, 256},
        {"fc3", "fc3.weight", "fc3.bias", NULL, 10, 256},
    };
    static const char* act_names[3] = {"act1", "act2", NULL};
    for (int i = 0; i < 3; ++i) {
        const uint64_t w = linear_weight(g, ws, layers[i].weight, layers[i].out, layers[i].in);
        const int64_t bias_shape[1] = {layers[i].out};
        const uint64_t b = weight(g, ws, layers[i].bias, bias_shape, 1, 0.0, 0.02);
        const uint64_t operands[3] = {h, w, b};
        h = add(g, layers[i].linear, op_config("linear"), 3, operands);
        if (layers[i].activation) h = unary(g, layers[i].activation, act_names[i], h);
    }
    const uint64_t probs = unary(g, "softmax", "softmax", h);
    output(g, "probs", probs);
    return g;
}

/* ---------------------------------------------------------------------------------------------
 * A Llama-style pre-norm transformer block: hidden 256, 8 query heads and 2 key/value heads of
 * dimension 32 (grouped-query attention), rotary embeddings, SwiGLU feed-forward of width 688.
 * ------------------------------------------------------------------------------------------- */

enum { BATCH = 2, SEQ = 64, HIDDEN = 256, HEADS = 8, KV_HEADS = 2, HEAD_DIM = 32, FFN = 688 };

static uint64_t rms_norm(aph_graph* g, weight_set* ws, const char* name, const char* weight_name, uint64_t x) {
    const int64_t shape[1] = {HIDDEN};
    const uint64_t w = weight(g, ws, weight_name, shape, 1, 1.0, 0.02); /* near 1 */
    aph_model_config* c = op_config("rms_norm");
    CHECK(aph_model_config_set_float(c, "eps", 1e-5));
    const uint64_t operands[2] = {x, w};
    return add(g, name, c, 2, operands);
}

static uint64_t linear(aph_graph* g, weight_set* ws, const char* name, const char* weight_name, uint64_t x, int64_t out,
                       int64_t in) {
    const uint64_t w = linear_weight(g, ws, weight_name, out, in);
    const uint64_t operands[2] = {x, w};
    return add(g, name, op_config("linear"), 2, operands);
}

static uint64_t rope(aph_graph* g, const char* name, uint64_t x, uint64_t positions) {
    aph_model_config* c = op_config("rope");
    CHECK(aph_model_config_set_float(c, "theta", 10000.0));
    CHECK(aph_model_config_set_string(c, "layout", "half"));
    const uint64_t operands[2] = {x, positions};
    return add(g, name, c, 2, operands);
}

static aph_graph* build_transformer_block(weight_set* ws) {
    aph_graph* g = NULL;
    CHECK(aph_graph_create(&g));
    const int64_t x_shape[3] = {BATCH, SEQ, HIDDEN};
    const uint64_t x = input(g, "x", x_shape, 3);

    /* Token positions 0..SEQ-1, shared by the batch. */
    aph_model_config* pc = op_config("constant");
    const int64_t pos_shape[1] = {SEQ};
    set_shape(pc, "shape", pos_shape, 1);
    CHECK(aph_model_config_set_string(pc, "dtype", "i64"));
    char value[SEQ * 4 + 2];
    size_t len = 0;
    for (int i = 0; i < SEQ; ++i) len += (size_t)snprintf(value + len, sizeof value - len, "%s%d", i ? "," : "[", i);
    snprintf(value + len, sizeof value - len, "]");
    CHECK(aph_model_config_set_json(pc, "value", value));
    const uint64_t positions = add(g, "positions", pc, 0, NULL);

    /* Attention. */
    const uint64_t h = rms_norm(g, ws, "attn_norm", "attn_norm.weight", x);
    const int64_t q_heads[4] = {BATCH, SEQ, HEADS, HEAD_DIM};
    const int64_t kv_heads[4] = {BATCH, SEQ, KV_HEADS, HEAD_DIM};
    const uint64_t q = rope(
        g, "q_rope",
        reshape(g, "q_heads", linear(g, ws, "q_proj", "q_proj.weight", h, HEADS * HEAD_DIM, HIDDEN), q_heads, 4),
        positions);
    const uint64_t k = rope(
        g, "k_rope",
        reshape(g, "k_heads", linear(g, ws, "k_proj", "k_proj.weight", h, KV_HEADS * HEAD_DIM, HIDDEN), kv_heads, 4),
        positions);
    const uint64_t v = reshape(g, "v_heads", linear(g, ws, "v_proj", "v_proj.weight", h, KV_HEADS * HEAD_DIM, HIDDEN),
                               kv_heads, 4);
    aph_model_config* ac = op_config("attention");
    CHECK(aph_model_config_set_bool(ac, "causal", 1));
    const uint64_t qkv[3] = {q, k, v};
    const uint64_t attn = add(g, "attention", ac, 3, qkv);
    const int64_t merged[3] = {BATCH, SEQ, HIDDEN};
    const uint64_t o = linear(g, ws, "o_proj", "o_proj.weight", reshape(g, "attn_merge", attn, merged, 3), HIDDEN,
                              HEADS * HEAD_DIM);
    const uint64_t h1 = binary(g, "add", "attn_residual", x, o);

    /* Feed-forward (SwiGLU). */
    const uint64_t n2 = rms_norm(g, ws, "mlp_norm", "mlp_norm.weight", h1);
    const uint64_t gate = linear(g, ws, "gate_proj", "gate_proj.weight", n2, FFN, HIDDEN);
    const uint64_t up = linear(g, ws, "up_proj", "up_proj.weight", n2, FFN, HIDDEN);
    const uint64_t gated = binary(g, "mul", "gated", unary(g, "silu", "gate_act", gate), up);
    const uint64_t down = linear(g, ws, "down_proj", "down_proj.weight", gated, HIDDEN, FFN);
    const uint64_t y = binary(g, "add", "mlp_residual", h1, down);
    output(g, "y", y);
    return g;
}

/* ---------------------------------------------------------------------------------------------
 * Writing and checking.
 * ------------------------------------------------------------------------------------------- */

static void write_example(const char* outdir, const char* name, aph_graph* g, weight_set* ws, uint64_t seed) {
    char json_path[4096], weights_path[4096];
    snprintf(json_path, sizeof json_path, "%s/%s.json", outdir, name);
    snprintf(weights_path, sizeof weights_path, "%s/%s.safetensors", outdir, name);
    if (aph_graph_has_cycle(g)) {
        fprintf(stderr, "build_examples: %s has a cycle\n", name);
        exit(1);
    }
    CHECK(aph_graph_save(g, json_path));
    char metadata[256];
    snprintf(metadata, sizeof metadata,
             "{\"generator\":\"examples/graphs/build_examples\",\"graph\":\"%s.json\",\"seed\":\"%llu\"}", name,
             (unsigned long long)seed);
    CHECK(aph_safetensors_save(weights_path, ws->names, (const aph_tensor* const*)ws->tensors, ws->count, metadata));

    /* Load both back: the same graph (stable hash, sizes), no cycle, every weight present. */
    aph_graph* back = NULL;
    CHECK(aph_graph_load(json_path, &back));
    char h1[65], h2[65];
    CHECK(aph_graph_stable_hash(g, h1, sizeof h1));
    CHECK(aph_graph_stable_hash(back, h2, sizeof h2));
    if (strcmp(h1, h2) != 0 || aph_graph_node_count(back) != aph_graph_node_count(g) ||
        aph_graph_edge_count(back) != aph_graph_edge_count(g) || aph_graph_has_cycle(back)) {
        fprintf(stderr, "build_examples: %s does not load back as written\n", json_path);
        exit(1);
    }
    aph_safetensors* st = NULL;
    CHECK(aph_safetensors_open(weights_path, &st));
    for (size_t i = 0; i < ws->count; ++i) CHECK(aph_safetensors_info(st, ws->names[i], NULL, NULL, 0, NULL));
    aph_safetensors_release(st);
    aph_graph_release(back);
    printf("build_examples: wrote %s (%zu nodes, %zu edges, stable hash %.16s...) and %s (%zu tensors)\n", json_path,
           aph_graph_node_count(g), aph_graph_edge_count(g), h1, weights_path, ws->count);
}

/* Runs the graph loaded from OUTDIR/name.json on the CPU with the weights of
 * OUTDIR/name.safetensors and a random input x; checks that the output is finite and, for
 * softmax outputs (rows_sum_to_one), that each row sums to 1. */
static void run_example(const char* outdir, const char* name, aph_device* cpu, const char* out_name,
                        int rows_sum_to_one) {
    char json_path[4096], weights_path[4096];
    snprintf(json_path, sizeof json_path, "%s/%s.json", outdir, name);
    snprintf(weights_path, sizeof weights_path, "%s/%s.safetensors", outdir, name);
    aph_graph* g = NULL;
    CHECK(aph_graph_load(json_path, &g));
    aph_executor* ex = NULL;
    CHECK(aph_executor_create(g, cpu, NULL, &ex));
    CHECK(aph_executor_load_weights(ex, weights_path));

    /* The input's shape is the "x" node's. */
    uint64_t x_id = 0;
    const aph_model_config* xc = NULL;
    CHECK(aph_graph_find_node(g, "x", &x_id));
    CHECK(aph_graph_node(g, x_id, NULL, &xc));
    char* shape_json = NULL;
    CHECK(aph_model_config_get_json(xc, "shape", &shape_json));
    int64_t shape[4] = {0};
    size_t ndim = 0;
    for (const char* p = shape_json; *p && ndim < 4;) {
        if (*p >= '0' && *p <= '9') {
            char* end = NULL;
            shape[ndim++] = strtoll(p, &end, 10);
            p = end;
        } else {
            ++p;
        }
    }
    aph_string_free(shape_json);
    aph_tensor* x = NULL;
    CHECK(aph_tensor_create(cpu, APH_DTYPE_F32, shape, ndim, &x));
    float* xp = NULL;
    CHECK(aph_tensor_data_mut(x, (void**)&xp));
    for (int64_t i = 0; i < aph_tensor_numel(x); ++i) xp[i] = (float)next_normal();
    CHECK(aph_executor_set_input(ex, "x", x));
    CHECK(aph_executor_run(ex));

    aph_tensor* y = NULL;
    CHECK(aph_executor_output(ex, out_name, &y));
    const int64_t n = aph_tensor_numel(y);
    const int64_t cols = aph_tensor_shape(y)[aph_tensor_ndim(y) - 1];
    float* host = malloc((size_t)aph_tensor_nbytes(y));
    CHECK(aph_tensor_to_host(y, host, (size_t)aph_tensor_nbytes(y)));
    double sum_sq = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!isfinite(host[i])) {
            fprintf(stderr, "build_examples: %s: output %s[%lld] is not finite\n", name, out_name, (long long)i);
            exit(1);
        }
        sum_sq += (double)host[i] * host[i];
    }
    for (int64_t r = 0; rows_sum_to_one && r < n / cols; ++r) {
        double s = 0;
        for (int64_t c = 0; c < cols; ++c) s += host[r * cols + c];
        if (fabs(s - 1.0) > 1e-5) {
            fprintf(stderr, "build_examples: %s: row %lld of %s sums to %.9g\n", name, (long long)r, out_name, s);
            exit(1);
        }
    }
    printf("build_examples: ran %s on the CPU: %s has %lld values, rms %.6g\n", name, out_name, (long long)n,
           sqrt(sum_sq / (double)n));
    free(host);
    aph_tensor_release(y);
    aph_tensor_release(x);
    aph_executor_release(ex);
    aph_graph_release(g);
}

static void free_weights(weight_set* ws) {
    for (size_t i = 0; i < ws->count; ++i) aph_tensor_release(ws->tensors[i]);
    ws->count = 0;
}

int main(int argc, char** argv) {
    const char* outdir = NULL;
    uint64_t seed = 20240601;
    int run = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--run") == 0) {
            run = 1;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            char* end = NULL;
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (errno != 0 || end == argv[i] || *end != '\0') {
                fprintf(stderr, "build_examples: --seed needs a non-negative integer, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (outdir == NULL && argv[i][0] != '-') {
            outdir = argv[i];
        } else {
            outdir = NULL;
            break;
        }
    }
    if (outdir == NULL) {
        fprintf(stderr, "usage: build_examples OUTDIR [--seed N] [--run]\n");
        return 2;
    }

    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "build_examples: cannot create %s: %s\n", outdir, strerror(errno));
        return 1;
    }

    weight_set ws = {0};
    CHECK(aph_device_open(APH_DEVICE_CPU, 0, &ws.cpu));

    g_state = seed;
    aph_graph* mlp = build_mlp(&ws);
    write_example(outdir, "mlp", mlp, &ws, seed);
    aph_graph_release(mlp);
    free_weights(&ws);

    g_state = seed ^ 0x7472616E73666F72ull; /* another stream for the second graph */
    aph_graph* block = build_transformer_block(&ws);
    write_example(outdir, "transformer_block", block, &ws, seed);
    aph_graph_release(block);
    free_weights(&ws);

    if (run) {
        run_example(outdir, "mlp", ws.cpu, "probs", 1);
        run_example(outdir, "transformer_block", ws.cpu, "y", 0);
    }
    aph_device_release(ws.cpu);
    return 0;
}
