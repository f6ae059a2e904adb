// The worker pool behind parallel_for (see parallel.hpp for the contract).
//
// State (one Pool per copy of the kernels: libaphelion.so has one, the tests' simulated CUDA
// module its own), guarded by Pool::mu unless marked atomic:
//   jobs        the running calls' jobs (an intrusive list of Job objects on their callers'
//               stacks); a job is linked from submission until its caller has run out of chunks
//   running     threads now inside parallel loops: callers of linked jobs plus attached workers
//   workers     started worker threads (pthread handles, so that a child after fork() can
//               forget them without joining)
//   epoch       bumped on every submission and on stop (atomic, so spinning workers see it)
//   stop        set while shutdown joins the workers; final: set for good at unload
//
// A job's lifetime: the caller links it, claims chunks, unlinks it, then waits until its
// attached helpers (a count changed only under mu) drop to 0. A worker's decrement of that count
// is its last access to the job, and it notifies the pool's condition variable (which outlives
// every job), so the caller may return as soon as it reads 0.
//
// The pool lives in static storage and is never destroyed (so threads still calling at process
// exit never find a destroyed mutex); a static Reaper joins the workers at unload or exit.
#include "parallel.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

namespace aph::kernels {
namespace {

constexpr unsigned kMaxThreads = 1024;
constexpr unsigned kMaxWorkers = kMaxThreads - 1;
// How long an idle worker, and a caller waiting for its helpers, spin before sleeping.
constexpr std::chrono::microseconds kSpin{50};

thread_local int t_limit = 0;          // ThreadLimitScope's value; 0: the process default
thread_local bool t_in_region = false;  // a pool worker, or a caller running its own chunks

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

// Spins (with the pause instruction) until done() or kSpin has passed; returns done().
template <class Done>
bool spin_until(Done done) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= until) return done();
    }
}

struct Job {
    detail::RangeFn fn;
    int64_t n = 0, chunk = 0, nchunks = 0;
    unsigned threads = 0;                 // the caller's cpu_threads()
    std::atomic<int64_t> next{0};         // the next chunk to claim
    std::atomic<bool> failed{false};      // a chunk threw: skip the rest
    std::atomic<unsigned> helpers{0};     // attached workers (changed under mu)
    bool caller_sleeps = false;           // under mu: the caller waits on done_cv
    std::exception_ptr error;             // under mu: the first exception
    Job* prev = nullptr;                  // under mu: the jobs list
    Job* next_job = nullptr;
};

struct Pool {
    std::mutex mu;
    std::condition_variable work_cv;  // idle workers
    std::condition_variable done_cv;  // callers waiting for their helpers
    std::mutex admin;                 // serialises shutdowns
    Job* jobs = nullptr;
    unsigned running = 0;
    unsigned sleepers = 0;
    unsigned nworkers = 0;
    pthread_t workers[kMaxWorkers];
    std::atomic<uint64_t> epoch{0};
    bool stop = false;
    bool final = false;
};

alignas(Pool) unsigned char g_storage[sizeof(Pool)];
std::atomic<Pool*> g_pool{nullptr};
std::atomic<bool> g_final{false};  // unloaded before the pool ever existed
std::once_flag g_once;

// fork(): the child has none of the workers, and mu may be held by a thread that does not exist
// there. The parent holds mu across fork() (so no job or worker state is half changed) and the
// child builds a fresh pool in the same storage (the old one's threads are gone: nothing to
// destroy or join).
void before_fork() {
    if (Pool* p = g_pool.load(std::memory_order_acquire)) p->mu.lock();
}
void after_fork_parent() {
    if (Pool* p = g_pool.load(std::memory_order_acquire)) p->mu.unlock();
}
void after_fork_child() {
    if (Pool* p = g_pool.load(std::memory_order_acquire)) {
        const bool final = p->final;
        Pool* fresh = new (g_storage) Pool();
        fresh->final = final;
        g_pool.store(fresh, std::memory_order_release);
    }
}

