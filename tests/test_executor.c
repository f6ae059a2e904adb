/* Executable graphs (header section 20) on the device under test (ops_test_util.h: the CPU, a
 * real GPU, or the simulated CUDA module): numerics against the same eager operations composed
 * by hand (bit for bit: the same kernels run), repeated runs, errors naming the node, custom
 * operations and their registry, weights from safetensors files, and the executor-backed
 * pipeline stages (section 19: check, plan, execute, the "run" preset). */
#include "exec_test_util.h"

#include <unistd.h>

static int is_cpu(void) { return !ot_is_cuda(); }

static void expect_create_error(const aph_graph* g, aph_status status, const char* msg);

static aph_device* cpu_device(void) {
    aph_device* d = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &d));
    return d;
}

/* A CPU tensor with random values (pooled). */
static aph_tensor* cpu_rand(aph_dtype dtype, const int64_t* shape, size_t ndim, double lo, double hi) {
    aph_tensor* t = et_rand(dtype, shape, ndim, lo, hi);
    if (is_cpu()) return t;
    aph_device* cpu = cpu_device();
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_to_device(t, cpu, &c));
    aph_device_release(cpu);
    return et_keep(c);
}

static void tmp_path(char* buf, size_t size, const char* stem) {
    snprintf(buf, size, "/tmp/aph_exec_%s_XXXXXX", stem);
    const int fd = mkstemp(buf);
    assert_true(fd >= 0);
    close(fd);
}

/* ============================================================================================
 * Numerics: graphs against the eager operations
 * ========================================================================================== */

static void mlp_case(aph_dtype dt) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(4, 16));
    et_input(g, "w1", "weight", dt, SHAPE(32, 16));
    et_input(g, "b1", "weight", dt, SHAPE(32));
    et_input(g, "w2", "weight", dt, SHAPE(8, 32));
    et_input(g, "b2", "weight", dt, SHAPE(8));
    NODE(g, "h", "linear", NULL, "x,w1,b1");
    NODE(g, "a", "gelu", NULL, "h");
    NODE(g, "y", "linear", NULL, "a,w2,b2");
    NODE(g, "p", "softmax", NULL, "y");
    NODE(g, "probs", "output", NULL, "p");
    NODE(g, "ba", "bias_activation", "activation=\"silu\"", "h,b1");
    NODE(g, "ba_out", "output", NULL, "ba");

    aph_tensor* x = et_rand(dt, SHAPE(4, 16), -2, 2);
    aph_tensor* w1 = et_rand(dt, SHAPE(32, 16), -0.5, 0.5);
    aph_tensor* b1 = et_rand(dt, SHAPE(32), -0.5, 0.5);
    aph_tensor* w2 = et_rand(dt, SHAPE(8, 32), -0.5, 0.5);
    aph_tensor* b2 = et_rand(dt, SHAPE(8), -0.5, 0.5);

    aph_executor* ex = et_exec(g, NULL);
    assert_int_equal(aph_executor_output_count(ex), 2);
    assert_string_equal(aph_executor_output_name(ex, 0), "probs");
    assert_string_equal(aph_executor_output_name(ex, 1), "ba_out");
    assert_null(aph_executor_output_name(ex, 2));
    assert_int_equal(aph_executor_node_count(ex), 12);
    const aph_node_stats ps = et_stats(ex, et_index(ex, "p"));
    assert_string_equal(ps.op, "softmax");
    assert_int_equal(ps.dtype, dt);
    assert_int_equal(ps.ndim, 2);
    assert_int_equal(ps.shape[0], 4);
    assert_int_equal(ps.shape[1], 8);
    assert_int_equal(ps.bytes, 32 * aph_dtype_size(dt));

    et_set(ex, "x", x);
    et_setw(ex, "w1", w1);
    et_setw(ex, "b1", b1);
    et_setw(ex, "w2", w2);
    et_setw(ex, "b2", b2);
    assert_int_equal(aph_executor_run_count(ex), 0);
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_int_equal(aph_executor_run_count(ex), 1);

    aph_tensor* h = et_out(dt, SHAPE(4, 32));
    aph_tensor* a = et_out(dt, SHAPE(4, 32));
    aph_tensor* y = et_out(dt, SHAPE(4, 8));
    aph_tensor* p = et_out(dt, SHAPE(4, 8));
    aph_tensor* ba = et_out(dt, SHAPE(4, 32));
    APH_ASSERT_OK(aph_op_linear(x, w1, b1, h, NULL));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_GELU, h, a, NULL));
    APH_ASSERT_OK(aph_op_linear(a, w2, b2, y, NULL));
    APH_ASSERT_OK(aph_op_softmax(y, p, NULL));
    APH_ASSERT_OK(aph_op_bias_activation(h, b1, APH_ACTIVATION_SILU, ba, NULL));
    et_assert_same(et_result(ex, "probs"), p, "mlp probs");
    et_assert_same(et_result(ex, "ba_out"), ba, "mlp bias_activation");

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_mlp(void** state) {
    (void)state;
    aph_dtype dts[4];
    const size_t n = ot_float_dtypes(dts);
    for (size_t i = 0; i < n; ++i) mlp_case(dts[i]);
}

/* A Llama-style decoder block: pre-norm attention with rope (constant positions) and GQA,
 * residual, pre-norm SwiGLU feed-forward, residual. */
static void llama_case(aph_dtype dt) {
    enum { B = 2, S = 6, D = 32, HQ = 4, HKV = 2, HD = 8, F = 48 };
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(B, S, D));
    NODE(g, "pos", "constant", "shape=[6];dtype=\"i64\";value=[3,4,5,6,7,8]", NULL);
    et_input(g, "wn1", "weight", dt, SHAPE(D));
    et_input(g, "wq", "weight", dt, SHAPE(HQ * HD, D));
    et_input(g, "wk", "weight", dt, SHAPE(HKV * HD, D));
    et_input(g, "wv", "weight", dt, SHAPE(HKV * HD, D));
    et_input(g, "wo", "weight", dt, SHAPE(D, HQ * HD));
    et_input(g, "wn2", "weight", dt, SHAPE(D));
    et_input(g, "wg", "weight", dt, SHAPE(F, D));
    et_input(g, "wu", "weight", dt, SHAPE(F, D));
    et_input(g, "wd", "weight", dt, SHAPE(D, F));

    aph_model_config* c = et_config("rms_norm", NULL);
    APH_ASSERT_OK(aph_model_config_set_float(c, "eps", 1e-5));
    et_add(g, "n1", c, "x,wn1");
    NODE(g, "q", "linear", NULL, "n1,wq");
    NODE(g, "k", "linear", NULL, "n1,wk");
    NODE(g, "v", "linear", NULL, "n1,wv");
    NODE(g, "qh", "reshape", "shape=[2,6,4,-1]", "q");
    NODE(g, "kh", "reshape", "shape=[2,6,2,8]", "k");
    NODE(g, "vh", "reshape", "shape=[-1,6,2,8]", "v");
    c = et_config("rope", NULL);
    APH_ASSERT_OK(aph_model_config_set_float(c, "theta", 500000.0));
    APH_ASSERT_OK(aph_model_config_set_string(c, "layout", "half"));
    et_add(g, "qr", c, "qh,pos");
    c = et_config("rope", "theta=500000");
    et_add(g, "kr", c, "kh,pos");
    c = et_config("attention", NULL);
    APH_ASSERT_OK(aph_model_config_set_bool(c, "causal", 1));
    et_add(g, "att", c, "qr,kr,vh");
    NODE(g, "ao", "reshape", "shape=[2,6,32]", "att");
    NODE(g, "o", "linear", NULL, "ao,wo");
    NODE(g, "h1", "add", NULL, "x,o");
    c = et_config("rms_norm", NULL);
    APH_ASSERT_OK(aph_model_config_set_float(c, "eps", 1e-5));
    et_add(g, "n2", c, "h1,wn2");
    NODE(g, "gate", "linear", NULL, "n2,wg");
    NODE(g, "gs", "silu", NULL, "gate");
    NODE(g, "up", "linear", NULL, "n2,wu");
    NODE(g, "gu", "mul", NULL, "gs,up");
    NODE(g, "down", "linear", NULL, "gu,wd");
    NODE(g, "yv", "add", NULL, "h1,down");
    NODE(g, "y", "output", NULL, "yv");
    NODE(g, "attn_out", "output", NULL, "att");

    aph_tensor* x = et_rand(dt, SHAPE(B, S, D), -1, 1);
    aph_tensor* wn1 = et_rand(dt, SHAPE(D), 0.5, 1.5);
    aph_tensor* wq = et_rand(dt, SHAPE(HQ * HD, D), -0.3, 0.3);
    aph_tensor* wk = et_rand(dt, SHAPE(HKV * HD, D), -0.3, 0.3);
    aph_tensor* wv = et_rand(dt, SHAPE(HKV * HD, D), -0.3, 0.3);
    aph_tensor* wo = et_rand(dt, SHAPE(D, HQ * HD), -0.3, 0.3);
    aph_tensor* wn2 = et_rand(dt, SHAPE(D), 0.5, 1.5);
    aph_tensor* wg = et_rand(dt, SHAPE(F, D), -0.3, 0.3);
    aph_tensor* wu = et_rand(dt, SHAPE(F, D), -0.3, 0.3);
    aph_tensor* wd = et_rand(dt, SHAPE(D, F), -0.3, 0.3);

    aph_executor* ex = et_exec(g, NULL);
    et_set(ex, "x", x);
    et_setw(ex, "wn1", wn1);
    et_setw(ex, "wq", wq);
    et_setw(ex, "wk", wk);
    et_setw(ex, "wv", wv);
    et_setw(ex, "wo", wo);
    et_setw(ex, "wn2", wn2);
    et_setw(ex, "wg", wg);
    et_setw(ex, "wu", wu);
    et_setw(ex, "wd", wd);
    APH_ASSERT_OK(aph_executor_run(ex));

    const int64_t posv[6] = {3, 4, 5, 6, 7, 8};
    aph_tensor* pos = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(ot_device(), APH_DTYPE_I64, SHAPE(6), posv, sizeof posv, &pos));
    et_keep(pos);
    aph_tensor* n1 = et_out(dt, SHAPE(B, S, D));
    APH_ASSERT_OK(aph_op_rms_norm(x, wn1, 1e-5, n1, NULL));
    aph_tensor* q = et_out(dt, SHAPE(B, S, HQ * HD));
    aph_tensor* k = et_out(dt, SHAPE(B, S, HKV * HD));
    aph_tensor* v = et_out(dt, SHAPE(B, S, HKV * HD));
    APH_ASSERT_OK(aph_op_linear(n1, wq, NULL, q, NULL));
    APH_ASSERT_OK(aph_op_linear(n1, wk, NULL, k, NULL));
    APH_ASSERT_OK(aph_op_linear(n1, wv, NULL, v, NULL));
    aph_tensor *qh = NULL, *kh = NULL, *vh = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(q, SHAPE(B, S, HQ, HD), &qh));
    APH_ASSERT_OK(aph_tensor_reshape(k, SHAPE(B, S, HKV, HD), &kh));
    APH_ASSERT_OK(aph_tensor_reshape(v, SHAPE(B, S, HKV, HD), &vh));
    et_keep(qh);
    et_keep(kh);
    et_keep(vh);
    aph_tensor* qr = et_out(dt, SHAPE(B, S, HQ, HD));
    aph_tensor* kr = et_out(dt, SHAPE(B, S, HKV, HD));
    APH_ASSERT_OK(aph_op_rope(qh, pos, 500000.0, APH_ROPE_HALF, qr, NULL));
    APH_ASSERT_OK(aph_op_rope(kh, pos, 500000.0, APH_ROPE_HALF, kr, NULL));
    aph_tensor* att = et_out(dt, SHAPE(B, S, HQ, HD));
    APH_ASSERT_OK(aph_op_attention(qr, kr, vh, NULL, 0.0, 1, att, NULL));
    aph_tensor* ao = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(att, SHAPE(B, S, D), &ao));
    et_keep(ao);
    aph_tensor* o = et_out(dt, SHAPE(B, S, D));
    APH_ASSERT_OK(aph_op_linear(ao, wo, NULL, o, NULL));
    aph_tensor* h1 = et_out(dt, SHAPE(B, S, D));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, x, o, h1, NULL));
    aph_tensor* n2 = et_out(dt, SHAPE(B, S, D));
    APH_ASSERT_OK(aph_op_rms_norm(h1, wn2, 1e-5, n2, NULL));
    aph_tensor* gate = et_out(dt, SHAPE(B, S, F));
    aph_tensor* gs = et_out(dt, SHAPE(B, S, F));
    aph_tensor* up = et_out(dt, SHAPE(B, S, F));
    aph_tensor* gu = et_out(dt, SHAPE(B, S, F));
    APH_ASSERT_OK(aph_op_linear(n2, wg, NULL, gate, NULL));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_SILU, gate, gs, NULL));
    APH_ASSERT_OK(aph_op_linear(n2, wu, NULL, up, NULL));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_MUL, gs, up, gu, NULL));
    aph_tensor* down = et_out(dt, SHAPE(B, S, D));
    APH_ASSERT_OK(aph_op_linear(gu, wd, NULL, down, NULL));
    aph_tensor* y = et_out(dt, SHAPE(B, S, D));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, h1, down, y, NULL));

    et_assert_same(et_result(ex, "attn_out"), att, "llama attention");
    et_assert_same(et_result(ex, "y"), y, "llama block");

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_llama_block(void** state) {
    (void)state;
    llama_case(APH_DTYPE_F32);
    llama_case(APH_DTYPE_BF16);
}

