/* The executor's memory plan (header section 20): liveness, the arena's placement, memory of
 * their own for outputs, budgets against a tracker. Liveness is recomputed here from the graph
 * (independently of the library) and compared with what the plan reports; placements are
 * checked pair by pair (values alive at once never share bytes; an operation never writes over
 * its operands); and every plan is run and compared with the eager operations, so a placement
 * that shares memory wrongly shows in the numbers too. On the CPU. */
#include "exec_test_util.h"

static aph_memory_stats mem_stats(void) {
    aph_memory_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    APH_ASSERT_OK(aph_device_memory_stats(ot_device(), &s));
    return s;
}

/* ---- a chain of elementwise nodes ---------------------------------------------------------- */

static void test_chain(void** state) {
    (void)state;
    enum { N = 8 };
    static const char* ops[4] = {"relu", "neg", "tanh", "abs"};
    static const aph_unary_op uops[4] = {APH_UNARY_RELU, APH_UNARY_NEG, APH_UNARY_TANH, APH_UNARY_ABS};
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(1000));
    char name[16], prev[16] = "x";
    for (int i = 0; i < N; ++i) {
        snprintf(name, sizeof name, "v%d", i);
        NODE(g, name, ops[i % 4], NULL, prev);
        snprintf(prev, sizeof prev, "%s", name);
    }
    NODE(g, "y", "output", NULL, prev);
    aph_executor* ex = et_exec(g, NULL);
    const aph_plan_info p = et_plan(ex);
    const uint64_t buf = et_align(4000); /* 4096 */
    assert_int_equal(buf, 4096);
    assert_int_equal(p.live_peak_bytes, 2 * buf);
    assert_int_equal(p.arena_bytes, p.live_peak_bytes);
    assert_int_equal(p.unshared_bytes, (N - 1) * buf); /* the last value is the output's */
    assert_int_equal(p.output_bytes, buf);
    assert_int_equal(p.constant_bytes, 0);
    assert_int_equal(p.total_bytes, 3 * buf);
    assert_int_equal(p.budget_bytes, 0);
    assert_int_equal(p.buffers, N - 1);
    assert_int_equal(p.steps, N);
    /* Consecutive values alternate between the two buffers; the output's value is not in the
     * arena, nor are the input and the output node. */
    for (int i = 0; i < N; ++i) {
        snprintf(name, sizeof name, "v%d", i);
        const aph_node_stats s = et_stats(ex, et_index(ex, name));
        assert_int_equal(s.bytes, 4000);
        if (i == N - 1) {
            assert_true(s.offset == UINT64_MAX);
        } else {
            assert_int_equal(s.offset % 256, 0);
            assert_true(s.offset + buf <= p.arena_bytes);
            if (i > 0) {
                snprintf(prev, sizeof prev, "v%d", i - 1);
                assert_true(et_stats(ex, et_index(ex, prev)).offset != s.offset);
            }
        }
    }
    assert_true(et_stats(ex, et_index(ex, "x")).offset == UINT64_MAX);
    assert_true(et_stats(ex, et_index(ex, "y")).offset == UINT64_MAX);

    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(1000), -2, 2);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(1000));
    APH_ASSERT_OK(aph_op_unary(uops[0], x, want, NULL));
    for (int i = 1; i < N; ++i) APH_ASSERT_OK(aph_op_unary(uops[i % 4], want, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "chain");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* ---- a diamond with values of two sizes ---------------------------------------------------- */

static void test_diamond(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(64, 64));
    NODE(g, "a", "relu", NULL, "x");    /* step 1, 16384 bytes, read at 2 and 3 */
    NODE(g, "b", "sum", "dim=-1", "a"); /* step 2, 256 bytes, read at 4 */
    NODE(g, "c", "exp", NULL, "a");     /* step 3, 16384 bytes, read at 4 */
    NODE(g, "d", "add", NULL, "c,b");   /* step 4, 16384 bytes, read at 5 */
    NODE(g, "e", "neg", NULL, "d");     /* step 5: read by the output, memory of its own */
    NODE(g, "y", "output", NULL, "e");
    aph_executor* ex = et_exec(g, NULL);
    const char* order[7] = {"x", "a", "b", "c", "d", "e", "y"};
    for (size_t i = 0; i < 7; ++i) assert_string_equal(et_stats(ex, i).name, order[i]);
    const aph_plan_info p = et_plan(ex);
    /* Live at step 3: a, b, c; at step 4: b, c, d. */
    const uint64_t big = 16384, small = 256;
    assert_int_equal(p.live_peak_bytes, 2 * big + small);
    assert_true(p.arena_bytes >= p.live_peak_bytes);
    /* Largest first: a at 0, c at 16384 (a is alive), d at 0 (a is dead by then), b above both. */
    assert_int_equal(et_stats(ex, 1).offset, 0);
    assert_int_equal(et_stats(ex, 3).offset, big);
    assert_int_equal(et_stats(ex, 4).offset, 0);
    assert_int_equal(et_stats(ex, 2).offset, 2 * big);
    assert_int_equal(p.arena_bytes, 2 * big + small);
    assert_int_equal(p.unshared_bytes, 3 * big + small);
    assert_int_equal(p.output_bytes, big);
    assert_int_equal(p.total_bytes, p.arena_bytes + big);
    assert_int_equal(p.buffers, 4);
    assert_int_equal(p.steps, 5);

    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(64, 64), -2, 2);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* a = et_out(APH_DTYPE_F32, SHAPE(64, 64));
    aph_tensor* b = et_out(APH_DTYPE_F32, SHAPE(64));
    aph_tensor* c = et_out(APH_DTYPE_F32, SHAPE(64, 64));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, x, a, NULL));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, a, -1, 0, b, NULL));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_EXP, a, c, NULL));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, c, b, c, NULL));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_NEG, c, c, NULL));
    et_assert_same(et_result(ex, "y"), c, "diamond");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* ---- random DAGs ----------------------------------------------------------------------------- */

