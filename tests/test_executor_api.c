/* The executor's 0.2 C API, on the device under test (CPU, a real GPU, the simulated CUDA
 * module): its signature (inputs, weights and outputs with dtypes and shapes, lookup by name),
 * outputs bound to the caller's tensors (values that survive the next run, a state updated in
 * place, every binding error), reference counting (aph_executor_retain), and the CPU worker
 * thread count as an executor option and a per-thread setting. */
#include "exec_test_util.h"

#include <stddef.h>
#include <unistd.h>

/* ---- signatures ---------------------------------------------------------------------------- */

static aph_value_info info_init(void) {
    aph_value_info v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    return v;
}

/* Asserts v describes a value named name of dtype and shape, every dimension fixed. */
static void assert_info(const aph_value_info* v, const char* name, uint64_t id, aph_dtype dtype, const int64_t* shape,
                        size_t ndim) {
    assert_string_equal(v->name, name);
    assert_int_equal(v->node_id, id);
    assert_int_equal(v->dtype, dtype);
    assert_int_equal(v->ndim, ndim);
    if (ndim == 0) {
        assert_null(v->shape);
        assert_null(v->dim_names);
        return;
    }
    assert_non_null(v->shape);
    assert_non_null(v->dim_names);
    for (size_t i = 0; i < ndim; ++i) {
        assert_int_equal(v->shape[i], shape[i]);
        assert_null(v->dim_names[i]); /* fixed */
    }
}

