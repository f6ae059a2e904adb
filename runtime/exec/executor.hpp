// Executable graphs (header section 20): operations by name, inference, memory planning by
// liveness, execution through the eager operations, and custom operations from C.
//
// An executor is made in two phases, both before any device memory is allocated:
//   analyse: resolve every node's operation, check its params, infer every dtype and shape
//            (errors name the node);
//   plan:    place every computed value in one arena by liveness (plan.cpp's greedy placement),
//            and check the total against the tracker's budget.
// Memory is allocated at the first run and reused by every later run.
//
// Symbolic dimensions. Input shapes (and reshape shapes) may name symbols ("batch", "seq").
// There is still one inference per operation (runtime/ops/infer.hpp): the executor binds the
// symbols to sizes and runs the unchanged rules on the concrete shapes. When it is made, it
// infers the whole graph under two probe assignments (distinct primes per symbol, odd and larger
// than any size a graph fixes, different in each: prime_probes), so every rule between
// concrete sizes runs, and a relation that holds only for particular sizes of a symbol (a
// symbol meeting a fixed size, two symbols meeting each other, a reshape that needs an even
// size) fails there, reported with the symbols' names in place of the probe sizes. Comparing the
// assignments (and a third with every symbol 1, when the graph accepts it) tells which sizes of
// every value depend on the symbols: the signature. The plan for actual sizes is made at the run
// that first needs them (inference again, then planning) and kept in a small LRU cache of
// plans (Plan), so runs alternating between size sets plan nothing; memory grows to the largest
// plan that ran and is reused by the others.
#pragma once

#include "../core/error.hpp"
#include "../core/refcount.hpp"
#include "../graph/graph.hpp"
#include "aphelion.h"

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace aph::kernels {
struct PackedLinearWeight;
}

namespace aph::exec {

using Json = nlohmann::json;

// A registered custom operation (shared by the registry and the executors that resolved it; its
// destroy callback runs when the last of them lets go).
struct CustomOp {
    std::string name;
    aph_custom_op op{};
    CustomOp() = default;
    CustomOp(const CustomOp&) = delete;
    CustomOp& operator=(const CustomOp&) = delete;
    ~CustomOp();
};

void register_custom(const aph_custom_op* op);
void unregister_custom(const char* name);
std::shared_ptr<CustomOp> find_custom(const std::string& name);

// What a node's output is.
enum class Kind {
    Input,     // bound by the caller
    Weight,    // bound by the caller or a safetensors file
    Constant,  // filled from params at the first run
    Output,    // the value of its operand, under the output node's name
    View,      // a view (reshape, permute, transpose, slice) of its operand: no memory
    Compute,   // a built-in or custom operation writing a new value
};

struct ValueInfo {
    aph_dtype dtype = APH_DTYPE_F32;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;  // elements; contiguous unless a view made them otherwise
    uint64_t nbytes = 0;           // numel × dtype size
};

// A contiguous value of dtype and shape (strides and nbytes derived); throws
// APH_ERR_INVALID_ARGUMENT naming the shape when it has too many dimensions, a negative one or
// too many bytes.
ValueInfo contiguous_value(aph_dtype dtype, std::vector<int64_t> shape);

// The built-in operations (builtin_ops.cpp).
struct Builtin;
const Builtin* find_builtin(const std::string& name);
bool is_builtin_name(const std::string& name);
Kind builtin_kind(const Builtin* b);
size_t builtin_min_operands(const Builtin* b);
size_t builtin_max_operands(const Builtin* b);

// A dimension of a shape param that may name symbols: a size (symbol -1) or a symbol's index in
// aph_executor::symbols.
struct Dim {
    int64_t size = 0;
    int32_t symbol = -1;
};

struct Step {
    uint64_t id = 0;
    std::string name;
    std::string op;
    Kind kind = Kind::Compute;
    std::vector<size_t> operands;  // step indices (execution order), in edge insertion order
    Json params = Json::object();
    std::string params_json;  // compact, for custom operations
    // Input and reshape nodes whose shape param names a symbol: the param's name and the shape
    // as written (the symbols are bound into params before each inference: bind_symbols).
    const char* symbolic_param = nullptr;
    std::vector<Dim> symbolic_shape;
    // The value under the current plan (aph_executor::current): for a graph with symbols, before
    // any plan, the signature's dtype and shape (-1 for symbolic sizes) with no strides or bytes.
    ValueInfo info;
    // The signature: info.shape for the sizes that no symbol changes, -1 for the others; per
    // dimension the symbol's name, an expression of symbols ("batch*seq") or "?" for symbolic
    // sizes, NULL for fixed ones (aph_value_info's shape and dim_names).
    std::vector<int64_t> sig_shape;
    std::vector<const char*> dim_names;
    const Builtin* builtin = nullptr;
    std::shared_ptr<CustomOp> custom;

