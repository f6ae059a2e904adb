// C API, section 23: text encoders from Hugging Face directories.
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../model/model.hpp"

extern "C" {

APH_API aph_status aph_model_load(const char* dir, const aph_model_options* options, aph_model** out) {
    return aph::guard([&] {
        aph::require_arg(dir, "dir");
        aph::require_arg(out, "out");
        *out = aph::model::load_model(dir, options);
    });
}

APH_API void aph_model_retain(aph_model* model) {
    if (model != nullptr) model->refs.retain();
}

APH_API void aph_model_release(aph_model* model) {
    if (model != nullptr && model->refs.release()) delete model;
}

APH_API size_t aph_model_embedding_dim(const aph_model* model) {
    return model ? static_cast<size_t>(model->config.hidden_size) : 0;
}

APH_API size_t aph_model_max_length(const aph_model* model) { return model ? model->max_length : 0; }

APH_API aph_pooling aph_model_pooling(const aph_model* model) { return model ? model->pooling : APH_POOLING_MEAN; }

APH_API int aph_model_normalizes(const aph_model* model) { return model && model->normalize ? 1 : 0; }

APH_API const aph_tokenizer* aph_model_tokenizer(const aph_model* model) { return model ? &model->tokenizer : nullptr; }

APH_API const aph_graph* aph_model_graph(const aph_model* model) { return model ? &model->graph : nullptr; }

APH_API aph_executor* aph_model_executor(aph_model* model) { return model ? model->executor : nullptr; }

APH_API aph_status aph_model_embed(aph_model* model, const char* const* texts, const size_t* text_lengths, size_t count,
                                   aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(model, "model");
        aph::require_arg(out, "out");
        *out = aph::model::embed(*model, texts, text_lengths, count);
    });
}

APH_API aph_status aph_model_embed_tokens(aph_model* model, const aph_tensor* input_ids,
                                          const aph_tensor* attention_mask, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(model, "model");
        aph::require_arg(out, "out");
        *out = aph::model::embed_tokens(*model, input_ids, attention_mask);
    });
}

}  // extern "C"
