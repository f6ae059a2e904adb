/* Fault injection (issue 21): every allocation point of representative workloads made to fail,
 * one at a time, for each kind of allocation (runtime/core/fault_injection.h: host memory,
 * device memory through the caching allocator, a tracker's charge, a file mapping).
 *
 * For each workload and kind: a clean run gives the reference result; then for N = 1, 2, ...
 * the N-th allocation point of that kind reached during the workload fails, and the walk
 * checks that
 *   - the workload returns APH_ERR_OUT_OF_MEMORY with an "out of memory: ..." message (or
 *     APH_OK with the reference result, where the library absorbed the failure: a cache
 *     retried, a log line was dropped), and nothing crashed or aborted;
 *   - every byte of device memory the workload took is back (aph_device_memory_stats), and
 *     every handle was released (LeakSanitizer, in CI's ASan stage, checks host memory at
 *     exit);
 *   - the same workload run again without faults succeeds with the reference result;
 * until a run completes without reaching the N-th point (every point has been failed once).
 *
 * Built only with APHELION_FAULT_INJECTION=ON (the library's hooks). APH_TEST_DEVICE=cuda runs
 * the device workloads on cuda:0 (the simulated CUDA module in ctest). Prints the number of
 * allocation points per workload and kind. APH_TEST_ONLY=name runs the workloads named. */
#include "fault_control.h"
#include "../reliability_fixtures.h"

#include <aphelion_dlpack.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static aph_device* g_dev;
static int g_cuda;
static char g_weights_path[256];
static int g_failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            g_failures++;                                                   \
            return;                                                         \
        }                                                                   \
    } while (0)

/* Workloads: each makes and releases everything it uses on every path, and hashes its results
 * into *h. TRY leaves through `done` with the failing status. */
#define TRY(expr)                    \
    do {                             \
        st = (expr);                 \
        if (st != APH_OK) goto done; \
    } while (0)

#define MAXT 24
typedef struct tensors {
    aph_tensor* t[MAXT];
    int n;
} tensors;

static aph_tensor** slot(tensors* ts) { return &ts->t[ts->n++]; }
static void release_all(tensors* ts) {
    for (int i = 0; i < ts->n; ++i) aph_tensor_release(ts->t[i]);
    ts->n = 0;
}

/* Tensors: creation, copies between layouts and streams, views, reading back; the device's
 * allocations charged to a tracker. */
static aph_status w_tensors(uint64_t* h) {
    aph_status st;
    tensors ts = {{0}, 0};
    aph_tracker* tracker = NULL;
    aph_stream* stream = NULL;
    const int64_t s45[2] = {4, 5}, s54[2] = {5, 4}, s3[1] = {3}, s20[1] = {20}, s225[3] = {2, 2, 5};
    float data[20];
    for (int i = 0; i < 20; ++i) data[i] = (float)i * 0.5f - 3.0f;
    TRY(aph_tracker_create(0, &tracker));
    TRY(aph_device_set_tracker(g_dev, tracker));
    TRY(aph_stream_create(g_dev, &stream));
    aph_tensor** a = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s45, 2, data, sizeof data, a));
    aph_tensor** z = slot(&ts);
    TRY(aph_tensor_zeros(g_dev, APH_DTYPE_I64, s3, 1, z));
    aph_tensor** at = slot(&ts);
    TRY(aph_tensor_transpose(*a, 0, 1, at));
    aph_tensor** atc = slot(&ts);
    TRY(aph_tensor_contiguous(*at, atc));
    aph_tensor** b = slot(&ts);
    TRY(aph_tensor_create_on_stream(aph_stream_device(stream), APH_DTYPE_F32, s54, 2, stream, b));
    TRY(aph_tensor_copy_async(*b, *at, stream));
    TRY(aph_stream_synchronize(stream));
    aph_tensor** c = slot(&ts);
    TRY(aph_tensor_to_device(*b, g_dev, c));
    aph_tensor** d = slot(&ts);
    TRY(aph_tensor_create(g_dev, APH_DTYPE_F32, s45, 2, d));
    TRY(aph_tensor_copy(*d, *a));
    aph_tensor** sl = slot(&ts);
    TRY(aph_tensor_slice(*d, 1, 1, 5, 2, sl));
    aph_tensor** nr = slot(&ts);
    TRY(aph_tensor_narrow(*sl, 0, 1, 2, nr));
    aph_tensor** se = slot(&ts);
    TRY(aph_tensor_select(*a, 0, -1, se));
    aph_tensor** ex = slot(&ts);
    const int64_t s35[2] = {3, 5};
    TRY(aph_tensor_expand(*se, s35, 2, ex));
    aph_tensor** r = slot(&ts);
    TRY(aph_tensor_reshape(*a, s20, 1, r));
    aph_tensor** r3 = slot(&ts);
    TRY(aph_tensor_reshape(*r, s225, 3, r3));
    aph_tensor** p = slot(&ts);
    const int64_t perm[3] = {2, 0, 1};
    TRY(aph_tensor_permute(*r3, perm, 3, p));
    float back[20];
    for (int i = 0; i < 20; ++i) back[i] = (float)i;
    TRY(aph_tensor_copy_from_host(*d, back, sizeof back));
    TRY(aph_tensor_copy_from_host_async(*b, data, sizeof data, stream));
    TRY(aph_stream_synchronize(stream));
    for (int i = 1; i < ts.n; ++i) TRY(rf_hash_tensor(h, ts.t[i]));
