// The CPU kernels' worker pool (runtime/kernels/parallel.hpp), tested directly: every index runs
// exactly once, the work really is shared, exceptions come back to the caller, nested loops run
// inline, thread limits are per thread and nest, several callers at once, shutdown and restart
// (also while other threads run loops), fork(), and unloading a module that holds the kernels
// (dlclose joins its workers).
#include "parallel.hpp"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <cmocka.h>
}

using aph::kernels::cpu_pool_workers;
using aph::kernels::cpu_threads;
using aph::kernels::default_cpu_threads;
using aph::kernels::parallel_for;
using aph::kernels::shutdown_cpu_pool;
using aph::kernels::ThreadLimitScope;

namespace {

constexpr double kBig = 1e9;  // a work estimate that always goes parallel

// Threads of this process (entries of /proc/self/task).
int process_threads() {
    DIR* d = opendir("/proc/self/task");
    if (d == nullptr) return -1;
    int n = 0;
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

// Waits (up to 10 s) until the process has `want` threads; returns the last count seen.
int wait_for_threads(int want) {
    int n = process_threads();
    for (int i = 0; i < 1000 && n != want; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        n = process_threads();
    }
    return n;
}

void test_covers_every_index_once(void** state) {
    (void)state;
    for (int threads : {1, 2, 3, 8}) {
        ThreadLimitScope scope(threads);
        for (int64_t n : {1, 2, 3, 7, 64, 1000, 100003}) {
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            std::atomic<int64_t> calls{0};
            parallel_for(n, kBig, [&](int64_t b, int64_t e) {
                assert_true(0 <= b && b < e && e <= n);
                calls.fetch_add(1);
                for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
            });
            for (int64_t i = 0; i < n; ++i) assert_int_equal(hits[static_cast<size_t>(i)].load(), 1);
            // Chunks: about 4 per thread, never more than n.
            assert_true(calls.load() <= std::min<int64_t>(n, 4 * threads));
            if (threads == 1 || n == 1) assert_int_equal(calls.load(), 1);
        }
    }
    // Small work runs inline in one call; n <= 0 calls nothing.
    int calls = 0;
    parallel_for(1000, 10.0, [&](int64_t b, int64_t e) {
        ++calls;
        assert_int_equal(b, 0);
        assert_int_equal(e, 1000);
    });
    assert_int_equal(calls, 1);
    parallel_for(0, kBig, [&](int64_t, int64_t) { ++calls; });
    parallel_for(-5, kBig, [&](int64_t, int64_t) { ++calls; });
    assert_int_equal(calls, 1);
}

// With 2 threads, a second thread takes chunks while the first is held up.
void test_work_is_shared(void** state) {
    (void)state;
    ThreadLimitScope scope(2);
    std::mutex mu;
    std::set<std::thread::id> ids;
    std::atomic<int> started{0};
    parallel_for(8, kBig, [&](int64_t, int64_t) {
        {
            std::lock_guard<std::mutex> lk(mu);
            ids.insert(std::this_thread::get_id());
        }
        started.fetch_add(1);
        // Hold this chunk until a second thread has run one (up to 10 s on a loaded machine).
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (;;) {
            {
                std::lock_guard<std::mutex> lk(mu);
                if (ids.size() >= 2) break;
            }
            if (std::chrono::steady_clock::now() > until) break;
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    });
    assert_int_equal(started.load(), 8);
    assert_int_equal(ids.size(), 2);
    assert_true(cpu_pool_workers() >= 1);
}

void test_exceptions_reach_the_caller(void** state) {
    (void)state;
    ThreadLimitScope scope(4);
    for (int round = 0; round < 20; ++round) {
        std::atomic<int> ran{0};
        bool caught = false;
        try {
            parallel_for(64, kBig, [&](int64_t b, int64_t) {
                ran.fetch_add(1);
                if (b == 0 || b == 32) throw std::runtime_error("chunk failed");
            });
        } catch (const std::runtime_error& e) {
            caught = std::string(e.what()) == "chunk failed";
        }
        assert_true(caught);
        assert_true(ran.load() >= 1);
    }
    // The pool still works afterwards.
    std::atomic<int64_t> sum{0};
    parallel_for(1000, kBig, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
    });
    assert_int_equal(sum.load(), 999 * 1000 / 2);
}

void test_nested_loops_run_inline(void** state) {
    (void)state;
    ThreadLimitScope scope(4);
    std::atomic<int> bad{0}, inner_total{0};
    parallel_for(16, kBig, [&](int64_t b, int64_t e) {
        if (!aph::kernels::detail::in_parallel_region()) bad.fetch_add(1);
        for (int64_t i = b; i < e; ++i) {
            const auto me = std::this_thread::get_id();
            int calls = 0;
            parallel_for(100, kBig, [&](int64_t ib, int64_t ie) {
                ++calls;
                if (std::this_thread::get_id() != me || ib != 0 || ie != 100) bad.fetch_add(1);
                inner_total.fetch_add(static_cast<int>(ie - ib));
            });
            if (calls != 1) bad.fetch_add(1);
        }
    });
    assert_int_equal(bad.load(), 0);
    assert_int_equal(inner_total.load(), 1600);
    assert_false(aph::kernels::detail::in_parallel_region());
}

void test_thread_limit_scope(void** state) {
    (void)state;
    const unsigned def = default_cpu_threads();
    assert_true(def >= 1);
    assert_int_equal(cpu_threads(), def);
    {
        ThreadLimitScope a(3);
        assert_int_equal(cpu_threads(), 3);
        {
            ThreadLimitScope b(1);
            assert_int_equal(cpu_threads(), 1);
            // Another thread keeps the default.
            unsigned other = 0;
            std::thread t([&] { other = cpu_threads(); });
            t.join();
            assert_int_equal(other, def);
            {
                ThreadLimitScope c(0);  // 0: the process default
                assert_int_equal(cpu_threads(), def);
            }
            {
                ThreadLimitScope c(-7);
                assert_int_equal(cpu_threads(), def);
            }
            {
                ThreadLimitScope c(100000);
                assert_int_equal(cpu_threads(), 1024);
            }
            assert_int_equal(cpu_threads(), 1);
        }
        assert_int_equal(cpu_threads(), 3);
        // A limit of 1 runs every loop inline on the caller.
        ThreadLimitScope one(1);
        const auto me = std::this_thread::get_id();
        int calls = 0;
        parallel_for(1000, kBig, [&](int64_t, int64_t) {
            ++calls;
            assert_true(std::this_thread::get_id() == me);
        });
        assert_int_equal(calls, 1);
    }
    assert_int_equal(cpu_threads(), def);
}

// Several callers at once, each with its own limit: every loop's result is right (ThreadSanitizer
// checks the hand-offs), and no caller waits forever for workers busy with another.
void test_concurrent_callers(void** state) {
    (void)state;
    std::atomic<int> failures{0};
    std::vector<std::thread> users;
    for (int u = 0; u < 4; ++u) {
        users.emplace_back([&, u] {
            ThreadLimitScope scope(1 + u);
            for (int round = 0; round < 200; ++round) {
                const int64_t n = 1 + (round * 37 + u * 11) % 3000;
                std::vector<int64_t> out(static_cast<size_t>(n), -1);
                parallel_for(n, kBig, [&](int64_t b, int64_t e) {
                    for (int64_t i = b; i < e; ++i) out[static_cast<size_t>(i)] = i * i + u;
                });
                for (int64_t i = 0; i < n; ++i) {
                    if (out[static_cast<size_t>(i)] != i * i + u) failures.fetch_add(1);
                }
            }
        });
    }
    for (std::thread& t : users) t.join();
    assert_int_equal(failures.load(), 0);
}

void test_shutdown_and_restart(void** state) {
    (void)state;
    shutdown_cpu_pool();
    assert_int_equal(cpu_pool_workers(), 0);
    const int base = process_threads();
    {
        ThreadLimitScope scope(3);
        parallel_for(100, kBig, [](int64_t, int64_t) {});
    }
    assert_int_equal(cpu_pool_workers(), 2);
    assert_int_equal(process_threads(), base + 2);
    shutdown_cpu_pool();
    assert_int_equal(cpu_pool_workers(), 0);
    assert_int_equal(wait_for_threads(base), base);
    shutdown_cpu_pool();  // twice: nothing to join
    // Restarts on the next parallel call.
    {
        ThreadLimitScope scope(2);
        std::atomic<int64_t> sum{0};
        parallel_for(1000, kBig, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
        });
        assert_int_equal(sum.load(), 999 * 1000 / 2);
        assert_true(cpu_pool_workers() >= 1);
    }
    // Shutdown while other threads run loops: their loops still complete correctly.
    std::atomic<bool> done{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> users;
    for (int u = 0; u < 2; ++u) {
        users.emplace_back([&] {
            ThreadLimitScope scope(3);
            while (!done.load()) {
                std::vector<int> out(5000, 0);
                parallel_for(5000, kBig, [&](int64_t b, int64_t e) {
                    for (int64_t i = b; i < e; ++i) out[static_cast<size_t>(i)] = 1;
                });
                for (int v : out) failures.fetch_add(v != 1);
            }
        });
    }
    for (int i = 0; i < 50; ++i) {
        shutdown_cpu_pool();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    done.store(true);
    for (std::thread& t : users) t.join();
    assert_int_equal(failures.load(), 0);
}

#if defined(__SANITIZE_THREAD__)
#define APH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define APH_TSAN 1
#endif
#endif

// A child process after fork() has none of the parent's workers: its loops still run (starting
// a pool of its own). ThreadSanitizer stops children of threaded processes that start threads,
// so this test is skipped under it.
void test_fork(void** state) {
    (void)state;
#ifdef APH_TSAN
    skip();
#else
    {
        ThreadLimitScope scope(2);
        parallel_for(100, kBig, [](int64_t, int64_t) {});
    }
    assert_true(cpu_pool_workers() >= 1);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int code = cpu_pool_workers() == 0 ? 0 : 3;
        ThreadLimitScope scope(2);
        std::vector<int> out(10000, 0);
        parallel_for(10000, kBig, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) out[static_cast<size_t>(i)] = 1;
        });
        for (int v : out) code |= v != 1 ? 4 : 0;
        _exit(code);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    // The parent's pool is intact.
    std::atomic<int> calls{0};
    ThreadLimitScope scope(2);
    parallel_for(100, kBig, [&](int64_t, int64_t) { calls.fetch_add(1); });
    assert_true(calls.load() >= 1);
#endif
}

// A module holding its own copy of the kernels (as the simulated CUDA module does): its loop
// starts workers, and dlclose joins them.
void test_unload_joins_workers(void** state) {
    (void)state;
    shutdown_cpu_pool();  // this process's own pool out of the count
    const int base = wait_for_threads(process_threads());
    void* h = dlopen(APH_TEST_PARALLEL_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) fail_msg("dlopen: %s", dlerror());
    using Fn = long long (*)(int threads, long long n);
    auto sum = reinterpret_cast<Fn>(dlsym(h, "aph_test_parallel_sum"));
    auto workers = reinterpret_cast<unsigned (*)(void)>(dlsym(h, "aph_test_parallel_workers"));
    assert_non_null(sum);
    assert_non_null(workers);
    assert_int_equal(sum(3, 100000), 100000LL * 99999LL / 2);
    assert_int_equal(workers(), 2);
    assert_int_equal(process_threads(), base + 2);
    assert_int_equal(dlclose(h), 0);
    // dlclose ran the module's destructors, which joined its two workers.
    assert_int_equal(wait_for_threads(base), base);
    // The module really went away (a module that cannot be unloaded would keep its workers).
    assert_null(dlopen(APH_TEST_PARALLEL_MODULE, RTLD_NOW | RTLD_NOLOAD));
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covers_every_index_once),     cmocka_unit_test(test_work_is_shared),
        cmocka_unit_test(test_exceptions_reach_the_caller), cmocka_unit_test(test_nested_loops_run_inline),
        cmocka_unit_test(test_thread_limit_scope),          cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_shutdown_and_restart),        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_unload_joins_workers),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