static void test_signature(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));      /* 1 */
    et_input(g, "w1", "weight", APH_DTYPE_F32, SHAPE(4, 8));    /* 2 */
    et_input(g, "b", "weight", APH_DTYPE_F32, SHAPE(4));        /* 3 */
    NODE(g, "h", "linear", NULL, "x,w1,b");                     /* 4 */
    et_input(g, "scale", "input", APH_DTYPE_F32, SCALAR_SHAPE); /* 5 */
    NODE(g, "hs", "mul", NULL, "h,scale");                      /* 6 */
    NODE(g, "y", "output", NULL, "hs");                         /* 7 */
    NODE(g, "s", "sum", "dim=-1", "h");                         /* 8 */
    NODE(g, "total", "output", NULL, "s");                      /* 9 */
    aph_executor* ex = et_exec(g, NULL);
    /* The executor works on a copy: changing the graph afterwards changes nothing. */
    et_input(g, "late", "input", APH_DTYPE_F32, SHAPE(3));

    assert_int_equal(aph_executor_input_count(ex), 2);
    assert_int_equal(aph_executor_weight_count(ex), 2);
    assert_int_equal(aph_executor_output_count(ex), 2);
    aph_value_info v = info_init();
    APH_ASSERT_OK(aph_executor_input_info(ex, 0, &v));
    assert_info(&v, "x", 1, APH_DTYPE_F32, SHAPE(2, 8));
    const int64_t* x_shape = v.shape;
    const char* x_name = v.name;
    APH_ASSERT_OK(aph_executor_input_info(ex, 1, &v));
    assert_info(&v, "scale", 5, APH_DTYPE_F32, SCALAR_SHAPE);
    APH_ASSERT_OK(aph_executor_weight_info(ex, 0, &v));
    assert_info(&v, "w1", 2, APH_DTYPE_F32, SHAPE(4, 8));
    APH_ASSERT_OK(aph_executor_weight_info(ex, 1, &v));
    assert_info(&v, "b", 3, APH_DTYPE_F32, SHAPE(4));
    APH_ASSERT_OK(aph_executor_output_info(ex, 0, &v));
    assert_info(&v, "y", 7, APH_DTYPE_F32, SHAPE(2, 4));
    assert_string_equal(aph_executor_output_name(ex, 0), "y");
    APH_ASSERT_OK(aph_executor_output_info(ex, 1, &v));
    assert_info(&v, "total", 9, APH_DTYPE_F32, SHAPE(2));

    /* Lookup by name. */
    size_t index = 99;
    APH_ASSERT_OK(aph_executor_find_input(ex, "scale", &index));
    assert_int_equal(index, 1);
    APH_ASSERT_OK(aph_executor_find_weight(ex, "w1", &index));
    assert_int_equal(index, 0);
    APH_ASSERT_OK(aph_executor_find_output(ex, "total", &index));
    assert_int_equal(index, 1);
    index = 99;
    APH_ASSERT_ERR(aph_executor_find_input(ex, "w1", &index), APH_ERR_NOT_FOUND,
                   "not found: the graph has no input node named 'w1'");
    APH_ASSERT_ERR(aph_executor_find_weight(ex, "h", &index), APH_ERR_NOT_FOUND,
                   "not found: the graph has no weight node named 'h'");
    APH_ASSERT_ERR(aph_executor_find_output(ex, "late", &index), APH_ERR_NOT_FOUND,
                   "not found: the graph has no output node named 'late'");
    assert_int_equal(index, 99);
    APH_ASSERT_ERR(aph_executor_find_input(ex, NULL, &index), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_executor_find_input(ex, "x", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_index must not be NULL");

    /* An index out of range, a struct too small: errors that leave out alone. */
    aph_value_info poisoned;
    memset(&poisoned, 0x5a, sizeof poisoned);
    poisoned.struct_size = sizeof poisoned;
    aph_value_info copy = poisoned;
    APH_ASSERT_ERR(aph_executor_input_info(ex, 2, &poisoned), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: index 2 is out of range (the executor has 2 inputs)");
    APH_ASSERT_ERR(aph_executor_output_info(ex, 5, &poisoned), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: index 5 is out of range (the executor has 2 outputs)");
    assert_memory_equal(&poisoned, &copy, sizeof copy);
    poisoned.struct_size = sizeof(size_t);
    char msg[160];
    snprintf(msg, sizeof msg, "invalid argument: out->struct_size is %zu; set it to sizeof(aph_value_info) (%zu)",
             sizeof(size_t), sizeof(aph_value_info));
    APH_ASSERT_ERR(aph_executor_weight_info(ex, 0, &poisoned), APH_ERR_INVALID_ARGUMENT, msg);
    /* An older, smaller struct: the fields inside it are written, nothing past it. */
    poisoned.struct_size = offsetof(aph_value_info, ndim);
    APH_ASSERT_OK(aph_executor_weight_info(ex, 1, &poisoned));
    assert_string_equal(poisoned.name, "b");
    assert_int_equal(poisoned.node_id, 3);
    assert_int_equal(poisoned.dtype, APH_DTYPE_F32);
    assert_memory_equal((const char*)&poisoned + offsetof(aph_value_info, ndim),
                        (const char*)&copy + offsetof(aph_value_info, ndim),
                        sizeof poisoned - offsetof(aph_value_info, ndim));

    /* NULL executors. */
    assert_int_equal(aph_executor_input_count(NULL), 0);
    assert_int_equal(aph_executor_weight_count(NULL), 0);
    assert_int_equal(aph_executor_output_count(NULL), 0);
    APH_ASSERT_ERR(aph_executor_input_info(NULL, 0, &v), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: executor must not be NULL");
    APH_ASSERT_ERR(aph_executor_find_output(NULL, "y", &index), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: executor must not be NULL");
    APH_ASSERT_ERR(aph_executor_output_info(ex, 0, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");

    /* The borrowed pointers stay put (and correct) through bindings and runs. */
    et_set(ex, "x", et_rand(APH_DTYPE_F32, SHAPE(2, 8), -1, 1));
    et_set(ex, "scale", et_rand(APH_DTYPE_F32, SCALAR_SHAPE, 0.5, 2));
    et_setw(ex, "w1", et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1));
    et_setw(ex, "b", et_rand(APH_DTYPE_F32, SHAPE(4), -1, 1));
    APH_ASSERT_OK(aph_executor_run(ex));
    APH_ASSERT_OK(aph_executor_run(ex));
    v = info_init();
    APH_ASSERT_OK(aph_executor_input_info(ex, 0, &v));
    assert_ptr_equal(v.shape, x_shape);
    assert_ptr_equal(v.name, x_name);
    assert_info(&v, "x", 1, APH_DTYPE_F32, SHAPE(2, 8));

    /* Node statistics give their shapes the same way: borrowed, stable, NULL for a scalar. */
    const aph_node_stats hs = et_stats(ex, et_index(ex, "h"));
    assert_int_equal(hs.ndim, 2);
    assert_int_equal(hs.shape[0], 2);
    assert_int_equal(hs.shape[1], 4);
    assert_ptr_equal(et_stats(ex, et_index(ex, "h")).shape, hs.shape);
    const aph_node_stats sc = et_stats(ex, et_index(ex, "scale"));
    assert_int_equal(sc.ndim, 0);
    assert_null(sc.shape);

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* ---- a custom operation that copies its operand and records how it was called -------------- */

typedef struct {
    size_t seen[8]; /* aph_cpu_thread_count() inside the callback, run after run */
    int calls;
    const aph_tensor* last_out; /* the out tensor of the last call */
} probe_state;

static aph_status probe_infer(void* ud, const char* params, size_t n, const aph_dtype* dts,
                              const int64_t* const* shapes, const size_t* ndims, aph_dtype* odt, int64_t* oshape,
                              size_t capacity, size_t* ondim) {
    (void)ud;
    (void)params;
    if (n != 1 || ndims[0] > capacity) return APH_ERR_GRAPH;
    *odt = dts[0];
    memcpy(oshape, shapes[0], ndims[0] * sizeof(int64_t));
    *ondim = ndims[0];
    return APH_OK;
}

static aph_status probe_run(probe_state* s, const aph_tensor* in, aph_tensor* out) {
    if (s->calls < 8) s->seen[s->calls] = aph_cpu_thread_count();
    s->calls++;
    s->last_out = out;
    return aph_tensor_copy(out, in);
}

static aph_status probe_cpu(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out) {
    (void)params;
    (void)n;
    return probe_run(ud, in[0], out);
}

static aph_status probe_cuda(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out,
                             aph_stream* stream) {
    (void)params;
    (void)n;
    (void)stream;
    return probe_run(ud, in[0], out);
}

static void register_probe(const char* name, probe_state* ps) {
    memset(ps, 0, sizeof *ps);
    aph_custom_op op;
    memset(&op, 0, sizeof op);
    op.struct_size = sizeof op;
    op.name = name;
    op.infer = probe_infer;
    op.cpu = probe_cpu;
    op.cuda = probe_cuda;
    op.user_data = ps;
    APH_ASSERT_OK(aph_custom_op_register(&op));
}

/* ---- bound outputs ------------------------------------------------------------------------ */

/* x [4, 8] input, w [8, 8] weight; m = x·w. Outputs: y = m (computed straight into a bound
 * tensor), y2 = m (a second output of the same value), t = mᵀ (through a view), xo = x (an
 * input read back). */
static aph_graph* bind_graph(void) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4, 8));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(8, 8));
    NODE(g, "m", "matmul", NULL, "x,w");
    NODE(g, "y", "output", NULL, "m");
    NODE(g, "y2", "output", NULL, "m");
    NODE(g, "mt", "transpose", "dim0=0;dim1=1", "m");
    NODE(g, "t", "output", NULL, "mt");
    NODE(g, "xo", "output", NULL, "x");
    return g;
}

/* The eager x·w, and its transpose (contiguous). */
static aph_tensor* eager_mm(const aph_tensor* x, const aph_tensor* w) {
    aph_tensor* m = et_out(APH_DTYPE_F32, SHAPE(4, 8));
    APH_ASSERT_OK(aph_op_matmul(x, w, 0, 0, 1.0, 0.0, m, NULL));
    return m;
}

static aph_tensor* transposed(aph_tensor* m) {
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(m, 0, 1, &v));
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(v, &c));
    aph_tensor_release(v);
    return et_keep(c);
}

static void test_bind_output(void** state) {
    (void)state;
    aph_graph* g = bind_graph();
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(8, 8), -1, 1);
    et_set(ex, "x", x);
    et_setw(ex, "w", w);

    /* y into a contiguous tensor; t into a strided one (columns 1..4 of an [8, 6] tensor);
     * xo into a tensor of its own. Everything else of the [8, 6] tensor stays as it was. */
    aph_tensor* Y1 = et_out(APH_DTYPE_F32, SHAPE(4, 8));
    aph_tensor* wide = et_rand(APH_DTYPE_F32, SHAPE(8, 6), -1, 1);
    aph_tensor* wide_before = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(wide, &wide_before));
    aph_tensor* wide_copy = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(wide_before, ot_device(), &wide_copy));
    et_keep(wide_copy);
    aph_tensor_release(wide_before);
    aph_tensor* T = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(wide, 1, 1, 4, &T));
    et_keep(T);
    assert_int_equal(aph_tensor_is_contiguous(T), 0);
    aph_tensor* XO = et_out(APH_DTYPE_F32, SHAPE(4, 8));
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", Y1));
    APH_ASSERT_OK(aph_executor_bind_output(ex, "t", T));
    APH_ASSERT_OK(aph_executor_bind_output(ex, "xo", XO));
    APH_ASSERT_OK(aph_executor_run(ex));

    aph_tensor* m1 = eager_mm(x, w);
    et_assert_same(Y1, m1, "y bound (contiguous)");
    et_assert_same(T, transposed(m1), "t bound (strided)");
    et_assert_same(XO, x, "xo bound (an input read back)");
    et_assert_same(et_result(ex, "y2"), m1, "y2, unbound, reading the value y was computed into");
    /* Columns 0 and 5 of the wide tensor are untouched. */
    aph_tensor *col0 = NULL, *col0_want = NULL, *col5 = NULL, *col5_want = NULL;
    APH_ASSERT_OK(aph_tensor_select(wide, 1, 0, &col0));
    APH_ASSERT_OK(aph_tensor_select(wide_copy, 1, 0, &col0_want));
    APH_ASSERT_OK(aph_tensor_select(wide, 1, 5, &col5));
    APH_ASSERT_OK(aph_tensor_select(wide_copy, 1, 5, &col5_want));
    et_assert_same(col0, col0_want, "column 0 outside the binding");
    et_assert_same(col5, col5_want, "column 5 outside the binding");
    aph_tensor_release(col0);
    aph_tensor_release(col0_want);
    aph_tensor_release(col5);
    aph_tensor_release(col5_want);

    /* aph_executor_output gives where the run wrote: the bound tensor itself. */
    aph_tensor* got = et_result(ex, "y");
    assert_ptr_equal(got, Y1);
    assert_ptr_equal(et_result(ex, "t"), T);

    /* Values that survive: rebind y to another tensor, run with new inputs; Y1 keeps the first
     * run's value, Y2 gets the second's. An unbound output's tensor is overwritten instead. */
    aph_tensor* y2_first = et_result(ex, "y2");
    APH_ASSERT_OK(aph_tensor_copy(x, et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1)));
    aph_tensor* Y2 = et_out(APH_DTYPE_F32, SHAPE(4, 8));
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", Y2));
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* m2 = eager_mm(x, w);
    et_assert_same(Y2, m2, "y bound to a second tensor");
    et_assert_same(Y1, m1, "the first bound tensor keeps the first run's value");
    et_assert_same(y2_first, m2, "an unbound output's tensor shows the next run's value");
    et_assert_same(T, transposed(m2), "t after the second run");

    /* Unbinding: the next run's y is the executor's own memory again; Y2 keeps its value. */
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", NULL));
    APH_ASSERT_OK(aph_tensor_copy(x, et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1)));
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* m3 = eager_mm(x, w);
    aph_tensor* y3 = et_result(ex, "y");
    assert_ptr_not_equal(y3, Y2);
    et_assert_same(y3, m3, "y unbound again");
    et_assert_same(Y2, m2, "Y2 after unbinding");
    assert_int_equal(aph_executor_run_count(ex), 3);

    aph_executor_release(ex);
    /* The bound tensors are the caller's: they outlive the executor. */
    et_assert_same(Y1, m1, "Y1 after the executor is gone");
    aph_graph_release(g);
    et_pool_release();
}

