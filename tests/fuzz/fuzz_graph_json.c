/* Fuzz target: the graph JSON loader (aph_graph_from_json), and what loads: saved again and
 * reloaded (the same text: loading then saving is a fixed point), hashed, sorted, rendered,
 * turned into an executor on the CPU and, when its memory plan is small, run with every input
 * and weight bound (with symbolic dimensions: at two size sets, then the first again). Seeds:
 * tests/fuzz/graph_json/. */
#include "fuzz_common.h"

#include <string.h>

static aph_device* g_cpu;

static void init(void) {
    if (g_cpu) return;
    aph_log_set_level(APH_LOG_ERROR);
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) FZ_FAIL("cpu: %s", aph_last_error());
}

/* The size a symbolic dimension gets in a round: 1 to 3, from its name, different in rounds 0
 * and 1 (round 2 repeats round 0, to run again at a size set the executor has planned). */
static int64_t symbol_size(const char* name, unsigned round) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char* c = name ? name : ""; *c; ++c) h = (h ^ (uint8_t)*c) * 16777619u;
    return 1 + (int64_t)((h + (round % 2)) % 3);
}

/* Binds a tensor of zeros of the described dtype, its symbolic sizes chosen for the round;
 * false when it cannot be made (or is larger than a MiB). */
static int bind_zeros(aph_executor* ex, const aph_value_info* info, int weight, unsigned round, uint64_t* bytes) {
    int64_t shape[APH_TENSOR_MAX_DIMS];
    if (info->ndim > APH_TENSOR_MAX_DIMS) return 0;
    for (size_t d = 0; d < info->ndim; ++d) {
        shape[d] = info->shape[d] >= 0 ? info->shape[d] : symbol_size(info->dim_names[d], round);
        FZ_CHECK(info->shape[d] >= 0 || info->dim_names[d] != NULL, "%s: dimension %zu is symbolic without a name",
                 info->name, d);
        FZ_CHECK(!weight || info->shape[d] >= 0, "weight %s has a symbolic dimension", info->name);
    }
    uint64_t b = 0;
    if (aph_estimate_tensor_bytes(shape, info->ndim, info->dtype, &b) != APH_OK || b > (1u << 20)) return 0;
    *bytes += b;
    aph_tensor* t = NULL;
    if (fz_status(aph_tensor_zeros(g_cpu, info->dtype, shape, info->ndim, &t), "aph_tensor_zeros") != APH_OK) {
        return 0;
    }
    aph_status st = weight ? aph_executor_set_weight(ex, info->name, t) : aph_executor_set_input(ex, info->name, t);
    fz_status(st, "aph_executor_set_input/weight");
    aph_tensor_release(t);
    return st == APH_OK;
}

static aph_plan_info plan_info(const aph_executor* ex, aph_status* st) {
    aph_plan_info plan;
    memset(&plan, 0, sizeof plan);
    plan.struct_size = sizeof plan;
    *st = fz_status(aph_executor_plan_info(ex, &plan), "aph_executor_plan_info");
    if (*st == APH_OK) {
        FZ_CHECK(plan.live_peak_bytes <= plan.arena_bytes, "live peak %llu over the arena %llu",
                 (unsigned long long)plan.live_peak_bytes, (unsigned long long)plan.arena_bytes);
    }
    return plan;
}

/* Makes an executor of g and, when its memory plan is small, runs it with zeros bound to every
 * input and weight. A graph with symbolic dimensions (header section 20) runs at two size sets
 * and then at the first again, which must reuse the plan it made. */
static void try_executor(const aph_graph* g) {
    aph_executor* ex = NULL;
    if (fz_status(aph_executor_create(g, g_cpu, NULL, &ex), "aph_executor_create") != APH_OK) return;
    const size_t symbols = aph_executor_symbol_count(ex);
    aph_status st;
    plan_info(ex, &st);
    /* Without symbols the plan exists from the start; with them, not before sizes are bound. */
    FZ_CHECK(symbols > 0 ? st == APH_ERR_INVALID_STATE : st == APH_OK, "plan_info of a new executor (%zu symbols): %s",
             symbols, aph_status_name(st));
    uint64_t weight_bytes = 0;
    int bound = 1;
    for (size_t i = 0; i < aph_executor_weight_count(ex) && bound; ++i) {
        aph_value_info v;
        memset(&v, 0, sizeof v);
        v.struct_size = sizeof v;
        FZ_CHECK(aph_executor_weight_info(ex, i, &v) == APH_OK, "weight_info: %s", aph_last_error());
        bound = bind_zeros(ex, &v, 1, 0, &weight_bytes);
    }
    uint64_t plans_after_round1 = 0;
    for (unsigned round = 0; bound && round < (symbols > 0 ? 3u : 1u); ++round) {
        uint64_t bytes = weight_bytes;
        for (size_t i = 0; i < aph_executor_input_count(ex) && bound; ++i) {
            aph_value_info v;
            memset(&v, 0, sizeof v);
            v.struct_size = sizeof v;
            FZ_CHECK(aph_executor_input_info(ex, i, &v) == APH_OK, "input_info: %s", aph_last_error());
            bound = bind_zeros(ex, &v, 0, round, &bytes);
        }
        if (!bound) break;
        for (size_t i = 0; i < symbols; ++i) {
            const char* name = NULL;
            int64_t value = 0;
            FZ_CHECK(aph_executor_symbol(ex, i, &name, &value) == APH_OK, "symbol %zu: %s", i, aph_last_error());
            FZ_CHECK(name != NULL && value == symbol_size(name, round), "symbol %zu (%s) is %lld, bound as %lld", i,
                     name ? name : "(null)", (long long)value, (long long)symbol_size(name, round));
        }
        /* The plan of the bound sizes: its errors are the run's. */
        const aph_plan_info plan = plan_info(ex, &st);
        if (st != APH_OK) {
            const aph_status run = fz_status(aph_executor_run(ex), "aph_executor_run");
            FZ_CHECK(run == st, "plan_info said %s, the run %s", aph_status_name(st), aph_status_name(run));
            break;
        }
        /* Run only what is cheap: a few MiB of memory, a bounded number of nodes. */
        if (bytes >= (8u << 20) || plan.total_bytes >= (16u << 20) || plan.steps >= 256) break;
        const uint64_t runs = aph_executor_run_count(ex);
        if (fz_status(aph_executor_run(ex), "aph_executor_run") != APH_OK) break;
        FZ_CHECK(aph_executor_run_count(ex) == runs + 1, "run count %llu after %llu",
                 (unsigned long long)aph_executor_run_count(ex), (unsigned long long)runs);
        for (size_t i = 0; i < aph_executor_output_count(ex); ++i) {
            aph_tensor* out = NULL;
            const char* name = aph_executor_output_name(ex, i);
            FZ_CHECK(name != NULL, "output %zu has no name", i);
            FZ_CHECK(aph_executor_output(ex, name, &out) == APH_OK, "output '%s': %s", name, aph_last_error());
            aph_tensor_release(out);
        }
        const aph_plan_info after = plan_info(ex, &st);
        FZ_CHECK(st == APH_OK, "plan_info after a run: %s", aph_last_error());
        if (round == 1) plans_after_round1 = after.plans_made;
        if (round == 2) {
            FZ_CHECK(after.plans_made == plans_after_round1, "running again at planned sizes made a plan (%llu, %llu)",
                     (unsigned long long)plans_after_round1, (unsigned long long)after.plans_made);
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
