/* The executor's matmul_precision (header section 20, aph_matmul_precision) on the CPU: BF16 and
 * INT8 run linear nodes with weight operands in their precision (close to f32, and not equal to
 * it: the conversion really happens), linear nodes whose weight is an input stay f32 bit for bit,
 * binding a weight again converts it again, struct_size before the field means F32, values
 * outside the enum are refused. Where the processor lacks AVX512_BF16 / AVX512_VNNI, or
 * APHELION_CPU_ISA caps the kernels below AVX-512 (test_executor_precision_isa_avx2), creation
 * is APH_ERR_NOT_IMPLEMENTED naming the missing instructions. */
#include "exec_test_util.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static aph_graph* make_graph(void) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 9, 40));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(23, 40));
    et_input(g, "b", "weight", APH_DTYPE_F32, SHAPE(23));
    et_input(g, "wi", "input", APH_DTYPE_F32, SHAPE(23, 40));
    NODE(g, "h", "linear", NULL, "x,w,b");
    NODE(g, "a", "gelu", NULL, "h");
    NODE(g, "y", "output", NULL, "a");
    NODE(g, "hi", "linear", NULL, "x,wi");
    NODE(g, "z", "output", NULL, "hi");
    return g;
}

/* max |got - want| and max |want| over the elements. */
static void diff(const aph_tensor* got, const aph_tensor* want, double* maxdiff, double* maxabs) {
    double* g = ot_read(got);
    double* w = ot_read(want);
    *maxdiff = 0;
    *maxabs = 0;
    for (int64_t i = 0; i < aph_tensor_numel(want); ++i) {
        const double d = fabs(g[i] - w[i]);
        if (!(d <= *maxdiff)) *maxdiff = d;
        if (fabs(w[i]) > *maxabs) *maxabs = fabs(w[i]);
    }
    free(g);
    free(w);
}

static int capped(void) {
    const char* isa = getenv("APHELION_CPU_ISA");
    return isa != NULL && (strcmp(isa, "avx2") == 0 || strcmp(isa, "generic") == 0);
}