done:
    release_all(&ts);
    aph_stream_release(stream);
    if (tracker) {
        aph_status st2 = aph_device_set_tracker(g_dev, NULL);
        if (st == APH_OK) st = st2;
        aph_tracker_release(tracker);
    }
    return st;
}

/* DLPack: export (both versions) and import back, and import of a producer's memory. */
static int g_deleter_calls;
static float g_dl_data[6] = {1, 2, 3, 4, 5, 6};
static int64_t g_dl_shape[2] = {2, 3};
static void dl_deleter(DLManagedTensorVersioned* self) {
    (void)self;
    g_deleter_calls++;
}

static aph_status w_dlpack(uint64_t* h) {
    aph_status st;
    tensors ts = {{0}, 0};
    DLManagedTensorVersioned* v = NULL;
    DLManagedTensor* u = NULL;
    const int64_t s[2] = {3, 2};
    const float data[6] = {0.5f, 1.5f, -2.0f, 4.0f, 8.0f, -16.0f};
    /* The producer's descriptor lives until its deleter runs (after the release below). */
    static DLManagedTensorVersioned m;
    aph_tensor** a = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s, 2, data, sizeof data, a));
    aph_tensor** at = slot(&ts);
    TRY(aph_tensor_transpose(*a, 0, 1, at));
    TRY(aph_tensor_to_dlpack(*at, &v));
    aph_tensor** b = slot(&ts);
    st = aph_tensor_from_dlpack(v, b);
    if (st != APH_OK) goto done; /* v is still ours: released below */
    v = NULL;                    /* owned by *b now */
    TRY(aph_tensor_to_dlpack_unversioned(*a, &u));
    aph_tensor** c = slot(&ts);
    st = aph_tensor_from_dlpack_unversioned(u, c);
    if (st != APH_OK) goto done;
    u = NULL;
    if (!g_cuda) {
        /* A producer's host memory, handed over with a deleter that must run exactly once. */
        memset(&m, 0, sizeof m);
        m.version.major = 1;
        m.version.minor = 1;
        m.deleter = dl_deleter;
        m.dl_tensor.data = g_dl_data;
        m.dl_tensor.device.device_type = kDLCPU;
        m.dl_tensor.ndim = 2;
        m.dl_tensor.dtype.code = kDLFloat;
        m.dl_tensor.dtype.bits = 32;
        m.dl_tensor.dtype.lanes = 1;
        m.dl_tensor.shape = g_dl_shape;
        const int before = g_deleter_calls;
        aph_tensor** d = slot(&ts);
        st = aph_tensor_from_dlpack(&m, d);
        if (st != APH_OK) {
            if (g_deleter_calls != before) {
                fprintf(stderr, "dlpack: a failed import called the producer's deleter\n");
                st = APH_ERR_INTERNAL;
            } else {
                dl_deleter(&m); /* still ours */
            }
            goto done;
        }
        TRY(rf_hash_tensor(h, *d));
        aph_tensor_release(*d);
        *d = NULL;
        if (g_deleter_calls != before + 1) {
            fprintf(stderr, "dlpack: the producer's deleter ran %d times\n", g_deleter_calls - before);
            st = APH_ERR_INTERNAL;
            goto done;
        }
    }
    TRY(rf_hash_tensor(h, *b));
    TRY(rf_hash_tensor(h, *c));
