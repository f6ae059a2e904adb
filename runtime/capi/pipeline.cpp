// C API, section 19: build contexts and pipelines.
#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/tracker.hpp"
#include "../graph/pipeline.hpp"
#include "../graph/trace.hpp"

#include <memory>
#include <string>

namespace {

void require_nonempty(const char* s, const char* name) {
    aph::require_arg(s, name);
    if (*s == '\0') throw aph::invalid_argument(std::string(name) + " must not be empty");
}

}  // namespace

extern "C" {

// ---------------------------------------------------------------------------------------------
// Build contexts

APH_API aph_status aph_build_context_create(aph_device* device, aph_trace_sink* sink, aph_tracker* tracker,
                                            aph_build_context** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        auto ctx = std::make_unique<aph_build_context>();
        if (device) {
            aph::device::retain(device);
            ctx->device = device;
        } else {
            ctx->device = aph::device::select(aph_device_config{});
        }
        if (sink) {
            sink->refs.retain();
            ctx->sink = sink;
        }
        if (tracker) {
            tracker->refs.retain();
            ctx->tracker = tracker;
        }
        *out = ctx.release();
    });
}

APH_API void aph_build_context_release(aph_build_context* ctx) { delete ctx; }

APH_API aph_device* aph_build_context_device(const aph_build_context* ctx) { return ctx ? ctx->device : nullptr; }

APH_API aph_trace_sink* aph_build_context_sink(const aph_build_context* ctx) { return ctx ? ctx->sink : nullptr; }

APH_API aph_tracker* aph_build_context_tracker(const aph_build_context* ctx) { return ctx ? ctx->tracker : nullptr; }

APH_API aph_status aph_build_context_trace(aph_build_context* ctx, aph_trace_level level, const char* id,
                                           const char* message) {
    return aph::guard([&] {
        aph::require_arg(ctx, "ctx");
        aph::trace::check_level(static_cast<int>(level), "level");
        aph::require_arg(id, "id");
        aph::require_arg(message, "message");
        ctx->trace(level, id, message);
    });
}

APH_API aph_status aph_build_context_allocate(aph_build_context* ctx, uint64_t bytes) {
    return aph::guard([&] {
        aph::require_arg(ctx, "ctx");
        // aphelion-core's BuildContext wraps the tracker's error as AphelionError::backend(
        // format!("OOM: {e}")); libaphelion reports an out-of-budget condition as
        // APH_ERR_OUT_OF_MEMORY wherever it surfaces, so the tracker's error passes unchanged.
        if (ctx->tracker != nullptr) ctx->tracker->allocate(bytes);
    });
}

APH_API aph_status aph_build_context_set_input(aph_build_context* ctx, const char* name, aph_tensor* tensor) {
    return aph::guard([&] {
        aph::require_arg(ctx, "ctx");
        require_nonempty(name, "name");
        aph::require_arg(tensor, "tensor");
        auto [it, inserted] = ctx->inputs.try_emplace(name, nullptr);
        aph_tensor_retain(tensor);
        if (!inserted) aph_tensor_release(it->second);
        it->second = tensor;
    });
}

APH_API aph_status aph_build_context_set_weights_file(aph_build_context* ctx, const char* path) {
    return aph::guard([&] {
        aph::require_arg(ctx, "ctx");
        aph::require_arg(path, "path");
        ctx->weights_file = path;
    });
}

APH_API aph_status aph_build_context_executor(const aph_build_context* ctx, aph_executor** out) {
    return aph::guard([&] {
        aph::require_arg(ctx, "ctx");
        aph::require_arg(out, "out");
        if (ctx->executor == nullptr)
            throw aph::Error::kind(APH_ERR_INVALID_STATE,
                                   "the context has no executor yet: run a pipeline with the plan stage first");
        aph_executor_retain(ctx->executor);
        *out = ctx->executor;
    });
}

// ---------------------------------------------------------------------------------------------
// Pipelines

APH_API aph_status aph_pipeline_create(aph_pipeline** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        *out = new aph_pipeline();
    });
}

APH_API aph_status aph_pipeline_preset(const char* preset, aph_pipeline** out) {
    return aph::guard([&] {
        aph::require_arg(preset, "preset");
        aph::require_arg(out, "out");
        *out = aph_pipeline::preset(preset);
    });
}

APH_API void aph_pipeline_release(aph_pipeline* pipeline) { delete pipeline; }

APH_API aph_status aph_pipeline_add_builtin(aph_pipeline* pipeline, const char* stage) {
    return aph::guard([&] {
        aph::require_arg(pipeline, "pipeline");
        aph::require_arg(stage, "stage");
        pipeline->add_builtin(stage);
    });
}

APH_API aph_status aph_pipeline_add_stage(aph_pipeline* pipeline, const char* name, aph_stage_fn fn, void* user_data,
                                          void (*destroy)(void* user_data)) {
    return aph::guard([&] {
        aph::require_arg(pipeline, "pipeline");
        require_nonempty(name, "name");
        if (fn == nullptr) throw aph::invalid_argument("fn must not be NULL");
        pipeline->add_stage(name, fn, user_data, destroy);
    });
}

APH_API aph_status aph_pipeline_add_pre_hook(aph_pipeline* pipeline, aph_hook_fn fn, void* user_data,
                                             void (*destroy)(void* user_data)) {
    return aph::guard([&] {
        aph::require_arg(pipeline, "pipeline");
        if (fn == nullptr) throw aph::invalid_argument("fn must not be NULL");
        pipeline->add_pre_hook(fn, user_data, destroy);
    });
}

APH_API aph_status aph_pipeline_add_post_hook(aph_pipeline* pipeline, aph_hook_fn fn, void* user_data,
                                              void (*destroy)(void* user_data)) {
    return aph::guard([&] {
        aph::require_arg(pipeline, "pipeline");
        if (fn == nullptr) throw aph::invalid_argument("fn must not be NULL");
        pipeline->add_post_hook(fn, user_data, destroy);
    });
}

APH_API aph_status aph_pipeline_skip(aph_pipeline* pipeline, const char* stage) {
    return aph::guard([&] {
        aph::require_arg(pipeline, "pipeline");
        aph::require_arg(stage, "stage");
        pipeline->skip.insert(stage);
    });
}

APH_API aph_status aph_pipeline_set_progress(aph_pipeline* pipeline, aph_progress_fn fn, void* user_data) {
    return aph::guard([&] {
        aph::require_arg(pipeline, "pipeline");
        pipeline->progress = fn;
        pipeline->progress_data = fn ? user_data : nullptr;
    });
}

APH_API size_t aph_pipeline_stage_count(const aph_pipeline* pipeline) { return pipeline ? pipeline->stages.size() : 0; }

APH_API const char* aph_pipeline_stage_name(const aph_pipeline* pipeline, size_t index) {
    if (pipeline == nullptr || index >= pipeline->stages.size()) return nullptr;
    return pipeline->stages[index].name.c_str();
}

APH_API aph_status aph_pipeline_run(aph_pipeline* pipeline, aph_build_context* ctx, aph_graph* graph) {
    return aph::guard([&] {
        aph::require_arg(pipeline, "pipeline");
        aph::require_arg(ctx, "ctx");
        aph::require_arg(graph, "graph");
        pipeline->run(*ctx, *graph);
    });
}

}  // extern "C"