    // Memory: the step whose memory this value is (itself, or the base of a view / output).
    size_t base = 0;
    bool planned = false;          // a Compute value placed in the arena
    bool own_memory = false;       // a Compute value read by an output node: memory of its own
    uint64_t offset = UINT64_MAX;  // in the arena
    size_t first = 0, last = 0;    // lifetime in steps (inclusive), for planned values

    // Run time.
    aph_tensor* tensor = nullptr;  // owned reference: the value during/after a run
    // Owned reference: an input's or weight's bound tensor, or the caller's tensor an output
    // is bound to (aph_executor_bind_output).
    aph_tensor* bound = nullptr;
    bool fresh = false;  // an input bound since the last aph_executor_run call
    // Owned references, own_memory values only: own_buffer is the memory held for the value
    // (a byte tensor of own_capacity bytes, grown when a plan needs more), own the value's view
    // of it under the plan the memory is laid out for. tensor is own, or for one run the
    // caller's tensor bound to the output reading it (written in place, see run()).
    aph_tensor* own_buffer = nullptr;
    uint64_t own_capacity = 0;
    aph_tensor* own = nullptr;
    bool direct = false;  // output step: this run computed straight into bound
    // Weight steps: counts bindings, so converted copies of the weight know when they are stale.
    uint64_t bind_count = 0;
    // Linear steps with a weight operand, when the executor's matmul_precision is not F32: the
    // converted weight and the bind_count of the weight it was made from.
    bool packable = false;
    std::shared_ptr<const kernels::PackedLinearWeight> packed;
    uint64_t packed_from = 0;
    // Fusion on the CPU (mark_fusions): a linear step's only reader, a gelu or a residual add,
    // computed in the linear's epilogue. On the linear: the reader's index (SIZE_MAX: none). On
    // the reader: the linear's index (its memory is live from there: plan_memory), and during a
    // run whether the linear already wrote its value.
    size_t fuse_into = SIZE_MAX;
    size_t produced_at = SIZE_MAX;
    bool fused_done = false;
    // On the linear: what the reader adds to its epilogue (kernels::LinearEpilogue's act, and
    // the residual operand's step for an add; SIZE_MAX: none).
    int fuse_act = 0;
    size_t fuse_residual = SIZE_MAX;
    uint64_t last_ns = 0, total_ns = 0;
};

// "node 7 'attn' (attention)".
std::string node_label(const Step& s);

// A weight node's safetensors key, and a constant node's value param (builtin_ops.cpp: the
// executor reads params only through the operations' schemas).
std::string weight_key(const Step& s);
const Json& constant_value(const Step& s);

struct PlanInfo {
    uint64_t arena_bytes = 0, live_peak_bytes = 0, unshared_bytes = 0, output_bytes = 0, constant_bytes = 0,
             total_bytes = 0;  // the budget is the tracker's limit
    size_t buffers = 0, steps = 0;
};

// Places the planned values (plan.cpp): sets offset for each planned step; returns the facts.
PlanInfo plan_memory(std::vector<Step>& steps);

// The plan of one size set: every step's value and arena offset under it.
struct Plan {
    uint64_t id = 0;                // distinct per plan made (0: none)
    std::vector<int64_t> sizes;     // the symbols' sizes, in aph_executor::symbols order
    std::vector<ValueInfo> infos;   // per step
    std::vector<uint64_t> offsets;  // per step (planned steps)
    PlanInfo info;
};

// The default of aph_executor_options::max_plans and its largest value.
constexpr size_t kDefaultMaxPlans = 8;
constexpr size_t kMaxMaxPlans = 4096;

}  // namespace aph::exec

struct aph_executor {
    aph::RefCount refs;               // aph_executor_retain / aph_executor_release
    aph_device* device = nullptr;     // owned reference
    aph_stream* stream = nullptr;     // owned reference or NULL (default stream)
    aph_tracker* tracker = nullptr;   // owned reference or NULL
    aph_trace_sink* trace = nullptr;  // owned reference or NULL
    bool check_numerics = false;
    bool profile = false;
    unsigned cpu_threads = 0;  // CPU worker threads during runs (0: the caller's default)
    aph_matmul_precision matmul_precision = APH_MATMUL_PRECISION_F32;

