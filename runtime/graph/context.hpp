// The build context of pipelines (header section 19; aphelion-core BuildContext).
#pragma once

#include "aphelion.h"

#include "graph.hpp"

#include <map>
#include <string>

struct aph_build_context {
    aph_device* device = nullptr;               // owned reference (never NULL once created)
    aph_trace_sink* sink = nullptr;             // owned reference or NULL
    aph_tracker* tracker = nullptr;             // owned reference or NULL
    std::map<std::string, aph_tensor*> inputs;  // owned references, for the execute stage
    std::string weights_file;                   // "" when none
    // Made by the plan stage; an owned reference (a later plan releases it and takes the new
    // executor; references handed out by aph_build_context_executor keep the old one alive).
    aph_executor* executor = nullptr;
    // For the plan stage's executor (aph_build_context_set_executor_options; tracker and trace
    // are replaced by the context's; its stream is an owned reference). struct_size 0: defaults.
    aph_executor_options executor_options{};

    ~aph_build_context();
    // Records an event in the sink (if any), stamped now.
    void trace(aph_trace_level level, const char* id, const std::string& message);
};

namespace aph::exec {
// The executor-backed built-in stages, implemented in runtime/exec/stages.cpp. Each throws
// aph::Error; the pipeline adds the stage suffix.
void stage_check(aph_build_context& ctx, const aph::graph::Graph& graph);
void stage_plan(aph_build_context& ctx, const aph::graph::Graph& graph);
void stage_execute(aph_build_context& ctx, const aph::graph::Graph& graph);
}  // namespace aph::exec