done:
    if (v) v->deleter(v);
    if (u) u->deleter(u);
    release_all(&ts);
    return st;
}

/* Graphs: load, clone, save, hash, sort, render. */
static aph_status w_graph(uint64_t* h) {
    aph_status st;
    aph_graph* g = NULL;
    aph_graph* g2 = NULL;
    char* json = NULL;
    char* dot = NULL;
    char hash[65];
    uint64_t order[16];
    TRY(aph_graph_from_json(rf_graph_json, sizeof rf_graph_json - 1, &g));
    TRY(aph_graph_clone(g, &g2));
    aph_model_config* cfg = NULL;
    TRY(aph_model_config_create("relu", "1.0.0", &cfg));
    uint64_t id = 0;
    st = aph_graph_add_node(g2, "extra", cfg, &id);
    aph_model_config_release(cfg);
    if (st != APH_OK) goto done;
    TRY(aph_graph_add_edge(g2, 12, id));
    TRY(aph_graph_set_metadata(g2, id, "note", "{\"k\":[1,2,3]}"));
    TRY(aph_graph_to_json(g2, 1, &json));
    TRY(aph_graph_stable_hash(g2, hash, sizeof hash));
    TRY(aph_graph_topological_sort(g2, order, 16));
    TRY(aph_graph_to_dot(g, &dot));
    *h = rf_hash(*h, json, strlen(json));
    *h = rf_hash(*h, hash, 64);
    *h = rf_hash(*h, order, sizeof(uint64_t) * aph_graph_node_count(g2));
    *h = rf_hash(*h, dot, strlen(dot));
done:
    aph_string_free(json);
    aph_string_free(dot);
    aph_graph_release(g2);
    aph_graph_release(g);
    return st;
}

/* Executors: load, plan (with a tracker), bind, run twice, read outputs and statistics. */
static aph_status w_executor(uint64_t* h) {
    aph_status st;
    tensors ts = {{0}, 0};
    aph_graph* g = NULL;
    aph_executor* ex = NULL;
    aph_tracker* tracker = NULL;
    const int64_t sx[2] = {2, 4}, s_w1[2] = {3, 4}, s_b1[1] = {3}, s_w2[2] = {2, 3};
    TRY(aph_graph_from_json(rf_graph_json, sizeof rf_graph_json - 1, &g));
    TRY(aph_tracker_create(1u << 20, &tracker));
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.tracker = tracker;
    opt.profile = 1;
    TRY(aph_executor_create(g, g_dev, &opt, &ex));
    aph_tensor** x = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, sx, 2, rf_x, sizeof rf_x, x));
    aph_tensor** w1 = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_w1, 2, rf_w1, sizeof rf_w1, w1));
    aph_tensor** b1 = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_b1, 1, rf_b1, sizeof rf_b1, b1));
    aph_tensor** w2 = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_w2, 2, rf_w2, sizeof rf_w2, w2));
    TRY(aph_executor_set_input(ex, "x", *x));
    TRY(aph_executor_set_weight(ex, "w1", *w1));
    TRY(aph_executor_set_weight(ex, "b1", *b1));
    TRY(aph_executor_set_weight(ex, "w2", *w2));
    TRY(aph_executor_run(ex));
    TRY(aph_executor_run(ex));
    aph_tensor** y = slot(&ts);
    TRY(aph_executor_output(ex, "y", y));
    TRY(rf_hash_tensor(h, *y));
    aph_plan_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    TRY(aph_executor_plan_info(ex, &info));
    *h = rf_hash(*h, &info.arena_bytes, sizeof info.arena_bytes);
    for (size_t i = 0; i < aph_executor_node_count(ex); ++i) {
        aph_node_stats ns;
        memset(&ns, 0, sizeof ns);
        ns.struct_size = sizeof ns;
        TRY(aph_executor_node_stats(ex, i, &ns));
        *h = rf_hash(*h, &ns.offset, sizeof ns.offset);
    }
