/* Tokenizers (header section 22) on small tokenizer.json files written here: the pipeline's
 * steps, truncation and padding into tensors, errors (malformed and unsupported files, invalid
 * UTF-8, bad options), vocabulary lookups. The expected ids were checked once against Hugging
 * Face's tokenizers with the same file (test_tokenizer_reference compares thousands of strings
 * against it with all-MiniLM-L6-v2's real file). With APH_TEST_DEVICE=cuda the tensors are made
 * on cuda:0 (skipped, 77, without one). */
#include "test_util.h"

static aph_device* g_dev;

/* A BERT-style file: vocabulary of 17 tokens, max_input_chars_per_word 10. The %s fields let
 * tests swap parts: truncation, padding, normaliser, pre-tokeniser, post-processor, model
 * type, unk token, extra added tokens, and the vocabulary's last entries. */
#define SMALL_JSON_FMT                                                                            \
    "{\"version\":\"1.0\",\"truncation\":%s,\"padding\":%s,\"added_tokens\":["                    \
    "{\"id\":0,\"content\":\"[PAD]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"    \
    "\"normalized\":false,\"special\":true},"                                                     \
    "{\"id\":1,\"content\":\"[UNK]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"    \
    "\"normalized\":false,\"special\":true},"                                                     \
    "{\"id\":2,\"content\":\"[CLS]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"    \
    "\"normalized\":false,\"special\":true},"                                                     \
    "{\"id\":3,\"content\":\"[SEP]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"    \
    "\"normalized\":false,\"special\":true}%s],"                                                  \
    "\"normalizer\":%s,\"pre_tokenizer\":%s,\"post_processor\":%s,\"decoder\":null,"              \
    "\"model\":{\"type\":\"%s\",\"unk_token\":\"%s\",\"continuing_subword_prefix\":\"##\","       \
    "\"max_input_chars_per_word\":10,\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3," \
    "\"hello\":4,\"world\":5,\"un\":6,\"##aff\":7,\"##able\":8,\",\":9,\"!\":10,\"cafe\":11,"     \
    "\"\\u4e2d\":12,\"i\":13,\"##\\u0307\":14,\"a\":15,%s}}}"

#define BERT_NORMALIZER                                                               \
    "{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true," \
    "\"strip_accents\":null,\"lowercase\":true}"
#define BERT_PRE "{\"type\":\"BertPreTokenizer\"}"
#define TEMPLATE                                                                                        \
    "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}}," \
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}]," \
    "\"pair\":[],\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},"  \
    "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}}"

typedef struct parts {
    const char *truncation, *padding, *added, *normalizer, *pre, *post, *type, *unk, *vocab_tail;
} parts;

static parts defaults(void) {
    parts p = {"null", "null", "", BERT_NORMALIZER, BERT_PRE, TEMPLATE, "WordPiece", "[UNK]", "\"##a\":16"};
    return p;
}

static char g_json[8192];

static const char* make_json(parts p) {
    snprintf(g_json, sizeof g_json, SMALL_JSON_FMT, p.truncation, p.padding, p.added, p.normalizer, p.pre, p.post,
             p.type, p.unk, p.vocab_tail);
    return g_json;
}

static aph_tokenizer* load(parts p) {
    const char* j = make_json(p);
    aph_tokenizer* t = NULL;
    APH_ASSERT_OK(aph_tokenizer_load_json(j, strlen(j), &t));
    return t;
}

/* The tensor's values, copied to the host (works on every device). */
static int64_t* values(aph_tensor* t) {
    size_t n = (size_t)aph_tensor_numel(t);
    int64_t* v = malloc((n + 1) * sizeof *v);
    APH_ASSERT_OK(aph_tensor_to_host(t, v, n * sizeof *v));
    return v;
}

/* One text through aph_tokenizer_encode_ids; returns the number of ids written to out. */
static size_t ids_of(const aph_tokenizer* t, const char* text, size_t len, const aph_tokenizer_encode_options* o,
                     int64_t* out, size_t cap) {
    size_t n = 0;
    APH_ASSERT_OK(aph_tokenizer_encode_ids(t, text, len, o, out, cap, &n));
    return n;
}

