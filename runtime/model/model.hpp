// Text encoders from Hugging Face directories (header section 23): a BERT encoder whose graph
// the library builds from config.json, run by the executor on model.safetensors' own tensors,
// with the directory's tokenizer, pooling and normalisation (as sentence-transformers loads it).
#pragma once

#include "aphelion.h"

#include "../core/refcount.hpp"
#include "../graph/graph.hpp"
#include "tokenizer.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace aph::exec {
class SafetensorsFile;
}

namespace aph::model {

// config.json of a BERT model (the keys the graph needs).
struct BertConfig {
    int64_t hidden_size = 0;
    int64_t num_layers = 0;
    int64_t num_heads = 0;
    int64_t intermediate_size = 0;
    int64_t max_positions = 0;
    int64_t type_vocab_size = 0;
    int64_t vocab_size = 0;
    double layer_norm_eps = 1e-12;
};

// Reads and checks dir's config.json (APH_ERR_IO, APH_ERR_SERIALIZATION, APH_ERR_INVALID_CONFIG).
BertConfig read_bert_config(const std::string& path);

// The encoder graph: inputs input_ids / attention_mask i64 ["batch", "seq"], output embeddings
// f32 ["batch", hidden_size]; weight nodes named (and keyed) prefix + the checkpoint's keys.
graph::Graph build_bert_graph(const BertConfig& config, const std::string& prefix, aph_pooling pooling, bool normalize);

}  // namespace aph::model

// The C handle.
struct aph_model {
    aph::RefCount refs;
    aph_device* device = nullptr;  // owned reference
    aph_tokenizer tokenizer;       // configured for the model (max_length, longest padding)
    aph_graph graph;
    aph_executor* executor = nullptr;  // owned reference
    std::shared_ptr<aph::exec::SafetensorsFile> weights;
    aph::model::BertConfig config;
    aph_pooling pooling = APH_POOLING_MEAN;
    bool normalize = false;
    size_t max_length = 0;
    size_t batch_size = 32;
    aph_model_progress_fn progress = nullptr;
    void* progress_user_data = nullptr;

    aph_model() = default;
    aph_model(const aph_model&) = delete;
    aph_model& operator=(const aph_model&) = delete;
    ~aph_model();
};

namespace aph::model {

// A new model (one reference) for dir; throws the errors of aph_model_load.
aph_model* load_model(const std::string& dir, const aph_model_options* options);
// New f32 [count, dim] CPU tensors (aph_model_embed, aph_model_embed_tokens).
aph_tensor* embed(aph_model& model, const char* const* texts, const size_t* lengths, size_t count);
aph_tensor* embed_tokens(aph_model& model, const aph_tensor* input_ids, const aph_tensor* attention_mask);

}  // namespace aph::model
