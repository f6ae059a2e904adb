// C API, sections 16 and 17: model configurations, validators and build graphs.
#include "../core/error.hpp"
#include "../graph/graph.hpp"
#include "../graph/serde_json.hpp"
#include "cstring.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>

using aph::graph::Json;

namespace {

std::string io_reason(const char* path) { return std::string(path) + ": " + std::strerror(errno); }

std::string read_file(const char* path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path, "rb"), &std::fclose);
    if (!f) throw aph::Error::kind(APH_ERR_IO, io_reason(path));
    std::string text;
    char buf[65536];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, got);
    if (std::ferror(f.get())) throw aph::Error::kind(APH_ERR_IO, io_reason(path));
    return text;
}

void write_file(const char* path, const std::string& text) {
    std::FILE* f = std::fopen(path, "wb");
    if (f == nullptr) throw aph::Error::kind(APH_ERR_IO, io_reason(path));
    const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int saved = errno;
    const bool closed = std::fclose(f) == 0;
    if (!wrote || !closed) {
        if (!wrote) errno = saved;
        throw aph::Error::kind(APH_ERR_IO, io_reason(path));
    }
}

aph::graph::ModelConfig& cfg_of(aph_model_config* config) {
    aph::require_arg(config, "config");
    return config->cfg;
}

const aph::graph::ModelConfig& cfg_of(const aph_model_config* config) {
    aph::require_arg(config, "config");
    return config->cfg;
}

void set_param(aph_model_config* config, const char* key, Json value) {
    auto& cfg = cfg_of(config);
    aph::require_arg(key, "key");
    cfg.params[std::string(key)] = std::move(value);
}

}  // namespace

const aph_graph::NodeView& aph_graph::node_view(uint64_t id) const {
    const aph::graph::Node& node = g.node(id);  // throws for an unknown id
    if (views.size() < g.nodes.size()) views.resize(g.nodes.size());
    auto& view = views[static_cast<size_t>(id - 1)];
    if (!view) view.reset(new NodeView{node.name, aph_model_config{node.config}});
    return *view;
}

extern "C" {

/* ---- 16. Model configurations ------------------------------------------------------------ */

APH_API aph_status aph_model_config_create(const char* name, const char* version, aph_model_config** out) {
    return aph::guard([&] {
        aph::require_arg(name, "name");
        aph::require_arg(version, "version");
        aph::require_arg(out, "out");
        auto* c = new aph_model_config();
        c->cfg.name = name;
        c->cfg.version = version;
        *out = c;
    });
}

APH_API aph_status aph_model_config_preset(const char* preset, const char* name, aph_model_config** out) {
    return aph::guard([&] {
        aph::require_arg(preset, "preset");
        aph::require_arg(name, "name");
        aph::require_arg(out, "out");
        auto c = std::make_unique<aph_model_config>();
        c->cfg = aph::graph::ModelConfig::preset(preset, name);
        *out = c.release();
    });
}

APH_API aph_status aph_model_config_from_json(const char* json, aph_model_config** out) {
    return aph::guard([&] {
        aph::require_arg(json, "json");
        aph::require_arg(out, "out");
        auto c = std::make_unique<aph_model_config>();
        c->cfg = aph::graph::ModelConfig::from_json(aph::graph::parse_json(json, "config JSON"), "config");
        *out = c.release();
    });
}

APH_API aph_status aph_model_config_clone(const aph_model_config* config, aph_model_config** out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(out, "out");
        *out = new aph_model_config{cfg};
    });
}

APH_API void aph_model_config_release(aph_model_config* config) { delete config; }

APH_API const char* aph_model_config_name(const aph_model_config* config) {
    return config ? config->cfg.name.c_str() : "";
}

APH_API const char* aph_model_config_version(const aph_model_config* config) {
    return config ? config->cfg.version.c_str() : "";
}

APH_API size_t aph_model_config_param_count(const aph_model_config* config) {
    return config ? config->cfg.params.size() : 0;
}

APH_API const char* aph_model_config_param_key(const aph_model_config* config, size_t index) {
    if (config == nullptr || !config->cfg.params.is_object() || index >= config->cfg.params.size()) return nullptr;
    const auto& obj = config->cfg.params.get_ref<const Json::object_t&>();
    auto it = obj.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(index));
    return it->first.c_str();
}

APH_API int aph_model_config_has_param(const aph_model_config* config, const char* key) {
    if (config == nullptr || key == nullptr) return 0;
    return config->cfg.params.contains(std::string(key)) ? 1 : 0;
}

APH_API aph_status aph_model_config_set_int(aph_model_config* config, const char* key, int64_t value) {
    return aph::guard([&] { set_param(config, key, Json(value)); });
}

