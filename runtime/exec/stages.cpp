// The executor-backed built-in pipeline stages (header section 19): check, plan, execute.
#include "../core/memory.hpp"
#include "../graph/context.hpp"
#include "../graph/trace.hpp"
#include "executor.hpp"

namespace aph::exec {

void stage_check(aph_build_context& ctx, const graph::Graph& graph) {
    check_graph(graph);
    ctx.trace(APH_TRACE_INFO, "stage.check", strprintf("checked %zu nodes", graph.nodes.size()));
}

void stage_plan(aph_build_context& ctx, const graph::Graph& graph) {
    aph_executor_options opt = ctx.executor_options;
    opt.struct_size = sizeof opt;
    opt.tracker = ctx.tracker;
    opt.trace = ctx.sink;
    aph_executor* ex = make_executor(graph, ctx.device, &opt);
    if (ctx.executor != nullptr) aph_executor_release(ctx.executor);
    ctx.executor = ex;
    if (ex->current == nullptr) {  // symbolic dimensions: planned per size set, at run time
        std::string names;
        for (const std::string& n : ex->symbols) names += (names.empty() ? "" : ", ") + n;
        ctx.trace(APH_TRACE_INFO, "stage.plan",
                  "checked; memory is planned at run time for each size set of the symbolic dimensions " + names);
    } else {
        ctx.trace(APH_TRACE_INFO, "stage.plan",
                  strprintf("planned %zu buffers, peak %llu bytes", ex->plan.buffers,
                            static_cast<unsigned long long>(ex->plan.total_bytes)));
    }
}

void stage_execute(aph_build_context& ctx, const graph::Graph& graph) {
    (void)graph;
    if (ctx.executor == nullptr)
        throw Error::kind(APH_ERR_INVALID_STATE, "the execute stage needs the plan stage to run before it");
    aph_executor& ex = *ctx.executor;
    for (const auto& [name, t] : ctx.inputs) set_input(ex, name, t, false);
    if (!ctx.weights_file.empty()) load_weights(ex, ctx.weights_file);
    run(ex);
    ctx.trace(APH_TRACE_INFO, "stage.execute",
              strprintf("executed %zu steps (run %llu)", ex.plan.steps, static_cast<unsigned long long>(ex.runs)));
}

}  // namespace aph::exec