#define ASSERT_IDS(t, text, ...)                                       \
    do {                                                               \
        const int64_t want_[] = {__VA_ARGS__};                         \
        int64_t got_[64];                                              \
        size_t n_ = ids_of((t), (text), strlen(text), NULL, got_, 64); \
        assert_int_equal(n_, sizeof want_ / sizeof want_[0]);          \
        assert_memory_equal(got_, want_, sizeof want_);                \
    } while (0)

static void test_pipeline(void** state) {
    (void)state;
    aph_tokenizer* t = load(defaults());
    ASSERT_IDS(t, "Hello, World!", 2, 4, 9, 5, 10, 3);      /* lowercase, punctuation isolated */
    ASSERT_IDS(t, "unaffable", 2, 6, 7, 8, 3);              /* un ##aff ##able */
    ASSERT_IDS(t, "Caf\xc3\xa9", 2, 11, 3);                 /* accents stripped (null follows lowercase) */
    ASSERT_IDS(t, "\xe4\xb8\xad\xe6\x96\x87", 2, 12, 1, 3); /* CJK: one word per ideograph */
    ASSERT_IDS(t, "\xc4\xb0", 2, 13, 3);                    /* U+0130: NFD, mark dropped, then "i" */
    ASSERT_IDS(t, "aaaaaaaaaaa", 2, 1, 3);                  /* 11 characters > 10: [UNK] */
    ASSERT_IDS(t, "aaaaaaaaaa", 2, 15, 16, 16, 16, 16, 16, 16, 16, 16, 16, 3);
    ASSERT_IDS(t, "[CLS]hello[SEP]", 2, 2, 4, 3, 3); /* added tokens found in the raw text */
    ASSERT_IDS(t, "", 2, 3);
    ASSERT_IDS(t, "  \t\n ", 2, 3);
    ASSERT_IDS(t, "HELLO\xc2\xa0world\xe3\x80\x80!", 2, 4, 5, 10, 3); /* U+00A0, U+3000 are spaces */
    /* With lengths, a NUL inside the text: clean_text removes it, "helloworld" is unknown. */
    int64_t got[8];
    assert_int_equal(ids_of(t, "hello\0world", 11, NULL, got, 8), 3);
    assert_int_equal(got[1], 1);
    aph_tokenizer_release(t);

    /* Without normaliser and pre-tokeniser the text is one word as it is. */
    parts p = defaults();
    p.normalizer = "null";
    p.pre = "null";
    t = load(p);
    ASSERT_IDS(t, "hello", 2, 4, 3);
    ASSERT_IDS(t, "Hello", 2, 1, 3);
    ASSERT_IDS(t, "hello world", 2, 1, 3);
    aph_tokenizer_release(t);

    /* BertProcessing and no post-processor. */
    p = defaults();
    p.post = "{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",3],\"cls\":[\"[CLS]\",2]}";
    t = load(p);
    ASSERT_IDS(t, "hello", 2, 4, 3);
    assert_int_equal(aph_tokenizer_special_token_count(t), 2);
    aph_tokenizer_release(t);
    p.post = "null";
    t = load(p);
    ASSERT_IDS(t, "hello world", 4, 5);
    assert_int_equal(aph_tokenizer_special_token_count(t), 0);
    aph_tokenizer_release(t);
}

