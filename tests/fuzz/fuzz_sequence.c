/* Fuzz target: the API called in random orders with random arguments. The input is a program
 * for a small machine whose registers are handles: tensors, streams, events, raw device memory,
 * an executor and a tracker. Each step (an opcode byte and its arguments) makes one call:
 * create, zeros, from_host, the views, copies (synchronous and on streams), contiguous copies,
 * operations, DLPack export and import, to_host and copy_from_host, raw allocations and frees,
 * stream and event work, an executor's inputs, runs and outputs, budgets (a tracker attached
 * with a small limit, so allocations run out of memory in the middle of sequences), releases.
 * Use after release is exercised only where the header promises detection: freeing raw device
 * memory twice or memory the device never handed out (APH_ERR_INVALID_ARGUMENT); released
 * tensors and other handles leave their registers (using one would be the caller's bug).
 *
 * Checked after every call: a failure is a documented status with its message (fz_status), a
 * failing call leaves its out parameter alone, and the estimate and the creation of a tensor
 * agree on whether its shape is valid. Checked after every program: once everything is
 * released and the tracker detached, the CPU device's allocator is back to the bytes and blocks
 * it had before (aph_device_memory_stats). Seeds: tests/fuzz/sequence/. */
#include "fuzz_common.h"
#include "../reliability_fixtures.h"

#include <aphelion_dlpack.h>

enum { NT = 8, NR = 4, NS = 2, NE = 2, MAX_BYTES = 1 << 16 };

static aph_device* g_cpu;
static unsigned char g_host[MAX_BYTES + 64] __attribute__((aligned(64)));
#define SENTINEL ((aph_tensor*)(uintptr_t)0x5e5e5e5e5e5e5e5eull)

typedef struct machine {
    aph_tensor* t[NT];
    void* raw[NR];
    int raw_live[NR];
    aph_stream* s[NS];
    aph_event* e[NE];
    aph_executor* ex;
    aph_tracker* tracker;
} machine;

static void init(void) {
    if (g_cpu) return;
    aph_log_set_level(APH_LOG_ERROR);
    if (aph_device_open(APH_DEVICE_CPU, 0, &g_cpu) != APH_OK) FZ_FAIL("cpu: %s", aph_last_error());
    for (size_t i = 0; i < sizeof g_host; ++i) g_host[i] = (unsigned char)(i * 37u + 11u);
}

static aph_tensor* T(machine* m, fz_reader* r) { return m->t[fz_u8(r) % NT]; }
static aph_stream* S(machine* m, fz_reader* r) {
    const uint8_t b = fz_u8(r);
    return (b & 4) ? NULL : m->s[b % NS];
}

/* Stores a result in register i (releasing what was there), after checking the call. */
static void put(machine* m, size_t i, aph_status st, aph_tensor* out, const char* what) {
    fz_status(st, what);
    if (st != APH_OK) {
        FZ_CHECK(out == SENTINEL, "%s failed but wrote its out parameter", what);
        return;
    }
    FZ_CHECK(out != SENTINEL && out != NULL, "%s succeeded without a tensor", what);
    aph_tensor_release(m->t[i]);
    m->t[i] = out;
}

static int small_enough(const aph_tensor* t) { return t && aph_tensor_nbytes(t) <= MAX_BYTES; }

static void op_create(machine* m, fz_reader* r) {
    const size_t dst = fz_u8(r) % NT;
    const uint8_t kind = fz_u8(r) % 4;
    const aph_dtype dtype = (aph_dtype)((int)(fz_u8(r) % 15) - 1);
    int64_t nd = fz_small(r);
    const size_t ndim = nd < 0 ? 0 : (nd > 17 ? 17 : (size_t)nd);
    int64_t shape[17];
    for (size_t i = 0; i < ndim; ++i) shape[i] = fz_small(r);
    uint64_t bytes = 0;
    const aph_status est = aph_estimate_tensor_bytes(shape, ndim, dtype, &bytes);
    if (est == APH_OK && bytes > MAX_BYTES) return; /* too big to make here */
    aph_tensor* out = SENTINEL;
    aph_status st;
    switch (kind) {
        case 0: st = aph_tensor_create(g_cpu, dtype, shape, ndim, &out); break;
        case 1: st = aph_tensor_zeros(g_cpu, dtype, shape, ndim, &out); break;
        case 2: {
            const size_t nbytes = (size_t)bytes + (fz_u8(r) == 0 ? 1 : 0); /* sometimes one byte off */
            st = aph_tensor_from_host(g_cpu, dtype, shape, ndim, nbytes ? g_host : NULL, nbytes, &out);
            break;
        }
        default: {
            aph_stream* s = m->s[fz_u8(r) % NS];
            if (s == NULL) return;
            st = aph_tensor_create_on_stream(aph_stream_device(s), dtype, shape, ndim, s, &out);
            break;
        }
    }
    /* The estimate and the creation agree on what a valid shape and dtype are. */
    if (est != APH_OK) FZ_CHECK(st != APH_OK, "a tensor the estimate rejects was created");
    put(m, dst, st, out, "tensor creation");
}