#define MAXN 80
enum { K_INPUT, K_COMPUTE, K_VIEW, K_OUTPUT };

typedef struct dag {
    size_t n;
    int kind[MAXN];
    int64_t rows[MAXN], cols[MAXN]; /* every value is 2-D */
    size_t ops[MAXN][2];
    size_t nops[MAXN];
    int op[MAXN];      /* 0..5 unary, 10..13 binary, 20 sum(dim 0, keepdim), 30 transpose,
                                      * 31 slice of the first row */
    size_t base[MAXN]; /* the value whose memory a view or output is */
    char name[MAXN][16];
    aph_tensor* ref[MAXN]; /* eager reference values */
} dag;

static const char* kUnary[6] = {"relu", "neg", "tanh", "sigmoid", "abs", "gelu"};
static const aph_unary_op kUnaryOp[6] = {APH_UNARY_RELU,    APH_UNARY_NEG, APH_UNARY_TANH,
                                         APH_UNARY_SIGMOID, APH_UNARY_ABS, APH_UNARY_GELU};
static const char* kBinary[4] = {"add", "mul", "sub", "maximum"};
static const aph_binary_op kBinaryOp[4] = {APH_BINARY_ADD, APH_BINARY_MUL, APH_BINARY_SUB, APH_BINARY_MAXIMUM};

static size_t pick_value(const dag* d) {
    for (;;) {
        const size_t i = (size_t)ot_int(0, (int64_t)d->n - 1);
        if (d->kind[i] != K_OUTPUT) return i;
    }
}

/* Builds a random graph of about `target` computing nodes over three inputs, with output nodes
 * here and there, and its eager reference values. */