static void test_batch_tensors(void** state) {
    (void)state;
    aph_tokenizer* t = load(defaults());
    const char* texts[] = {"hello", "unaffable world!", ""};
    aph_tensor *ids = NULL, *mask = NULL, *types = NULL;
    size_t lens[3] = {99, 99, 99};
    APH_ASSERT_OK(aph_tokenizer_encode(t, texts, NULL, 3, NULL, g_dev, &ids, &mask, &types, lens, 3));
    assert_int_equal(aph_tensor_dtype(ids), APH_DTYPE_I64);
    assert_int_equal(aph_tensor_ndim(ids), 2);
    assert_int_equal(aph_tensor_shape(ids)[0], 3);
    assert_int_equal(aph_tensor_shape(ids)[1], 7); /* the file has no padding: to the longest */
    assert_true(aph_tensor_device(ids) == g_dev);
    int64_t* v = values(ids);
    int64_t* m = values(mask);
    int64_t* ty = values(types);
    const int64_t want[] = {2, 4, 3, 0, 0, 0, 0, 2, 6, 7, 8, 5, 10, 3, 2, 3, 0, 0, 0, 0, 0};
    const int64_t want_mask[] = {1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    assert_memory_equal(v, want, sizeof want);
    assert_memory_equal(m, want_mask, sizeof want_mask);
    for (int i = 0; i < 21; ++i) assert_int_equal(ty[i], 0);
    assert_int_equal(lens[0], 3);
    assert_int_equal(lens[1], 7);
    assert_int_equal(lens[2], 2);
    free(v), free(m), free(ty);
    aph_tensor_release(ids), aph_tensor_release(mask), aph_tensor_release(types);

    /* Fixed length 8, and a multiple of 4 (7 -> 8), type ids from the template. */
    aph_tokenizer_encode_options o = {sizeof o, APH_TRUNCATION_NONE, 0, APH_PADDING_FIXED, 8, 0, 0};
    APH_ASSERT_OK(aph_tokenizer_encode(t, texts, NULL, 2, &o, g_dev, &ids, NULL, NULL, NULL, 0));
    assert_int_equal(aph_tensor_shape(ids)[1], 8);
    aph_tensor_release(ids);
    o.padding = APH_PADDING_LONGEST;
    o.pad_to_multiple_of = 4;
    APH_ASSERT_OK(aph_tokenizer_encode(t, texts, NULL, 2, &o, g_dev, NULL, &mask, NULL, NULL, 0));
    assert_int_equal(aph_tensor_shape(mask)[1], 8);
    aph_tensor_release(mask);

    /* A text longer than the fixed length: an error naming it, nothing written. */
    o.padding = APH_PADDING_FIXED;
    o.pad_length = 5;
    o.pad_to_multiple_of = 0;
    aph_tensor* poison = (aph_tensor*)(uintptr_t)0x1;
    ids = poison;
    APH_ASSERT_ERR(aph_tokenizer_encode(t, texts, NULL, 2, &o, g_dev, &ids, NULL, NULL, NULL, 0),
                   APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: texts[1] has 7 tokens, more than the fixed padding length 5 "
                   "(truncate to it: APH_TRUNCATION_MAX_LENGTH)");
    assert_ptr_equal(ids, poison);
    /* ... unless truncated to it. */
    o.truncation = APH_TRUNCATION_MAX_LENGTH;
    o.max_length = 5;
    APH_ASSERT_OK(aph_tokenizer_encode(t, texts, NULL, 2, &o, g_dev, &ids, NULL, NULL, lens, 2));
    v = values(ids);
    const int64_t want5[] = {2, 4, 3, 0, 0, 2, 6, 7, 8, 3};
    assert_memory_equal(v, want5, sizeof want5);
    assert_int_equal(lens[1], 5);
    free(v);
    aph_tensor_release(ids);

    /* An empty batch. */
    APH_ASSERT_OK(aph_tokenizer_encode(t, NULL, NULL, 0, NULL, g_dev, &ids, NULL, NULL, NULL, 0));
    assert_int_equal(aph_tensor_shape(ids)[0], 0);
    assert_int_equal(aph_tensor_shape(ids)[1], 0);
    aph_tensor_release(ids);
    aph_tokenizer_release(t);

    /* The file's padding (left, pad id 3, pad type id 1, multiple of 4) and truncation (left). */
    parts p = defaults();
    p.padding = "{\"strategy\":\"BatchLongest\",\"direction\":\"Left\",\"pad_to_multiple_of\":4,\"pad_id\":3,"
                "\"pad_type_id\":1,\"pad_token\":\"[SEP]\"}";
    p.truncation = "{\"max_length\":4,\"strategy\":\"LongestFirst\",\"stride\":0,\"direction\":\"Left\"}";
    t = load(p);
    assert_int_equal(aph_tokenizer_max_length(t), 4);
    APH_ASSERT_OK(aph_tokenizer_encode(t, texts, NULL, 2, NULL, g_dev, &ids, &mask, &types, NULL, 0));
    v = values(ids), m = values(mask), ty = values(types);
    const int64_t wl[] = {3, 2, 4, 3, 2, 5, 10, 3}; /* the last tokens kept, padding first */
    const int64_t wlm[] = {0, 1, 1, 1, 1, 1, 1, 1};
    const int64_t wlt[] = {1, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(v, wl, sizeof wl);
    assert_memory_equal(m, wlm, sizeof wlm);
    assert_memory_equal(ty, wlt, sizeof wlt);
    free(v), free(m), free(ty);
    aph_tensor_release(ids), aph_tensor_release(mask), aph_tensor_release(types);
    aph_tokenizer_release(t);
}

static void test_truncation(void** state) {
    (void)state;
    aph_tokenizer* t = load(defaults());
    aph_tokenizer_encode_options o = {sizeof o, APH_TRUNCATION_MAX_LENGTH, 4, APH_PADDING_LONGEST, 0, 0, 0};
    int64_t got[16];
    assert_int_equal(ids_of(t, "Hello, World!", 13, &o, got, 16), 4);
    const int64_t w4[] = {2, 4, 9, 3};
    assert_memory_equal(got, w4, sizeof w4);
    o.max_length = 2;
    assert_int_equal(ids_of(t, "Hello, World!", 13, &o, got, 16), 2);
    o.max_length = 1;
    size_t n = 77;
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, "hello", 5, &o, got, 16, &n), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: options->max_length 1 is less than the 2 special tokens of the post-processor");
    assert_int_equal(n, 77);
    o.no_special_tokens = 1;
    assert_int_equal(ids_of(t, "Hello, World!", 13, &o, got, 16), 1);
    assert_int_equal(got[0], 4);
    o.max_length = 0;
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, "hello", 5, &o, got, 16, &n), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: options->max_length must be > 0 with APH_TRUNCATION_MAX_LENGTH");
    aph_tokenizer_release(t);

    /* OnlySecond: fine until a text must be truncated, then the library's error. */
    parts p = defaults();
    p.truncation = "{\"max_length\":4,\"strategy\":\"OnlySecond\",\"stride\":0,\"direction\":\"Right\"}";
    t = load(p);
    assert_int_equal(ids_of(t, "hello", 5, NULL, got, 16), 3);
    APH_ASSERT_ERR_CONTAINS(aph_tokenizer_encode_ids(t, "hello world hello", 17, NULL, got, 16, &n),
                            APH_ERR_INVALID_CONFIG, "OnlySecond needs a second sequence");
    aph_tokenizer_release(t);
    /* A file whose max_length is below the special tokens. */
    p.truncation = "{\"max_length\":1,\"strategy\":\"LongestFirst\",\"stride\":0}";
    t = load(p);
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, "hello", 5, NULL, got, 16, &n), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: tokenizer.json: truncation.max_length 1 is less than the 2 special "
                   "tokens of the post-processor");
    aph_tokenizer_release(t);
}