done:
    release_all(&ts);
    aph_executor_release(ex);
    aph_graph_release(g);
    aph_tracker_release(tracker);
    return st;
}

/* Symbolic dimensions: the first layer with x ["batch", 4] run at batch 2, 3 (the executor's
 * memory grows) and 2 again (a kept plan), under a tracker's budget. */
static aph_status w_symbolic(uint64_t* h) {
    aph_status st;
    tensors ts = {{0}, 0};
    aph_graph* g = NULL;
    aph_executor* ex = NULL;
    aph_tracker* tracker = NULL;
    const int64_t sx2[2] = {2, 4}, sx3[2] = {3, 4}, s_w1[2] = {3, 4}, s_b1[1] = {3};
    TRY(aph_graph_from_json(rf_sym_graph_json, sizeof rf_sym_graph_json - 1, &g));
    TRY(aph_tracker_create(1u << 20, &tracker));
    aph_executor_options opt;
    memset(&opt, 0, sizeof opt);
    opt.struct_size = sizeof opt;
    opt.tracker = tracker;
    TRY(aph_executor_create(g, g_dev, &opt, &ex));
    aph_tensor** x2 = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, sx2, 2, rf_x, sizeof rf_x, x2));
    aph_tensor** x3 = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, sx3, 2, rf_w1, sizeof rf_w1, x3));
    aph_tensor** w1 = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_w1, 2, rf_w1, sizeof rf_w1, w1));
    aph_tensor** b1 = slot(&ts);
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, s_b1, 1, rf_b1, sizeof rf_b1, b1));
    TRY(aph_executor_set_weight(ex, "w1", *w1));
    TRY(aph_executor_set_weight(ex, "b1", *b1));
    aph_tensor* const xs[3] = {*x2, *x3, *x2};
    for (int i = 0; i < 3; ++i) {
        TRY(aph_executor_set_input(ex, "x", xs[i]));
        int64_t batch = 0;
        TRY(aph_executor_symbol(ex, 0, NULL, &batch));
        *h = rf_hash(*h, &batch, sizeof batch);
        TRY(aph_executor_run(ex));
        aph_tensor** y = slot(&ts);
        TRY(aph_executor_output(ex, "y", y));
        TRY(rf_hash_tensor(h, *y));
    }
    aph_plan_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    TRY(aph_executor_plan_info(ex, &info));
    *h = rf_hash(*h, &info.plans_made, sizeof info.plans_made);
    *h = rf_hash(*h, &info.held_bytes, sizeof info.held_bytes);
done:
    release_all(&ts);
    aph_executor_release(ex);
    aph_graph_release(g);
    aph_tracker_release(tracker);
    return st;
}

/* safetensors: open (a file mapping), list, read tensors; an executor's weights from it. */
static aph_status w_safetensors(uint64_t* h) {
    aph_status st;
    tensors ts = {{0}, 0};
    aph_safetensors* f = NULL;
    aph_graph* g = NULL;
    aph_executor* ex = NULL;
    char* meta = NULL;
    TRY(aph_safetensors_open(g_weights_path, &f));
    for (size_t i = 0; i < aph_safetensors_count(f); ++i) {
        const char* name = aph_safetensors_name(f, i);
        aph_dtype dt;
        int64_t shape[4];
        size_t nd = 0;
        TRY(aph_safetensors_info(f, name, &dt, shape, 4, &nd));
        aph_tensor** t = slot(&ts);
        TRY(aph_safetensors_tensor(f, name, g_dev, t));
        TRY(rf_hash_tensor(h, *t));
        *h = rf_hash(*h, name, strlen(name));
    }
    TRY(aph_safetensors_metadata(f, &meta));
    *h = rf_hash(*h, meta, strlen(meta));
    TRY(aph_graph_from_json(rf_graph_json, sizeof rf_graph_json - 1, &g));
    TRY(aph_executor_create(g, g_dev, NULL, &ex));
    TRY(aph_executor_load_weights(ex, g_weights_path));
    aph_tensor** x = slot(&ts);
    const int64_t sx[2] = {2, 4};
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, sx, 2, rf_x, sizeof rf_x, x));
    TRY(aph_executor_set_input(ex, "x", *x));
    TRY(aph_executor_run(ex));
    aph_tensor** y = slot(&ts);
    TRY(aph_executor_output(ex, "y", y));
    TRY(rf_hash_tensor(h, *y));