static void test_views(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "a", "input", dt, SHAPE(3, 4, 5));
    et_input(g, "b", "input", dt, SHAPE(3, 4, 6));
    et_input(g, "c", "input", dt, SHAPE(6, 5));
    et_input(g, "d", "input", dt, SHAPE(6, 7));
    et_input(g, "e", "input", dt, SHAPE(8, 4));
    et_input(g, "f", "input", dt, SHAPE(2, 4));
    NODE(g, "pa", "permute", "dims=[0,2,1]", "a");
    NODE(g, "m1", "matmul", NULL, "pa,b");
    NODE(g, "tc", "transpose", "dim0=0;dim1=1", "c");
    NODE(g, "m2", "matmul", NULL, "tc,d");
    NODE(g, "se", "slice", "dim=0;start=1;stop=7;step=2", "e");
    NODE(g, "m3", "matmul", "transpose_b=true;alpha=0.5", "se,f");
    NODE(g, "s2", "slice", "dim=1;start=-3", "e");
    NODE(g, "r2", "relu", NULL, "s2");
    NODE(g, "r", "reshape", "shape=[15,6]", "m1");
    NODE(g, "pa_out", "output", NULL, "pa");
    NODE(g, "r_out", "output", NULL, "r");
    NODE(g, "m2_out", "output", NULL, "m2");
    NODE(g, "m3_out", "output", NULL, "m3");
    NODE(g, "r2_out", "output", NULL, "r2");

    aph_tensor* a = et_rand(dt, SHAPE(3, 4, 5), -1, 1);
    aph_tensor* b = et_rand(dt, SHAPE(3, 4, 6), -1, 1);
    aph_tensor* c = et_rand(dt, SHAPE(6, 5), -1, 1);
    aph_tensor* d = et_rand(dt, SHAPE(6, 7), -1, 1);
    aph_tensor* e = et_rand(dt, SHAPE(8, 4), -1, 1);
    aph_tensor* f = et_rand(dt, SHAPE(2, 4), -1, 1);
    aph_executor* ex = et_exec(g, NULL);
    const aph_node_stats st = et_stats(ex, et_index(ex, "se"));
    assert_int_equal(st.ndim, 2);
    assert_int_equal(st.shape[0], 3);
    assert_int_equal(st.shape[1], 4);
    assert_true(st.offset == UINT64_MAX); /* a view: no memory */
    et_set(ex, "a", a);
    et_set(ex, "b", b);
    et_set(ex, "c", c);
    et_set(ex, "d", d);
    et_set(ex, "e", e);
    et_set(ex, "f", f);
    APH_ASSERT_OK(aph_executor_run(ex));

    aph_tensor *pa = NULL, *tc = NULL, *se = NULL, *s2 = NULL, *r = NULL;
    APH_ASSERT_OK(aph_tensor_permute(a, SHAPE(0, 2, 1), &pa));
    et_keep(pa);
    aph_tensor* m1 = et_out(dt, SHAPE(3, 5, 6));
    APH_ASSERT_OK(aph_op_matmul(pa, b, 0, 0, 1.0, 0.0, m1, NULL));
    APH_ASSERT_OK(aph_tensor_transpose(c, 0, 1, &tc));
    et_keep(tc);
    aph_tensor* m2 = et_out(dt, SHAPE(5, 7));
    APH_ASSERT_OK(aph_op_matmul(tc, d, 0, 0, 1.0, 0.0, m2, NULL));
    APH_ASSERT_OK(aph_tensor_slice(e, 0, 1, 7, 2, &se));
    et_keep(se);
    aph_tensor* m3 = et_out(dt, SHAPE(3, 2));
    APH_ASSERT_OK(aph_op_matmul(se, f, 0, 1, 0.5, 0.0, m3, NULL));
    APH_ASSERT_OK(aph_tensor_slice(e, 1, -3, 4, 1, &s2));
    et_keep(s2);
    aph_tensor* r2 = et_out(dt, SHAPE(8, 3));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, s2, r2, NULL));
    APH_ASSERT_OK(aph_tensor_reshape(m1, SHAPE(15, 6), &r));
    et_keep(r);

    et_assert_same(et_result(ex, "pa_out"), pa, "permute output");
    et_assert_same(et_result(ex, "r_out"), r, "permute + matmul + reshape");
    et_assert_same(et_result(ex, "m2_out"), m2, "transpose + matmul");
    et_assert_same(et_result(ex, "m3_out"), m3, "slice + matmul (transpose_b, alpha)");
    et_assert_same(et_result(ex, "r2_out"), r2, "negative slice + relu");
    /* The permuted output is a view of the bound input: the caller's memory. */
    aph_tensor* po = et_result(ex, "pa_out");
    assert_true(aph_tensor_shares_storage(po, a));
    assert_int_equal(aph_tensor_is_contiguous(po), 0);

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_scalar_binary(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(4, 6));
    et_input(g, "y", "input", dt, SHAPE(6));
    NODE(g, "a1", "add", "scalar=2.5", "x");
    aph_model_config* c = et_config("mul", NULL);
    APH_ASSERT_OK(aph_model_config_set_float(c, "scalar", -3.0));
    et_add(g, "m", c, "a1");
    c = et_config("sub", NULL);
    APH_ASSERT_OK(aph_model_config_set_int(c, "scalar", 1));
    et_add(g, "s", c, "m");
    NODE(g, "d", "div", "scalar=4", "s");
    NODE(g, "mx", "maximum", "scalar=-1.25", "d");
    NODE(g, "mn", "minimum", "scalar=0.5", "mx");
    NODE(g, "bc", "add", NULL, "x,y");
    NODE(g, "sb", "sub", NULL, "y,x");
    NODE(g, "mn_out", "output", NULL, "mn");
    NODE(g, "bc_out", "output", NULL, "bc");
    NODE(g, "sb_out", "output", NULL, "sb");

    aph_tensor* x = et_rand(dt, SHAPE(4, 6), -3, 3);
    aph_tensor* y = et_rand(dt, SHAPE(6), -3, 3);
    aph_executor* ex = et_exec(g, NULL);
    et_set(ex, "x", x);
    et_set(ex, "y", y);
    APH_ASSERT_OK(aph_executor_run(ex));

    aph_tensor* t = et_out(dt, SHAPE(4, 6));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_ADD, x, 2.5, t, NULL));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MUL, t, -3.0, t, NULL));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_SUB, t, 1.0, t, NULL));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_DIV, t, 4.0, t, NULL));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MAXIMUM, t, -1.25, t, NULL));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MINIMUM, t, 0.5, t, NULL));
    aph_tensor* bc = et_out(dt, SHAPE(4, 6));
    aph_tensor* sb = et_out(dt, SHAPE(4, 6));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, x, y, bc, NULL));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_SUB, y, x, sb, NULL));
    et_assert_same(et_result(ex, "mn_out"), t, "scalar chain");
    et_assert_same(et_result(ex, "bc_out"), bc, "broadcast add");
    et_assert_same(et_result(ex, "sb_out"), sb, "broadcast sub");
    /* The chain's values are neither all clamped nor untouched (the test can fail). */
    double* v = ot_read(t);
    int lo = 0, hi = 0, mid = 0;
    for (int i = 0; i < 24; ++i) {
        lo += v[i] == -1.25;
        hi += v[i] == 0.5;
        mid += v[i] > -1.25 && v[i] < 0.5;
    }
    free(v);
    assert_true(lo + hi + mid == 24);

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_reductions(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(3, 4, 5));
    NODE(g, "s", "sum", "dim=1;keepdim=true", "x");
    NODE(g, "m", "mean", NULL, "x");
    NODE(g, "mx", "max", "dim=0", "x");
    NODE(g, "am", "argmax", "dim=2", "x");
    NODE(g, "amk", "argmax", "dim=-2;keepdim=true", "x");
    NODE(g, "ls", "log_softmax", NULL, "x");
    NODE(g, "s_out", "output", NULL, "s");
    NODE(g, "m_out", "output", NULL, "m");
    NODE(g, "mx_out", "output", NULL, "mx");
    NODE(g, "am_out", "output", NULL, "am");
    NODE(g, "amk_out", "output", NULL, "amk");
    NODE(g, "ls_out", "output", NULL, "ls");

    aph_tensor* x = et_rand(dt, SHAPE(3, 4, 5), -5, 5);
    aph_executor* ex = et_exec(g, NULL);
    const aph_node_stats am = et_stats(ex, et_index(ex, "am"));
    assert_int_equal(am.dtype, APH_DTYPE_I64);
    assert_int_equal(am.ndim, 2);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));

    aph_tensor* s = et_out(dt, SHAPE(3, 1, 5));
    aph_tensor* m = et_out(dt, SHAPE(3, 4));
    aph_tensor* mx = et_out(dt, SHAPE(4, 5));
    aph_tensor* a = et_out(APH_DTYPE_I64, SHAPE(3, 4));
    aph_tensor* ak = et_out(APH_DTYPE_I64, SHAPE(3, 1, 5));
    aph_tensor* ls = et_out(dt, SHAPE(3, 4, 5));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, x, 1, 1, s, NULL));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_MEAN, x, -1, 0, m, NULL));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_MAX, x, 0, 0, mx, NULL));
    APH_ASSERT_OK(aph_op_argmax(x, 2, 0, a, NULL));
    APH_ASSERT_OK(aph_op_argmax(x, -2, 1, ak, NULL));
    APH_ASSERT_OK(aph_op_log_softmax(x, ls, NULL));
    et_assert_same(et_result(ex, "s_out"), s, "sum");
    et_assert_same(et_result(ex, "m_out"), m, "mean");
    et_assert_same(et_result(ex, "mx_out"), mx, "max");
    et_assert_same(et_result(ex, "am_out"), a, "argmax");
    et_assert_same(et_result(ex, "amk_out"), ak, "argmax keepdim");
    et_assert_same(et_result(ex, "ls_out"), ls, "log_softmax");

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_cast(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(5, 7));
    et_input(g, "ids", "input", APH_DTYPE_I64, SHAPE(4));
    NODE(g, "h", "cast", "dtype=\"f16\"", "x");
    NODE(g, "bf", "cast", "dtype=\"bf16\"", "x");
    NODE(g, "i", "cast", "dtype=\"i32\"", "x");
    NODE(g, "back", "cast", "dtype=\"f32\"", "h");
    NODE(g, "fi", "cast", "dtype=\"f32\"", "ids");
    NODE(g, "h_out", "output", NULL, "h");
    NODE(g, "bf_out", "output", NULL, "bf");
    NODE(g, "i_out", "output", NULL, "i");
    NODE(g, "back_out", "output", NULL, "back");
    NODE(g, "fi_out", "output", NULL, "fi");
    if (is_cpu()) {
        NODE(g, "d", "cast", "dtype=\"f64\"", "x");
        NODE(g, "d_out", "output", NULL, "d");
    }
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(5, 7), -100, 100);
    aph_tensor* ids = et_rand(APH_DTYPE_I64, SHAPE(4), -100000, 100000);
    aph_executor* ex = et_exec(g, NULL);
    et_set(ex, "x", x);
    et_set(ex, "ids", ids);
    APH_ASSERT_OK(aph_executor_run(ex));

    aph_tensor* h = et_out(APH_DTYPE_F16, SHAPE(5, 7));
    aph_tensor* bf = et_out(APH_DTYPE_BF16, SHAPE(5, 7));
    aph_tensor* i = et_out(APH_DTYPE_I32, SHAPE(5, 7));
    aph_tensor* back = et_out(APH_DTYPE_F32, SHAPE(5, 7));
    aph_tensor* fi = et_out(APH_DTYPE_F32, SHAPE(4));
    APH_ASSERT_OK(aph_op_cast(x, h, NULL));
    APH_ASSERT_OK(aph_op_cast(x, bf, NULL));
    APH_ASSERT_OK(aph_op_cast(x, i, NULL));
    APH_ASSERT_OK(aph_op_cast(h, back, NULL));
    APH_ASSERT_OK(aph_op_cast(ids, fi, NULL));
    et_assert_same(et_result(ex, "h_out"), h, "cast f16");
    et_assert_same(et_result(ex, "bf_out"), bf, "cast bf16");
    et_assert_same(et_result(ex, "i_out"), i, "cast i32");
    et_assert_same(et_result(ex, "back_out"), back, "cast f16 -> f32");
    et_assert_same(et_result(ex, "fi_out"), fi, "cast i64 -> f32");
    if (is_cpu()) {
        aph_tensor* d = et_out(APH_DTYPE_F64, SHAPE(5, 7));
        APH_ASSERT_OK(aph_op_cast(x, d, NULL));
        et_assert_same(et_result(ex, "d_out"), d, "cast f64");
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_constants(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 3));
    NODE(g, "cf", "constant", "shape=[2,3];value=0.75", NULL); /* dtype defaults to f32 */
    NODE(g, "ch", "constant", "shape=[2,2];dtype=\"f16\";value=[1,-2.5,3.25,0.5]", NULL);
    NODE(g, "cb", "constant", "shape=[3];dtype=\"bf16\";value=-1.5", NULL);
    NODE(g, "ci", "constant", "shape=[3];dtype=\"i64\";value=[7,-2,9007199254740993]", NULL);
    NODE(g, "c32", "constant", "shape=[2];dtype=\"i32\";value=[-5,6]", NULL);
    NODE(g, "c0", "constant", "shape=[];value=2", NULL);
    NODE(g, "sum", "add", NULL, "x,cf");
    NODE(g, "prod", "mul", NULL, "sum,c0");
    NODE(g, "ch_out", "output", NULL, "ch");
    NODE(g, "cb_out", "output", NULL, "cb");
    NODE(g, "ci_out", "output", NULL, "ci");
    NODE(g, "c32_out", "output", NULL, "c32");
    NODE(g, "prod_out", "output", NULL, "prod");
    if (is_cpu()) {
        NODE(g, "cd", "constant", "shape=[2];dtype=\"f64\";value=[0.1,-1e300]", NULL);
        NODE(g, "cd_out", "output", NULL, "cd");
    }
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(2, 3), -1, 1);
    aph_executor* ex = et_exec(g, NULL);
    aph_plan_info p = et_plan(ex);
    /* 24 + 8 + 6 + 24 + 8 + 4 (+ 16) bytes, each aligned to 256. */
    assert_int_equal(p.constant_bytes, (is_cpu() ? 7 : 6) * 256);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));

    size_t n = 0;
    unsigned char* b = et_bytes(et_result(ex, "ci_out"), &n);
    assert_int_equal(n, 24);
    int64_t iv[3];
    memcpy(iv, b, sizeof iv);
    free(b);
    assert_true(iv[0] == 7 && iv[1] == -2 && iv[2] == 9007199254740993LL);
    b = et_bytes(et_result(ex, "c32_out"), &n);
    assert_int_equal(n, 8);
    int32_t i32[2];
    memcpy(i32, b, sizeof i32);
    free(b);
    assert_true(i32[0] == -5 && i32[1] == 6);
    double* v = ot_read(et_result(ex, "ch_out"));
    assert_true(v[0] == 1.0 && v[1] == -2.5 && v[2] == 3.25 && v[3] == 0.5);
    free(v);
    assert_int_equal(aph_tensor_dtype(et_result(ex, "ch_out")), APH_DTYPE_F16);
    v = ot_read(et_result(ex, "cb_out"));
    assert_true(v[0] == -1.5 && v[1] == -1.5 && v[2] == -1.5);
    free(v);
    assert_int_equal(aph_tensor_dtype(et_result(ex, "cb_out")), APH_DTYPE_BF16);
    if (is_cpu()) {
        b = et_bytes(et_result(ex, "cd_out"), &n);
        double dv[2];
        memcpy(dv, b, sizeof dv);
        free(b);
        assert_true(dv[0] == 0.1 && dv[1] == -1e300);
    }
    /* (x + 0.75) * 2 against the eager operations. */
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(2, 3));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_ADD, x, 0.75, want, NULL));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MUL, want, 2.0, want, NULL));
    et_assert_same(et_result(ex, "prod_out"), want, "constants in arithmetic");

    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_layer_norm(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(5, 12));
    et_input(g, "w", "weight", dt, SHAPE(12));
    et_input(g, "b", "weight", dt, SHAPE(12));
    NODE(g, "ln1", "layer_norm", NULL, "x,w,b");
    aph_model_config* c = et_config("layer_norm", NULL);
    APH_ASSERT_OK(aph_model_config_set_float(c, "eps", 1e-3));
    et_add(g, "ln2", c, "x,w");
    NODE(g, "ln1_out", "output", NULL, "ln1");
    NODE(g, "ln2_out", "output", NULL, "ln2");
    aph_tensor* x = et_rand(dt, SHAPE(5, 12), -2, 2);
    aph_tensor* w = et_rand(dt, SHAPE(12), 0.5, 1.5);
    aph_tensor* b = et_rand(dt, SHAPE(12), -0.5, 0.5);
    aph_executor* ex = et_exec(g, NULL);
    et_set(ex, "x", x);
    et_setw(ex, "w", w);
    et_setw(ex, "b", b);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* l1 = et_out(dt, SHAPE(5, 12));
    aph_tensor* l2 = et_out(dt, SHAPE(5, 12));
    APH_ASSERT_OK(aph_op_layer_norm(x, w, b, 1e-5, l1, NULL));
    APH_ASSERT_OK(aph_op_layer_norm(x, w, NULL, 1e-3, l2, NULL));
    et_assert_same(et_result(ex, "ln1_out"), l1, "layer_norm with bias");
    et_assert_same(et_result(ex, "ln2_out"), l2, "layer_norm without bias, eps 1e-3");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_embedding(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "table", "weight", dt, SHAPE(10, 6));
    et_input(g, "ids", "input", APH_DTYPE_I64, SHAPE(2, 3));
    et_input(g, "ids32", "input", APH_DTYPE_I32, SHAPE(4));
    NODE(g, "e", "embedding", NULL, "table,ids");
    NODE(g, "e2", "embedding", NULL, "table,ids32");
    NODE(g, "e_out", "output", NULL, "e");
    NODE(g, "e2_out", "output", NULL, "e2");
    aph_tensor* table = et_rand(dt, SHAPE(10, 6), -1, 1);
    aph_tensor* ids = et_rand(APH_DTYPE_I64, SHAPE(2, 3), 0, 9);
    aph_tensor* ids32 = et_rand(APH_DTYPE_I32, SHAPE(4), 0, 9);
    aph_executor* ex = et_exec(g, NULL);
    const aph_node_stats st = et_stats(ex, et_index(ex, "e"));
    assert_int_equal(st.ndim, 3);
    assert_int_equal(st.shape[2], 6);
    et_setw(ex, "table", table);
    et_set(ex, "ids", ids);
    et_set(ex, "ids32", ids32);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* e = et_out(dt, SHAPE(2, 3, 6));
    aph_tensor* e2 = et_out(dt, SHAPE(4, 6));
    APH_ASSERT_OK(aph_op_embedding(table, ids, e, NULL));
    APH_ASSERT_OK(aph_op_embedding(table, ids32, e2, NULL));
    et_assert_same(et_result(ex, "e_out"), e, "embedding i64");
    et_assert_same(et_result(ex, "e2_out"), e2, "embedding i32");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_gru_cell(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(3, 5));
    et_input(g, "h", "input", dt, SHAPE(3, 4));
    et_input(g, "wih", "weight", dt, SHAPE(12, 5));
    et_input(g, "whh", "weight", dt, SHAPE(12, 4));
    et_input(g, "bih", "weight", dt, SHAPE(12));
    et_input(g, "bhh", "weight", dt, SHAPE(12));
    NODE(g, "g1", "gru_cell", NULL, "x,h,wih,whh,bih,bhh");
    NODE(g, "g2", "gru_cell", NULL, "x,h,wih,whh");
    NODE(g, "g1_out", "output", NULL, "g1");
    NODE(g, "g2_out", "output", NULL, "g2");
    aph_tensor* x = et_rand(dt, SHAPE(3, 5), -1, 1);
    aph_tensor* h = et_rand(dt, SHAPE(3, 4), -1, 1);
    aph_tensor* wih = et_rand(dt, SHAPE(12, 5), -0.5, 0.5);
    aph_tensor* whh = et_rand(dt, SHAPE(12, 4), -0.5, 0.5);
    aph_tensor* bih = et_rand(dt, SHAPE(12), -0.5, 0.5);
    aph_tensor* bhh = et_rand(dt, SHAPE(12), -0.5, 0.5);
    aph_executor* ex = et_exec(g, NULL);
    et_set(ex, "x", x);
    et_set(ex, "h", h);
    et_setw(ex, "wih", wih);
    et_setw(ex, "whh", whh);
    et_setw(ex, "bih", bih);
    et_setw(ex, "bhh", bhh);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* g1 = et_out(dt, SHAPE(3, 4));
    aph_tensor* g2 = et_out(dt, SHAPE(3, 4));
    APH_ASSERT_OK(aph_op_gru_cell(x, h, wih, whh, bih, bhh, g1, NULL));
    APH_ASSERT_OK(aph_op_gru_cell(x, h, wih, whh, NULL, NULL, g2, NULL));
    et_assert_same(et_result(ex, "g1_out"), g1, "gru_cell with biases");
    et_assert_same(et_result(ex, "g2_out"), g2, "gru_cell without biases");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* Quantized weights: dequantize (int8 per channel, nf4) and ternary_matmul against the eager
 * operations; q and scale shapes that do not fit the node's shape are found when the executor
 * is made. */