/* A recurrent state updated in place: the output h' = h·w is bound to the very tensor bound
 * as input h, run after run. Every run must read all of h before writing h'. */
static void test_bind_output_in_place_state(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "h", "input", APH_DTYPE_F32, SHAPE(4, 16));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(16, 16));
    NODE(g, "n", "matmul", NULL, "h,w");
    NODE(g, "h_next", "output", NULL, "n");
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* h = et_rand(APH_DTYPE_F32, SHAPE(4, 16), -1, 1);
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(16, 16), -0.3, 0.3);
    aph_tensor* want = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(h, ot_device(), &want));
    et_keep(want);
    et_set(ex, "h", h);
    et_setw(ex, "w", w);
    APH_ASSERT_OK(aph_executor_bind_output(ex, "h_next", h));
    for (int step = 0; step < 3; ++step) {
        APH_ASSERT_OK(aph_executor_run(ex));
        aph_tensor* next = et_out(APH_DTYPE_F32, SHAPE(4, 16));
        APH_ASSERT_OK(aph_op_matmul(want, w, 0, 0, 1.0, 0.0, next, NULL));
        want = next;
        char what[64];
        snprintf(what, sizeof what, "state after step %d", step + 1);
        et_assert_same(h, want, what);
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* An output that is the only reader of a value of its own is computed straight into its bound
 * tensor when that is contiguous (the operation's out is the caller's tensor: no copy); a
 * strided tensor, or one that is also an input of the run, gets a copy after the last node. */
static void test_bind_output_direct(void** state) {
    (void)state;
    probe_state ps;
    register_probe("bind_probe", &ps);
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(6, 5));
    NODE(g, "p", "bind_probe", NULL, "x");
    NODE(g, "y", "output", NULL, "p");
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(6, 5), -1, 1);
    et_set(ex, "x", x);

    aph_tensor* Y = et_out(APH_DTYPE_F32, SHAPE(6, 5));
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", Y));
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_ptr_equal(ps.last_out, Y); /* computed in place */
    et_assert_same(Y, x, "direct");

    aph_tensor* wide = et_rand(APH_DTYPE_F32, SHAPE(6, 7), -1, 1);
    aph_tensor* S = NULL;
    APH_ASSERT_OK(aph_tensor_narrow(wide, 1, 2, 5, &S));
    et_keep(S);
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", S));
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_ptr_not_equal(ps.last_out, S);
    assert_ptr_not_equal(ps.last_out, Y);
    et_assert_same(S, x, "strided: copied");

    /* Bound to the input itself: copied after the run (the value is x, so x is unchanged). */
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", x));
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_ptr_not_equal(ps.last_out, x);
    et_assert_same(et_result(ex, "y"), S, "bound to its own input");
    assert_ptr_equal(et_result(ex, "y"), x);
    assert_int_equal(ps.calls, 3);

    aph_executor_release(ex);
    APH_ASSERT_OK(aph_custom_op_unregister("bind_probe"));
    aph_graph_release(g);
    et_pool_release();
}