static void test_invalid_utf8(void** state) {
    (void)state;
    aph_tokenizer* t = load(defaults());
    static const struct {
        const char* bytes;
        size_t offset;
    } bad[] = {
        {"ab\x80", 2},               /* stray continuation byte */
        {"a\xc3", 1},                /* truncated sequence */
        {"a\xc3(", 1},               /* missing continuation */
        {"\xc0\xaf", 0},             /* overlong "/" */
        {"xy\xe0\x80\xaf", 2},       /* overlong, three bytes */
        {"\xed\xa0\x80", 0},         /* a surrogate, U+D800 */
        {"ok \xf4\x90\x80\x80", 3},  /* U+110000 */
        {"\xf8\x88\x80\x80\x80", 0}, /* five-byte form */
        {"\xff", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        const char* texts[] = {"fine", bad[i].bytes};
        aph_tensor* poison = (aph_tensor*)(uintptr_t)0x1;
        aph_tensor* ids = poison;
        size_t lens[2] = {42, 42};
        char msg[128];
        snprintf(msg, sizeof msg, "invalid argument: texts[1] is not valid UTF-8 (at byte %zu)", bad[i].offset);
        APH_ASSERT_ERR(aph_tokenizer_encode(t, texts, NULL, 2, NULL, g_dev, &ids, NULL, NULL, lens, 2),
                       APH_ERR_INVALID_ARGUMENT, msg);
        assert_ptr_equal(ids, poison);
        assert_int_equal(lens[0], 42);
        size_t n = 5;
        int64_t out[8] = {0};
        snprintf(msg, sizeof msg, "invalid argument: text is not valid UTF-8 (at byte %zu)", bad[i].offset);
        APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, bad[i].bytes, strlen(bad[i].bytes), NULL, out, 8, &n),
                       APH_ERR_INVALID_ARGUMENT, msg);
        assert_int_equal(n, 5);
    }
    /* Valid: the largest code point, noncharacters, four-byte emoji. */
    int64_t out[8];
    const char* valid = "\xf4\x8f\xbf\xbf \xef\xbf\xbf \xf0\x9f\x98\x80";
    assert_int_equal(ids_of(t, valid, strlen(valid), NULL, out, 8), 5);
    aph_tokenizer_release(t);
}