static aph_graph* random_dag(dag* d, size_t target) {
    memset(d, 0, sizeof *d);
    aph_graph* g = et_graph();
    const int64_t cols = 40; /* 160 bytes a row: sizes that are not multiples of 256 */
    const int64_t in_rows[3] = {3, 5, 1};
    for (size_t i = 0; i < 3; ++i) {
        snprintf(d->name[i], 16, "x%zu", i);
        d->kind[i] = K_INPUT;
        d->rows[i] = in_rows[i];
        d->cols[i] = cols;
        d->base[i] = i;
        et_input(g, d->name[i], "input", APH_DTYPE_F32, (const int64_t[]){in_rows[i], cols}, 2);
        d->ref[i] = et_rand(APH_DTYPE_F32, (const int64_t[]){in_rows[i], cols}, 2, -1, 1);
    }
    d->n = 3;
    size_t computed = 0;
    while (computed < target && d->n < MAXN - 2) {
        const size_t i = d->n;
        snprintf(d->name[i], 16, "n%zu", i);
        const int r = (int)ot_int(0, 9);
        const size_t a = pick_value(d);
        char ops[40];
        if (r <= 3) { /* unary */
            const int u = (int)ot_int(0, 5);
            d->kind[i] = K_COMPUTE;
            d->op[i] = u;
            d->rows[i] = d->rows[a];
            d->cols[i] = d->cols[a];
            d->ops[i][0] = a;
            d->nops[i] = 1;
            snprintf(ops, sizeof ops, "%s", d->name[a]);
            NODE(g, d->name[i], kUnary[u], NULL, ops);
        } else if (r <= 6) { /* binary: a partner of a's shape, or a row broadcast over it */
            size_t b = SIZE_MAX;
            for (int tries = 0; tries < 50 && b == SIZE_MAX; ++tries) {
                const size_t c = pick_value(d);
                if ((d->rows[c] == d->rows[a] || d->rows[c] == 1) && d->cols[c] == d->cols[a]) b = c;
            }
            if (b == SIZE_MAX) b = a;
            const int o = (int)ot_int(0, 3);
            d->kind[i] = K_COMPUTE;
            d->op[i] = 10 + o;
            d->rows[i] = d->rows[a];
            d->cols[i] = d->cols[a];
            d->ops[i][0] = a;
            d->ops[i][1] = b;
            d->nops[i] = 2;
            snprintf(ops, sizeof ops, "%s,%s", d->name[a], d->name[b]);
            NODE(g, d->name[i], kBinary[o], NULL, ops);
        } else if (r == 7) { /* a reduction to one row */
            d->kind[i] = K_COMPUTE;
            d->op[i] = 20;
            d->rows[i] = 1;
            d->cols[i] = d->cols[a];
            d->ops[i][0] = a;
            d->nops[i] = 1;
            NODE(g, d->name[i], "sum", "dim=0;keepdim=true", d->name[a]);
        } else { /* a view: transpose or the first row */
            const int t = r == 8;
            d->kind[i] = K_VIEW;
            d->op[i] = t ? 30 : 31;
            d->rows[i] = t ? d->cols[a] : 1;
            d->cols[i] = t ? d->rows[a] : d->cols[a];
            d->ops[i][0] = a;
            d->nops[i] = 1;
            d->base[i] = d->base[a];
            if (t) NODE(g, d->name[i], "transpose", "dim0=0;dim1=1", d->name[a]);
            else
                NODE(g, d->name[i], "slice", "dim=0;start=0;stop=1", d->name[a]);
        }
        if (d->kind[i] == K_COMPUTE) {
            d->base[i] = i;
            ++computed;
        }
        d->n++;
        /* Now and then an output of a random value. */
        if (ot_int(0, 6) == 0 && d->n < MAXN - 1) {
            const size_t v = pick_value(d);
            const size_t j = d->n++;
            snprintf(d->name[j], 16, "out%zu", j);
            d->kind[j] = K_OUTPUT;
            d->ops[j][0] = v;
            d->nops[j] = 1;
            d->base[j] = d->base[v];
            d->rows[j] = d->rows[v];
            d->cols[j] = d->cols[v];
            NODE(g, d->name[j], "output", NULL, d->name[v]);
        }
    }
    /* The last value is always an output. */
    const size_t j = d->n++;
    snprintf(d->name[j], 16, "out%zu", j);
    d->kind[j] = K_OUTPUT;
    d->ops[j][0] = j - 1;
    d->nops[j] = 1;
    d->base[j] = d->base[j - 1];
    d->rows[j] = d->rows[j - 1];
    d->cols[j] = d->cols[j - 1];
    NODE(g, d->name[j], "output", NULL, d->name[j - 1]);

    /* The eager reference, in node order (a topological order: operands come first). */
    for (size_t i = 3; i < d->n; ++i) {
        aph_tensor* a = d->ref[d->ops[i][0]];
        const int64_t shape[2] = {d->rows[i], d->cols[i]};
        if (d->kind[i] == K_OUTPUT) {
            d->ref[i] = a;
        } else if (d->kind[i] == K_VIEW) {
            aph_tensor* v = NULL;
            if (d->op[i] == 30) APH_ASSERT_OK(aph_tensor_transpose(a, 0, 1, &v));
            else
                APH_ASSERT_OK(aph_tensor_slice(a, 0, 0, 1, 1, &v));
            d->ref[i] = et_keep(v);
        } else {
            aph_tensor* o = et_out(APH_DTYPE_F32, shape, 2);
            if (d->op[i] < 10) APH_ASSERT_OK(aph_op_unary(kUnaryOp[d->op[i]], a, o, NULL));
            else if (d->op[i] < 20)
                APH_ASSERT_OK(aph_op_binary(kBinaryOp[d->op[i] - 10], a, d->ref[d->ops[i][1]], o, NULL));
            else
                APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, a, 0, 1, o, NULL));
            d->ref[i] = o;
        }
    }
    return g;
}