Pool& pool() {
    std::call_once(g_once, [] {
        Pool* p = new (g_storage) Pool();
        p->final = g_final.load(std::memory_order_acquire);
        g_pool.store(p, std::memory_order_release);
        pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    });
    return *g_pool.load(std::memory_order_acquire);
}

// Claims and runs chunks of j until none is left.
void run_chunks(Job& j, Pool& p) {
    for (;;) {
        const int64_t c = j.next.fetch_add(1, std::memory_order_relaxed);
        if (c >= j.nchunks) return;
        if (j.failed.load(std::memory_order_relaxed)) continue;
        const int64_t b = c * j.chunk, e = std::min(j.n, b + j.chunk);
        try {
            j.fn.call(j.fn.obj, b, e);
        } catch (...) {
            std::lock_guard<std::mutex> lk(p.mu);
            if (!j.error) j.error = std::current_exception();
            j.failed.store(true, std::memory_order_relaxed);
        }
    }
}

// A linked job this worker may help with, or null: chunks left, fewer helpers than the caller
// asked for, and fewer threads in parallel loops than the caller's thread count.
Job* pick(Pool& p) {
    for (Job* j = p.jobs; j != nullptr; j = j->next_job) {
        if (j->next.load(std::memory_order_relaxed) >= j->nchunks) continue;
        if (j->helpers.load(std::memory_order_relaxed) + 1 >= j->threads) continue;
        if (p.running >= j->threads) continue;
        return j;
    }
    return nullptr;
}

void* worker_main(void* arg) {
    Pool& p = *static_cast<Pool*>(arg);
    t_in_region = true;  // loops inside chunks run inline
    std::unique_lock<std::mutex> lk(p.mu);
    for (;;) {
        if (p.stop) break;
        if (Job* j = pick(p)) {
            j->helpers.fetch_add(1, std::memory_order_relaxed);
            ++p.running;
            lk.unlock();
            run_chunks(*j, p);
            lk.lock();
            --p.running;
            const bool wake = j->caller_sleeps;
            // The last access to *j: the caller may return once it reads 0.
            const bool last = j->helpers.fetch_sub(1, std::memory_order_release) == 1;
            if (wake && last) p.done_cv.notify_all();
            continue;
        }
        // Nothing to do: spin for a while (the next kernel usually comes within microseconds),
        // then sleep until the next submission or stop.
        const uint64_t seen = p.epoch.load(std::memory_order_relaxed);
        lk.unlock();
        const bool changed = spin_until([&] { return p.epoch.load(std::memory_order_relaxed) != seen; });
        lk.lock();
        if (changed) continue;
        ++p.sleepers;
        p.work_cv.wait(lk, [&] { return p.stop || p.epoch.load(std::memory_order_relaxed) != seen; });
        --p.sleepers;
    }
    return nullptr;
}

// Starts workers (under mu) until there are `want`; stops at the first failure (the loops still
// complete: callers run every chunk nobody else claims).
void ensure_workers(Pool& p, unsigned want) {
    want = std::min(want, kMaxWorkers);
    if (p.stop || p.nworkers >= want) return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);  // inherited by the new threads
    while (p.nworkers < want) {
        pthread_t t;
        if (pthread_create(&t, nullptr, worker_main, &p) != 0) break;
        p.workers[p.nworkers++] = t;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void shutdown(bool final) noexcept {
    if (final) g_final.store(true, std::memory_order_release);
    Pool* pp = g_pool.load(std::memory_order_acquire);
    if (pp == nullptr) return;
    Pool& p = *pp;
    std::lock_guard<std::mutex> admin(p.admin);
    pthread_t joined[kMaxWorkers];
    unsigned n;
    {
        std::lock_guard<std::mutex> lk(p.mu);
        if (final) p.final = true;
        p.stop = true;
        p.epoch.fetch_add(1, std::memory_order_relaxed);
        n = p.nworkers;
        std::copy(p.workers, p.workers + n, joined);
        p.nworkers = 0;
    }
    p.work_cv.notify_all();
    for (unsigned i = 0; i < n; ++i) pthread_join(joined[i], nullptr);
    std::lock_guard<std::mutex> lk(p.mu);
    p.stop = false;
}

// Joins the workers when the object holding the kernels is unloaded (dlclose) or the process
// exits; parallel loops run inline from then on.
struct Reaper {
    ~Reaper() { shutdown(true); }
} g_reaper;

unsigned parse_default() noexcept {
    if (const char* v = std::getenv("APHELION_CPU_THREADS")) {
        char* end = nullptr;
        const long x = std::strtol(v, &end, 10);
        if (end != v && *end == '\0' && x > 0 && x <= static_cast<long>(kMaxThreads)) return static_cast<unsigned>(x);
    }
    const unsigned h = std::thread::hardware_concurrency();
    return h ? std::min(h, kMaxThreads) : 1u;
}

}  // namespace

