/* The built-in graph operations as data (header section 20: aph_op_schema_count and the
 * functions after it), checked against the three things they must agree with:
 *
 *  - the executor: a one-node graph per operation, built from its schema, is created and runs
 *    with only the required params; giving every default explicitly (the schema's JSON text)
 *    gives the same bits; a missing required param, an unknown param, a mistyped param, an
 *    enumeration value outside its list and an operand count outside [min, max] are
 *    APH_ERR_GRAPH; the node kind shows in the plan and the bindings;
 *  - the header: the table in section 20's comment, parsed, names the same operations in the
 *    same order with the same kinds, operands, params, types, defaults and allowed values;
 *  - the eager operations (section 14): a node and the eager call with the same operands pass
 *    or fail together, with the same status and message (the node named in front), including
 *    the cases where the two used to disagree.
 *
 * Runs on the device under test (ops_test_util.h): the CPU, a GPU, or the simulated module. */
#include "exec_test_util.h"

#include <stddef.h>

#ifndef APH_HEADER_PATH
#error "APH_HEADER_PATH must name include/aphelion.h"
#endif

/* ---- operand specs: "f32:2,3 i64:3 f32:" (the last one 0-dim) ---------------------------- */

#define MAX_OPERANDS 8

typedef struct {
    aph_dtype dtype;
    int64_t shape[APH_TENSOR_MAX_DIMS];
    size_t ndim;
} spec;

static size_t parse_specs(const char* text, spec* out) {
    size_t n = 0;
    if (text == NULL) return 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    char* save = NULL;
    for (char* tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        assert_true(n < MAX_OPERANDS);
        char* colon = strchr(tok, ':');
        assert_non_null(colon);
        *colon = '\0';
        APH_ASSERT_OK(aph_dtype_from_name(tok, &out[n].dtype));
        out[n].ndim = 0;
        char* save2 = NULL;
        for (char* d = strtok_r(colon + 1, ",", &save2); d != NULL; d = strtok_r(NULL, ",", &save2))
            out[n].shape[out[n].ndim++] = strtoll(d, NULL, 10);
        ++n;
    }
    return n;
}

/* A tensor of that spec with fresh random values: floats in [-1, 1), integers in [0, 2] (valid
 * ids and positions for every fixture), codes in [0, 100). Pooled. */
static aph_tensor* rand_of(const spec* s) {
    switch (s->dtype) {
        case APH_DTYPE_I32:
        case APH_DTYPE_I64: return et_rand(s->dtype, s->shape, s->ndim, 0, 2);
        case APH_DTYPE_I8:
        case APH_DTYPE_U8: return et_rand(s->dtype, s->shape, s->ndim, 1, 100);
        default: return et_rand(s->dtype, s->shape, s->ndim, -1, 1);
    }
}

static aph_tensor* poisoned_of(const spec* s) { return et_out(s->dtype, s->shape, s->ndim); }

/* ---- one-node graphs ------------------------------------------------------------------- */

/* Adds an input node "i<k>" per operand spec, then node "n" running op with params and those
 * operands (the first n_operands of them), then output "y" reading it (unless op is itself an
 * output). Returns the graph; *op_id is node n's id. */
static aph_graph* one_node(const char* op, const char* params, const spec* specs, size_t n_specs, size_t n_operands,
                           uint64_t* op_id) {
    aph_graph* g = et_graph();
    char names[MAX_OPERANDS * 4] = "";
    for (size_t i = 0; i < n_specs; ++i) {
        char nm[24];
        snprintf(nm, sizeof nm, "i%zu", i);
        et_input(g, nm, "input", specs[i].dtype, specs[i].shape, specs[i].ndim);
        if (i < n_operands) {
            if (i > 0) strcat(names, ",");
            strcat(names, nm);
        }
    }
    *op_id = NODE(g, "n", op, params, n_operands > 0 ? names : NULL);
    if (strcmp(op, "output") != 0) NODE(g, "y", "output", NULL, "n");
    return g;
}

/* "prefix: node ID 'n' (op): rest" from an eager message "prefix: rest". */
static void node_message(char* buf, size_t size, const char* eager_msg, uint64_t id, const char* op) {
    const char* colon = strstr(eager_msg, ": ");
    assert_non_null(colon);
    snprintf(buf, size, "%.*snode %llu 'n' (%s): %s", (int)(colon + 2 - eager_msg), eager_msg, (unsigned long long)id,
             op, colon + 2);
}

/* ---- the schema API ------------------------------------------------------------------------ */

static aph_op_schema schema_at(size_t i) {
    aph_op_schema s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    APH_ASSERT_OK(aph_op_get_schema(i, &s));
    return s;
}

static aph_op_param param_at(size_t op, size_t i) {
    aph_op_param p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    APH_ASSERT_OK(aph_op_get_param(op, i, &p));
    return p;
}

/* A valid JSON value: aph_model_config_set_json parses it. */
static void assert_json(const char* json) {
    aph_model_config* c = NULL;
    APH_ASSERT_OK(aph_model_config_create("probe", "1.0.0", &c));
    if (aph_model_config_set_json(c, "v", json) != APH_OK) fail_msg("not JSON: %s (%s)", json, aph_last_error());
    aph_model_config_release(c);
}

