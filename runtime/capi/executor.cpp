// C API, section 20: custom operations and executors.
#include "../core/error.hpp"
#include "../core/stream.hpp"
#include "../core/tensor.hpp"
#include "../core/tracker.hpp"
#include "../exec/executor.hpp"
#include "../graph/context.hpp"
#include "../kernels/parallel.hpp"

#include <algorithm>
#include <cstring>

namespace {

// The value a list (inputs, weights or outputs) holds at index, described into out.
using List = std::vector<size_t> aph_executor::*;

void value_info(const aph_executor* ex, List member, size_t index, const char* what, aph_value_info* out) {
    aph::require_arg(ex, "executor");
    aph::require_arg(out, "out");
    const std::vector<size_t>& list = ex->*member;
    if (out->struct_size < offsetof(aph_value_info, name) + sizeof(const char*))
        throw aph::invalid_argument(aph::strprintf("out->struct_size is %zu; set it to sizeof(aph_value_info) (%zu)",
                                                   out->struct_size, sizeof(aph_value_info)));
    if (index >= list.size())
        throw aph::invalid_argument(
            aph::strprintf("index %zu is out of range (the executor has %zu %s)", index, list.size(), what));
    const aph::exec::Step& s = ex->steps[list[index]];
    aph_value_info full{};
    full.struct_size = out->struct_size;
    full.name = s.name.c_str();
    full.node_id = s.id;
    full.dtype = s.info.dtype;
    full.ndim = s.sig_shape.size();
    full.shape = s.sig_shape.empty() ? nullptr : s.sig_shape.data();
    full.dim_names = s.dim_names.empty() ? nullptr : s.dim_names.data();
    std::memcpy(out, &full, std::min(out->struct_size, sizeof full));
}

// The index in list of the node named name.
size_t find_value(const aph_executor* ex, List member, const char* name, const char* what) {
    aph::require_arg(ex, "executor");
    aph::require_arg(name, "name");
    const std::vector<size_t>& list = ex->*member;
    for (size_t i = 0; i < list.size(); ++i)
        if (ex->steps[list[i]].name == name) return i;
    throw aph::Error::kind(APH_ERR_NOT_FOUND, aph::strprintf("the graph has no %s node named '%s'", what, name));
}

// "batch, seq".
std::string symbol_list(const aph_executor& ex) {
    std::string out;
    for (const std::string& name : ex.symbols) out += (out.empty() ? "" : ", ") + name;
    return out;
}

}  // namespace

extern "C" {

APH_API aph_status aph_custom_op_register(const aph_custom_op* op) {
    return aph::guard([&] { aph::exec::register_custom(op); });
}

APH_API aph_status aph_custom_op_unregister(const char* name) {
    return aph::guard([&] { aph::exec::unregister_custom(name); });
}

APH_API aph_status aph_executor_create(const aph_graph* graph, aph_device* device, const aph_executor_options* options,
                                       aph_executor** out) {
    return aph::guard([&] {
        aph::require_arg(graph, "graph");
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = aph::exec::make_executor(graph->g, device, options);
    });
}

APH_API void aph_executor_retain(aph_executor* executor) {
    if (executor != nullptr) executor->refs.retain();
}

APH_API void aph_executor_release(aph_executor* executor) {
    if (executor != nullptr && executor->refs.release()) delete executor;
}

APH_API aph_status aph_executor_plan_info(const aph_executor* executor, aph_plan_info* out) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::require_arg(out, "out");
        if (out->struct_size < offsetof(aph_plan_info, arena_bytes) + sizeof(uint64_t))
            throw aph::invalid_argument("out->struct_size is too small (set it to sizeof(aph_plan_info))");
        // The plan of the current size set (made now when the bound inputs give a new one): a
        // getter may plan, as the executor is used by one thread at a time.
        aph_executor& ex = const_cast<aph_executor&>(*executor);
        aph::exec::sync_current(ex);
        if (ex.current == nullptr)
            throw aph::Error::kind(APH_ERR_INVALID_STATE,
                                   "the graph has symbolic dimensions (" + symbol_list(ex) +
                                       "): its plan depends on their sizes; bind inputs that give them first");
        const aph::exec::PlanInfo& p = ex.plan;
        aph_plan_info full{};
        full.struct_size = out->struct_size;
        full.arena_bytes = p.arena_bytes;
        full.live_peak_bytes = p.live_peak_bytes;
        full.unshared_bytes = p.unshared_bytes;
        full.output_bytes = p.output_bytes;
        full.constant_bytes = p.constant_bytes;
        full.total_bytes = p.total_bytes;
        full.budget_bytes = ex.tracker != nullptr ? ex.tracker->limit() : 0;
        full.buffers = p.buffers;
        full.steps = p.steps;
        full.plans_cached = ex.plans.size();
        full.plans_made = ex.plans_made;
        full.arena_capacity_bytes = ex.arena_capacity;
        full.held_bytes = ex.held;
        std::memcpy(out, &full, std::min(out->struct_size, sizeof full));
    });
}

