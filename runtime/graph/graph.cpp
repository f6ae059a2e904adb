// Build graphs (header section 17; docs/compat.md section 6; aphelion-core graph.rs).
#include "graph.hpp"
#include "serde_json.hpp"

#include "../core/error.hpp"

#include <openssl/evp.h>

#include <deque>
#include <memory>
#include <unordered_map>

namespace aph::graph {

namespace {

std::string count_nodes(size_t n) { return std::to_string(n) + (n == 1 ? " node" : " nodes"); }

// The graph's vertices for the traversals: nodes are 0..n-1 (id i+1); ids that edges name but
// no node has (possible in loaded graphs) get the indices after them, in order of appearance.
// Outgoing edges are kept per vertex in insertion order (compressed rows), so scanning a
// vertex's list visits the same edges, in the same order, as aphelion-core's scan of the whole
// edge list filtered by `from`.
struct Adjacency {
    size_t vertex_count = 0;
    std::vector<size_t> row;    // row[v] .. row[v+1]: v's outgoing edges in col
    std::vector<size_t> col;    // target vertex of each edge
    std::vector<uint64_t> ids;  // the id of each vertex

    explicit Adjacency(const Graph& g) {
        const uint64_t n = g.nodes.size();
        ids.reserve(n);
        for (uint64_t i = 1; i <= n; ++i) ids.push_back(i);
        std::unordered_map<uint64_t, size_t> extra;
        auto index = [&](uint64_t id) -> size_t {
            if (id >= 1 && id <= n) return static_cast<size_t>(id - 1);
            auto [it, inserted] = extra.try_emplace(id, ids.size());
            if (inserted) ids.push_back(id);
            return it->second;
        };
        std::vector<std::pair<size_t, size_t>> e;
        e.reserve(g.edges.size());
        for (const auto& [from, to] : g.edges) {
            size_t f = index(from);
            size_t t = index(to);
            e.emplace_back(f, t);
        }
        vertex_count = ids.size();
        row.assign(vertex_count + 1, 0);
        for (const auto& [f, t] : e) ++row[f + 1];
        for (size_t v = 0; v < vertex_count; ++v) row[v + 1] += row[v];
        col.resize(e.size());
        std::vector<size_t> fill(row.begin(), row.end() - 1);
        for (const auto& [f, t] : e) col[fill[f]++] = t;
    }
};

}  // namespace

uint64_t Graph::add_node(std::string name, ModelConfig config) {
    Node node;
    node.id = static_cast<uint64_t>(nodes.size()) + 1;
    node.name = std::move(name);
    node.config = std::move(config);
    nodes.push_back(std::move(node));
    return nodes.back().id;
}

void Graph::add_edge(uint64_t from, uint64_t to) {
    for (uint64_t id : {from, to}) {
        if (find(id) == nullptr)
            throw Error::kind(APH_ERR_NOT_FOUND,
                              strprintf("edge (%llu, %llu) names node %llu, but the graph has %s",
                                        static_cast<unsigned long long>(from), static_cast<unsigned long long>(to),
                                        static_cast<unsigned long long>(id), count_nodes(nodes.size()).c_str()));
    }
    edges.emplace_back(from, to);
}

const Node* Graph::find(uint64_t id) const noexcept {
    if (id == 0 || id > nodes.size()) return nullptr;
    return &nodes[static_cast<size_t>(id - 1)];
}

Node* Graph::find(uint64_t id) noexcept {
    if (id == 0 || id > nodes.size()) return nullptr;
    return &nodes[static_cast<size_t>(id - 1)];
}

const Node& Graph::node(uint64_t id) const {
    const Node* n = find(id);
    if (n == nullptr)
        throw Error::kind(APH_ERR_NOT_FOUND,
                          strprintf("no node with id %llu (the graph has %s)", static_cast<unsigned long long>(id),
                                    count_nodes(nodes.size()).c_str()));
    return *n;
}

Node& Graph::node(uint64_t id) { return const_cast<Node&>(static_cast<const Graph&>(*this).node(id)); }

std::string Graph::stable_hash() const {
    struct CtxFree {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
    auto check = [](int ok) {
        if (ok != 1) throw Error::kind(APH_ERR_BACKEND, "OpenSSL's SHA-256 failed");
    };
    if (!ctx) throw out_of_memory("cannot allocate an OpenSSL digest context");
    check(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr));
    auto put_u64 = [&](uint64_t v) {
        unsigned char le[8];
        for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
        check(EVP_DigestUpdate(ctx.get(), le, sizeof le));
    };
    for (const Node& n : nodes) {
        put_u64(n.id);
        check(EVP_DigestUpdate(ctx.get(), n.name.data(), n.name.size()));
        const std::string cfg = n.config.to_compact_json();
        check(EVP_DigestUpdate(ctx.get(), cfg.data(), cfg.size()));
    }
    for (const auto& [from, to] : edges) {
        put_u64(from);
        put_u64(to);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    check(EVP_DigestFinal_ex(ctx.get(), digest, &len));
    static const char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * len);
    for (unsigned int i = 0; i < len; ++i) {
        hex.push_back(kHex[digest[i] >> 4]);
        hex.push_back(kHex[digest[i] & 0xF]);
    }
    return hex;
}

bool Graph::has_cycle() const {
    // aphelion-core's recursive DFS with a recursion stack, from each unvisited node in order,
    // written with an explicit stack so that deep graphs cannot overflow the thread's stack.
    const Adjacency adj(*this);
    enum : unsigned char { kNew = 0, kOnStack = 1, kDone = 2 };
    std::vector<unsigned char> state(adj.vertex_count, kNew);
    std::vector<std::pair<size_t, size_t>> stack;  // (vertex, next position in its row)
    for (size_t start = 0; start < nodes.size(); ++start) {
        if (state[start] != kNew) continue;
        state[start] = kOnStack;
        stack.emplace_back(start, adj.row[start]);
        while (!stack.empty()) {
            auto& [v, pos] = stack.back();
            if (pos == adj.row[v + 1]) {
                state[v] = kDone;
                stack.pop_back();
                continue;
            }
            const size_t w = adj.col[pos++];
            if (state[w] == kOnStack) return true;
            if (state[w] == kNew) {
                state[w] = kOnStack;
                stack.emplace_back(w, adj.row[w]);
            }
        }
    }
    return false;
}

std::vector<uint64_t> Graph::topological_sort() const {
    if (has_cycle()) throw Error::kind(APH_ERR_BUILD, "Cannot perform topological sort: graph contains a cycle");
    // Loaded graphs may hold edges naming no node; aphelion-core would return an order with
    // those ids in it (or fail with "not all nodes were processed"): name the edge instead.
    for (const auto& [from, to] : edges) {
        for (uint64_t id : {from, to}) {
            if (find(id) == nullptr)
                throw Error::kind(APH_ERR_GRAPH,
                                  strprintf("edge (%llu, %llu) names node %llu, but the graph has %s",
                                            static_cast<unsigned long long>(from), static_cast<unsigned long long>(to),
                                            static_cast<unsigned long long>(id), count_nodes(nodes.size()).c_str()));
        }
    }
    // Kahn's algorithm: a FIFO queue seeded with the in-degree-0 nodes in insertion order; the
    // dequeued node's outgoing edges in insertion order.
    const Adjacency adj(*this);
    std::vector<size_t> in_degree(adj.vertex_count, 0);
    for (size_t t : adj.col) ++in_degree[t];
    std::deque<size_t> queue;
    for (size_t v = 0; v < nodes.size(); ++v)
        if (in_degree[v] == 0) queue.push_back(v);
    std::vector<uint64_t> order;
    order.reserve(nodes.size());
    while (!queue.empty()) {
        const size_t v = queue.front();
        queue.pop_front();
        order.push_back(adj.ids[v]);
        for (size_t p = adj.row[v]; p < adj.row[v + 1]; ++p)
            if (--in_degree[adj.col[p]] == 0) queue.push_back(adj.col[p]);
    }
    if (order.size() != nodes.size())  // unreachable without a cycle; kept as aphelion-core has it
        throw Error::kind(APH_ERR_BUILD, "Topological sort failed: not all nodes were processed");
    return order;
}

std::string Graph::to_dot() const {
    std::string dot = "digraph BuildGraph {\n";
    for (const Node& n : nodes) {
        dot += "    \"" + std::to_string(n.id) + "\" [label=\"";
        for (char c : n.name) {
            if (c == '"' || c == '\\') dot.push_back('\\');
            dot.push_back(c);
        }
        dot += "\"];\n";
    }
    for (const auto& [from, to] : edges)
        dot += "    \"" + std::to_string(from) + "\" -> \"" + std::to_string(to) + "\";\n";
    dot += "}\n";
    return dot;
}

Json Graph::to_json_value() const {
    Json j = Json::object();
    Json& jn = j["nodes"] = Json::array();
    for (const Node& n : nodes) {
        Json node = Json::object();
        node["id"] = n.id;
        node["name"] = n.name;
        node["config"] = Json{{"name", n.config.name}, {"version", n.config.version}, {"params", n.config.params}};
        node["metadata"] = n.metadata;
        jn.push_back(std::move(node));
    }
    Json& je = j["edges"] = Json::array();
    for (const auto& [from, to] : edges) je.push_back(Json::array({from, to}));
    return j;
}

std::string Graph::to_json(bool pretty) const {
    // The serde layout, fields in struct order (nodes, edges; id, name, config, metadata;
    // name, version, params), which a sorted JSON object cannot hold: written by hand, with
    // serde_json's PrettyFormatter layout when pretty.
    std::string o;
    auto newline = [&](int level) {
        if (!pretty) return;
        o.push_back('\n');
        o.append(static_cast<size_t>(level) * 2, ' ');
    };
    auto key = [&](const char* k, bool first, int level) {
        if (!first) o.push_back(',');
        newline(level);
        o.push_back('"');
        o += k;
        o += pretty ? "\": " : "\":";
    };
    o.push_back('{');
    key("nodes", true, 1);
    o.push_back('[');
    for (size_t i = 0; i < nodes.size(); ++i) {
        const Node& n = nodes[i];
        if (i) o.push_back(',');
        newline(2);
        o.push_back('{');
        key("id", true, 3);
        o += std::to_string(n.id);
        key("name", false, 3);
        serde_string(o, n.name);
        key("config", false, 3);
        o.push_back('{');
        key("name", true, 4);
        serde_string(o, n.config.name);
        key("version", false, 4);
        serde_string(o, n.config.version);
        key("params", false, 4);
        serde_write(o, n.config.params, pretty, 4);
        newline(3);
        o.push_back('}');
        key("metadata", false, 3);
        serde_write(o, n.metadata, pretty, 3);
        newline(2);
        o.push_back('}');
    }
    if (!nodes.empty()) newline(1);
    o.push_back(']');
    key("edges", false, 1);
    o.push_back('[');
    for (size_t i = 0; i < edges.size(); ++i) {
        if (i) o.push_back(',');
        newline(2);
        o.push_back('[');
        newline(3);
        o += std::to_string(edges[i].first);
        o.push_back(',');
        newline(3);
        o += std::to_string(edges[i].second);
        newline(2);
        o.push_back(']');
    }
    if (!edges.empty()) newline(1);
    o.push_back(']');
    newline(0);
    o.push_back('}');
    return o;
}

Graph Graph::from_json(std::string_view text) { return from_json_value(parse_json(text, "graph JSON")); }

Graph Graph::from_json_value(const Json& j) {
    auto fail = [](const std::string& path, const std::string& problem) {
        return Error::kind(APH_ERR_SERIALIZATION, path + ": " + problem);
    };
    // An unsigned integer as serde reads a u64 (nlohmann keeps parsed non-negative integers
    // as number_unsigned; values built in code may be number_integer).
    auto as_u64 = [](const Json& v, uint64_t& out) {
        if (v.is_number_unsigned()) {
            out = v.get<uint64_t>();
            return true;
        }
        if (v.is_number_integer() && v.get<int64_t>() >= 0) {
            out = static_cast<uint64_t>(v.get<int64_t>());
            return true;
        }
        return false;
    };
    if (!j.is_object()) throw fail("graph", "expected an object");
    auto jn = j.find("nodes");
    if (jn == j.end()) throw fail("nodes", "missing field");
    if (!jn->is_array()) throw fail("nodes", "expected an array");
    auto je = j.find("edges");
    if (je == j.end()) throw fail("edges", "missing field");
    if (!je->is_array()) throw fail("edges", "expected an array");

    Graph g;
    g.nodes.reserve(jn->size());
    for (size_t i = 0; i < jn->size(); ++i) {
        const Json& jnode = (*jn)[i];
        const std::string path = "nodes[" + std::to_string(i) + "]";
        if (!jnode.is_object()) throw fail(path, "expected an object");
        Node node;
        auto id = jnode.find("id");
        if (id == jnode.end()) throw fail(path + ".id", "missing field");
        if (!as_u64(*id, node.id)) throw fail(path + ".id", "expected an unsigned integer");
        if (node.id != i + 1)
            throw fail(path + ".id", strprintf("expected %zu (node ids are 1, 2, 3, ... in order), got %llu", i + 1,
                                               static_cast<unsigned long long>(node.id)));
        auto name = jnode.find("name");
        if (name == jnode.end()) throw fail(path + ".name", "missing field");
        if (!name->is_string()) throw fail(path + ".name", "expected a string");
        node.name = name->get<std::string>();
        auto config = jnode.find("config");
        if (config == jnode.end()) throw fail(path + ".config", "missing field");
        node.config = ModelConfig::from_json(*config, path + ".config");
        auto metadata = jnode.find("metadata");
        if (metadata != jnode.end()) {
            if (!metadata->is_object()) throw fail(path + ".metadata", "expected an object");
            node.metadata = *metadata;
        }
        g.nodes.push_back(std::move(node));
    }
    g.edges.reserve(je->size());
    for (size_t i = 0; i < je->size(); ++i) {
        const Json& jedge = (*je)[i];
        const std::string path = "edges[" + std::to_string(i) + "]";
        if (!jedge.is_array() || jedge.size() != 2) throw fail(path, "expected a two-element array [from, to]");
        uint64_t from = 0, to = 0;
        if (!as_u64(jedge[0], from)) throw fail(path + "[0]", "expected an unsigned integer");
        if (!as_u64(jedge[1], to)) throw fail(path + "[1]", "expected an unsigned integer");
        g.edges.emplace_back(from, to);
    }
    return g;
}

}  // namespace aph::graph