static void test_schema_api(void** state) {
    (void)state;
    const size_t n = aph_op_schema_count();
    assert_true(n > 0);
    for (size_t i = 0; i < n; ++i) {
        const aph_op_schema s = schema_at(i);
        assert_int_equal(s.struct_size, sizeof s);
        assert_non_null(s.name);
        assert_true(s.name[0] != '\0');
        assert_int_equal(s.index, i);
        assert_true((int)s.kind >= APH_NODE_INPUT && (int)s.kind <= APH_NODE_COMPUTE);
        assert_true(s.min_operands <= s.max_operands);
        if (s.max_operands == 0) assert_null(s.operand_names);
        for (size_t k = 0; k < s.max_operands; ++k) {
            assert_non_null(s.operand_names[k]);
            assert_true(s.operand_names[k][0] != '\0');
        }
        /* Unique names, and find returns the same entry. */
        for (size_t j = 0; j < i; ++j) assert_string_not_equal(schema_at(j).name, s.name);
        aph_op_schema f;
        memset(&f, 0xAB, sizeof f);
        f.struct_size = sizeof f;
        APH_ASSERT_OK(aph_op_schema_find(s.name, &f));
        assert_memory_equal(&f, &s, sizeof s);
        for (size_t k = 0; k < s.param_count; ++k) {
            const aph_op_param p = param_at(i, k);
            assert_non_null(p.name);
            assert_true(p.name[0] != '\0');
            for (size_t j = 0; j < k; ++j) assert_string_not_equal(param_at(i, j).name, p.name);
            assert_true((int)p.type >= APH_PARAM_INT && (int)p.type <= APH_PARAM_SYMBOLIC_SHAPE);
            assert_true(p.required == 0 || p.required == 1);
            if (p.required) assert_null(p.default_json);
            if (p.default_json != NULL) assert_json(p.default_json);
            if (p.allowed_values == NULL) {
                assert_int_equal(p.allowed_count, 0);
            } else {
                assert_int_equal(p.type, APH_PARAM_STRING);
                assert_true(p.allowed_count > 0);
                /* An enumeration's default is one of its values. */
                if (p.default_json != NULL) {
                    int found = 0;
                    for (size_t v = 0; v < p.allowed_count; ++v) {
                        char quoted[64];
                        snprintf(quoted, sizeof quoted, "\"%s\"", p.allowed_values[v]);
                        found |= strcmp(quoted, p.default_json) == 0;
                    }
                    assert_true(found);
                }
            }
        }
    }

    /* The enumerations' strings are the C enums' values in order. */
    aph_op_schema s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    APH_ASSERT_OK(aph_op_schema_find("bias_activation", &s));
    aph_op_param p = param_at(s.index, 0);
    assert_string_equal(p.name, "activation");
    assert_int_equal(p.allowed_count, 6);
    assert_string_equal(p.allowed_values[APH_ACTIVATION_GELU_TANH], "gelu_tanh");
    APH_ASSERT_OK(aph_op_schema_find("rope", &s));
    p = param_at(s.index, 1);
    assert_string_equal(p.name, "layout");
    assert_string_equal(p.allowed_values[APH_ROPE_HALF], "half");
    assert_string_equal(p.allowed_values[APH_ROPE_INTERLEAVED], "interleaved");
    APH_ASSERT_OK(aph_op_schema_find("dequantize", &s));
    p = param_at(s.index, 0);
    assert_string_equal(p.name, "scheme");
    assert_int_equal(p.required, 1);
    assert_string_equal(p.allowed_values[APH_QUANT_NF4], "nf4");
    APH_ASSERT_OK(aph_op_schema_find("layer_norm", &s));
    assert_int_equal(s.kind, APH_NODE_COMPUTE);
    assert_int_equal(s.min_operands, 2);
    assert_int_equal(s.max_operands, 3);
    assert_string_equal(s.operand_names[2], "bias");
    p = param_at(s.index, 0);
    assert_string_equal(p.name, "eps");
    assert_int_equal(p.type, APH_PARAM_FLOAT);
    assert_string_equal(p.default_json, "1e-5");
    APH_ASSERT_OK(aph_op_schema_find("slice", &s));
    assert_int_equal(s.kind, APH_NODE_VIEW);

    /* Errors: nothing written. */
    aph_op_schema keep;
    memset(&keep, 0x5A, sizeof keep);
    keep.struct_size = sizeof keep;
    aph_op_schema o = keep;
    char msg[160];
    snprintf(msg, sizeof msg, "invalid argument: index %zu is out of range (%zu built-in operations)", n, n);
    APH_ASSERT_ERR(aph_op_get_schema(n, &o), APH_ERR_INVALID_ARGUMENT, msg);
    assert_memory_equal(&o, &keep, sizeof o);
    APH_ASSERT_ERR(aph_op_schema_find("frobnicate", &o), APH_ERR_NOT_FOUND,
                   "not found: built-in operation 'frobnicate'");
    assert_memory_equal(&o, &keep, sizeof o);
    APH_ASSERT_ERR(aph_op_schema_find(NULL, &o), APH_ERR_INVALID_ARGUMENT, "invalid argument: name must not be NULL");
    APH_ASSERT_ERR(aph_op_schema_find("relu", NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_op_get_schema(0, NULL), APH_ERR_INVALID_ARGUMENT, "invalid argument: out must not be NULL");
    o.struct_size = sizeof(size_t);
    APH_ASSERT_ERR(aph_op_get_schema(0, &o), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out->struct_size is too small (set it to sizeof(aph_op_schema))");
    aph_op_param pp;
    memset(&pp, 0x5A, sizeof pp);
    pp.struct_size = sizeof pp;
    APH_ASSERT_OK(aph_op_schema_find("relu", &s));
    APH_ASSERT_ERR(aph_op_get_param(s.index, 0, &pp), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: param_index 0 is out of range (relu has 0 params)");
    APH_ASSERT_ERR(aph_op_get_param(n, 0, &pp), APH_ERR_INVALID_ARGUMENT, msg);
    pp.struct_size = 1;
    APH_ASSERT_ERR(aph_op_get_param(0, 0, &pp), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out->struct_size is too small (set it to sizeof(aph_op_param))");

    /* An older, smaller struct: the fields past its struct_size are not written. */
    unsigned char raw[sizeof(aph_op_schema) + 16];
    memset(raw, 0xEE, sizeof raw);
    aph_op_schema* small = (aph_op_schema*)raw;
    small->struct_size = offsetof(aph_op_schema, kind);
    APH_ASSERT_OK(aph_op_schema_find("matmul", small));
    assert_string_equal(small->name, "matmul");
    for (size_t b = offsetof(aph_op_schema, kind); b < sizeof raw; ++b) assert_int_equal(raw[b], 0xEE);

    /* A registered custom operation is not a built-in one. */
    APH_ASSERT_ERR(aph_op_schema_find("scale_add", &o), APH_ERR_NOT_FOUND, "not found: built-in operation 'scale_add'");
}

/* ---- the executor agrees with the schemas ---------------------------------------------------- */

/* One graph per operation: operands (at least min, up to max) and the values of its required
 * params. Every schema entry needs one (a new operation without one fails the test). */
static const struct fixture {
    const char* op;
    const char* operands;
    const char* required;
} fixtures[] = {
    {"input", "", "shape=[2,3]"},
    {"weight", "", "shape=[2,3]"},
    {"constant", "", "shape=[2,3];value=1.5"},
    {"output", "f32:2,3", NULL},
    {"matmul", "f32:2,3 f32:3,4", NULL},
    {"linear", "f32:2,3 f32:4,3 f32:4", NULL},
    {"add", "f32:2,3 f32:3", NULL},
    {"sub", "f32:2,3 f32:3", NULL},
    {"mul", "f32:2,3 f32:3", NULL},
    {"div", "f32:2,3 f32:3", NULL},
    {"maximum", "f32:2,3 f32:3", NULL},
    {"minimum", "f32:2,3 f32:3", NULL},
    {"relu", "f32:2,3", NULL},
    {"gelu", "f32:2,3", NULL},
    {"gelu_tanh", "f32:2,3", NULL},
    {"silu", "f32:2,3", NULL},
    {"tanh", "f32:2,3", NULL},
    {"sigmoid", "f32:2,3", NULL},
    {"exp", "f32:2,3", NULL},
    {"log", "f32:2,3", NULL},
    {"neg", "f32:2,3", NULL},
    {"sqrt", "f32:2,3", NULL},
    {"rsqrt", "f32:2,3", NULL},
    {"abs", "f32:2,3", NULL},
    {"bias_activation", "f32:2,3 f32:3", NULL},
    {"softmax", "f32:2,3", NULL},
    {"log_softmax", "f32:2,3", NULL},
    {"layer_norm", "f32:2,3 f32:3 f32:3", NULL},
    {"rms_norm", "f32:2,3 f32:3", NULL},
    {"sum", "f32:2,3", NULL},
    {"mean", "f32:2,3", NULL},
    {"max", "f32:2,3", NULL},
    {"argmax", "f32:2,3", NULL},
    {"rope", "f32:1,3,2,4 i64:3", NULL},
    {"embedding", "f32:5,4 i64:3", NULL},
    {"positions", "f32:2,3", NULL},
    {"cast", "f32:2,3", "dtype=\"f16\""},
    {"attention", "f32:1,3,2,4 f32:1,3,2,4 f32:1,3,2,4 f32:3,3", NULL},
    {"ternary_matmul", "f32:2,8 u8:3,2 f32:1", NULL},
    {"dequantize", "i8:2,3 f32:1", "scheme=\"int8\";shape=[2,3]"},
    {"gru_cell", "f32:2,3 f32:2,4 f32:12,3 f32:12,4 f32:12 f32:12", NULL},
    {"contiguous", "f32:2,3", NULL},
    {"reshape", "f32:2,3", "shape=[3,2]"},
    {"permute", "f32:2,3", "dims=[1,0]"},
    {"transpose", "f32:2,3", "dim0=0;dim1=1"},
    {"slice", "f32:4,3", "dim=0"},
};

static const struct fixture* fixture_of(const char* op) {
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; ++i)
        if (strcmp(fixtures[i].op, op) == 0) return &fixtures[i];
    return NULL;
}

/* "a=1;b=2" without the pair whose key is `drop` (NULL: keep all), then `extra` appended. */
static void params_without(char* buf, size_t size, const char* params, const char* drop, const char* extra) {
    buf[0] = '\0';
    if (params != NULL) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", params);
        char* save = NULL;
        for (char* kv = strtok_r(tmp, ";", &save); kv != NULL; kv = strtok_r(NULL, ";", &save)) {
            const size_t klen = (size_t)(strchr(kv, '=') - kv);
            if (drop != NULL && strlen(drop) == klen && strncmp(kv, drop, klen) == 0) continue;
            if (buf[0] != '\0') strncat(buf, ";", size - strlen(buf) - 1);
            strncat(buf, kv, size - strlen(buf) - 1);
        }
    }
    if (extra != NULL) {
        if (buf[0] != '\0') strncat(buf, ";", size - strlen(buf) - 1);
        strncat(buf, extra, size - strlen(buf) - 1);
    }
}

/* A JSON value of the wrong type for a param of type t. */
static const char* mistyped(aph_param_type t) {
    switch (t) {
        case APH_PARAM_BOOL:
        case APH_PARAM_STRING:
        case APH_PARAM_DTYPE: return "1";
        default: return "\"x\"";
    }
}

/* Creates the fixture's graph with params; binds the operands (and the node itself when it is an
 * input or a weight) to `bound`; runs; returns the pooled output (or NULL when creation failed,
 * the status in *st). */
static aph_tensor* run_fixture(const aph_op_schema* s, const spec* specs, size_t n_specs, aph_tensor** bound,
                               const char* params, aph_status* st) {
    uint64_t id = 0;
    aph_graph* g = one_node(s->name, params, specs, n_specs, n_specs, &id);
    aph_executor* ex = NULL;
    *st = aph_executor_create(g, ot_device(), NULL, &ex);
    aph_graph_release(g);
    if (*st != APH_OK) return NULL;
    for (size_t i = 0; i < n_specs; ++i) {
        char nm[24];
        snprintf(nm, sizeof nm, "i%zu", i);
        et_set(ex, nm, bound[i]);
    }
    if (s->kind == APH_NODE_INPUT) et_set(ex, "n", bound[n_specs]);
    if (s->kind == APH_NODE_WEIGHT) et_setw(ex, "n", bound[n_specs]);
    /* Only compute nodes are steps of the plan. */
    assert_int_equal(et_plan(ex).steps, s->kind == APH_NODE_COMPUTE ? 1 : 0);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* out = et_result(ex, s->kind == APH_NODE_OUTPUT ? "n" : "y");
    aph_executor_release(ex);
    return out;
}

static void test_schema_matches_executor(void** state) {
    (void)state;
    const size_t n = aph_op_schema_count();
    size_t covered = 0;
    for (size_t i = 0; i < n; ++i) {
        const aph_op_schema s = schema_at(i);
        const struct fixture* fx = fixture_of(s.name);
        if (fx == NULL) fail_msg("operation '%s' has no fixture in test_op_schema.c", s.name);
        ++covered;
        spec specs[MAX_OPERANDS];
        const size_t n_specs = parse_specs(fx->operands, specs);
        /* Every operand (the counts below go one past the maximum). */
        if (n_specs != s.max_operands)
            fail_msg("the fixture of '%s' gives %zu operands, not %zu", s.name, n_specs, s.max_operands);
        aph_tensor* bound[MAX_OPERANDS + 1];
        for (size_t k = 0; k < n_specs; ++k) bound[k] = rand_of(&specs[k]);
        bound[n_specs] = et_rand(APH_DTYPE_F32, SHAPE(2, 3), -1, 1); /* the node itself: input, weight */

        /* Required params only: works. */
        aph_status st = APH_OK;
        aph_tensor* base = run_fixture(&s, specs, n_specs, bound, fx->required, &st);
        if (st != APH_OK) fail_msg("%s with its required params only: %s", s.name, aph_last_error());

        const uint64_t id = n_specs + 1;
        char params[512], want[512];
        for (size_t k = 0; k < s.param_count; ++k) {
            const aph_op_param p = param_at(i, k);
            /* A default given explicitly changes nothing. */
            if (p.default_json != NULL) {
                char extra[128];
                snprintf(extra, sizeof extra, "%s=%s", p.name, p.default_json);
                params_without(params, sizeof params, fx->required, NULL, extra);
                aph_tensor* same = run_fixture(&s, specs, n_specs, bound, params, &st);
                if (st != APH_OK) fail_msg("%s with %s: %s", s.name, extra, aph_last_error());
                et_assert_same(same, base, extra);
            }
            /* A required param left out. */
            if (p.required) {
                params_without(params, sizeof params, fx->required, p.name, NULL);
                snprintf(want, sizeof want, "graph error: node %llu 'n' (%s): missing param '%s'",
                         (unsigned long long)id, s.name, p.name);
                uint64_t unused = 0;
                aph_graph* g = one_node(s.name, params[0] ? params : NULL, specs, n_specs, n_specs, &unused);
                aph_executor* ex = NULL;
                APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_GRAPH, want);
                aph_graph_release(g);
            }
            /* A value of another JSON type. */
            {
                char extra[128];
                snprintf(extra, sizeof extra, "%s=%s", p.name, mistyped(p.type));
                params_without(params, sizeof params, fx->required, p.name, extra);
                uint64_t unused = 0;
                aph_graph* g = one_node(s.name, params, specs, n_specs, n_specs, &unused);
                aph_executor* ex = NULL;
                char part[64];
                snprintf(part, sizeof part, "param '%s' is a", p.name);
                APH_ASSERT_ERR_CONTAINS(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_GRAPH, part);
                aph_graph_release(g);
            }
            /* An enumeration: every value is accepted as a param (the operands may still not fit
             * it), any other string is not. */
            for (size_t v = 0; v <= p.allowed_count && p.allowed_values != NULL; ++v) {
                char extra[128];
                snprintf(extra, sizeof extra, "%s=\"%s\"", p.name, v < p.allowed_count ? p.allowed_values[v] : "bogus");
                params_without(params, sizeof params, fx->required, p.name, extra);
                uint64_t unused = 0;
                aph_graph* g = one_node(s.name, params, specs, n_specs, n_specs, &unused);
                aph_executor* ex = NULL;
                const aph_status got = aph_executor_create(g, ot_device(), NULL, &ex);
                if (v < p.allowed_count) {
                    if (got == APH_ERR_GRAPH) fail_msg("%s %s: %s", s.name, extra, aph_last_error());
                    aph_executor_release(ex);
                } else {
                    assert_int_equal(got, APH_ERR_GRAPH);
                    snprintf(want, sizeof want, "param '%s' is \"bogus\"; expected ", p.name);
                    assert_non_null(strstr(aph_last_error(), want));
                }
                aph_graph_release(g);
            }
        }

        /* A param the schema does not list. */
        params_without(params, sizeof params, fx->required, NULL, "frobnicate=1");
        {
            uint64_t unused = 0;
            aph_graph* g = one_node(s.name, params, specs, n_specs, n_specs, &unused);
            aph_executor* ex = NULL;
            snprintf(want, sizeof want, "graph error: node %llu 'n' (%s): unknown param 'frobnicate'; %s takes ",
                     (unsigned long long)id, s.name, s.name);
            APH_ASSERT_ERR_CONTAINS(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_GRAPH, want);
            aph_graph_release(g);
        }

        /* Operand counts outside [min, max]. */
        spec more[MAX_OPERANDS + 1];
        memcpy(more, specs, sizeof specs);
        more[n_specs] = n_specs > 0 ? specs[0] : (spec){APH_DTYPE_F32, {2}, 1};
        const size_t counts[2] = {s.min_operands > 0 ? s.min_operands - 1 : SIZE_MAX, s.max_operands + 1};
        for (size_t c = 0; c < 2; ++c) {
            if (counts[c] == SIZE_MAX) continue;
            const size_t avail = counts[c] <= n_specs ? n_specs : n_specs + 1;
            uint64_t op_id = 0;
            aph_graph* g = one_node(s.name, fx->required, more, avail, counts[c], &op_id);
            aph_executor* ex = NULL;
            snprintf(want, sizeof want, "graph error: node %llu 'n' (%s): takes ", (unsigned long long)op_id, s.name);
            APH_ASSERT_ERR_CONTAINS(aph_executor_create(g, ot_device(), NULL, &ex), APH_ERR_GRAPH, want);
            aph_graph_release(g);
        }
        et_pool_release();
    }
    assert_int_equal(covered, sizeof fixtures / sizeof fixtures[0]);
}

/* ---- the header's table agrees with the schemas ---------------------------------------------- */

#define MAX_ROWS 128
#define MAX_ITEMS 16

typedef struct {
    char name[64], kind[64];
    char operands[MAX_ITEMS][32];
    size_t min_operands, max_operands;
    char params_text[512];
} row;

static void trim(char* s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ') s[--n] = '\0';
    size_t i = 0;
    while (s[i] == ' ') ++i;
    memmove(s, s + i, strlen(s + i) + 1);
}

/* Column `c` (from byte `from` to `to`, or to the end when to is SIZE_MAX) of line, trimmed. */
static void column(char* out, size_t size, const char* line, size_t from, size_t to) {
    const size_t len = strlen(line);
    if (from >= len) {
        out[0] = '\0';
        return;
    }
    size_t n = (to == SIZE_MAX || to > len ? len : to) - from;
    if (n >= size) n = size - 1;
    memcpy(out, line + from, n);
    out[n] = '\0';
    trim(out);
}

/* Reads section 20's table: returns the number of rows. */
static size_t read_table(row* rows) {
    FILE* f = fopen(APH_HEADER_PATH, "r");
    if (f == NULL) fail_msg("cannot open %s", APH_HEADER_PATH);
    static char lines[4000][160];
    size_t nl = 0;
    while (nl < 4000 && fgets(lines[nl], sizeof lines[nl], f) != NULL) {
        lines[nl][strcspn(lines[nl], "\n")] = '\0';
        ++nl;
    }
    fclose(f);
    size_t head = SIZE_MAX;
    for (size_t i = 0; i < nl; ++i) {
        if (strncmp(lines[i], " *   operation ", 15) == 0 && strstr(lines[i], " kind ") &&
            strstr(lines[i], " operands ") && strstr(lines[i], " params")) {
            assert_int_equal(head, SIZE_MAX); /* one table */
            head = i;
        }
    }
    if (head == SIZE_MAX) fail_msg("no operation table in %s", APH_HEADER_PATH);
    /* Column starts from the rule under the heading: "---  ----  ...". */
    const char* rule = lines[head + 1];
    size_t cols[4], nc = 0;
    for (size_t i = 1; rule[i] != '\0'; ++i)
        if (rule[i] == '-' && rule[i - 1] == ' ') {
            assert_true(nc < 4);
            cols[nc++] = i;
        }
    assert_int_equal(nc, 4);
    size_t n = 0;
    for (size_t i = head + 2; i < nl && strcmp(lines[i], " *") != 0; ++i) {
        assert_true(strncmp(lines[i], " * ", 3) == 0);
        char name[64], kind[64], operands[128], params[128];
        column(name, sizeof name, lines[i], cols[0], cols[1]);
        column(kind, sizeof kind, lines[i], cols[1], cols[2]);
        column(operands, sizeof operands, lines[i], cols[2], cols[3]);
        column(params, sizeof params, lines[i], cols[3], SIZE_MAX);
        if (name[0] == '\0') {
            /* A continuation: more params of the row above. */
            assert_true(n > 0);
            assert_string_equal(kind, "");
            assert_string_equal(operands, "");
            strcat(rows[n - 1].params_text, " ");
            strcat(rows[n - 1].params_text, params);
            continue;
        }
        assert_true(n < MAX_ROWS);
        row* r = &rows[n++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", name);
        snprintf(r->kind, sizeof r->kind, "%s", kind);
        snprintf(r->params_text, sizeof r->params_text, "%s", params);
        /* "a, b[, c, d]": required names, then optional ones in brackets; "-": none. */
        if (strcmp(operands, "-") != 0) {
            char* bracket = strchr(operands, '[');
            char req[128] = "", optional[128] = "";
            if (bracket != NULL) {
                snprintf(optional, sizeof optional, "%s", bracket + 1);
                *bracket = '\0';
                assert_non_null(strchr(optional, ']'));
                *strchr(optional, ']') = '\0';
            }
            snprintf(req, sizeof req, "%s", operands);
            char* save = NULL;
            for (char* t = strtok_r(req, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                trim(t);
                if (*t) snprintf(r->operands[r->max_operands++], 32, "%s", t);
            }
            r->min_operands = r->max_operands;
            for (char* t = strtok_r(optional, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
                trim(t);
                if (*t) snprintf(r->operands[r->max_operands++], 32, "%s", t);
            }
        }
    }
    return n;
}

static const char* kind_word(aph_node_kind k) {
    switch (k) {
        case APH_NODE_INPUT: return "input";
        case APH_NODE_WEIGHT: return "weight";
        case APH_NODE_CONSTANT: return "constant";
        case APH_NODE_OUTPUT: return "output";
        case APH_NODE_VIEW: return "view";
        case APH_NODE_COMPUTE: return "compute";
    }
    return "?";
}

static const char* type_word(aph_param_type t) {
    switch (t) {
        case APH_PARAM_INT: return "int";
        case APH_PARAM_FLOAT: return "float";
        case APH_PARAM_BOOL: return "bool";
        case APH_PARAM_STRING: return "string";
        case APH_PARAM_INT_LIST: return "int list";
        case APH_PARAM_DTYPE: return "dtype";
        case APH_PARAM_NUMBERS: return "number or list";
        case APH_PARAM_SYMBOLIC_SHAPE: return "symbolic shape";
    }
    return "?";
}

/* Checks one row's params text ("name: type = default; name?: type; ...") against the schema. */
static void check_params(const row* r, const aph_op_schema* s) {
    char text[512];
    snprintf(text, sizeof text, "%s", r->params_text);
    size_t k = 0;
    if (strcmp(text, "-") != 0) {
        char* save = NULL;
        for (char* item = strtok_r(text, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save), ++k) {
            trim(item);
            if (k >= s->param_count) fail_msg("%s: the header lists more params than the schema (%s)", r->name, item);
            const aph_op_param p = param_at(s->index, k);
            char* colon = strstr(item, ": ");
            if (colon == NULL) fail_msg("%s: param '%s' is not 'name: type'", r->name, item);
            *colon = '\0';
            char* name = item;
            int no_default = 0;
            if (name[strlen(name) - 1] == '?') {
                no_default = 1;
                name[strlen(name) - 1] = '\0';
            }
            char* type = colon + 2;
            char* def = strstr(type, " = ");
            if (def != NULL) {
                *def = '\0';
                def += 3;
            }
            if (strcmp(name, p.name) != 0)
                fail_msg("%s: param %zu is '%s' in the header, '%s' in the schema", r->name, k, name, p.name);
            /* Required: neither '?' nor a default. */
            assert_int_equal(p.required, !no_default && def == NULL);
            if (def != NULL) {
                assert_non_null(p.default_json);
                if (strcmp(def, p.default_json) != 0)
                    fail_msg("%s: %s defaults to %s in the header, %s in the schema", r->name, name, def,
                             p.default_json);
            } else {
                assert_null(p.default_json);
            }
            if (type[0] == '"') {
                /* An enumeration: "a" | "b" | ... */
                assert_int_equal(p.type, APH_PARAM_STRING);
                assert_non_null(p.allowed_values);
                size_t v = 0;
                char* save2 = NULL;
                for (char* a = strtok_r(type, "|", &save2); a != NULL; a = strtok_r(NULL, "|", &save2), ++v) {
                    trim(a);
                    assert_true(v < p.allowed_count);
                    char quoted[64];
                    snprintf(quoted, sizeof quoted, "\"%s\"", p.allowed_values[v]);
                    if (strcmp(a, quoted) != 0)
                        fail_msg("%s: %s value %zu is %s in the header, %s in the schema", r->name, name, v, a, quoted);
                }
                assert_int_equal(v, p.allowed_count);
            } else {
                if (strcmp(type, type_word(p.type)) != 0)
                    fail_msg("%s: %s is '%s' in the header, '%s' in the schema", r->name, name, type,
                             type_word(p.type));
                assert_null(p.allowed_values);
            }
        }
    }
    if (k != s->param_count) fail_msg("%s: the header lists %zu params, the schema %zu", r->name, k, s->param_count);
}

static void test_header_table(void** state) {
    (void)state;
    static row rows[MAX_ROWS];
    const size_t n = read_table(rows);
    assert_int_equal(n, aph_op_schema_count());
    for (size_t i = 0; i < n; ++i) {
        const aph_op_schema s = schema_at(i);
        if (strcmp(rows[i].name, s.name) != 0)
            fail_msg("row %zu of the header's table is '%s', the schema's '%s'", i, rows[i].name, s.name);
        if (strcmp(rows[i].kind, kind_word(s.kind)) != 0)
            fail_msg("%s: kind %s in the header, %s in the schema", s.name, rows[i].kind, kind_word(s.kind));
        if (rows[i].min_operands != s.min_operands || rows[i].max_operands != s.max_operands)
            fail_msg("%s: %zu to %zu operands in the header, %zu to %zu in the schema", s.name, rows[i].min_operands,
                     rows[i].max_operands, s.min_operands, s.max_operands);
        for (size_t k = 0; k < s.max_operands; ++k) assert_string_equal(rows[i].operands[k], s.operand_names[k]);
        check_params(&rows[i], &s);
    }
}

/* ---- a node and the eager operation agree -------------------------------------------------- */

/* One eager call and the same node: the graph params and the eager arguments say the same. */
typedef struct {
    const char* op;
    const char* params;   /* the node's */
    const char* operands; /* specs */
    const char* out;      /* the eager out (NULL: f32 [1], for calls that fail before reading it) */
    double f;             /* eager: alpha, eps, theta, scale or scalar */
    int64_t i;            /* eager: dim, axis, activation, scheme */
    int flag;             /* eager: transpose_a | transpose_b << 1, keepdim, causal, rope layout */
} agree_case;

static const agree_case agree_cases[] = {
    /* Used to disagree: 0 query heads and 0 key/value heads is an empty attention (eager passed,
     * a graph failed); f64 on CUDA names the operand (the executor had its own message). */
    {"attention", NULL, "f32:1,2,0,4 f32:1,3,0,4 f32:1,3,0,4", "f32:1,2,0,4", 0, 0, 0},
    {"relu", NULL, "f64:3", "f64:3", 0, APH_UNARY_RELU, 0},
    /* Used to disagree in their messages (the graph had its own, shorter ones). */
    {"attention", NULL, "f32:2,5,4,8 f32:2,7,3,8 f32:2,7,3,8", NULL, 0, 0, 0},
    {"attention", NULL, "f32:1,2,1,264 f32:1,2,1,264 f32:1,2,1,264", NULL, 0, 0, 0},
    {"attention", NULL, "f32:1,2,1,4 f32:1,2,1,4 f32:1,2,1,4 i32:2,2", NULL, 0, 0, 0},
    {"attention", NULL, "f32:1,2,1,4 f32:1,2,1,4 f32:1,2,1,4 f32:3,2", NULL, 0, 0, 0},
    {"attention", NULL, "f32:1,2,1,4 f32:1,3,1,4 f32:1,2,1,4", NULL, 0, 0, 0},
    {"attention", "scale=-1", "f32:1,2,1,4 f32:1,2,1,4 f32:1,2,1,4", NULL, -1, 0, 0},
    {"matmul", NULL, "f32:2,3 f32:4,5", NULL, 1, 0, 0},
    {"matmul", NULL, "f32:3 f32:3,4", NULL, 1, 0, 0},
    {"matmul", NULL, "f32:2,3,4 f32:3,4,5", NULL, 1, 0, 0},
    {"matmul", "transpose_a=true", "f32:3,2 f32:4,5", NULL, 1, 0, 1},
    {"matmul", NULL, "f32:2,3 f16:3,4", NULL, 1, 0, 0},
    {"linear", NULL, "f32:2,3 f32:5,3 f32:4", NULL, 0, 0, 0},
    {"linear", NULL, "f32: f32:4,3", NULL, 0, 0, 0},
    {"add", NULL, "f32:3,4 f32:5", NULL, 0, APH_BINARY_ADD, 0},
    {"mul", NULL, "f32:3 f16:3", NULL, 0, APH_BINARY_MUL, 0},
    {"relu", NULL, "i32:3", NULL, 0, APH_UNARY_RELU, 0},
    {"bias_activation", NULL, "f32:2,3 f32:4", NULL, 0, APH_ACTIVATION_NONE, 0},
    {"layer_norm", NULL, "f32:2,3 f32:4", NULL, 1e-5, 0, 0},
    {"layer_norm", "eps=0", "f32:2,3 f32:3", NULL, 0, 0, 0},
    {"rms_norm", NULL, "f32: f32:3", NULL, 1e-6, 0, 0},
    {"sum", "dim=5", "f32:2,3", NULL, 0, 5, 0},
    {"max", "dim=1", "f32:2,0", NULL, 0, 1, 0},
    {"argmax", NULL, "f32:2,0", NULL, 0, -1, 0},
    {"rope", NULL, "f32:1,2,1,5 i64:2", NULL, 10000, 0, APH_ROPE_HALF},
    {"rope", NULL, "f32:2,3,2,4 i64:4", NULL, 10000, 0, APH_ROPE_HALF},
    {"rope", "theta=0", "f32:1,2,1,4 i64:2", NULL, 0, 0, APH_ROPE_HALF},
    {"embedding", NULL, "f32:10,4,1 i64:3", NULL, 0, 0, 0},
    {"embedding", NULL, "f32:10,4 f32:3", NULL, 0, 0, 0},
    {"positions", "dim=2", "f32:2,3", NULL, 0, 2, 0},
    {"positions", "dim=-3", "i64:2,3", NULL, 0, -3, 0},
    {"ternary_matmul", NULL, "f32:2,5 u8:3,3 f32:1", NULL, 0, 0, 0},
    {"ternary_matmul", NULL, "f32:2,5 u8:3,2 f32:2", NULL, 0, 0, 0},
    {"dequantize", "scheme=\"int8\";axis=1;shape=[3,5]", "i8:3,5 f32:1", "f32:3,5", 0, 1, APH_QUANT_INT8},
    {"dequantize", "scheme=\"int8\";shape=[3,5]", "u8:3,5 f32:1", "f32:3,5", 0, -1, APH_QUANT_INT8},
    {"gru_cell", NULL, "f32:2,3 f32:2,4 f32:12,4 f32:12,4", NULL, 0, 0, 0},
    {"gru_cell", NULL, "f32:2,3 f16:2,4 f32:12,3 f32:12,4", NULL, 0, 0, 0},
    /* Working calls: the same bits. */
    {"mean", "dim=0", "f32:", "f32:", 0, 0, 0},
    {"matmul", "transpose_b=true;alpha=0.5", "f32:2,3 f32:4,3", "f32:2,4", 0.5, 0, 2},
    {"attention", "causal=true;scale=0.25", "f32:1,3,2,4 f32:1,5,1,4 f32:1,5,1,4 f32:3,5", "f32:1,3,2,4", 0.25, 0, 1},
    {"layer_norm", "eps=0.001", "f32:2,3 f32:3 f32:3", "f32:2,3", 1e-3, 0, 0},
    {"sum", "dim=-2;keepdim=true", "f32:2,3", "f32:1,3", 0, -2, 1},
    {"rope", "layout=\"interleaved\";theta=500", "f32:1,2,1,4 i64:2", "f32:1,2,1,4", 500, 0, APH_ROPE_INTERLEAVED},
    {"bias_activation", "activation=\"silu\"", "f32:2,3 f32:3", "f32:2,3", 0, APH_ACTIVATION_SILU, 0},
    {"gru_cell", NULL, "f32:2,3 f32:2,4 f32:12,3 f32:12,4", "f32:2,4", 0, 0, 0},
    {"positions", "dim=-2", "f16:4,5", "i64:4", 0, -2, 0},
    {"positions", NULL, "i32:4,5", "i64:5", 0, -1, 0},
};

static int index_of(const char* op, const char* const* names, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (strcmp(op, names[i]) == 0) return (int)i;
    return -1;
}

static aph_status eager(const agree_case* c, aph_tensor* const* in, size_t n, aph_tensor* out) {
    static const char* const binary[] = {"add", "sub", "mul", "div", "maximum", "minimum"};
    static const char* const reduce[] = {"sum", "mean", "max"};
    const char* op = c->op;
    aph_tensor* o3 = n > 3 ? in[3] : NULL;
    if (strcmp(op, "matmul") == 0)
        return aph_op_matmul(in[0], in[1], c->flag & 1, (c->flag >> 1) & 1, c->f, 0.0, out, NULL);
    if (strcmp(op, "linear") == 0) return aph_op_linear(in[0], in[1], n > 2 ? in[2] : NULL, out, NULL);
    if (index_of(op, binary, 6) >= 0) return aph_op_binary((aph_binary_op)c->i, in[0], in[1], out, NULL);
    if (strcmp(op, "relu") == 0) return aph_op_unary((aph_unary_op)c->i, in[0], out, NULL);
    if (strcmp(op, "bias_activation") == 0)
        return aph_op_bias_activation(in[0], in[1], (aph_activation)c->i, out, NULL);
    if (strcmp(op, "layer_norm") == 0) return aph_op_layer_norm(in[0], in[1], n > 2 ? in[2] : NULL, c->f, out, NULL);
    if (strcmp(op, "rms_norm") == 0) return aph_op_rms_norm(in[0], in[1], c->f, out, NULL);
    const int r = index_of(op, reduce, 3);
    if (r >= 0) return aph_op_reduce((aph_reduce_op)r, in[0], c->i, c->flag, out, NULL);
    if (strcmp(op, "argmax") == 0) return aph_op_argmax(in[0], c->i, c->flag, out, NULL);
    if (strcmp(op, "rope") == 0) return aph_op_rope(in[0], in[1], c->f, (aph_rope_layout)c->flag, out, NULL);
    if (strcmp(op, "embedding") == 0) return aph_op_embedding(in[0], in[1], out, NULL);
    if (strcmp(op, "positions") == 0) return aph_op_positions(in[0], c->i, out, NULL);
    if (strcmp(op, "attention") == 0) return aph_op_attention(in[0], in[1], in[2], o3, c->f, c->flag, out, NULL);
    if (strcmp(op, "ternary_matmul") == 0) return aph_op_ternary_matmul(in[0], in[1], in[2], out, NULL);
    if (strcmp(op, "dequantize") == 0) return aph_dequantize((aph_quant_scheme)c->flag, in[0], in[1], c->i, out, NULL);
    if (strcmp(op, "gru_cell") == 0)
        return aph_op_gru_cell(in[0], in[1], in[2], in[3], n > 4 ? in[4] : NULL, n > 5 ? in[5] : NULL, out, NULL);
    fail_msg("no eager call for %s", op);
    return APH_ERR_INTERNAL;
}

static void test_graph_matches_eager(void** state) {
    (void)state;
    for (size_t ci = 0; ci < sizeof agree_cases / sizeof agree_cases[0]; ++ci) {
        const agree_case* c = &agree_cases[ci];
        spec specs[MAX_OPERANDS];
        const size_t n = parse_specs(c->operands, specs);
        aph_tensor* in[MAX_OPERANDS];
        for (size_t k = 0; k < n; ++k) in[k] = rand_of(&specs[k]);
        spec out_spec = {APH_DTYPE_F32, {1}, 1};
        if (c->out != NULL) parse_specs(c->out, &out_spec);
        aph_tensor* out = poisoned_of(&out_spec);
        const aph_status eager_st = eager(c, in, n, out);
        char eager_msg[1024];
        snprintf(eager_msg, sizeof eager_msg, "%s", aph_last_error());

        uint64_t id = 0;
        aph_graph* g = one_node(c->op, c->params, specs, n, n, &id);
        aph_executor* ex = NULL;
        const aph_status graph_st = aph_executor_create(g, ot_device(), NULL, &ex);
        aph_graph_release(g);
        if (graph_st != eager_st)
            fail_msg("case %zu (%s %s): the node gives %s (%s), the eager call %s (%s)", ci, c->op, c->operands,
                     aph_status_name(graph_st), graph_st ? aph_last_error() : "", aph_status_name(eager_st),
                     eager_st ? eager_msg : "");
        if (eager_st != APH_OK) {
            char want[1200];
            node_message(want, sizeof want, eager_msg, id, c->op);
            assert_string_equal(aph_last_error(), want);
            continue;
        }
        for (size_t k = 0; k < n; ++k) {
            char nm[24];
            snprintf(nm, sizeof nm, "i%zu", k);
            et_set(ex, nm, in[k]);
        }
        APH_ASSERT_OK(aph_executor_run(ex));
        et_assert_same(et_result(ex, "y"), out, c->op);
        aph_executor_release(ex);
    }
    et_pool_release();
}

/* ---- views take negative dimensions ------------------------------------------------------ */

static void test_view_negative_dims(void** state) {
    (void)state;
    aph_tensor* x = et_rand(APH_DTYPE_F32, SHAPE(2, 3, 4), -1, 1);
    aph_graph* g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 3, 4));
    NODE(g, "t", "transpose", "dim0=-3;dim1=-1", "x");
    NODE(g, "p", "permute", "dims=[-1,0,-2]", "x");
    NODE(g, "s", "slice", "dim=-2;start=-2;step=1", "x");
    NODE(g, "tc", "contiguous", NULL, "t");
    NODE(g, "pc", "contiguous", NULL, "p");
    NODE(g, "sc", "contiguous", NULL, "s");
    NODE(g, "yt", "output", NULL, "tc");
    NODE(g, "yp", "output", NULL, "pc");
    NODE(g, "ys", "output", NULL, "sc");
    aph_executor* ex = et_exec(g, NULL);
    et_set(ex, "x", x);
    APH_ASSERT_OK(aph_executor_run(ex));
    aph_tensor* v = NULL;
    APH_ASSERT_OK(aph_tensor_transpose(x, 0, 2, &v));
    et_assert_same(et_result(ex, "yt"), et_keep(v), "transpose -3, -1");
    APH_ASSERT_OK(aph_tensor_permute(x, (const int64_t[]){2, 0, 1}, 3, &v));
    et_assert_same(et_result(ex, "yp"), et_keep(v), "permute [-1, 0, -2]");
    APH_ASSERT_OK(aph_tensor_slice(x, 1, 1, 3, 1, &v));
    et_assert_same(et_result(ex, "ys"), et_keep(v), "slice dim -2 from -2");
    aph_executor_release(ex);
    aph_graph_release(g);

    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 3, 4));
    NODE(g, "t", "transpose", "dim0=-4;dim1=0", "x");
    NODE(g, "y", "output", NULL, "t");
    aph_executor* bad = NULL;
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &bad), APH_ERR_GRAPH,
                   "graph error: node 2 't' (transpose): param 'dim0' -4 is outside [-3, 3)");
    aph_graph_release(g);
    g = et_graph();
    et_input(g, "x", "input", APH_DTYPE_F32, SHAPE(2, 3, 4));
    NODE(g, "p", "permute", "dims=[-1,2,0]", "x");
    NODE(g, "y", "output", NULL, "p");
    APH_ASSERT_ERR(aph_executor_create(g, ot_device(), NULL, &bad), APH_ERR_GRAPH,
                   "graph error: node 2 'p' (permute): param 'dims' [-1, 2, 0] is not a permutation");
    aph_graph_release(g);
    et_pool_release();
}

