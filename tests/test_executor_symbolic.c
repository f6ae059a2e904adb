/* Graphs with symbolic dimensions (header section 20), on the device under test (the CPU, a real
 * GPU, the simulated CUDA module):
 *
 *  - a small BERT-like encoder (token and position embeddings, self-attention with an additive
 *    [batch, 1, 1, seq] padding mask built from an attention_mask input, GELU feed-forward, post
 *    layer norms, masked mean pooling, L2 normalisation) with inputs ["batch", "seq"], run by ONE
 *    executor at (batch, seq) = (8, 26), (3, 202), (3, 18) and (8, 26) again, each result equal,
 *    bit for bit, to a fresh executor of the same graph with those sizes fixed;
 *  - inputs that disagree on a symbol (at binding, and at the run for an input left from an
 *    earlier run), sizes of symbols read back (aph_executor_symbol);
 *  - one plan per size set, kept: alternating size sets plans nothing (plans_made), a bounded
 *    cache (max_plans) drops the least recently used;
 *  - memory: the arena grows for a larger plan and is reused by smaller ones; the budget applies
 *    to each plan before it allocates (a plan over it fails naming its sizes, smaller ones still
 *    run; when the grown memory would not fit but the plan would, the memory is reallocated at
 *    the plan's size);
 *  - errors when the executor is made with the symbols unknown (relations between concrete sizes,
 *    a symbol meeting a fixed size, a weight or constant with a symbol, a symbol no input
 *    declares, a reshape that needs even sizes), written with the symbols' names; inference
 *    errors at actual sizes name the sizes;
 *  - signatures (symbolic sizes by name, derived ones as expressions), node statistics and plan
 *    information before and after the sizes are known, outputs bound to the caller's tensors;
 *  - the positions operation, eagerly and in a graph, against its definition. */
#include "exec_test_util.h"

#include <stddef.h>

/* ---- the encoder ------------------------------------------------------------------------- */

enum { VOCAB = 50, MAX_POS = 256, HIDDEN = 32, HEADS = 4, HEAD_DIM = 8, FF = 64 };

/* pattern with B and S replaced by the symbols (sym) or by the sizes b and s: "[B,S,4,8]" ->
 * "[\"batch\",\"seq\",4,8]" or "[8,26,4,8]". */