static void test_quantized(void** state) {
    (void)state;
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(6, 10), -1, 1);
    aph_tensor* q8 = et_out(APH_DTYPE_I8, SHAPE(6, 10));
    aph_tensor* s8 = et_out(APH_DTYPE_F32, SHAPE(6));
    APH_ASSERT_OK(aph_quantize(APH_QUANT_INT8, w, 0, q8, s8, NULL));
    aph_tensor* q4 = et_out(APH_DTYPE_U8, SHAPE(30));
    aph_tensor* s4 = et_out(APH_DTYPE_F32, SHAPE(1));
    APH_ASSERT_OK(aph_quantize(APH_QUANT_NF4, w, -1, q4, s4, NULL));
    aph_tensor* qt = et_out(APH_DTYPE_U8, SHAPE(6, 3));
    aph_tensor* st = et_out(APH_DTYPE_F32, SHAPE(1));
    APH_ASSERT_OK(aph_quantize(APH_QUANT_TERNARY, w, -1, qt, st, NULL));

    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(3, 10));
    et_input(g, "q8", "weight", APH_DTYPE_I8, SHAPE(6, 10));
    et_input(g, "s8", "weight", APH_DTYPE_F32, SHAPE(6));
    et_input(g, "q4", "weight", APH_DTYPE_U8, SHAPE(30));
    et_input(g, "s4", "weight", APH_DTYPE_F32, SHAPE(1));
    et_input(g, "qt", "weight", APH_DTYPE_U8, SHAPE(6, 3));
    et_input(g, "st", "weight", APH_DTYPE_F32, SHAPE(1));
    NODE(g, "w8", "dequantize", "scheme=\"int8\";axis=0;shape=[6,10]", "q8,s8");
    NODE(g, "w4", "dequantize", "scheme=\"nf4\";shape=[6,10];dtype=\"bf16\"", "q4,s4");
    NODE(g, "l8", "linear", NULL, "x,w8");
    NODE(g, "lt", "ternary_matmul", NULL, "x,qt,st");
    NODE(g, "l8_out", "output", NULL, "l8");
    NODE(g, "w4_out", "output", NULL, "w4");
    NODE(g, "lt_out", "output", NULL, "lt");
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(3, 10), -1, 1);
    et_set(ex, "x", x);
    et_setw(ex, "q8", q8);
    et_setw(ex, "s8", s8);
    et_setw(ex, "q4", q4);
    et_setw(ex, "s4", s4);
    et_setw(ex, "qt", qt);
    et_setw(ex, "st", st);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* w8 = et_out(APH_DTYPE_F32, SHAPE(6, 10));
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_INT8, q8, s8, 0, w8, NULL));
    aph_tensor* l8 = et_out(APH_DTYPE_F32, SHAPE(3, 6));
    APH_ASSERT_OK(aph_op_linear(x, w8, NULL, l8, NULL));
    aph_tensor* w4 = et_out(APH_DTYPE_BF16, SHAPE(6, 10));
    APH_ASSERT_OK(aph_dequantize(APH_QUANT_NF4, q4, s4, -1, w4, NULL));
    aph_tensor* lt = et_out(APH_DTYPE_F32, SHAPE(3, 6));
    APH_ASSERT_OK(aph_op_ternary_matmul(x, qt, st, lt, NULL));
    et_assert_same(et_result(ex, "l8_out"), l8, "int8 dequantize + linear");
    et_assert_same(et_result(ex, "w4_out"), w4, "nf4 dequantize to bf16");
    et_assert_same(et_result(ex, "lt_out"), lt, "ternary_matmul");
    aph_executor_release(ex);
    aph_graph_release(g);

    /* Shapes that do not fit: reported by inference, before anything runs. */
    g = et_graph();
    et_input(g, "q8", "weight", APH_DTYPE_I8, SHAPE(6, 10));
    et_input(g, "s8", "weight", APH_DTYPE_F32, SHAPE(6));
    NODE(g, "w8", "dequantize", "scheme=\"int8\";axis=0;shape=[6,9]", "q8,s8");
    /* int8 and fp8 codes have the output's shape: a shape param that differs is the output's
     * mismatch, as aph_dequantize reports an out of the wrong shape. */
    expect_create_error(g, APH_ERR_SHAPE_MISMATCH,
                        "shape mismatch: node 3 'w8' (dequantize): expected [6, 10], got [6, 9]");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "q8", "weight", APH_DTYPE_I8, SHAPE(6, 10));
    et_input(g, "s8", "weight", APH_DTYPE_F32, SHAPE(6));
    NODE(g, "w8", "dequantize", "scheme=\"int8\";shape=[6,10]", "q8,s8");
    expect_create_error(g, APH_ERR_DIMENSION_MISMATCH,
                        "dimension mismatch: node 3 'w8' (dequantize): scale has shape [6] but q [6, 10] needs [1] "
                        "for APH_QUANT_INT8");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "q8", "weight", APH_DTYPE_I8, SHAPE(6, 10));
    et_input(g, "s8", "weight", APH_DTYPE_F32, SHAPE(6));
    NODE(g, "w8", "dequantize", "scheme=\"int8\";axis=2;shape=[6,10]", "q8,s8");
    expect_create_error(g, APH_ERR_INVALID_ARGUMENT,
                        "invalid argument: node 3 'w8' (dequantize): axis 2 is out of range for the output with 2 "
                        "dimensions");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "q4", "weight", APH_DTYPE_U8, SHAPE(30));
    et_input(g, "s4", "weight", APH_DTYPE_F32, SHAPE(1));
    NODE(g, "w4", "dequantize", "scheme=\"nf4\";axis=0;shape=[6,10]", "q4,s4");
    expect_create_error(g, APH_ERR_INVALID_ARGUMENT,
                        "invalid argument: node 3 'w4' (dequantize): axis must be -1 for APH_QUANT_NF4 (got 0); "
                        "only APH_QUANT_INT8 takes a channel axis");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "q4", "weight", APH_DTYPE_U8, SHAPE(31));
    et_input(g, "s4", "weight", APH_DTYPE_F32, SHAPE(1));
    NODE(g, "w4", "dequantize", "scheme=\"nf4\";shape=[6,10]", "q4,s4");
    expect_create_error(g, APH_ERR_DIMENSION_MISMATCH,
                        "dimension mismatch: node 3 'w4' (dequantize): q has shape [31] but the output [6, 10] needs "
                        "[30] for APH_QUANT_NF4");
    aph_graph_release(g);
    et_pool_release();
}

/* Runs with different inputs reuse the executor's memory: the output tensor is the same
 * memory, overwritten; nothing more is allocated; the run count counts. On CUDA the inputs are
 * CPU tensors (copied at each run, so a change to one shows in the next run) and the weight a
 * CPU tensor too (copied once, when bound). On the CPU inputs are bound by reference. */
