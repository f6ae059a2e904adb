/* See sweep_support.h. */
#include "sweep_support.h"

#include "../reliability_fixtures.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

sw_fixtures fx;
int sw_failures;
int sw_cases;

static const char kMarker[] = "sweep marker: no failing call since";
static char g_marker_text[256];

static void fail_setup(const char* what) { fprintf(stderr, "sweep fixtures: %s failed: %s\n", what, aph_last_error()); }

#define SETUP(expr)             \
    do {                        \
        if ((expr) != APH_OK) { \
            fail_setup(#expr);  \
            return -1;          \
        }                       \
    } while (0)

static aph_status tensor_f32(const int64_t* shape, size_t ndim, aph_tensor** out) {
    float v[64];
    int64_t n = 1;
    for (size_t i = 0; i < ndim; ++i) n *= shape[i];
    for (int64_t i = 0; i < n; ++i) v[i] = 0.25f * (float)(i + 1);
    return aph_tensor_from_host(fx.device, APH_DTYPE_F32, shape, ndim, v, (size_t)n * sizeof(float), out);
}

static aph_status infer_same(void* ud, const char* params_json, size_t n_inputs, const aph_dtype* input_dtypes,
                             const int64_t* const* input_shapes, const size_t* input_ndims, aph_dtype* out_dtype,
                             int64_t* out_shape, size_t out_shape_capacity, size_t* out_ndim) {
    (void)ud;
    (void)params_json;
    if (n_inputs != 1 || input_ndims[0] > out_shape_capacity) return APH_ERR_INVALID_ARGUMENT;
    *out_dtype = input_dtypes[0];
    *out_ndim = input_ndims[0];
    for (size_t i = 0; i < input_ndims[0]; ++i) out_shape[i] = input_shapes[0][i];
    return APH_OK;
}

static aph_status cpu_copy(void* ud, const char* params_json, size_t n_inputs, const aph_tensor* const* inputs,
                           aph_tensor* out) {
    (void)ud;
    (void)params_json;
    (void)n_inputs;
    return aph_tensor_copy(out, inputs[0]);
}

static void write_file(const char* path, const char* text) {
    FILE* f = fopen(path, "wb");
    if (f) {
        fwrite(text, 1, strlen(text), f);
        fclose(f);
    }
}

/* The files of the fixture model's directory (relative to fx.model_dir), removed in this order. */
static const char* const kModelFiles[] = {"config.json", "model.safetensors", "tokenizer.json", "modules.json",
                                          "1_Pooling/config.json"};

static void model_file(char* buf, size_t size, const char* name) { snprintf(buf, size, "%s/%s", fx.model_dir, name); }

/* model.safetensors of the fixture model: every key the BERT graph needs (runtime/model/model.cpp,
 * build_bert_graph: the embeddings, their layer norm, one encoder layer), f32, written with the
 * library's own writer. Values are small and deterministic; layer norm weights are 1. */
static aph_status write_model_weights(const char* path) {
    enum { H = SW_MODEL_HIDDEN, I = SW_MODEL_INTERMEDIATE, V = SW_MODEL_VOCAB, P = SW_MODEL_MAX_POSITIONS };
    static const struct {
        const char* name;
        int64_t rows, cols; /* cols 0: a vector [rows] */
        int ones;           /* layer norm weight */
    } kTensors[] = {
        {"embeddings.word_embeddings.weight", V, H, 0},
        {"embeddings.position_embeddings.weight", P, H, 0},
        {"embeddings.token_type_embeddings.weight", 2, H, 0},
        {"embeddings.LayerNorm.weight", H, 0, 1},
        {"embeddings.LayerNorm.bias", H, 0, 0},
        {"encoder.layer.0.attention.self.query.weight", H, H, 0},
        {"encoder.layer.0.attention.self.query.bias", H, 0, 0},
        {"encoder.layer.0.attention.self.key.weight", H, H, 0},
        {"encoder.layer.0.attention.self.key.bias", H, 0, 0},
        {"encoder.layer.0.attention.self.value.weight", H, H, 0},
        {"encoder.layer.0.attention.self.value.bias", H, 0, 0},
        {"encoder.layer.0.attention.output.dense.weight", H, H, 0},
        {"encoder.layer.0.attention.output.dense.bias", H, 0, 0},
        {"encoder.layer.0.attention.output.LayerNorm.weight", H, 0, 1},
        {"encoder.layer.0.attention.output.LayerNorm.bias", H, 0, 0},
        {"encoder.layer.0.intermediate.dense.weight", I, H, 0},
        {"encoder.layer.0.intermediate.dense.bias", I, 0, 0},
        {"encoder.layer.0.output.dense.weight", H, I, 0},
        {"encoder.layer.0.output.dense.bias", H, 0, 0},
        {"encoder.layer.0.output.LayerNorm.weight", H, 0, 1},
        {"encoder.layer.0.output.LayerNorm.bias", H, 0, 0},
    };
    enum { N = sizeof kTensors / sizeof kTensors[0] };
    const char* names[N] = {NULL};
    aph_tensor* tensors[N] = {NULL};
    float v[P * H];
    aph_status st = APH_OK;
    for (size_t t = 0; t < N && st == APH_OK; ++t) {
        const int64_t shape[2] = {kTensors[t].rows, kTensors[t].cols};
        const size_t ndim = kTensors[t].cols ? 2 : 1;
        const size_t n = (size_t)kTensors[t].rows * (size_t)(kTensors[t].cols ? kTensors[t].cols : 1);
        for (size_t i = 0; i < n; ++i)
            v[i] = kTensors[t].ones ? 1.0f : 0.02f * (float)((int)((i * 7 + t * 13) % 17) - 8);
        names[t] = kTensors[t].name;
        st = aph_tensor_from_host(fx.device, APH_DTYPE_F32, shape, ndim, v, n * sizeof(float), &tensors[t]);
    }
    if (st == APH_OK) st = aph_safetensors_save(path, names, (const aph_tensor* const*)tensors, N, NULL);
    for (size_t t = 0; t < N; ++t) aph_tensor_release(tensors[t]);
    return st;
}

/* fx.model_dir: a sentence-transformers directory of a tiny BERT (config.json, model.safetensors,
 * tokenizer.json, modules.json with mean pooling and Normalize). Needs fx.device. */
static aph_status write_model_dir(void) {
    char path[512];
    model_file(path, sizeof path, "1_Pooling");
    const char* failed = mkdir(fx.model_dir, 0700) != 0 ? fx.model_dir : mkdir(path, 0700) != 0 ? path : NULL;
    if (failed) {
        char msg[700];
        snprintf(msg, sizeof msg, "%s: %s", failed, strerror(errno));
        aph_set_last_error(APH_ERR_IO, msg);
        return APH_ERR_IO;
    }
    char config[512];
    snprintf(config, sizeof config,
             "{\"architectures\": [\"BertModel\"], \"model_type\": \"bert\", \"hidden_size\": %d, "
             "\"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"intermediate_size\": %d, "
             "\"hidden_act\": \"gelu\", \"vocab_size\": %d, \"max_position_embeddings\": %d, "
             "\"type_vocab_size\": 2, \"layer_norm_eps\": 1e-12, \"position_embedding_type\": \"absolute\"}\n",
             SW_MODEL_HIDDEN, SW_MODEL_INTERMEDIATE, SW_MODEL_VOCAB, SW_MODEL_MAX_POSITIONS);
    model_file(path, sizeof path, "config.json");
    write_file(path, config);
    model_file(path, sizeof path, "tokenizer.json");
    write_file(path, rf_tokenizer_json);
    model_file(path, sizeof path, "modules.json");
    write_file(path, "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\", "
                     "\"type\": \"sentence_transformers.models.Transformer\"}, "
                     "{\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", "
                     "\"type\": \"sentence_transformers.models.Pooling\"}, "
                     "{\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", "
                     "\"type\": \"sentence_transformers.models.Normalize\"}]\n");
    model_file(path, sizeof path, "1_Pooling/config.json");
    write_file(path, "{\"word_embedding_dimension\": 8, \"pooling_mode_cls_token\": false, "
                     "\"pooling_mode_mean_tokens\": true, \"pooling_mode_max_tokens\": false}\n");
    model_file(path, sizeof path, "model.safetensors");
    return write_model_weights(path);
}

static void remove_model_dir(void) {
    char path[512];
    for (size_t i = 0; i < sizeof kModelFiles / sizeof kModelFiles[0]; ++i) {
        model_file(path, sizeof path, kModelFiles[i]);
        unlink(path);
    }
    model_file(path, sizeof path, "1_Pooling");
    rmdir(path);
    rmdir(fx.model_dir);
}

int sw_setup(void** state) {
    (void)state;
    memset(&fx, 0, sizeof fx);
    const char* tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const int pid = (int)getpid();
    snprintf(fx.graph_path, sizeof fx.graph_path, "%s/aph_sweep_%d_graph.json", tmp, pid);
    snprintf(fx.weights_path, sizeof fx.weights_path, "%s/aph_sweep_%d_weights.safetensors", tmp, pid);
    snprintf(fx.tokenizer_path, sizeof fx.tokenizer_path, "%s/aph_sweep_%d_tokenizer.json", tmp, pid);
    snprintf(fx.out_path, sizeof fx.out_path, "%s/aph_sweep_%d_out", tmp, pid);
    snprintf(fx.model_dir, sizeof fx.model_dir, "%s/aph_sweep_%d_model", tmp, pid);
    write_file(fx.graph_path, rf_graph_json);
    write_file(fx.tokenizer_path, rf_tokenizer_json);

    SETUP(aph_device_open(APH_DEVICE_CPU, 0, &fx.device));
    fx.shape[0] = 2;
    fx.shape[1] = 3;
    for (int i = 0; i < 17; ++i) fx.shape17[i] = 1;
    fx.dims[0] = 1;
    fx.dims[1] = 0;
    for (int i = 0; i < 6; ++i) fx.data[i] = 0.5f * (float)(i + 1);
    SETUP(tensor_f32(fx.shape, 2, &fx.tensor));
    const int64_t s22[2] = {2, 2}, s32[2] = {3, 2}, s24[2] = {2, 4}, s3[1] = {3}, s2[1] = {2}, s4[1] = {4},
                  s21[1] = {2}, s1[1] = {1}, s1223[4] = {1, 2, 2, 4};
    SETUP(tensor_f32(s22, 2, &fx.t22));
    SETUP(tensor_f32(fx.shape, 2, &fx.t23b));
    SETUP(tensor_f32(s32, 2, &fx.t32));
    SETUP(tensor_f32(s24, 2, &fx.t24));
    SETUP(tensor_f32(s3, 1, &fx.t3));
    SETUP(tensor_f32(s2, 1, &fx.t2));
    SETUP(tensor_f32(s4, 1, &fx.t4));
    SETUP(tensor_f32(s1, 1, &fx.scale1));
    SETUP(tensor_f32(s1223, 4, &fx.t1223));
    SETUP(tensor_f32(s1223, 4, &fx.t1223b));
    const int64_t s21x[2] = {2, 1}, s33[2] = {3, 3}, s31[2] = {3, 1};
    SETUP(tensor_f32(s21x, 2, &fx.t21));
    SETUP(tensor_f32(s21x, 2, &fx.t21b));
    SETUP(tensor_f32(s33, 2, &fx.t33));
    SETUP(tensor_f32(s31, 2, &fx.t31));
    const int64_t ids[2] = {1, 0};
    const int32_t ids32[2] = {0, 1};
    SETUP(aph_tensor_from_host(fx.device, APH_DTYPE_I64, s21, 1, ids, sizeof ids, &fx.i64_2));
    SETUP(aph_tensor_zeros(fx.device, APH_DTYPE_I64, s3, 1, &fx.i64_3));
    SETUP(aph_tensor_from_host(fx.device, APH_DTYPE_I32, s21, 1, ids32, sizeof ids32, &fx.i32_2));
    SETUP(aph_tensor_from_host(fx.device, APH_DTYPE_I32, s21, 1, ids32, sizeof ids32, &fx.pos2));
    SETUP(aph_tensor_zeros(fx.device, APH_DTYPE_I8, fx.shape, 2, &fx.i8_23));
    const int64_t s21b[2] = {2, 1};
    SETUP(aph_tensor_zeros(fx.device, APH_DTYPE_U8, s21b, 2, &fx.u8_21));
    SETUP(aph_stream_create(fx.device, &fx.stream));
    SETUP(aph_event_create(fx.device, &fx.event));
    SETUP(aph_tracker_create(0, &fx.tracker));
    SETUP(aph_device_config_create(&fx.device_config));
    SETUP(aph_model_config_create("sweep", "1.0.0", &fx.model_config));
    SETUP(aph_model_config_set_float(fx.model_config, "lr", 0.5));
    SETUP(aph_model_config_set_int(fx.model_config, "n", 3));
    SETUP(aph_model_config_set_bool(fx.model_config, "flag", 1));
    SETUP(aph_model_config_set_string(fx.model_config, "s", "x"));
    SETUP(aph_graph_from_json(rf_graph_json, sizeof rf_graph_json - 1, &fx.graph));
    SETUP(aph_trace_sink_memory(&fx.trace_sink));
    memset(&fx.trace_event, 0, sizeof fx.trace_event);
    fx.trace_event.struct_size = sizeof fx.trace_event;
    fx.trace_event.id = "sweep.event";
    fx.trace_event.message = "an event";
    fx.trace_event.level = APH_TRACE_INFO;
    memset(&fx.trace_span, 0, sizeof fx.trace_span);
    fx.trace_span.struct_size = sizeof fx.trace_span;
    fx.trace_span.name = "span";
    fx.trace_span.category = "node";
    fx.trace_span.start_ns = 1000;
    fx.trace_span.duration_ns = 10;
    SETUP(aph_trace_sink_record(fx.trace_sink, &fx.trace_event));
    SETUP(aph_trace_sink_record_span(fx.trace_sink, &fx.trace_span));
    SETUP(aph_build_context_create(fx.device, fx.trace_sink, fx.tracker, &fx.build_context));
    SETUP(aph_pipeline_preset("standard", &fx.pipeline));
    SETUP(rf_write_weights(fx.device, fx.weights_path));
    SETUP(aph_safetensors_open(fx.weights_path, &fx.safetensors));
    SETUP(aph_safetensors_tensor(fx.safetensors, "w1", fx.device, &fx.read_only));
    {
        /* A read-only [2, 2] f32 tensor: a DLPack import flagged READ_ONLY over static memory. */
        static float ro_data[4] = {1, 2, 3, 4};
        static int64_t ro_shape[2] = {2, 2};
        static DLManagedTensorVersioned m;
        memset(&m, 0, sizeof m);
        m.version.major = 1;
        m.flags = DLPACK_FLAG_BITMASK_READ_ONLY;
        m.dl_tensor.data = ro_data;
        m.dl_tensor.device.device_type = kDLCPU;
        m.dl_tensor.ndim = 2;
        m.dl_tensor.dtype.code = kDLFloat;
        m.dl_tensor.dtype.bits = 32;
        m.dl_tensor.dtype.lanes = 1;
        m.dl_tensor.shape = ro_shape;
        SETUP(aph_tensor_from_dlpack(&m, &fx.read_only22));
    }
    memset(&fx.executor_options, 0, sizeof fx.executor_options);
    fx.executor_options.struct_size = sizeof fx.executor_options;
    SETUP(aph_executor_create(fx.graph, fx.device, &fx.executor_options, &fx.executor));
    SETUP(aph_executor_load_weights(fx.executor, fx.weights_path));
    SETUP(aph_executor_set_input(fx.executor, "x", fx.t24));
    SETUP(aph_executor_run(fx.executor));
    {
        aph_graph* g = NULL;
        SETUP(aph_graph_from_json(rf_sym_graph_json, sizeof rf_sym_graph_json - 1, &g));
        const aph_status st = aph_executor_create(g, fx.device, NULL, &fx.sym_executor);
        aph_graph_release(g);
        SETUP(st);
        SETUP(aph_executor_load_weights(fx.sym_executor, fx.weights_path));
        SETUP(aph_executor_set_input(fx.sym_executor, "x", fx.t24));
    }
    SETUP(aph_tokenizer_load_json(rf_tokenizer_json, sizeof rf_tokenizer_json - 1, &fx.tokenizer));
    remove_model_dir(); /* what a crashed run of this process id left */
    SETUP(write_model_dir());
    SETUP(aph_model_load(fx.model_dir, NULL, &fx.model));
    memset(&fx.model_options, 0, sizeof fx.model_options);
    fx.model_options.struct_size = sizeof fx.model_options;
    {
        const int64_t s14[2] = {1, 4}, s133[2] = {1, SW_MODEL_MAX_POSITIONS + 1};
        const int64_t ids[4] = {2, 4, 5, 3}, mask[4] = {1, 1, 1, 1}, oov[4] = {2, 4, SW_MODEL_VOCAB, 3};
        SETUP(aph_tensor_from_host(fx.device, APH_DTYPE_I64, s14, 2, ids, sizeof ids, &fx.ids14));
        SETUP(aph_tensor_from_host(fx.device, APH_DTYPE_I64, s14, 2, mask, sizeof mask, &fx.mask14));
        SETUP(aph_tensor_from_host(fx.device, APH_DTYPE_I64, s14, 2, oov, sizeof oov, &fx.ids14_oov));
        SETUP(aph_tensor_zeros(fx.device, APH_DTYPE_I64, s133, 2, &fx.ids133));
    }
    memset(&fx.encode_options, 0, sizeof fx.encode_options);
    fx.encode_options.struct_size = sizeof fx.encode_options;
    memset(&fx.custom_op, 0, sizeof fx.custom_op);
    fx.custom_op.struct_size = sizeof fx.custom_op;
    fx.custom_op.name = "sweep_op";
    fx.custom_op.infer = infer_same;
    fx.custom_op.cpu = cpu_copy;
    fx.names[0] = "t";
    fx.tensors[0] = fx.tensor;
    fx.sinks[0] = fx.trace_sink;
    fx.texts[0] = "Hello, world!";
    fx.texts[1] = "unaffable";
    fx.text_lengths[0] = strlen(fx.texts[0]);
    fx.text_lengths[1] = strlen(fx.texts[1]);
    SETUP(aph_tensor_to_dlpack(fx.tensor, &fx.dlpack));
    SETUP(aph_tensor_to_dlpack_unversioned(fx.tensor, &fx.dlpack_unversioned));
    SETUP(aph_device_allocate(fx.device, 64, NULL, &fx.raw));
    SETUP(aph_graph_to_json(fx.graph, 0, &fx.lib_string));
    return 0;
}

int sw_teardown(void** state) {
    (void)state;
    if (fx.dlpack) fx.dlpack->deleter(fx.dlpack);
    if (fx.dlpack_unversioned) fx.dlpack_unversioned->deleter(fx.dlpack_unversioned);
    if (fx.raw) aph_device_free(fx.device, fx.raw);
    aph_string_free(fx.lib_string);
    aph_tokenizer_release(fx.tokenizer);
    aph_model_release(fx.model);
    aph_executor_release(fx.executor);
    aph_executor_release(fx.sym_executor);
    aph_tensor_release(fx.read_only);
    aph_safetensors_release(fx.safetensors);
    aph_pipeline_release(fx.pipeline);
    aph_build_context_release(fx.build_context);
    aph_trace_sink_release(fx.trace_sink);
    aph_graph_release(fx.graph);
    aph_model_config_release(fx.model_config);
    aph_device_config_release(fx.device_config);
    aph_tracker_release(fx.tracker);
    aph_event_release(fx.event);
    aph_stream_release(fx.stream);
    aph_tensor* ts[] = {fx.tensor,      fx.t22,   fx.t23b,   fx.t32,       fx.t24,   fx.t3,    fx.t2,
                        fx.t4,          fx.i64_2, fx.i64_3,  fx.i32_2,     fx.i8_23, fx.u8_21, fx.scale1,
                        fx.t1223,       fx.pos2,  fx.t1223b, fx.t21,       fx.t21b,  fx.t33,   fx.t31,
                        fx.read_only22, fx.ids14, fx.mask14, fx.ids14_oov, fx.ids133};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; ++i) aph_tensor_release(ts[i]);
    aph_device_release(fx.device);
    unlink(fx.graph_path);
    unlink(fx.weights_path);
    unlink(fx.tokenizer_path);
    unlink(fx.out_path);
    if (fx.model_dir[0]) remove_model_dir();
    /* Process-wide settings a case may have changed. */
    aph_log_set_callback(NULL, NULL);
    aph_log_set_level(APH_LOG_WARN);
    aph_cpu_set_thread_limit(0);
    aph_custom_op_unregister("sweep_op");
    aph_custom_op_unregister("sweep");
    return 0;
}