static const char* dims(char* buf, size_t size, const char* pattern, int sym, int64_t b, int64_t s) {
    size_t n = 0;
    for (const char* p = pattern; *p && n + 16 < size; ++p) {
        if (*p == 'B' || *p == 'S') {
            if (sym) n += (size_t)snprintf(buf + n, size - n, "\"%s\"", *p == 'B' ? "batch" : "seq");
            else
                n += (size_t)snprintf(buf + n, size - n, "%lld", (long long)(*p == 'B' ? b : s));
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    return buf;
}

/* A node whose params are "key=<pattern>..." with one dims() substitution in them. */
static uint64_t node_dims(aph_graph* g, const char* name, const char* op, const char* params_fmt, const char* pattern,
                          int sym, int64_t b, int64_t s, const char* operands) {
    char d[256], params[512];
    snprintf(params, sizeof params, params_fmt, dims(d, sizeof d, pattern, sym, b, s));
    return NODE(g, name, op, params, operands);
}

typedef struct {
    const char* name;
    int64_t shape[2];
    size_t ndim;
} weight_spec;

static const weight_spec encoder_weights[] = {
    {"word_emb", {VOCAB, HIDDEN}, 2}, {"pos_emb", {MAX_POS, HIDDEN}, 2},
    {"ln0_w", {HIDDEN}, 1},           {"ln0_b", {HIDDEN}, 1},
    {"wq", {HIDDEN, HIDDEN}, 2},      {"bq", {HIDDEN}, 1},
    {"wk", {HIDDEN, HIDDEN}, 2},      {"bk", {HIDDEN}, 1},
    {"wv", {HIDDEN, HIDDEN}, 2},      {"bv", {HIDDEN}, 1},
    {"wo", {HIDDEN, HIDDEN}, 2},      {"bo", {HIDDEN}, 1},
    {"ln1_w", {HIDDEN}, 1},           {"ln1_b", {HIDDEN}, 1},
    {"w1", {FF, HIDDEN}, 2},          {"b1", {FF}, 1},
    {"w2", {HIDDEN, FF}, 2},          {"b2", {HIDDEN}, 1},
    {"ln2_w", {HIDDEN}, 1},           {"ln2_b", {HIDDEN}, 1},
};
#define N_WEIGHTS (sizeof encoder_weights / sizeof encoder_weights[0])

/* The encoder with inputs input_ids and attention_mask [batch, seq] (i64): symbolic when sym,
 * else with the sizes b and s written in. Outputs: embeddings [batch, 32] (L2-normalised mean
 * of the last hidden states over the unmasked tokens) and hidden [batch, seq, 32]. */
static aph_graph* encoder_graph(int sym, int64_t b, int64_t s) {
    aph_graph* g = et_graph();
    node_dims(g, "input_ids", "input", "shape=%s;dtype=\"i64\"", "[B,S]", sym, b, s, NULL);
    node_dims(g, "attention_mask", "input", "shape=%s;dtype=\"i64\"", "[B,S]", sym, b, s, NULL);
    for (size_t i = 0; i < N_WEIGHTS; ++i)
        et_input(g, encoder_weights[i].name, "weight", APH_DTYPE_F32, encoder_weights[i].shape,
                 encoder_weights[i].ndim);
    NODE(g, "we", "embedding", NULL, "word_emb,input_ids");
    NODE(g, "pos", "positions", "dim=-1", "input_ids");
    NODE(g, "pe", "embedding", NULL, "pos_emb,pos");
    NODE(g, "e", "add", NULL, "we,pe");
    NODE(g, "h0", "layer_norm", "eps=1e-12", "e,ln0_w,ln0_b");
    NODE(g, "q", "linear", NULL, "h0,wq,bq");
    NODE(g, "k", "linear", NULL, "h0,wk,bk");
    NODE(g, "v", "linear", NULL, "h0,wv,bv");
    node_dims(g, "q4", "reshape", "shape=%s", "[B,S,4,8]", sym, b, s, "q");
    node_dims(g, "k4", "reshape", "shape=%s", "[B,S,4,8]", sym, b, s, "k");
    node_dims(g, "v4", "reshape", "shape=%s", "[B,S,4,8]", sym, b, s, "v");
    /* The additive mask: (mask - 1) * 10000, [batch, 1, 1, seq]. */
    NODE(g, "mf", "cast", "dtype=\"f32\"", "attention_mask");
    NODE(g, "mneg", "sub", "scalar=1", "mf");
    NODE(g, "madd", "mul", "scalar=10000", "mneg");
    node_dims(g, "m4", "reshape", "shape=%s", "[B,1,1,S]", sym, b, s, "madd");
    NODE(g, "att", "attention", NULL, "q4,k4,v4,m4");
    node_dims(g, "att3", "reshape", "shape=%s", "[B,S,-1]", sym, b, s, "att");
    NODE(g, "o", "linear", NULL, "att3,wo,bo");
    NODE(g, "r1", "add", NULL, "o,h0");
    NODE(g, "h1", "layer_norm", "eps=1e-12", "r1,ln1_w,ln1_b");
    NODE(g, "f1", "linear", NULL, "h1,w1,b1");
    NODE(g, "gl", "gelu", NULL, "f1");
    NODE(g, "f2", "linear", NULL, "gl,w2,b2");
    NODE(g, "r2", "add", NULL, "f2,h1");
    NODE(g, "h2", "layer_norm", "eps=1e-12", "r2,ln2_w,ln2_b");
    /* Mean pooling over the unmasked tokens, then L2 normalisation. */
    node_dims(g, "m3", "reshape", "shape=%s", "[B,S,1]", sym, b, s, "mf");
    NODE(g, "hm", "mul", NULL, "h2,m3");
    NODE(g, "ps", "sum", "dim=1", "hm");
    NODE(g, "cnt", "sum", "dim=1;keepdim=true", "mf");
    NODE(g, "pooled", "div", NULL, "ps,cnt");
    NODE(g, "sq", "mul", NULL, "pooled,pooled");
    NODE(g, "ss", "sum", "dim=-1;keepdim=true", "sq");
    NODE(g, "ssc", "maximum", "scalar=1e-24", "ss");
    NODE(g, "inv", "rsqrt", NULL, "ssc");
    NODE(g, "emb", "mul", NULL, "pooled,inv");
    NODE(g, "embeddings", "output", NULL, "emb");
    NODE(g, "hidden", "output", NULL, "h2");
    return g;
}

static aph_tensor* g_weights[N_WEIGHTS];

/* Releases the pooled tensors made after the first keep. */
static void pool_release_to(size_t keep) {
    while (et_pool_n > keep) aph_tensor_release(et_pool[--et_pool_n]);
}

static void make_weights(void) {
    for (size_t i = 0; i < N_WEIGHTS; ++i) {
        const weight_spec* w = &encoder_weights[i];
        const int is_ln_w = strstr(w->name, "ln") != NULL && w->name[strlen(w->name) - 1] == 'w';
        g_weights[i] = is_ln_w ? et_rand(APH_DTYPE_F32, w->shape, w->ndim, 0.5, 1.5)
                               : et_rand(APH_DTYPE_F32, w->shape, w->ndim, -0.3, 0.3);
    }
}

static void bind_weights(aph_executor* ex) {
    for (size_t i = 0; i < N_WEIGHTS; ++i) et_setw(ex, encoder_weights[i].name, g_weights[i]);
}

/* Token ids in [0, VOCAB) and a padding mask: row 0 has all s tokens, every other row a random
 * number from 1 to s (then padding). Pooled. */
static void make_batch(int64_t b, int64_t s, aph_tensor** ids, aph_tensor** mask) {
    *ids = et_rand(APH_DTYPE_I64, SHAPE(b, s), 0, VOCAB - 1);
    double* m = malloc(sizeof(double) * (size_t)(b * s));
    assert_non_null(m);
    for (int64_t r = 0; r < b; ++r) {
        const int64_t len = r == 0 ? s : ot_int(1, s);
        for (int64_t j = 0; j < s; ++j) m[r * s + j] = j < len ? 1 : 0;
    }
    *mask = et_keep(ot_tensor(APH_DTYPE_I64, SHAPE(b, s), m));
    free(m);
}

static aph_plan_info plan_of(const aph_executor* ex) { return et_plan(ex); }

/* The fixed-shape executor's outputs for the same inputs. */
static void fixed_reference(int64_t b, int64_t s, aph_tensor* ids, aph_tensor* mask, aph_tensor** emb,
                            aph_tensor** hidden) {
    aph_graph* g = encoder_graph(0, b, s);
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g);
    assert_int_equal(aph_executor_symbol_count(ex), 0);
    bind_weights(ex);
    et_set(ex, "input_ids", ids);
    et_set(ex, "attention_mask", mask);
    APH_ASSERT_OK(aph_executor_run(ex));
    *emb = et_result(ex, "embeddings");
    *hidden = et_result(ex, "hidden");
    aph_executor_release(ex);
}

static void symbol_is(const aph_executor* ex, size_t index, const char* name, int64_t value) {
    const char* n = NULL;
    int64_t v = -2;
    APH_ASSERT_OK(aph_executor_symbol(ex, index, &n, &v));
    assert_string_equal(n, name);
    if (v != value) fail_msg("symbol %s is %lld, expected %lld", name, (long long)v, (long long)value);
}

static void test_encoder_sizes(void** state) {
    (void)state;
    make_weights();
    aph_graph* g = encoder_graph(1, 0, 0);
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g);
    assert_int_equal(aph_executor_symbol_count(ex), 2);
    symbol_is(ex, 0, "batch", -1);
    symbol_is(ex, 1, "seq", -1);
    bind_weights(ex);

    static const int64_t sizes[][2] = {{8, 26}, {3, 202}, {3, 18}, {8, 26}};
    static const uint64_t plans_made[] = {1, 2, 3, 3}; /* (8, 26) again: its plan is kept */
    uint64_t largest_arena = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
        const int64_t b = sizes[i][0], s = sizes[i][1];
        aph_tensor *ids = NULL, *mask = NULL;
        make_batch(b, s, &ids, &mask);
        et_set(ex, "input_ids", ids);
        symbol_is(ex, 0, "batch", b);
        symbol_is(ex, 1, "seq", s);
        et_set(ex, "attention_mask", mask);
        APH_ASSERT_OK(aph_executor_run(ex));
        aph_tensor* emb = et_result(ex, "embeddings");
        aph_tensor* hidden = et_result(ex, "hidden");
        assert_int_equal(aph_tensor_shape(emb)[0], b);
        assert_int_equal(aph_tensor_shape(hidden)[1], s);
        aph_tensor *want_emb = NULL, *want_hidden = NULL;
        fixed_reference(b, s, ids, mask, &want_emb, &want_hidden);
        char what[64];
        snprintf(what, sizeof what, "embeddings at (%lld, %lld)", (long long)b, (long long)s);
        et_assert_same(emb, want_emb, what);
        snprintf(what, sizeof what, "hidden at (%lld, %lld)", (long long)b, (long long)s);
        et_assert_same(hidden, want_hidden, what);
        /* Each embedding has norm 1 (a check of the graph itself, not of the executor). */
        double* v = ot_read(emb);
        for (int64_t r = 0; r < b; ++r) {
            double n2 = 0;
            for (int k = 0; k < HIDDEN; ++k) n2 += v[r * HIDDEN + k] * v[r * HIDDEN + k];
            assert_true(fabs(n2 - 1) < 1e-5);
        }
        free(v);

        const aph_plan_info p = plan_of(ex);
        assert_int_equal(p.plans_made, plans_made[i]);
        assert_int_equal(p.plans_cached, plans_made[i]);
        if (p.arena_bytes > largest_arena) largest_arena = p.arena_bytes;
        /* The arena is as large as the largest plan that ran. */
        assert_int_equal(p.arena_capacity_bytes, largest_arena);
        assert_true(p.arena_bytes <= p.arena_capacity_bytes);
        /* Node statistics describe this run. */
        const aph_node_stats st = et_stats(ex, et_index(ex, "att"));
        assert_int_equal(st.ndim, 4);
        assert_int_equal(st.shape[0], b);
        assert_int_equal(st.shape[1], s);
        assert_int_equal(st.bytes, (uint64_t)(b * s * HIDDEN * 4));
        pool_release_to(N_WEIGHTS); /* keep the weights */
    }
    assert_int_equal(aph_executor_run_count(ex), 4);
    aph_executor_release(ex);
    et_pool_release();
}