static void test_repeated_runs(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(6, 10));
    et_input(g, "w", "weight", dt, SHAPE(7, 10));
    NODE(g, "l", "linear", NULL, "x,w");
    NODE(g, "t", "tanh", NULL, "l");
    NODE(g, "s", "sum", "dim=0", "t");
    NODE(g, "y", "output", NULL, "t");
    NODE(g, "z", "output", NULL, "s");

    aph_tracker* tr = NULL;
    APH_ASSERT_OK(aph_tracker_create(0, &tr));
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.tracker = tr;
    aph_executor* ex = et_exec(g, &opt);
    const aph_plan_info p = et_plan(ex);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    assert_int_equal(p.budget_bytes, 0);

    aph_tensor* x1 = cpu_rand(dt, SHAPE(6, 10), -1, 1);
    aph_tensor* x2 = cpu_rand(dt, SHAPE(6, 10), -1, 1);
    aph_tensor* w = cpu_rand(dt, SHAPE(7, 10), -1, 1);
    aph_tensor* wd = NULL; /* w on the device under test, for the eager reference */
    APH_ASSERT_OK(aph_tensor_to_device(w, ot_device(), &wd));
    et_keep(wd);
    et_setw(ex, "w", w);

    for (int run = 0; run < 3; ++run) {
        aph_tensor* x = run == 0 ? x1 : x2;
        if (run == 2) {
            /* A new value in x2 itself, not bound again: the executor reads it by reference on
             * the CPU, and copies it at every run on CUDA. */
            double vals[70];
            ot_fill(vals, 70, -1, 1);
            float fv[70];
            for (int i = 0; i < 70; ++i) fv[i] = (float)vals[i];
            APH_ASSERT_OK(aph_tensor_copy_from_host(x2, fv, 60 * sizeof(float)));
            /* On CUDA the weight was copied once, when bound: a change to the CPU tensor does
             * not reach the executor (the reference keeps using wd, the old values). */
            if (ot_is_cuda()) APH_ASSERT_OK(aph_tensor_copy_from_host(w, fv, sizeof fv));
        }
        if (run < 2) et_set(ex, "x", x);
        APH_ASSERT_OK(aph_executor_run(ex));
        assert_int_equal(aph_executor_run_count(ex), (uint64_t)run + 1);
        assert_int_equal(aph_tracker_allocated_bytes(tr), p.total_bytes);

        aph_tensor* xd = NULL;
        APH_ASSERT_OK(aph_tensor_to_device(x, ot_device(), &xd));
        et_keep(xd);
        aph_tensor* l = et_out(dt, SHAPE(6, 7));
        aph_tensor* t = et_out(dt, SHAPE(6, 7));
        aph_tensor* s = et_out(dt, SHAPE(7));
        APH_ASSERT_OK(aph_op_linear(xd, wd, NULL, l, NULL));
        APH_ASSERT_OK(aph_op_unary(APH_UNARY_TANH, l, t, NULL));
        APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, t, 0, 0, s, NULL));
        aph_tensor* y = et_result(ex, "y");
        et_assert_same(y, t, "repeated run: y");
        et_assert_same(et_result(ex, "z"), s, "repeated run: z");
        static const void* first_data;
        if (run == 0) first_data = aph_tensor_data(y);
        assert_ptr_equal(aph_tensor_data(y), first_data); /* the same memory every run */
    }
    /* The reference obtained earlier is overwritten by a later run. */
    aph_tensor* y_old = et_result(ex, "y");
    size_t n1 = 0;
    unsigned char* before = et_bytes(y_old, &n1);
    et_set(ex, "x", x1);
    APH_ASSERT_OK(aph_executor_run(ex));
    size_t n2 = 0;
    unsigned char* after = et_bytes(y_old, &n2);
    assert_int_equal(n1, n2);
    assert_true(memcmp(before, after, n1) != 0);
    free(before);
    free(after);
    assert_int_equal(aph_executor_run_count(ex), 4);

    aph_executor_release(ex);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);
    aph_tracker_release(tr);
    aph_graph_release(g);
    et_pool_release();
}

/* The options: profile times every computing node, trace gets one "node" span per computing
 * node and one "run" span per run, a stream of the device is used for the work. */
static void test_profile_trace_stream(void** state) {
    (void)state;
    const aph_dtype dt = APH_DTYPE_F32;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", dt, SHAPE(16, 32));
    et_input(g, "w", "weight", dt, SHAPE(32, 32));
    NODE(g, "l", "linear", NULL, "x,w");
    NODE(g, "r", "reshape", "shape=[32,16]", "l");
    NODE(g, "e", "exp", NULL, "r");
    NODE(g, "y", "output", NULL, "e");

    aph_trace_sink* sink = NULL;
    APH_ASSERT_OK(aph_trace_sink_memory(&sink));
    aph_stream* stream = NULL;
    if (ot_is_cuda()) APH_ASSERT_OK(aph_stream_create(ot_device(), &stream));
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.trace = sink;
    opt.profile = 1;
    opt.stream = stream;
    aph_executor* ex = et_exec(g, &opt);
    aph_tensor* x = et_rand(dt, SHAPE(16, 32), -1, 1);
    aph_tensor* w = et_rand(dt, SHAPE(32, 32), -0.2, 0.2);
    et_set(ex, "x", x);
    et_setw(ex, "w", w);
    APH_ASSERT_OK(aph_executor_run(ex));
    uint64_t first_l = et_stats(ex, et_index(ex, "l")).last_ns;
    APH_ASSERT_OK(aph_executor_run(ex));
    for (size_t i = 0; i < aph_executor_node_count(ex); ++i) {
        const aph_node_stats s = et_stats(ex, i);
        const int computes = strcmp(s.op, "linear") == 0 || strcmp(s.op, "exp") == 0;
        if (computes) {
            assert_true(s.last_ns > 0);
            assert_true(s.total_ns >= s.last_ns);
            if (strcmp(s.name, "l") == 0) assert_int_equal(s.total_ns, first_l + s.last_ns);
        } else {
            assert_int_equal(s.last_ns, 0);
            assert_int_equal(s.total_ns, 0);
        }
    }
    /* 2 runs × (2 node spans + 1 run span). */
    assert_int_equal(aph_trace_sink_span_count(sink), 6);
    const char* names[6] = {"l", "e", "run", "l", "e", "run"};
    const char* cats[6] = {"node", "node", "run", "node", "node", "run"};
    const char* dev = ot_is_cuda() ? "cuda:0" : "cpu";
    for (size_t i = 0; i < 6; ++i) {
        aph_trace_span sp;
        memset(&sp, 0, sizeof sp);
        sp.struct_size = sizeof sp;
        APH_ASSERT_OK(aph_trace_sink_span(sink, i, &sp));
        assert_string_equal(sp.name, names[i]);
        assert_string_equal(sp.category, cats[i]);
        assert_non_null(sp.device);
        assert_string_equal(sp.device, dev);
        if (i == 0 || i == 3) {
            assert_int_equal(sp.bytes, 16 * 32 * 4);
            assert_non_null(sp.args_json);
            assert_non_null(strstr(sp.args_json, "\"op\":\"linear\""));
        }
    }
    aph_tensor* l = et_out(dt, SHAPE(16, 32));
    APH_ASSERT_OK(aph_op_linear(x, w, NULL, l, NULL));
    aph_tensor* r = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(l, SHAPE(32, 16), &r));
    et_keep(r);
    aph_tensor* e = et_out(dt, SHAPE(32, 16));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_EXP, r, e, NULL));
    if (stream) APH_ASSERT_OK(aph_stream_synchronize(stream));
    et_assert_same(et_result(ex, "y"), e, "profiled run on a stream");

    aph_executor_release(ex);
    aph_trace_sink_release(sink);
    if (stream) aph_stream_release(stream);
    aph_graph_release(g);
    et_pool_release();
}

/* Inputs may be bound as strided views (only dtype and shape must match): views of them, reshape
 * included, see the values, not the layout. */
static void test_strided_input(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4, 6));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(3, 24));
    NODE(g, "r", "reshape", "shape=[24]", "x");
    NODE(g, "l", "linear", NULL, "r,w");
    NODE(g, "y", "output", NULL, "l");
    NODE(g, "rv", "output", NULL, "r");
    aph_executor* ex = et_exec(g, NULL);
    aph_graph_release(g); /* the executor works on its own copy */
    double v[24];
    ot_fill(v, 24, -1, 1);
    aph_tensor* xs = et_keep(ot_tensor_strided(APH_DTYPE_F32, SHAPE(4, 6), v));
    assert_int_equal(aph_tensor_is_contiguous(xs), 0);
    aph_tensor* wt = et_rand(APH_DTYPE_F32, SHAPE(24, 3), -1, 1);
    aph_tensor* w = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(wt, 0, 1, &w)); /* a strided weight too */
    et_keep(w);
    et_set(ex, "x", xs);
    et_setw(ex, "w", w);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* xc = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(xs, &xc));
    et_keep(xc);
    aph_tensor* r = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(xc, SHAPE(24), &r));
    et_keep(r);
    /* The executor copied the weight contiguous when it was bound: the same operands here (the
     * kernel a product runs may depend on its operands' layout). */
    aph_tensor* wc = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(w, &wc));
    et_keep(wc);
    aph_tensor* l = et_out(APH_DTYPE_F32, SHAPE(3));
    APH_ASSERT_OK(aph_op_linear(r, wc, NULL, l, NULL));
    et_assert_same(et_result(ex, "rv"), r, "reshape of a strided input");
    et_assert_same(et_result(ex, "y"), l, "linear of a reshaped strided input");
    aph_executor_release(ex);
    et_pool_release();
}

/* An empty graph makes an executor that runs nothing; run-time errors of an operation name the
 * node too (an embedding id out of range, checked on the CPU). */
static void test_empty_graph_and_run_errors(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    aph_executor* ex = et_exec(g, NULL);
    const aph_plan_info p = et_plan(ex);
    assert_int_equal(p.total_bytes, 0);
    assert_int_equal(p.steps, 0);
    assert_int_equal(aph_executor_node_count(ex), 0);
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_int_equal(aph_executor_run_count(ex), 1);
    aph_executor_release(ex);
    aph_graph_release(g);
    if (!is_cpu()) return;

    g = et_graph();
    et_input(g, "table", "weight", APH_DTYPE_F32, SHAPE(10, 4));
    et_input(g, "ids", "input", APH_DTYPE_I64, SHAPE(3));
    NODE(g, "e", "embedding", NULL, "table,ids");
    NODE(g, "y", "output", NULL, "e");
    ex = et_exec(g, NULL);
    et_setw(ex, "table", et_rand(APH_DTYPE_F32, SHAPE(10, 4), -1, 1));
    const int64_t bad[3] = {1, 12, 3};
    aph_tensor* ids = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(ot_device(), APH_DTYPE_I64, SHAPE(3), bad, sizeof bad, &ids));
    et_keep(ids);
    et_set(ex, "ids", ids);
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: node 3 'e' (embedding): ids[1] = 12 is outside [0, 10)");
    assert_int_equal(aph_executor_run_count(ex), 0);
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* ============================================================================================
 * Errors
 * ========================================================================================== */

static char g_msg[1024];

/* aph_executor_create fails with status and exactly msg; *out is untouched. */
static void expect_create_error(const aph_graph* g, aph_status status, const char* msg) {
    aph_executor* ex = (aph_executor*)(uintptr_t)0x1234;
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), status, msg);
    assert_ptr_equal(ex, (aph_executor*)(uintptr_t)0x1234);
}

static void test_graph_errors(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "f", "frobnicate", NULL, "x");
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 2 'f' (frobnicate): unknown operation 'frobnicate' (neither built in "
                        "nor registered with aph_custom_op_register)");
    aph_graph_release(g);

    /* Operand counts. */
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "r", "relu", NULL, "x,x");
    expect_create_error(g, APH_ERR_GRAPH, "graph error: node 2 'r' (relu): takes 1 operand, got 2");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "l", "linear", NULL, "x");
    expect_create_error(g, APH_ERR_GRAPH, "graph error: node 2 'l' (linear): takes 2 to 3 operands, got 1");
    aph_graph_release(g);
    g = et_graph();
    NODE(g, "x", "input", "shape=[2]", NULL);
    NODE(g, "o", "output", NULL, NULL);
    expect_create_error(g, APH_ERR_GRAPH, "graph error: node 2 'o' (output): takes 1 operand, got 0");
    aph_graph_release(g);

    /* Missing and mistyped params. */
    g = et_graph();
    NODE(g, "x", "input", "dtype=\"f32\"", NULL);
    expect_create_error(g, APH_ERR_GRAPH, "graph error: node 1 'x' (input): missing param 'shape'");
    aph_graph_release(g);
    g = et_graph();
    NODE(g, "x", "input", "shape=\"2x8\"", NULL);
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 1 'x' (input): param 'shape' is a string, expected an array of integers "
                        "and symbol names");
    aph_graph_release(g);
    g = et_graph();
    NODE(g, "x", "input", "shape=[2,8];dtype=\"f33\"", NULL);
    expect_create_error(g, APH_ERR_GRAPH, "graph error: node 1 'x' (input): param 'dtype' names no dtype: \"f33\"");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "t", "transpose", "dim0=\"a\";dim1=1", "x");
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 2 't' (transpose): param 'dim0' is a string, expected an integer");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "t", "transpose", "dim0=0", "x");
    expect_create_error(g, APH_ERR_GRAPH, "graph error: node 2 't' (transpose): missing param 'dim1'");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "a", "attention", "causal=1", "x,x,x");
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 2 'a' (attention): param 'causal' is an integer, expected a bool");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "m", "mul", NULL, "x");
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 2 'm' (mul): one operand needs param 'scalar' (or give two operands)");
    aph_graph_release(g);
    g = et_graph();
    NODE(g, "c", "constant", "shape=[3];value=[1,2]", NULL);
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 1 'c' (constant): param 'value' has 2 numbers; shape [3] needs 3");
    aph_graph_release(g);

    /* A dangling edge in a graph loaded from JSON (add_edge itself refuses one). */
    const char* json =
        "{\"nodes\":["
        "{\"id\":1,\"name\":\"x\",\"config\":{\"name\":\"input\",\"version\":\"1.0.0\",\"params\":{\"shape\":[4]}},"
        "\"metadata\":{}},"
        "{\"id\":2,\"name\":\"r\",\"config\":{\"name\":\"relu\",\"version\":\"1.0.0\",\"params\":{}},\"metadata\":{}},"
        "{\"id\":3,\"name\":\"y\",\"config\":{\"name\":\"output\",\"version\":\"1.0.0\",\"params\":{}},\"metadata\":{}}"
        "],\"edges\":[[1,2],[2,3],[1,9]]}";
    g = NULL;
    APH_ASSERT_OK(aph_graph_from_json(json, strlen(json), &g));
    expect_create_error(g, APH_ERR_GRAPH, "graph error: edge (1, 9) names node 9, but the graph has 3 nodes");
    aph_graph_release(g);

    /* A cycle. */
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4));
    const uint64_t a = NODE(g, "a", "add", NULL, "x");
    const uint64_t b = NODE(g, "b", "relu", NULL, "a");
    APH_ASSERT_OK(aph_graph_add_edge(g, b, a));
    NODE(g, "y", "output", NULL, "b");
    expect_create_error(g, APH_ERR_GRAPH, "graph error: the graph has a cycle, so it cannot be executed");
    aph_graph_release(g);

    /* Dimensions and dtypes keep the operation's status, with the node named. */
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(4, 6));
    NODE(g, "l", "linear", NULL, "x,w");
    expect_create_error(g, APH_ERR_DIMENSION_MISMATCH,
                        "dimension mismatch: node 3 'l' (linear): x [2, 8] and weight [4, 6]: x's last dimension 8 "
                        "differs from weight's K 6 (weight is [N, K])");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    et_input(g, "w", "weight", APH_DTYPE_F16, SHAPE(4, 8));
    NODE(g, "l", "linear", NULL, "x,w");
    expect_create_error(g, APH_ERR_INVALID_ARGUMENT,
                        "invalid argument: node 3 'l' (linear): weight has dtype f16; expected f32");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    et_input(g, "y", "input", APH_DTYPE_F32, SHAPE(3, 8));
    NODE(g, "s", "add", NULL, "x,y");
    expect_create_error(
        g, APH_ERR_DIMENSION_MISMATCH,
        "dimension mismatch: node 3 's' (add): shapes [2, 8] and [3, 8] do not broadcast (dimension 0: 2 vs 3)");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "r", "reshape", "shape=[3,5]", "x");
    expect_create_error(g, APH_ERR_SHAPE_MISMATCH,
                        "shape mismatch: node 2 'r' (reshape): expected [16] elements, got [15]");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "t", "transpose", "dim0=0;dim1=1", "x");
    NODE(g, "r", "reshape", "shape=[16]", "t");
    expect_create_error(g, APH_ERR_INVALID_ARGUMENT,
                        "invalid argument: node 3 'r' (reshape): reshape needs a contiguous operand; [8, 2] is a "
                        "strided view (add a 'contiguous' node before it)");
    aph_graph_release(g);
    /* Input, weight and output names must be distinct (they are how values are bound). */
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2));
    NODE(g, "x", "output", NULL, NULL);
    APH_ASSERT_OK(aph_graph_add_edge(g, 1, 2));
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 2 'x' (output): the name is already used by node 1; input, weight and "
                        "output nodes need distinct names");
    aph_graph_release(g);
}