done:
    aph_string_free(meta);
    release_all(&ts);
    aph_executor_release(ex);
    aph_graph_release(g);
    aph_safetensors_release(f);
    return st;
}

/* Tokenizers: load from JSON, encode a batch into tensors and one text into ids. */
static aph_status w_tokenizer(uint64_t* h) {
    aph_status st;
    aph_tokenizer* tok = NULL;
    aph_tensor *ids = NULL, *mask = NULL, *types = NULL;
    const char* texts[3] = {"Hello, world!", "unaffable caf\xc3\xa9 \xe4\xb8\xad", "a a a"};
    size_t lengths[3];
    int64_t one[16];
    size_t count = 0;
    TRY(aph_tokenizer_load_json(rf_tokenizer_json, sizeof rf_tokenizer_json - 1, &tok));
    TRY(aph_tokenizer_encode(tok, texts, NULL, 3, NULL, g_dev, &ids, &mask, &types, lengths, 3));
    TRY(aph_tokenizer_encode_ids(tok, texts[1], strlen(texts[1]), NULL, one, 16, &count));
    TRY(rf_hash_tensor(h, ids));
    TRY(rf_hash_tensor(h, mask));
    TRY(rf_hash_tensor(h, types));
    *h = rf_hash(*h, lengths, sizeof lengths);
    *h = rf_hash(*h, one, count * sizeof one[0]);
done:
    aph_tensor_release(ids);
    aph_tensor_release(mask);
    aph_tensor_release(types);
    aph_tokenizer_release(tok);
    return st;
}

/* A pipeline: the "run" preset (validation, check, hashing, plan, execute) in a build context. */
static aph_status w_pipeline(uint64_t* h) {
    aph_status st;
    aph_pipeline* p = NULL;
    aph_build_context* ctx = NULL;
    aph_trace_sink* sink = NULL;
    aph_graph* g = NULL;
    aph_executor* ex = NULL;
    aph_tensor *x = NULL, *y = NULL;
    char* trace = NULL;
    const int64_t sx[2] = {2, 4};
    TRY(aph_graph_from_json(rf_graph_json, sizeof rf_graph_json - 1, &g));
    TRY(aph_trace_sink_memory(&sink));
    TRY(aph_build_context_create(g_dev, sink, NULL, &ctx));
    TRY(aph_tensor_from_host(g_dev, APH_DTYPE_F32, sx, 2, rf_x, sizeof rf_x, &x));
    TRY(aph_build_context_set_input(ctx, "x", x));
    TRY(aph_build_context_set_weights_file(ctx, g_weights_path));
    TRY(aph_pipeline_preset("run", &p));
    TRY(aph_pipeline_run(p, ctx, g));
    TRY(aph_build_context_executor(ctx, &ex));
    TRY(aph_executor_output(ex, "y", &y));
    TRY(rf_hash_tensor(h, y));
    TRY(aph_trace_export_json(sink, &trace));
    *h = rf_hash(*h, &(size_t){aph_trace_sink_event_count(sink)}, sizeof(size_t));
done:
    aph_string_free(trace);
    aph_tensor_release(y);
    aph_tensor_release(x);
    aph_executor_release(ex);
    aph_pipeline_release(p);
    aph_build_context_release(ctx);
    aph_trace_sink_release(sink);
    aph_graph_release(g);
    return st;
}

typedef struct workload {
    const char* name;
    aph_status (*fn)(uint64_t* h);
    unsigned kinds; /* bit i: walk APH_FAULT kind i */
} workload;

