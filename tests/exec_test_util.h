/* Helpers shared by the executor tests (test_executor*.c): graphs built through the C API from
 * short parameter strings, tensors with fresh random values, bit-exact comparison, and a pool
 * of references released at the end of each test. Header-only (static functions), on top of
 * ops_test_util.h (the device under test and the seeded generator). */
#ifndef APH_EXEC_TEST_UTIL_H
#define APH_EXEC_TEST_UTIL_H

#include "ops_test_util.h"

/* ---- a pool of tensor references, released by et_pool_release() ------------------------ */

#define ET_POOL_MAX 512
static aph_tensor* et_pool[ET_POOL_MAX];
static size_t et_pool_n;

static inline aph_tensor* et_keep(aph_tensor* t) {
    assert_true(et_pool_n < ET_POOL_MAX);
    et_pool[et_pool_n++] = t;
    return t;
}

static inline void et_pool_release(void) {
    while (et_pool_n > 0) aph_tensor_release(et_pool[--et_pool_n]);
}

/* SHAPE(2, 3) expands to a shape pointer and its length. */
#define SHAPE(...) (const int64_t[]){__VA_ARGS__}, (sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define SCALAR_SHAPE NULL, 0

/* ---- graphs ------------------------------------------------------------------------------ */

/* A configuration named op with params "key=json;key=json" (NULL: none), set one by one with
 * aph_model_config_set_json. */
static inline aph_model_config* et_config(const char* op, const char* params) {
    aph_model_config* c = NULL;
    APH_ASSERT_OK(aph_model_config_create(op, "1.0.0", &c));
    if (params != NULL) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", params);
        char* save = NULL;
        for (char* kv = strtok_r(buf, ";", &save); kv != NULL; kv = strtok_r(NULL, ";", &save)) {
            char* eq = strchr(kv, '=');
            assert_non_null(eq);
            *eq = '\0';
            APH_ASSERT_OK(aph_model_config_set_json(c, kv, eq + 1));
        }
    }
    return c;
}

/* Appends node name with configuration c (released here) and edges from the nodes named in
 * operands ("a,b,c", in order; NULL: none). Returns the node's id. */
static inline uint64_t et_add(aph_graph* g, const char* name, aph_model_config* c, const char* operands) {
    uint64_t id = 0;
    APH_ASSERT_OK(aph_graph_add_node(g, name, c, &id));
    aph_model_config_release(c);
    if (operands != NULL) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", operands);
        char* save = NULL;
        for (char* nm = strtok_r(buf, ",", &save); nm != NULL; nm = strtok_r(NULL, ",", &save)) {
            uint64_t from = 0;
            APH_ASSERT_OK(aph_graph_find_node(g, nm, &from));
            APH_ASSERT_OK(aph_graph_add_edge(g, from, id));
        }
    }
    return id;
}

#define NODE(g, name, op, params, operands) et_add((g), (name), et_config((op), (params)), (operands))

static inline aph_graph* et_graph(void) {
    aph_graph* g = NULL;
    APH_ASSERT_OK(aph_graph_create(&g));
    return g;
}

/* "shape=[a,b];dtype=\"f32\"" for an input or weight node. */
static inline const char* et_decl(char* buf, size_t size, aph_dtype dtype, const int64_t* shape, size_t ndim) {
    int n = snprintf(buf, size, "shape=[");
    for (size_t i = 0; i < ndim; ++i)
        n += snprintf(buf + n, size - (size_t)n, "%s%lld", i ? "," : "", (long long)shape[i]);
    snprintf(buf + n, size - (size_t)n, "];dtype=\"%s\"", aph_dtype_name(dtype));
    return buf;
}

/* An input (or weight) node of that dtype and shape. */
static inline uint64_t et_input(aph_graph* g, const char* name, const char* kind, aph_dtype dtype, const int64_t* shape,
                                size_t ndim) {
    char buf[256];
    return NODE(g, name, kind, et_decl(buf, sizeof buf, dtype, shape, ndim), NULL);
}

/* ---- tensors ----------------------------------------------------------------------------- */

/* Fresh random values in [lo, hi) (never 0), on the device under test, pooled. */
static inline aph_tensor* et_rand(aph_dtype dtype, const int64_t* shape, size_t ndim, double lo, double hi) {
    const int64_t n = ot_numel(shape, ndim);
    double* v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    assert_non_null(v);
    if (dtype == APH_DTYPE_I32 || dtype == APH_DTYPE_I64) {
        for (int64_t i = 0; i < n; ++i) v[i] = (double)ot_int((int64_t)lo, (int64_t)hi);
    } else {
        ot_fill(v, (size_t)n, lo, hi);
    }
    aph_tensor* t = ot_tensor(dtype, shape, ndim, v);
    free(v);
    return et_keep(t);
}

