// The deleter thread (see deleter_thread.hpp).
//
// It sleeps while no deleter waits. While some do, it polls their allocators' events (a few
// microseconds each, through the CUDA module), at an interval that starts at kMinInterval after
// each new waiting deleter and doubles up to kMaxInterval while nothing changes, and runs the
// deleters whose work is done, on this thread. Other threads run them sooner when they get
// there first (allocations, synchronisations, memory statistics, empty_cache, device release).
//
// Process exit: a static destructor, registered when the thread starts (so it runs before the
// CUDA runtime's teardown, registered earlier), stops the thread: it waits for a poll in
// progress to end, and from then on the thread neither calls into the CUDA module nor runs a
// deleter. Deleters still waiting at exit are never called; the memory goes with the process.
// (A deleter already running on the thread at that moment finishes on its own.) The thread is
// detached and never joined: it owns nothing that needs tearing down. It pins the library in
// memory, so a dlclose cannot unmap the code it runs.
#include "deleter_thread.hpp"

#include "log.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace aph::deleters {
namespace {

constexpr std::chrono::microseconds kMinInterval{100};
constexpr std::chrono::microseconds kMaxInterval{10000};

struct State {
    std::mutex mutex;
    std::condition_variable wake;                   // a new waiting deleter, or exit
    std::condition_variable poll_done;              // the thread left its polling phase
    std::vector<alloc::CachingAllocator*> watched;  // allocators with waiting deleters
    bool started = false;
    bool kicked = false;    // watch() was called since the thread last looked
    bool polling = false;   // the thread is querying events (inside the CUDA module)
    bool stopping = false;  // the process is exiting
};

// Leaked on purpose: the thread may still run during static destruction.
State& state() noexcept {
    static State* s = new State();
    return *s;
}

struct StopAtExit {
    StopAtExit() = default;
    StopAtExit(const StopAtExit&) = delete;
    StopAtExit& operator=(const StopAtExit&) = delete;
    ~StopAtExit() {
        State& s = state();
        std::unique_lock lock(s.mutex);
        s.stopping = true;
        s.wake.notify_all();
        s.poll_done.wait(lock, [&s] { return !s.polling; });
    }
};

// The thread runs this library's code until the process ends: a dlclose must not unmap it, so
// the library pins itself (RTLD_NODELETE) when the thread starts. The handle is kept for good.
void pin_library() noexcept {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&watch), &info) != 0 && info.dli_fname != nullptr) {
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
}

void loop() noexcept {
    State& s = state();
    std::chrono::microseconds interval = kMinInterval;
    std::unique_lock lock(s.mutex);
    for (;;) {
        if (s.watched.empty()) {
            s.wake.wait(lock, [&s] { return s.stopping || !s.watched.empty(); });
            interval = kMinInterval;
            s.kicked = false;
        } else {
            s.wake.wait_for(lock, interval, [&s] { return s.stopping || s.kicked; });
            interval = s.kicked ? kMinInterval : std::min(interval * 2, kMaxInterval);
            s.kicked = false;
        }
        if (s.stopping) return;
        std::vector<alloc::CachingAllocator*> list;
        try {
            list = s.watched;
        } catch (...) {
            continue;  // no memory for the copy: try again at the next interval
        }
        // Poll first (the deleters that became ready stay queued), then, unless the process is
        // exiting by now, run them: exit waits for the poll, never for user code (what the poll
        // logs is delivered after it, too).
        {
            const log::Defer defer;
            s.polling = true;
            lock.unlock();
            for (alloc::CachingAllocator* a : list) a->process_events(/*run_deleters=*/false);
            lock.lock();
            s.polling = false;
            s.poll_done.notify_all();
            lock.unlock();
        }
        lock.lock();
        if (s.stopping) return;
        lock.unlock();
        for (alloc::CachingAllocator* a : list) a->run_deleters();
        lock.lock();
        // Allocators with nothing left waiting leave the list (watch() puts them back).
        s.watched.erase(std::remove_if(s.watched.begin(), s.watched.end(),
                                       [](alloc::CachingAllocator* a) { return a->deferred_deleters() == 0; }),
                        s.watched.end());
    }
}

}  // namespace

void watch(alloc::CachingAllocator* a) noexcept {
    State& s = state();
    bool start = false;
    {
        std::lock_guard lock(s.mutex);
        if (s.stopping) return;
        try {
            if (std::find(s.watched.begin(), s.watched.end(), a) == s.watched.end()) s.watched.push_back(a);
        } catch (...) {
            // No memory to watch it: its deleters run at the next synchronisation or allocation.
            return;
        }
        s.kicked = true;
        if (!s.started) start = s.started = true;
    }
    if (!start) {
        s.wake.notify_one();
        return;
    }
    try {
        static StopAtExit stop_at_exit;
        pin_library();
        std::thread(loop).detach();
    } catch (const std::exception& e) {
        {
            std::lock_guard lock(s.mutex);
            s.started = false;  // the next watch() tries again
        }
        log::logf(APH_LOG_WARN, "aphelion::memory",
                  "could not start the deleter thread (%s): deleters of borrowed memory run at the next "
                  "synchronisation or allocation instead",
                  e.what());
    }
}

}  // namespace aph::deleters