static void check_dag(size_t target) {
    dag* d = calloc(1, sizeof *d);
    assert_non_null(d);
    aph_graph* g = random_dag(d, target);
    if (getenv("APH_TEST_DUMP")) {
        char* dot = NULL;
        APH_ASSERT_OK(aph_graph_to_dot(g, &dot));
        fprintf(stderr, "%s", dot);
        aph_string_free(dot);
    }
    aph_executor* ex = et_exec(g, NULL);
    const aph_plan_info p = et_plan(ex);
    assert_int_equal(aph_executor_node_count(ex), d->n);

    /* Execution position of each node (node i has id i + 1). */
    size_t pos[MAXN];
    for (size_t e = 0; e < d->n; ++e) {
        const aph_node_stats s = et_stats(ex, e);
        assert_true(s.id >= 1 && s.id <= d->n);
        pos[s.id - 1] = e;
        assert_int_equal(s.ndim, 2);
        assert_int_equal(s.shape[0], d->rows[s.id - 1]);
        assert_int_equal(s.shape[1], d->cols[s.id - 1]);
    }
    /* Which computed values outputs read (memory of their own), lifetimes of the others. */
    int own[MAXN] = {0};
    size_t first[MAXN], last[MAXN];
    for (size_t i = 0; i < d->n; ++i)
        if (d->kind[i] == K_OUTPUT && d->kind[d->base[i]] == K_COMPUTE) own[d->base[i]] = 1;
    for (size_t i = 0; i < d->n; ++i) first[i] = last[i] = pos[i];
    for (size_t i = 0; i < d->n; ++i)
        for (size_t k = 0; k < d->nops[i]; ++k) {
            const size_t b = d->base[d->ops[i][k]];
            if (pos[i] > last[b]) last[b] = pos[i];
        }
    uint64_t offset[MAXN], size[MAXN];
    int planned[MAXN] = {0};
    uint64_t unshared = 0, outputs = 0;
    size_t buffers = 0, steps = 0;
    for (size_t i = 0; i < d->n; ++i) {
        const aph_node_stats s = et_stats(ex, pos[i]);
        size[i] = et_align(s.bytes);
        offset[i] = s.offset;
        if (d->kind[i] == K_COMPUTE) ++steps;
        if (d->kind[i] == K_COMPUTE && own[i]) outputs += size[i];
        planned[i] = d->kind[i] == K_COMPUTE && !own[i];
        if (!planned[i]) {
            if (offset[i] != UINT64_MAX)
                fail_msg("node %s is not planned but has offset %llu", d->name[i], (unsigned long long)offset[i]);
            continue;
        }
        ++buffers;
        unshared += size[i];
        assert_true(offset[i] != UINT64_MAX);
        assert_int_equal(offset[i] % 256, 0);
        assert_true(offset[i] + size[i] <= p.arena_bytes);
    }
    /* Live peak by the definition. */
    uint64_t peak = 0;
    for (size_t t = 0; t < d->n; ++t) {
        uint64_t live = 0;
        for (size_t i = 0; i < d->n; ++i)
            if (planned[i] && first[i] <= t && t <= last[i]) live += size[i];
        if (live > peak) peak = live;
    }
    assert_int_equal(p.live_peak_bytes, peak);
    assert_true(p.arena_bytes >= p.live_peak_bytes);
    assert_true(p.arena_bytes <= p.unshared_bytes);
    assert_int_equal(p.unshared_bytes, unshared);
    assert_int_equal(p.output_bytes, outputs);
    assert_int_equal(p.total_bytes, p.arena_bytes + p.output_bytes);
    assert_int_equal(p.buffers, buffers);
    assert_int_equal(p.steps, steps);
    /* Values alive at once never share bytes. */
    for (size_t i = 0; i < d->n; ++i) {
        if (!planned[i]) continue;
        for (size_t j = i + 1; j < d->n; ++j) {
            if (!planned[j]) continue;
            const int alive_together = !(last[i] < first[j] || last[j] < first[i]);
            const int share = offset[i] < offset[j] + size[j] && offset[j] < offset[i] + size[i];
            if (alive_together && share)
                fail_msg("%s [%zu, %zu] at %llu+%llu and %s [%zu, %zu] at %llu+%llu share memory (APH_TEST_SEED=%llu)",
                         d->name[i], first[i], last[i], (unsigned long long)offset[i], (unsigned long long)size[i],
                         d->name[j], first[j], last[j], (unsigned long long)offset[j], (unsigned long long)size[j],
                         (unsigned long long)ot_seed());
        }
    }
    /* An operation's output never overlaps its operands' memory. */
    for (size_t i = 0; i < d->n; ++i) {
        if (!planned[i]) continue;
        for (size_t k = 0; k < d->nops[i]; ++k) {
            const size_t b = d->base[d->ops[i][k]];
            if (!planned[b]) continue;
            assert_true(offset[i] + size[i] <= offset[b] || offset[b] + size[b] <= offset[i]);
        }
    }

    /* The numbers, twice (the second run reuses every buffer). */
    for (int run = 0; run < 2; ++run) {
        for (size_t i = 0; i < 3; ++i) et_set(ex, d->name[i], d->ref[i]);
        APH_ASSERT_OK(aph_executor_run(ex));
        for (size_t i = 0; i < d->n; ++i)
            if (d->kind[i] == K_OUTPUT) et_assert_same(et_result(ex, d->name[i]), d->ref[i], d->name[i]);
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    free(d);
    et_pool_release();
}

static void test_random_dags(void** state) {
    (void)state;
    for (int i = 0; i < 12; ++i) check_dag(40);
}

/* ---- outputs, constants, views and inputs in the plan ------------------------------------- */

static void test_outputs_and_constants(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(10, 10)); /* 400 bytes -> 512 */
    NODE(g, "c", "constant", "shape=[100];value=1.5", NULL);
    NODE(g, "r", "reshape", "shape=[100]", "x");
    NODE(g, "s", "add", NULL, "r,c"); /* planned */
    NODE(g, "t", "transpose", "dim0=0;dim1=1", "x");
    NODE(g, "u", "exp", NULL, "t"); /* read through a view by an output: own memory */
    NODE(g, "uv", "slice", "dim=0;start=2;stop=5", "u");
    NODE(g, "m", "mul", NULL, "s,s"); /* planned */
    NODE(g, "y1", "output", NULL, "uv");
    NODE(g, "y2", "output", NULL, "m"); /* own memory */
    NODE(g, "y3", "output", NULL, "x"); /* the caller's input: no memory */
    NODE(g, "y4", "output", NULL, "c"); /* the constant's own memory */
    aph_executor* ex = et_exec(g, NULL);
    const aph_plan_info p = et_plan(ex);
    assert_int_equal(p.constant_bytes, 512);
    assert_int_equal(p.output_bytes, 1024);
    assert_int_equal(p.buffers, 1);
    assert_int_equal(p.steps, 3);
    assert_int_equal(p.arena_bytes, 512);
    assert_int_equal(p.live_peak_bytes, 512);
    assert_int_equal(p.total_bytes, 512 + 1024 + 512);
    assert_int_equal(et_stats(ex, et_index(ex, "s")).offset, 0);
    assert_true(et_stats(ex, et_index(ex, "u")).offset == UINT64_MAX);
    assert_true(et_stats(ex, et_index(ex, "m")).offset == UINT64_MAX);
    assert_true(et_stats(ex, et_index(ex, "c")).offset == UINT64_MAX);
    assert_true(et_stats(ex, et_index(ex, "r")).offset == UINT64_MAX);

    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(10, 10), -1, 1);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor *xt = NULL, *xs = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(x, 0, 1, &xt));
    et_keep(xt);
    aph_tensor* u = et_out(APH_DTYPE_F32, SHAPE(10, 10));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_EXP, xt, u, NULL));
    APH_ASSERT_OK(aph_tensor_slice(u, 0, 2, 5, 1, &xs));
    et_keep(xs);
    et_assert_same(et_result(ex, "y1"), xs, "slice of an output's value");
    aph_tensor* y3 = et_result(ex, "y3");
    assert_ptr_equal(aph_tensor_data(y3), aph_tensor_data(x));
    double* v = ot_read(et_result(ex, "y4"));
    for (int i = 0; i < 100; ++i) assert_true(v[i] == 1.5);
    free(v);
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* ---- budgets ------------------------------------------------------------------------------- */