static void check_precision(aph_matmul_precision p, double rel_tol) {
    aph_graph* g = make_graph();
    aph_executor_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.matmul_precision = p;
    aph_executor* ex = NULL;
    const aph_status st = aph_executor_create(g, ot_device(), &o, &ex);
    if (st == APH_ERR_NOT_IMPLEMENTED) {
        /* Only where the instructions are missing, and then saying which. */
        assert_non_null(strstr(aph_last_error(), p == APH_MATMUL_PRECISION_BF16 ? "AVX512_BF16" : "AVX512_VNNI"));
        assert_null(ex);
        print_message("precision %d not available here: %s\n", (int)p, aph_last_error());
        aph_graph_release(g);
        return;
    }
    APH_ASSERT_OK(st);
    if (p != APH_MATMUL_PRECISION_F32) assert_false(capped()); /* refused when capped */

    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(2, 9, 40), -2, 2);
    aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(23, 40), -0.5, 0.5);
    aph_tensor* w2 = et_rand(APH_DTYPE_F32, SHAPE(23, 40), -0.5, 0.5);
    aph_tensor* b = et_rand(APH_DTYPE_F32, SHAPE(23), -0.5, 0.5);
    aph_tensor* wi = et_rand(APH_DTYPE_F32, SHAPE(23, 40), -0.5, 0.5);
    et_set(ex, "x", x);
    et_setw(ex, "w", w);
    et_setw(ex, "b", b);
    et_set(ex, "wi", wi);

    for (int round = 0; round < 3; ++round) {
        /* Round 1 binds another weight: its conversion must replace the first one's. */
        aph_tensor* wr = round == 1 || round == 2 ? w2 : w;
        if (round == 1) et_setw(ex, "w", w2);
        if (round > 0) et_set(ex, "x", x);
        if (round > 0) et_set(ex, "wi", wi);
        APH_ASSERT_OK(aph_executor_run(ex));
        aph_tensor* h = et_out(APH_DTYPE_F32, SHAPE(2, 9, 23));
        aph_tensor* a = et_out(APH_DTYPE_F32, SHAPE(2, 9, 23));
        aph_tensor* hi = et_out(APH_DTYPE_F32, SHAPE(2, 9, 23));
        APH_ASSERT_OK(aph_op_linear(x, wr, b, h, NULL));
        APH_ASSERT_OK(aph_op_unary(APH_UNARY_GELU, h, a, NULL));
        APH_ASSERT_OK(aph_op_linear(x, wi, NULL, hi, NULL));
        double d = 0, mag = 0;
        diff(et_result(ex, "y"), a, &d, &mag);
        if (p == APH_MATMUL_PRECISION_F32) {
            et_assert_same(et_result(ex, "y"), a, "f32 linear");
        } else {
            if (!(d <= rel_tol * mag))
                fail_msg("precision %d round %d: max diff %.3g, max |y| %.3g", (int)p, round, d, mag);
            assert_true(d > 0); /* converted, not f32 */
        }
        /* The linear with an input as its weight stays f32. */
        et_assert_same(et_result(ex, "z"), hi, "linear with an input weight");
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_f32(void** state) {
    (void)state;
    check_precision(APH_MATMUL_PRECISION_F32, 0);
}
static void test_bf16(void** state) {
    (void)state;
    check_precision(APH_MATMUL_PRECISION_BF16, 0.02);
}
static void test_int8(void** state) {
    (void)state;
    check_precision(APH_MATMUL_PRECISION_INT8, 0.05);
}

/* Fusions on the CPU (a linear's only reader, gelu or a residual add, computed in its epilogue):
 * the executor's outputs equal the eager operations composed by hand bit for bit, with the
 * residual on either side, a linear read twice (not fused), at few rows (the fused f32 kernel)
 * and at many (OpenBLAS: not fused), and in bf16 close to the f32 composition. */
static void fusion_case(int64_t rows, aph_matmul_precision p) {
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(rows, 40));
    et_input(g, "w1", "weight", APH_DTYPE_F32, SHAPE(64, 40));
    et_input(g, "b1", "weight", APH_DTYPE_F32, SHAPE(64));
    et_input(g, "w2", "weight", APH_DTYPE_F32, SHAPE(40, 64));
    et_input(g, "w3", "weight", APH_DTYPE_F32, SHAPE(40, 40));
    et_input(g, "w4", "weight", APH_DTYPE_F32, SHAPE(40, 40));
    NODE(g, "h", "linear", NULL, "x,w1,b1");
    NODE(g, "a", "gelu", NULL, "h");
    NODE(g, "y", "linear", NULL, "a,w2");
    NODE(g, "r", "add", NULL, "x,y"); /* the residual first */
    NODE(g, "z", "linear", NULL, "r,w3");
    NODE(g, "q", "add", NULL, "z,r"); /* the residual second */
    NODE(g, "out", "output", NULL, "q");
    NODE(g, "u", "linear", NULL, "x,w4"); /* read twice: not fused */
    NODE(g, "v1", "gelu", NULL, "u");
    NODE(g, "v2", "add", NULL, "u,x");
    NODE(g, "out_v1", "output", NULL, "v1");
    NODE(g, "out_v2", "output", NULL, "v2");

    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(rows, 40), -2, 2);
    aph_tensor* w1 = et_rand(APH_DTYPE_F32, SHAPE(64, 40), -0.3, 0.3);
    aph_tensor* b1 = et_rand(APH_DTYPE_F32, SHAPE(64), -0.5, 0.5);
    aph_tensor* w2 = et_rand(APH_DTYPE_F32, SHAPE(40, 64), -0.3, 0.3);
    aph_tensor* w3 = et_rand(APH_DTYPE_F32, SHAPE(40, 40), -0.3, 0.3);
    aph_tensor* w4 = et_rand(APH_DTYPE_F32, SHAPE(40, 40), -0.3, 0.3);
    aph_executor_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.matmul_precision = p;
    aph_executor* ex = NULL;
    if (aph_executor_create(g, ot_device(), &o, &ex) == APH_ERR_NOT_IMPLEMENTED) {
        aph_graph_release(g);
        return; /* no AVX512_BF16 here (test_bf16 checks the message) */
    }
    et_set(ex, "x", x);
    et_setw(ex, "w1", w1);
    et_setw(ex, "b1", b1);
    et_setw(ex, "w2", w2);
    et_setw(ex, "w3", w3);
    et_setw(ex, "w4", w4);
    for (int run = 0; run < 2; ++run) {
        if (run > 0) et_set(ex, "x", x);
        APH_ASSERT_OK(aph_executor_run(ex));
        aph_tensor* h = et_out(APH_DTYPE_F32, SHAPE(rows, 64));
        aph_tensor* a = et_out(APH_DTYPE_F32, SHAPE(rows, 64));
        aph_tensor* y = et_out(APH_DTYPE_F32, SHAPE(rows, 40));
        aph_tensor* r = et_out(APH_DTYPE_F32, SHAPE(rows, 40));
        aph_tensor* z = et_out(APH_DTYPE_F32, SHAPE(rows, 40));
        aph_tensor* q = et_out(APH_DTYPE_F32, SHAPE(rows, 40));
        aph_tensor* u = et_out(APH_DTYPE_F32, SHAPE(rows, 40));
        aph_tensor* v1 = et_out(APH_DTYPE_F32, SHAPE(rows, 40));
        aph_tensor* v2 = et_out(APH_DTYPE_F32, SHAPE(rows, 40));
        APH_ASSERT_OK(aph_op_linear(x, w1, b1, h, NULL));
        APH_ASSERT_OK(aph_op_unary(APH_UNARY_GELU, h, a, NULL));
        APH_ASSERT_OK(aph_op_linear(a, w2, NULL, y, NULL));
        APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, x, y, r, NULL));
        APH_ASSERT_OK(aph_op_linear(r, w3, NULL, z, NULL));
        APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, z, r, q, NULL));
        APH_ASSERT_OK(aph_op_linear(x, w4, NULL, u, NULL));
        APH_ASSERT_OK(aph_op_unary(APH_UNARY_GELU, u, v1, NULL));
        APH_ASSERT_OK(aph_op_binary(APH_BINARY_ADD, u, x, v2, NULL));
        if (p == APH_MATMUL_PRECISION_F32) {
            et_assert_same(et_result(ex, "out"), q, "fused chain");
            et_assert_same(et_result(ex, "out_v1"), v1, "linear read twice, gelu");
            et_assert_same(et_result(ex, "out_v2"), v2, "linear read twice, add");
        } else {
            double d = 0, mag = 0;
            diff(et_result(ex, "out"), q, &d, &mag);
            if (!(d <= 0.02 * mag)) fail_msg("bf16 fused chain: max diff %.3g, max |q| %.3g", d, mag);
            diff(et_result(ex, "out_v2"), v2, &d, &mag);
            if (!(d <= 0.02 * mag)) fail_msg("bf16 linear read twice: max diff %.3g, max |v2| %.3g", d, mag);
        }
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_fusions(void** state) {
    (void)state;
    fusion_case(6, APH_MATMUL_PRECISION_F32);
    fusion_case(600, APH_MATMUL_PRECISION_F32); /* above the fused f32 kernel's rows: OpenBLAS */
    fusion_case(37, APH_MATMUL_PRECISION_BF16);
}