/* ---- inputs that disagree ------------------------------------------------------------------ */

static void test_disagreeing_inputs(void** state) {
    (void)state;
    make_weights();
    aph_graph* g = encoder_graph(1, 0, 0);
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g);
    bind_weights(ex);
    aph_tensor *ids = NULL, *mask = NULL, *ids2 = NULL, *mask2 = NULL;
    make_batch(8, 26, &ids, &mask);
    aph_tensor* mask30 = et_rand(APH_DTYPE_I64, SHAPE(8, 30), 0, 1);

    et_set(ex, "input_ids", ids);
    APH_ASSERT_ERR(aph_executor_set_input(ex, "attention_mask", mask30), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: the inputs disagree on seq: input 'attention_mask' (node 2) [8, 30] has seq = 30, "
                   "input 'input_ids' (node 1) [8, 26], bound for the next run, has seq = 26");
    /* The refused binding changed nothing. */
    symbol_is(ex, 1, "seq", 26);
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_INVALID_STATE,
                   "invalid state: input node 2 'attention_mask' is not bound (aph_executor_set_input)");
    et_set(ex, "attention_mask", mask);
    APH_ASSERT_OK(aph_executor_run(ex));

    /* A new size set bound for one input only: the other, left from the last run, disagrees. */
    make_batch(3, 18, &ids2, &mask2);
    et_set(ex, "input_ids", ids2);
    symbol_is(ex, 0, "batch", 3); /* inputs bound since the last run come first */
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: the inputs disagree on batch: input 'input_ids' (node 1) [3, 18] has batch = 3, "
                   "input 'attention_mask' (node 2) [8, 26], bound before the last run, has batch = 8");
    /* The outputs of the last successful run are still there. */
    assert_int_equal(aph_tensor_shape(et_result(ex, "embeddings"))[0], 8);
    et_set(ex, "attention_mask", mask2);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor *want_emb = NULL, *want_hidden = NULL;
    fixed_reference(3, 18, ids2, mask2, &want_emb, &want_hidden);
    et_assert_same(et_result(ex, "embeddings"), want_emb, "after the disagreement");

    /* Binding against the signature: rank, dtype. */
    APH_ASSERT_ERR(aph_executor_set_input(ex, "input_ids", et_rand(APH_DTYPE_I64, SHAPE(2, 3, 4), 0, 1)),
                   APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: input 'input_ids' (node 1): expected [batch, seq], got [2, 3, 4]");
    APH_ASSERT_ERR(aph_executor_set_input(ex, "input_ids", et_rand(APH_DTYPE_F32, SHAPE(2, 3), 0, 1)),
                   APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: input 'input_ids' (node 1) has dtype i64, the tensor f32");
    aph_executor_release(ex);

    /* One symbol twice in one input; a fixed size beside a symbol. */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"n\",\"n\",4]", NULL);
    NODE(g, "r", "relu", NULL, "x");
    NODE(g, "y", "output", NULL, "r");
    ex = et_exec(g, NULL);
    aph_graph_release(g);
    APH_ASSERT_ERR(
        aph_executor_set_input(ex, "x", et_rand(APH_DTYPE_F32, SHAPE(3, 5, 4), -1, 1)), APH_ERR_SHAPE_MISMATCH,
        "shape mismatch: input 'x' (node 1) [3, 5, 4] gives the symbol n two sizes: 3 (dim 0) and 5 (dim 1)");
    APH_ASSERT_ERR(aph_executor_set_input(ex, "x", et_rand(APH_DTYPE_F32, SHAPE(3, 3, 5), -1, 1)),
                   APH_ERR_SHAPE_MISMATCH, "shape mismatch: input 'x' (node 1): expected [n, n, 4], got [3, 3, 5]");
    symbol_is(ex, 0, "n", -1);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(3, 3, 4), -1, 1);
    et_set(ex, "x", x);
    symbol_is(ex, 0, "n", 3);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(3, 3, 4));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, x, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "relu [n, n, 4]");
    /* Errors of the symbol getters. */
    const char* name = "unchanged";
    APH_ASSERT_ERR(aph_executor_symbol(ex, 1, &name, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: index 1 is out of range (the executor has 1 symbols)");
    assert_string_equal(name, "unchanged");
    APH_ASSERT_ERR(aph_executor_symbol(NULL, 0, &name, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: executor must not be NULL");
    assert_int_equal(aph_executor_symbol_count(NULL), 0);
    APH_ASSERT_OK(aph_executor_symbol(ex, 0, NULL, NULL));
    aph_executor_release(ex);
    et_pool_release();
}

/* ---- a small graph whose plan sizes are easy to count ---------------------------------------- */

/* x [n, m] -> a = exp(x) (in the arena: 4nm bytes) -> y = sum(a, dim 1) (an output: 4n bytes). */
static aph_graph* exp_sum_graph(void) {
    aph_graph* g = et_graph();
    NODE(g, "x", "input", "shape=[\"n\",\"m\"]", NULL);
    NODE(g, "a", "exp", NULL, "x");
    NODE(g, "s", "sum", "dim=1", "a");
    NODE(g, "y", "output", NULL, "s");
    return g;
}

/* Runs exp_sum at (n, m) with fresh inputs and checks y against the eager operations. Returns
 * the status of the run (the check only after APH_OK). */
static aph_status run_exp_sum(aph_executor* ex, int64_t n, int64_t m) {
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(n, m), -1, 1);
    et_set(ex, "x", x);
    const aph_status st = aph_executor_run(ex);
    if (st != APH_OK) return st;
    aph_tensor* a = et_out(APH_DTYPE_F32, SHAPE(n, m));
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(n));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_EXP, x, a, NULL));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, a, 1, 0, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "exp_sum");
    return st;
}