/* A poisoned (all bytes 0xFF) contiguous output for an eager operation, pooled. */
static inline aph_tensor* et_out(aph_dtype dtype, const int64_t* shape, size_t ndim) {
    return et_keep(ot_poisoned(dtype, shape, ndim));
}

/* The bytes of t, contiguous, read back to the host (caller frees). */
static inline unsigned char* et_bytes(const aph_tensor* t, size_t* nbytes) {
    aph_tensor* c = NULL;
    APH_ASSERT_OK(aph_tensor_contiguous((aph_tensor*)t, &c));
    *nbytes = (size_t)aph_tensor_nbytes(c);
    unsigned char* b = malloc(*nbytes ? *nbytes : 1);
    assert_non_null(b);
    APH_ASSERT_OK(aph_tensor_to_host(c, b, *nbytes));
    aph_tensor_release(c);
    return b;
}

/* got and want have the same dtype, shape and bytes. */
static inline void et_assert_same(const aph_tensor* got, const aph_tensor* want, const char* what) {
    assert_non_null(got);
    assert_non_null(want);
    if (aph_tensor_dtype(got) != aph_tensor_dtype(want))
        fail_msg("%s: dtype %s, want %s", what, aph_dtype_name(aph_tensor_dtype(got)),
                 aph_dtype_name(aph_tensor_dtype(want)));
    assert_int_equal(aph_tensor_ndim(got), aph_tensor_ndim(want));
    for (size_t i = 0; i < aph_tensor_ndim(got); ++i) {
        if (aph_tensor_shape(got)[i] != aph_tensor_shape(want)[i])
            fail_msg("%s: dim %zu is %lld, want %lld", what, i, (long long)aph_tensor_shape(got)[i],
                     (long long)aph_tensor_shape(want)[i]);
    }
    size_t ng = 0, nw = 0;
    unsigned char* bg = et_bytes(got, &ng);
    unsigned char* bw = et_bytes(want, &nw);
    assert_int_equal(ng, nw);
    if (memcmp(bg, bw, ng) != 0) {
        const size_t elem = aph_dtype_size(aph_tensor_dtype(got));
        size_t i = 0;
        while (i < ng && memcmp(bg + i, bw + i, elem) == 0) i += elem;
        double* vg = ot_read(got);
        double* vw = ot_read(want);
        fail_msg("%s: element %zu differs: got %.9g, want %.9g (dtype %s, APH_TEST_SEED=%llu)", what, i / elem,
                 vg[i / elem], vw[i / elem], aph_dtype_name(aph_tensor_dtype(got)), (unsigned long long)ot_seed());
    }
    free(bg);
    free(bw);
}

/* ---- executors --------------------------------------------------------------------------- */

static inline aph_executor* et_exec(const aph_graph* g, const aph_executor_options* opt) {
    aph_executor* ex = NULL;
    APH_ASSERT_OK(aph_executor_create(g, ot_device(), opt, &ex));
    assert_non_null(ex);
    return ex;
}

static inline void et_set(aph_executor* ex, const char* name, aph_tensor* t) {
    APH_ASSERT_OK(aph_executor_set_input(ex, name, t));
}

static inline void et_setw(aph_executor* ex, const char* name, aph_tensor* t) {
    APH_ASSERT_OK(aph_executor_set_weight(ex, name, t));
}

/* Output name after the last run (pooled reference). */
static inline aph_tensor* et_result(const aph_executor* ex, const char* name) {
    aph_tensor* t = NULL;
    APH_ASSERT_OK(aph_executor_output(ex, name, &t));
    assert_non_null(t);
    return et_keep(t);
}

static inline aph_plan_info et_plan(const aph_executor* ex) {
    aph_plan_info p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    APH_ASSERT_OK(aph_executor_plan_info(ex, &p));
    return p;
}

static inline aph_node_stats et_stats(const aph_executor* ex, size_t index) {
    aph_node_stats s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    APH_ASSERT_OK(aph_executor_node_stats(ex, index, &s));
    return s;
}

/* Execution index of the node named name (fails when absent). */
static inline size_t et_index(const aph_executor* ex, const char* name) {
    for (size_t i = 0; i < aph_executor_node_count(ex); ++i) {
        const aph_node_stats s = et_stats(ex, i);
        if (strcmp(s.name, name) == 0) return i;
    }
    fail_msg("no node named %s", name);
    return 0;
}

static inline uint64_t et_align(uint64_t n) { return (n + 255) / 256 * 256; }

#endif