static void test_bind_output_errors(void** state) {
    (void)state;
    aph_graph* g = bind_graph();
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(8, 8), -1, 1);
    et_set(ex, "x", x);
    et_setw(ex, "w", w);
    aph_tensor* A = et_out(APH_DTYPE_F32, SHAPE(4, 8));
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", A));

    APH_ASSERT_ERR(aph_executor_bind_output(ex, "x", A), APH_ERR_NOT_FOUND,
                   "not found: the graph has no output node named 'x'");
    APH_ASSERT_ERR(aph_executor_bind_output(ex, "nope", NULL), APH_ERR_NOT_FOUND,
                   "not found: the graph has no output node named 'nope'");
    APH_ASSERT_ERR(aph_executor_bind_output(NULL, "y", A), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: executor must not be NULL");
    APH_ASSERT_ERR(aph_executor_bind_output(ex, NULL, A), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_executor_bind_output(ex, "y2", et_out(APH_DTYPE_F16, SHAPE(4, 8))), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: output 'y2' (node 5) has dtype f32, the tensor f16");
    APH_ASSERT_ERR(aph_executor_bind_output(ex, "y2", et_out(APH_DTYPE_F32, SHAPE(8, 4))), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: output 'y2' (node 5): expected [4, 8], got [8, 4]");
    /* A broadcast view: several elements in one memory location. */
    aph_tensor* row = et_rand(APH_DTYPE_F32, SHAPE(1, 8), -1, 1);
    aph_tensor* bcast = NULL;
    APH_ASSERT_OK(aph_tensor_expand(row, SHAPE(4, 8), &bcast));
    et_keep(bcast);
    APH_ASSERT_ERR(aph_executor_bind_output(ex, "y2", bcast), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: the tensor bound to output 'y2' has a broadcast dimension (dim 0: size 4, "
                   "stride 0); bind a tensor without one");
    /* Memory another output is bound to (the same tensor, or a view of it). */
    APH_ASSERT_ERR(aph_executor_bind_output(ex, "y2", A), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: the tensor bound to output 'y2' shares memory with the tensor bound to "
                   "output 'y'; bind separate tensors");
    aph_tensor* a_view = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(A, 0, 1, &a_view));
    et_keep(a_view);
    APH_ASSERT_ERR_CONTAINS(aph_executor_bind_output(ex, "t", a_view), APH_ERR_INVALID_ARGUMENT,
                            "shares memory with the tensor bound to output 'y'");
    /* Rebinding the same output to the same tensor is fine. */
    APH_ASSERT_OK(aph_executor_bind_output(ex, "y", A));
    /* The executor's own memory (an unbound output of an earlier run). */
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* own = et_result(ex, "y2");
    APH_ASSERT_ERR(aph_executor_bind_output(ex, "xo", own), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: the tensor bound to output 'xo' is memory of this executor (an output of an "
                   "earlier run), which runs overwrite; bind a tensor of your own");
    if (ot_is_cuda()) {
        /* A tensor on another device. */
        aph_device* cpu = NULL;
        APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
        aph_tensor* host = NULL;
        APH_ASSERT_OK(aph_tensor_zeros(cpu, APH_DTYPE_F32, SHAPE(4, 8), &host));
        APH_ASSERT_ERR(aph_executor_bind_output(ex, "y2", host), APH_ERR_DEVICE_MISMATCH,
                       "device mismatch: tensors must be on the same device");
        aph_tensor_release(host);
        aph_device_release(cpu);
    } else {
        /* Read-only memory: a view of memory-mapped weights. */
        char path[64];
        snprintf(path, sizeof path, "/tmp/aph_bind_ro_%d.safetensors", (int)getpid());
        const char* name = "y";
        const aph_tensor* saved = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
        APH_ASSERT_OK(aph_safetensors_save(path, &name, &saved, 1, NULL));
        aph_safetensors* f = NULL;
        APH_ASSERT_OK(aph_safetensors_open(path, &f));
        aph_tensor* mapped = NULL;
        APH_ASSERT_OK(aph_safetensors_tensor(f, "y", ot_device(), &mapped));
        aph_safetensors_release(f);
        unlink(path);
        assert_int_equal(aph_tensor_is_read_only(mapped), 1);
        APH_ASSERT_ERR(aph_executor_bind_output(ex, "y2", mapped), APH_ERR_INVALID_ARGUMENT,
                       "invalid argument: the tensor bound to output 'y2' is read-only (memory-mapped weights or a "
                       "read-only DLPack import); bind a writable tensor");
        aph_tensor_release(mapped);
    }

    /* The failed calls changed no binding: y still goes into A. */
    APH_ASSERT_OK(aph_tensor_copy(x, et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1)));
    APH_ASSERT_OK(aph_executor_run(ex));
    et_assert_same(A, eager_mm(x, w), "y after the failed bindings");
    assert_ptr_equal(et_result(ex, "y"), A);
    assert_ptr_not_equal(et_result(ex, "y2"), A);

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* A custom operation registered with an older, shorter struct: name, infer and cpu only; the
 * fields past struct_size are NULL (no CUDA implementation, no user_data, no destroy) whatever
 * the caller's memory holds there. */
static aph_status twice_cpu(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out) {
    (void)params;
    (void)n;
    if (ud != NULL) return APH_ERR_INTERNAL; /* user_data must read as NULL */
    return aph_op_binary_scalar(APH_BINARY_MUL, in[0], 2.0, out, NULL);
}

static void test_custom_op_short_struct(void** state) {
    (void)state;
    struct {
        aph_custom_op op;
        unsigned char junk[8];
    } s;
    memset(&s, 0x5a, sizeof s); /* cuda, user_data, destroy: garbage past struct_size */
    s.op.struct_size = offsetof(aph_custom_op, cuda);
    s.op.name = "twice_short";
    s.op.infer = probe_infer;
    s.op.cpu = twice_cpu;
    APH_ASSERT_OK(aph_custom_op_register(&s.op));
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(5));
    NODE(g, "t", "twice_short", NULL, "x");
    NODE(g, "y", "output", NULL, "t");
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(5), -1, 1);
    et_set(ex, "x", x);
    if (ot_is_cuda()) {
        APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: node 2 't' (twice_short): custom operation 'twice_short' has no CUDA "
                       "implementation");
    } else {
        APH_ASSERT_OK(aph_executor_run(ex));
        aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(5));
        APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MUL, x, 2.0, want, NULL));
        et_assert_same(et_result(ex, "y"), want, "twice_short");
    }
    aph_executor_release(ex);
    APH_ASSERT_OK(aph_custom_op_unregister("twice_short")); /* destroy NULL: nothing to call */
    /* Shorter than the required fields. */
    s.op.struct_size = offsetof(aph_custom_op, cpu);
    APH_ASSERT_ERR(aph_custom_op_register(&s.op), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op->struct_size is too small (set it to sizeof(aph_custom_op))");
    aph_graph_release(g);
    et_pool_release();
}