static void test_load_errors(void** state) {
    (void)state;
    aph_tokenizer* t = (aph_tokenizer*)(uintptr_t)0x1;
    APH_ASSERT_ERR(aph_tokenizer_load("/nonexistent/tokenizer.json", &t), APH_ERR_IO,
                   "I/O error: /nonexistent/tokenizer.json: No such file or directory");
    APH_ASSERT_ERR(aph_tokenizer_load(NULL, &t), APH_ERR_INVALID_ARGUMENT, "invalid argument: path must not be NULL");
    APH_ASSERT_ERR(aph_tokenizer_load_json("{}", 2, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out must not be NULL");
    APH_ASSERT_ERR(aph_tokenizer_load_json(NULL, 3, &t), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: json must not be NULL");
    APH_ASSERT_ERR_CONTAINS(aph_tokenizer_load_json("{\"model\": ", 10, &t), APH_ERR_SERIALIZATION,
                            "serialization error: tokenizer.json: malformed JSON: ");
    APH_ASSERT_ERR(aph_tokenizer_load_json("[1]", 3, &t), APH_ERR_SERIALIZATION,
                   "serialization error: tokenizer.json: the top level is not a JSON object");
    APH_ASSERT_ERR(aph_tokenizer_load_json("{}", 2, &t), APH_ERR_SERIALIZATION,
                   "serialization error: tokenizer.json: model is missing");
    assert_ptr_equal(t, (aph_tokenizer*)(uintptr_t)0x1);

    static const struct {
        int field; /* which part to replace */
        const char* value;
        aph_status status;
        const char* message;
    } cases[] = {
        {0, "BPE", APH_ERR_NOT_IMPLEMENTED, "not implemented: tokenizer.json: model.type 'BPE' (supported: WordPiece)"},
        {0, "Unigram", APH_ERR_NOT_IMPLEMENTED,
         "not implemented: tokenizer.json: model.type 'Unigram' (supported: WordPiece)"},
        {1, "{\"type\":\"Sequence\",\"normalizers\":[]}", APH_ERR_NOT_IMPLEMENTED,
         "not implemented: tokenizer.json: normalizer.type 'Sequence' (supported: BertNormalizer or null)"},
        {1, "{\"type\":\"BertNormalizer\",\"lowercase\":\"yes\"}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: normalizer.lowercase is not true or false"},
        {1, "{\"type\":\"BertNormalizer\",\"strip_accents\":1}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: normalizer.strip_accents is not true or false"},
        {1, "{\"clean_text\":true}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: normalizer.type is missing"},
        {2, "{\"type\":\"Whitespace\"}", APH_ERR_NOT_IMPLEMENTED,
         "not implemented: tokenizer.json: pre_tokenizer.type 'Whitespace' (supported: BertPreTokenizer or null)"},
        {3, "{\"type\":\"RobertaProcessing\"}", APH_ERR_NOT_IMPLEMENTED,
         "not implemented: tokenizer.json: post_processor.type 'RobertaProcessing' (supported: "
         "TemplateProcessing, BertProcessing or null)"},
        {3,
         "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[X]\",\"type_id\":0}}],"
         "\"special_tokens\":{}}",
         APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: post_processor.single[0]: special token '[X]' is not in "
         "post_processor.special_tokens"},
        {3, "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}]}",
         APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: post_processor.single[0].Sequence.id is 'B'; the single template "
         "takes only A"},
        {4, "\"hello\":\"4\"", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: model.vocab['hello'] is not an integer id from 0 to 4294967295"},
        {4, "\"x\":-1", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: model.vocab['x'] is not an integer id from 0 to 4294967295"},
        {5,
         ",{\"id\":17,\"content\":\"<m>\",\"single_word\":true,\"lstrip\":false,\"rstrip\":false,"
         "\"normalized\":false,\"special\":false}",
         APH_ERR_NOT_IMPLEMENTED,
         "not implemented: tokenizer.json: added_tokens[4].single_word: true (token '<m>'; only tokens matched "
         "anywhere are supported)"},
        {5, ",{\"content\":\"<m>\"}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: added_tokens[4].id is missing"},
        {6, "{\"max_length\":-3}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: truncation.max_length is not a non-negative integer"},
        {6, "{\"max_length\":3,\"strategy\":\"Sideways\"}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: truncation.strategy 'Sideways' is not LongestFirst, OnlyFirst or "
         "OnlySecond"},
        {7, "{\"strategy\":{\"Fixed\":\"x\"}}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: padding.strategy.Fixed is not a non-negative integer"},
        {7, "{\"strategy\":\"Longest\"}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: padding.strategy 'Longest' is not \"BatchLongest\" or {\"Fixed\": n}"},
        {7, "{\"direction\":\"Up\"}", APH_ERR_SERIALIZATION,
         "serialization error: tokenizer.json: padding.direction 'Up' is not Right or Left"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        parts p = defaults();
        switch (cases[i].field) {
            case 0: p.type = cases[i].value; break;
            case 1: p.normalizer = cases[i].value; break;
            case 2: p.pre = cases[i].value; break;
            case 3: p.post = cases[i].value; break;
            case 4: p.vocab_tail = cases[i].value; break;
            case 5: p.added = cases[i].value; break;
            case 6: p.truncation = cases[i].value; break;
            case 7: p.padding = cases[i].value; break;
        }
        const char* j = make_json(p);
        APH_ASSERT_ERR(aph_tokenizer_load_json(j, strlen(j), &t), cases[i].status, cases[i].message);
        assert_ptr_equal(t, (aph_tokenizer*)(uintptr_t)0x1);
    }

    /* Not UTF-8 inside the JSON. */
    const char bad_json[] = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"\xff\":1}}}";
    APH_ASSERT_ERR_CONTAINS(aph_tokenizer_load_json(bad_json, sizeof bad_json - 1, &t), APH_ERR_SERIALIZATION,
                            "malformed JSON");
    /* Every prefix of a valid file fails cleanly (never a crash). */
    const char* full = make_json(defaults());
    size_t len = strlen(full);
    for (size_t cut = 0; cut < len; cut += 7) {
        aph_status st = aph_tokenizer_load_json(full, cut, &t);
        assert_int_equal(st, APH_ERR_SERIALIZATION);
    }
    APH_ASSERT_OK(aph_tokenizer_load_json(full, len, &t));
    aph_tokenizer_release(t);
    aph_tokenizer_release(NULL);
}

static void test_missing_unk(void** state) {
    (void)state;
    parts p = defaults();
    p.unk = "[NOPE]";
    aph_tokenizer* t = load(p);
    ASSERT_IDS(t, "hello world", 2, 4, 5, 3);
    size_t n = 0;
    int64_t out[8];
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, "zzz", 3, NULL, out, 8, &n), APH_ERR_INVALID_CONFIG,
                   "invalid configuration: tokenizer.json: model.unk_token '[NOPE]' is not in model.vocab, and a "
                   "word needs it");
    aph_tokenizer_release(t);
}

static void test_options_and_arguments(void** state) {
    (void)state;
    aph_tokenizer* t = load(defaults());
    const char* texts[] = {"hello", NULL};
    aph_tensor* ids = NULL;
    aph_tokenizer_encode_options o = {sizeof o, APH_TRUNCATION_NONE, 0, APH_PADDING_LONGEST, 0, 0, 0};
    APH_ASSERT_ERR(aph_tokenizer_encode(NULL, texts, NULL, 1, NULL, g_dev, &ids, NULL, NULL, NULL, 0),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: tokenizer must not be NULL");
    APH_ASSERT_ERR(aph_tokenizer_encode(t, texts, NULL, 1, NULL, NULL, &ids, NULL, NULL, NULL, 0),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: device must not be NULL");
    APH_ASSERT_ERR(aph_tokenizer_encode(t, NULL, NULL, 1, NULL, g_dev, &ids, NULL, NULL, NULL, 0),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: texts must not be NULL");
    size_t lengths[2] = {5, 3};
    APH_ASSERT_ERR(aph_tokenizer_encode(t, texts, lengths, 2, NULL, g_dev, &ids, NULL, NULL, NULL, 0),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: texts[1] is NULL and its length is 3");
    lengths[1] = 0; /* a NULL text of length 0 is the empty text */
    APH_ASSERT_OK(aph_tokenizer_encode(t, texts, lengths, 2, &o, g_dev, &ids, NULL, NULL, NULL, 0));
    assert_int_equal(aph_tensor_shape(ids)[1], 3);
    aph_tensor_release(ids);
    size_t lens[1];
    APH_ASSERT_ERR(aph_tokenizer_encode(t, texts, lengths, 2, NULL, g_dev, &ids, NULL, NULL, lens, 1),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: lengths_capacity 1 is less than count 2");
    o.truncation = (aph_truncation)7;
    APH_ASSERT_ERR(aph_tokenizer_encode(t, texts, lengths, 1, &o, g_dev, &ids, NULL, NULL, NULL, 0),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: options->truncation is 7, not an aph_truncation value");
    o.truncation = APH_TRUNCATION_NONE;
    o.padding = (aph_padding)-1;
    APH_ASSERT_ERR(aph_tokenizer_encode(t, texts, lengths, 1, &o, g_dev, &ids, NULL, NULL, NULL, 0),
                   APH_ERR_INVALID_ARGUMENT, "invalid argument: options->padding is -1, not an aph_padding value");
    o.struct_size = 0;
    APH_ASSERT_ERR(
        aph_tokenizer_encode(t, texts, lengths, 1, &o, g_dev, &ids, NULL, NULL, NULL, 0), APH_ERR_INVALID_ARGUMENT,
        "invalid argument: options->struct_size is too small (set it to sizeof(aph_tokenizer_encode_options))");
    /* A struct_size covering only the first fields: the rest take their defaults. */
    o.struct_size = offsetof(aph_tokenizer_encode_options, padding);
    o.truncation = APH_TRUNCATION_MAX_LENGTH;
    o.max_length = 3;
    o.no_special_tokens = 1; /* past struct_size: ignored */
    int64_t out[8];
    assert_int_equal(ids_of(t, "hello world", 11, &o, out, 8), 3);
    assert_int_equal(out[0], 2);

    /* aph_tokenizer_encode_ids: the count alone, a capacity too small, NULL arguments. */
    size_t n = 0;
    APH_ASSERT_OK(aph_tokenizer_encode_ids(t, "hello world", 11, NULL, NULL, 0, &n));
    assert_int_equal(n, 4);
    int64_t small[3] = {-7, -7, -7};
    size_t n2 = 99;
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, "hello world", 11, NULL, small, 3, &n2), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: capacity 3 is less than the 4 ids of the text");
    assert_int_equal(n2, 99);
    assert_int_equal(small[0], -7);
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, "hello", 5, NULL, NULL, 4, &n2), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_ids must not be NULL when capacity > 0");
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, "hello", 5, NULL, small, 3, NULL), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: out_count must not be NULL");
    APH_ASSERT_ERR(aph_tokenizer_encode_ids(t, NULL, 5, NULL, small, 3, &n2), APH_ERR_INVALID_ARGUMENT,
                   "invalid argument: text must not be NULL");
    APH_ASSERT_OK(aph_tokenizer_encode_ids(t, NULL, 0, NULL, small, 3, &n2));
    assert_int_equal(n2, 2);
    aph_tokenizer_release(t);
}

static void test_vocabulary(void** state) {
    (void)state;
    parts p = defaults();
    /* An added token outside the vocabulary (normalised: matched after lowercasing), one inside. */
    p.added = ",{\"id\":17,\"content\":\"New Word\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
              "\"normalized\":true,\"special\":false},{\"id\":4,\"content\":\"hello\",\"single_word\":false,"
              "\"lstrip\":true,\"rstrip\":true,\"normalized\":false,\"special\":false}";
    aph_tokenizer* t = load(p);
    assert_int_equal(aph_tokenizer_vocab_size(t), 18);
    assert_int_equal(aph_tokenizer_token_to_id(t, "[CLS]"), 2);
    assert_int_equal(aph_tokenizer_token_to_id(t, "##aff"), 7);
    assert_int_equal(aph_tokenizer_token_to_id(t, "New Word"), 17);
    assert_int_equal(aph_tokenizer_token_to_id(t, "new word"), -1);
    assert_int_equal(aph_tokenizer_token_to_id(t, "absent"), -1);
    assert_string_equal(aph_tokenizer_id_to_token(t, 17), "New Word"); /* the library gives "new word" */
    assert_string_equal(aph_tokenizer_id_to_token(t, 14), "##\xcc\x87");
    assert_null(aph_tokenizer_id_to_token(t, 18));
    assert_null(aph_tokenizer_id_to_token(t, -1));
    assert_int_equal(aph_tokenizer_max_length(t), 0);
    /* "NEW WORD" lowercases to the token's normalised form; "hello" takes the spaces around it. */
    ASSERT_IDS(t, "say NEW WORD!", 2, 1, 17, 10, 3);
    ASSERT_IDS(t, "a  hello  a", 2, 15, 4, 15, 3);
    aph_tokenizer_release(t);
    assert_int_equal(aph_tokenizer_vocab_size(NULL), 0);
    assert_int_equal(aph_tokenizer_token_to_id(NULL, "a"), -1);
    assert_null(aph_tokenizer_id_to_token(NULL, 0));
    assert_int_equal(aph_tokenizer_max_length(NULL), 0);
    assert_int_equal(aph_tokenizer_special_token_count(NULL), 0);
}

/* A batch big enough to be encoded on several threads (2000 texts, about 100 KB): each row
 * equals the text encoded alone. */
static void test_large_batch(void** state) {
    (void)state;
    aph_tokenizer* t = load(defaults());
    enum { N = 2000 };
    static const char* words[] = {"hello", "World", "unaffable", "caf\xc3\xa9", "\xe4\xb8\xad", "!",
                                  ",",     "zzz",   "aaaa",      "[CLS]",       "\xc4\xb0",     "  "};
    char** texts = malloc(N * sizeof *texts);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; ++i) {
        texts[i] = malloc(256);
        texts[i][0] = 0;
        int n = 1 + (int)(i % 9);
        for (int k = 0; k < n; ++k) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            strcat(texts[i], words[x % (sizeof words / sizeof words[0])]);
            strcat(texts[i], " ");
        }
    }
    aph_tensor* ids = NULL;
    size_t* lens = malloc(N * sizeof *lens);
    APH_ASSERT_OK(aph_tokenizer_encode(t, (const char* const*)texts, NULL, N, NULL, g_dev, &ids, NULL, NULL, lens, N));
    int64_t* v = values(ids);
    const size_t width = (size_t)aph_tensor_shape(ids)[1];
    for (int i = 0; i < N; ++i) {
        int64_t one[64];
        size_t n = ids_of(t, texts[i], strlen(texts[i]), NULL, one, 64);
        assert_int_equal(n, lens[i]);
        assert_memory_equal(v + (size_t)i * width, one, n * sizeof *one);
        for (size_t c = n; c < width; ++c) assert_int_equal(v[(size_t)i * width + c], 0);
        free(texts[i]);
    }
    free(v);
    free(lens);
    free(texts);
    aph_tensor_release(ids);
    aph_tokenizer_release(t);
}

int main(void) {
    const char* dev = getenv("APH_TEST_DEVICE");
    if (dev != NULL && strcmp(dev, "cuda") == 0) {
        int32_t n = 0;
        if (aph_device_count(APH_DEVICE_CUDA, &n) != APH_OK || n == 0) {
            printf("test_tokenizer: no CUDA device; skipped\n");
            return 77;
        }
        if (aph_device_open(APH_DEVICE_CUDA, 0, &g_dev) != APH_OK) return 1;
    } else if (aph_device_open(APH_DEVICE_CPU, 0, &g_dev) != APH_OK) {
        return 1;
    }
    printf("test_tokenizer: tensors on %s\n", aph_device_label(g_dev));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_batch_tensors),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_missing_unk),
        cmocka_unit_test(test_options_and_arguments),
        cmocka_unit_test(test_vocabulary),
        cmocka_unit_test(test_large_batch),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    aph_device_release(g_dev);
    return rc;
}