static void test_plan_cache(void** state) {
    (void)state;
    aph_graph* g = exp_sum_graph();
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.max_plans = 2;
    aph_executor* ex = et_exec(g, &opt);

    /* Before any size is known: no plan; the statistics give the signature. */
    aph_plan_info p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    APH_ASSERT_ERR(aph_executor_plan_info(ex, &p), APH_ERR_INVALID_STATE,
                   "invalid state: the graph has symbolic dimensions (n, m): its plan depends on their sizes; bind "
                   "inputs that give them first");
    aph_node_stats st = et_stats(ex, et_index(ex, "a"));
    assert_int_equal(st.ndim, 2);
    assert_int_equal(st.shape[0], -1);
    assert_int_equal(st.shape[1], -1);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.offset, UINT64_MAX);
    const int64_t* shape_before = st.shape;

    /* Binding inputs gives the plan (made now, before any run: nothing allocated yet). */
    et_set(ex, "x", et_rand(APH_DTYPE_F32, SHAPE(2, 3), -1, 1));
    p = et_plan(ex);
    assert_int_equal(p.plans_made, 1);
    assert_int_equal(p.plans_cached, 1);
    assert_int_equal(p.arena_bytes, 256);
    assert_int_equal(p.output_bytes, 256);
    assert_int_equal(p.total_bytes, 512);
    assert_int_equal(p.steps, 2);
    assert_int_equal(p.arena_capacity_bytes, 0);
    assert_int_equal(p.held_bytes, 0);
    st = et_stats(ex, et_index(ex, "a"));
    assert_int_equal(st.shape[1], 3);
    assert_int_equal(st.bytes, 24);
    /* The shape pointer stays valid: its sizes follow the current plan. */
    assert_ptr_equal(st.shape, shape_before);
    assert_int_equal(shape_before[0], 2);

    /* Two size sets alternating: two plans, made once each. */
    for (int i = 0; i < 6; ++i) {
        const int64_t n = i % 2 ? 40 : 2, m = i % 2 ? 50 : 3;
        APH_ASSERT_OK(run_exp_sum(ex, n, m));
        p = et_plan(ex);
        assert_int_equal(p.plans_made, i == 0 ? 1 : 2);
        assert_int_equal(p.arena_bytes, et_align((uint64_t)(4 * n * m)));
    }
    /* A third: the least recently used plan, (2, 3), goes. */
    APH_ASSERT_OK(run_exp_sum(ex, 1, 1));
    p = et_plan(ex);
    assert_int_equal(p.plans_made, 3);
    assert_int_equal(p.plans_cached, 2);
    APH_ASSERT_OK(run_exp_sum(ex, 40, 50));
    assert_int_equal(et_plan(ex).plans_made, 3);
    APH_ASSERT_OK(run_exp_sum(ex, 2, 3));
    assert_int_equal(et_plan(ex).plans_made, 4);
    assert_int_equal(et_plan(ex).plans_cached, 2);
    assert_int_equal(aph_executor_run_count(ex), 9);
    aph_executor_release(ex);

    /* A graph without symbols has its one plan from the start. */
    aph_graph* fixed = et_graph();
    et_input(fixed, "x", "input", APH_DTYPE_F32, SHAPE(2, 3));
    NODE(fixed, "a", "exp", NULL, "x");
    NODE(fixed, "y", "output", NULL, "a");
    ex = et_exec(fixed, NULL);
    p = et_plan(ex);
    assert_int_equal(p.plans_made, 1);
    assert_int_equal(p.plans_cached, 1);
    assert_int_equal(aph_executor_symbol_count(ex), 0);
    aph_executor_release(ex);
    aph_graph_release(fixed);

    /* max_plans is bounded. */
    opt.max_plans = 5000;
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), &opt, &ex), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: options->max_plans is 5000; at most 4096");
    aph_graph_release(g);
    et_pool_release();
}

