// The worker pool behind parallel_for (see parallel.hpp for the contract).
//
// One Pool per copy of the kernels (libaphelion.so has one; the tests' simulated CUDA module its
// own). The path from a call to its helpers takes no lock:
//   slots[kSlots]   the running calls' jobs (Job objects on their callers' stacks), each slot
//                   with a reference count `refs`: a worker takes a reference, then reads the
//                   slot; it may use the job it finds until it drops the reference. A caller
//                   publishes its job in a free slot, runs chunks, clears the slot and waits for
//                   the slot's references to drop to 0, after which no worker can touch its job.
//                   (A worker that took its reference before a slot was reused simply finds the
//                   new job, which waits for that reference in turn.) A call that finds no free
//                   slot runs inline.
//   epoch           bumped on every publication and on stop; idle workers watch it
//   running         threads inside parallel loops (callers plus helping workers): a worker helps
//                   only while it is below the job's thread count (no oversubscription when
//                   several callers run loops at once)
// Sleeping uses a mutex and condition variables, only after about 50 µs of spinning:
//   idle workers    count themselves in `sleepers`, then wait (under `mu`) for a new epoch
//   waiting callers count themselves in `waiting`, then wait (under `mu`) for refs == 0
// and whoever changes what they wait for (a caller publishing, a worker dropping a slot's last
// reference) checks the count afterwards and, if it is not 0, takes `mu` once before notifying:
// with sequentially consistent counts either the sleeper sees the change or the changer sees the
// sleeper, and the sleeper holds `mu` from its last check until it waits, so no wakeup is lost.
// Workers are pthreads (so that a child after fork() can forget them without joining), started
// with every signal blocked. shutdown joins them under `admin` (one shutdown at a time).
//
// The pool lives in static storage and is never destroyed (threads still calling at process exit
// never find a destroyed mutex); a static Reaper joins the workers at unload or exit, after which
// loops run inline.
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

constexpr unsigned kMaxThreads = kMaxCpuThreads;
constexpr unsigned kMaxWorkers = kMaxThreads - 1;
constexpr int kSlots = 64;  // calls running loops at once (more: the extra ones run inline)
// How long an idle worker, and a caller waiting for its helpers, spin before sleeping.
constexpr std::chrono::microseconds kSpin{50};

thread_local int t_limit = 0;           // ThreadLimitScope's value; 0: the process default
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
    unsigned threads = 0;              // the caller's cpu_threads()
    std::atomic<int64_t> next{0};      // the next chunk to claim
    std::atomic<unsigned> helpers{0};  // workers helping (at most threads - 1)
    std::atomic<bool> failed{false};   // a chunk threw: skip the rest
    std::exception_ptr error;          // under mu: the first exception
};

struct alignas(64) Slot {
    std::atomic<Job*> job{nullptr};
    std::atomic<unsigned> refs{0};
    std::atomic<bool> taken{false};  // owned by a caller (from claiming to release)
};

struct Pool {
    Slot slots[kSlots];
    alignas(64) std::atomic<uint64_t> epoch{0};
    alignas(64) std::atomic<unsigned> running{0};
    std::atomic<unsigned> sleepers{0};  // idle workers asleep or about to be
    std::atomic<unsigned> waiting{0};   // callers asleep (or about to be) until refs == 0
    std::atomic<bool> stop{false};
    std::atomic<unsigned> live{0};    // nworkers, readable without mu
    std::atomic<bool> final{false};   // unloaded: loops run inline from now on
    std::mutex mu;                    // sleeping, exceptions, the worker list
    std::condition_variable work_cv;  // idle workers
    std::condition_variable done_cv;  // callers waiting for their helpers
    std::mutex admin;                 // serialises shutdowns
    unsigned nworkers = 0;            // under mu
    pthread_t workers[kMaxWorkers];   // under mu
};

alignas(Pool) unsigned char g_storage[sizeof(Pool)];
std::atomic<Pool*> g_pool{nullptr};
std::atomic<bool> g_final{false};  // unloaded before the pool ever existed
std::once_flag g_once;

// fork(): the child has none of the workers, and mu may be held by a thread that does not exist
// there. The parent holds mu across fork() and the child builds a fresh pool in the same storage
// (the old one's threads are gone: nothing to destroy or join; calls in flight belong to threads
// that are not in the child either).
void before_fork() {
    if (Pool* p = g_pool.load(std::memory_order_acquire)) p->mu.lock();
}
void after_fork_parent() {
    if (Pool* p = g_pool.load(std::memory_order_acquire)) p->mu.unlock();
}
void after_fork_child() {
    if (Pool* p = g_pool.load(std::memory_order_acquire)) {
        const bool final = p->final.load(std::memory_order_relaxed);
        Pool* fresh = new (g_storage) Pool();
        fresh->final.store(final, std::memory_order_relaxed);
        g_pool.store(fresh, std::memory_order_release);
    }
}

