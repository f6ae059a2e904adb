// The CPU kernels' parallel loop and the worker pool behind it (parallel.cpp).
//
// parallel_for(n, work, f) runs f(begin, end) over contiguous chunks of [0, n): inline on the
// calling thread when the work is small (below kMinParallelWork simple operations), when
// cpu_threads() is 1, or when the caller is already inside a parallel loop (nested loops run
// inline: no thread ever waits for a pool that is busy with its own caller); otherwise the
// chunks are shared between the calling thread and up to cpu_threads() - 1 pool workers.
//
// Scheduling. Each call is a job of a few chunks per thread (about 4), claimed one at a time from
// an atomic counter. The calling thread claims chunks too, so a call never waits for a worker to
// wake up or to become free: it only waits for chunks a worker has already claimed. A slow or
// descheduled thread therefore costs one chunk, not a fixed share of the work. Results must not
// depend on how chunks are spread (every kernel here writes disjoint outputs per chunk).
//
// The pool. Workers are started on the first call that needs them (as many as the largest
// cpu_threads() seen, minus one; started with every signal blocked, so signals reach the host's
// own threads), and stay for later calls: between calls a worker spins for about 50 µs (kernels
// come back to back) and then sleeps on a condition variable. They are joined
//   - when the library (or whatever links the kernels: the tests' simulated CUDA module) is
//     unloaded or the process exits: after that every parallel_for runs inline, so code that
//     runs during static destruction stays correct;
//   - when shutdown_cpu_pool() is called: the next parallel call starts workers again.
// In a child process after fork() the pool is empty and starts afresh on first use.
//
// Oversubscription. Two callers (say two executors on two user threads) share the workers: a
// worker joins a job only while fewer threads than that job's cpu_threads() are running
// parallel loops in the process (callers included), so two callers asking for 2 threads each on
// a 2-core machine run on their own threads and the worker stays out of the way. OpenBLAS keeps
// its own threads: matrix products are called on the calling thread, never from inside a
// parallel_for (a product inside a chunk would make each of our threads fan out to OpenBLAS's
// threads, and OpenBLAS serialises its threaded calls behind one lock anyway); our workers sleep
// or spin briefly while OpenBLAS runs.
//
// Thread count. cpu_threads() is the calling thread's ThreadLimitScope value when one is active
// (per executor, per thread), else the process default: APHELION_CPU_THREADS when set to an
// integer in [1, 1024], else std::thread::hardware_concurrency().
//
// Exceptions thrown by f are caught on whichever thread ran the chunk; the first is rethrown on
// the calling thread after every claimed chunk has finished (chunks not yet claimed are skipped).
#pragma once

#include <cstdint>
#include <type_traits>

namespace aph::kernels {

// Threads a parallel_for started on this thread may use (>= 1): the innermost active
// ThreadLimitScope's value, else the process default.
unsigned cpu_threads() noexcept;

// The process default: APHELION_CPU_THREADS (an integer in [1, kMaxCpuThreads]) when set, else
// the hardware concurrency (1 if unknown). Read once.
unsigned default_cpu_threads() noexcept;

// The largest thread count a caller may ask for (APHELION_CPU_THREADS, aph_cpu_set_thread_limit,
// the executor's cpu_threads option).
inline constexpr unsigned kMaxCpuThreads = 1024;

// The calling thread's own setting (aph_cpu_set_thread_limit): n >= 1 until changed, 0 for the
// process default. It is what ThreadLimitScope saves and restores, so scopes nest inside it.
void set_thread_cpu_threads(int n) noexcept;
int thread_cpu_threads() noexcept;

// Sets this thread's thread count for as long as the scope lives (n >= 1; n <= 0 means the
// process default; values above 1024 count as 1024), restoring the previous value (scopes nest)
// when it ends. Used per executor and by the per-thread setting of eager operations.
class ThreadLimitScope {
public:
    explicit ThreadLimitScope(int n) noexcept;
    ~ThreadLimitScope();
    ThreadLimitScope(const ThreadLimitScope&) = delete;
    ThreadLimitScope& operator=(const ThreadLimitScope&) = delete;

private:
    int saved_;
};

// Joins every pool worker (after the chunks they hold) and returns; a later parallel call
// starts new ones. Safe from any thread and concurrently with running loops (their callers
// finish the remaining chunks themselves). Must not be called from inside a parallel_for.
void shutdown_cpu_pool() noexcept;

// Workers currently started (for tests and diagnostics).
unsigned cpu_pool_workers() noexcept;

// Below this many simple operations a loop runs inline: handing work to a spinning worker costs
// about 1 µs, waking a sleeping one tens of µs.
constexpr double kMinParallelWork = 65536.0;

namespace detail {

// A borrowed callable void(int64_t begin, int64_t end).
struct RangeFn {
    void* obj;
    void (*call)(void* obj, int64_t begin, int64_t end);
};

// True on pool workers and on a caller while it runs chunks of its own job.
bool in_parallel_region() noexcept;

// Runs fn over [0, n) in `chunks` chunks (1 < chunks <= n) with up to `threads` threads.
void run_parallel(int64_t n, int64_t chunks, unsigned threads, RangeFn fn);

}  // namespace detail

// Runs f(begin, end) over chunks of [0, n); `work` estimates the total cost in simple operations
// (multiply-adds, element loads).
template <class F>
void parallel_for(int64_t n, double work, F&& f) {
    if (n <= 0) return;
    const unsigned threads = n == 1 || work < kMinParallelWork ? 1u : cpu_threads();
    if (threads <= 1 || detail::in_parallel_region()) {
        f(int64_t{0}, n);
        return;
    }
    // About 4 chunks per thread (balance), each worth at least kMinParallelWork / 4 operations.
    int64_t chunks = static_cast<int64_t>(threads) * 4;
    const double per_chunk_min = kMinParallelWork / 4.0;
    if (work / static_cast<double>(chunks) < per_chunk_min) chunks = static_cast<int64_t>(work / per_chunk_min);
    if (chunks < static_cast<int64_t>(threads)) chunks = threads;
    if (chunks > n) chunks = n;
    using Fn = std::remove_reference_t<F>;
    detail::RangeFn fn{const_cast<void*>(static_cast<const void*>(&f)),
                       [](void* o, int64_t b, int64_t e) { (*static_cast<Fn*>(o))(b, e); }};
    detail::run_parallel(n, chunks, threads, fn);
}

}  // namespace aph::kernels
