// Pipelines and build contexts (header section 19; aphelion-core pipeline.rs, docs/compat.md
// section 7): pre-hooks, then stages with progress reports and skips, then post-hooks.
#include "pipeline.hpp"

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/tracker.hpp"
#include "serde_json.hpp"
#include "trace.hpp"

#include <chrono>
#include <memory>
#include <utility>

// ---------------------------------------------------------------------------------------------
// Build context

aph_build_context::~aph_build_context() {
    aph_executor_release(executor);
    aph_stream_release(executor_options.stream);
    for (auto& [name, tensor] : inputs) aph_tensor_release(tensor);
    aph_tracker_release(tracker);
    aph::trace::release(sink);
    if (device) aph::device::release(device);
}

void aph_build_context::trace(aph_trace_level level, const char* id, const std::string& message) {
    if (sink) sink->emit(level, id, message);
}

namespace aph::pipeline {
namespace {

// ---------------------------------------------------------------------------------------------
// Built-in stages

void stage_validation(aph_build_context& ctx, aph_graph& graph) {
    const size_t n = graph.g.nodes.size();
    if (n == 0) throw Error::kind(APH_ERR_VALIDATION, "graph must contain at least one node");
    ctx.trace(APH_TRACE_INFO, "stage.validation", strprintf("validated %zu nodes", n));
}

void stage_hashing(aph_build_context& ctx, aph_graph& graph) {
    ctx.trace(APH_TRACE_INFO, "stage.hashing", "computed graph hash: " + graph.g.stable_hash());
}

void stage_check(aph_build_context& ctx, aph_graph& graph) { exec::stage_check(ctx, graph.g); }
void stage_plan(aph_build_context& ctx, aph_graph& graph) { exec::stage_plan(ctx, graph.g); }
void stage_execute(aph_build_context& ctx, aph_graph& graph) { exec::stage_execute(ctx, graph.g); }

// for_training's pre-hook (aphelion-core BuildPipeline::for_training).
aph_status training_hook(void*, aph_build_context* ctx, const aph_graph*) {
    return guard([&] { ctx->trace(APH_TRACE_INFO, "pipeline.training", "Starting training pipeline"); });
}

// The status and message of the exception being handled, as the C barrier would report them.
std::pair<aph_status, std::string> current_failure() {
    const aph_status s = guard([] { throw; });
    return {s, last_error()};
}

void call_hook(const Hook& hook, aph_build_context& ctx, const aph_graph& graph, const char* kind, size_t index) {
    invoke_callback_checked([&] { return hook.fn(hook.user_data, &ctx, &graph); },
                            [&] { return strprintf("%s %zu", kind, index + 1); });
}

}  // namespace

BuiltinFn builtin(std::string_view name) noexcept {
    if (name == "validation") return stage_validation;
    if (name == "hashing") return stage_hashing;
    if (name == "check") return stage_check;
    if (name == "plan") return stage_plan;
    if (name == "execute") return stage_execute;
    return nullptr;
}

}  // namespace aph::pipeline

// ---------------------------------------------------------------------------------------------
// Pipeline

aph_pipeline::~aph_pipeline() {
    for (const auto& s : stages) {
        if (s.destroy) aph::invoke_callback([&] { s.destroy(s.user_data); });
    }
    for (const auto& h : pre_hooks) {
        if (h.destroy) aph::invoke_callback([&] { h.destroy(h.user_data); });
    }
    for (const auto& h : post_hooks) {
        if (h.destroy) aph::invoke_callback([&] { h.destroy(h.user_data); });
    }
}

void aph_pipeline::add_builtin(std::string_view name) {
    const aph::pipeline::BuiltinFn fn = aph::pipeline::builtin(name);
    if (fn == nullptr) {
        throw aph::Error::kind(APH_ERR_NOT_FOUND, "unknown built-in stage '" + std::string(name) +
                                                      "' (expected validation, hashing, check, plan or execute)");
    }
    aph::pipeline::Stage s;
    s.name = std::string(name);
    s.builtin = fn;
    stages.push_back(std::move(s));
}

