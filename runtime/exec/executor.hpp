// Executable graphs (header section 20): operations by name, inference, memory planning by
// liveness, execution through the eager operations, and custom operations from C.
//
// An executor is made in two phases, both before any device memory is allocated:
//   analyse: resolve every node's operation, infer every dtype and shape (errors name the node);
//   plan:    place every computed value in one arena by liveness (plan.cpp's greedy placement),
//            and check the total against the tracker's budget.
// Memory is allocated at the first run and reused by every later run.
#pragma once

#include "../core/error.hpp"
#include "../core/refcount.hpp"
#include "../graph/graph.hpp"
#include "aphelion.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

struct Step {
    uint64_t id = 0;
    std::string name;
    std::string op;
    Kind kind = Kind::Compute;
    std::vector<size_t> operands;  // step indices (execution order), in edge insertion order
    Json params = Json::object();
    std::string params_json;  // compact, for custom operations
    ValueInfo info;
    // Per dimension of info.shape: the symbol of a symbolic dimension, NULL for a fixed one
    // (aph_value_info's dim_names; every dimension is fixed until symbolic shapes arrive).
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
    // Owned reference, own_memory values only: the memory allocated for the value at the first
    // run. tensor is this, or for one run the caller's tensor bound to the output reading it
    // (written in place, see run()).
    aph_tensor* own = nullptr;
    bool direct = false;  // output step: this run computed straight into bound
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
             total_bytes = 0, budget_bytes = 0;
    size_t buffers = 0, steps = 0;
};

// Places the planned values (plan.cpp): sets offset for each planned step; returns the facts.
PlanInfo plan_memory(std::vector<Step>& steps);

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

    std::vector<aph::exec::Step> steps;  // execution (topological) order
    // Step indices of the input, weight and output nodes, each in graph (node id) order.
    std::vector<size_t> inputs, weights, outputs;
    aph::exec::PlanInfo plan;

    // Allocated at the first run.
    bool allocated = false;
    uint64_t charged = 0;  // bytes charged to the tracker
    aph_tensor* arena = nullptr;
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
void set_input(aph_executor& ex, const std::string& name, aph_tensor* t, bool weight);
// Binds output name to t (NULL: unbinds); checks dtype, shape, device and writability.
void bind_output(aph_executor& ex, const std::string& name, aph_tensor* t);
void load_weights(aph_executor& ex, const std::string& path);
void run(aph_executor& ex);
// Releases everything allocated by the first run (and the tracker charge). Never throws.
void free_memory(aph_executor& ex) noexcept;

// The analysis alone (the pipeline's check stage): throws the first problem.
void check_graph(const graph::Graph& graph);

// Runs a built-in's inference (builtin_ops.cpp): checks the node's params against the
// operation's schema and fills in the absent ones' defaults, then infers for a CUDA device
// (f64 refused, as the eager operations refuse it) or not.
ValueInfo infer_builtin(Step& s, const std::vector<const ValueInfo*>& in, bool cuda);
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