unsigned default_cpu_threads() noexcept {
    static const unsigned n = parse_default();
    return n;
}

unsigned cpu_threads() noexcept {
    const int l = t_limit;
    return l > 0 ? std::min(static_cast<unsigned>(l), kMaxThreads) : default_cpu_threads();
}

ThreadLimitScope::ThreadLimitScope(int n) noexcept : saved_(t_limit) { t_limit = n > 0 ? n : 0; }
ThreadLimitScope::~ThreadLimitScope() { t_limit = saved_; }

void shutdown_cpu_pool() noexcept { shutdown(false); }

unsigned cpu_pool_workers() noexcept {
    Pool* p = g_pool.load(std::memory_order_acquire);
    if (p == nullptr) return 0;
    std::lock_guard<std::mutex> lk(p->mu);
    return p->nworkers;
}

namespace detail {

bool in_parallel_region() noexcept { return t_in_region; }

void run_parallel(int64_t n, int64_t chunks, unsigned threads, RangeFn fn) {
    Pool& p = pool();
    Job j;
    j.fn = fn;
    j.n = n;
    j.chunk = (n + chunks - 1) / chunks;
    j.nchunks = (n + j.chunk - 1) / j.chunk;
    j.threads = threads;
    unsigned sleepers;
    {
        std::lock_guard<std::mutex> lk(p.mu);
        if (p.final) {
            sleepers = ~0u;  // unloading: inline
        } else {
            ensure_workers(p, threads - 1);
            j.next_job = p.jobs;
            if (p.jobs) p.jobs->prev = &j;
            p.jobs = &j;
            ++p.running;
            p.epoch.fetch_add(1, std::memory_order_relaxed);
            sleepers = p.sleepers;
        }
    }
    if (sleepers == ~0u) {
        fn.call(fn.obj, 0, n);
        return;
    }
    if (sleepers > 0) {
        if (threads - 1 >= sleepers) p.work_cv.notify_all();
        else for (unsigned i = 0; i + 1 < threads; ++i) p.work_cv.notify_one();
    }
    t_in_region = true;
    run_chunks(j, p);
    t_in_region = false;
    {
        std::lock_guard<std::mutex> lk(p.mu);
        if (j.prev) j.prev->next_job = j.next_job;
        else p.jobs = j.next_job;
        if (j.next_job) j.next_job->prev = j.prev;
        --p.running;
        // Spinning workers look again: with one thread fewer running, another job may now
        // take a helper.
        if (p.jobs) p.epoch.fetch_add(1, std::memory_order_relaxed);
    }
    // Wait for the chunks the helpers hold: spin first (they are usually nearly done).
    if (!spin_until([&] { return j.helpers.load(std::memory_order_acquire) == 0; })) {
        std::unique_lock<std::mutex> lk(p.mu);
        j.caller_sleeps = true;
        p.done_cv.wait(lk, [&] { return j.helpers.load(std::memory_order_acquire) == 0; });
    }
    if (j.failed.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> lk(p.mu);
        std::rethrow_exception(j.error);
    }
}

}  // namespace detail
}  // namespace aph::kernels
