// Text encoders from Hugging Face directories (header section 23).
//
// Loading follows sentence-transformers (SentenceTransformer(dir)): modules.json lists the
// modules (Transformer, Pooling, Normalize), 1_Pooling/config.json the pooling mode,
// sentence_bert_config.json the max_seq_length that overrides tokenizer.json's truncation; a
// plain Hugging Face directory gets mean pooling and no normalisation. The encoder is Hugging
// Face's BertModel (transformers/models/bert/modeling_bert.py), built as an executable graph
// whose weight nodes carry the checkpoint's keys, so the memory-mapped file is bound in place.
#include "model.hpp"

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../exec/safetensors.hpp"
#include "../graph/serde_json.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>
#include <vector>

namespace aph::model {

using Json = nlohmann::json;

namespace {

// ---- files ---------------------------------------------------------------------------------

bool file_exists(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return static_cast<bool>(in);
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        throw Error::kind(APH_ERR_IO, path + ": " + std::strerror(err ? err : ENOENT));
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) throw Error::kind(APH_ERR_IO, path + ": read failed");
    return buf.str();
}

Json read_json_object(const std::string& path) {
    Json j = graph::parse_json(read_text(path), path.c_str());
    if (!j.is_object())
        throw Error::kind(APH_ERR_SERIALIZATION, path + ": expected a JSON object, got " + graph::json_type_name(j));
    return j;
}

Error bad_config(const std::string& path, const std::string& detail) {
    return Error::kind(APH_ERR_INVALID_CONFIG, path + ": " + detail);
}

std::string shown(const Json& v) {
    if (v.is_string()) return "'" + v.get<std::string>() + "'";
    return v.dump();
}

int64_t positive_int(const Json& root, const std::string& path, const char* key) {
    auto it = root.find(key);
    if (it == root.end()) throw bad_config(path, std::string(key) + " is missing");
    if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > (int64_t{1} << 31))
        throw bad_config(path, std::string(key) + " " + shown(*it) + " is not a positive integer");
    return it->get<int64_t>();
}

// The optional string key (absent or null: def); another value is refused unless in allowed.
void check_string(const Json& root, const std::string& path, const char* key, const char* def,
                  std::initializer_list<const char*> allowed) {
    auto it = root.find(key);
    std::string value = def;
    if (it != root.end() && !it->is_null()) {
        if (!it->is_string()) throw bad_config(path, std::string(key) + " " + shown(*it) + " is not a string");
        value = it->get<std::string>();
    }
    std::string list;
    for (const char* a : allowed) {
        if (value == a) return;
        list += list.empty() ? "" : ", ";
        list += a;
    }
    throw bad_config(path, std::string(key) + " '" + value + "' is not supported (supported: " + list + ")");
}

// ---- the graph -----------------------------------------------------------------------------

class Builder {
public:
    explicit Builder(graph::Graph& g) : g_(g) {}

    uint64_t node(const std::string& name, const char* op, Json params, std::initializer_list<uint64_t> operands) {
        graph::ModelConfig c;
        c.name = op;
        c.version = "1.0.0";
        c.params = params.is_null() ? Json::object() : std::move(params);
        const uint64_t id = g_.add_node(name, std::move(c));
        for (uint64_t o : operands) g_.add_edge(o, id);
        return id;
    }
    // A weight node named after its key in the checkpoint.
    uint64_t weight(const std::string& key, std::initializer_list<int64_t> shape) {
        return node(key, "weight", Json{{"shape", Json(std::vector<int64_t>(shape))}, {"dtype", "f32"}}, {});
    }
    uint64_t linear(const std::string& name, uint64_t x, const std::string& key, int64_t n, int64_t k) {
        return node(name, "linear", nullptr, {x, weight(key + ".weight", {n, k}), weight(key + ".bias", {n})});
    }
    uint64_t layer_norm(const std::string& name, uint64_t x, const std::string& key, int64_t n, double eps) {
        return node(name, "layer_norm", Json{{"eps", eps}},
                    {x, weight(key + ".weight", {n}), weight(key + ".bias", {n})});
    }

private:
    graph::Graph& g_;
};

}  // namespace