    std::vector<aph::exec::Step> steps;  // execution (topological) order
    // Step indices of the input, weight and output nodes, each in graph (node id) order.
    std::vector<size_t> inputs, weights, outputs;
    // The symbolic dimensions, in the order input nodes (by id) first name them; never resized
    // after the executor is made (dim_names point into it).
    std::vector<std::string> symbols;
    std::vector<std::unique_ptr<std::string>> dim_exprs;  // dim_names that are expressions
    // Plans by size set, most recently used first (at most max_plans; a graph without symbols
    // has one, made with the executor). current: the plan whose values the steps hold (NULL
    // before the first plan of a graph with symbols); plan is its facts.
    std::list<aph::exec::Plan> plans;
    size_t max_plans = aph::exec::kDefaultMaxPlans;
    uint64_t plans_made = 0;
    const aph::exec::Plan* current = nullptr;
    aph::exec::PlanInfo plan;

    // Memory, allocated at the first run and grown when a plan needs more.
    uint64_t memory_plan = 0;  // id of the plan the step tensors are laid out for
    bool constants_made = false;
    uint64_t held = 0;            // arena capacity + output buffers + constants
    uint64_t charged = 0;         // bytes charged to the tracker (held, with a tracker)
    aph_tensor* arena = nullptr;  // arena_capacity bytes (NULL when 0)
    uint64_t arena_capacity = 0;
    std::vector<aph_tensor*> input_copies;  // per step: inputs bound on another device
    uint64_t runs = 0;
    bool ran = false;

    ~aph_executor();
    // The input, weight or output node named name (they have distinct names), or nullptr.
    const aph::exec::Step* find(const std::string& name) const;
    aph::exec::Step* find(const std::string& name);
};

namespace aph::exec {

// Analyses and plans graph for device (throws; nothing allocated).
aph_executor* make_executor(const graph::Graph& graph, aph_device* device, const aph_executor_options* options);
// Binds an input (the signature's dtype, rank and fixed sizes; its symbols' sizes agreeing with
// the other inputs bound since the last run) or a weight.
void set_input(aph_executor& ex, const std::string& name, aph_tensor* t, bool weight);
// Binds output name to t (NULL: unbinds); checks dtype, signature, device and writability.
void bind_output(aph_executor& ex, const std::string& name, aph_tensor* t);
void load_weights(aph_executor& ex, const std::string& path);
void run(aph_executor& ex);
// Releases all memory (and the tracker charge). Never throws.
void free_memory(aph_executor& ex) noexcept;

// The sizes the bound inputs give the symbols now (inputs bound since the last run first), -1
// for a symbol no bound input gives.
std::vector<int64_t> bound_sizes(const aph_executor& ex);
// For a graph with symbols: makes current the plan of the sizes the bound inputs give, when
// they give every symbol (planning it if no cached plan has them); otherwise leaves current
// alone. What the getters report (aph_executor_plan_info, aph_executor_node_stats).
void sync_current(aph_executor& ex);
// "batch = 8, seq = 26".
std::string sizes_str(const aph_executor& ex, const std::vector<int64_t>& sizes);

// The analysis alone (the pipeline's check stage): throws the first problem.
void check_graph(const graph::Graph& graph);

// Checks a built-in node's params against the operation's schema and fills in the absent ones'
// defaults (builtin_ops.cpp), once, when the executor is made.
void prepare_builtin(Step& s);
// The name of the operation's symbolic-shape param (input, reshape), or nullptr.
const char* symbolic_param(const Builtin* b);
// Runs a built-in's inference (prepared params; symbols bound) for a CUDA device (f64 refused,
// as the eager operations refuse it) or not.
ValueInfo infer_builtin(const Step& s, const std::vector<const ValueInfo*>& in, bool cuda);
void run_builtin(const Step& s, aph_stream* stream, const std::vector<aph_tensor*>& in, aph_tensor* out);
// Makes a view step's tensor from its operand's.
aph_tensor* make_view(const Step& s, aph_tensor* base);

// Runs f; an aph::Error it throws is rethrown with "node 7 'attn' (attention): " put after its
// kind prefix ("dimension mismatch: node 7 'attn' (attention): ..."), status kept.
template <class F>
auto with_node(const Step& s, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        std::string_view prefix = status_prefix(e.status());
        std::string_view msg = e.what();
        if (msg.substr(0, prefix.size()) == prefix) msg.remove_prefix(prefix.size());
        throw Error::kind(e.status(), node_label(s) + ": " + std::string(msg));
    }
}

}  // namespace aph::exec