/* ---- memory: growth, reuse, budgets ------------------------------------------------------- */

static void test_arena_growth(void** state) {
    (void)state;
    aph_tracker* tr = NULL;
    APH_ASSERT_OK(aph_tracker_create(0, &tr));
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.tracker = tr;
    aph_graph* g = exp_sum_graph();
    aph_executor* ex = et_exec(g, &opt);
    aph_graph_release(g);

    APH_ASSERT_OK(run_exp_sum(ex, 2, 3));
    aph_plan_info p = et_plan(ex);
    assert_int_equal(p.arena_capacity_bytes, 256);
    assert_int_equal(p.held_bytes, 512);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 512);
    aph_tensor* small = et_result(ex, "y");
    double* small_values = ot_read(small);

    /* Larger: the arena (4·100·30 = 12000 -> 12032 bytes) and the output's memory (400 -> 512)
     * grow. */
    APH_ASSERT_OK(run_exp_sum(ex, 100, 30));
    p = et_plan(ex);
    assert_int_equal(p.arena_bytes, 12032);
    assert_int_equal(p.arena_capacity_bytes, 12032);
    assert_int_equal(p.held_bytes, 12032 + 512);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 12032 + 512);
    /* The output read before keeps its memory (the executor's is new) and its values. */
    assert_int_equal(aph_tensor_shape(small)[0], 2);
    double* again = ot_read(small);
    assert_memory_equal(again, small_values, 2 * sizeof(double));
    free(again);
    free(small_values);

    /* Smaller again: the memory is reused as it is. */
    APH_ASSERT_OK(run_exp_sum(ex, 3, 2));
    p = et_plan(ex);
    assert_int_equal(p.arena_bytes, 256);
    assert_int_equal(p.arena_capacity_bytes, 12032);
    assert_int_equal(p.held_bytes, 12032 + 512);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 12032 + 512);
    APH_ASSERT_OK(run_exp_sum(ex, 100, 30));
    APH_ASSERT_OK(run_exp_sum(ex, 64, 47));
    assert_int_equal(et_plan(ex).held_bytes, 12032 + 512);

    aph_executor_release(ex);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    aph_tracker_release(tr);
    et_pool_release();
}

static void test_budget_per_plan(void** state) {
    (void)state;
    /* Plans: (1, 4000): arena 16128 + output 256 = 16384; (1000, 1): arena 4096 + output 4096 =
     * 8192; (1, 5000): arena 20224 + output 256 = 20480. Budget 18000. */
    aph_tracker* tr = NULL;
    APH_ASSERT_OK(aph_tracker_create(18000, &tr));
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.tracker = tr;
    aph_graph* g = exp_sum_graph();
    aph_executor* ex = et_exec(g, &opt); /* no plan yet: nothing to check */
    aph_graph_release(g);

    APH_ASSERT_OK(run_exp_sum(ex, 1, 4000));
    assert_int_equal(aph_tracker_allocated_bytes(tr), 16384);
    /* Grown to the larger of each (16128 + 4096) it would not fit: reallocated at its size. */
    APH_ASSERT_OK(run_exp_sum(ex, 1000, 1));
    aph_plan_info p = et_plan(ex);
    assert_int_equal(p.total_bytes, 8192);
    assert_int_equal(p.held_bytes, 8192);
    assert_int_equal(p.arena_capacity_bytes, 4096);
    assert_int_equal(p.budget_bytes, 18000);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 8192);
    APH_ASSERT_OK(run_exp_sum(ex, 1, 4000));
    assert_int_equal(et_plan(ex).held_bytes, 16384);

    /* Over the budget on its own: fails before allocating, naming the sizes. */
    assert_int_equal(run_exp_sum(ex, 1, 5000), APH_ERR_OUT_OF_MEMORY);
    assert_string_equal(aph_last_error(),
                        "out of memory: the memory plan for n = 1, m = 5000 needs 20480 bytes at its peak, over the "
                        "budget of 18000 bytes (0 bytes already tracked besides this executor's memory)");
    p = et_plan(ex); /* the plan of the bound size set, which did not run */
    assert_int_equal(p.total_bytes, 20480);
    assert_int_equal(p.held_bytes, 16384);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 16384);
    /* Smaller ones still run. */
    APH_ASSERT_OK(run_exp_sum(ex, 1000, 1));
    APH_ASSERT_OK(run_exp_sum(ex, 7, 9));
    assert_int_equal(aph_tracker_allocated_bytes(tr), 8192);

    /* Memory tracked by others counts. */
    APH_ASSERT_OK(aph_tracker_allocate(tr, 5000));
    assert_int_equal(run_exp_sum(ex, 1, 4000), APH_ERR_OUT_OF_MEMORY);
    assert_string_equal(aph_last_error(),
                        "out of memory: the memory plan for n = 1, m = 4000 needs 16384 bytes at its peak, over the "
                        "budget of 18000 bytes (5000 bytes already tracked besides this executor's memory)");
    APH_ASSERT_OK(aph_tracker_deallocate(tr, 5000));
    APH_ASSERT_OK(run_exp_sum(ex, 1, 4000));

    aph_executor_release(ex);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    aph_tracker_release(tr);
    et_pool_release();
}