/* ---- custom operations are not built in -------------------------------------------------------- */

static aph_status scale_infer(void* user_data, const char* params_json, size_t n_inputs, const aph_dtype* dtypes,
                              const int64_t* const* shapes, const size_t* ndims, aph_dtype* out_dtype,
                              int64_t* out_shape, size_t capacity, size_t* out_ndim) {
    (void)user_data;
    (void)params_json;
    (void)n_inputs;
    if (ndims[0] > capacity) return APH_ERR_INVALID_ARGUMENT;
    *out_dtype = dtypes[0];
    memcpy(out_shape, shapes[0], ndims[0] * sizeof(int64_t));
    *out_ndim = ndims[0];
    return APH_OK;
}

static aph_status scale_cpu(void* user_data, const char* params_json, size_t n_inputs, const aph_tensor* const* inputs,
                            aph_tensor* out) {
    (void)user_data;
    (void)params_json;
    (void)n_inputs;
    return aph_op_binary_scalar(APH_BINARY_MUL, inputs[0], 2.0, out, NULL);
}

static int setup_custom(void** state) {
    (void)state;
    aph_custom_op op;
    memset(&op, 0, sizeof op);
    op.struct_size = sizeof op;
    op.name = "scale_add";
    op.infer = scale_infer;
    op.cpu = scale_cpu;
    return aph_custom_op_register(&op) == APH_OK ? 0 : -1;
}

static int teardown_custom(void** state) {
    (void)state;
    return aph_custom_op_unregister("scale_add") == APH_OK ? 0 : -1;
}

int main(void) {
    ot_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_api, setup_custom, teardown_custom),
        cmocka_unit_test(test_schema_matches_executor),
        cmocka_unit_test(test_header_table),
        cmocka_unit_test(test_graph_matches_eager),
        cmocka_unit_test(test_view_negative_dims),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ot_fini();
    return rc;
}