void aph_pipeline::add_stage(std::string name, aph_stage_fn fn, void* user_data, void (*destroy)(void*)) {
    aph::pipeline::Stage s;
    s.name = std::move(name);
    s.fn = fn;
    s.user_data = user_data;
    s.destroy = destroy;
    stages.push_back(std::move(s));  // strong guarantee: on failure nothing is added
}

void aph_pipeline::add_pre_hook(aph_hook_fn fn, void* user_data, void (*destroy)(void*)) {
    pre_hooks.push_back({fn, user_data, destroy});
}

void aph_pipeline::add_post_hook(aph_hook_fn fn, void* user_data, void (*destroy)(void*)) {
    post_hooks.push_back({fn, user_data, destroy});
}

aph_pipeline* aph_pipeline::preset(std::string_view name) {
    auto p = std::make_unique<aph_pipeline>();
    if (name == "standard" || name == "for_training") {
        p->add_builtin("validation");
        p->add_builtin("hashing");
        if (name == "for_training") p->add_pre_hook(aph::pipeline::training_hook, nullptr, nullptr);
    } else if (name == "for_inference") {
        p->add_builtin("hashing");
    } else if (name == "run") {
        for (const char* s : {"validation", "check", "hashing", "plan", "execute"}) p->add_builtin(s);
    } else {
        throw aph::Error::kind(APH_ERR_NOT_FOUND, "unknown pipeline preset '" + std::string(name) +
                                                      "' (expected standard, for_training, for_inference or run)");
    }
    return p.release();
}

void aph_pipeline::run(aph_build_context& ctx, aph_graph& graph) {
    for (size_t i = 0; i < pre_hooks.size(); ++i) {
        aph::pipeline::call_hook(pre_hooks[i], ctx, graph, "pre-hook", i);
    }

    const size_t total = stages.size();
    for (size_t i = 0; i < total; ++i) {
        const aph::pipeline::Stage& stage = stages[i];
        if (skip.count(stage.name) != 0) {
            if (progress) {
                const std::string label = stage.name + " (skipped)";
                aph::invoke_callback([&] { progress(progress_data, label.c_str(), i + 1, total); });
            }
            continue;
        }
        if (progress) aph::invoke_callback([&] { progress(progress_data, stage.name.c_str(), i + 1, total); });

        aph::trace::Span span;
        span.name = stage.name;
        span.category = "stage";
        span.device = ctx.device ? ctx.device->label : std::string();
        span.start_ns = aph::trace::now_ns();
        const auto started = std::chrono::steady_clock::now();
        auto elapsed_ns = [&started] {
            const auto d = std::chrono::steady_clock::now() - started;
            return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
        };
        try {
            if (stage.builtin) {
                stage.builtin(ctx, graph);
            } else {
                aph::invoke_callback_checked([&] { return stage.fn(stage.user_data, &ctx, &graph); },
                                             [&] { return "stage '" + stage.name + "'"; });
            }
        } catch (...) {
            auto [status, message] = aph::pipeline::current_failure();
            message += " (stage: " + stage.name + ")";
            if (ctx.sink) {
                try {
                    span.duration_ns = elapsed_ns();
                    span.args_json = "{\"error\":";
                    aph::graph::serde_string(span.args_json, message);
                    span.args_json += '}';
                    ctx.sink->record_span(span);
                } catch (...) {
                    // The stage's error matters more than its span.
                }
            }
            throw aph::Error::raw(status, std::move(message));
        }
        if (ctx.sink) {
            span.duration_ns = elapsed_ns();
            ctx.sink->record_span(span);
        }
    }

    for (size_t i = 0; i < post_hooks.size(); ++i) {
        aph::pipeline::call_hook(post_hooks[i], ctx, graph, "post-hook", i);
    }
}