static aph_graph* budget_graph(void) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(8, 64));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(128, 64));
    NODE(g, "c", "constant", "shape=[128];value=0.5", NULL);
    NODE(g, "l", "linear", NULL, "x,w,c");
    NODE(g, "a", "silu", NULL, "l");
    NODE(g, "s", "softmax", NULL, "a");
    NODE(g, "y", "output", NULL, "s");
    return g;
}

static void test_budget(void** state) {
    (void)state;
    aph_graph* g = budget_graph();
    aph_executor* probe = et_exec(g, NULL);
    const uint64_t total = et_plan(probe).total_bytes;
    aph_executor_release(probe);
    /* linear and silu outputs (4096 bytes each) share nothing: 8192 arena; softmax's own 4096;
     * the constant 512. */
    assert_int_equal(total, 8192 + 4096 + 512);

    aph_tracker* tr = NULL;
    APH_ASSERT_OK(aph_tracker_create(total - 1, &tr));
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.tracker = tr;
    const aph_memory_stats before = mem_stats();
    aph_executor* ex = (aph_executor*)(uintptr_t)0x77;
    char msg[256];
    snprintf(msg, sizeof msg,
             "out of memory: the memory plan needs %llu bytes at its peak, over the budget of %llu bytes (0 bytes "
             "already tracked)",
             (unsigned long long)total, (unsigned long long)(total - 1));
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), &opt, &ex), APH_ERR_OUT_OF_MEMORY, msg);
    assert_ptr_equal(ex, (aph_executor*)(uintptr_t)0x77);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    assert_int_equal(aph_tracker_peak_bytes(tr), 0);
    assert_int_equal(mem_stats().allocations, before.allocations);
    aph_tracker_release(tr);

    /* Bytes already tracked count against the budget. */
    APH_ASSERT_OK(aph_tracker_create(total + 100, &tr));
    APH_ASSERT_OK(aph_tracker_allocate(tr, 200));
    opt.tracker = tr;
    snprintf(msg, sizeof msg,
             "out of memory: the memory plan needs %llu bytes at its peak, over the budget of %llu bytes (200 bytes "
             "already tracked)",
             (unsigned long long)total, (unsigned long long)(total + 100));
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), &opt, &ex), APH_ERR_OUT_OF_MEMORY, msg);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 200);
    APH_ASSERT_OK(aph_tracker_deallocate(tr, 200));
    ex = et_exec(g, &opt); /* 0 + total <= total + 100 */
    aph_executor_release(ex);
    aph_tracker_release(tr);

    /* A limit of exactly the plan fits; memory comes at the first run and goes at release. */
    APH_ASSERT_OK(aph_tracker_create(total, &tr));
    opt.tracker = tr;
    ex = et_exec(g, &opt);
    aph_tracker_release(tr); /* the executor keeps its own reference */
    const aph_plan_info p = et_plan(ex);
    assert_int_equal(p.budget_bytes, total);
    assert_int_equal(p.total_bytes, total);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    assert_int_equal(mem_stats().allocations, before.allocations);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(8, 64), -1, 1);
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(128, 64), -1, 1);
    et_set(ex, "x", x);
    et_setw(ex, "w", w);
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_int_equal(aph_tracker_allocated_bytes(tr), total);
    const uint64_t allocs = mem_stats().allocations;
    assert_true(allocs > before.allocations);
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_int_equal(aph_tracker_allocated_bytes(tr), total);
    assert_int_equal(aph_tracker_peak_bytes(tr), total);
    assert_int_equal(mem_stats().allocations, allocs); /* nothing allocated by the second run */
    aph_tensor* l = et_out(APH_DTYPE_F32, SHAPE(8, 128));
    aph_tensor* c = et_out(APH_DTYPE_F32, SHAPE(128));
    const float half[128] = {[0 ... 127] = 0.5f};
    APH_ASSERT_OK(aph_tensor_copy_from_host(c, half, sizeof half));
    APH_ASSERT_OK(aph_op_linear(x, w, c, l, NULL));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_SILU, l, l, NULL));
    APH_ASSERT_OK(aph_op_softmax(l, l, NULL));
    et_assert_same(et_result(ex, "y"), l, "budgeted run");
    et_pool_release(); /* the output reference too: the tracker goes back to 0 at release */
    aph_tracker_retain(tr);
    aph_executor_release(ex);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    aph_tracker_release(tr);
    aph_graph_release(g);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain),       cmocka_unit_test(test_diamond),
        cmocka_unit_test(test_random_dags), cmocka_unit_test(test_outputs_and_constants),
        cmocka_unit_test(test_budget),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