APH_API aph_status aph_executor_set_input(aph_executor* executor, const char* name, aph_tensor* tensor) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::require_arg(name, "name");
        aph::require_arg(tensor, "tensor");
        aph::exec::set_input(*executor, name, tensor, false);
    });
}

APH_API aph_status aph_executor_set_weight(aph_executor* executor, const char* name, aph_tensor* tensor) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::require_arg(name, "name");
        aph::require_arg(tensor, "tensor");
        aph::exec::set_input(*executor, name, tensor, true);
    });
}

APH_API aph_status aph_executor_bind_output(aph_executor* executor, const char* name, aph_tensor* tensor) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::require_arg(name, "name");
        aph::exec::bind_output(*executor, name, tensor);
    });
}

APH_API aph_status aph_executor_load_weights(aph_executor* executor, const char* path) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::require_arg(path, "path");
        aph::exec::load_weights(*executor, path);
    });
}

APH_API aph_status aph_executor_run(aph_executor* executor) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::exec::run(*executor);
    });
}

APH_API aph_status aph_executor_output(const aph_executor* executor, const char* name, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::require_arg(name, "name");
        aph::require_arg(out, "out");
        const aph::exec::Step* s = executor->find(name);
        if (s == nullptr || s->kind != aph::exec::Kind::Output)
            throw aph::Error::kind(APH_ERR_NOT_FOUND, std::string("the graph has no output node named '") + name + "'");
        if (!executor->ran || s->tensor == nullptr)
            throw aph::Error::kind(APH_ERR_INVALID_STATE,
                                   std::string("output '") + name +
                                       "' has no value: the executor has not run (successfully) yet");
        aph::tensor::retain(s->tensor);
        *out = s->tensor;
    });
}

APH_API size_t aph_executor_input_count(const aph_executor* executor) { return executor ? executor->inputs.size() : 0; }

APH_API aph_status aph_executor_input_info(const aph_executor* executor, size_t index, aph_value_info* out) {
    return aph::guard([&] { value_info(executor, &aph_executor::inputs, index, "inputs", out); });
}

APH_API aph_status aph_executor_find_input(const aph_executor* executor, const char* name, size_t* out_index) {
    return aph::guard([&] {
        aph::require_arg(out_index, "out_index");
        *out_index = find_value(executor, &aph_executor::inputs, name, "input");
    });
}

APH_API size_t aph_executor_weight_count(const aph_executor* executor) {
    return executor ? executor->weights.size() : 0;
}

APH_API aph_status aph_executor_weight_info(const aph_executor* executor, size_t index, aph_value_info* out) {
    return aph::guard([&] { value_info(executor, &aph_executor::weights, index, "weights", out); });
}

APH_API aph_status aph_executor_find_weight(const aph_executor* executor, const char* name, size_t* out_index) {
    return aph::guard([&] {
        aph::require_arg(out_index, "out_index");
        *out_index = find_value(executor, &aph_executor::weights, name, "weight");
    });
}

APH_API size_t aph_executor_output_count(const aph_executor* executor) {
    return executor ? executor->outputs.size() : 0;
}

APH_API const char* aph_executor_output_name(const aph_executor* executor, size_t index) {
    if (executor == nullptr || index >= executor->outputs.size()) return nullptr;
    return executor->steps[executor->outputs[index]].name.c_str();
}