#define K(kind) (1u << (kind))
static const workload kWorkloads[] = {
    {"tensors", w_tensors, K(APH_FAULT_HOST) | K(APH_FAULT_DEVICE) | K(APH_FAULT_TRACKER)},
    {"dlpack", w_dlpack, K(APH_FAULT_HOST) | K(APH_FAULT_DEVICE)},
    {"graph", w_graph, K(APH_FAULT_HOST)},
    {"executor", w_executor, K(APH_FAULT_HOST) | K(APH_FAULT_DEVICE) | K(APH_FAULT_TRACKER)},
    {"symbolic", w_symbolic, K(APH_FAULT_HOST) | K(APH_FAULT_DEVICE) | K(APH_FAULT_TRACKER)},
    {"safetensors", w_safetensors, K(APH_FAULT_HOST) | K(APH_FAULT_DEVICE) | K(APH_FAULT_MAPPING)},
    {"tokenizer", w_tokenizer, K(APH_FAULT_HOST) | K(APH_FAULT_DEVICE)},
    {"pipeline", w_pipeline, K(APH_FAULT_HOST) | K(APH_FAULT_DEVICE) | K(APH_FAULT_MAPPING)},
};
static const char* const kKindNames[APH_FAULT_KINDS] = {"host", "device", "tracker", "mapping"};

static void memory_now(aph_memory_stats* s) {
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    if (aph_device_memory_stats(g_dev, s) != APH_OK) {
        fprintf(stderr, "aph_device_memory_stats: %s\n", aph_last_error());
        exit(1);
    }
}

static void arm(int kind, int64_t n) {
    aph_fault_injection* c = &aph_fault_injection_control;
    __atomic_store_n(&c->countdown[kind], n, __ATOMIC_RELEASE);
    if (kind == APH_FAULT_HOST) fault_host_arm(1);
}

static void disarm(int kind) {
    if (kind == APH_FAULT_HOST) fault_host_arm(0);
    __atomic_store_n(&aph_fault_injection_control.countdown[kind], 0, __ATOMIC_RELEASE);
}

static int64_t failed(int kind) { return __atomic_load_n(&aph_fault_injection_control.failed[kind], __ATOMIC_ACQUIRE); }

static const char kMarker[] = "fault-injection marker (no call has failed since)";

/* Every cached segment given back, so that each run asks the device for its segments again
 * (and the device kind's allocation points are the same on every run). */
static void empty_cache(void) {
    if (aph_device_empty_cache(g_dev) != APH_OK) {
        fprintf(stderr, "aph_device_empty_cache: %s\n", aph_last_error());
        exit(1);
    }
}

