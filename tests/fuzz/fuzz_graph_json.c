/* Fuzz target: the graph JSON loader (aph_graph_from_json), and what loads: saved again and
 * reloaded (the same text: loading then saving is a fixed point), hashed, sorted, rendered,
 * turned into an executor on the CPU and, when its memory plan is small, run with every input
 * and weight bound. Seeds: tests/fuzz/graph_json/. */
#include "fuzz_common.h"

#include <string.h>

static aph_device* g_cpu;

static void init(void) {
    if (g_cpu) return;
    aph_log_set_level(APH_LOG_ERROR);
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) FZ_FAIL("cpu: %s", aph_last_error());
}

/* Binds a tensor of zeros of the described dtype and shape; false when it cannot be made. */
static int bind_zeros(aph_executor* ex, const aph_value_info* info, int weight) {
    aph_tensor* t = NULL;
    if (fz_status(aph_tensor_zeros(g_cpu, info->dtype, info->shape, info->ndim, &t), "aph_tensor_zeros") != APH_OK) {
        return 0;
    }
    aph_status st = weight ? aph_executor_set_weight(ex, info->name, t) : aph_executor_set_input(ex, info->name, t);
    fz_status(st, "aph_executor_set_input/weight");
    aph_tensor_release(t);
    return st == APH_OK;
}

static void try_executor(const aph_graph* g) {
    aph_executor* ex = NULL;
    if (fz_status(aph_executor_create(g, g_cpu, NULL, &ex), "aph_executor_create") != APH_OK) return;
    aph_plan_info plan;
    memset(&plan, 0, sizeof plan);
    plan.struct_size = sizeof plan;
    FZ_CHECK(aph_executor_plan_info(ex, &plan) == APH_OK, "plan_info: %s", aph_last_error());
    FZ_CHECK(plan.live_peak_bytes <= plan.arena_bytes, "live peak %llu over the arena %llu",
             (unsigned long long)plan.live_peak_bytes, (unsigned long long)plan.arena_bytes);
    int bound = 1;
    uint64_t bound_bytes = 0;
    for (size_t i = 0; i < aph_executor_input_count(ex) && bound; ++i) {
        aph_value_info v;
        memset(&v, 0, sizeof v);
        v.struct_size = sizeof v;
        FZ_CHECK(aph_executor_input_info(ex, i, &v) == APH_OK, "input_info: %s", aph_last_error());
        uint64_t b = 0;
        if (aph_estimate_tensor_bytes(v.shape, v.ndim, v.dtype, &b) != APH_OK || b > (1u << 20)) bound = 0;
        bound_bytes += b;
        if (bound) bound = bind_zeros(ex, &v, 0);
    }
    for (size_t i = 0; i < aph_executor_weight_count(ex) && bound; ++i) {
        aph_value_info v;
        memset(&v, 0, sizeof v);
        v.struct_size = sizeof v;
        FZ_CHECK(aph_executor_weight_info(ex, i, &v) == APH_OK, "weight_info: %s", aph_last_error());
        uint64_t b = 0;
        if (aph_estimate_tensor_bytes(v.shape, v.ndim, v.dtype, &b) != APH_OK || b > (1u << 20)) bound = 0;
        bound_bytes += b;
        if (bound) bound = bind_zeros(ex, &v, 1);
    }
    /* Run only what is cheap: a few MiB of memory, a bounded number of nodes. */
    if (bound && bound_bytes < (8u << 20) && plan.total_bytes < (16u << 20) && plan.steps < 256) {
        if (fz_status(aph_executor_run(ex), "aph_executor_run") == APH_OK) {
            FZ_CHECK(aph_executor_run_count(ex) == 1, "run count %llu", (unsigned long long)aph_executor_run_count(ex));
            for (size_t i = 0; i < aph_executor_output_count(ex); ++i) {
                aph_tensor* out = NULL;
                const char* name = aph_executor_output_name(ex, i);
                FZ_CHECK(name != NULL, "output %zu has no name", i);
                FZ_CHECK(aph_executor_output(ex, name, &out) == APH_OK, "output '%s': %s", name, aph_last_error());
                aph_tensor_release(out);
            }
        }
    }
    aph_executor_release(ex);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    init();
    aph_graph* g = NULL;
    if (fz_status(aph_graph_from_json((const char*)data, size, &g), "aph_graph_from_json") != APH_OK) return 0;
    /* Saving and loading again gives the same graph: the same text, the same hash. */
    char* json = NULL;
    FZ_CHECK(aph_graph_to_json(g, 0, &json) == APH_OK, "to_json: %s", aph_last_error());
    aph_graph* g2 = NULL;
    FZ_CHECK(aph_graph_from_json(json, strlen(json), &g2) == APH_OK, "reloading what was saved: %s\n%s",
             aph_last_error(), json);
    char* json2 = NULL;
    FZ_CHECK(aph_graph_to_json(g2, 0, &json2) == APH_OK, "to_json: %s", aph_last_error());
    FZ_CHECK(strcmp(json, json2) == 0, "save(load(save(g))) differs from save(g):\n%s\n%s", json, json2);
    char h1[65], h2[65];
    FZ_CHECK(aph_graph_stable_hash(g, h1, sizeof h1) == APH_OK, "hash: %s", aph_last_error());
    FZ_CHECK(aph_graph_stable_hash(g2, h2, sizeof h2) == APH_OK, "hash: %s", aph_last_error());
    FZ_CHECK(strcmp(h1, h2) == 0, "the reloaded graph hashes differently");
    aph_string_free(json);
    aph_string_free(json2);
    aph_graph_release(g2);

    const size_t n = aph_graph_node_count(g);
    uint64_t* order = (uint64_t*)malloc((n + 1) * sizeof *order);
    const aph_status sorted = fz_status(aph_graph_topological_sort(g, order, n), "aph_graph_topological_sort");
    const int cycle = aph_graph_has_cycle(g);
    FZ_CHECK(sorted != APH_OK || !cycle, "topological_sort succeeded on a graph with a cycle");
    FZ_CHECK(sorted != APH_ERR_BUILD || cycle, "topological_sort found a cycle has_cycle does not see");
    free(order);
    char* dot = NULL;
    FZ_CHECK(aph_graph_to_dot(g, &dot) == APH_OK, "to_dot: %s", aph_last_error());
    aph_string_free(dot);
    char* pretty = NULL;
    FZ_CHECK(aph_graph_to_json(g, 1, &pretty) == APH_OK, "to_json pretty: %s", aph_last_error());
    aph_string_free(pretty);

    try_executor(g);
    aph_graph_release(g);
    return 0;
}
