/* Small inputs shared by the reliability tests (tests/fault, tests/soak, tests/sweep) and the
 * fuzz targets' seeds: an executable graph, a tokenizer.json, and a checksum. Header-only
 * (static functions), plain C. */
#ifndef APH_RELIABILITY_FIXTURES_H
#define APH_RELIABILITY_FIXTURES_H

#include <aphelion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A two-layer perceptron in the serde layout: x [2, 4] -> linear(w1 [3, 4], b1 [3]) -> gelu ->
 * linear(w2 [2, 3]) -> softmax -> output "y" [2, 2]; plus a view (transpose) and a constant,
 * so that loading, planning and running touch inputs, weights, constants, views, compute nodes
 * and an output. */
/* One node a line. */
// clang-format off
#define RF_NODE(id, name, op, params) \
    "{\"id\":" #id ",\"name\":\"" name "\",\"config\":{\"name\":\"" op "\",\"version\":\"1.0.0\",\"params\":" params "},\"metadata\":{}}"
static const char rf_graph_json[] =
    "{\"nodes\":["
    RF_NODE(1, "x", "input", "{\"dtype\":\"f32\",\"shape\":[2,4]}") ","
    RF_NODE(2, "w1", "weight", "{\"dtype\":\"f32\",\"shape\":[3,4]}") ","
    RF_NODE(3, "b1", "weight", "{\"dtype\":\"f32\",\"shape\":[3]}") ","
    RF_NODE(4, "fc1", "linear", "{}") ","
    RF_NODE(5, "act", "gelu", "{}") ","
    RF_NODE(6, "w2", "weight", "{\"dtype\":\"f32\",\"shape\":[2,3]}") ","
    RF_NODE(7, "fc2", "linear", "{}") ","
    RF_NODE(8, "half", "constant", "{\"dtype\":\"f32\",\"shape\":[2],\"value\":0.5}") ","
    RF_NODE(9, "scaled", "mul", "{}") ","
    RF_NODE(10, "t", "transpose", "{\"dim0\":0,\"dim1\":1}") ","
    RF_NODE(11, "tt", "transpose", "{\"dim0\":0,\"dim1\":1}") ","
    RF_NODE(12, "probs", "softmax", "{}") ","
    RF_NODE(13, "y", "output", "{}")
    "],\"edges\":[[1,4],[2,4],[3,4],[4,5],[5,7],[6,7],[7,9],[8,9],[9,10],[10,11],[11,12],[12,13]]}";

/* The first layer of rf_graph_json with a symbolic batch: x ["batch", 4] -> linear(w1, b1) ->
 * gelu -> output "y" ["batch", 3] (header section 20), with the same weights. */
static const char rf_sym_graph_json[] =
    "{\"nodes\":["
    RF_NODE(1, "x", "input", "{\"dtype\":\"f32\",\"shape\":[\"batch\",4]}") ","
    RF_NODE(2, "w1", "weight", "{\"dtype\":\"f32\",\"shape\":[3,4]}") ","
    RF_NODE(3, "b1", "weight", "{\"dtype\":\"f32\",\"shape\":[3]}") ","
    RF_NODE(4, "fc1", "linear", "{}") ","
    RF_NODE(5, "act", "gelu", "{}") ","
    RF_NODE(6, "y", "output", "{}")
    "],\"edges\":[[1,4],[2,4],[3,4],[4,5],[5,6]]}";
// clang-format on

/* The weights of rf_graph_json, and an input, as f32 values. */
static const float rf_w1[12] = {0.5f, -0.25f, 0.125f, 1.0f, -0.75f, 0.3f, 0.2f, -0.1f, 0.05f, 0.6f, -0.4f, 0.9f};
static const float rf_b1[3] = {0.1f, -0.2f, 0.3f};
static const float rf_w2[6] = {1.5f, -0.5f, 0.25f, -1.0f, 0.75f, 0.5f};
static const float rf_x[8] = {1.0f, -2.0f, 0.5f, 3.0f, -1.5f, 0.25f, 2.0f, -0.75f};