/* ---- errors when the executor is made, with the symbols unknown ------------------------------ */

static void expect_create(aph_graph* g, aph_status status, const char* msg) {
    aph_executor* ex = (aph_executor*)(uintptr_t)0x1234;
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), status, msg);
    assert_ptr_equal(ex, (aph_executor*)(uintptr_t)0x1234);
    aph_graph_release(g);
}

static void test_create_errors(void** state) {
    (void)state;
    /* A relation between concrete sizes. */
    aph_graph* g = et_graph();
    NODE(g, "x", "input", "shape=[\"batch\",\"seq\",32]", NULL);
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(16, 33));
    NODE(g, "fc", "linear", NULL, "x,w");
    NODE(g, "y", "output", NULL, "fc");
    expect_create(
        g, APH_ERR_DIMENSION_MISMATCH,
        "dimension mismatch: node 3 'fc' (linear): x [batch, seq, 32] and weight [16, 33]: x's last dimension "
        "32 differs from weight's K 33 (weight is [N, K])");

    /* A symbol meets a fixed size (it would work for one size only). */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"batch\",4]", NULL);
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(3, 4));
    NODE(g, "s", "add", NULL, "x,w");
    NODE(g, "y", "output", NULL, "s");
    expect_create(g, APH_ERR_DIMENSION_MISMATCH,
                  "dimension mismatch: node 3 's' (add): shapes [batch, 4] and [3, 4] do not broadcast (dimension 0: "
                  "batch vs 3)");

    /* Two symbols meet. */
    g = et_graph();
    NODE(g, "a", "input", "shape=[\"n\",\"m\"]", NULL);
    NODE(g, "b", "input", "shape=[\"m\",\"n\"]", NULL);
    NODE(g, "s", "mul", NULL, "a,b");
    NODE(g, "y", "output", NULL, "s");
    expect_create(
        g, APH_ERR_DIMENSION_MISMATCH,
        "dimension mismatch: node 3 's' (mul): shapes [n, m] and [m, n] do not broadcast (dimension 0: n vs m)");

    /* Weights and constants are concrete. */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"batch\",4]", NULL);
    NODE(g, "w", "weight", "shape=[\"batch\",4]", NULL);
    NODE(g, "s", "add", NULL, "x,w");
    NODE(g, "y", "output", NULL, "s");
    expect_create(g, APH_ERR_GRAPH,
                  "graph error: node 2 'w' (weight): param 'shape' holds the string \"batch\"; expected integers "
                  "(symbolic dimensions are allowed in the shapes of input and reshape nodes only)");
    g = et_graph();
    NODE(g, "c", "constant", "shape=[\"n\"];value=1", NULL);
    NODE(g, "y", "output", NULL, "c");
    expect_create(g, APH_ERR_GRAPH,
                  "graph error: node 1 'c' (constant): param 'shape' holds the string \"n\"; expected integers "
                  "(symbolic dimensions are allowed in the shapes of input and reshape nodes only)");

    /* A reshape naming a symbol no input declares; a name that is no symbol. */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"batch\",\"seq\",32]", NULL);
    NODE(g, "r", "reshape", "shape=[\"batch\",\"seq\",\"heads\",8]", "x");
    NODE(g, "y", "output", NULL, "r");
    expect_create(g, APH_ERR_GRAPH,
                  "graph error: node 2 'r' (reshape): param 'shape' names the symbol 'heads', which no input node's "
                  "shape declares");
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"2nd\",4]", NULL);
    NODE(g, "y", "output", NULL, "x");
    expect_create(g, APH_ERR_GRAPH,
                  "graph error: node 1 'x' (input): param 'shape' names the symbol \"2nd\"; a symbol is a name of "
                  "letters, digits and underscores that does not start with a digit");

    /* A reshape that works only for some sizes (an even one): not for every size. */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"n\"]", NULL);
    NODE(g, "r", "reshape", "shape=[-1,2]", "x");
    NODE(g, "y", "output", NULL, "r");
    expect_create(g, APH_ERR_SHAPE_MISMATCH, "shape mismatch: node 2 'r' (reshape): cannot reshape [n] to [-1, 2]");
    /* Derived sizes are written as expressions of the symbols. */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"batch\",\"seq\",32]", NULL);
    NODE(g, "r", "reshape", "shape=[-1,32]", "x");
    NODE(g, "r2", "reshape", "shape=[-1,5]", "r");
    NODE(g, "y", "output", NULL, "r2");
    expect_create(g, APH_ERR_SHAPE_MISMATCH,
                  "shape mismatch: node 3 'r2' (reshape): cannot reshape [batch*seq, 32] to [-1, 5]");

    /* What is fine: -1 over symbolic sizes, a symbol against 1, shared symbols, symbols in a
     * reshape, a 0-dim input next to symbolic ones. */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"batch\",\"seq\",12]", NULL);
    NODE(g, "m", "input", "shape=[\"batch\",1,\"seq\",1]", NULL);
    NODE(g, "r", "reshape", "shape=[\"batch\",-1,3,4]", "x");
    NODE(g, "t", "transpose", "dim0=1;dim1=2", "r");
    NODE(g, "s", "add", NULL, "t,m");
    NODE(g, "y", "output", NULL, "s");
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g);
    aph_value_info v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    APH_ASSERT_OK(aph_executor_output_info(ex, 0, &v));
    assert_int_equal(v.ndim, 4);
    assert_string_equal(v.dim_names[0], "batch");
    assert_null(v.dim_names[1]);
    assert_int_equal(v.shape[1], 3);
    assert_string_equal(v.dim_names[2], "seq");
    assert_int_equal(v.shape[3], 4);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(2, 5, 12), -1, 1);
    aph_tensor* m = et_rand(APH_DTYPE_F32, SHAPE(2, 1, 5, 1), -1, 1);
    et_set(ex, "x", x);
    et_set(ex, "m", m);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor *xr = NULL, *xt = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(x, SHAPE(2, 5, 3, 4), &xr));
    APH_ASSERT_OK(aph_tensor_transpose(et_keep(xr), 1, 2, &xt));
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(2, 3, 5, 4));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, et_keep(xt), m, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "reshape with a symbol and -1, broadcast against 1");
    aph_executor_release(ex);

    /* An inference error at actual sizes names them. */
    g = et_graph();
    NODE(g, "x", "input", "shape=[\"n\",\"m\"]", NULL);
    NODE(g, "mx", "max", "dim=1", "x");
    NODE(g, "y", "output", NULL, "mx");
    ex = et_exec(g, NULL);
    aph_graph_release(g);
    et_set(ex, "x", et_rand(APH_DTYPE_F32, SHAPE(2, 0), -1, 1));
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: node 2 'mx' (max): dim 1 has size 0: max of an empty dimension is undefined (at "
                   "n = 2, m = 0)");
    x = et_rand(APH_DTYPE_F32, SHAPE(2, 3), -1, 1);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    want = et_out(APH_DTYPE_F32, SHAPE(2));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_MAX, x, 1, 0, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "max after a failed size set");
    aph_executor_release(ex);
    et_pool_release();
}