/* ---- reference counting --------------------------------------------------------------------- */

static void test_retain_release(void** state) {
    (void)state;
    aph_graph* g = bind_graph();
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(8, 8), -1, 1);
    et_set(ex, "x", x);
    et_setw(ex, "w", w);
    aph_executor_retain(ex);
    aph_executor_release(ex); /* one reference left */
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_executor_retain(ex);
    aph_tensor* y = NULL;
    APH_ASSERT_OK(aph_executor_output(ex, "y", &y));
    aph_executor_release(ex);
    aph_executor_release(ex); /* gone: its output tensor keeps its memory and value */
    et_assert_same(y, eager_mm(x, w), "an output after its executor is released");
    aph_tensor_release(y);
    aph_executor_retain(NULL);
    aph_executor_release(NULL);
    aph_graph_release(g);
    et_pool_release();
}

/* ---- CPU worker threads --------------------------------------------------------------------- */

typedef struct {
    size_t limit, count;
} thread_view;

static void* other_thread(void* arg) {
    thread_view* v = arg;
    v->limit = aph_cpu_get_thread_limit();
    v->count = aph_cpu_thread_count();
    return NULL;
}

static void test_cpu_threads(void** state) {
    (void)state;
    assert_int_equal(aph_cpu_get_thread_limit(), 0);
    const size_t base = aph_cpu_thread_count();
    assert_true(base >= 1 && base <= 1024);

    /* The per-thread setting: this thread only. */
    APH_ASSERT_OK(aph_cpu_set_thread_limit(3));
    assert_int_equal(aph_cpu_get_thread_limit(), 3);
    assert_int_equal(aph_cpu_thread_count(), 3);
    thread_view other = {99, 99};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &other), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(other.limit, 0);
    assert_int_equal(other.count, base);
    APH_ASSERT_ERR(aph_cpu_set_thread_limit(1025), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: threads is 1025; at most 1024 (0: the process default)");
    assert_int_equal(aph_cpu_get_thread_limit(), 3);

    /* Eager operations give the same bits with one thread and with the default. */
    const int64_t n = 1 << 20;
    aph_tensor* x = et_rand(APH_DTYPE_F32, &n, 1, -3, 3);
    aph_tensor* one = et_out(APH_DTYPE_F32, &n, 1);
    aph_tensor* dflt = et_out(APH_DTYPE_F32, &n, 1);
    APH_ASSERT_OK(aph_cpu_set_thread_limit(1));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_GELU, x, one, NULL));
    APH_ASSERT_OK(aph_cpu_set_thread_limit(0));
    assert_int_equal(aph_cpu_thread_count(), base);
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_GELU, x, dflt, NULL));
    et_assert_same(one, dflt, "gelu on one thread and on the default count");

    /* The executor's option, seen from inside a run (a custom operation runs on the calling
     * thread), and restored after it. */
    probe_state ps;
    register_probe("thread_probe", &ps);
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4));
    NODE(g, "p", "thread_probe", NULL, "x");
    NODE(g, "y", "output", NULL, "p");
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.cpu_threads = 2;
    aph_executor* with2 = et_exec(g, &opt);
    opt.cpu_threads = 0;
    aph_executor* with0 = et_exec(g, &opt);
    /* A caller built against 0.1's struct: cpu_threads lies past struct_size and is ignored. */
    struct {
        aph_executor_options o;
    } old;
    memset(&old, 0, sizeof old);
    old.o.struct_size = offsetof(aph_executor_options, cpu_threads);
    old.o.cpu_threads = 7; /* past struct_size: not read */
    aph_executor* older = et_exec(g, &old.o);
    aph_tensor* in = et_rand(APH_DTYPE_F32, SHAPE(4), -1, 1);
    et_set(with2, "x", in);
    et_set(with0, "x", in);
    et_set(older, "x", in);

    APH_ASSERT_OK(aph_executor_run(with2)); /* seen[0]: 2 */
    assert_int_equal(aph_cpu_thread_count(), base);
    APH_ASSERT_OK(aph_executor_run(with0)); /* seen[1]: the default */
    APH_ASSERT_OK(aph_executor_run(older)); /* seen[2]: the default */
    APH_ASSERT_OK(aph_cpu_set_thread_limit(5));
    APH_ASSERT_OK(aph_executor_run(with0));          /* seen[3]: this thread's 5 */
    APH_ASSERT_OK(aph_executor_run(with2));          /* seen[4]: the executor's 2 */
    assert_int_equal(aph_cpu_get_thread_limit(), 5); /* restored after the run */
    assert_int_equal(aph_cpu_thread_count(), 5);
    APH_ASSERT_OK(aph_cpu_set_thread_limit(0));
    assert_int_equal(ps.calls, 5);
    assert_int_equal(ps.seen[0], 2);
    assert_int_equal(ps.seen[1], base);
    assert_int_equal(ps.seen[2], base);
    assert_int_equal(ps.seen[3], 5);
    assert_int_equal(ps.seen[4], 2);
    et_assert_same(et_result(with2, "y"), in, "the probe copies its operand");

    /* Out of range. */
    opt.cpu_threads = 2000;
    aph_executor* bad = (aph_executor*)0x1;
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), &opt, &bad), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: options->cpu_threads is 2000; at most 1024");
    assert_ptr_equal(bad, (aph_executor*)0x1);
    aph_build_context* ctx = NULL;
    APH_ASSERT_OK(aph_build_context_create(ot_device(), NULL, NULL, &ctx));
    APH_ASSERT_ERR(aph_build_context_set_executor_options(ctx, &opt), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: options->cpu_threads is 2000; at most 1024");
    aph_build_context_release(ctx);

    aph_executor_release(with2);
    aph_executor_release(with0);
    aph_executor_release(older);
    APH_ASSERT_OK(aph_custom_op_unregister("thread_probe"));
    aph_graph_release(g);
    et_pool_release();
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_bind_output),
        cmocka_unit_test(test_bind_output_in_place_state),
        cmocka_unit_test(test_bind_output_direct),
        cmocka_unit_test(test_bind_output_errors),
        cmocka_unit_test(test_custom_op_short_struct),
        cmocka_unit_test(test_retain_release),
        cmocka_unit_test(test_cpu_threads),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