static void op_view(machine* m, fz_reader* r) {
    aph_tensor* src = T(m, r);
    const size_t dst = fz_u8(r) % NT;
    if (src == NULL) return;
    const uint8_t kind = fz_u8(r) % 7;
    int64_t a[17];
    int64_t nd = fz_small(r);
    const size_t n = nd < 0 ? 0 : (nd > 17 ? 17 : (size_t)nd);
    for (size_t i = 0; i < n; ++i) a[i] = fz_small(r);
    const int64_t x = fz_small(r), y = fz_small(r), z = fz_small(r);
    aph_tensor* out = SENTINEL;
    aph_status st;
    switch (kind) {
        case 0: st = aph_tensor_reshape(src, a, n, &out); break;
        case 1: st = aph_tensor_permute(src, a, n, &out); break;
        case 2: st = aph_tensor_transpose(src, x, y, &out); break;
        case 3: st = aph_tensor_slice(src, x, y, z, fz_small(r), &out); break;
        case 4: st = aph_tensor_narrow(src, x, y, z, &out); break;
        case 5: st = aph_tensor_select(src, x, y, &out); break;
        default: st = aph_tensor_expand(src, a, n, &out); break;
    }
    put(m, dst, st, out, "view");
}

static void op_copy(machine* m, fz_reader* r) {
    aph_tensor* dst = T(m, r);
    aph_tensor* src = T(m, r);
    const uint8_t kind = fz_u8(r) % 4;
    if (dst == NULL || src == NULL || !small_enough(dst) || !small_enough(src)) return;
    const size_t slot = fz_u8(r) % NT;
    aph_tensor* out = SENTINEL;
    switch (kind) {
        case 0: fz_status(aph_tensor_copy(dst, src), "aph_tensor_copy"); break;
        case 1: fz_status(aph_tensor_copy_async(dst, src, S(m, r)), "aph_tensor_copy_async"); break;
        case 2: {
            const aph_status st_ = aph_tensor_contiguous(src, &out);
            put(m, slot, st_, out, "aph_tensor_contiguous");
        } break;
        default: {
            const aph_status st_ = aph_tensor_to_device(src, g_cpu, &out);
            put(m, slot, st_, out, "aph_tensor_to_device");
        } break;
    }
}

static void op_compute(machine* m, fz_reader* r) {
    const uint8_t kind = fz_u8(r) % 7;
    aph_tensor* a = T(m, r);
    aph_tensor* b = T(m, r);
    aph_tensor* out = T(m, r);
    aph_stream* s = S(m, r);
    const int64_t k = fz_small(r);
    if (!small_enough(a) || !small_enough(b) || !small_enough(out)) return;
    switch (kind) {
        case 0: fz_status(aph_op_binary((aph_binary_op)k, a, b, out, s), "aph_op_binary"); break;
        case 1: fz_status(aph_op_unary((aph_unary_op)k, a, out, s), "aph_op_unary"); break;
        case 2: fz_status(aph_op_softmax(a, out, s), "aph_op_softmax"); break;
        case 3: fz_status(aph_op_reduce((aph_reduce_op)(k & 3), a, fz_small(r), k & 4, out, s), "aph_op_reduce"); break;
        case 4: fz_status(aph_op_cast(a, out, s), "aph_op_cast"); break;
        case 5:
            fz_status(aph_op_matmul(a, b, (int)(k & 1), (int)((k >> 1) & 1), 1.0, 0.0, out, s), "aph_op_matmul");
            break;
        default: fz_status(aph_op_binary_scalar((aph_binary_op)(k & 7), a, 0.5, out, s), "aph_op_binary_scalar"); break;
    }
}