/* F32 with read-only weights (loaded from a safetensors file: memory-mapped) runs on a packed
 * copy: close to the eager operation on the same weights, and a new file's weights are packed
 * again. */
static void test_f32_read_only_weights(void** state) {
    (void)state;
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(5, 70));
    et_input(g, "w", "weight", APH_DTYPE_F32, SHAPE(37, 70));
    et_input(g, "b", "weight", APH_DTYPE_F32, SHAPE(37));
    NODE(g, "h", "linear", NULL, "x,w,b");
    NODE(g, "y", "output", NULL, "h");
    aph_executor* ex = et_exec(g, NULL);
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(5, 70), -2, 2);
    for (int round = 0; round < 2; ++round) {
        aph_tensor* w = et_rand(APH_DTYPE_F32, SHAPE(37, 70), -0.5, 0.5);
        aph_tensor* b = et_rand(APH_DTYPE_F32, SHAPE(37), -0.5, 0.5);
        char path[64];
        snprintf(path, sizeof path, "/tmp/aph_precision_%d_XXXXXX", (int)getpid());
        const int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        const char* names[2] = {"w", "b"};
        const aph_tensor* ts[2] = {w, b};
        APH_ASSERT_OK(aph_safetensors_save(path, names, ts, 2, NULL));
        APH_ASSERT_OK(aph_executor_load_weights(ex, path));
        et_set(ex, "x", x);
        APH_ASSERT_OK(aph_executor_run(ex));
        aph_tensor* h = et_out(APH_DTYPE_F32, SHAPE(5, 37));
        APH_ASSERT_OK(aph_op_linear(x, w, b, h, NULL));
        double d = 0, mag = 0;
        diff(et_result(ex, "y"), h, &d, &mag);
        if (!(d <= 1e-5 * (mag + 1))) fail_msg("round %d: max diff %.3g, max |h| %.3g", round, d, mag);
        unlink(path);
    }
    aph_executor_release(ex);
    aph_graph_release(g);
    et_pool_release();
}

static void test_options(void** state) {
    (void)state;
    aph_graph* g = make_graph();
    aph_executor_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.matmul_precision = (aph_matmul_precision)3;
    aph_executor* ex = NULL;
    APH_ASSERT_ERR_CONTAINS(aph_executor_create(g, ot_device(), &o, &ex), APH_ERR_INVALID_ARGUMENT,
                            "options->matmul_precision is 3");
    assert_null(ex);
    o.matmul_precision = (aph_matmul_precision)-1;
    APH_ASSERT_ERR_CONTAINS(aph_executor_create(g, ot_device(), &o, &ex), APH_ERR_INVALID_ARGUMENT,
                            "options->matmul_precision is -1");
    /* An options struct that ends before the field: F32, whatever lies past it. */
    o.matmul_precision = (aph_matmul_precision)99;
    o.struct_size = offsetof(aph_executor_options, matmul_precision);
    APH_ASSERT_OK(aph_executor_create(g, ot_device(), &o, &ex));
    aph_executor_release(ex);
    aph_graph_release(g);
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_fusions),
        cmocka_unit_test(test_f32_read_only_weights),
        cmocka_unit_test(test_options),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