/* ---- signatures and bound outputs ------------------------------------------------------------ */

static void test_signatures(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    NODE(g, "ids", "input", "shape=[\"batch\",\"seq\"];dtype=\"i64\"", NULL); /* 1 */
    et_input(g, "table", "weight", APH_DTYPE_F32, SHAPE(50, 8));              /* 2 */
    NODE(g, "e", "embedding", NULL, "table,ids");                             /* 3 */
    NODE(g, "r", "reshape", "shape=[-1,8]", "e");                             /* 4 */
    NODE(g, "flat", "output", NULL, "r");                                     /* 5 */
    NODE(g, "p", "sum", "dim=1", "e");                                        /* 6 */
    NODE(g, "pooled", "output", NULL, "p");                                   /* 7 */
    NODE(g, "sl", "slice", "dim=1;stop=4", "ids");                            /* 8 */
    NODE(g, "head", "output", NULL, "sl");                                    /* 9 */
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g);

    aph_value_info v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    APH_ASSERT_OK(aph_executor_input_info(ex, 0, &v));
    assert_int_equal(v.ndim, 2);
    assert_int_equal(v.shape[0], -1);
    assert_int_equal(v.shape[1], -1);
    assert_string_equal(v.dim_names[0], "batch");
    assert_string_equal(v.dim_names[1], "seq");
    APH_ASSERT_OK(aph_executor_weight_info(ex, 0, &v));
    assert_int_equal(v.shape[0], 50);
    assert_null(v.dim_names[0]);
    assert_null(v.dim_names[1]);
    size_t i = 0;
    APH_ASSERT_OK(aph_executor_find_output(ex, "flat", &i));
    APH_ASSERT_OK(aph_executor_output_info(ex, i, &v));
    assert_int_equal(v.shape[0], -1);
    assert_string_equal(v.dim_names[0], "batch*seq"); /* derived */
    assert_int_equal(v.shape[1], 8);
    assert_null(v.dim_names[1]);
    APH_ASSERT_OK(aph_executor_find_output(ex, "pooled", &i));
    APH_ASSERT_OK(aph_executor_output_info(ex, i, &v));
    assert_string_equal(v.dim_names[0], "batch");
    assert_null(v.dim_names[1]);
    /* min(seq, 4): neither fixed nor a product of symbols. */
    APH_ASSERT_OK(aph_executor_find_output(ex, "head", &i));
    APH_ASSERT_OK(aph_executor_output_info(ex, i, &v));
    assert_string_equal(v.dim_names[0], "batch");
    assert_int_equal(v.shape[1], -1);
    assert_string_equal(v.dim_names[1], "?");

    aph_tensor* table = et_rand(APH_DTYPE_F32, SHAPE(50, 8), -1, 1);
    et_setw(ex, "table", table);
    static const int64_t seqs[] = {3, 7};
    for (size_t k = 0; k < 2; ++k) {
        aph_tensor* ids = et_rand(APH_DTYPE_I64, SHAPE(2, seqs[k]), 0, 49);
        et_set(ex, "ids", ids);
        APH_ASSERT_OK(aph_executor_run(ex));
        aph_tensor* e = et_out(APH_DTYPE_F32, SHAPE(2, seqs[k], 8));
        APH_ASSERT_OK(aph_op_embedding(table, ids, e, NULL));
        aph_tensor* flat = NULL;
        APH_ASSERT_OK(aph_tensor_reshape(e, SHAPE(2 * seqs[k], 8), &flat));
        et_assert_same(et_result(ex, "flat"), et_keep(flat), "flat");
        aph_tensor* head = et_result(ex, "head");
        assert_int_equal(aph_tensor_shape(head)[1], seqs[k] < 4 ? seqs[k] : 4);
    }
    aph_executor_release(ex);
    et_pool_release();
}

static void test_bound_outputs(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    NODE(g, "x", "input", "shape=[\"n\",4]", NULL);
    NODE(g, "r", "relu", NULL, "x");
    NODE(g, "y", "output", NULL, "r");
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g);
    /* Bound against the signature: the fixed sizes must match. */
    APH_ASSERT_ERR(aph_executor_bind_output(ex, "y", et_out(APH_DTYPE_F32, SHAPE(3, 5))), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: output 'y' (node 3): expected [n, 4], got [3, 5]");
    aph_tensor* out = et_out(APH_DTYPE_F32, SHAPE(3, 4));
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", out));
    /* ... and at the run, against the run's shape, before anything runs. */
    et_set(ex, "x", et_rand(APH_DTYPE_F32, SHAPE(2, 4), -1, 1));
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: output 'y' (node 3) is [2, 4] at n = 2; the tensor bound to it is [3, 4]");
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(3, 4), -1, 1);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(3, 4));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, x, want, NULL));
    et_assert_same(out, want, "bound output");
    assert_ptr_equal(et_result(ex, "y"), out);
    /* Unbound, the other size set runs into the executor's memory. */
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", NULL));
    x = et_rand(APH_DTYPE_F32, SHAPE(2, 4), -1, 1);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    want = et_out(APH_DTYPE_F32, SHAPE(2, 4));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, x, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "unbound output");
    aph_executor_release(ex);
    et_pool_release();
}

