// Build graphs and model configurations (header sections 16 and 17; docs/compat.md section 6).
//
// Plain value types: the C handles aph_model_config and aph_graph wrap them (runtime/capi/
// graph.cpp). JSON values are nlohmann::json, whose objects are std::map<std::string, ...>:
// keys sorted bytewise, as serde_json's BTreeMap keeps them. serde_json.hpp prints them
// byte-for-byte as serde_json does.
#pragma once

#include "aphelion.h"

#include "../core/json.hpp"  // nlohmann/json, with its destructor made safe to run out of memory

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aph::graph {

using Json = nlohmann::json;

struct ModelConfig {
    std::string name;
    std::string version;
    Json params = Json::object();

    // {"name":...,"version":...,"params":{...}} in that field order (serde's struct order).
    std::string to_compact_json() const;
    // Throws APH_ERR_SERIALIZATION naming the field ("{where}.version: expected a string").
    static ModelConfig from_json(const Json& j, const std::string& where = "config");

    // Typed access with the header's APH_ERR_INVALID_CONFIG messages.
    const Json& param(const std::string& key) const;  // missing -> error
    int64_t get_int(const std::string& key) const;
    double get_float(const std::string& key) const;
    bool get_bool(const std::string& key) const;
    const std::string& get_string(const std::string& key) const;

    static ModelConfig preset(const std::string& preset, const std::string& name);  // throws
};

// The JSON type name used in messages: null, bool, integer, number, string, array, object.
const char* json_type_name(const Json& j);

// Validators (docs/compat.md section 7): throw APH_ERR_VALIDATION with the exact message.
void validate_name(const std::string& name);
void validate_version(const std::string& version);
// Every problem, each "{field}: {message}"; empty when valid.
std::vector<std::string> validate_config(const ModelConfig& config);

struct Node {
    uint64_t id = 0;
    std::string name;
    ModelConfig config;
    Json metadata = Json::object();
};

class Graph {
public:
    std::vector<Node> nodes;                           // nodes[i].id == i + 1
    std::vector<std::pair<uint64_t, uint64_t>> edges;  // insertion order

    uint64_t add_node(std::string name, ModelConfig config);
    // Throws APH_ERR_GRAPH when from or to names no node (nothing added).
    void add_edge(uint64_t from, uint64_t to);
    // nullptr when id names no node.
    const Node* find(uint64_t id) const noexcept;
    Node* find(uint64_t id) noexcept;
    // Throws APH_ERR_GRAPH for an unknown id ("graph error: no node with id 9 (the graph has 3
    // nodes)").
    const Node& node(uint64_t id) const;
    Node& node(uint64_t id);

    std::string stable_hash() const;  // 64 lowercase hex digits
    bool has_cycle() const;
    // Throws APH_ERR_BUILD on a cycle, APH_ERR_GRAPH for an edge naming no node (loaded graphs).
    std::vector<uint64_t> topological_sort() const;
    std::string to_dot() const;
    // The same content as a nlohmann value (metadata included; keys sorted, so not the serde
    // field order: print with to_json for that).
    Json to_json_value() const;
    std::string to_json(bool pretty) const;
    // Throws APH_ERR_SERIALIZATION (position or field named).
    static Graph from_json(std::string_view text);
    static Graph from_json_value(const Json& j);
};

}  // namespace aph::graph

// The C handles.
struct aph_model_config {
    aph::graph::ModelConfig cfg;
    // Borrowed strings handed out by the getters point into cfg itself (name, version, param
    // keys and string values), so they stay valid until cfg changes.
};

struct aph_graph {
    aph::graph::Graph g;
    // What aph_graph_node hands out: views[i] holds copies of g.nodes[i]'s name and
    // configuration, made on first request. g.nodes is a vector that moves its nodes (and the
    // characters of short names, kept inside the std::string) when it grows; a view is a heap
    // object of its own that never moves, and nodes are append-only with a name and a
    // configuration that never change (the C API has no call that changes or removes them), so
    // a view stays valid and correct until the graph is released.
    struct NodeView {
        std::string name;
        aph_model_config config;
    };
    mutable std::vector<std::unique_ptr<NodeView>> views;

    // The view of node id (throws APH_ERR_NOT_FOUND for an unknown id).
    const NodeView& node_view(uint64_t id) const;
};