BertConfig read_bert_config(const std::string& path) {
    const Json root = read_json_object(path);
    check_string(root, path, "model_type", "", {"bert"});
    check_string(root, path, "hidden_act", "gelu", {"gelu"});
    check_string(root, path, "position_embedding_type", "absolute", {"absolute"});
    BertConfig c;
    c.hidden_size = positive_int(root, path, "hidden_size");
    c.num_layers = positive_int(root, path, "num_hidden_layers");
    c.num_heads = positive_int(root, path, "num_attention_heads");
    c.intermediate_size = positive_int(root, path, "intermediate_size");
    c.max_positions = positive_int(root, path, "max_position_embeddings");
    c.type_vocab_size = positive_int(root, path, "type_vocab_size");
    c.vocab_size = positive_int(root, path, "vocab_size");
    auto eps = root.find("layer_norm_eps");
    if (eps != root.end()) {
        if (!eps->is_number() || !(eps->get<double>() > 0))
            throw bad_config(path, "layer_norm_eps " + shown(*eps) + " is not a positive number");
        c.layer_norm_eps = eps->get<double>();
    }
    if (c.hidden_size % c.num_heads != 0)
        throw bad_config(path, strprintf("hidden_size %lld is not a multiple of num_attention_heads %lld",
                                         static_cast<long long>(c.hidden_size), static_cast<long long>(c.num_heads)));
    return c;
}