/* ---- positions --------------------------------------------------------------------------- */

static void assert_positions(const aph_tensor* t, int64_t n) {
    assert_int_equal(aph_tensor_dtype(t), APH_DTYPE_I64);
    assert_int_equal(aph_tensor_ndim(t), 1);
    assert_int_equal(aph_tensor_shape(t)[0], n);
    double* v = ot_read(t);
    for (int64_t i = 0; i < n; ++i)
        if (v[i] != (double)i) fail_msg("position %lld is %g", (long long)i, v[i]);
    free(v);
}

static void test_positions(void** state) {
    (void)state;
    /* Eagerly: any dtype and strides of x, any dimension. */
    aph_tensor* x = et_rand(APH_DTYPE_F16, SHAPE(2, 7, 3), -1, 1);
    static const struct { int64_t dim, n; } cases[] = {{-2, 7}, {1, 7}, {0, 2}, {-1, 3}, {2, 3}, {-3, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        aph_tensor* out = et_out(APH_DTYPE_I64, SHAPE(cases[i].n));
        APH_ASSERT_OK(aph_op_positions(x, cases[i].dim, out, NULL));
        assert_positions(out, cases[i].n);
    }
    aph_tensor* xt = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(x, 0, 2, &xt));
    aph_tensor* out = et_out(APH_DTYPE_I64, SHAPE(3));
    APH_ASSERT_OK(aph_op_positions(et_keep(xt), 0, out, NULL));
    assert_positions(out, 3);
    aph_tensor* bytes = et_rand(APH_DTYPE_U8, SHAPE(1000), 1, 9);
    out = et_out(APH_DTYPE_I64, SHAPE(1000));
    APH_ASSERT_OK(aph_op_positions(bytes, 0, out, NULL));
    assert_positions(out, 1000);
    /* A strided out (a column) is written through a temporary; the other column stays. */
    aph_tensor* wide = et_out(APH_DTYPE_I64, SHAPE(7, 2));
    aph_tensor* col = NULL;
    APH_ASSERT_OK(aph_tensor_select(wide, 1, 1, &col));
    APH_ASSERT_OK(aph_op_positions(x, 1, et_keep(col), NULL));
    assert_positions(col, 7);
    double* w = ot_read(wide);
    for (int i = 0; i < 7; ++i) assert_true(w[2 * i] == -1.0);
    free(w);
    /* Empty: nothing to write. */
    aph_tensor* empty = et_rand(APH_DTYPE_F32, SHAPE(4, 0), -1, 1);
    out = et_out(APH_DTYPE_I64, SHAPE(0));
    APH_ASSERT_OK(aph_op_positions(empty, 1, out, NULL));

    /* Errors: nothing written. */
    out = et_out(APH_DTYPE_I64, SHAPE(7));
    APH_ASSERT_ERR(aph_op_positions(x, 3, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: dim 3 is out of range for a tensor with 3 dimensions");
    APH_ASSERT_ERR(aph_op_positions(x, 1, et_out(APH_DTYPE_I64, SHAPE(6)), NULL), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: expected [7], got [6]");
    APH_ASSERT_ERR_CONTAINS(aph_op_positions(x, 1, et_out(APH_DTYPE_I32, SHAPE(7)), NULL), APH_ERR_INVALID_ARGUMENT,
                            "i64");
    APH_ASSERT_ERR(aph_op_positions(et_rand(APH_DTYPE_F32, SCALAR_SHAPE, -1, 1), -1, out, NULL),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: dim -1 is out of range for a tensor with 0 dimensions");
    APH_ASSERT_ERR(aph_op_positions(NULL, 0, out, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: x must not be NULL");
    APH_ASSERT_ERR(aph_op_positions(x, 0, NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    double* poison = ot_read(out);
    assert_true(poison[0] == -1.0); /* still 0xFF bytes */
    free(poison);

    /* In a graph, with a symbolic size: position ids for any sequence length. */
    aph_graph* g = et_graph();
    NODE(g, "ids", "input", "shape=[\"batch\",\"seq\"];dtype=\"i64\"", NULL);
    NODE(g, "pos", "positions", NULL, "ids");
    NODE(g, "first", "positions", "dim=0", "ids");
    NODE(g, "y", "output", NULL, "pos");
    NODE(g, "z", "output", NULL, "first");
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g);
    aph_value_info v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    APH_ASSERT_OK(aph_executor_output_info(ex, 0, &v));
    assert_int_equal(v.dtype, APH_DTYPE_I64);
    assert_string_equal(v.dim_names[0], "seq");
    static const int64_t seqs[] = {5, 300, 1};
    for (size_t i = 0; i < 3; ++i) {
        et_set(ex, "ids", et_rand(APH_DTYPE_I64, SHAPE(3, seqs[i]), 0, 9));
        APH_ASSERT_OK(aph_executor_run(ex));
        assert_positions(et_result(ex, "y"), seqs[i]);
        assert_positions(et_result(ex, "z"), 3);
    }
    aph_executor_release(ex);
    et_pool_release();
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_sizes),   cmocka_unit_test(test_disagreeing_inputs),
        cmocka_unit_test(test_plan_cache),      cmocka_unit_test(test_arena_growth),
        cmocka_unit_test(test_budget_per_plan), cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_signatures),      cmocka_unit_test(test_bound_outputs),
        cmocka_unit_test(test_positions),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
