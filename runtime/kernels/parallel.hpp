// A minimal parallel loop for the CPU kernels: splits [0, n) into contiguous chunks over up to
// hardware_concurrency threads (the calling thread takes the first chunk) when the work is big
// enough to pay for starting threads (about 20 µs each), else runs inline. Exceptions from a
// worker are rethrown on the calling thread after every chunk has finished.
//
// Threads are started per call rather than pooled: the CPU path is the compatibility fallback,
// and a pool would outlive the library's users in ways an embeddable library should avoid.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace aph::kernels {

// Worker count for the calling thread: its override (below) when set, else the process
// default: APHELION_CPU_THREADS when set to an integer in [1, kMaxCpuThreads], else
// std::thread::hardware_concurrency().
unsigned cpu_threads() noexcept;

// The largest worker count a caller may ask for (APHELION_CPU_THREADS, aph_cpu_set_thread_limit,
// the executor's cpu_threads option).
inline constexpr unsigned kMaxCpuThreads = 1024;

// The calling thread's override of the worker count (0: none, the process default applies):
// set by aph_cpu_set_thread_limit for the eager operations the thread calls, and for the length
// of a run by the executor's cpu_threads option (ThreadLimitScope). Per thread, so components of
// one process do not change each other's setting.
inline thread_local unsigned t_cpu_thread_limit = 0;

// Sets the calling thread's override to n (0: leaves it as it is) until the scope ends, then
// restores the previous value.
class ThreadLimitScope {
public:
    explicit ThreadLimitScope(unsigned n) noexcept : previous_(t_cpu_thread_limit) {
        if (n != 0) t_cpu_thread_limit = n;
    }
    ~ThreadLimitScope() { t_cpu_thread_limit = previous_; }
    ThreadLimitScope(const ThreadLimitScope&) = delete;
    ThreadLimitScope& operator=(const ThreadLimitScope&) = delete;

private:
    unsigned previous_;
};

// Runs f(begin, end) over chunks of [0, n). `work` estimates the total cost in simple
// operations (e.g. multiply-adds); below about 2^18 the loop runs inline on one thread.
template <class F>
void parallel_for(int64_t n, double work, F&& f) {
    if (n <= 0) return;
    unsigned threads = cpu_threads();
    if (work < 262144.0 || threads <= 1 || n == 1) {
        f(int64_t{0}, n);
        return;
    }
    threads = static_cast<unsigned>(std::min<int64_t>(threads, n));
    const int64_t chunk = (n + threads - 1) / threads;
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(threads);
    pool.reserve(threads - 1);
    for (unsigned t = 1; t < threads; ++t) {
        const int64_t b = t * chunk, e = std::min(n, b + chunk);
        if (b >= e) break;
        try {
            pool.emplace_back([&, b, e, t] {
                try {
                    f(b, e);
                } catch (...) {
                    errors[t] = std::current_exception();
                }
            });
        } catch (...) {
            // Could not start a thread: do that chunk here.
            try {
                f(b, e);
            } catch (...) {
                errors[t] = std::current_exception();
            }
        }
    }
    try {
        f(int64_t{0}, std::min(n, chunk));
    } catch (...) {
        errors[0] = std::current_exception();
    }
    for (std::thread& th : pool) th.join();
    for (const std::exception_ptr& e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

}  // namespace aph::kernels