graph::Graph build_bert_graph(const BertConfig& c, const std::string& prefix, aph_pooling pooling, bool normalize) {
    graph::Graph g;
    Builder b(g);
    const int64_t H = c.hidden_size, heads = c.num_heads, hd = c.hidden_size / c.num_heads;
    const Json bs = Json::array({"batch", "seq"});
    const uint64_t ids = b.node("input_ids", "input", Json{{"shape", bs}, {"dtype", "i64"}}, {});
    const uint64_t mask = b.node("attention_mask", "input", Json{{"shape", bs}, {"dtype", "i64"}}, {});

    // Embeddings: word + position (0 ... seq-1) + token type 0, then layer norm.
    const std::string emb = prefix + "embeddings.";
    const uint64_t we = b.node("embeddings.word", "embedding", nullptr,
                               {b.weight(emb + "word_embeddings.weight", {c.vocab_size, H}), ids});
    const uint64_t pos = b.node("embeddings.positions", "positions", Json{{"dim", -1}}, {ids});
    const uint64_t pe = b.node("embeddings.position", "embedding", nullptr,
                               {b.weight(emb + "position_embeddings.weight", {c.max_positions, H}), pos});
    const uint64_t tt = b.node("embeddings.token_type", "slice", Json{{"dim", 0}, {"start", 0}, {"stop", 1}},
                               {b.weight(emb + "token_type_embeddings.weight", {c.type_vocab_size, H})});
    const uint64_t e1 = b.node("embeddings.sum1", "add", nullptr, {we, pe});
    const uint64_t e2 = b.node("embeddings.sum2", "add", nullptr, {e1, tt});
    uint64_t h = b.layer_norm("embeddings.norm", e2, emb + "LayerNorm", H, c.layer_norm_eps);

    // The additive attention mask, [batch, 1, 1, seq]: 0 for tokens, -1e30 for padding.
    const uint64_t maskf = b.node("mask.f32", "cast", Json{{"dtype", "f32"}}, {mask});
    const uint64_t mneg = b.node("mask.minus1", "sub", Json{{"scalar", 1}}, {maskf});
    const uint64_t madd = b.node("mask.additive", "mul", Json{{"scalar", 1e30}}, {mneg});
    const uint64_t m4 = b.node("mask.4d", "reshape", Json{{"shape", Json::array({"batch", 1, 1, "seq"})}}, {madd});
    const Json split = Json{{"shape", Json::array({"batch", "seq", heads, hd})}};
    const Json merge = Json{{"shape", Json::array({"batch", "seq", H})}};

    for (int64_t l = 0; l < c.num_layers; ++l) {
        const std::string n = "layer." + std::to_string(l) + ".";
        const std::string key = prefix + "encoder.layer." + std::to_string(l) + ".";
        const uint64_t q = b.linear(n + "q", h, key + "attention.self.query", H, H);
        const uint64_t k = b.linear(n + "k", h, key + "attention.self.key", H, H);
        const uint64_t v = b.linear(n + "v", h, key + "attention.self.value", H, H);
        const uint64_t q4 = b.node(n + "q.heads", "reshape", split, {q});
        const uint64_t k4 = b.node(n + "k.heads", "reshape", split, {k});
        const uint64_t v4 = b.node(n + "v.heads", "reshape", split, {v});
        const uint64_t att = b.node(n + "attention", "attention", nullptr, {q4, k4, v4, m4});
        const uint64_t att3 = b.node(n + "attention.merged", "reshape", merge, {att});
        const uint64_t o = b.linear(n + "attention.out", att3, key + "attention.output.dense", H, H);
        const uint64_t r1 = b.node(n + "attention.residual", "add", nullptr, {o, h});
        const uint64_t h1 = b.layer_norm(n + "attention.norm", r1, key + "attention.output.LayerNorm", H,
                                         c.layer_norm_eps);
        const uint64_t f1 = b.linear(n + "ffn.up", h1, key + "intermediate.dense", c.intermediate_size, H);
        const uint64_t act = b.node(n + "ffn.gelu", "gelu", nullptr, {f1});
        const uint64_t f2 = b.linear(n + "ffn.down", act, key + "output.dense", H, c.intermediate_size);
        const uint64_t r2 = b.node(n + "ffn.residual", "add", nullptr, {f2, h1});
        h = b.layer_norm(n + "ffn.norm", r2, key + "output.LayerNorm", H, c.layer_norm_eps);
    }

    uint64_t pooled;
    if (pooling == APH_POOLING_CLS) {
        // The first token's hidden state: [batch, 1, H] -> contiguous -> [batch, H].
        const uint64_t first = b.node("pool.first", "slice", Json{{"dim", 1}, {"start", 0}, {"stop", 1}}, {h});
        const uint64_t dense = b.node("pool.contiguous", "contiguous", nullptr, {first});
        pooled = b.node("pool.cls", "reshape", Json{{"shape", Json::array({"batch", H})}}, {dense});
    } else {
        // sentence-transformers: sum(h * mask) / clamp(sum(mask), min=1e-9).
        const uint64_t m3 = b.node("pool.mask", "reshape", Json{{"shape", Json::array({"batch", "seq", 1})}}, {maskf});
        const uint64_t hm = b.node("pool.masked", "mul", nullptr, {h, m3});
        const uint64_t sum = b.node("pool.sum", "sum", Json{{"dim", 1}}, {hm});
        const uint64_t cnt = b.node("pool.count", "sum", Json{{"dim", 1}, {"keepdim", true}}, {maskf});
        const uint64_t cntc = b.node("pool.count_clamped", "maximum", Json{{"scalar", 1e-9}}, {cnt});
        pooled = b.node("pool.mean", "div", nullptr, {sum, cntc});
    }
    if (normalize) {
        // sentence-transformers' Normalize (torch.nn.functional.normalize): x / max(||x||, 1e-12).
        const uint64_t sq = b.node("normalize.square", "mul", nullptr, {pooled, pooled});
        const uint64_t ss = b.node("normalize.sum", "sum", Json{{"dim", -1}, {"keepdim", true}}, {sq});
        const uint64_t norm = b.node("normalize.norm", "sqrt", nullptr, {ss});
        const uint64_t normc = b.node("normalize.norm_clamped", "maximum", Json{{"scalar", 1e-12}}, {norm});
        pooled = b.node("normalize", "div", nullptr, {pooled, normc});
    }
    b.node("embeddings", "output", nullptr, {pooled});
    return g;
}