APH_API aph_status aph_model_config_set_float(aph_model_config* config, const char* key, double value) {
    return aph::guard([&] {
        cfg_of(config);
        aph::require_arg(key, "key");
        if (!std::isfinite(value))
            throw aph::invalid_argument(std::string("value for parameter '") + key +
                                        "' is not finite (JSON has no NaN or infinity)");
        set_param(config, key, Json(value));
    });
}

APH_API aph_status aph_model_config_set_bool(aph_model_config* config, const char* key, int value) {
    return aph::guard([&] {
        cfg_of(config);
        aph::require_arg(key, "key");
        set_param(config, key, Json(value != 0));  // any non-zero value is true
    });
}

APH_API aph_status aph_model_config_set_string(aph_model_config* config, const char* key, const char* value) {
    return aph::guard([&] {
        cfg_of(config);
        aph::require_arg(key, "key");
        aph::require_arg(value, "value");
        set_param(config, key, Json(std::string(value)));
    });
}

APH_API aph_status aph_model_config_set_json(aph_model_config* config, const char* key, const char* value_json) {
    return aph::guard([&] {
        cfg_of(config);
        aph::require_arg(key, "key");
        aph::require_arg(value_json, "value_json");
        set_param(config, key, aph::graph::parse_json(value_json, (std::string("parameter '") + key + "'").c_str()));
    });
}

APH_API aph_status aph_model_config_remove(aph_model_config* config, const char* key) {
    return aph::guard([&] {
        auto& cfg = cfg_of(config);
        aph::require_arg(key, "key");
        cfg.param(key);  // the missing-parameter error
        cfg.params.erase(std::string(key));
    });
}

APH_API aph_status aph_model_config_get_int(const aph_model_config* config, const char* key, int64_t* out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(key, "key");
        aph::require_arg(out, "out");
        *out = cfg.get_int(key);
    });
}

APH_API aph_status aph_model_config_get_float(const aph_model_config* config, const char* key, double* out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(key, "key");
        aph::require_arg(out, "out");
        *out = cfg.get_float(key);
    });
}

APH_API aph_status aph_model_config_get_bool(const aph_model_config* config, const char* key, int* out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(key, "key");
        aph::require_arg(out, "out");
        *out = cfg.get_bool(key) ? 1 : 0;
    });
}

APH_API aph_status aph_model_config_get_string(const aph_model_config* config, const char* key, const char** out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(key, "key");
        aph::require_arg(out, "out");
        *out = cfg.get_string(key).c_str();
    });
}

APH_API aph_status aph_model_config_get_json(const aph_model_config* config, const char* key, char** out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(key, "key");
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(aph::graph::serde_compact(cfg.param(key)));
    });
}

APH_API aph_status aph_model_config_to_json(const aph_model_config* config, char** out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(cfg.to_compact_json());
    });
}

APH_API aph_status aph_validate_name(const char* name) {
    return aph::guard([&] {
        aph::require_arg(name, "name");
        aph::graph::validate_name(name);
    });
}

APH_API aph_status aph_validate_version(const char* version) {
    return aph::guard([&] {
        aph::require_arg(version, "version");
        aph::graph::validate_version(version);
    });
}

APH_API aph_status aph_model_config_validate(const aph_model_config* config) {
    return aph::guard([&] {
        const std::vector<std::string> errors = aph::graph::validate_config(cfg_of(config));
        if (errors.empty()) return;
        std::string joined;
        for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
        throw aph::Error::kind(APH_ERR_VALIDATION, joined);
    });
}

APH_API aph_status aph_model_config_validation_errors(const aph_model_config* config, char** out) {
    return aph::guard([&] {
        const auto& cfg = cfg_of(config);
        aph::require_arg(out, "out");
        std::string lines;
        for (const auto& e : aph::graph::validate_config(cfg)) lines += (lines.empty() ? "" : "\n") + e;
        *out = aph::c_string_copy(lines);
    });
}

/* ---- 17. Build graphs -------------------------------------------------------------------- */

APH_API aph_status aph_graph_create(aph_graph** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        *out = new aph_graph();
    });
}

APH_API aph_status aph_graph_clone(const aph_graph* graph, aph_graph** out) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(out, "out");
        auto copy = std::make_unique<aph_graph>();
        copy->g = graph->g;
        *out = copy.release();
    });
}

APH_API void aph_graph_release(aph_graph* graph) { delete graph; }

APH_API aph_status aph_graph_add_node(aph_graph* graph, const char* name, const aph_model_config* config,
                                      uint64_t* out_id) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(name, "name");
        const auto& cfg = cfg_of(config);
        uint64_t id = graph->g.add_node(name, cfg);
        if (out_id) *out_id = id;
    });
}

