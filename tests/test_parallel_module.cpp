// A module holding its own copy of the CPU kernels' pool, for test_parallel's unload test: one
// parallel loop with a given thread count, and the number of workers it started.
#include "parallel.hpp"

#include <atomic>

extern "C" __attribute__((visibility("default"))) long long aph_test_parallel_sum(int threads, long long n) {
    aph::kernels::ThreadLimitScope scope(threads);
    std::atomic<long long> sum{0};
    aph::kernels::parallel_for(n, 1e9, [&](int64_t b, int64_t e) {
        long long s = 0;
        for (int64_t i = b; i < e; ++i) s += i;
        sum.fetch_add(s);
    });
    return sum.load();
}

extern "C" __attribute__((visibility("default"))) unsigned aph_test_parallel_workers(void) {
    return aph::kernels::cpu_pool_workers();
}