static void test_binding_errors(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(3, 8));
    NODE(g, "l", "linear", NULL, "x,w");
    NODE(g, "y", "output", NULL, "l");
    aph_executor* ex = et_exec(g, NULL);

    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(2, 8), -1, 1);
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(3, 8), -1, 1);
    aph_tensor* bad_shape = et_rand(APH_DTYPE_F32, SHAPE(8, 2), -1, 1);
    aph_tensor* bad_dtype = et_rand(APH_DTYPE_F16, SHAPE(2, 8), -1, 1);
    aph_tensor* out = (aph_tensor*)(uintptr_t)0x99;

    /* Output before the first run; an unknown output. */
    APH_ASSERT_ERR(aph_executor_output(ex, "y", &out), APH_ERR_INVALID_STATE,
                   "invalid state: output \'y\' has no value: the executor has not run (successfully) yet");
    APH_ASSERT_ERR(aph_executor_output(ex, "l", &out), APH_ERR_NOT_FOUND,
                   "not found: the graph has no output node named 'l'");
    APH_ASSERT_ERR(aph_executor_output(ex, "x", &out), APH_ERR_NOT_FOUND,
                   "not found: the graph has no output node named 'x'");
    assert_ptr_equal(out, (aph_tensor*)(uintptr_t)0x99);

    /* Unbound input and weight at run. */
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_INVALID_STATE,
                   "invalid state: input node 1 \'x\' is not bound (aph_executor_set_input)");
    et_set(ex, "x", x);
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_INVALID_STATE,
                   "invalid state: weight node 2 \'w\' is not bound (aph_executor_set_weight or "
                   "aph_executor_load_weights)");
    assert_int_equal(aph_executor_run_count(ex), 0);

    /* set_input: wrong shape, wrong dtype, unknown name, a weight's name; set_weight with an
     * input's name. */
    APH_ASSERT_ERR(aph_executor_set_input(ex, "x", bad_shape), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: input 'x' (node 1): expected [2, 8], got [8, 2]");
    APH_ASSERT_ERR(aph_executor_set_input(ex, "x", bad_dtype), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: input 'x' (node 1) has dtype f32, the tensor f16");
    APH_ASSERT_ERR(aph_executor_set_input(ex, "nope", x), APH_ERR_NOT_FOUND,
                   "not found: the graph has no input node named 'nope'");
    APH_ASSERT_ERR(aph_executor_set_input(ex, "w", w), APH_ERR_NOT_FOUND,
                   "not found: the graph has no input node named 'w'");
    APH_ASSERT_ERR(aph_executor_set_input(ex, "l", x), APH_ERR_NOT_FOUND,
                   "not found: the graph has no input node named 'l'");
    APH_ASSERT_ERR(aph_executor_set_weight(ex, "x", x), APH_ERR_NOT_FOUND,
                   "not found: the graph has no weight node named 'x'");
    APH_ASSERT_ERR(aph_executor_set_weight(ex, "w", bad_shape), APH_ERR_SHAPE_MISMATCH,
                   "shape mismatch: weight 'w' (node 2): expected [3, 8], got [8, 2]");
    et_setw(ex, "w", w);
    /* The failed calls kept x bound to the first tensor. */
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(2, 3));
    APH_ASSERT_OK(aph_op_linear(x, w, NULL, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "binding kept after failed calls");

    /* NULL arguments. */
    APH_ASSERT_ERR(aph_executor_set_input(NULL, "x", x), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: executor must not be NULL");
    APH_ASSERT_ERR(aph_executor_set_input(ex, NULL, x), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_executor_set_input(ex, "x", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor must not be NULL");
    APH_ASSERT_ERR(aph_executor_set_weight(ex, "w", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: tensor must not be NULL");
    APH_ASSERT_ERR(aph_executor_run(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: executor must not be NULL");
    APH_ASSERT_ERR(aph_executor_output(ex, NULL, &out), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_executor_output(ex, "y", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_executor_load_weights(ex, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: path must not be NULL");
    APH_ASSERT_ERR(aph_executor_plan_info(ex, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_executor_plan_info(NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: executor must not be NULL");
    aph_plan_info small;
    small.struct_size = 4;
    APH_ASSERT_ERR(aph_executor_plan_info(ex, &small), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out->struct_size is too small (set it to sizeof(aph_plan_info))");
    /* A caller built against an older, shorter aph_plan_info gets only what fits. */
    struct {
        aph_plan_info p;
        uint64_t guard;
    } part;
    memset(&part, 0xAB, sizeof part);
    part.p.struct_size = offsetof(aph_plan_info, unshared_bytes);
    APH_ASSERT_OK(aph_executor_plan_info(ex, &part.p));
    assert_int_equal(part.p.arena_bytes, et_plan(ex).arena_bytes);
    assert_true(part.p.unshared_bytes == 0xABABABABABABABABull);
    aph_node_stats ns;
    ns.struct_size = sizeof ns;
    snprintf(g_msg, sizeof g_msg, "invalid argument: index 4 is outside [0, 4)");
    APH_ASSERT_ERR(aph_executor_node_stats(ex, 4, &ns), APH_ERR_INVALID_ARGUMENT, g_msg);
    ns.struct_size = 2;
    APH_ASSERT_ERR(aph_executor_node_stats(ex, 0, &ns), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out->struct_size is too small (set it to sizeof(aph_node_stats))");
    APH_ASSERT_ERR(aph_executor_node_stats(NULL, 0, &ns), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: executor must not be NULL");
    assert_int_equal(aph_executor_output_count(NULL), 0);
    assert_null(aph_executor_output_name(NULL, 0));
    assert_int_equal(aph_executor_node_count(NULL), 0);
    assert_int_equal(aph_executor_run_count(NULL), 0);
    aph_executor_release(NULL);

    aph_executor* ex2 = NULL;
    APH_ASSERT_ERR(aph_executor_create(NULL, ot_device(), NULL, &ex2), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: graph must not be NULL");
    APH_ASSERT_ERR(aph_executor_create(g, NULL, NULL, &ex2), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: device must not be NULL");
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = 4;
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), &opt, &ex2), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: options->struct_size is too small (set it to sizeof(aph_executor_options))");
    assert_null(ex2);
    if (ot_is_cuda()) {
        /* A stream of another device. */
        aph_device* cpu = cpu_device();
        aph_stream* cs = NULL;
        if (aph_stream_create(cpu, &cs) == APH_OK) {
            opt.struct_size = sizeof opt;
            opt.stream = cs;
            APH_ASSERT_ERR(aph_executor_create(g, ot_device(), &opt, &ex2), APH_ERR_DEVICE_MISMATCH,
                           "device mismatch: tensors must be on the same device");
            aph_stream_release(cs);
        }
        aph_device_release(cpu);
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* Bindings the plan cannot use in place are copied at each run, before any node computes: a
 * strided view feeding a reshape (inference assumed contiguous inputs), and an output of the
 * same executor fed back as its input (a recurrent state: the run overwrites that memory). Both
 * give the eager results. */
static void test_bindings_copied(void** state) {
    (void)state;
    /* a transposed view bound to x [2, 3] -> reshape [6] -> relu */
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 3));
    NODE(g, "r", "reshape", "shape=[6]", "x");
    NODE(g, "a", "relu", NULL, "r");
    NODE(g, "y", "output", NULL, "a");
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* base = et_rand(APH_DTYPE_F32, SHAPE(3, 2), -1, 1);
    aph_tensor* xt = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(base, 0, 1, &xt));
    et_keep(xt);
    et_set(ex, "x", xt);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* xc = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous(xt, &xc));
    et_keep(xc);
    aph_tensor* flat = NULL;
    APH_ASSERT_OK(aph_tensor_reshape(xc, SHAPE(6), &flat));
    et_keep(flat);
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(6));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, flat, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "relu(reshape(transposed x))");
    aph_executor_release(ex);
    aph_graph_release(g);

    /* h_next = gru_cell(x, h): h bound to the previous run's output, three steps */
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 3));
    et_input(g, "h", "input", APH_DTYPE_F32, SHAPE(2, 4));
    et_input(g, "w_ih", "weight", APH_DTYPE_F32, SHAPE(12, 3));
    et_input(g, "w_hh", "weight", APH_DTYPE_F32, SHAPE(12, 4));
    NODE(g, "cell", "gru_cell", NULL, "x,h,w_ih,w_hh");
    NODE(g, "h_next", "output", NULL, "cell");
    ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(2, 3), -1, 1);
    aph_tensor* h0 = et_rand(APH_DTYPE_F32, SHAPE(2, 4), -1, 1);
    aph_tensor* wih = et_rand(APH_DTYPE_F32, SHAPE(12, 3), -0.5, 0.5);
    aph_tensor* whh = et_rand(APH_DTYPE_F32, SHAPE(12, 4), -0.5, 0.5);
    et_set(ex, "x", x);
    et_setw(ex, "w_ih", wih);
    et_setw(ex, "w_hh", whh);
    aph_tensor* h = h0;
    aph_tensor* ref = h0;
    for (int step = 0; step < 3; ++step) {
        et_set(ex, "h", h);
        APH_ASSERT_OK(aph_executor_run(ex));
        h = et_result(ex, "h_next");
        aph_tensor* next = et_out(APH_DTYPE_F32, SHAPE(2, 4));
        APH_ASSERT_OK(aph_op_gru_cell(x, ref, wih, whh, NULL, NULL, next, NULL));
        ref = next;
        et_assert_same(h, ref, "gru state fed back");
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* Mistakes in params that only the run reads are still reported when the executor is made; a
 * plan whose byte count overflows is out of memory at creation; a slice with a huge step has
 * one element, as the eager slice gives. */
static void test_creation_checks(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "a", "input", APH_DTYPE_F32, SHAPE(2, 2));
    NODE(g, "m", "matmul", "alpha=\"2\"", "a,a");
    NODE(g, "y", "output", NULL, "m");
    aph_executor* ex = NULL;
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_GRAPH,
                   "graph error: node 2 'm' (matmul): param 'alpha' is a string, expected a number");
    aph_graph_release(g);

    g = et_graph();
    NODE(g, "w", "weight", "shape=[2];key=5", NULL);
    NODE(g, "y", "output", NULL, "w");
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_GRAPH,
                   "graph error: node 1 'w' (weight): param 'key' is an integer, expected a string");
    aph_graph_release(g);

    g = et_graph();
    for (int i = 0; i < 4; ++i) {
        char name[8];
        snprintf(name, sizeof name, "c%d", i);
        NODE(g, name, "constant", "shape=[1152921504606846976];dtype=\"f32\";value=0", NULL);
    }
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_OUT_OF_MEMORY,
                   "out of memory: the memory plan's size overflows 64 bits");
    assert_null(ex);
    aph_graph_release(g);

    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4));
    NODE(g, "s", "slice", "dim=0;start=1;step=9223372036854775807", "x");
    NODE(g, "y", "output", NULL, "s");
    ex = et_exec(g, NULL);
    aph_node_stats st = et_stats(ex, et_index(ex, "s"));
    assert_int_equal(st.ndim, 1);
    assert_int_equal(st.shape[0], 1);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(4), -1, 1);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* want = NULL;
    APH_ASSERT_OK(aph_tensor_slice(x, 0, 1, 4, INT64_MAX, &want));
    et_keep(want);
    et_assert_same(et_result(ex, "y"), want, "slice with a huge step");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* f64 on a CUDA device: every computing node is refused when the executor is made (the eager
 * operations refuse f64 on CUDA), naming the first; a copy ('contiguous') and views are not. On
 * the CPU the same graph is fine. */
static void test_f64_on_cuda(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F64, SHAPE(2, 3));
    NODE(g, "t", "transpose", "dim0=0;dim1=1", "x");
    NODE(g, "c", "contiguous", NULL, "t");
    NODE(g, "r", "relu", NULL, "c");
    NODE(g, "y", "output", NULL, "r");
    aph_executor* ex = NULL;
    if (ot_is_cuda()) {
        APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: node 4 'r' (relu): f64 operations on CUDA (x)");
        assert_null(ex);
    } else {
        APH_ASSERT_OK(aph_executor_create(g, ot_device(), NULL, &ex));
        aph_executor_release(ex);
    }
    aph_graph_release(g);

    /* An f64 result counts too (the eager cast refuses f64 on either side). */
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 3));
    NODE(g, "c", "cast", "dtype=\"f64\"", "x");
    NODE(g, "y", "output", NULL, "c");
    if (ot_is_cuda()) {
        APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: node 2 'c' (cast): f64 operations on CUDA (the output)");
    } else {
        APH_ASSERT_OK(aph_executor_create(g, ot_device(), NULL, &ex));
        aph_executor_release(ex);
    }
    aph_graph_release(g);
}

/* The numerics check names the first node with NaN or Inf, with the counts; without it the run
 * succeeds. A failed run leaves no outputs readable. */
static void test_numerics_check(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4));
    NODE(g, "neg", "constant", "shape=[4];value=-1", NULL);
    NODE(g, "lg", "log", NULL, "neg");
    NODE(g, "s", "add", NULL, "x,lg");
    NODE(g, "y", "output", NULL, "s");
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(4), -1, 1);

    aph_executor* plain = et_exec(g, NULL);
    et_set(plain, "x", x);
    APH_ASSERT_OK(aph_executor_run(plain));
    double* v = ot_read(et_result(plain, "y"));
    for (int i = 0; i < 4; ++i) assert_true(isnan(v[i]));
    free(v);
    aph_executor_release(plain);

    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.check_numerics = 1;
    aph_executor* ex = et_exec(g, &opt);
    et_set(ex, "x", x);
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_KERNEL,
                   "kernel error: numerics check: node 3 'lg' (log) produced 4 NaN and 0 Inf among 4 values");
    assert_int_equal(aph_executor_run_count(ex), 0);
    aph_tensor* out = NULL;
    APH_ASSERT_ERR(aph_executor_output(ex, "y", &out), APH_ERR_INVALID_STATE,
                   "invalid state: output \'y\' has no value: the executor has not run (successfully) yet");
    aph_executor_release(ex);
    aph_graph_release(g);

    /* Division by zero: 1/0, -1/0 and 2/0 are Inf, 0/0 NaN. The first node is fine. */
    g = et_graph();
    NODE(g, "n", "constant", "shape=[2,2];value=[1,-1,0,2]", NULL);
    NODE(g, "z", "constant", "shape=[2];value=0", NULL);
    NODE(g, "ok", "mul", "scalar=3", "n");
    NODE(g, "q", "div", NULL, "ok,z");
    NODE(g, "y", "output", NULL, "q");
    ex = et_exec(g, &opt);
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_KERNEL,
                   "kernel error: numerics check: node 4 'q' (div) produced 1 NaN and 3 Inf among 4 values");
    aph_executor_release(ex);
    aph_graph_release(g);

    /* bf16 and f16 values are counted too. */
    g = et_graph();
    NODE(g, "n", "constant", "shape=[3];dtype=\"bf16\";value=[-1,4,-9]", NULL);
    NODE(g, "r", "sqrt", NULL, "n");
    NODE(g, "y", "output", NULL, "r");
    ex = et_exec(g, &opt);
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_KERNEL,
                   "kernel error: numerics check: node 2 'r' (sqrt) produced 2 NaN and 0 Inf among 3 values");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* ============================================================================================
 * Custom operations
 * ========================================================================================== */