void sw_log_callback(void* user_data, aph_log_level level, const char* target, const char* message) {
    (void)level;
    (void)target;
    (void)message;
    (void)user_data;
}
void sw_deleter(void* user_data, void* data) {
    (void)data;
    (void)user_data;
}
void sw_trace_event_fn(void* user_data, const aph_trace_event* event) {
    (void)user_data;
    (void)event;
}
void sw_trace_span_fn(void* user_data, const aph_trace_span* span) {
    (void)user_data;
    (void)span;
}
aph_status sw_stage_fn(void* user_data, aph_build_context* ctx, aph_graph* graph) {
    (void)user_data;
    (void)ctx;
    (void)graph;
    return APH_OK;
}
aph_status sw_hook_fn(void* user_data, aph_build_context* ctx, const aph_graph* graph) {
    (void)user_data;
    (void)ctx;
    (void)graph;
    return APH_OK;
}
void sw_progress_fn(void* user_data, const char* stage, size_t index, size_t total) {
    (void)user_data;
    (void)stage;
    (void)index;
    (void)total;
}
void sw_destroy(void* user_data) { (void)user_data; }

void sw_mark(void) {
    aph_set_last_error(APH_ERR_INTERNAL, kMarker);
    snprintf(g_marker_text, sizeof g_marker_text, "%s", aph_last_error());
    sw_cases++;
}