APH_API aph_status aph_graph_add_edge(aph_graph* graph, uint64_t from, uint64_t to) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        graph->g.add_edge(from, to);
    });
}

APH_API aph_status aph_graph_set_metadata(aph_graph* graph, uint64_t id, const char* key, const char* value_json) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(key, "key");
        aph::require_arg(value_json, "value_json");
        aph::graph::Node& node = graph->g.node(id);
        Json value = aph::graph::parse_json(value_json, (std::string("metadata '") + key + "'").c_str());
        node.metadata[std::string(key)] = std::move(value);
    });
}

APH_API size_t aph_graph_node_count(const aph_graph* graph) { return graph ? graph->g.nodes.size() : 0; }

APH_API size_t aph_graph_edge_count(const aph_graph* graph) { return graph ? graph->g.edges.size() : 0; }

APH_API aph_status aph_graph_node(const aph_graph* graph, uint64_t id, const char** out_name,
                                  const aph_model_config** out_config) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        const aph_graph::NodeView& view = graph->node_view(id);
        if (out_name) *out_name = view.name.c_str();
        if (out_config) *out_config = &view.config;
    });
}

APH_API aph_status aph_graph_node_metadata(const aph_graph* graph, uint64_t id, char** out) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(aph::graph::serde_compact(graph->g.node(id).metadata));
    });
}

APH_API aph_status aph_graph_find_node(const aph_graph* graph, const char* name, uint64_t* out_id) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(name, "name");
        aph::require_arg(out_id, "out_id");
        for (const auto& node : graph->g.nodes) {
            if (node.name == name) {
                *out_id = node.id;
                return;
            }
        }
        throw aph::Error::kind(APH_ERR_NOT_FOUND, std::string("no node named '") + name + "'");
    });
}

APH_API aph_status aph_graph_edge(const aph_graph* graph, size_t index, uint64_t* out_from, uint64_t* out_to) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        const auto& edges = graph->g.edges;
        if (index >= edges.size())
            throw aph::invalid_argument(
                aph::strprintf("edge index %zu is out of range (the graph has %zu edges)", index, edges.size()));
        if (out_from) *out_from = edges[index].first;
        if (out_to) *out_to = edges[index].second;
    });
}

APH_API aph_status aph_graph_stable_hash(const aph_graph* graph, char* out, size_t capacity) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(out, "out");
        if (capacity < 65)
            throw aph::invalid_argument(
                aph::strprintf("capacity is %zu; the hash needs 65 bytes (64 hex digits and a NUL)", capacity));
        const std::string hex = graph->g.stable_hash();
        std::memcpy(out, hex.c_str(), 65);
    });
}

APH_API int aph_graph_has_cycle(const aph_graph* graph) {
    if (graph == nullptr) return 0;
    int result = 0;
    // has_cycle only allocates; a failed allocation answers 0 and records the error.
    aph::guard([&] { result = graph->g.has_cycle() ? 1 : 0; });
    return result;
}

APH_API aph_status aph_graph_topological_sort(const aph_graph* graph, uint64_t* out_ids, size_t capacity) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        const size_t n = graph->g.nodes.size();
        if (n > 0) aph::require_arg(out_ids, "out_ids");
        if (capacity < n)
            throw aph::invalid_argument(aph::strprintf("capacity is %zu, but the graph has %zu nodes", capacity, n));
        const std::vector<uint64_t> order = graph->g.topological_sort();
        if (!order.empty()) std::memcpy(out_ids, order.data(), order.size() * sizeof(uint64_t));
    });
}

APH_API aph_status aph_graph_to_dot(const aph_graph* graph, char** out) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(graph->g.to_dot());
    });
}

APH_API aph_status aph_graph_to_json(const aph_graph* graph, int pretty, char** out) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(out, "out");
        *out = aph::c_string_copy(graph->g.to_json(pretty != 0));  // any non-zero value is true
    });
}

APH_API aph_status aph_graph_from_json(const char* json, size_t len, aph_graph** out) {
    return aph::guard([&] {
        aph::require_arg(json, "json");
        aph::require_arg(out, "out");
        auto g = std::make_unique<aph_graph>();
        g->g = aph::graph::Graph::from_json(std::string_view(json, len));
        *out = g.release();
    });
}

APH_API aph_status aph_graph_load(const char* path, aph_graph** out) {
    return aph::guard([&] {
        aph::require_arg(path, "path");
        aph::require_arg(out, "out");
        const std::string text = read_file(path);
        auto g = std::make_unique<aph_graph>();
        g->g = aph::graph::Graph::from_json(text);
        *out = g.release();
    });
}

APH_API aph_status aph_graph_save(const aph_graph* graph, const char* path) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(path, "path");
        write_file(path, graph->g.to_json(true));
    });
}

}  // extern "C"
