// bench_parallel: the cost of the CPU kernels' parallel loop (runtime/kernels/parallel.hpp)
// against the two ways of not having a pool, in the same run:
//   serial     the whole loop on the calling thread (what a loop too small to share costs);
//   per call   threads started for every call and joined at its end (the CPU kernels' scheme
//              before the pool: the calling thread takes the first chunk, cpu_threads() - 1
//              std::threads the others);
//   pool       parallel_for: chunks shared with the persistent workers.
// Each call is a loop of 8 chunks that each spin for a fixed time (0.5 to 32 µs: the kernels'
// chunk sizes at small model shapes up to large ones), so the ideal time per call is
// 8·chunk / threads; the figures are µs per call (median of 7 rounds), and the ratios
// pool / per call and pool / serial. "gap" rows leave 50 µs of single-threaded work between
// calls (as the operations between kernels of a model do), so the workers are found spinning
// or asleep rather than just released.
//
// usage: bench_parallel [--quick]    (--quick: one round of few calls: the ctest smoke run)
#include "parallel.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using aph::kernels::cpu_threads;

bool g_quick = false;

void spin_for(double us) {
    const auto until = Clock::now() + std::chrono::nanoseconds(static_cast<long>(us * 1000.0));
    while (Clock::now() < until) {
    }
}

// The kernels' loop before the pool (runtime/kernels/parallel.hpp at c93e733), minus its work
// threshold: threads started per call.
template <class F>
void per_call_threads(int64_t n, unsigned threads, F&& f) {
    threads = static_cast<unsigned>(std::min<int64_t>(threads, n));
    const int64_t chunk = (n + threads - 1) / threads;
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (unsigned t = 1; t < threads; ++t) {
        const int64_t b = t * chunk, e = std::min(n, b + chunk);
        if (b >= e) break;
        pool.emplace_back([&f, b, e] { f(b, e); });
    }
    f(int64_t{0}, std::min(n, chunk));
    for (std::thread& th : pool) th.join();
}

// µs per call of run() (median of the rounds); gap: single-threaded work between calls.
template <class Run>
double per_call_us(Run run, double gap_us) {
    const int rounds = g_quick ? 1 : 7, calls = g_quick ? 3 : 400;
    std::vector<double> t;
    for (int r = 0; r < rounds; ++r) {
        double total = 0.0;
        for (int i = 0; i < calls; ++i) {
            if (gap_us > 0.0) spin_for(gap_us);
            const auto t0 = Clock::now();
            run();
            total += std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        }
        t.push_back(total / calls);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            g_quick = true;
        } else {
            std::fprintf(stderr, "usage: bench_parallel [--quick]\n");
            return 2;
        }
    }
    try {
        const unsigned threads = cpu_threads();
        std::printf("bench_parallel: %u threads (cpu_threads()), 8 chunks per call%s\n", threads,
                    g_quick ? ", --quick (numbers mean nothing)" : "");
        std::printf("%-8s %-6s %10s %10s %10s %10s %14s %14s\n", "chunk", "gap", "ideal", "serial", "per call", "pool",
                    "pool/per call", "pool/serial");
        for (double gap : {0.0, 50.0}) {
            for (double chunk : {0.5, 2.0, 8.0, 32.0}) {
                const auto body = [chunk](int64_t b, int64_t e) { spin_for(chunk * static_cast<double>(e - b)); };
                const double serial = per_call_us([&] { body(0, 8); }, gap);
                const double spawn = per_call_us([&] { per_call_threads(8, threads, body); }, gap);
                const double pool = per_call_us([&] { aph::kernels::parallel_for(8, 1e12, body); }, gap);
                std::printf("%5.1f us %3.0f us %7.1f us %7.1f us %7.1f us %7.1f us %14.2f %14.2f\n", chunk, gap,
                            8.0 * chunk / threads, serial, spawn, pool, pool / spawn, pool / serial);
                std::fflush(stdout);
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_parallel: %s\n", e.what());
        return 1;
    }
    return 0;
}