typedef struct op_state {
    int infer_calls, cpu_calls, cuda_calls, destroyed;
    double factor;              /* multiplies k: tells registrations apart */
    aph_stream* last_stream;    /* the stream the cuda callback got */
    aph_status fail;            /* APH_OK, or what the run callbacks return */
    const char* fail_message;   /* NULL: fail without aph_set_last_error */
    int infer_fail_silently;    /* infer returns APH_ERR_INVALID_ARGUMENT without a message */
    int infer_no_dtype;         /* infer returns APH_OK without writing anything */
    size_t infer_ndim_override; /* non-zero: infer claims this many dimensions */
    size_t infer_capacity;      /* out_shape's capacity in the last infer call */
} op_state;

static double param_k(const char* params) {
    const char* p = strstr(params, "\"k\":");
    return p ? strtod(p + 4, NULL) : 1.0;
}

static aph_status sa_infer(void* ud, const char* params, size_t n, const aph_dtype* dts, const int64_t* const* shapes,
                           const size_t* ndims, aph_dtype* odt, int64_t* oshape, size_t capacity, size_t* ondim) {
    op_state* s = ud;
    (void)params;
    s->infer_calls++;
    s->infer_capacity = capacity;
    if (s->infer_fail_silently) return APH_ERR_INVALID_ARGUMENT;
    if (s->infer_no_dtype) return APH_OK;
    if (n != 2) {
        aph_set_last_error(APH_ERR_GRAPH, "scale_add takes 2 operands");
        return APH_ERR_GRAPH;
    }
    if (dts[0] != APH_DTYPE_F32 || dts[1] != APH_DTYPE_F32) {
        aph_set_last_error(APH_ERR_INVALID_ARGUMENT, "scale_add takes f32 operands");
        return APH_ERR_INVALID_ARGUMENT;
    }
    if (ndims[0] != ndims[1] || memcmp(shapes[0], shapes[1], ndims[0] * sizeof(int64_t)) != 0) {
        aph_set_last_error(APH_ERR_DIMENSION_MISMATCH, "scale_add needs operands of one shape");
        return APH_ERR_DIMENSION_MISMATCH;
    }
    if (s->infer_ndim_override != 0) { /* claims more dimensions than out_shape holds */
        *odt = dts[0];
        *ondim = s->infer_ndim_override;
        return APH_OK;
    }
    if (ndims[0] > capacity) {
        aph_set_last_error(APH_ERR_INVALID_ARGUMENT, "scale_add: out_shape is too small");
        return APH_ERR_INVALID_ARGUMENT;
    }
    *odt = dts[0];
    memcpy(oshape, shapes[0], ndims[0] * sizeof(int64_t));
    *ondim = ndims[0];
    return APH_OK;
}

static aph_status sa_fail(op_state* s) {
    if (s->fail_message) aph_set_last_error(s->fail, s->fail_message);
    return s->fail;
}

/* out = a·k + b on the host, in f32 (the product rounded before the sum, as the eager
 * operations do). */
static aph_status sa_cpu(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out) {
    op_state* s = ud;
    s->cpu_calls++;
    if (s->fail != APH_OK) return sa_fail(s);
    if (n != 2 || aph_device_get_kind(aph_tensor_device(out)) != APH_DEVICE_CPU || !aph_tensor_is_contiguous(in[0]) ||
        !aph_tensor_is_contiguous(in[1]) || !aph_tensor_is_contiguous(out)) {
        aph_set_last_error(APH_ERR_INTERNAL, "scale_add: unexpected operands");
        return APH_ERR_INTERNAL;
    }
    const float k = (float)(param_k(params) * s->factor);
    const float* a = aph_tensor_data(in[0]);
    const float* b = aph_tensor_data(in[1]);
    float* o = NULL;
    if (aph_tensor_data_mut(out, (void**)&o) != APH_OK) return APH_ERR_INTERNAL;
    for (int64_t i = 0; i < aph_tensor_numel(out); ++i) {
        volatile float t = a[i] * k;
        o[i] = t + b[i];
    }
    return APH_OK;
}

/* The same with the eager operations on the executor's stream. */
static aph_status sa_cuda(void* ud, const char* params, size_t n, const aph_tensor* const* in, aph_tensor* out,
                          aph_stream* stream) {
    op_state* s = ud;
    s->cuda_calls++;
    s->last_stream = stream;
    if (s->fail != APH_OK) return sa_fail(s);
    if (n != 2 || stream == NULL) return APH_ERR_INTERNAL;
    aph_status st = aph_op_binary_scalar(APH_BINARY_MUL, in[0], param_k(params) * s->factor, out, stream);
    if (st == APH_OK) st = aph_op_binary(APH_BINARY_ADD, out, in[1], out, stream);
    return st;
}

static void sa_destroy(void* ud) { ((op_state*)ud)->destroyed++; }

static aph_custom_op sa_op(const char* name, op_state* s, int with_cuda) {
    aph_custom_op op;
    memset(&op, 0, sizeof op);
    op.struct_size = sizeof op;
    op.name = name;
    op.infer = sa_infer;
    op.cpu = sa_cpu;
    op.cuda = with_cuda ? sa_cuda : NULL;
    op.user_data = s;
    op.destroy = sa_destroy;
    return op;
}

/* x [4, 8] -> linear(w) -> scale_add(·, y; k) -> relu -> output "out". */
static aph_graph* custom_graph(const char* op, double k, int64_t ycols) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4, 8));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(8, 8));
    et_input(g, "y", "input", APH_DTYPE_F32, SHAPE(4, ycols));
    NODE(g, "l", "linear", NULL, "x,w");
    aph_model_config* c = et_config(op, NULL);
    APH_ASSERT_OK(aph_model_config_set_float(c, "k", k));
    et_add(g, "sa", c, "l,y");
    NODE(g, "r", "relu", NULL, "sa");
    NODE(g, "out", "output", NULL, "r");
    return g;
}

typedef struct custom_inputs {
    aph_tensor *x, *w, *y;
} custom_inputs;

static custom_inputs custom_bind(aph_executor* ex) {
    custom_inputs in;
    in.x = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
    in.w = et_rand(APH_DTYPE_F32, SHAPE(8, 8), -1, 1);
    in.y = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
    et_set(ex, "x", in.x);
    et_setw(ex, "w", in.w);
    et_set(ex, "y", in.y);
    return in;
}

/* relu(linear(x, w)·k + y) by the eager operations. */
static aph_tensor* custom_want(const custom_inputs* in, double k) {
    aph_tensor* l = et_out(APH_DTYPE_F32, SHAPE(4, 8));
    APH_ASSERT_OK(aph_op_linear(in->x, in->w, NULL, l, NULL));
    APH_ASSERT_OK(aph_op_binary_scalar(APH_BINARY_MUL, l, k, l, NULL));
    APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, l, in->y, l, NULL));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, l, l, NULL));
    return l;
}

static void test_custom_op(void** state) {
    (void)state;
    op_state a = {0};
    a.factor = 1.0;
    aph_custom_op op = sa_op("scale_add", &a, 1);
    APH_ASSERT_OK(aph_custom_op_register(&op));

    aph_graph* g = custom_graph("scale_add", 2.5, 8);
    aph_executor* ex = et_exec(g, NULL);
    assert_int_equal(a.infer_calls, 1);
    const aph_node_stats st = et_stats(ex, et_index(ex, "sa"));
    assert_string_equal(st.op, "scale_add");
    assert_int_equal(st.dtype, APH_DTYPE_F32);
    assert_int_equal(st.shape[1], 8);
    custom_inputs in = custom_bind(ex);
    APH_ASSERT_OK(aph_executor_run(ex));
    if (ot_is_cuda()) {
        assert_int_equal(a.cpu_calls, 0);
        assert_int_equal(a.cuda_calls, 1);
        assert_non_null(a.last_stream);
    } else {
        assert_int_equal(a.cpu_calls, 1);
        assert_int_equal(a.cuda_calls, 0);
    }
    et_assert_same(et_result(ex, "out"), custom_want(&in, 2.5), "custom scale_add");
    aph_executor_release(ex);
    assert_int_equal(a.destroyed, 0); /* still registered */

    /* On CUDA the callback gets the executor's stream. */
    if (ot_is_cuda()) {
        aph_stream* stream = NULL;
        APH_ASSERT_OK(aph_stream_create(ot_device(), &stream));
        aph_executor_options opt;
        memset(&opt, 0, sizeof opt);
        opt.struct_size = sizeof opt;
        opt.stream = stream;
        ex = et_exec(g, &opt);
        in = custom_bind(ex);
        APH_ASSERT_OK(aph_executor_run(ex));
        assert_ptr_equal(a.last_stream, stream);
        APH_ASSERT_OK(aph_stream_synchronize(stream));
        et_assert_same(et_result(ex, "out"), custom_want(&in, 2.5), "custom scale_add on a stream");
        aph_executor_release(ex);
        aph_stream_release(stream);
    }

    /* Infer failures: with a message (the node named in front of it, its status kept), without
     * one (a generic message naming the operation), and no dtype written. */
    aph_graph* bad = custom_graph("scale_add", 2.5, 7);
    expect_create_error(bad, APH_ERR_DIMENSION_MISMATCH,
                        "dimension mismatch: node 5 'sa' (scale_add): scale_add needs operands of one shape");
    a.infer_fail_silently = 1;
    expect_create_error(g, APH_ERR_INVALID_ARGUMENT,
                        "invalid argument: node 5 'sa' (scale_add): custom operation 'scale_add' inference failed "
                        "with APH_ERR_INVALID_ARGUMENT and gave no message");
    a.infer_fail_silently = 0;
    a.infer_no_dtype = 1;
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 5 'sa' (scale_add): custom operation 'scale_add' inference returned no "
                        "valid dtype and shape (set out_dtype and out_ndim)");
    a.infer_no_dtype = 0;
    /* The callback is told out_shape's capacity, and a result that claims more dimensions than
     * it has room for is refused. */
    assert_int_equal(a.infer_capacity, APH_TENSOR_MAX_DIMS);
    a.infer_ndim_override = APH_TENSOR_MAX_DIMS + 1;
    char msg[256];
    snprintf(msg, sizeof msg,
             "graph error: node 5 'sa' (scale_add): custom operation 'scale_add' inference returned %d "
             "dimensions, more than the %d out_shape has room for",
             APH_TENSOR_MAX_DIMS + 1, APH_TENSOR_MAX_DIMS);
    expect_create_error(g, APH_ERR_GRAPH, msg);
    a.infer_ndim_override = 0;
    aph_graph_release(bad);
    assert_int_equal(a.destroyed, 0);

    /* Run failures: without a message (generic text), with one. */
    ex = et_exec(g, NULL);
    in = custom_bind(ex);
    a.fail = APH_ERR_KERNEL;
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_KERNEL,
                   "kernel error: node 5 'sa' (scale_add): custom operation 'scale_add' failed with APH_ERR_KERNEL "
                   "and gave no message");
    a.fail_message = "the accelerator caught fire";
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_KERNEL,
                   "kernel error: node 5 'sa' (scale_add): the accelerator caught fire");
    a.fail = APH_OK;
    a.fail_message = NULL;
    assert_int_equal(aph_executor_run_count(ex), 0);
    APH_ASSERT_OK(aph_executor_run(ex)); /* recovers */
    et_assert_same(et_result(ex, "out"), custom_want(&in, 2.5), "custom op after failed runs");
    aph_executor_release(ex);

    APH_ASSERT_OK(aph_custom_op_unregister("scale_add"));
    assert_int_equal(a.destroyed, 1);
    expect_create_error(g, APH_ERR_GRAPH,
                        "graph error: node 5 'sa' (scale_add): unknown operation 'scale_add' (neither built in nor "
                        "registered with aph_custom_op_register)");
    APH_ASSERT_ERR(aph_custom_op_unregister("scale_add"), APH_ERR_NOT_FOUND,
                   "not found: no custom operation is registered as 'scale_add'");
    assert_int_equal(a.destroyed, 1);
    aph_graph_release(g);
    et_pool_release();
}