namespace {

// Throws the error of a failed C call made inside the library (its message is the thread's).
void check(aph_status status) {
    if (status != APH_OK) throw Error::raw(status, last_error());
}

struct ExecutorRef {
    aph_executor* p = nullptr;
    ~ExecutorRef() { aph_executor_release(p); }
};
struct DeviceRef {
    aph_device* p = nullptr;
    ~DeviceRef() {
        if (p != nullptr) device::release(p);
    }
};
struct TensorRef {
    aph_tensor* p = nullptr;
    ~TensorRef() { tensor::release(p); }
    aph_tensor* take() {
        aph_tensor* r = p;
        p = nullptr;
        return r;
    }
};

// modules.json: whether a Normalize module follows the encoder, and the pooling module's path.
struct Modules {
    bool present = false;
    bool normalize = false;
    std::string pooling_path;  // empty: none listed
};

Modules read_modules(const std::string& dir) {
    Modules m;
    const std::string path = dir + "/modules.json";
    if (!file_exists(path)) return m;
    m.present = true;
    const Json j = graph::parse_json(read_text(path), path.c_str());
    if (!j.is_array()) throw Error::kind(APH_ERR_SERIALIZATION, path + ": expected a JSON array");
    for (const Json& mod : j) {
        if (!mod.is_object() || !mod.contains("type") || !mod["type"].is_string())
            throw Error::kind(APH_ERR_SERIALIZATION, path + ": a module without a string \"type\"");
        const std::string type = mod["type"].get<std::string>();
        const std::string sub = mod.contains("path") && mod["path"].is_string() ? mod["path"].get<std::string>() : "";
        if (type == "sentence_transformers.models.Normalize") {
            m.normalize = true;
        } else if (type == "sentence_transformers.models.Pooling") {
            m.pooling_path = sub;
        } else if (type != "sentence_transformers.models.Transformer") {
            throw bad_config(path, "module type '" + type +
                                       "' is not supported (supported: sentence_transformers.models.Transformer, "
                                       "Pooling, Normalize)");
        }
    }
    return m;
}

aph_pooling read_pooling(const std::string& path) {
    const Json j = read_json_object(path);
    static const char* const kModes[] = {"pooling_mode_cls_token",           "pooling_mode_mean_tokens",
                                         "pooling_mode_max_tokens",          "pooling_mode_mean_sqrt_len_tokens",
                                         "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};
    std::vector<std::string> on;
    for (const char* mode : kModes) {
        auto it = j.find(mode);
        if (it != j.end() && it->is_boolean() && it->get<bool>()) on.push_back(mode);
    }
    if (auto it = j.find("pooling_mode"); it != j.end() && it->is_string()) {
        const std::string mode = it->get<std::string>();
        if (mode == "mean") return APH_POOLING_MEAN;
        if (mode == "cls") return APH_POOLING_CLS;
        throw bad_config(path, "pooling_mode '" + mode + "' is not supported (supported: mean, cls)");
    }
    if (on.size() == 1 && on[0] == "pooling_mode_mean_tokens") return APH_POOLING_MEAN;
    if (on.size() == 1 && on[0] == "pooling_mode_cls_token") return APH_POOLING_CLS;
    if (on.empty())
        throw bad_config(path, "no pooling mode is on (supported: pooling_mode_mean_tokens, pooling_mode_cls_token)");
    std::string list;
    for (const std::string& s : on) list += (list.empty() ? "" : ", ") + s;
    throw bad_config(path, (on.size() > 1 ? "pooling modes " : "pooling mode ") + list +
                               (on.size() > 1 ? " are" : " is") +
                               " not supported (supported: one of pooling_mode_mean_tokens, pooling_mode_cls_token)");
}

// sentence_bert_config.json's max_seq_length (0 when absent).
size_t read_max_seq_length(const std::string& dir) {
    const std::string path = dir + "/sentence_bert_config.json";
    if (!file_exists(path)) return 0;
    const Json j = read_json_object(path);
    auto it = j.find("max_seq_length");
    if (it == j.end() || it->is_null()) return 0;
    if (!it->is_number_integer() || it->get<int64_t>() <= 0)
        throw bad_config(path, "max_seq_length " + shown(*it) + " is not a positive integer");
    return static_cast<size_t>(it->get<int64_t>());
}

// Runs the executor on bound inputs and copies output rows into dst (rows × dim floats).
void run_into(aph_model& m, aph_tensor* ids, aph_tensor* mask, float* dst, size_t rows) {
    check(aph_executor_set_input(m.executor, "input_ids", ids));
    check(aph_executor_set_input(m.executor, "attention_mask", mask));
    check(aph_executor_run(m.executor));
    TensorRef out;
    check(aph_executor_output(m.executor, "embeddings", &out.p));
    tensor::to_host(out.p, dst, rows * static_cast<size_t>(m.config.hidden_size) * sizeof(float), nullptr, true);
}

}  // namespace

aph_model* load_model(const std::string& dir, const aph_model_options* options) {
    aph_model_options o{};
    if (options != nullptr) {
        if (options->struct_size < sizeof(size_t))
            throw invalid_argument("options->struct_size is too small (set it to sizeof(aph_model_options))");
        std::memcpy(&o, options, std::min(options->struct_size, sizeof o));  // later fields: defaults
    }

    std::unique_ptr<aph_model> m(new aph_model());
    m->config = read_bert_config(dir + "/config.json");

    const Modules modules = read_modules(dir);
    m->pooling = APH_POOLING_MEAN;
    if (!modules.pooling_path.empty()) m->pooling = read_pooling(dir + "/" + modules.pooling_path + "/config.json");
    m->normalize = o.normalize == 0 ? modules.normalize : o.normalize > 0;
    m->batch_size = o.batch_size ? o.batch_size : 32;
    m->progress = o.progress;
    m->progress_user_data = o.progress_user_data;

    const size_t max_pos = static_cast<size_t>(m->config.max_positions);
    size_t max_length = o.max_length;
    if (max_length > max_pos)
        throw invalid_argument(strprintf("options->max_length %zu is more than the model's max_position_embeddings %zu",
                                         max_length, max_pos));
    if (max_length == 0) {
        const size_t st_max = read_max_seq_length(dir);  // sentence-transformers' max_seq_length
        max_length = st_max > 0 ? std::min(st_max, max_pos) : max_pos;
    }
    m->max_length = max_length;
    m->tokenizer.t = Tokenizer::for_model(dir + "/tokenizer.json", max_length);
    if (max_length < m->tokenizer.t->special_token_count())
        throw invalid_argument(strprintf("options->max_length %zu is less than the %zu special tokens of the tokenizer",
                                         max_length, m->tokenizer.t->special_token_count()));

    // The weights: the checkpoint's keys, with or without BertModel's "bert." prefix.
    const std::string st_path = dir + "/model.safetensors";
    m->weights = exec::SafetensorsFile::open(st_path);
    const std::string probe = "embeddings.word_embeddings.weight";
    std::string prefix;
    if (m->weights->find(probe) == nullptr && m->weights->find("bert." + probe) != nullptr) prefix = "bert.";
    m->graph.g = build_bert_graph(m->config, prefix, m->pooling, m->normalize);

    // Every weight node's tensor, checked before anything is made on the device.
    std::vector<std::pair<const graph::Node*, const exec::TensorInfo*>> bound;
    for (const graph::Node& n : m->graph.g.nodes) {
        if (n.config.name != "weight") continue;
        const exec::TensorInfo* info = m->weights->find(n.name);
        if (info == nullptr)
            throw Error::kind(APH_ERR_NOT_FOUND, st_path + ": no tensor '" + n.name + "' (the model's weight node " +
                                                     std::to_string(n.id) + ")");
        const std::vector<int64_t> shape = n.config.params.at("shape").get<std::vector<int64_t>>();
        if (info->dtype != APH_DTYPE_F32 || info->shape != shape) {
            auto dims = [](const std::vector<int64_t>& s) {
                std::string r = "[";
                for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
                return r + "]";
            };
            throw Error::kind(APH_ERR_SERIALIZATION,
                              st_path + ": tensor '" + n.name + "' is " + exec::safetensors_dtype_name(info->dtype) +
                                  " " + dims(info->shape) + "; config.json makes it F32 " + dims(shape));
        }
        bound.emplace_back(&n, info);
    }

    if (o.device != nullptr) {
        device::retain(o.device);
        m->device = o.device;
    } else {
        m->device = device::open(APH_DEVICE_CPU, 0);
    }
    ExecutorRef ex;
    aph_executor_options eo{};
    eo.struct_size = sizeof eo;
    eo.matmul_precision = o.matmul_precision;
    check(aph_executor_create(&m->graph, m->device, &eo, &ex.p));
    for (const auto& [node, info] : bound) {
        TensorRef w;
        w.p = m->weights->tensor(*info, m->device);
        check(aph_executor_set_weight(ex.p, node->name.c_str(), w.p));
    }
    m->executor = ex.p;
    ex.p = nullptr;
    return m.release();
}

aph_tensor* embed(aph_model& m, const char* const* texts, const size_t* lengths, size_t count) {
    if (count > 0) require_arg(texts, "texts");
    const Tokenizer& tok = *m.tokenizer.t;
    const EncodeSettings settings = tok.resolve(nullptr);
    const Batch all = tok.encode_batch(texts, lengths, count, settings);

    const int64_t dim = m.config.hidden_size;
    const int64_t shape[2] = {static_cast<int64_t>(count), dim};
    DeviceRef cpu;
    cpu.p = device::open(APH_DEVICE_CPU, 0);
    TensorRef result;
    result.p = tensor::create(cpu.p, nullptr, APH_DTYPE_F32, shape, 2);
    if (count == 0) return result.take();

    // Longest first (stable), so each batch pads to lengths close to its own.
    std::vector<size_t> order(count);
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return all.encodings[a].ids.size() > all.encodings[b].ids.size(); });

    float* out = reinterpret_cast<float*>(result.p->data());
    std::vector<float> rows;
    std::vector<int64_t> ids, mask;
    for (size_t begin = 0; begin < count; begin += m.batch_size) {
        const size_t n = std::min(m.batch_size, count - begin);
        Batch batch;
        batch.settings = all.settings;
        batch.rows = n;
        batch.encodings.reserve(n);
        size_t cols = 0;
        for (size_t i = 0; i < n; ++i) {
            batch.encodings.push_back(all.encodings[order[begin + i]]);
            cols = std::max(cols, batch.encodings.back().ids.size());
        }
        if (settings.pad_multiple > 0)
            cols = (cols + settings.pad_multiple - 1) / settings.pad_multiple * settings.pad_multiple;
        batch.cols = cols;
        ids.assign(n * cols, 0);
        mask.assign(n * cols, 0);
        batch.fill(ids.data(), mask.data(), nullptr);

        const int64_t bshape[2] = {static_cast<int64_t>(n), static_cast<int64_t>(cols)};
        TensorRef tid, tmask;
        tid.p = tensor::from_blob(cpu.p, APH_DTYPE_I64, bshape, nullptr, 2, ids.data(), nullptr, nullptr, false);
        tmask.p = tensor::from_blob(cpu.p, APH_DTYPE_I64, bshape, nullptr, 2, mask.data(), nullptr, nullptr, false);
        rows.resize(n * static_cast<size_t>(dim));
        run_into(m, tid.p, tmask.p, rows.data(), n);
        for (size_t i = 0; i < n; ++i)
            std::memcpy(out + order[begin + i] * static_cast<size_t>(dim), rows.data() + i * static_cast<size_t>(dim),
                        sizeof(float) * static_cast<size_t>(dim));
        if (m.progress != nullptr) {
            const size_t done = begin + n;
            invoke_callback([&] { m.progress(m.progress_user_data, done, count); });
        }
    }
    return result.take();
}