/* The function being swept: whether the table has a row for it, and whether it is swept
 * provisionally (no row, and the defaults are not valid arguments for it). */
static const char* g_function = "";
static int g_has_row = 1;
static int g_hinted = 0;
int sw_provisional;
int sw_provisional_count;

void sw_begin_function(const char* fn, int has_row) {
    g_function = fn;
    g_has_row = has_row;
    g_hinted = 0;
    sw_provisional = 0;
}

static void report(const char* fn, const char* what, const char* fmt, ...) {
    va_list ap;
    fprintf(stderr, "SWEEP FAIL %s [%s]: ", fn, what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    sw_failures++;
    if (!g_has_row && !g_hinted && strcmp(fn, g_function) == 0) {
        g_hinted = 1;
        fprintf(stderr,
                "  (%s has no [functions.%s] row in tests/sweep/sweep_table.toml, so the sweep knows only "
                "what the header's types say. If the header documents this behaviour, add a row saying so: "
                "nullable = [...] for pointers that may be NULL, args = {...} for valid arguments, baseline, "
                "null_expect or bad = [...] for documented errors; see tests/sweep/README.md)\n",
                fn, fn);
    }
}

void sw_probe(const char* fn, aph_status got) {
    if (got == APH_OK) return;
    /* The defaults are not valid arguments for a function the table does not know: a new
     * function (its row not written yet) or one taking a handle or struct without a fixture. Its
     * cases still run, each checked for what holds whatever the arguments: no crash (and, under
     * the sanitizers, no invalid access or leak), a failure's message begins with its status's
     * prefix, out parameters untouched on failure, functions without status stay quiet. */
    sw_provisional = 1;
    sw_provisional_count++;
    const char* msg = aph_last_error();
    printf("sweep: NOTE %s is swept provisionally (crashes, message formats, untouched out parameters "
           "only): the defaults are not valid arguments for it (%s: %s). To check its statuses, add "
           "[functions.%s] with valid args to tests/sweep/sweep_table.toml (tests/sweep/README.md).\n",
           fn, aph_status_name(got), msg ? msg : "", fn);
}

static void check_message(const char* fn, const char* what, aph_status got, const char* name) {
    const char* msg = aph_last_error();
    if (msg == NULL || msg[0] == '\0') {
        report(fn, what, "%s with an empty aph_last_error()", aph_status_name(got));
        return;
    }
    if (strcmp(msg, g_marker_text) == 0) {
        report(fn, what, "%s without setting aph_last_error()", aph_status_name(got));
        return;
    }
    const char* prefix = sw_status_prefix(got);
    if (prefix && strncmp(msg, prefix, strlen(prefix)) != 0) {
        report(fn, what, "%s, but the message does not begin with \"%s\": %s", aph_status_name(got), prefix, msg);
        return;
    }
    if (name) {
        /* name: one word, or alternatives separated by '|'. */
        char alts[256];
        snprintf(alts, sizeof alts, "%s", name);
        int found = 0;
        for (char *save = NULL, *w = strtok_r(alts, "|", &save); w && !found; w = strtok_r(NULL, "|", &save)) {
            found = strstr(msg, w) != NULL;
        }
        if (!found) report(fn, what, "%s, but the message does not name %s: %s", aph_status_name(got), name, msg);
    }
}

void sw_expect_status(const char* fn, const char* what, aph_status got, aph_status want, const char* name) {
    if (sw_provisional) {
        /* Which status is right cannot be told without valid arguments: any, with its message. */
        if (got != APH_OK) check_message(fn, what, got, NULL);
        return;
    }
    if (got != want) {
        report(fn, what, "returned %s (expected %s): %s", aph_status_name(got), aph_status_name(want),
               got == APH_OK ? "" : aph_last_error());
        return;
    }
    if (want != APH_OK) check_message(fn, what, got, name);
}

void sw_expect_ok_or_message(const char* fn, const char* what, aph_status got) {
    if (got != APH_OK) check_message(fn, what, got, NULL);
}

void sw_expect_quiet(const char* fn, const char* what) {
    if (strcmp(aph_last_error(), g_marker_text) != 0) {
        report(fn, what, "a function that returns no status changed aph_last_error() to: %s", aph_last_error());
    }
}

void sw_expect_untouched(const char* fn, const char* what, const char* param, int untouched) {
    if (!untouched) report(fn, what, "the call failed but wrote the out parameter %s", param);
}

int sw_all_sentinel(const void* p, size_t n, size_t skip) {
    const unsigned char* b = (const unsigned char*)p;
    for (size_t i = skip; i < n; ++i) {
        if (b[i] != SW_SENTINEL_BYTE) return 0;
    }
    return 1;
}

void sw_table_problem(const char* message) {
    fprintf(stderr, "SWEEP FAIL tests/sweep/sweep_table.toml: %s\n", message);
    sw_failures++;
}