static void op_host(machine* m, fz_reader* r) {
    aph_tensor* t = T(m, r);
    const uint8_t kind = fz_u8(r) % 4;
    if (!small_enough(t)) return;
    size_t n = (size_t)aph_tensor_nbytes(t);
    if (fz_u8(r) == 0) n += 1; /* sometimes the wrong size */
    static unsigned char buf[MAX_BYTES + 64];
    switch (kind) {
        case 0: fz_status(aph_tensor_to_host(t, buf, n), "aph_tensor_to_host"); break;
        case 1: fz_status(aph_tensor_copy_from_host(t, g_host, n), "aph_tensor_copy_from_host"); break;
        case 2: fz_status(aph_tensor_to_host_async(t, buf, n, S(m, r)), "aph_tensor_to_host_async"); break;
        default:
            fz_status(aph_tensor_copy_from_host_async(t, g_host, n, S(m, r)), "aph_tensor_copy_from_host_async");
            break;
    }
}

static void op_dlpack(machine* m, fz_reader* r) {
    aph_tensor* t = T(m, r);
    const size_t dst = fz_u8(r) % NT;
    const uint8_t kind = fz_u8(r) % 3;
    if (t == NULL) return;
    aph_tensor* out = SENTINEL;
    if (kind == 0) {
        DLManagedTensorVersioned* v = NULL;
        if (fz_status(aph_tensor_to_dlpack(t, &v), "aph_tensor_to_dlpack") != APH_OK) return;
        const aph_status st = aph_tensor_from_dlpack(v, &out);
        if (st != APH_OK) v->deleter(v); /* still ours */
        put(m, dst, st, out, "aph_tensor_from_dlpack");
    } else if (kind == 1) {
        DLManagedTensor* u = NULL;
        if (fz_status(aph_tensor_to_dlpack_unversioned(t, &u), "aph_tensor_to_dlpack_unversioned") != APH_OK) return;
        const aph_status st = aph_tensor_from_dlpack_unversioned(u, &out);
        if (st != APH_OK) u->deleter(u);
        put(m, dst, st, out, "aph_tensor_from_dlpack_unversioned");
    } else {
        /* Exported and given back unused (the consumer's deleter, on any order of releases). */
        DLManagedTensorVersioned* v = NULL;
        if (fz_status(aph_tensor_to_dlpack(t, &v), "aph_tensor_to_dlpack") != APH_OK) return;
        aph_tensor_release(m->t[dst]);
        m->t[dst] = NULL;
        v->deleter(v);
    }
}

static void op_raw(machine* m, fz_reader* r) {
    const size_t i = fz_u8(r) % NR;
    const uint8_t kind = fz_u8(r) % 4;
    if (kind == 0) {
        if (m->raw_live[i]) return;
        void* p = (void*)SENTINEL;
        const size_t bytes = (size_t)(fz_u8(r)) * 64;
        const aph_status st = fz_status(aph_device_allocate(g_cpu, bytes, S(m, r), &p), "aph_device_allocate");
        if (st != APH_OK) {
            FZ_CHECK(p == (void*)SENTINEL, "a failed allocation wrote its out parameter");
            return;
        }
        m->raw[i] = p;
        m->raw_live[i] = p != NULL;
    } else if (kind == 1 && m->raw[i] != NULL) {
        /* A pointer freed already, or never handed out: detected, unless the address was handed
         * out again meanwhile (then it is that allocation's). */
        int reused = 0;
        for (size_t j = 0; j < NR; ++j) reused |= m->raw_live[j] && m->raw[j] == m->raw[i] && j != i;
        const aph_status st = aph_device_free(g_cpu, m->raw[i]);
        fz_status(st, "aph_device_free");
        if (m->raw_live[i] || reused) {
            FZ_CHECK(st == APH_OK, "freeing a live allocation failed: %s", aph_last_error());
            for (size_t j = 0; j < NR; ++j) {
                if (m->raw[j] == m->raw[i]) m->raw_live[j] = 0;
            }
        } else {
            FZ_CHECK(st == APH_ERR_INVALID_ARGUMENT, "freeing a freed pointer gave %s", aph_status_name(st));
        }
    } else if (kind == 2) {
        static char foreign[64];
        FZ_CHECK(aph_device_free(g_cpu, foreign + (fz_u8(r) % 64)) == APH_ERR_INVALID_ARGUMENT,
                 "freeing a foreign pointer did not fail");
    } else if (m->raw_live[i]) {
        fz_status(aph_device_record_stream(g_cpu, m->raw[i], S(m, r)), "aph_device_record_stream");
    }
}