aph_tensor* embed_tokens(aph_model& m, const aph_tensor* input_ids, const aph_tensor* attention_mask) {
    require_arg(input_ids, "input_ids");
    require_arg(attention_mask, "attention_mask");
    const aph_tensor* named[2] = {input_ids, attention_mask};
    const char* names[2] = {"input_ids", "attention_mask"};
    for (int i = 0; i < 2; ++i) {
        if (named[i]->dtype != APH_DTYPE_I64 || named[i]->shape.size() != 2)
            throw invalid_argument(strprintf("%s must be an i64 tensor [batch, seq], got %s with %zu dimensions",
                                             names[i], aph_dtype_name(named[i]->dtype), named[i]->shape.size()));
    }
    if (input_ids->shape != attention_mask->shape)
        throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                          strprintf("input_ids [%lld, %lld] and attention_mask [%lld, %lld] differ",
                                    static_cast<long long>(input_ids->shape[0]),
                                    static_cast<long long>(input_ids->shape[1]),
                                    static_cast<long long>(attention_mask->shape[0]),
                                    static_cast<long long>(attention_mask->shape[1])));
    if (input_ids->shape[1] > m.config.max_positions)
        throw Error::kind(
            APH_ERR_SHAPE_MISMATCH,
            strprintf("input_ids has %lld tokens per row, more than the model's max_position_embeddings %lld",
                      static_cast<long long>(input_ids->shape[1]), static_cast<long long>(m.config.max_positions)));
    const int64_t rows = input_ids->shape[0];
    const int64_t shape[2] = {rows, m.config.hidden_size};
    DeviceRef cpu;
    cpu.p = device::open(APH_DEVICE_CPU, 0);
    TensorRef result;
    result.p = tensor::create(cpu.p, nullptr, APH_DTYPE_F32, shape, 2);
    if (rows == 0) return result.take();
    run_into(m, const_cast<aph_tensor*>(input_ids), const_cast<aph_tensor*>(attention_mask),
             reinterpret_cast<float*>(result.p->data()), static_cast<size_t>(rows));
    return result.take();
}

}  // namespace aph::model

aph_model::~aph_model() {
    aph_executor_release(executor);
    if (device != nullptr) aph::device::release(device);
}