static void walk(const workload* w, int kind, long* points_total) {
    uint64_t ref = 0, hsum = 0;
    empty_cache();
    aph_status st = w->fn(&ref);
    CHECK(st == APH_OK, "%s: reference run: %s: %s", w->name, aph_status_name(st), aph_last_error());
    empty_cache();
    aph_memory_stats base;
    memory_now(&base);
    long absorbed = 0, n;
    for (n = 1;; ++n) {
        aph_set_last_error(APH_ERR_INTERNAL, kMarker);
        empty_cache();
        const int64_t before = failed(kind);
        uint64_t h = 0;
        arm(kind, n);
        st = w->fn(&h);
        disarm(kind);
        const int hit = failed(kind) != before;
        if (!hit) {
            /* Past the last allocation point of this kind: a clean run. */
            CHECK(st == APH_OK, "%s/%s: run %ld without a fault failed: %s: %s", w->name, kKindNames[kind], n,
                  aph_status_name(st), aph_last_error());
            CHECK(h == ref, "%s/%s: run %ld without a fault gave another result", w->name, kKindNames[kind], n);
            break;
        }
        if (st == APH_OK) {
            absorbed++;
            CHECK(h == ref, "%s/%s: point %ld failed, the workload succeeded with another result", w->name,
                  kKindNames[kind], n);
        } else {
            const char* msg = aph_last_error();
            CHECK(st == APH_ERR_OUT_OF_MEMORY, "%s/%s: point %ld: %s: %s (expected APH_ERR_OUT_OF_MEMORY)", w->name,
                  kKindNames[kind], n, aph_status_name(st), msg);
            CHECK(strncmp(msg, "out of memory: ", 15) == 0 && strlen(msg) > 15, "%s/%s: point %ld: message '%s'",
                  w->name, kKindNames[kind], n, msg);
        }
        aph_memory_stats now;
        memory_now(&now);
        CHECK(now.allocated_bytes == base.allocated_bytes && now.active_allocations == base.active_allocations,
              "%s/%s: point %ld: device memory not given back: %llu bytes in %llu blocks (before: %llu in %llu)",
              w->name, kKindNames[kind], n, (unsigned long long)now.allocated_bytes,
              (unsigned long long)now.active_allocations, (unsigned long long)base.allocated_bytes,
              (unsigned long long)base.active_allocations);
        st = w->fn(&hsum);
        CHECK(st == APH_OK, "%s/%s: retry after point %ld: %s: %s", w->name, kKindNames[kind], n, aph_status_name(st),
              aph_last_error());
        CHECK(hsum == ref, "%s/%s: retry after point %ld gave another result", w->name, kKindNames[kind], n);
        hsum = 0;
        /* Nothing stays reserved for good either: once emptied, the cache holds what it held
         * before the walk (a freed block that could not be cached for lack of host memory is
         * cached later, not kept out of use). */
        empty_cache();
        memory_now(&now);
        CHECK(now.reserved_bytes == base.reserved_bytes,
              "%s/%s: point %ld: %llu bytes stay reserved after emptying the cache (before: %llu)", w->name,
              kKindNames[kind], n, (unsigned long long)now.reserved_bytes, (unsigned long long)base.reserved_bytes);
    }
    printf("fault injection: %-11s %-7s %5ld allocation points failed one at a time (%ld absorbed)\n", w->name,
           kKindNames[kind], n - 1, absorbed);
    *points_total += n - 1;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char* dev = getenv("APH_TEST_DEVICE");
    g_cuda = dev != NULL && strcmp(dev, "cuda") == 0;
    if (g_cuda) {
        int32_t n = 0;
        if (aph_device_count(APH_DEVICE_CUDA, &n) != APH_OK || n == 0) {
            fprintf(stderr, "no CUDA device; skipped\n");
            return 77;
        }
    }
    if (aph_device_open(g_cuda ? APH_DEVICE_CUDA : APH_DEVICE_CPU, 0, &g_dev) != APH_OK) {
        fprintf(stderr, "device: %s\n", aph_last_error());
        return 1;
    }
    /* The CPU warning is logged once per process: have it logged before the walk. */
    aph_warn_if_cpu(g_dev, "test_fault_injection");
    aph_device* cpu = NULL;
    if (aph_device_open(APH_DEVICE_CPU, 0, &cpu) != APH_OK) return 1;
    snprintf(g_weights_path, sizeof g_weights_path, "%s/aph_fault_weights_%d.safetensors",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    if (rf_write_weights(cpu, g_weights_path) != APH_OK) {
        fprintf(stderr, "weights: %s\n", aph_last_error());
        return 1;
    }
    aph_device_release(cpu);

    const char* only = getenv("APH_TEST_ONLY");
    long total = 0;
    for (size_t i = 0; i < sizeof kWorkloads / sizeof kWorkloads[0]; ++i) {
        const workload* w = &kWorkloads[i];
        if (only && !strstr(only, w->name)) continue;
        /* On a CUDA device, only the workloads whose memory is on it (graphs are host-only;
         * the pipeline repeats the executor and safetensors walks). */
        if (g_cuda && (strcmp(w->name, "graph") == 0 || strcmp(w->name, "pipeline") == 0)) continue;
        for (int kind = 0; kind < APH_FAULT_KINDS; ++kind) {
            if (!(w->kinds & (1u << kind))) continue;
            /* On a CUDA device, host memory only where its paths differ from the CPU walk's
             * (copies and staging, DLPack, executor runs): loading executors, safetensors files
             * and tokenizers allocates the same host memory on either device, and walking it
             * twice would only double the ASan stage's longest test (APH_TEST_ALL_HOST=1 does). */
            if (g_cuda && kind == APH_FAULT_HOST && !getenv("APH_TEST_ALL_HOST") &&
                (strcmp(w->name, "executor") == 0 || strcmp(w->name, "safetensors") == 0 ||
                 strcmp(w->name, "tokenizer") == 0)) {
                continue;
            }
            walk(w, kind, &total);
        }
    }
    unlink(g_weights_path);
    aph_device_release(g_dev);
    printf("fault injection: %ld allocation points in all; %d failures\n", total, g_failures);
    return g_failures ? 1 : 0;
}
