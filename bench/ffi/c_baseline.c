/* The C row of bench/ffi: the cost of a call into libaphelion from C, the baseline every
 * binding's row is a ratio to. Two workloads, the same in every language:
 *   trivial: aph_tracker_allocated_bytes(tracker), a getter that does no work;
 *   run:     bind the input x (f32 [1, 16]) of bench/ffi/small.json (x -> relu -> y) and run the
 *            executor once on the CPU (aph_executor_set_input + aph_executor_run).
 * Prints one JSON line: {"language": "c", "trivial_ns": ..., "run_ns": ...} (medians of 7
 * repetitions). Usage: c_baseline [small.json] */
#include <aphelion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

#define CHECK(call)                                                           \
    do {                                                                      \
        if ((call) != APH_OK) {                                               \
            fprintf(stderr, "c_baseline: %s: %s\n", #call, aph_last_error()); \
            return 1;                                                         \
        }                                                                     \
    } while (0)

int main(int argc, char** argv) {
    const char* path = argc > 1 ? argv[1] : "bench/ffi/small.json";
    aph_tracker* tracker = NULL;
    CHECK(aph_tracker_create(0, &tracker));
    aph_graph* graph = NULL;
    CHECK(aph_graph_load(path, &graph));
    aph_device* cpu = NULL;
    CHECK(aph_device_open(APH_DEVICE_CPU, 0, &cpu));
    aph_executor* ex = NULL;
    CHECK(aph_executor_create(graph, cpu, NULL, &ex));
    const int64_t shape[2] = {1, 16};
    aph_tensor* x = NULL;
    CHECK(aph_tensor_create(cpu, APH_DTYPE_F32, shape, 2, &x));

    enum { REPS = 7 };
    double trivial[REPS], run[REPS];
    volatile uint64_t sink = 0;
    for (int r = 0; r < REPS; ++r) {
        const int n = 10000000;
        double t0 = now_ns();
        for (int i = 0; i < n; ++i) sink += aph_tracker_allocated_bytes(tracker);
        trivial[r] = (now_ns() - t0) / n;
        const int m = 20000;
        t0 = now_ns();
        for (int i = 0; i < m; ++i) {
            CHECK(aph_executor_set_input(ex, "x", x));
            CHECK(aph_executor_run(ex));
        }
        run[r] = (now_ns() - t0) / m;
    }
    (void)sink; /* read by nothing: it keeps the getter's calls (Clang warns about it otherwise) */
    printf("{\"language\": \"c\", \"trivial_ns\": %.2f, \"run_ns\": %.1f}\n", median(trivial, REPS), median(run, REPS));
    aph_tensor_release(x);
    aph_executor_release(ex);
    aph_device_release(cpu);
    aph_graph_release(graph);
    aph_tracker_release(tracker);
    return 0;
}