APH_API aph_status aph_executor_output_info(const aph_executor* executor, size_t index, aph_value_info* out) {
    return aph::guard([&] { value_info(executor, &aph_executor::outputs, index, "outputs", out); });
}

APH_API aph_status aph_executor_find_output(const aph_executor* executor, const char* name, size_t* out_index) {
    return aph::guard([&] {
        aph::require_arg(out_index, "out_index");
        *out_index = find_value(executor, &aph_executor::outputs, name, "output");
    });
}

APH_API size_t aph_executor_node_count(const aph_executor* executor) { return executor ? executor->steps.size() : 0; }

APH_API aph_status aph_executor_node_stats(const aph_executor* executor, size_t index, aph_node_stats* out) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        aph::require_arg(out, "out");
        if (out->struct_size < offsetof(aph_node_stats, id) + sizeof(uint64_t))
            throw aph::invalid_argument("out->struct_size is too small (set it to sizeof(aph_node_stats))");
        if (index >= executor->steps.size())
            throw aph::invalid_argument("index " + std::to_string(index) + " is outside [0, " +
                                        std::to_string(executor->steps.size()) + ")");
        aph::exec::sync_current(const_cast<aph_executor&>(*executor));  // as aph_executor_plan_info
        const aph::exec::Step& s = executor->steps[index];
        aph_node_stats full{};
        full.struct_size = out->struct_size;
        full.id = s.id;
        full.name = s.name.c_str();
        full.op = s.op.c_str();
        full.dtype = s.info.dtype;
        full.ndim = s.info.shape.size();
        full.shape = s.info.shape.empty() ? nullptr : s.info.shape.data();
        full.bytes = s.info.nbytes;
        full.offset = s.planned && executor->current != nullptr ? s.offset : UINT64_MAX;
        full.last_ns = s.last_ns;
        full.total_ns = s.total_ns;
        std::memcpy(out, &full, std::min(out->struct_size, sizeof full));
    });
}

APH_API aph_status aph_build_context_set_executor_options(aph_build_context* ctx, const aph_executor_options* options) {
    return aph::guard([&] {
        aph::require_arg(ctx, "ctx");
        aph_executor_options opt{};
        if (options != nullptr) {
            if (options->struct_size < offsetof(aph_executor_options, tracker) + sizeof(void*))
                throw aph::invalid_argument(
                    "options->struct_size is too small (set it to sizeof(aph_executor_options))");
            std::memcpy(&opt, options, std::min(options->struct_size, sizeof opt));
            opt.struct_size = sizeof opt;
        }
        opt.tracker = nullptr;
        opt.trace = nullptr;
        if (opt.cpu_threads > aph::kernels::kMaxCpuThreads)
            throw aph::invalid_argument(aph::strprintf("options->cpu_threads is %zu; at most %u", opt.cpu_threads,
                                                       aph::kernels::kMaxCpuThreads));
        if (opt.stream != nullptr && opt.stream->device != ctx->device)
            throw aph::device_mismatch("the executor options' stream belongs to another device than the context's");
        if (opt.stream != nullptr) aph_stream_retain(opt.stream);
        aph_stream_release(ctx->executor_options.stream);
        ctx->executor_options = opt;
    });
}

APH_API uint64_t aph_executor_run_count(const aph_executor* executor) { return executor ? executor->runs : 0; }

APH_API size_t aph_executor_symbol_count(const aph_executor* executor) {
    return executor ? executor->symbols.size() : 0;
}

APH_API aph_status aph_executor_symbol(const aph_executor* executor, size_t index, const char** out_name,
                                       int64_t* out_value) {
    return aph::guard([&] {
        aph::require_arg(executor, "executor");
        if (index >= executor->symbols.size())
            throw aph::invalid_argument(aph::strprintf("index %zu is out of range (the executor has %zu symbols)",
                                                       index, executor->symbols.size()));
        const int64_t value = aph::exec::bound_sizes(*executor)[index];
        if (out_name != nullptr) *out_name = executor->symbols[index].c_str();
        if (out_value != nullptr) *out_value = value;
    });
}

}  // extern "C"