/* A BERT-style tokenizer.json (WordPiece, BertNormalizer, BertPreTokenizer, [CLS] $A [SEP],
 * fixed padding to 8), small enough to load in microseconds. */
static const char rf_tokenizer_json[] =
    "{\"version\":\"1.0\",\"truncation\":{\"direction\":\"Right\",\"max_length\":8,\"strategy\":"
    "\"LongestFirst\",\"stride\":0},\"padding\":{\"strategy\":{\"Fixed\":8},\"direction\":\"Right\","
    "\"pad_to_multiple_of\":null,\"pad_id\":0,\"pad_type_id\":0,\"pad_token\":\"[PAD]\"},"
    "\"added_tokens\":["
    "{\"id\":0,\"content\":\"[PAD]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
    "\"special\":true},"
    "{\"id\":1,\"content\":\"[UNK]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
    "\"special\":true},"
    "{\"id\":2,\"content\":\"[CLS]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
    "\"special\":true},"
    "{\"id\":3,\"content\":\"[SEP]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
    "\"special\":true}],"
    "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
    "\"strip_accents\":null,\"lowercase\":true},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}"
    "},"
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
    "\"pair\":[],\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},"
    "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},\"decoder\":null,"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
    "\"max_input_chars_per_word\":10,\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,"
    "\"hello\":4,\"world\":5,\"un\":6,\"##aff\":7,\"##able\":8,\",\":9,\"!\":10,\"cafe\":11,"
    "\"\\u4e2d\":12,\"i\":13,\"##\\u0307\":14,\"a\":15,\"##a\":16}}}";

/* FNV-1a, for comparing results between runs. */
static inline uint64_t rf_hash(uint64_t h, const void* data, size_t n) {
    const unsigned char* p = (const unsigned char*)data;
    if (h == 0) h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The tensor's elements (at most 4096 bytes of them) hashed into h; a failing copy is returned. */
static inline aph_status rf_hash_tensor(uint64_t* h, const aph_tensor* t) {
    unsigned char buf[4096];
    const uint64_t n = aph_tensor_nbytes(t);
    if (n > sizeof buf) return APH_ERR_INVALID_ARGUMENT;
    aph_status st = aph_tensor_to_host(t, buf, (size_t)n);
    if (st == APH_OK) *h = rf_hash(*h, buf, (size_t)n);
    return st;
}

/* Writes the weights of rf_graph_json (w1, b1, w2) and an extra tensor to path, with metadata. */
static inline aph_status rf_write_weights(aph_device* dev, const char* path) {
    const int64_t s_w1[2] = {3, 4}, s_b1[1] = {3}, s_w2[2] = {2, 3}, s_ids[1] = {3};
    const int32_t ids[3] = {7, -1, 42};
    aph_tensor* t[4] = {NULL, NULL, NULL, NULL};
    aph_status st = aph_tensor_from_host(dev, APH_DTYPE_F32, s_w1, 2, rf_w1, sizeof rf_w1, &t[0]);
    if (st == APH_OK) st = aph_tensor_from_host(dev, APH_DTYPE_F32, s_b1, 1, rf_b1, sizeof rf_b1, &t[1]);
    if (st == APH_OK) st = aph_tensor_from_host(dev, APH_DTYPE_F32, s_w2, 2, rf_w2, sizeof rf_w2, &t[2]);
    if (st == APH_OK) st = aph_tensor_from_host(dev, APH_DTYPE_I32, s_ids, 1, ids, sizeof ids, &t[3]);
    if (st == APH_OK) {
        const char* names[4] = {"w1", "b1", "w2", "ids"};
        st = aph_safetensors_save(path, names, (const aph_tensor* const*)t, 4,
                                  "{\"format\":\"pt\",\"source\":\"reliability fixtures\"}");
    }
    for (int i = 0; i < 4; ++i) aph_tensor_release(t[i]);
    return st;
}

#endif /* APH_RELIABILITY_FIXTURES_H */