static void op_stream(machine* m, fz_reader* r) {
    const size_t i = fz_u8(r) % NS, j = fz_u8(r) % NE;
    switch (fz_u8(r) % 8) {
        case 0:
            if (m->s[i] == NULL) fz_status(aph_stream_create(g_cpu, &m->s[i]), "aph_stream_create");
            break;
        case 1:
            aph_stream_release(m->s[i]);
            m->s[i] = NULL;
            break;
        case 2:
            if (m->s[i]) fz_status(aph_stream_synchronize(m->s[i]), "aph_stream_synchronize");
            break;
        case 3:
            if (m->e[j] == NULL) fz_status(aph_event_create(g_cpu, &m->e[j]), "aph_event_create");
            break;
        case 4:
            if (m->e[j]) fz_status(aph_event_record(m->e[j], m->s[i]), "aph_event_record");
            break;
        case 5:
            if (m->e[j]) fz_status(aph_stream_wait_event(m->s[i], m->e[j]), "aph_stream_wait_event");
            break;
        case 6:
            if (m->e[j]) {
                int done = -1;
                fz_status(aph_event_query(m->e[j], &done), "aph_event_query");
                FZ_CHECK(done == 1, "a CPU event is always complete (got %d)", done);
            }
            break;
        default:
            aph_event_release(m->e[j]);
            m->e[j] = NULL;
            break;
    }
}

static void op_executor(machine* m, fz_reader* r) {
    static const char* const names[] = {"x", "w1", "b1", "w2", "y", "nope"};
    const char* name = names[fz_u8(r) % 6];
    aph_tensor* t = T(m, r);
    const size_t dst = fz_u8(r) % NT;
    switch (fz_u8(r) % 7) {
        case 0:
            if (m->ex == NULL) {
                /* dst picks the graph: even, rf_graph_json; odd, its first layer with a symbolic
                 * batch (then dst / 2 is max_plans: 0 is the default, 1 keeps one plan). */
                const int sym = (int)(dst & 1);
                aph_graph* g = NULL;
                FZ_CHECK(aph_graph_from_json(sym ? rf_sym_graph_json : rf_graph_json,
                                             sym ? sizeof rf_sym_graph_json - 1 : sizeof rf_graph_json - 1,
                                             &g) == APH_OK,
                         "graph: %s", aph_last_error());
                aph_executor_options opt;
                memset(&opt, 0, sizeof opt);
                opt.struct_size = sizeof opt;
                opt.tracker = m->tracker;
                opt.stream = m->s[0];
                if (sym) opt.max_plans = dst / 2;
                fz_status(aph_executor_create(g, g_cpu, &opt, &m->ex), "aph_executor_create");
                aph_graph_release(g);
            }
            break;
        case 1:
            if (m->ex && t) fz_status(aph_executor_set_input(m->ex, name, t), "aph_executor_set_input");
            break;
        case 2:
            if (m->ex && t) fz_status(aph_executor_set_weight(m->ex, name, t), "aph_executor_set_weight");
            break;
        case 3:
            if (m->ex) fz_status(aph_executor_run(m->ex), "aph_executor_run");
            break;
        case 4:
            if (m->ex) {
                aph_tensor* out = SENTINEL;
                {
                    const aph_status st_ = aph_executor_output(m->ex, name, &out);
                    put(m, dst, st_, out, "aph_executor_output");
                }
            }
            break;
        case 5:
            if (m->ex) fz_status(aph_executor_bind_output(m->ex, name, t), "aph_executor_bind_output");
            break;
        default:
            aph_executor_release(m->ex);
            m->ex = NULL;
            break;
    }
}