Pool& pool() {
    std::call_once(g_once, [] {
        Pool* p = new (g_storage) Pool();
        p->final.store(g_final.load(std::memory_order_acquire), std::memory_order_relaxed);
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

// Wakes whoever sleeps in `count` on cv (see the top of the file), after the change it waits for.
void wake(Pool& p, std::atomic<unsigned>& count, std::condition_variable& cv) {
    if (count.load(std::memory_order_seq_cst) == 0) return;
    { std::lock_guard<std::mutex> lk(p.mu); }
    cv.notify_all();
}

// Drops a worker's reference to slot s. After it the slot's job may be gone.
void release(Pool& p, Slot& s) {
    if (s.refs.fetch_sub(1, std::memory_order_seq_cst) == 1) wake(p, p.waiting, p.done_cv);
}

// Helps with one published job if there is one this worker may take: chunks left, fewer
// helpers than the caller asked for, fewer threads in loops than its thread count. Returns
// whether it helped.
bool help_once(Pool& p) {
    for (Slot& s : p.slots) {
        if (s.job.load(std::memory_order_relaxed) == nullptr) continue;
        s.refs.fetch_add(1, std::memory_order_seq_cst);
        Job* j = s.job.load(std::memory_order_seq_cst);
        if (j == nullptr || j->next.load(std::memory_order_relaxed) >= j->nchunks ||
            p.running.load(std::memory_order_relaxed) >= j->threads) {
            release(p, s);
            continue;
        }
        if (j->helpers.fetch_add(1, std::memory_order_relaxed) + 1 >= j->threads) {
            j->helpers.fetch_sub(1, std::memory_order_relaxed);
            release(p, s);
            continue;
        }
        p.running.fetch_add(1, std::memory_order_relaxed);
        run_chunks(*j, p);
        p.running.fetch_sub(1, std::memory_order_relaxed);
        j->helpers.fetch_sub(1, std::memory_order_relaxed);
        release(p, s);
        return true;
    }
    return false;
}

void* worker_main(void* arg) {
    Pool& p = *static_cast<Pool*>(arg);
    t_in_region = true;  // loops inside chunks run inline
    for (;;) {
        if (p.stop.load(std::memory_order_acquire)) break;
        const uint64_t seen = p.epoch.load(std::memory_order_acquire);
        if (help_once(p)) continue;
        // Nothing to do: spin for a while (the next kernel usually comes within microseconds),
        // then sleep until the next publication or stop.
        if (spin_until([&] { return p.epoch.load(std::memory_order_acquire) != seen; })) continue;
        p.sleepers.fetch_add(1, std::memory_order_seq_cst);
        {
            std::unique_lock<std::mutex> lk(p.mu);
            p.work_cv.wait(lk, [&] {
                return p.stop.load(std::memory_order_seq_cst) || p.epoch.load(std::memory_order_seq_cst) != seen;
            });
        }
        p.sleepers.fetch_sub(1, std::memory_order_relaxed);
    }
    return nullptr;
}

// Starts workers (under mu) until there are `want`; stops at the first failure (the loops still
// complete: callers run every chunk nobody else claims).
void ensure_workers(Pool& p, unsigned want) {
    want = std::min(want, kMaxWorkers);
    if (p.stop.load(std::memory_order_relaxed) || p.nworkers >= want) return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);  // inherited by the new threads
    while (p.nworkers < want) {
        pthread_t t;
        if (pthread_create(&t, nullptr, worker_main, &p) != 0) break;
        p.workers[p.nworkers++] = t;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    p.live.store(p.nworkers, std::memory_order_relaxed);
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
        if (final) p.final.store(true, std::memory_order_relaxed);
        p.stop.store(true, std::memory_order_seq_cst);
        p.epoch.fetch_add(1, std::memory_order_seq_cst);
        n = p.nworkers;
        std::copy(p.workers, p.workers + n, joined);
        p.nworkers = 0;
        p.live.store(0, std::memory_order_relaxed);
    }
    p.work_cv.notify_all();
    for (unsigned i = 0; i < n; ++i) pthread_join(joined[i], nullptr);
    p.stop.store(false, std::memory_order_release);
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

void set_thread_cpu_threads(int n) noexcept { t_limit = n > 0 ? n : 0; }
int thread_cpu_threads() noexcept { return t_limit; }

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
    // Workers: started on first use (and after a shutdown), under mu; the common case (enough
    // started) only reads the count.
    if (p.final.load(std::memory_order_relaxed)) {
        fn.call(fn.obj, 0, n);
        return;
    }
    if (p.live.load(std::memory_order_relaxed) < std::min(threads - 1, kMaxWorkers)) {
        std::lock_guard<std::mutex> lk(p.mu);
        ensure_workers(p, threads - 1);
    }
    // A free slot, else inline.
    Slot* slot = nullptr;
    for (Slot& s : p.slots) {
        bool expected = false;
        if (!s.taken.load(std::memory_order_relaxed) &&
            s.taken.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
            slot = &s;
            break;
        }
    }
    if (slot == nullptr) {
        fn.call(fn.obj, 0, n);
        return;
    }
    p.running.fetch_add(1, std::memory_order_relaxed);
    slot->job.store(&j, std::memory_order_seq_cst);
    p.epoch.fetch_add(1, std::memory_order_seq_cst);
    wake(p, p.sleepers, p.work_cv);
    t_in_region = true;
    run_chunks(j, p);
    t_in_region = false;
    slot->job.store(nullptr, std::memory_order_seq_cst);
    p.running.fetch_sub(1, std::memory_order_relaxed);
    // Wait for the workers holding references (and so chunks): spin first, they are usually
    // nearly done.
    const auto done = [&] { return slot->refs.load(std::memory_order_seq_cst) == 0; };
    if (!spin_until(done)) {
        p.waiting.fetch_add(1, std::memory_order_seq_cst);
        {
            std::unique_lock<std::mutex> lk(p.mu);
            p.done_cv.wait(lk, done);
        }
        p.waiting.fetch_sub(1, std::memory_order_relaxed);
    }
    slot->taken.store(false, std::memory_order_release);
    if (j.failed.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> lk(p.mu);
        std::rethrow_exception(j.error);
    }
}

}  // namespace detail
}  // namespace aph::kernels