/* Without a cuda callback the operation runs on the CPU only. */
static void test_custom_op_cpu_only(void** state) {
    (void)state;
    op_state a = {0};
    a.factor = 1.0;
    aph_custom_op op = sa_op("scale_add_cpu", &a, 0);
    APH_ASSERT_OK(aph_custom_op_register(&op));
    aph_graph* g = custom_graph("scale_add_cpu", -1.5, 8);
    aph_executor* ex = et_exec(g, NULL);
    custom_inputs in = custom_bind(ex);
    if (ot_is_cuda()) {
        APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_NOT_IMPLEMENTED,
                       "not implemented: node 5 'sa' (scale_add_cpu): custom operation 'scale_add_cpu' has no CUDA "
                       "implementation");
        assert_int_equal(a.cpu_calls, 0);
    } else {
        APH_ASSERT_OK(aph_executor_run(ex));
        assert_int_equal(a.cpu_calls, 1);
        et_assert_same(et_result(ex, "out"), custom_want(&in, -1.5), "cpu-only custom op");
    }
    aph_executor_release(ex);
    APH_ASSERT_OK(aph_custom_op_unregister("scale_add_cpu"));
    assert_int_equal(a.destroyed, 1);
    aph_graph_release(g);
    et_pool_release();
}

/* Registering a name again replaces it; executors made before keep the old registration, whose
 * destroy runs once, when the last of them goes. */
static void test_custom_op_replace(void** state) {
    (void)state;
    op_state a = {0}, b = {0}, c = {0};
    a.factor = 1.0;
    b.factor = -2.0;
    c.factor = 3.0;
    aph_custom_op op = sa_op("scale_add_r", &a, 1);
    APH_ASSERT_OK(aph_custom_op_register(&op));
    aph_graph* g = custom_graph("scale_add_r", 0.5, 8);
    aph_executor* e1 = et_exec(g, NULL);

    op = sa_op("scale_add_r", &b, 1);
    APH_ASSERT_OK(aph_custom_op_register(&op));
    assert_int_equal(a.destroyed, 0); /* e1 still uses it */
    aph_executor* e2 = et_exec(g, NULL);
    assert_int_equal(a.infer_calls, 1);
    assert_int_equal(b.infer_calls, 1);

    custom_inputs i1 = custom_bind(e1);
    custom_inputs i2 = custom_bind(e2);
    APH_ASSERT_OK(aph_executor_run(e1));
    APH_ASSERT_OK(aph_executor_run(e2));
    assert_int_equal(a.cpu_calls + a.cuda_calls, 1);
    assert_int_equal(b.cpu_calls + b.cuda_calls, 1);
    et_assert_same(et_result(e1, "out"), custom_want(&i1, 0.5), "old registration");
    et_assert_same(et_result(e2, "out"), custom_want(&i2, -1.0), "new registration");

    aph_executor_release(e1);
    assert_int_equal(a.destroyed, 1);
    aph_executor_release(e2);
    assert_int_equal(b.destroyed, 0); /* still registered */
    op = sa_op("scale_add_r", &c, 1);
    APH_ASSERT_OK(aph_custom_op_register(&op));
    assert_int_equal(b.destroyed, 1); /* replaced, and no executor used it */
    assert_int_equal(c.destroyed, 0);

    /* Unregistering while an executor uses it: destroy waits for the executor. */
    aph_executor* e3 = et_exec(g, NULL);
    APH_ASSERT_OK(aph_custom_op_unregister("scale_add_r"));
    assert_int_equal(c.destroyed, 0);
    custom_inputs i3 = custom_bind(e3);
    APH_ASSERT_OK(aph_executor_run(e3));
    et_assert_same(et_result(e3, "out"), custom_want(&i3, 1.5), "unregistered but in use");
    aph_executor_release(e3);
    assert_int_equal(c.destroyed, 1);
    assert_int_equal(a.destroyed, 1);
    assert_int_equal(b.destroyed, 1);
    aph_graph_release(g);
    et_pool_release();
}

static void test_custom_op_register_errors(void** state) {
    (void)state;
    op_state a = {0};
    aph_custom_op op = sa_op("relu", &a, 1);
    APH_ASSERT_ERR(aph_custom_op_register(&op), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op->name 'relu' is a built-in operation; choose another name");
    op = sa_op("output", &a, 1);
    APH_ASSERT_ERR(aph_custom_op_register(&op), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op->name 'output' is a built-in operation; choose another name");
    op = sa_op("nothing_to_infer", &a, 1);
    op.infer = NULL;
    APH_ASSERT_ERR(aph_custom_op_register(&op), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op->infer must not be NULL");
    op = sa_op("nothing_to_run", &a, 1);
    op.cpu = NULL;
    APH_ASSERT_ERR(aph_custom_op_register(&op), APH_ERR_INVALID_ARGUMENT, "invalid argument: op->cpu must not be NULL");
    op = sa_op(NULL, &a, 1);
    APH_ASSERT_ERR(aph_custom_op_register(&op), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op->name must not be NULL");
    op = sa_op("", &a, 1);
    APH_ASSERT_ERR(aph_custom_op_register(&op), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op->name must not be empty");
    op = sa_op("tiny", &a, 1);
    op.struct_size = 8;
    APH_ASSERT_ERR(aph_custom_op_register(&op), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: op->struct_size is too small (set it to sizeof(aph_custom_op))");
    APH_ASSERT_ERR(aph_custom_op_register(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: op must not be NULL");
    APH_ASSERT_ERR(aph_custom_op_unregister(NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_custom_op_unregister("relu"), APH_ERR_NOT_FOUND,
                   "not found: no custom operation is registered as 'relu'");
    /* Nothing was registered, and rejected registrations never call destroy. */
    assert_int_equal(a.destroyed, 0);
    APH_ASSERT_ERR(aph_custom_op_unregister("nothing_to_infer"), APH_ERR_NOT_FOUND,
                   "not found: no custom operation is registered as 'nothing_to_infer'");
    /* The built-in relu still is the built-in (the rejected registration did not shadow it). */
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(3));
    NODE(g, "r", "relu", NULL, "x");
    NODE(g, "y", "output", NULL, "r");
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(3), -1, 1);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    assert_int_equal(a.infer_calls + a.cpu_calls + a.cuda_calls, 0);
    aph_tensor* want = et_out(APH_DTYPE_F32, SHAPE(3));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_RELU, x, want, NULL));
    et_assert_same(et_result(ex, "y"), want, "built-in relu");
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

/* ============================================================================================
 * Weights from safetensors files
 * ========================================================================================== */

/* The file offset of address p when it lies in a mapping of path (from /proc/self/maps), else
 * -1. */
static long long mapped_offset(const void* p, const char* path) {
    FILE* f = fopen("/proc/self/maps", "r");
    if (f == NULL) return -2;
    char line[1024];
    long long result = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, off;
        char perms[8];
        int consumed = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s%n", &lo, &hi, perms, &off, &consumed) < 4) continue;
        const char* file = line + consumed;
        while (*file == ' ') ++file;
        const size_t len = strlen(path);
        const unsigned long long a = (unsigned long long)(uintptr_t)p;
        if (a >= lo && a < hi && strncmp(file, path, len) == 0 && (file[len] == '\n' || file[len] == '\0')) {
            result = (long long)(a - lo + off);
            break;
        }
    }
    fclose(f);
    return result;
}

static void test_load_weights(void** state) {
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "weights");
    aph_tensor* w1 = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
    aph_tensor* w2 = et_rand(APH_DTYPE_F32, SHAPE(3), -1, 1);
    aph_tensor* unused = et_rand(APH_DTYPE_F32, SHAPE(2), -1, 1);
    const char* names[3] = {"w1", "layer.w2", "unused"};
    const aph_tensor* ts[3] = {w1, w2, unused};
    APH_ASSERT_OK(aph_safetensors_save(path, names, ts, 3, NULL));

    aph_graph* g = et_graph();
    et_input(g, "w1", "weight", APH_DTYPE_F32, SHAPE(4, 8));
    NODE(g, "w2", "weight", "shape=[3];key=\"layer.w2\"", NULL);
    NODE(g, "s", "sum", NULL, "w1");
    NODE(g, "o1", "output", NULL, "w1");
    NODE(g, "o2", "output", NULL, "w2");
    NODE(g, "os", "output", NULL, "s");
    aph_executor* ex = et_exec(g, NULL);
    APH_ASSERT_OK(aph_executor_load_weights(ex, path));
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* o1 = et_result(ex, "o1");
    et_assert_same(o1, w1, "w1 from the file");
    et_assert_same(et_result(ex, "o2"), w2, "layer.w2 from the file");
    aph_tensor* s = et_out(APH_DTYPE_F32, SHAPE(4));
    APH_ASSERT_OK(aph_op_reduce(APH_REDUCE_SUM, w1, -1, 0, s, NULL));
    et_assert_same(et_result(ex, "os"), s, "sum of a loaded weight");

    aph_safetensors* file = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &file));
    aph_tensor* fw1 = NULL;
    APH_ASSERT_OK(aph_safetensors_tensor(file, "w1", ot_device(), &fw1));
    et_keep(fw1);
    et_assert_same(o1, fw1, "w1 as aph_safetensors_tensor reads it");
    if (is_cpu()) {
        /* Zero-copy: both point into mappings of the file, at the same file offset. */
        assert_int_equal(aph_tensor_is_read_only(o1), 1);
        const long long off_exec = mapped_offset(aph_tensor_data(o1), path);
        const long long off_file = mapped_offset(aph_tensor_data(fw1), path);
        assert_true(off_exec >= 8);
        assert_int_equal(off_exec, off_file);
    }
    aph_safetensors_release(file);
    aph_executor_release(ex);
    aph_graph_release(g);

    /* A tensor the file does not have: nothing is bound (w1 keeps what set_weight bound). */
    g = et_graph();
    et_input(g, "w1", "weight", APH_DTYPE_F32, SHAPE(4, 8));
    et_input(g, "w3", "weight", APH_DTYPE_F32, SHAPE(2, 2));
    NODE(g, "o1", "output", NULL, "w1");
    NODE(g, "o3", "output", NULL, "w3");
    ex = et_exec(g, NULL);
    snprintf(g_msg, sizeof g_msg, "not found: %s: no tensor 'w3' for weight node 2 'w3'", path);
    APH_ASSERT_ERR(aph_executor_load_weights(ex, path), APH_ERR_NOT_FOUND, g_msg);
    APH_ASSERT_ERR(aph_executor_run(ex), APH_ERR_INVALID_STATE,
                   "invalid state: weight node 1 \'w1\' is not bound (aph_executor_set_weight or "
                   "aph_executor_load_weights)");
    aph_tensor* mine = et_rand(APH_DTYPE_F32, SHAPE(4, 8), -1, 1);
    aph_tensor* mine3 = et_rand(APH_DTYPE_F32, SHAPE(2, 2), -1, 1);
    et_setw(ex, "w1", mine);
    et_setw(ex, "w3", mine3);
    APH_ASSERT_ERR(aph_executor_load_weights(ex, path), APH_ERR_NOT_FOUND, g_msg);
    APH_ASSERT_OK(aph_executor_run(ex));
    et_assert_same(et_result(ex, "o1"), mine, "binding kept after a failed load");
    if (is_cpu()) assert_ptr_equal(aph_tensor_data(et_result(ex, "o1")), aph_tensor_data(mine));
    /* An unreadable file. */
    assert_int_equal(aph_executor_load_weights(ex, "/nonexistent/weights.safetensors"), APH_ERR_IO);
    assert_non_null(strstr(aph_last_error(), "/nonexistent/weights.safetensors"));
    aph_executor_release(ex);
    aph_graph_release(g);

    /* Wrong shape, wrong dtype: both named. */
    g = et_graph();
    et_input(g, "w1", "weight", APH_DTYPE_F32, SHAPE(8, 4));
    NODE(g, "o1", "output", NULL, "w1");
    ex = et_exec(g, NULL);
    snprintf(g_msg, sizeof g_msg,
             "serialization error: %s: tensor 'w1' is f32 [4, 8], but weight node 1 'w1' is f32 [8, 4]", path);
    APH_ASSERT_ERR(aph_executor_load_weights(ex, path), APH_ERR_SERIALIZATION, g_msg);
    aph_executor_release(ex);
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "w1", "weight", APH_DTYPE_BF16, SHAPE(4, 8));
    NODE(g, "o1", "output", NULL, "w1");
    ex = et_exec(g, NULL);
    snprintf(g_msg, sizeof g_msg,
             "serialization error: %s: tensor 'w1' is f32 [4, 8], but weight node 1 'w1' is bf16 [4, 8]", path);
    APH_ASSERT_ERR(aph_executor_load_weights(ex, path), APH_ERR_SERIALIZATION, g_msg);
    aph_executor_release(ex);
    aph_graph_release(g);
    unlink(path);
    et_pool_release();
}

/* ============================================================================================
 * Pipelines: check, plan, execute, the "run" preset
 * ========================================================================================== */

static aph_graph* mlp_graph(void) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(4, 16));
    et_input(g, "w1", "weight", APH_DTYPE_F32, SHAPE(32, 16));
    et_input(g, "b1", "weight", APH_DTYPE_F32, SHAPE(32));
    et_input(g, "w2", "weight", APH_DTYPE_F32, SHAPE(8, 32));
    et_input(g, "b2", "weight", APH_DTYPE_F32, SHAPE(8));
    NODE(g, "h", "linear", NULL, "x,w1,b1");
    NODE(g, "a", "gelu", NULL, "h");
    NODE(g, "y", "linear", NULL, "a,w2,b2");
    NODE(g, "p", "softmax", NULL, "y");
    NODE(g, "probs", "output", NULL, "p");
    return g;
}

