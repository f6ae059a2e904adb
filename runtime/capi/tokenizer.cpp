// C API, section 22: tokenizers.
#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../model/tokenizer.hpp"

#include <cstring>
#include <vector>

// The handle: the immutable tokenizer (shared, so that a future model object can hold it too).
struct aph_tokenizer {
    std::shared_ptr<const aph::model::Tokenizer> t;
};

namespace {

namespace t = aph::tensor;

// Tensors are released on failure unless handed out.
struct TensorGuard {
    aph_tensor* p = nullptr;
    ~TensorGuard() { t::release(p); }
    aph_tensor* take() {
        aph_tensor* r = p;
        p = nullptr;
        return r;
    }
};

}  // namespace

extern "C" {

APH_API aph_status aph_tokenizer_load(const char* path, aph_tokenizer** out) {
    return aph::guard([&] {
        aph::require_arg(path, "path");
        aph::require_arg(out, "out");
        *out = new aph_tokenizer{aph::model::Tokenizer::from_file(path)};
    });
}

APH_API aph_status aph_tokenizer_load_json(const char* json, size_t length, aph_tokenizer** out) {
    return aph::guard([&] {
        if (length > 0) aph::require_arg(json, "json");
        aph::require_arg(out, "out");
        *out = new aph_tokenizer{
            aph::model::Tokenizer::from_json(std::string_view(json ? json : "", length), "tokenizer.json")};
    });
}

APH_API void aph_tokenizer_release(aph_tokenizer* tokenizer) { delete tokenizer; }

APH_API size_t aph_tokenizer_vocab_size(const aph_tokenizer* tokenizer) {
    return tokenizer ? tokenizer->t->vocab_size() : 0;
}

APH_API int64_t aph_tokenizer_token_to_id(const aph_tokenizer* tokenizer, const char* token) {
    if (tokenizer == nullptr || token == nullptr) return -1;
    return tokenizer->t->token_to_id(token);
}

APH_API const char* aph_tokenizer_id_to_token(const aph_tokenizer* tokenizer, int64_t id) {
    if (tokenizer == nullptr) return nullptr;
    const std::string* s = tokenizer->t->id_to_token(id);
    return s ? s->c_str() : nullptr;
}

APH_API size_t aph_tokenizer_max_length(const aph_tokenizer* tokenizer) {
    return tokenizer ? tokenizer->t->max_length() : 0;
}

APH_API size_t aph_tokenizer_special_token_count(const aph_tokenizer* tokenizer) {
    return tokenizer ? tokenizer->t->special_token_count() : 0;
}

APH_API aph_status aph_tokenizer_encode(const aph_tokenizer* tokenizer, const char* const* texts,
                                        const size_t* text_lengths, size_t count,
                                        const aph_tokenizer_encode_options* options, aph_device* device,
                                        aph_tensor** out_input_ids, aph_tensor** out_attention_mask,
                                        aph_tensor** out_token_type_ids, size_t* out_lengths, size_t lengths_capacity) {
    return aph::guard([&] {
        aph::require_arg(tokenizer, "tokenizer");
        aph::require_arg(device, "device");
        if (count > 0) aph::require_arg(texts, "texts");
        if (out_lengths != nullptr && lengths_capacity < count)
            throw aph::invalid_argument(
                aph::strprintf("lengths_capacity %zu is less than count %zu", lengths_capacity, count));
        const aph::model::EncodeSettings settings = tokenizer->t->resolve(options);
        const aph::model::Batch batch = tokenizer->t->encode_batch(texts, text_lengths, count, settings);

        const int64_t shape[2] = {static_cast<int64_t>(batch.rows), static_cast<int64_t>(batch.cols)};
        aph_tensor** outs[3] = {out_input_ids, out_attention_mask, out_token_type_ids};
        TensorGuard made[3];
        for (int i = 0; i < 3; ++i) {
            if (outs[i] != nullptr) made[i].p = t::create(device, nullptr, APH_DTYPE_I64, shape, 2);
        }
        if (device->kind == APH_DEVICE_CPU) {
            auto data = [&](int i) { return made[i].p ? reinterpret_cast<int64_t*>(made[i].p->data()) : nullptr; };
            batch.fill(data(0), data(1), data(2));
        } else {
            const size_t n = batch.rows * batch.cols;
            std::vector<int64_t> host[3];
            for (int i = 0; i < 3; ++i) {
                if (made[i].p) host[i].resize(n);
            }
            auto data = [&](int i) { return made[i].p ? host[i].data() : nullptr; };
            batch.fill(data(0), data(1), data(2));
            for (int i = 0; i < 3; ++i) {
                if (made[i].p) t::from_host(made[i].p, host[i].data(), n * sizeof(int64_t), nullptr, true);
            }
        }
        if (out_lengths != nullptr) {
            for (size_t i = 0; i < count; ++i) out_lengths[i] = batch.encodings[i].ids.size();
        }
        for (int i = 0; i < 3; ++i) {
            if (outs[i] != nullptr) *outs[i] = made[i].take();
        }
    });
}

APH_API aph_status aph_tokenizer_encode_ids(const aph_tokenizer* tokenizer, const char* text, size_t length,
                                            const aph_tokenizer_encode_options* options, int64_t* out_ids,
                                            size_t capacity, size_t* out_count) {
    return aph::guard([&] {
        aph::require_arg(tokenizer, "tokenizer");
        aph::require_arg(out_count, "out_count");
        if (length > 0) aph::require_arg(text, "text");
        if (out_ids == nullptr && capacity > 0)
            throw aph::invalid_argument("out_ids must not be NULL when capacity > 0");
        const aph::model::EncodeSettings settings = tokenizer->t->resolve(options);
        const char* texts[1] = {text ? text : ""};
        const size_t lengths[1] = {length};
        aph::model::Batch batch;
        try {
            batch = tokenizer->t->encode_batch(texts, lengths, 1, settings);
        } catch (const aph::Error& e) {
            // Messages name "texts[0]"; this function's argument is "text".
            std::string m = e.what();
            if (const size_t p = m.find("texts[0]"); p != std::string::npos) m.replace(p, 8, "text");
            throw aph::Error::raw(e.status(), m);
        }
        const size_t n = batch.cols;
        if (capacity > 0 && capacity < n)
            throw aph::invalid_argument(
                aph::strprintf("capacity %zu is less than the %zu ids of the text", capacity, n));
        if (capacity > 0) batch.fill(out_ids, nullptr, nullptr);
        *out_count = n;
    });
}

}  // extern "C"
