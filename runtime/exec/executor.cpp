// The executor (header section 20): analysis, planning, allocation and runs.
#include "executor.hpp"

#include "../core/device.hpp"
#include "../core/dtype.hpp"
#include "../core/memory.hpp"
#include "../core/stream.hpp"
#include "../core/tensor.hpp"
#include "../core/tracker.hpp"
#include "../graph/serde_json.hpp"
#include "../graph/trace.hpp"
#include "../kernels/linear.hpp"
#include "../kernels/parallel.hpp"
#include "../ops/op.hpp"
#include "../ops/ops.hpp"
#include "safetensors.hpp"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

namespace aph::exec {

std::string node_label(const Step& s) {
    return strprintf("node %llu '%s' (%s)", static_cast<unsigned long long>(s.id), s.name.c_str(), s.op.c_str());
}

// ---------------------------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------------------------

namespace {

ValueInfo infer_custom(const Step& s, const std::vector<const ValueInfo*>& in) {
    std::vector<aph_dtype> dts;
    std::vector<const int64_t*> shapes;
    std::vector<size_t> ndims;
    for (const ValueInfo* v : in) {
        dts.push_back(v->dtype);
        shapes.push_back(v->shape.data());
        ndims.push_back(v->shape.size());
    }
    aph_dtype odt = APH_DTYPE_INVALID;
    int64_t oshape[APH_TENSOR_MAX_DIMS] = {};
    constexpr size_t capacity = APH_TENSOR_MAX_DIMS;
    size_t ondim = SIZE_MAX;
    const aph_custom_op& op = s.custom->op;
    invoke_callback_checked(
        [&] {
            return op.infer(op.user_data, s.params_json.c_str(), in.size(), dts.data(), shapes.data(), ndims.data(),
                            &odt, oshape, capacity, &ondim);
        },
        [&] { return "custom operation '" + s.op + "' inference"; });
    if (ondim == SIZE_MAX || !dtype::valid(odt))
        throw Error::kind(APH_ERR_GRAPH,
                          "custom operation '" + s.op +
                              "' inference returned no valid dtype and shape (set out_dtype and out_ndim)");
    if (ondim > capacity)
        throw Error::kind(APH_ERR_GRAPH, strprintf("custom operation '%s' inference returned %zu dimensions, more than "
                                                   "the %zu out_shape has room for",
                                                   s.op.c_str(), ondim, capacity));
    ValueInfo v;
    v.dtype = odt;
    v.shape.assign(oshape, oshape + ondim);
    for (int64_t d : v.shape)
        if (d < 0)
            throw Error::kind(APH_ERR_GRAPH, "custom operation '" + s.op + "' inferred the shape " +
                                                 memory::format_shape(v.shape.data(), v.shape.size()) +
                                                 " with a negative dimension");
    return contiguous_value(v.dtype, std::move(v.shape));
}

// ---- symbols --------------------------------------------------------------------------------

// At most this many symbols per graph (their probes stay far apart, see prime_probes).
constexpr size_t kMaxSymbols = 256;

// The probe assignments that check a graph with symbols: symbol k gets the k-th prime from
// 10007 (assignment 0) or from 20011 (assignment 1). Odd, so a relation that needs an even size
// fails; distinct, so one between two symbols fails; larger than the sizes graphs fix, so one
// between a symbol and a fixed size fails (and neither is 1, which broadcasts); prime, so a
// number in a message factors back into the symbols it came from (rewrite_probes). Small enough
// that a value with three or four symbolic sizes stays far below 2^63 bytes.
constexpr int64_t kProbeFrom[2] = {10007, 20011};

bool is_prime(int64_t n) {
    if (n < 2) return false;
    for (int64_t d = 2; d * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

std::vector<int64_t> prime_probes(size_t n, int64_t from) {
    std::vector<int64_t> out;
    for (int64_t p = from; out.size() < n; ++p)
        if (is_prime(p)) out.push_back(p);
    return out;
}

bool valid_symbol(const std::string& name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// value = c · Π probes[k]^e[k] with c not divisible by any probe: (c, e). Exponents all 0 when
// no probe divides value (or value < 1).
std::pair<int64_t, std::vector<int>> factor(int64_t value, const std::vector<int64_t>& probes) {
    std::vector<int> e(probes.size(), 0);
    if (value < 1) return {value, e};
    for (size_t k = 0; k < probes.size(); ++k)
        while (value % probes[k] == 0) {
            value /= probes[k];
            ++e[k];
        }
    return {value, e};
}

// c · Π probes[k]^e[k], or -1 when it overflows.
int64_t expand(int64_t c, const std::vector<int>& e, const std::vector<int64_t>& probes) {
    int64_t v = c;
    for (size_t k = 0; k < probes.size(); ++k)
        for (int i = 0; i < e[k]; ++i) {
            if (v != 0 && probes[k] > INT64_MAX / (v < 0 ? -v : v)) return -1;
            v *= probes[k];
        }
    return v;
}

// "batch", "seq*seq", "12*seq" for a size c · Π symbol^e.
std::string monomial(int64_t c, const std::vector<int>& e, const std::vector<std::string>& symbols) {
    std::string out = c == 1 ? "" : std::to_string(c);
    for (size_t k = 0; k < e.size(); ++k)
        for (int i = 0; i < e[k]; ++i) {
            if (!out.empty()) out += "*";
            out += symbols[k];
        }
    return out;
}

// msg with every number that is a product of probes (times a factor smaller than any probe)
// written as the symbols it stands for: "[10007, 10009, 384]" -> "[batch, seq, 384]".
std::string rewrite_probes(const std::string& msg, const std::vector<int64_t>& probes,
                           const std::vector<std::string>& symbols) {
    const int64_t smallest = *std::min_element(probes.begin(), probes.end());
    std::string out;
    for (size_t i = 0; i < msg.size();) {
        const bool starts = std::isdigit(static_cast<unsigned char>(msg[i])) &&
                            (i == 0 || !(std::isalnum(static_cast<unsigned char>(msg[i - 1])) || msg[i - 1] == '_' ||
                                         msg[i - 1] == '.'));
        if (!starts) {
            out += msg[i++];
            continue;
        }
        size_t j = i;
        while (j < msg.size() && std::isdigit(static_cast<unsigned char>(msg[j]))) ++j;
        const std::string token = msg.substr(i, j - i);
        const bool word_end = j == msg.size() || !(std::isalpha(static_cast<unsigned char>(msg[j])) || msg[j] == '_' ||
                                                   (msg[j] == '.' && j + 1 < msg.size() &&
                                                    std::isdigit(static_cast<unsigned char>(msg[j + 1]))));
        int64_t v = 0;
        bool fits = token.size() <= 18;
        for (char c : token) v = fits ? v * 10 + (c - '0') : 0;
        std::string replacement = token;
        if (fits && word_end && v >= smallest) {
            auto [c, e] = factor(v, probes);
            if (c < smallest && std::any_of(e.begin(), e.end(), [](int x) { return x > 0; }))
                replacement = monomial(c, e, symbols);
        }
        out += replacement;
        i = j;
    }
    return out;
}

// Rethrows e (a node's error under probe assignment `probes`) with the probes written as the
// symbols' names.
[[noreturn]] void rethrow_probed(const Error& e, const std::vector<int64_t>& probes,
                                 const std::vector<std::string>& symbols) {
    std::string_view prefix = status_prefix(e.status());
    std::string_view msg = e.what();
    if (msg.substr(0, prefix.size()) == prefix) msg.remove_prefix(prefix.size());
    throw Error::kind(e.status(), rewrite_probes(std::string(msg), probes, symbols));
}

// Writes the sizes of s's symbols into its shape param, so the operation's rules see a concrete
// shape (input, reshape).
void bind_symbols(Step& s, const std::vector<int64_t>& sizes) {
    if (s.symbolic_shape.empty()) return;
    Json a = Json::array();
    for (const Dim& d : s.symbolic_shape) a.push_back(d.symbol >= 0 ? sizes[static_cast<size_t>(d.symbol)] : d.size);
    s.params[s.symbolic_param] = std::move(a);
}

// s's value from its operands' (infos, by step) with the symbols at sizes.
ValueInfo infer_step(Step& s, const std::vector<ValueInfo>& infos, const std::vector<int64_t>& sizes, bool cuda) {
    bind_symbols(s, sizes);
    std::vector<const ValueInfo*> in;
    for (size_t op : s.operands) in.push_back(&infos[op]);
    return s.custom ? infer_custom(s, in) : infer_builtin(s, in, cuda);
}

// The symbols the input nodes declare, in node id order (then dimension order); names that are
// not valid symbols are skipped here and reported with their node.
std::vector<std::string> declared_symbols(const graph::Graph& g) {
    std::vector<std::string> out;
    for (const graph::Node& node : g.nodes) {
        if (node.config.name != "input" || !node.config.params.is_object()) continue;
        const auto it = node.config.params.find("shape");
        if (it == node.config.params.end() || !it->is_array()) continue;
        for (const Json& e : *it) {
            if (!e.is_string()) continue;
            const std::string& name = e.get_ref<const std::string&>();
            if (valid_symbol(name) && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
        }
    }
    return out;
}

// Reads s's symbolic shape param (prepared: integers and strings) into s.symbolic_shape.
void read_symbolic_param(Step& s, const std::vector<std::string>& symbols) {
    s.symbolic_param = symbolic_param(s.builtin);
    if (s.symbolic_param == nullptr) return;
    const Json& v = s.params.at(s.symbolic_param);
    std::vector<Dim> dims;
    bool any = false;
    for (const Json& e : v) {
        if (!e.is_string()) {
            dims.push_back(Dim{e.get<int64_t>(), -1});
            continue;
        }
        const std::string& name = e.get_ref<const std::string&>();
        if (!valid_symbol(name))
            throw Error::kind(APH_ERR_GRAPH, strprintf("param '%s' names the symbol \"%s\"; a symbol is a name of "
                                                       "letters, digits and underscores that does not start with a "
                                                       "digit",
                                                       s.symbolic_param, name.c_str()));
        const auto it = std::find(symbols.begin(), symbols.end(), name);
        if (it == symbols.end())
            throw Error::kind(APH_ERR_GRAPH, strprintf("param '%s' names the symbol '%s', which no input node's shape "
                                                       "declares",
                                                       s.symbolic_param, name.c_str()));
        dims.push_back(Dim{0, static_cast<int32_t>(it - symbols.begin())});
        any = true;
    }
    if (any) s.symbolic_shape = std::move(dims);
}

struct Analysis {
    std::vector<Step> steps;
    std::vector<std::string> symbols;
    // The assignments the graph was inferred under (one, empty, for a graph without symbols;
    // else the two probes and, when the graph accepts it, the small one) and the values.
    std::vector<std::vector<int64_t>> sizes;
    std::vector<std::vector<ValueInfo>> infos;
};

// cuda: inference for a CUDA device (f64 is refused there).
Analysis analyse(const graph::Graph& g, bool cuda) {
    const uint64_t n = g.nodes.size();
    for (const auto& [from, to] : g.edges) {
        const uint64_t bad = (from < 1 || from > n) ? from : (to < 1 || to > n) ? to : 0;
        if (bad != 0)
            throw Error::kind(APH_ERR_GRAPH,
                              strprintf("edge (%llu, %llu) names node %llu, but the graph has %llu nodes",
                                        static_cast<unsigned long long>(from), static_cast<unsigned long long>(to),
                                        static_cast<unsigned long long>(bad), static_cast<unsigned long long>(n)));
    }
    if (g.has_cycle()) throw Error::kind(APH_ERR_GRAPH, "the graph has a cycle, so it cannot be executed");
    const std::vector<uint64_t> order = g.topological_sort();

    Analysis a;
    a.symbols = declared_symbols(g);
    if (a.symbols.size() > kMaxSymbols)
        throw Error::kind(APH_ERR_GRAPH, strprintf("the input nodes declare %zu symbolic dimensions; at most %zu",
                                                   a.symbols.size(), kMaxSymbols));
    if (a.symbols.empty()) {
        a.sizes.emplace_back();
    } else {
        for (int64_t from : kProbeFrom) a.sizes.push_back(prime_probes(a.symbols.size(), from));
    }
    a.infos.assign(a.sizes.size(), std::vector<ValueInfo>(order.size()));

    std::vector<size_t> pos(n + 1, 0);
    std::vector<Step>& steps = a.steps;
    steps.resize(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
        pos[order[i]] = i;
        const graph::Node& node = g.nodes[order[i] - 1];
        Step& s = steps[i];
        s.id = node.id;
        s.name = node.name;
        s.op = node.config.name;
        s.params = node.config.params.is_object() ? node.config.params : Json::object();
        s.base = i;
    }
    for (const auto& [from, to] : g.edges) steps[pos[to]].operands.push_back(pos[from]);

    std::map<std::string, uint64_t> bind_names;
    for (size_t i = 0; i < steps.size(); ++i) {
        Step& s = steps[i];
        with_node(s, [&] {
            s.builtin = find_builtin(s.op);
            size_t lo = 0, hi = 0;
            if (s.builtin != nullptr) {
                s.kind = builtin_kind(s.builtin);
                lo = builtin_min_operands(s.builtin);
                hi = builtin_max_operands(s.builtin);
            } else {
                s.custom = find_custom(s.op);
                if (!s.custom)
                    throw Error::kind(APH_ERR_GRAPH,
                                      "unknown operation '" + s.op +
                                          "' (neither built in nor registered with aph_custom_op_register)");
                s.kind = Kind::Compute;
                lo = 0;
                hi = SIZE_MAX;
                s.params_json = graph::serde_compact(s.params);
            }
            if (s.operands.size() < lo || s.operands.size() > hi) {
                if (lo == hi)
                    throw Error::kind(APH_ERR_GRAPH, strprintf("takes %zu operand%s, got %zu", lo, lo == 1 ? "" : "s",
                                                               s.operands.size()));
                throw Error::kind(APH_ERR_GRAPH,
                                  strprintf("takes %zu to %zu operands, got %zu", lo, hi, s.operands.size()));
            }
            if (s.kind == Kind::Input || s.kind == Kind::Weight || s.kind == Kind::Output) {
                auto [it, fresh] = bind_names.emplace(s.name, s.id);
                if (!fresh)
                    throw Error::kind(APH_ERR_GRAPH, strprintf("the name is already used by node %llu; input, weight "
                                                               "and output nodes need distinct names",
                                                               static_cast<unsigned long long>(it->second)));
            }
            if (s.builtin != nullptr) {
                prepare_builtin(s);
                read_symbolic_param(s, a.symbols);
            }
            if (s.kind == Kind::View || s.kind == Kind::Output) s.base = steps[s.operands[0]].base;
        });
        for (size_t k = 0; k < a.sizes.size(); ++k) {
            try {
                a.infos[k][i] = with_node(s, [&] { return infer_step(s, a.infos[k], a.sizes[k], cuda); });
            } catch (const Error& e) {
                if (a.symbols.empty()) throw;
                rethrow_probed(e, a.sizes[k], a.symbols);
            }
        }
    }
    if (!a.symbols.empty()) {
        // Every symbol 1, for the signature only: a size the probes agree on may still depend on
        // the symbols (a slice stopping at a fixed index gives min(size, stop)). The graph may
        // reject these sizes (they are not a check); then it is left out.
        std::vector<int64_t> small(a.symbols.size(), 1);
        std::vector<ValueInfo> infos(steps.size());
        bool ok = true;
        try {
            for (size_t i = 0; i < steps.size(); ++i) infos[i] = infer_step(steps[i], infos, small, cuda);
        } catch (const std::exception&) {
            ok = false;
        }
        if (ok) {
            a.sizes.push_back(std::move(small));
            a.infos.push_back(std::move(infos));
        }
    }
    return a;
}

// Each step's signature from the analysis: a size equal under every assignment is fixed; any
// other is symbolic, named by the symbols it is a product of (checked against every assignment).
void make_signatures(aph_executor& ex, const Analysis& a) {
    for (size_t i = 0; i < ex.steps.size(); ++i) {
        Step& s = ex.steps[i];
        const std::vector<int64_t>& base = a.infos[0][i].shape;
        s.info.dtype = a.infos[0][i].dtype;  // the same under every assignment
        s.sig_shape = base;
        s.dim_names.assign(base.size(), nullptr);
        if (ex.symbols.empty()) continue;
        for (size_t d = 0; d < base.size(); ++d) {
            bool fixed = true;
            for (const std::vector<ValueInfo>& infos : a.infos) fixed = fixed && infos[i].shape[d] == base[d];
            if (fixed) continue;
            s.sig_shape[d] = -1;
            auto [c, e] = factor(base[d], a.sizes[0]);
            bool product = c >= 1 && std::any_of(e.begin(), e.end(), [](int x) { return x > 0; });
            for (size_t k = 1; k < a.infos.size() && product; ++k)
                product = expand(c, e, a.sizes[k]) == a.infos[k][i].shape[d];
            std::string name = product ? monomial(c, e, ex.symbols) : "?";
            const auto sym = std::find(ex.symbols.begin(), ex.symbols.end(), name);
            if (sym != ex.symbols.end()) {
                s.dim_names[d] = sym->c_str();
            } else {
                ex.dim_exprs.push_back(std::make_unique<std::string>(std::move(name)));
                s.dim_names[d] = ex.dim_exprs.back()->c_str();
            }
        }
    }
}

// Sets s's value in place: its shape keeps its memory (a rank never changes), so the shape
// pointers aph_executor_node_stats hands out stay valid as the current plan changes.
void set_info(Step& s, const ValueInfo& v) {
    s.info.dtype = v.dtype;
    s.info.shape.assign(v.shape.begin(), v.shape.end());
    s.info.strides.assign(v.strides.begin(), v.strides.end());
    s.info.nbytes = v.nbytes;
}

// Copies infos into the steps and plans their memory; the plan (id 0) of sizes.
Plan build_plan(std::vector<Step>& steps, std::vector<int64_t> sizes, std::vector<ValueInfo> infos) {
    for (size_t i = 0; i < steps.size(); ++i) set_info(steps[i], infos[i]);
    Plan p;
    p.info = plan_memory(steps);
    p.sizes = std::move(sizes);
    p.infos = std::move(infos);
    p.offsets.resize(steps.size());
    for (size_t i = 0; i < steps.size(); ++i) p.offsets[i] = steps[i].offset;
    return p;
}

void apply_plan(aph_executor& ex, const Plan& p) {
    for (size_t i = 0; i < ex.steps.size(); ++i) {
        set_info(ex.steps[i], p.infos[i]);
        ex.steps[i].offset = p.offsets[i];
    }
    ex.plan = p.info;
    ex.current = &p;
}

// The steps' values before any plan (a graph with symbols): the signature, no strides or bytes.
void apply_signature(aph_executor& ex) {
    for (Step& s : ex.steps) {
        s.info.shape.assign(s.sig_shape.begin(), s.sig_shape.end());
        s.info.strides.clear();
        s.info.nbytes = 0;
        s.offset = UINT64_MAX;
    }
    ex.plan = PlanInfo{};
    for (const Step& s : ex.steps) ex.plan.steps += s.kind == Kind::Compute;
    ex.current = nullptr;
}

}  // namespace

void check_graph(const graph::Graph& graph) { (void)analyse(graph, false); }

std::string sizes_str(const aph_executor& ex, const std::vector<int64_t>& sizes) {
    std::string out;
    for (size_t k = 0; k < ex.symbols.size(); ++k) {
        if (k > 0) out += ", ";
        out += ex.symbols[k] + " = " + std::to_string(sizes[k]);
    }
    return out;
}

namespace {

// Makes current the plan of sizes: the cached one, or one made now (inference at those sizes,
// errors naming the node and the sizes, then planning). Throws; current is unchanged then.
void select_plan(aph_executor& ex, const std::vector<int64_t>& sizes) {
    if (ex.current != nullptr && ex.current->sizes == sizes) return;
    for (auto it = ex.plans.begin(); it != ex.plans.end(); ++it) {
        if (it->sizes != sizes) continue;
        ex.plans.splice(ex.plans.begin(), ex.plans, it);
        apply_plan(ex, ex.plans.front());
        return;
    }
    const bool cuda = ex.device->kind == APH_DEVICE_CUDA;
    auto at_sizes = [&](const Error& e) {
        throw Error::raw(e.status(), std::string(e.what()) + " (at " + sizes_str(ex, sizes) + ")");
    };
    std::vector<ValueInfo> infos(ex.steps.size());
    for (size_t i = 0; i < ex.steps.size(); ++i) {
        Step& s = ex.steps[i];
        try {
            infos[i] = with_node(s, [&] { return infer_step(s, infos, sizes, cuda); });
        } catch (const Error& e) {
            at_sizes(e);
        }
    }
    Plan p;
    try {
        p = build_plan(ex.steps, sizes, std::move(infos));
    } catch (const Error& e) {
        if (ex.current != nullptr) apply_plan(ex, *ex.current);
        else
            apply_signature(ex);
        at_sizes(e);
    }
    p.id = ++ex.plans_made;
    ex.plans.push_front(std::move(p));
    while (ex.plans.size() > ex.max_plans) ex.plans.pop_back();
    apply_plan(ex, ex.plans.front());
}

}  // namespace

std::vector<int64_t> bound_sizes(const aph_executor& ex) {
    std::vector<int64_t> sizes(ex.symbols.size(), -1);
    for (bool fresh : {true, false})
        for (size_t i : ex.inputs) {
            const Step& s = ex.steps[i];
            if (s.bound == nullptr || s.fresh != fresh) continue;
            for (size_t d = 0; d < s.symbolic_shape.size(); ++d) {
                const int32_t k = s.symbolic_shape[d].symbol;
                if (k >= 0 && sizes[static_cast<size_t>(k)] < 0) sizes[static_cast<size_t>(k)] = s.bound->shape[d];
            }
        }
    return sizes;
}

void sync_current(aph_executor& ex) {
    if (ex.symbols.empty()) return;
    const std::vector<int64_t> sizes = bound_sizes(ex);
    if (std::any_of(sizes.begin(), sizes.end(), [](int64_t v) { return v < 0; })) return;
    select_plan(ex, sizes);
}

// ---------------------------------------------------------------------------------------------
// Making an executor
// ---------------------------------------------------------------------------------------------

namespace {

// APH_ERR_OUT_OF_MEMORY: plan p does not fit the budget (limit) with `others` bytes tracked
// besides this executor's.
[[noreturn]] void over_budget(const aph_executor* ex, const Plan& p, uint64_t limit, uint64_t others, bool besides) {
    const std::string sizes = ex != nullptr && !ex->symbols.empty() ? " for " + sizes_str(*ex, p.sizes) : "";
    throw out_of_memory(strprintf("the memory plan%s needs %llu bytes at its peak, over the budget of %llu bytes "
                                  "(%llu bytes already tracked%s)",
                                  sizes.c_str(), static_cast<unsigned long long>(p.info.total_bytes),
                                  static_cast<unsigned long long>(limit), static_cast<unsigned long long>(others),
                                  besides ? " besides this executor's memory" : ""));
}

}  // namespace

namespace {

const char* precision_name(aph_matmul_precision p) {
    switch (p) {
        case APH_MATMUL_PRECISION_F32: return "f32";
        case APH_MATMUL_PRECISION_BF16: return "bf16";
        case APH_MATMUL_PRECISION_INT8: return "int8";
    }
    return "?";
}

// options->matmul_precision: in the enum; anything but F32 only on a CPU that has the instructions.
void check_matmul_precision(aph_matmul_precision p, const aph_device* device) {
    const int v = static_cast<int>(p);
    if (v < APH_MATMUL_PRECISION_F32 || v > APH_MATMUL_PRECISION_INT8)
        throw invalid_argument(strprintf("options->matmul_precision is %d; expected APH_MATMUL_PRECISION_F32 (0), "
                                         "_BF16 (1) or _INT8 (2)",
                                         v));
    if (p == APH_MATMUL_PRECISION_F32) return;
    if (device->kind != APH_DEVICE_CPU)
        throw Error::kind(APH_ERR_NOT_IMPLEMENTED,
                          strprintf("matmul_precision %s runs on the CPU only; this executor's device is %s",
                                    precision_name(p), device::label(device->kind, device->ordinal).c_str()));
    const auto kp = p == APH_MATMUL_PRECISION_BF16 ? kernels::LinearPrecision::kBf16 : kernels::LinearPrecision::kInt8;
    if (!kernels::linear_supported(kp))
        throw Error::kind(APH_ERR_NOT_IMPLEMENTED,
                          strprintf("matmul_precision %s needs AVX-512 with %s, which this processor lacks (or "
                                    "APHELION_CPU_ISA caps)",
                                    precision_name(p), p == APH_MATMUL_PRECISION_BF16 ? "AVX512_BF16" : "AVX512_VNNI"));
}

// Marks the fusions of linear steps with their only reader (the CPU, numerics check off):
//   linear -> gelu           the GELU in the linear's epilogue;
//   linear -> add(., r)      the residual add in the epilogue, r computed before the linear.
// The linear writes the reader's value and the reader is skipped; whether the shapes, layouts
// and kernels allow it is checked per run (try_fused_linear), else both run as they are. The
// reader's memory is live from the linear's step (produced_at), so nothing the linear reads
// shares it.
void mark_fusions(std::vector<Step>& steps) {
    std::vector<size_t> readers(steps.size(), 0), reader(steps.size(), SIZE_MAX);
    for (size_t i = 0; i < steps.size(); ++i) {
        const Step& s = steps[i];
        if (s.kind == Kind::View || s.kind == Kind::Output) ++readers[s.operands[0]];  // no fusion under a view
        for (size_t op : s.operands) {
            ++readers[op];
            reader[op] = i;
        }
    }
    for (size_t i = 0; i < steps.size(); ++i) {
        Step& s = steps[i];
        if (s.kind != Kind::Compute || s.custom || s.op != "linear" || s.own_memory || readers[i] != 1) continue;
        Step& r = steps[reader[i]];
        if (r.kind != Kind::Compute || r.custom) continue;
        if (r.op == "gelu" && r.operands.size() == 1) {
            s.fuse_act = 2;  // cpu_elementwise's kActGelu
        } else if (r.op == "add" && r.operands.size() == 2 && r.operands[0] != r.operands[1]) {
            const size_t other = r.operands[0] == i ? r.operands[1] : r.operands[0];
            if (steps[other].base >= i || other >= i) continue;  // the residual must exist when the linear runs
            s.fuse_residual = other;
        } else {
            continue;
        }
        s.fuse_into = reader[i];
        r.produced_at = i;
    }
}

// The linear steps that run on a converted copy of their weight (a weight node, f32): in the
// executor's precision, or in F32 when the bound weight cannot change (read-only: memory-mapped,
// a read-only DLPack import), checked per run; the broadcast form on a packed copy is faster
// than reading the weight in place (docs/benchmarks.md).
void mark_packable(std::vector<Step>& steps, aph_matmul_precision p) {
    if (p == APH_MATMUL_PRECISION_F32 && !kernels::linear_supported(kernels::LinearPrecision::kF32)) return;
    for (Step& s : steps) {
        if (s.kind != Kind::Compute || s.custom || s.op != "linear" || s.operands.size() < 2) continue;
        const Step& w = steps[s.operands[1]];
        if (w.kind != Kind::Weight || w.info.dtype != APH_DTYPE_F32 || w.info.shape.size() != 2) continue;
        if (p == APH_MATMUL_PRECISION_INT8 && w.info.shape[1] > 65536) continue;  // int32 sums stay exact
        s.packable = true;
    }
}

}  // namespace

aph_executor* make_executor(const graph::Graph& graph, aph_device* device, const aph_executor_options* options) {
    aph_executor_options opt{};
    if (options != nullptr) {
        if (options->struct_size < offsetof(aph_executor_options, tracker) + sizeof(void*))
            throw invalid_argument("options->struct_size is too small (set it to sizeof(aph_executor_options))");
        std::memcpy(&opt, options, std::min(options->struct_size, sizeof opt));
    }
    if (opt.stream != nullptr && opt.stream->device != device)
        throw device_mismatch("the executor's stream belongs to another device");
    if (opt.cpu_threads > kernels::kMaxCpuThreads)
        throw invalid_argument(
            strprintf("options->cpu_threads is %zu; at most %u", opt.cpu_threads, kernels::kMaxCpuThreads));
    if (opt.max_plans > kMaxMaxPlans)
        throw invalid_argument(strprintf("options->max_plans is %zu; at most %zu", opt.max_plans, kMaxMaxPlans));
    check_matmul_precision(opt.matmul_precision, device);

    Analysis a = analyse(graph, device->kind == APH_DEVICE_CUDA);
    std::vector<Step>& steps = a.steps;
    for (Step& s : steps) {
        if (s.kind != Kind::Output) continue;
        Step& base = steps[s.base];
        if (base.kind == Kind::Compute) base.own_memory = true;
    }
    for (Step& s : steps) s.planned = s.kind == Kind::Compute && !s.own_memory;
    if (device->kind == APH_DEVICE_CPU && opt.check_numerics == 0) mark_fusions(steps);
    // A graph without symbols is planned now, and its budget checked before anything else.
    std::optional<Plan> plan;
    if (a.symbols.empty()) {
        plan = build_plan(steps, {}, a.infos[0]);
        if (opt.tracker != nullptr) {
            const uint64_t limit = opt.tracker->limit();
            const uint64_t current = opt.tracker->allocated();
            if (limit > 0 && (plan->info.total_bytes > limit || current > limit - plan->info.total_bytes))
                over_budget(nullptr, *plan, limit, current, false);
        }
    }

    auto ex = std::make_unique<aph_executor>();
    device::retain(device);
    ex->device = device;
    if (opt.stream != nullptr) {
        aph_stream_retain(opt.stream);
        ex->stream = opt.stream;
    }
    if (opt.tracker != nullptr) {
        opt.tracker->refs.retain();
        ex->tracker = opt.tracker;
    }
    if (opt.trace != nullptr) {
        opt.trace->refs.retain();
        ex->trace = opt.trace;
    }
    ex->check_numerics = opt.check_numerics != 0;
    ex->profile = opt.profile != 0;
    ex->cpu_threads = static_cast<unsigned>(opt.cpu_threads);
    ex->max_plans = opt.max_plans != 0 ? opt.max_plans : kDefaultMaxPlans;
    ex->matmul_precision = opt.matmul_precision;
    ex->steps = std::move(steps);
    ex->symbols = std::move(a.symbols);
    make_signatures(*ex, a);
    if (plan) {
        plan->id = ++ex->plans_made;
        ex->plans.push_front(std::move(*plan));
        apply_plan(*ex, ex->plans.front());
    } else {
        apply_signature(*ex);
    }
    // After the plan or signature: they give the weights their shapes.
    if (device->kind == APH_DEVICE_CPU) mark_packable(ex->steps, opt.matmul_precision);
    for (size_t i = 0; i < ex->steps.size(); ++i) {
        Step& s = ex->steps[i];
        if (s.kind == Kind::Input) ex->inputs.push_back(i);
        if (s.kind == Kind::Weight) ex->weights.push_back(i);
        if (s.kind == Kind::Output) ex->outputs.push_back(i);
    }
    for (std::vector<size_t>* list : {&ex->inputs, &ex->weights, &ex->outputs})  // graph order
        std::sort(list->begin(), list->end(), [&](size_t x, size_t y) { return ex->steps[x].id < ex->steps[y].id; });
    ex->input_copies.assign(ex->steps.size(), nullptr);
    return ex.release();
}

// ---------------------------------------------------------------------------------------------
// Binding
// ---------------------------------------------------------------------------------------------

namespace {

// "[batch, seq, 384]": a signature, symbolic sizes by name.
std::string signature_str(const Step& s) {
    std::string out = "[";
    for (size_t d = 0; d < s.sig_shape.size(); ++d) {
        if (d > 0) out += ", ";
        out += s.dim_names[d] != nullptr ? std::string(s.dim_names[d]) : std::to_string(s.sig_shape[d]);
    }
    return out + "]";
}

std::string shape_of(const aph_tensor* t) { return memory::format_shape(t->shape.data(), t->shape.size()); }

// The tensor fits s's signature: its dtype, its rank and every fixed size (symbolic sizes are
// checked against the plan of the run).
void check_binding(const Step& s, const aph_tensor* t, const char* what) {
    if (t->dtype != s.info.dtype)
        throw invalid_argument(strprintf("%s '%s' (node %llu) has dtype %s, the tensor %s", what, s.name.c_str(),
                                         static_cast<unsigned long long>(s.id), dtype::name(s.info.dtype),
                                         dtype::name(t->dtype)));
    bool fits = t->shape.size() == s.sig_shape.size();
    for (size_t d = 0; fits && d < s.sig_shape.size(); ++d)
        fits = s.dim_names[d] != nullptr || t->shape[d] == s.sig_shape[d];
    if (!fits)
        throw Error::kind(APH_ERR_SHAPE_MISMATCH, strprintf("%s '%s' (node %llu): expected %s, got %s", what,
                                                            s.name.c_str(), static_cast<unsigned long long>(s.id),
                                                            signature_str(s).c_str(), shape_of(t).c_str()));
}

// "input 'ids' (node 1) [8, 26]".
std::string input_label(const Step& s, const aph_tensor* t) {
    return strprintf("input '%s' (node %llu) %s", s.name.c_str(), static_cast<unsigned long long>(s.id),
                     shape_of(t).c_str());
}

// The inputs a and b (bound to ta and tb) disagree on symbol k.
[[noreturn]] void disagree(const aph_executor& ex, int32_t k, const Step& a, const aph_tensor* ta, int64_t va,
                           const char* a_note, const Step& b, const aph_tensor* tb, int64_t vb, const char* b_note) {
    const char* sym = ex.symbols[static_cast<size_t>(k)].c_str();
    throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                      strprintf("the inputs disagree on %s: %s%s has %s = %lld, %s%s has %s = %lld", sym,
                                input_label(a, ta).c_str(), a_note, sym, static_cast<long long>(va),
                                input_label(b, tb).c_str(), b_note, sym, static_cast<long long>(vb)));
}

// The sizes tensor t gives input s's symbols: every dimension of one symbol the same size.
void check_own_symbols(const aph_executor& ex, const Step& s, const aph_tensor* t) {
    for (size_t d = 0; d < s.symbolic_shape.size(); ++d)
        for (size_t e = 0; e < d; ++e) {
            const int32_t k = s.symbolic_shape[d].symbol;
            if (k < 0 || s.symbolic_shape[e].symbol != k || t->shape[d] == t->shape[e]) continue;
            throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                              strprintf("%s gives the symbol %s two sizes: %lld (dim %zu) and %lld (dim %zu)",
                                        input_label(s, t).c_str(), ex.symbols[static_cast<size_t>(k)].c_str(),
                                        static_cast<long long>(t->shape[e]), e, static_cast<long long>(t->shape[d]),
                                        d));
        }
}

// Size of symbol k in the tensor bound to input s, or -1 when s does not name it.
int64_t symbol_size(const Step& s, const aph_tensor* t, int32_t k) {
    for (size_t d = 0; d < s.symbolic_shape.size(); ++d)
        if (s.symbolic_shape[d].symbol == k) return t->shape[d];
    return -1;
}

void replace(aph_tensor*& slot, aph_tensor* t) {
    if (slot == t) {
        if (t != nullptr) tensor::release(t);  // the caller's new reference
        return;
    }
    if (slot != nullptr) tensor::release(slot);
    slot = t;
}

}  // namespace

void set_input(aph_executor& ex, const std::string& name, aph_tensor* t, bool weight) {
    const char* what = weight ? "weight" : "input";
    Step* s = ex.find(name);
    if (s == nullptr || s->kind != (weight ? Kind::Weight : Kind::Input))
        throw Error::kind(APH_ERR_NOT_FOUND, strprintf("the graph has no %s node named '%s'", what, name.c_str()));
    check_binding(*s, t, what);
    if (!s->symbolic_shape.empty()) {
        // Its symbols' sizes agree with the other inputs bound for the next run.
        check_own_symbols(ex, *s, t);
        for (size_t i : ex.inputs) {
            const Step& o = ex.steps[i];
            if (&o == s || !o.fresh || o.bound == nullptr) continue;
            for (const Dim& d : s->symbolic_shape) {
                if (d.symbol < 0) continue;
                const int64_t mine = symbol_size(*s, t, d.symbol), theirs = symbol_size(o, o.bound, d.symbol);
                if (theirs >= 0 && theirs != mine)
                    disagree(ex, d.symbol, *s, t, mine, "", o, o.bound, theirs, ", bound for the next run,");
            }
        }
    }
    if (weight) ++s->bind_count;
    if (weight && (t->device() != ex.device || !tensor::is_contiguous(*t))) {
        // Weights are copied once, here: to the executor's device, contiguous (as inference
        // assumed).
        replace(s->bound, tensor::to_device(t, ex.device));
    } else {
        tensor::retain(t);
        replace(s->bound, t);
    }
    if (!weight) s->fresh = true;
}

namespace {
bool aliases_executor_memory(const aph_executor& ex, const aph_tensor* t);
}  // namespace

void bind_output(aph_executor& ex, const std::string& name, aph_tensor* t) {
    Step* s = ex.find(name);
    if (s == nullptr || s->kind != Kind::Output)
        throw Error::kind(APH_ERR_NOT_FOUND, strprintf("the graph has no output node named '%s'", name.c_str()));
    if (t == nullptr) {
        replace(s->bound, nullptr);
        return;
    }
    check_binding(*s, t, "output");
    if (t->device() != ex.device)
        throw device_mismatch(strprintf("output '%s' is computed on %s, the tensor bound to it is on %s", name.c_str(),
                                        device::label(ex.device->kind, ex.device->ordinal).c_str(),
                                        device::label(t->device()->kind, t->device()->ordinal).c_str()));
    if (t->read_only)
        throw invalid_argument(strprintf("the tensor bound to output '%s' is read-only (memory-mapped weights or a "
                                         "read-only DLPack import); bind a writable tensor",
                                         name.c_str()));
    for (size_t i = 0; i < t->shape.size(); ++i)
        if (t->strides[i] == 0 && t->shape[i] > 1)
            throw invalid_argument(strprintf("the tensor bound to output '%s' has a broadcast dimension (dim %zu: size "
                                             "%lld, stride 0); bind a tensor without one",
                                             name.c_str(), i, static_cast<long long>(t->shape[i])));
    for (size_t o : ex.outputs) {
        const Step& other = ex.steps[o];
        if (&other != s && other.bound != nullptr && other.bound->storage == t->storage)
            throw invalid_argument(strprintf("the tensor bound to output '%s' shares memory with the tensor bound to "
                                             "output '%s'; bind separate tensors",
                                             name.c_str(), other.name.c_str()));
    }
    if (aliases_executor_memory(ex, t))
        throw invalid_argument(strprintf("the tensor bound to output '%s' is memory of this executor (an output of "
                                         "an earlier run), which runs overwrite; bind a tensor of your own",
                                         name.c_str()));
    tensor::retain(t);
    replace(s->bound, t);
}

void load_weights(aph_executor& ex, const std::string& path) {
    std::shared_ptr<SafetensorsFile> file = SafetensorsFile::open(path);
    // Check every weight before binding any.
    std::vector<std::pair<Step*, const TensorInfo*>> found;
    for (Step& s : ex.steps) {
        if (s.kind != Kind::Weight) continue;
        const std::string key = weight_key(s);
        const TensorInfo* ti = file->find(key);
        if (ti == nullptr)
            throw Error::kind(APH_ERR_NOT_FOUND,
                              strprintf("%s: no tensor '%s' for weight node %llu '%s'", path.c_str(), key.c_str(),
                                        static_cast<unsigned long long>(s.id), s.name.c_str()));
        if (ti->dtype != s.info.dtype || ti->shape != s.info.shape)
            throw Error::kind(
                APH_ERR_SERIALIZATION,
                strprintf("%s: tensor '%s' is %s %s, but weight node %llu '%s' is %s %s", path.c_str(), key.c_str(),
                          dtype::name(ti->dtype), memory::format_shape(ti->shape.data(), ti->shape.size()).c_str(),
                          static_cast<unsigned long long>(s.id), s.name.c_str(), dtype::name(s.info.dtype),
                          memory::format_shape(s.info.shape.data(), s.info.shape.size()).c_str()));
        found.emplace_back(&s, ti);
    }
    std::vector<aph_tensor*> made;
    made.reserve(found.size());  // so push_back cannot fail and lose the tensor just made
    try {
        for (auto& [s, ti] : found) made.push_back(file->tensor(*ti, ex.device));
    } catch (...) {
        for (aph_tensor* t : made) tensor::release(t);
        throw;
    }
    for (size_t i = 0; i < found.size(); ++i) {
        ++found[i].first->bind_count;
        replace(found[i].first->bound, made[i]);
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation
// ---------------------------------------------------------------------------------------------

void free_memory(aph_executor& ex) noexcept {
    for (Step& s : ex.steps) {
        if (s.tensor != nullptr) tensor::release(s.tensor);
        if (s.own != nullptr) tensor::release(s.own);
        if (s.own_buffer != nullptr) tensor::release(s.own_buffer);
        s.tensor = s.own = s.own_buffer = nullptr;
        s.own_capacity = 0;
        s.direct = false;
    }
    for (aph_tensor*& t : ex.input_copies) {
        if (t != nullptr) tensor::release(t);
        t = nullptr;
    }
    if (ex.arena != nullptr) tensor::release(ex.arena);
    ex.arena = nullptr;
    ex.arena_capacity = 0;
    if (ex.tracker != nullptr && ex.charged > 0) {
        try {
            ex.tracker->deallocate(ex.charged);
        } catch (...) {
        }
    }
    ex.charged = 0;
    ex.held = 0;
    ex.constants_made = false;
    ex.memory_plan = 0;
}

namespace {

// True when t's memory is memory this executor writes (its arena, or an output value's own).
bool aliases_executor_memory(const aph_executor& ex, const aph_tensor* t) {
    if (ex.arena != nullptr && t->storage == ex.arena->storage) return true;
    for (const Step& s : ex.steps)
        if ((s.own != nullptr && s.own->storage == t->storage) ||
            (s.own_buffer != nullptr && s.own_buffer->storage == t->storage))
            return true;
    return false;
}

aph_stream* work_stream(const aph_executor& ex) { return ex.stream != nullptr ? ex.stream : ex.device->default_stream; }

// Fills constant s's tensor from its params (through a CPU tensor: f64 for floats, i64 for
// integers, cast to the dtype once).
void fill_constant(aph_executor& ex, Step& s) {
    const Json& val = constant_value(s);
    const int64_t n = static_cast<int64_t>(s.info.nbytes / dtype::size(s.info.dtype));
    const bool integral = s.info.dtype == APH_DTYPE_I32 || s.info.dtype == APH_DTYPE_I64;
    std::vector<double> f;
    std::vector<int64_t> iv;
    auto at = [&](int64_t i) -> const Json& { return val.is_array() ? val[static_cast<size_t>(i)] : val; };
    for (int64_t i = 0; i < n; ++i) {
        const Json& e = at(i);
        if (integral) {
            iv.push_back(e.get<int64_t>());  // inference checked it is an integer in range
        } else {
            f.push_back(e.get<double>());
        }
    }
    aph_device* cpu = device::open(APH_DEVICE_CPU, 0);
    aph_tensor *src = nullptr, *tmp = nullptr;
    try {
        src = integral ? tensor::from_blob(cpu, APH_DTYPE_I64, s.info.shape.data(), nullptr, s.info.shape.size(),
                                           iv.data(), nullptr, nullptr, true)
                       : tensor::from_blob(cpu, APH_DTYPE_F64, s.info.shape.data(), nullptr, s.info.shape.size(),
                                           f.data(), nullptr, nullptr, true);
        if (ex.device == cpu) {
            ops::cast(nullptr, src, s.tensor);
        } else {
            tmp = tensor::create(cpu, nullptr, s.info.dtype, s.info.shape.data(), s.info.shape.size());
            ops::cast(nullptr, src, tmp);
            tensor::copy(s.tensor, tmp, work_stream(ex), true);
        }
    } catch (...) {
        tensor::release(tmp);
        tensor::release(src);
        device::release(cpu);
        throw;
    }
    tensor::release(tmp);
    tensor::release(src);
    device::release(cpu);
}

uint64_t aligned(uint64_t n) { return (n + 255) / 256 * 256; }  // plan.cpp's alignment

// a + b; APH_ERR_OUT_OF_MEMORY when it overflows 64 bits.
uint64_t add_bytes(uint64_t a, uint64_t b) {
    if (a > UINT64_MAX - b) throw out_of_memory("the memory plan's size overflows 64 bits");
    return a + b;
}

// A tensor of dtype and shape over buffer's memory from its first byte (a fresh empty tensor when
// the shape has no elements).
aph_tensor* view_of(aph_executor& ex, aph_tensor* buffer, const ValueInfo& v, uint64_t offset) {
    if (v.nbytes == 0 || buffer == nullptr)
        return tensor::create(ex.device, ex.stream, v.dtype, v.shape.data(), v.shape.size());
    buffer->storage->refs.retain();
    try {
        return tensor::make_view(buffer->storage, v.dtype, v.shape, v.strides, buffer->offset + offset, false);
    } catch (...) {
        tensor::storage_release(buffer->storage);  // make_view took nothing over
        throw;
    }
}

// Lays the step tensors out for the current plan, growing the memory when the plan needs more.
// The executor holds one arena and one buffer per output value, each as large as the largest
// plan laid out since it was allocated: a plan that fits them allocates nothing. One that does
// not grows them (to the largest of each), charging the growth to the tracker first; when the
// grown total would not fit the budget but the plan alone would, every buffer is allocated
// again at exactly the plan's sizes instead; when neither fits, APH_ERR_OUT_OF_MEMORY and the
// memory stays as it was. Any other failure frees all memory (the next run allocates again).
void bind_memory(aph_executor& ex) {
    const Plan& p = *ex.current;
    if (ex.memory_plan == p.id) return;
    uint64_t grown = add_bytes(std::max(ex.arena_capacity, p.info.arena_bytes), p.info.constant_bytes);
    for (const Step& s : ex.steps)
        if (s.own_memory) grown = add_bytes(grown, std::max(s.own_capacity, aligned(s.info.nbytes)));
    bool exact = false;
    uint64_t target = grown;
    if (ex.tracker != nullptr && grown > ex.held) {
        const uint64_t limit = ex.tracker->limit();
        const uint64_t tracked = ex.tracker->allocated();
        const uint64_t others = tracked > ex.charged ? tracked - ex.charged : 0;
        auto fits = [&](uint64_t bytes) { return limit == 0 || (others <= limit && bytes <= limit - others); };
        if (!fits(grown)) {
            if (!fits(p.info.total_bytes)) over_budget(&ex, p, limit, others, ex.charged > 0);
            exact = true;
            target = p.info.total_bytes;
        }
    }
    try {
        // The tensors of the previous layout (values of the last run, whose outputs callers may
        // hold references to: those keep their memory).
        for (Step& s : ex.steps) {
            if (s.kind == Kind::Input || s.kind == Kind::Weight || s.kind == Kind::Constant) continue;
            replace(s.tensor, nullptr);
            replace(s.own, nullptr);
            s.direct = false;
        }
        if (ex.tracker != nullptr && target > ex.charged) {
            ex.tracker->allocate(target - ex.charged);
            ex.charged = target;
        }
        auto resize = [&](aph_tensor*& buffer, uint64_t& capacity, uint64_t need) {
            if (exact ? need == capacity : need <= capacity) return;
            replace(buffer, nullptr);
            capacity = 0;
            if (need > 0) {
                const int64_t n = static_cast<int64_t>(need);
                buffer = tensor::create(ex.device, ex.stream, APH_DTYPE_U8, &n, 1);
            }
            capacity = need;
        };
        resize(ex.arena, ex.arena_capacity, p.info.arena_bytes);
        for (Step& s : ex.steps)
            if (s.own_memory) resize(s.own_buffer, s.own_capacity, aligned(s.info.nbytes));
        if (!ex.constants_made) {
            for (Step& s : ex.steps) {
                if (s.kind != Kind::Constant) continue;
                replace(s.tensor,
                        tensor::create(ex.device, ex.stream, s.info.dtype, s.info.shape.data(), s.info.shape.size()));
                fill_constant(ex, s);
            }
            ex.constants_made = true;
        }
        ex.held = target;
        if (ex.tracker != nullptr && ex.charged > target) {
            ex.tracker->deallocate(ex.charged - target);
            ex.charged = target;
        }
        for (Step& s : ex.steps) {
            if (s.planned) {
                s.tensor = view_of(ex, ex.arena, s.info, s.offset);
            } else if (s.own_memory) {
                s.own = view_of(ex, s.own_buffer, s.info, 0);
                tensor::retain(s.own);
                s.tensor = s.own;
            }
        }
    } catch (...) {
        free_memory(ex);
        throw;
    }
    ex.memory_plan = p.id;
}

// Counts NaN and Inf in t (read back to the host).
void count_nonfinite(const aph_tensor* t, aph_stream* stream, uint64_t* nan, uint64_t* inf) {
    *nan = *inf = 0;
    if (t->numel == 0 || !dtype::is_floating_point(t->dtype)) return;
    std::vector<unsigned char> host(t->nbytes());
    tensor::to_host(t, host.data(), host.size(), stream, true);
    const size_t n = static_cast<size_t>(t->numel);
    auto bits16 = [&](size_t i) {
        uint16_t b;
        std::memcpy(&b, &host[2 * i], 2);
        return b;
    };
    for (size_t i = 0; i < n; ++i) {
        switch (t->dtype) {
            case APH_DTYPE_F64: {
                double v;
                std::memcpy(&v, &host[8 * i], 8);
                *nan += std::isnan(v);
                *inf += std::isinf(v);
                break;
            }
            case APH_DTYPE_F32: {
                float v;
                std::memcpy(&v, &host[4 * i], 4);
                *nan += std::isnan(v);
                *inf += std::isinf(v);
                break;
            }
            case APH_DTYPE_F16: {
                const uint16_t b = bits16(i);
                if ((b & 0x7C00u) == 0x7C00u) ((b & 0x03FFu) ? *nan : *inf) += 1;
                break;
            }
            case APH_DTYPE_BF16: {
                const uint16_t b = bits16(i);
                if ((b & 0x7F80u) == 0x7F80u) ((b & 0x007Fu) ? *nan : *inf) += 1;
                break;
            }
            case APH_DTYPE_F8E4M3: *nan += (host[i] & 0x7Fu) == 0x7Fu; break;
            case APH_DTYPE_F8E5M2:
                if ((host[i] & 0x7Cu) == 0x7Cu) ((host[i] & 0x03u) ? *nan : *inf) += 1;
                break;
            default: return;
        }
    }
}

void run_custom(aph_executor& ex, const Step& s, const std::vector<aph_tensor*>& in, aph_tensor* out) {
    const aph_custom_op& op = s.custom->op;
    std::vector<const aph_tensor*> cin(in.begin(), in.end());
    auto what = [&] { return "custom operation '" + s.op + "'"; };
    if (ex.device->kind == APH_DEVICE_CUDA) {
        if (op.cuda == nullptr)
            throw Error::kind(APH_ERR_NOT_IMPLEMENTED, "custom operation '" + s.op + "' has no CUDA implementation");
        aph_stream* stream = work_stream(ex);
        invoke_callback_checked(
            [&] { return op.cuda(op.user_data, s.params_json.c_str(), cin.size(), cin.data(), out, stream); }, what);
        // The callback queued work on the stream that uses its operands: borrowed memory among
        // them must not go back to its owner before that work is done.
        for (const aph_tensor* t : cin) tensor::record_borrowed_use(t, stream);
        tensor::record_borrowed_use(out, stream);
    } else if (ex.device->kind == APH_DEVICE_CPU) {
        ops::cpu_dispatch_warning();
        invoke_callback_checked(
            [&] { return op.cpu(op.user_data, s.params_json.c_str(), cin.size(), cin.data(), out); }, what);
    } else {
        throw device_not_available(device::label(ex.device->kind, ex.device->ordinal));
    }
}

// Where this run writes the outputs bound to caller's tensors. An output that reads a computed
// value of its own memory directly (not through a view), which no other output reads, bound to
// a contiguous tensor that shares no memory with a bound input or weight, is computed straight
// into that tensor (no copy); every other bound output is copied into its tensor after the last
// step (finish_outputs), so a bound tensor may also be an input of the run (a state updated in
// place): every step has read the inputs by then. (A value other outputs read stays in the
// executor's memory, which is what those outputs give when unbound.)
void route_outputs(aph_executor& ex) {
    for (Step& s : ex.steps) {
        if (s.own == nullptr || s.tensor == s.own) continue;
        tensor::retain(s.own);
        replace(s.tensor, s.own);
    }
    for (size_t o : ex.outputs) {
        Step& s = ex.steps[o];
        s.direct = false;
        if (s.bound == nullptr || s.operands[0] != s.base) continue;
        Step& base = ex.steps[s.base];
        if (base.own == nullptr || !tensor::is_contiguous(*s.bound)) continue;
        bool shared = false;
        for (size_t other : ex.outputs) shared = shared || (other != o && ex.steps[other].base == s.base);
        for (const std::vector<size_t>* list : {&ex.inputs, &ex.weights})
            for (size_t i : *list) {
                const aph_tensor* b = ex.steps[i].bound;
                shared = shared || (b != nullptr && b->storage == s.bound->storage);
            }
        if (shared) continue;
        tensor::retain(s.bound);
        replace(base.tensor, s.bound);
        s.direct = true;
    }
}

// Copies the bound outputs route_outputs did not place into their tensors (queued on the
// executor's stream) and records the stream's use of every bound tensor. Afterwards each bound
// output step's tensor is its bound tensor: aph_executor_output gives where the run wrote.
void finish_outputs(aph_executor& ex) {
    for (size_t o : ex.outputs) {
        Step& s = ex.steps[o];
        if (s.bound == nullptr) continue;
        if (!s.direct) with_node(s, [&] { tensor::copy(s.bound, s.tensor, ex.stream, false); });
        if (ex.device->kind == APH_DEVICE_CUDA) tensor::record_stream(s.bound, work_stream(ex));
        tensor::retain(s.bound);
        replace(s.tensor, s.bound);
    }
}

// The packable linear step s's converted weight w, made again when the weight was bound since.
const kernels::PackedLinearWeight& packed_weight(aph_executor& ex, Step& s, const aph_tensor* w) {
    const Step& ws = ex.steps[s.operands[1]];
    if (!s.packed || s.packed_from != ws.bind_count) {
        const int64_t n = w->shape[0], k = w->shape[1];
        s.packed.reset();  // the old copy goes before the new one is made
        s.packed = std::make_shared<const kernels::PackedLinearWeight>(kernels::pack_linear_weight(
            reinterpret_cast<const float*>(w->data()), k, n, k,
            ex.matmul_precision == APH_MATMUL_PRECISION_BF16   ? kernels::LinearPrecision::kBf16
            : ex.matmul_precision == APH_MATMUL_PRECISION_INT8 ? kernels::LinearPrecision::kInt8
                                                               : kernels::LinearPrecision::kF32));
        s.packed_from = ws.bind_count;
    }
    return *s.packed;
}

// A linear step's operands as the kernels of linear.hpp read them: x [m, k] and w [n, k] as
// rows, the bias, all f32, contiguous and not empty; false when they are not.
struct LinearRows {
    const float* x = nullptr;
    const float* w = nullptr;
    const float* bias = nullptr;
    int64_t m = 0, n = 0, k = 0;
};
bool linear_rows(const std::vector<aph_tensor*>& in, LinearRows& r) {
    auto f32 = [](const aph_tensor* t) { return t->dtype == APH_DTYPE_F32 && tensor::is_contiguous(*t); };
    const aph_tensor* x = in[0];
    const aph_tensor* w = in[1];
    const aph_tensor* bias = in.size() > 2 ? in[2] : nullptr;
    if (!f32(x) || !f32(w) || (bias != nullptr && !f32(bias)) || w->shape.size() != 2 || x->numel == 0 || w->numel == 0)
        return false;
    r.x = reinterpret_cast<const float*>(x->data());
    r.w = reinterpret_cast<const float*>(w->data());
    r.bias = bias != nullptr ? reinterpret_cast<const float*>(bias->data()) : nullptr;
    r.n = w->shape[0];
    r.k = w->shape[1];
    r.m = x->numel / r.k;
    return true;
}

// Whether a linear step runs on its packed weight: any precision but F32, or F32 on a weight
// that cannot change (read in place otherwise).
bool uses_packed(const aph_executor& ex, const Step& s, const aph_tensor* w) {
    return s.packable && (ex.matmul_precision != APH_MATMUL_PRECISION_F32 || w->read_only);
}

// A linear step s with a fusion (mark_fusions) computed with its reader's work in the epilogue,
// into the reader's tensor: when every tensor is f32 and contiguous, the residual has the
// linear's shape, and a kernel with an epilogue runs it (the executor's precision, or the f32
// kernel where it is preferred). True when done (the reader is then skipped).
bool try_fused_linear(aph_executor& ex, Step& s, const std::vector<aph_tensor*>& in) {
    Step& r = ex.steps[s.fuse_into];
    aph_tensor* out = r.tensor;
    LinearRows a;
    if (out == nullptr || out->dtype != APH_DTYPE_F32 || !tensor::is_contiguous(*out) ||
        out->shape != s.tensor->shape || !linear_rows(in, a))
        return false;
    kernels::LinearEpilogue e;
    e.bias = a.bias;
    e.act = s.fuse_act;
    if (s.fuse_residual != SIZE_MAX) {
        const aph_tensor* residual = ex.steps[s.fuse_residual].tensor;
        if (residual == nullptr || residual->shape != s.tensor->shape || residual->dtype != APH_DTYPE_F32 ||
            !tensor::is_contiguous(*residual))
            return false;
        e.residual = reinterpret_cast<const float*>(residual->data());
        e.ldr = a.n;
    }
    float* op = reinterpret_cast<float*>(out->data());
    if (uses_packed(ex, s, in[1])) {
        ops::cpu_dispatch_warning();
        kernels::linear_packed(a.x, a.k, a.m, packed_weight(ex, s, in[1]), e, op, a.n);
    } else if (kernels::linear_f32_preferred(a.m)) {
        ops::cpu_dispatch_warning();
        kernels::linear_f32(a.x, a.k, a.m, a.w, a.k, a.n, a.k, e, op, a.n);
    } else {
        return false;
    }
    r.fused_done = true;
    return true;
}

// A packable linear step in the executor's precision (linear.hpp), converting its weight first
// when it was bound since the last conversion. False (nothing done) when x or the weight cannot
// be read as rows: the step then runs in f32.
bool run_packed_linear(aph_executor& ex, Step& s, const std::vector<aph_tensor*>& in) {
    LinearRows a;
    if (!uses_packed(ex, s, in[1]) || !tensor::is_contiguous(*s.tensor) || !linear_rows(in, a)) return false;
    const kernels::PackedLinearWeight& pw = packed_weight(ex, s, in[1]);
    ops::cpu_dispatch_warning();
    kernels::LinearEpilogue e;
    e.bias = a.bias;
    kernels::linear_packed(a.x, a.k, a.m, pw, e, reinterpret_cast<float*>(s.tensor->data()), a.n);
    return true;
}

void synchronize(aph_executor& ex) {
    if (ex.device->kind != APH_DEVICE_CUDA) return;
    if (aph_stream_synchronize(work_stream(ex)) != APH_OK) throw Error::raw(APH_ERR_KERNEL, aph_last_error());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

void run(aph_executor& ex) {
    for (aph::exec::Step& s : ex.steps) s.fused_done = false;  // a failed run may have left one set
    for (const Step& s : ex.steps)
        if ((s.kind == Kind::Input || s.kind == Kind::Weight) && s.bound == nullptr)
            throw Error::kind(
                APH_ERR_INVALID_STATE,
                strprintf("%s node %llu '%s' is not bound (%s)", s.kind == Kind::Input ? "input" : "weight",
                          static_cast<unsigned long long>(s.id), s.name.c_str(),
                          s.kind == Kind::Input ? "aph_executor_set_input"
                                                : "aph_executor_set_weight or aph_executor_load_weights"));
    // The inputs bound since the last run call fix the symbols (the others must agree); a run
    // consumes them, failing or not.
    struct Consume {
        aph_executor& ex;
        ~Consume() {
            for (size_t i : ex.inputs) ex.steps[i].fresh = false;
        }
    } consume{ex};
    if (!ex.symbols.empty()) {
        const std::vector<int64_t> sizes = bound_sizes(ex);
        for (size_t i : ex.inputs) {
            const Step& s = ex.steps[i];
            for (size_t d = 0; d < s.symbolic_shape.size(); ++d) {
                const int32_t k = s.symbolic_shape[d].symbol;
                if (k < 0 || s.bound->shape[d] == sizes[static_cast<size_t>(k)]) continue;
                // The input that gave the size: a fresh one if any gave it, else an earlier one.
                for (bool fresh : {true, false})
                    for (size_t j : ex.inputs) {
                        const Step& o = ex.steps[j];
                        if (o.fresh != fresh || symbol_size(o, o.bound, k) != sizes[static_cast<size_t>(k)]) continue;
                        disagree(ex, k, o, o.bound, sizes[static_cast<size_t>(k)],
                                 o.fresh ? "" : ", bound before the last run,", s, s.bound, s.bound->shape[d],
                                 s.fresh ? "" : ", bound before the last run,");
                    }
            }
        }
        select_plan(ex, sizes);
    }
    for (size_t o : ex.outputs) {
        const Step& s = ex.steps[o];
        if (s.bound == nullptr || s.bound->shape == s.info.shape) continue;
        throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                          strprintf("output '%s' (node %llu) is %s at %s; the tensor bound to it is %s", s.name.c_str(),
                                    static_cast<unsigned long long>(s.id),
                                    memory::format_shape(s.info.shape.data(), s.info.shape.size()).c_str(),
                                    sizes_str(ex, ex.current->sizes).c_str(), shape_of(s.bound).c_str()));
    }
    // The executor's thread count for the CPU kernels of this run (0 keeps the caller's).
    std::optional<kernels::ThreadLimitScope> threads;
    if (ex.cpu_threads != 0) threads.emplace(static_cast<int>(ex.cpu_threads));
    bind_memory(ex);
    ex.ran = false;
    route_outputs(ex);
    const std::string dev = device::label(ex.device->kind, ex.device->ordinal);
    const bool timed = ex.profile || ex.trace != nullptr;
    const uint64_t run_start = timed ? trace::now_ns() : 0;
    const auto run_t0 = std::chrono::steady_clock::now();
    std::vector<aph_tensor*> in;
    for (size_t i = 0; i < ex.steps.size(); ++i) {
        Step& s = ex.steps[i];
        const uint64_t start = timed ? trace::now_ns() : 0;
        const auto t0 = std::chrono::steady_clock::now();
        with_node(s, [&] {
            switch (s.kind) {
                case Kind::Input:
                    // Used in place when it is on the device, contiguous (inference assumed it)
                    // and not memory this executor writes (an output bound back as an input, as
                    // in a recurrent loop: every input step runs before any computing step, so
                    // the copy is taken before that memory is overwritten).
                    if (s.bound->device() == ex.device && tensor::is_contiguous(*s.bound) &&
                        !aliases_executor_memory(ex, s.bound)) {
                        tensor::retain(s.bound);
                        replace(s.tensor, s.bound);
                    } else {
                        if (ex.input_copies[i] != nullptr && ex.input_copies[i]->shape != s.info.shape)
                            replace(ex.input_copies[i], nullptr);  // another size set's
                        if (ex.input_copies[i] == nullptr)
                            ex.input_copies[i] = tensor::create(ex.device, ex.stream, s.info.dtype, s.info.shape.data(),
                                                                s.info.shape.size());
                        tensor::copy(ex.input_copies[i], s.bound, ex.stream, false);
                        tensor::retain(ex.input_copies[i]);
                        replace(s.tensor, ex.input_copies[i]);
                    }
                    break;
                case Kind::Weight:
                    tensor::retain(s.bound);
                    replace(s.tensor, s.bound);
                    break;
                case Kind::Constant: break;
                case Kind::View: replace(s.tensor, make_view(s, ex.steps[s.operands[0]].tensor)); break;
                case Kind::Output: {
                    aph_tensor* t = ex.steps[s.operands[0]].tensor;
                    tensor::retain(t);
                    replace(s.tensor, t);
                    break;
                }
                case Kind::Compute: {
                    in.clear();
                    for (size_t op : s.operands) in.push_back(ex.steps[op].tensor);
                    if (s.fused_done) {  // its linear computed it (try_fused_linear)
                        s.fused_done = false;
                        break;
                    }
                    if (s.custom) run_custom(ex, s, in, s.tensor);
                    else if (s.fuse_into != SIZE_MAX && try_fused_linear(ex, s, in))
                        break;
                    else if (s.packable && run_packed_linear(ex, s, in))
                        break;
                    else
                        run_builtin(s, ex.stream, in, s.tensor);
                    break;
                }
            }
        });
        if (s.kind != Kind::Compute) continue;
        if (ex.profile) {
            synchronize(ex);
            const uint64_t ns = static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
            s.last_ns = ns;
            s.total_ns += ns;
        }
        if (ex.check_numerics) {
            uint64_t nan = 0, inf = 0;
            count_nonfinite(s.tensor, work_stream(ex), &nan, &inf);
            if (nan + inf > 0)
                throw Error::kind(APH_ERR_KERNEL,
                                  strprintf("numerics check: %s produced %llu NaN and %llu Inf among %lld values",
                                            node_label(s).c_str(), static_cast<unsigned long long>(nan),
                                            static_cast<unsigned long long>(inf),
                                            static_cast<long long>(s.tensor->numel)));
        }
        if (ex.trace != nullptr) {
            trace::Span span;
            span.name = s.name;
            span.category = "node";
            span.start_ns = start;
            span.duration_ns = static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
            span.device = dev;
            span.bytes = s.info.nbytes;
            Json args = Json::object();
            args["op"] = s.op;
            args["id"] = s.id;
            args["dtype"] = dtype::name(s.info.dtype);
            args["shape"] = s.info.shape;
            span.args_json = args.dump();
            ex.trace->record_span(span);
        }
    }
    finish_outputs(ex);
    if (ex.trace != nullptr) {
        trace::Span span;
        span.name = "run";
        span.category = "run";
        span.start_ns = run_start;
        span.duration_ns = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - run_t0).count());
        span.device = dev;
        span.bytes = ex.plan.total_bytes;
        ex.trace->record_span(span);
    }
    ++ex.runs;
    ex.ran = true;
}

}  // namespace aph::exec

// ---------------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------------

aph_executor::~aph_executor() {
    aph::exec::free_memory(*this);
    for (aph::exec::Step& s : steps)
        if (s.bound != nullptr) aph::tensor::release(s.bound);
    if (trace != nullptr) aph_trace_sink_release(trace);
    if (tracker != nullptr) aph_tracker_release(tracker);
    if (stream != nullptr) aph_stream_release(stream);
    if (device != nullptr) aph::device::release(device);
}

const aph::exec::Step* aph_executor::find(const std::string& name) const {
    for (const aph::exec::Step& s : steps)
        if (s.name == name && (s.kind == aph::exec::Kind::Input || s.kind == aph::exec::Kind::Weight ||
                               s.kind == aph::exec::Kind::Output))
            return &s;
    return nullptr;
}

aph::exec::Step* aph_executor::find(const std::string& name) {
    return const_cast<aph::exec::Step*>(static_cast<const aph_executor*>(this)->find(name));
}