/* The index of the first event with this id in sink, or -1. */
static long find_event(const aph_trace_sink* sink, const char* id, aph_trace_event* out) {
    for (size_t i = 0; i < aph_trace_sink_event_count(sink); ++i) {
        memset(out, 0, sizeof *out);
        out->struct_size = sizeof *out;
        APH_ASSERT_OK(aph_trace_sink_event(sink, i, out));
        if (strcmp(out->id, id) == 0) return (long)i;
    }
    return -1;
}

/* A new reference to ctx's executor (the caller releases it). */
static aph_executor* ctx_executor(const aph_build_context* ctx) {
    aph_executor* ex = NULL;
    APH_ASSERT_OK(aph_build_context_executor(ctx, &ex));
    assert_non_null(ex);
    return ex;
}

/* Asserts ctx has no executor yet: APH_ERR_INVALID_STATE, and out untouched. */
static void assert_no_ctx_executor(const aph_build_context* ctx) {
    aph_executor* ex = (aph_executor*)0x1;
    APH_ASSERT_ERR(aph_build_context_executor(ctx, &ex), APH_ERR_INVALID_STATE,
                   "invalid state: the context has no executor yet: run a pipeline with the plan stage first");
    assert_ptr_equal(ex, (aph_executor*)0x1);
}

/* got within f32 rounding of want (same shape). */
static void assert_close_to(const aph_tensor* got, const aph_tensor* want, const char* what) {
    assert_int_equal(aph_tensor_numel(got), aph_tensor_numel(want));
    double* g = ot_read(got);
    double* w = ot_read(want);
    ot_assert_close(g, w, (size_t)aph_tensor_numel(want), APH_DTYPE_F32, 1.0, what);
    free(g);
    free(w);
}

static void test_pipeline_run(void** state) {
    (void)state;
    char path[128];
    tmp_path(path, sizeof path, "pipeline");
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(4, 16), -2, 2);
    aph_tensor* w1 = et_rand(APH_DTYPE_F32, SHAPE(32, 16), -0.5, 0.5);
    aph_tensor* b1 = et_rand(APH_DTYPE_F32, SHAPE(32), -0.5, 0.5);
    aph_tensor* w2 = et_rand(APH_DTYPE_F32, SHAPE(8, 32), -0.5, 0.5);
    aph_tensor* b2 = et_rand(APH_DTYPE_F32, SHAPE(8), -0.5, 0.5);
    const char* names[4] = {"w1", "b1", "w2", "b2"};
    const aph_tensor* ts[4] = {w1, b1, w2, b2};
    APH_ASSERT_OK(aph_safetensors_save(path, names, ts, 4, "{\"format\":\"pt\"}"));

    aph_graph* g = mlp_graph();
    aph_trace_sink* sink = NULL;
    APH_ASSERT_OK(aph_trace_sink_memory(&sink));
    aph_build_context* ctx = NULL;
    APH_ASSERT_OK(aph_build_context_create(ot_device(), sink, NULL, &ctx));
    APH_ASSERT_OK(aph_build_context_set_input(ctx, "x", x));
    APH_ASSERT_OK(aph_build_context_set_weights_file(ctx, path));
    assert_no_ctx_executor(ctx);

    aph_pipeline* p = NULL;
    APH_ASSERT_OK(aph_pipeline_preset("run", &p));
    const char* stages[5] = {"validation", "check", "hashing", "plan", "execute"};
    assert_int_equal(aph_pipeline_stage_count(p), 5);
    for (size_t i = 0; i < 5; ++i) assert_string_equal(aph_pipeline_stage_name(p, i), stages[i]);
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));

    aph_executor* ex = ctx_executor(ctx);
    assert_int_equal(aph_executor_run_count(ex), 1);
    aph_tensor* h = et_out(APH_DTYPE_F32, SHAPE(4, 32));
    aph_tensor* y = et_out(APH_DTYPE_F32, SHAPE(4, 8));
    APH_ASSERT_OK(aph_op_linear(x, w1, b1, h, NULL));
    APH_ASSERT_OK(aph_op_unary(APH_UNARY_GELU, h, h, NULL));
    APH_ASSERT_OK(aph_op_linear(h, w2, b2, y, NULL));
    APH_ASSERT_OK(aph_op_softmax(y, y, NULL));
    /* The weights come from a file, memory-mapped and read-only: the executor's f32 linear
     * layers run on a packed copy, which sums in another order than aph_op_linear (header:
     * aph_matmul_precision), so the two agree to f32 rounding rather than bit for bit. */
    assert_close_to(et_result(ex, "probs"), y, "the run preset's output");

    /* Spans: one "stage" per stage in order, one "node" per computing node in execution order
     * (during execute), and the executor's "run". */
    const char* node_names[4] = {"h", "a", "y", "p"};
    size_t n_stage = 0, n_node = 0, n_run = 0;
    for (size_t i = 0; i < aph_trace_sink_span_count(sink); ++i) {
        aph_trace_span sp;
        memset(&sp, 0, sizeof sp);
        sp.struct_size = sizeof sp;
        APH_ASSERT_OK(aph_trace_sink_span(sink, i, &sp));
        if (strcmp(sp.category, "stage") == 0) {
            assert_true(n_stage < 5);
            assert_string_equal(sp.name, stages[n_stage++]);
        } else if (strcmp(sp.category, "node") == 0) {
            assert_true(n_node < 4);
            assert_int_equal(n_stage, 4); /* inside execute, which records its span after */
            assert_string_equal(sp.name, node_names[n_node++]);
        } else if (strcmp(sp.category, "run") == 0) {
            ++n_run;
        } else {
            fail_msg("unexpected span category %s", sp.category);
        }
    }
    assert_int_equal(n_stage, 5);
    assert_int_equal(n_node, 4);
    assert_int_equal(n_run, 1);

    /* Events of the stages. */
    const aph_plan_info pi = et_plan(ex);
    aph_trace_event ev;
    assert_true(find_event(sink, "stage.validation", &ev) >= 0);
    assert_string_equal(ev.message, "validated 10 nodes");
    assert_true(find_event(sink, "stage.check", &ev) >= 0);
    assert_string_equal(ev.message, "checked 10 nodes");
    assert_true(find_event(sink, "stage.plan", &ev) >= 0);
    snprintf(g_msg, sizeof g_msg, "planned %zu buffers, peak %llu bytes", pi.buffers,
             (unsigned long long)pi.total_bytes);
    assert_string_equal(ev.message, g_msg);
    assert_int_equal(ev.level, APH_TRACE_INFO);
    assert_true(find_event(sink, "stage.execute", &ev) >= 0);
    assert_string_equal(ev.message, "executed 4 steps (run 1)");

    /* Running again plans a new executor. The reference taken before stays valid (0.1 handed
     * out a borrowed pointer that the re-plan freed): its run count and outputs are its own. */
    aph_tensor* first_probs = et_result(ex, "probs");
    APH_ASSERT_OK(aph_pipeline_run(p, ctx, g));
    aph_executor* ex2 = ctx_executor(ctx);
    assert_ptr_not_equal(ex2, ex);
    assert_int_equal(aph_executor_run_count(ex2), 1);
    et_assert_same(et_result(ex2, "probs"), first_probs, "second pipeline run (the same as the first)");
    assert_int_equal(aph_executor_run_count(ex), 1);
    assert_close_to(et_result(ex, "probs"), y, "the first executor after the re-plan");
    assert_close_to(first_probs, y, "the first executor's output after the re-plan");
    APH_ASSERT_OK(aph_executor_run(ex)); /* still a working executor */
    assert_int_equal(aph_executor_run_count(ex), 2);
    aph_executor_release(ex);
    aph_executor_release(ex2);

    aph_pipeline_release(p);
    aph_build_context_release(ctx);
    aph_trace_sink_release(sink);
    aph_graph_release(g);
    unlink(path);
    et_pool_release();
}

static void test_pipeline_stage_errors(void** state) {
    (void)state;
    aph_pipeline* check = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&check));
    APH_ASSERT_OK(aph_pipeline_add_builtin(check, "check"));
    aph_build_context* ctx = NULL;
    aph_trace_sink* sink = NULL;
    APH_ASSERT_OK(aph_trace_sink_memory(&sink));
    APH_ASSERT_OK(aph_build_context_create(ot_device(), sink, NULL, &ctx));

    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    NODE(g, "f", "frobnicate", NULL, "x");
    APH_ASSERT_ERR(aph_pipeline_run(check, ctx, g), APH_ERR_GRAPH,
                   "graph error: node 2 'f' (frobnicate): unknown operation 'frobnicate' (neither built in nor "
                   "registered with aph_custom_op_register) (stage: check)");
    aph_graph_release(g);

    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 8));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(4, 6));
    NODE(g, "l", "linear", NULL, "x,w");
    APH_ASSERT_ERR(aph_pipeline_run(check, ctx, g), APH_ERR_DIMENSION_MISMATCH,
                   "dimension mismatch: node 3 'l' (linear): x [2, 8] and weight [4, 6]: x's last dimension 8 "
                   "differs from weight's K 6 (weight is [N, K]) (stage: check)");
    aph_graph_release(g);
    assert_no_ctx_executor(ctx);

    /* A good graph passes the check (nothing is planned by it). */
    g = mlp_graph();
    APH_ASSERT_OK(aph_pipeline_run(check, ctx, g));
    assert_no_ctx_executor(ctx);
    aph_trace_event ev;
    assert_true(find_event(sink, "stage.check", &ev) >= 0);
    assert_string_equal(ev.message, "checked 10 nodes");

    /* execute before plan. */
    aph_pipeline* exec_only = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&exec_only));
    APH_ASSERT_OK(aph_pipeline_add_builtin(exec_only, "execute"));
    APH_ASSERT_ERR(aph_pipeline_run(exec_only, ctx, g), APH_ERR_INVALID_STATE,
                   "invalid state: the execute stage needs the plan stage to run before it (stage: execute)");

    /* plan, then execute without inputs or weights. */
    aph_pipeline* pe = NULL;
    APH_ASSERT_OK(aph_pipeline_create(&pe));
    APH_ASSERT_OK(aph_pipeline_add_builtin(pe, "plan"));
    APH_ASSERT_OK(aph_pipeline_add_builtin(pe, "execute"));
    APH_ASSERT_ERR(aph_pipeline_run(pe, ctx, g), APH_ERR_INVALID_STATE,
                   "invalid state: input node 1 'x' is not bound (aph_executor_set_input) (stage: execute)");
    aph_executor* planned = ctx_executor(ctx);
    assert_int_equal(aph_executor_run_count(planned), 0);
    aph_executor_release(planned);
    /* An input the graph does not have. */
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(4, 16), -1, 1);
    APH_ASSERT_OK(aph_build_context_set_input(ctx, "nope", x));
    APH_ASSERT_ERR(aph_pipeline_run(pe, ctx, g), APH_ERR_NOT_FOUND,
                   "not found: the graph has no input node named 'nope' (stage: execute)");
    aph_build_context_release(ctx);

    /* plan with a budget the plan does not fit: no executor. */
    aph_tracker* tr = NULL;
    APH_ASSERT_OK(aph_tracker_create(1000, &tr));
    APH_ASSERT_OK(aph_build_context_create(ot_device(), sink, tr, &ctx));
    aph_executor* probe = et_exec(g, NULL);
    const aph_plan_info pi = et_plan(probe);
    aph_executor_release(probe);
    snprintf(g_msg, sizeof g_msg,
             "out of memory: the memory plan needs %llu bytes at its peak, over the budget of 1000 bytes (0 bytes "
             "already tracked) (stage: plan)",
             (unsigned long long)pi.total_bytes);
    APH_ASSERT_ERR(aph_pipeline_run(pe, ctx, g), APH_ERR_OUT_OF_MEMORY, g_msg);
    assert_no_ctx_executor(ctx);
    assert_int_equal(aph_tracker_allocated_bytes(tr), 0);

    aph_build_context_release(ctx);
    aph_tracker_release(tr);
    aph_pipeline_release(pe);
    aph_pipeline_release(exec_only);
    aph_pipeline_release(check);
    aph_trace_sink_release(sink);
    aph_graph_release(g);
    et_pool_release();
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp),
        cmocka_unit_test(test_llama_block),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_scalar_binary),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_layer_norm),
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_gru_cell),
        cmocka_unit_test(test_quantized),
        cmocka_unit_test(test_repeated_runs),
        cmocka_unit_test(test_profile_trace_stream),
        cmocka_unit_test(test_strided_input),
        cmocka_unit_test(test_empty_graph_and_run_errors),
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_binding_errors),
        cmocka_unit_test(test_numerics_check),
        cmocka_unit_test(test_custom_op),
        cmocka_unit_test(test_custom_op_cpu_only),
        cmocka_unit_test(test_f64_on_cuda),
        cmocka_unit_test(test_bindings_copied),
        cmocka_unit_test(test_creation_checks),
        cmocka_unit_test(test_custom_op_replace),
        cmocka_unit_test(test_custom_op_register_errors),
        cmocka_unit_test(test_load_weights),
        cmocka_unit_test(test_pipeline_run),
        cmocka_unit_test(test_pipeline_stage_errors),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