static void op_budget(machine* m, fz_reader* r) {
    switch (fz_u8(r) % 4) {
        case 0:
            if (m->tracker == NULL) {
                fz_status(aph_tracker_create((uint64_t)fz_u8(r) * 1024, &m->tracker), "aph_tracker_create");
                fz_status(aph_device_set_tracker(g_cpu, m->tracker), "aph_device_set_tracker");
            }
            break;
        case 1:
            fz_status(aph_device_set_tracker(g_cpu, NULL), "aph_device_set_tracker");
            aph_tracker_release(m->tracker);
            m->tracker = NULL;
            break;
        case 2: fz_status(aph_device_empty_cache(g_cpu), "aph_device_empty_cache"); break;
        default: {
            aph_memory_stats s;
            memset(&s, 0, sizeof s);
            s.struct_size = sizeof s;
            FZ_CHECK(aph_device_memory_stats(g_cpu, &s) == APH_OK, "stats: %s", aph_last_error());
            FZ_CHECK(s.allocated_bytes <= s.reserved_bytes, "allocated %llu over reserved %llu",
                     (unsigned long long)s.allocated_bytes, (unsigned long long)s.reserved_bytes);
            break;
        }
    }
}

static void op_release(machine* m, fz_reader* r) {
    const size_t i = fz_u8(r) % NT;
    if (fz_u8(r) & 1) {
        aph_tensor_retain(m->t[i]); /* one more reference, dropped at once */
        aph_tensor_release(m->t[i]);
    } else {
        aph_tensor_release(m->t[i]);
        m->t[i] = NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    init();
    aph_memory_stats before;
    memset(&before, 0, sizeof before);
    before.struct_size = sizeof before;
    FZ_CHECK(aph_device_memory_stats(g_cpu, &before) == APH_OK, "stats: %s", aph_last_error());
    machine m;
    memset(&m, 0, sizeof m);
    fz_reader r = {data, size};
    for (int steps = 0; r.n > 0 && steps < 256; ++steps) {
        switch (fz_u8(&r) % 12) {
            case 0: op_create(&m, &r); break;
            case 1: op_view(&m, &r); break;
            case 2: op_copy(&m, &r); break;
            case 3: op_compute(&m, &r); break;
            case 4: op_host(&m, &r); break;
            case 5: op_dlpack(&m, &r); break;
            case 6: op_raw(&m, &r); break;
            case 7: op_stream(&m, &r); break;
            case 8: op_executor(&m, &r); break;
            case 9: op_budget(&m, &r); break;
            case 10: op_create(&m, &r); break;
            default: op_release(&m, &r); break;
        }
    }
    /* Everything back, in an order of its own: raw memory, executor, tensors, streams, events. */
    for (size_t i = 0; i < NR; ++i) {
        if (m.raw_live[i]) FZ_CHECK(aph_device_free(g_cpu, m.raw[i]) == APH_OK, "free: %s", aph_last_error());
    }
    aph_executor_release(m.ex);
    for (size_t i = 0; i < NT; ++i) aph_tensor_release(m.t[i]);
    for (size_t i = 0; i < NS; ++i) aph_stream_release(m.s[i]);
    for (size_t i = 0; i < NE; ++i) aph_event_release(m.e[i]);
    FZ_CHECK(aph_device_set_tracker(g_cpu, NULL) == APH_OK, "detach: %s", aph_last_error());
    if (m.tracker) {
        FZ_CHECK(aph_tracker_allocated_bytes(m.tracker) == 0, "the tracker still counts %llu bytes",
                 (unsigned long long)aph_tracker_allocated_bytes(m.tracker));
        aph_tracker_release(m.tracker);
    }
    aph_memory_stats after;
    memset(&after, 0, sizeof after);
    after.struct_size = sizeof after;
    FZ_CHECK(aph_device_memory_stats(g_cpu, &after) == APH_OK, "stats: %s", aph_last_error());
    FZ_CHECK(after.allocated_bytes == before.allocated_bytes && after.active_allocations == before.active_allocations,
             "memory not given back: %llu bytes in %llu blocks (before: %llu in %llu)",
             (unsigned long long)after.allocated_bytes, (unsigned long long)after.active_allocations,
             (unsigned long long)before.allocated_bytes, (unsigned long long)before.active_allocations);
    return 0;
}
