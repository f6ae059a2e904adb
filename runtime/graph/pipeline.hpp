// Pipelines (header section 19; aphelion-core pipeline.rs, docs/compat.md section 7): the type
// behind aph_pipeline.
#pragma once

#include "aphelion.h"

#include "context.hpp"

#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace aph::pipeline {

// A built-in stage: throws aph::Error (the pipeline adds the stage suffix).
using BuiltinFn = void (*)(aph_build_context& ctx, aph_graph& graph);

// The built-in stage of this name ("validation", "hashing", "check", "plan", "execute"), or
// nullptr.
BuiltinFn builtin(std::string_view name) noexcept;

struct Stage {
    std::string name;
    BuiltinFn builtin = nullptr;  // set for built-in stages
    aph_stage_fn fn = nullptr;    // set for custom stages
    void* user_data = nullptr;
    void (*destroy)(void*) = nullptr;
};

struct Hook {
    aph_hook_fn fn = nullptr;
    void* user_data = nullptr;
    void (*destroy)(void*) = nullptr;
};

}  // namespace aph::pipeline

struct aph_pipeline {
    // A deque: the names aph_pipeline_stage_name hands out stay put while stages are appended.
    std::deque<aph::pipeline::Stage> stages;
    std::vector<aph::pipeline::Hook> pre_hooks;
    std::vector<aph::pipeline::Hook> post_hooks;
    std::set<std::string> skip;
    aph_progress_fn progress = nullptr;
    void* progress_data = nullptr;

    aph_pipeline() = default;
    aph_pipeline(const aph_pipeline&) = delete;
    aph_pipeline& operator=(const aph_pipeline&) = delete;
    // Runs destroy(user_data) of every stage and hook, once each, in the order they were added
    // (stages, then pre-hooks, then post-hooks).
    ~aph_pipeline();

    // Each append either succeeds or changes nothing (and then leaves user_data to the caller:
    // destroy is not called). Unknown built-in names are APH_ERR_INVALID_ARGUMENT.
    void add_builtin(std::string_view name);
    void add_stage(std::string name, aph_stage_fn fn, void* user_data, void (*destroy)(void*));
    void add_pre_hook(aph_hook_fn fn, void* user_data, void (*destroy)(void*));
    void add_post_hook(aph_hook_fn fn, void* user_data, void (*destroy)(void*));

    // "standard", "for_training", "for_inference", "run"; another name is
    // APH_ERR_INVALID_ARGUMENT.
    static aph_pipeline* preset(std::string_view name);

    // Pre-hooks, stages (progress, skips, one "stage" span each in ctx's sink), post-hooks.
    // Throws aph::Error: a stage's error with " (stage: {name})" appended, a hook's error as is.
    void run(aph_build_context& ctx, aph_graph& graph);
};
