// test_caching_allocator.cpp — the caching allocator behind every device (header section 11,
// runtime/core/caching_allocator.hpp), tested on a simulated device of fixed capacity: size
// rounding and the two pools, segment sizes, splitting and coalescing, best fit, stream-ordered
// reuse and record_stream (events the test completes by hand), the out-of-memory retry and the
// out-of-memory error, tracker budgets (exact message, nothing changes on refusal, each block
// gives back to the tracker it was charged to), statistics and peaks, retired streams, the leak
// report, unknown pointers, and a randomised stress run (seed printed; APH_TEST_SEED replays
// one) plus concurrent threads, both checked against the allocator's invariants.
#include "caching_allocator.hpp"
#include "error.hpp"
#include "log.hpp"
#include "tracker.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
// cmocka after the C++ headers: its macros clash with the standard library's names. Its header
// has no extern "C" of its own.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" {
#include <cmocka.h>
}

// Host allocation failure injection: when armed, the Nth operator new from now on throws
// std::bad_alloc (for the exception-safety test of allocate).
namespace {
std::atomic<long> g_new_countdown{-1};
void* counted_new(size_t n) {
    long c = g_new_countdown.load(std::memory_order_relaxed);
    if (c >= 0 && g_new_countdown.fetch_sub(1, std::memory_order_relaxed) == 0) {
        throw std::bad_alloc();
    }
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
}  // namespace
void* operator new(size_t n) { return counted_new(n); }
void* operator new[](size_t n) { return counted_new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

using aph::alloc::Backend;
using aph::alloc::Block;
using aph::alloc::CachingAllocator;
using aph::alloc::LiveBlock;
using aph::alloc::Stats;
using aph::alloc::StreamKey;

namespace {

constexpr size_t KiB = size_t{1} << 10;
constexpr size_t MiB = size_t{1} << 20;
constexpr const char* kLabel = "sim:0";

StreamKey S(uint64_t id) { return StreamKey{id, nullptr, 0}; }

// Objects the allocator keeps for good by design (a block lost to a failed event, a block
// still live when the allocator goes): not leaks of the test.
void ignore_leak([[maybe_unused]] const void* p) {
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(p);
#endif
}

// ---------------------------------------------------------------------------------------------
// The simulated device: real host memory (512-byte aligned) up to a fixed capacity, events the
// test completes per stream, and counters for everything the allocator asks of it.
// ---------------------------------------------------------------------------------------------
class SimulatedBackend final : public Backend {
public:
    explicit SimulatedBackend(size_t capacity) : capacity_(capacity) {}

    // What the backend held when it was destroyed (with the allocator that owns it).
    struct Final {
        size_t live_bytes = 0, live_regions = 0, live_events = 0;
        uint64_t free_calls = 0, events_destroyed = 0, bad_frees = 0;
    };

    ~SimulatedBackend() override {
        if (final_)
            *final_ = Final{live_bytes_, regions_.size(), events_.size(), free_calls_, events_destroyed_, bad_frees_};
        // Whatever the allocator did not give back (a failed test) goes here, so the process
        // stays clean for the tests after it.
        for (auto& [p, n] : regions_) std::free(p);
        for (Event* e : events_) delete e;
    }

    void* raw_alloc(size_t bytes, std::string& why) override {
        std::lock_guard lock(mu_);
        alloc_calls_++;
        alloc_sizes_.push_back(bytes);
        if (throw_next_) {
            throw_next_ = false;
            throw aph::Error::kind(APH_ERR_INTERNAL, "simulated driver error");
        }
        if (fail_next_ > 0) {
            fail_next_--;
            failed_allocs_++;
            why = "simulated failure";
            return nullptr;
        }
        if (bytes > capacity_ - live_bytes_) {
            failed_allocs_++;
            why = aph::strprintf("simulated device full: %zu of %zu bytes in use", live_bytes_, capacity_);
            return nullptr;
        }
        void* p = std::aligned_alloc(512, (bytes + 511) / 512 * 512);
        if (p == nullptr) throw std::bad_alloc();
        try {
            regions_.emplace(p, bytes);
        } catch (...) {  // an injected host allocation failure
            std::free(p);
            throw;
        }
        live_bytes_ += bytes;
        return p;
    }

    void raw_free(void* ptr, size_t bytes) noexcept override {
        std::lock_guard lock(mu_);
        free_calls_++;
        auto it = regions_.find(ptr);
        if (it == regions_.end() || it->second != bytes) {
            bad_frees_++;  // not ours, or the wrong size: keep it (do not crash the test)
            return;
        }
        live_bytes_ -= bytes;
        regions_.erase(it);
        std::free(ptr);
    }

    void* record_event(const StreamKey& stream) override {
        std::lock_guard lock(mu_);
        if (throwing_streams_.count(stream.id)) {
            throw aph::Error::kind(APH_ERR_INTERNAL, "simulated event failure");
        }
        if (inline_streams_.count(stream.id)) {
            inline_records_++;
            return nullptr;  // nothing pending on this stream (as a CPU stream)
        }
        auto e = std::make_unique<Event>(Event{stream.id, ++recorded_[stream.id]});
        events_.insert(e.get());  // (may throw in the host-memory tests: e is then freed)
        events_recorded_++;
        return e.release();
    }

    bool event_done(void* event) override {
        std::lock_guard lock(mu_);
        auto* e = static_cast<Event*>(event);
        if (!events_.count(e)) {
            bad_events_++;
            return false;
        }
        return completed_[e->stream] >= e->seq;
    }

    void destroy_event(void* event) noexcept override {
        std::lock_guard lock(mu_);
        auto* e = static_cast<Event*>(event);
        if (events_.erase(e) == 0) {
            bad_events_++;
            return;
        }
        delete e;
        events_destroyed_++;
    }

    std::string capacity_note() override {
        std::lock_guard lock(mu_);
        return aph::strprintf("free %zu of total %zu bytes", capacity_ - live_bytes_, capacity_);
    }

    // Test controls -------------------------------------------------------------------------
    // Every event recorded so far on the stream is done.
    void complete_stream(uint64_t id) {
        std::lock_guard lock(mu_);
        completed_[id] = recorded_[id];
    }
    void fail_next(int n) {
        std::lock_guard lock(mu_);
        fail_next_ = n;
    }
    void throw_next() {
        std::lock_guard lock(mu_);
        throw_next_ = true;
    }
    void report_final_state_to(Final* f) {
        std::lock_guard lock(mu_);
        final_ = f;
    }
    void make_inline(uint64_t id) {
        std::lock_guard lock(mu_);
        inline_streams_.insert(id);
    }
    void make_throwing(uint64_t id) {
        std::lock_guard lock(mu_);
        throwing_streams_.insert(id);
    }

    // Observations ----------------------------------------------------------------------------
#define SIM_GETTER(type, name)     \
    type name() {                  \
        std::lock_guard lock(mu_); \
        return name##_;            \
    }
    SIM_GETTER(size_t, live_bytes)
    SIM_GETTER(uint64_t, alloc_calls)
    SIM_GETTER(uint64_t, free_calls)
    SIM_GETTER(uint64_t, failed_allocs)
    SIM_GETTER(uint64_t, bad_frees)
    SIM_GETTER(uint64_t, bad_events)
    SIM_GETTER(uint64_t, events_recorded)
    SIM_GETTER(uint64_t, events_destroyed)
    SIM_GETTER(uint64_t, inline_records)
    SIM_GETTER(std::vector<size_t>, alloc_sizes)
#undef SIM_GETTER
    size_t live_regions() {
        std::lock_guard lock(mu_);
        return regions_.size();
    }
    size_t live_events() {
        std::lock_guard lock(mu_);
        return events_.size();
    }
    // True when [p, p + n) lies inside one live region.
    bool contains(const void* p, size_t n) {
        std::lock_guard lock(mu_);
        auto it = regions_.upper_bound(const_cast<void*>(p));
        if (it == regions_.begin()) return false;
        --it;
        const char* base = static_cast<const char*>(it->first);
        const char* q = static_cast<const char*>(p);
        return q >= base && q + n <= base + it->second;
    }

private:
    struct Event {
        uint64_t stream;
        uint64_t seq;
    };
    std::mutex mu_;
    const size_t capacity_;
    size_t live_bytes_ = 0;
    int fail_next_ = 0;
    bool throw_next_ = false;
    Final* final_ = nullptr;
    std::map<void*, size_t> regions_;
    std::set<Event*> events_;
    std::unordered_map<uint64_t, uint64_t> recorded_, completed_;
    std::set<uint64_t> inline_streams_, throwing_streams_;
    uint64_t alloc_calls_ = 0, free_calls_ = 0, failed_allocs_ = 0, bad_frees_ = 0, bad_events_ = 0,
             events_recorded_ = 0, events_destroyed_ = 0, inline_records_ = 0;
    std::vector<size_t> alloc_sizes_;
};

// An allocator over a fresh simulated device; *be is left pointing at the device.
std::unique_ptr<CachingAllocator> make_allocator(SimulatedBackend** be, size_t capacity = 64 * MiB) {
    auto backend = std::make_unique<SimulatedBackend>(capacity);
    *be = backend.get();
    return std::make_unique<CachingAllocator>(std::move(backend), kLabel);
}

char* P(const Block* b) { return static_cast<char*>(CachingAllocator::block_ptr(b)); }
size_t N(const Block* b) { return CachingAllocator::block_size(b); }

void assert_stats_equal(const Stats& a, const Stats& b) {
#define EQ(f) assert_int_equal(a.f, b.f)
    EQ(allocated.current);
    EQ(allocated.peak);
    EQ(reserved.current);
    EQ(reserved.peak);
    EQ(active.current);
    EQ(active.peak);
    EQ(requested.current);
    EQ(requested.peak);
    EQ(allocations);
    EQ(frees);
    EQ(segment_allocations);
    EQ(segment_frees);
    EQ(cache_misses);
    EQ(alloc_retries);
    EQ(ooms);
    EQ(leaked);
    EQ(active_allocations);
    EQ(segments);
#undef EQ
}

// Runs f, which must throw aph::Error with status; returns the message.
template <class F>
std::string expect_error(F&& f, aph_status status) {
    try {
        f();
    } catch (const aph::Error& e) {
        assert_int_equal(e.status(), status);
        return e.what();
    } catch (const std::exception& e) {
        fail_msg("expected aph::Error, got std::exception: %s", e.what());
    }
    fail_msg("expected aph::Error with status %d, nothing was thrown", static_cast<int>(status));
    return "";
}

void assert_contains(const std::string& s, const std::string& part) {
    if (s.find(part) == std::string::npos) fail_msg("'%s' lacks '%s'", s.c_str(), part.c_str());
}

// Every test ends with the device empty: all blocks freed, cache emptied, nothing left.
void assert_device_empty(CachingAllocator& a, SimulatedBackend* be) {
    a.empty_cache();
    Stats s = a.stats();
    assert_int_equal(s.allocated.current, 0);
    assert_int_equal(s.requested.current, 0);
    assert_int_equal(s.reserved.current, 0);
    assert_int_equal(s.active.current, 0);
    assert_int_equal(s.segments, 0);
    assert_int_equal(s.active_allocations, 0);
    assert_int_equal(be->live_bytes(), 0);
    assert_int_equal(be->live_regions(), 0);
    assert_int_equal(be->bad_frees(), 0);
    assert_int_equal(be->bad_events(), 0);
    assert_int_equal(be->live_events(), 0);
}

// A log sink that keeps warn-level messages of the allocator's target (and drops the rest).
struct LogCapture {
    std::mutex mu;
    std::vector<std::string> messages;
    static void cb(void* ud, aph_log_level level, const char* target, const char* message) {
        auto* c = static_cast<LogCapture*>(ud);
        if (level != APH_LOG_WARN || std::strcmp(target, "aphelion::memory") != 0) return;
        std::lock_guard lock(c->mu);
        c->messages.emplace_back(message);
    }
    LogCapture() { aph::log::set_callback(&LogCapture::cb, this); }
    ~LogCapture() { aph::log::set_callback(nullptr, nullptr); }
    size_t count() {
        std::lock_guard lock(mu);
        return messages.size();
    }
};

}  // namespace

/* ---------------------------------------------------------------------------------------------
 * Borrowed memory
 * ------------------------------------------------------------------------------------------- */

namespace {
// An owner of borrowed memory whose deleter reads the allocator's statistics: it takes the
// allocator's lock, so a deleter run under it would deadlock (std::mutex is not recursive).
struct Owner {
    CachingAllocator* a = nullptr;
    int calls = 0;
    void* data = nullptr;
};
void owner_deleter(void* ud, void* data) {
    auto* o = static_cast<Owner*>(ud);
    o->calls++;
    o->data = data;
    (void)o->a->stats();
}
std::atomic<int> g_hook_calls{0};
void count_hook(CachingAllocator* a) {
    g_hook_calls++;
    (void)a->deferred_deleters();  // called outside the lock
}
}  // namespace

// Borrowed memory: outside the statistics; every stream's use counts (no own stream); the
// deleter runs once each event recorded at the release (or when a used stream was retired)
// has completed, on the thread that finds it so, outside the lock, exactly once; the hook
// hears of each deleter that has to wait; a use that cannot be waited for means the deleter
// never runs; an allocator destroyed with a deleter waiting does not run it.
static void test_borrowed_blocks(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);
    a->set_deferred_hook(count_hook);
    g_hook_calls = 0;
    alignas(64) static char mem[4096];
    const Stats s0 = a->stats();

    // No use: the deleter runs within release_borrowed.
    Owner o0;
    o0.a = a.get();
    Block* b = a->borrow(mem, sizeof mem, 0);
    assert_stats_equal(a->stats(), s0);
    a->release_borrowed(b, owner_deleter, mem, &o0);
    assert_int_equal(o0.calls, 1);
    assert_ptr_equal(o0.data, mem);
    assert_int_equal(g_hook_calls.load(), 0);
    assert_int_equal(be->events_recorded(), 0);

    // Uses on streams 1, 2 and 3 (3 retired before the release, 1 recorded twice).
    Owner o;
    o.a = a.get();
    b = a->borrow(mem, sizeof mem, 0);
    a->record_stream(b, S(1));
    a->record_stream(b, S(1));
    a->record_stream(b, S(2));
    a->record_stream(b, S(3));
    a->retire_stream(S(3), S(1));
    a->release_borrowed(b, owner_deleter, mem, &o);
    assert_int_equal(o.calls, 0);
    assert_int_equal(a->deferred_deleters(), 1);
    assert_int_equal(g_hook_calls.load(), 1);
    be->complete_stream(1);
    a->process_events();
    be->complete_stream(2);
    (void)a->stats();
    assert_int_equal(o.calls, 0);  // stream 3's event is still pending
    be->complete_stream(3);
    a->process_events(/*run_deleters=*/false);  // found done, left queued
    assert_int_equal(o.calls, 0);
    assert_int_equal(a->deferred_deleters(), 0);
    a->run_deleters();
    assert_int_equal(o.calls, 1);
    a->process_events();
    a->empty_cache();
    assert_int_equal(o.calls, 1);
    assert_stats_equal(a->stats(), s0);
    assert_int_equal(be->live_events(), 0);

    // A stream with nothing pending (no event to wait for): the deleter runs within the release.
    be->make_inline(5);
    Owner oi;
    oi.a = a.get();
    b = a->borrow(mem, sizeof mem, 0);
    a->record_stream(b, S(5));
    a->release_borrowed(b, owner_deleter, mem, &oi);
    assert_int_equal(oi.calls, 1);

    // Otherwise whichever call finds the work done runs it: here an allocation.
    Owner od;
    od.a = a.get();
    b = a->borrow(mem, sizeof mem, 0);
    a->record_stream(b, S(4));
    a->release_borrowed(b, owner_deleter, mem, &od);
    assert_int_equal(od.calls, 0);
    assert_int_equal(g_hook_calls.load(), 2);
    be->complete_stream(4);
    Block* other = a->allocate(512, S(1));
    assert_int_equal(od.calls, 1);
    a->free(other);

    // A use whose event cannot be recorded: never given back, said at error level.
    be->make_throwing(9);
    Owner lost;
    lost.a = a.get();
    b = a->borrow(mem, sizeof mem, 0);
    a->record_stream(b, S(9));
    a->release_borrowed(b, owner_deleter, mem, &lost);
    a->process_events();
    assert_int_equal(lost.calls, 0);
    assert_int_equal(a->deferred_deleters(), 0);
    assert_device_empty(*a, be);

    // Destroyed with a deleter waiting: it is not run (the work may still use the memory).
    {
        SimulatedBackend* be2;
        auto a2 = make_allocator(&be2);
        Owner w;
        w.a = a2.get();
        Block* wb = a2->borrow(mem, sizeof mem, 0);
        a2->record_stream(wb, S(1));
        a2->release_borrowed(wb, owner_deleter, mem, &w);
        assert_int_equal(a2->deferred_deleters(), 1);
        a2.reset();
        assert_int_equal(w.calls, 0);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Rounding and the pools
 * ------------------------------------------------------------------------------------------- */

static void test_rounding(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    Block* b1 = a->allocate(1, S(1));
    assert_non_null(b1);
    assert_int_equal(N(b1), 512);
    Stats s = a->stats();
    assert_int_equal(s.allocated.current, 512);
    assert_int_equal(s.requested.current, 1);
    assert_int_equal(s.active.current, 512);

    Block* b2 = a->allocate(513, S(1));
    assert_int_equal(N(b2), 1024);
    Block* b3 = a->allocate(512, S(1));
    assert_int_equal(N(b3), 512);
    Block* b4 = a->allocate(1024, S(1));
    assert_int_equal(N(b4), 1024);
    Block* b5 = a->allocate(1025, S(1));
    assert_int_equal(N(b5), 1536);
    s = a->stats();
    assert_int_equal(s.allocated.current, 512 + 1024 + 512 + 1024 + 1536);
    assert_int_equal(s.requested.current, 1 + 513 + 512 + 1024 + 1025);
    assert_int_equal(s.allocations, 5);
    assert_int_equal(s.active_allocations, 5);

    // Zero bytes: no block, no memory, no statistic moves.
    const Stats before = a->stats();
    const uint64_t calls = be->alloc_calls();
    assert_null(a->allocate(0, S(1)));
    assert_null(a->allocate(0, S(2)));
    assert_stats_equal(a->stats(), before);
    assert_int_equal(be->alloc_calls(), calls);

    // A request no device can hold is refused before the device is asked.
    std::string msg = expect_error([&] { a->allocate(SIZE_MAX, S(1)); }, APH_ERR_OUT_OF_MEMORY);
    assert_int_equal(msg.rfind("out of memory: ", 0), 0);
    assert_contains(msg, kLabel);
    assert_int_equal(be->alloc_calls(), calls);
    assert_int_equal(a->stats().allocations, before.allocations);
    assert_int_equal(a->stats().allocated.current, before.allocated.current);

    // Freeing takes back exactly what was counted.
    a->free(b2);
    s = a->stats();
    assert_int_equal(s.allocated.current, 512 + 512 + 1024 + 1536);
    assert_int_equal(s.requested.current, 1 + 512 + 1024 + 1025);
    a->free(nullptr);  // a no-op
    for (Block* b : {b1, b3, b4, b5}) a->free(b);
    s = a->stats();
    assert_int_equal(s.allocated.current, 0);
    assert_int_equal(s.requested.current, 0);
    assert_int_equal(s.frees, 5);
    assert_int_equal(s.allocated.peak, 512 + 1024 + 512 + 1024 + 1536);
    assert_int_equal(s.requested.peak, 1 + 513 + 512 + 1024 + 1025);
    assert_device_empty(*a, be);
}

static void test_segment_sizes(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be, 256 * MiB);

    // The first small allocation takes a 2 MiB segment; more small ones share it.
    Block* first = a->allocate(1, S(1));
    assert_int_equal(be->alloc_calls(), 1);
    assert_int_equal(be->alloc_sizes()[0], 2 * MiB);
    Stats s = a->stats();
    assert_int_equal(s.reserved.current, 2 * MiB);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.segment_allocations, 1);
    assert_int_equal(s.cache_misses, 1);
    std::vector<Block*> smalls;
    for (int i = 0; i < 100; i++) {
        Block* b = a->allocate(4 * KiB, S(1));
        assert_true(P(b) >= P(first) && P(b) + N(b) <= P(first) + 2 * MiB);
        smalls.push_back(b);
    }
    assert_int_equal(be->alloc_calls(), 1);
    s = a->stats();
    assert_int_equal(s.cache_misses, 1);
    assert_int_equal(s.allocations, 101);

    // Exactly 1 MiB is small: a 2 MiB segment, which holds two of them.
    Block* m1 = a->allocate(1 * MiB, S(2));
    assert_int_equal(be->alloc_calls(), 2);
    assert_int_equal(be->alloc_sizes()[1], 2 * MiB);
    assert_int_equal(N(m1), 1 * MiB);
    Block* m2 = a->allocate(1 * MiB, S(2));
    assert_int_equal(be->alloc_calls(), 2);
    assert_ptr_equal(P(m2), P(m1) + 1 * MiB);
    Block* m3 = a->allocate(1 * MiB, S(2));
    assert_int_equal(be->alloc_calls(), 3);
    assert_int_equal(be->alloc_sizes()[2], 2 * MiB);

    // 1 MiB + 1 is large: a 20 MiB segment, split.
    Block* l1 = a->allocate(1 * MiB + 1, S(3));
    assert_int_equal(be->alloc_calls(), 4);
    assert_int_equal(be->alloc_sizes()[3], 20 * MiB);
    assert_int_equal(N(l1), 1 * MiB + 512);

    // 10 MiB and more: a segment of the size rounded up to 2 MiB.
    Block* l2 = a->allocate(10 * MiB, S(4));
    assert_int_equal(be->alloc_sizes().back(), 10 * MiB);
    assert_int_equal(N(l2), 10 * MiB);
    Block* l3 = a->allocate(11 * MiB + 1, S(5));
    assert_int_equal(be->alloc_sizes().back(), 12 * MiB);
    assert_int_equal(N(l3), 12 * MiB);            // a remainder under 1 MiB is not split off
    Block* l4 = a->allocate(10 * MiB - 1, S(6));  // rounds to exactly 10 MiB
    assert_int_equal(be->alloc_sizes().back(), 10 * MiB);
    assert_int_equal(N(l4), 10 * MiB);
    Block* l5 = a->allocate(10 * MiB - 512, S(7));  // under 10 MiB: from a 20 MiB segment
    assert_int_equal(be->alloc_sizes().back(), 20 * MiB);
    assert_int_equal(N(l5), 10 * MiB - 512);

    s = a->stats();
    assert_int_equal(s.reserved.current, 2 * MiB * 3 + 20 * MiB + 10 * MiB + 12 * MiB + 10 * MiB + 20 * MiB);
    assert_int_equal(s.reserved.current, be->live_bytes());
    assert_int_equal(s.segments, 8);
    assert_int_equal(s.segment_allocations, 8);
    assert_int_equal(s.cache_misses, 8);

    a->free(first);
    for (Block* b : smalls) a->free(b);
    for (Block* b : {m1, m2, m3, l1, l2, l3, l4, l5}) a->free(b);
    assert_device_empty(*a, be);
    assert_int_equal(be->free_calls(), 8);

    // The pools are separate: a cached large block never serves a small request, nor a cached
    // small segment a large one.
    Block* big = a->allocate(2 * MiB, S(1));
    char* big_ptr = P(big);
    a->free(big);  // a free 20 MiB segment in the large pool
    Block* sm = a->allocate(4 * KiB, S(1));
    assert_false(P(sm) >= big_ptr && P(sm) < big_ptr + 20 * MiB);
    assert_int_equal(be->alloc_sizes().back(), 2 * MiB);
    a->empty_cache();  // the 20 MiB segment goes
    a->free(sm);       // a free 2 MiB segment in the small pool
    const uint64_t calls = be->alloc_calls();
    Block* lg = a->allocate(1 * MiB + 512, S(1));
    assert_int_equal(be->alloc_calls(), calls + 1);
    assert_int_equal(be->alloc_sizes().back(), 20 * MiB);
    a->free(lg);
    assert_device_empty(*a, be);
}

static void test_split_and_coalesce(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    Block* A = a->allocate(1000, S(1));
    Block* B = a->allocate(1000, S(1));
    Block* C = a->allocate(1000, S(1));
    assert_int_equal(N(A), 1024);
    assert_ptr_equal(P(B), P(A) + 1024);
    assert_ptr_equal(P(C), P(B) + 1024);
    assert_int_equal(be->alloc_calls(), 1);

    // B then A: one free 2 KiB block at A's address. Without coalescing, a 2 KiB request
    // would come from the remainder after C.
    char* a_ptr = P(A);
    a->free(B);
    a->free(A);
    Block* AB = a->allocate(2048, S(1));
    assert_ptr_equal(P(AB), a_ptr);
    assert_int_equal(N(AB), 2048);
    assert_int_equal(be->alloc_calls(), 1);

    // Free everything (C last: it merges with both neighbours): the segment is whole again.
    a->free(AB);
    a->free(C);
    Stats s = a->stats();
    assert_int_equal(s.reserved.current, 2 * MiB);
    assert_int_equal(s.segments, 1);
    a->empty_cache();
    s = a->stats();
    assert_int_equal(be->free_calls(), 1);
    assert_int_equal(s.reserved.current, 0);
    assert_int_equal(s.segment_frees, 1);
    assert_int_equal(s.segments, 0);

    // A then B (the other order, B merging backwards), on a fresh segment.
    A = a->allocate(1000, S(1));
    B = a->allocate(1000, S(1));
    C = a->allocate(1000, S(1));
    a_ptr = P(A);
    a->free(A);
    a->free(B);
    AB = a->allocate(2048, S(1));
    assert_ptr_equal(P(AB), a_ptr);
    a->free(C);  // merges with the remainder only
    a->empty_cache();
    assert_int_equal(a->stats().segments, 1);  // AB still live: the segment stays
    a->free(AB);
    assert_device_empty(*a, be);
    assert_int_equal(a->stats().segment_frees, 2);
}

static void test_large_split_rule(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be, 256 * MiB);

    // 2 MiB from a fresh 20 MiB segment: split, 18 MiB stays cached.
    Block* x = a->allocate(2 * MiB, S(1));
    assert_int_equal(N(x), 2 * MiB);
    assert_int_equal(be->alloc_sizes()[0], 20 * MiB);

    // 17 MiB from the 18 MiB block: the 1 MiB remainder is not worth a block.
    Block* y = a->allocate(17 * MiB, S(1));
    assert_int_equal(be->alloc_calls(), 1);
    assert_ptr_equal(P(y), P(x) + 2 * MiB);
    assert_int_equal(N(y), 18 * MiB);
    assert_int_equal(a->stats().allocated.current, 20 * MiB);
    a->free(y);

    // 17 MiB - 512 leaves 1 MiB + 512: split off, and a request of exactly that size gets it.
    Block* z = a->allocate(17 * MiB - 512, S(1));
    assert_ptr_equal(P(z), P(x) + 2 * MiB);
    assert_int_equal(N(z), 17 * MiB - 512);
    Block* w = a->allocate(1 * MiB + 512, S(1));
    assert_int_equal(be->alloc_calls(), 1);
    assert_ptr_equal(P(w), P(z) + N(z));
    assert_int_equal(N(w), 1 * MiB + 512);

    // The same rule for fresh segments.
    Block* f1 = a->allocate(19 * MiB, S(2));
    assert_int_equal(be->alloc_sizes().back(), 20 * MiB);
    assert_int_equal(N(f1), 20 * MiB);
    Block* f2 = a->allocate(19 * MiB - 512, S(3));
    assert_int_equal(be->alloc_sizes().back(), 20 * MiB);
    assert_int_equal(N(f2), 19 * MiB - 512);

    for (Block* b : {x, z, w, f1, f2}) a->free(b);
    assert_device_empty(*a, be);
}

static void test_best_fit(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    // The 64 KiB block lies below the 4 KiB one, so an address-ordered first fit would pick it.
    Block* b64 = a->allocate(64 * KiB, S(1));
    Block* sep1 = a->allocate(512, S(1));
    Block* b4 = a->allocate(4 * KiB, S(1));
    Block* sep2 = a->allocate(512, S(1));
    assert_true(P(b64) < P(b4));
    char* p64 = P(b64);
    char* p4 = P(b4);
    a->free(b64);
    a->free(b4);

    Block* r3 = a->allocate(3 * KiB, S(1));
    assert_ptr_equal(P(r3), p4);
    assert_int_equal(N(r3), 3 * KiB);  // 1 KiB remains: split
    // 512 B from the 1 KiB left: exactly 512 B remain, still worth a block in the small pool.
    Block* h1 = a->allocate(512, S(1));
    assert_ptr_equal(P(h1), p4 + 3 * KiB);
    assert_int_equal(N(h1), 512);
    Block* h2 = a->allocate(512, S(1));
    assert_ptr_equal(P(h2), p4 + 3 * KiB + 512);  // the exact fit
    Block* r60 = a->allocate(60 * KiB, S(1));
    assert_ptr_equal(P(r60), p64);
    assert_int_equal(be->alloc_calls(), 1);

    for (Block* b : {sep1, sep2, r3, h1, h2, r60}) a->free(b);
    assert_device_empty(*a, be);
}

/* ---------------------------------------------------------------------------------------------
 * Streams
 * ------------------------------------------------------------------------------------------- */

static void test_stream_ordered_reuse(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    Block* b = a->allocate(4096, S(1));
    char* p = P(b);
    a->free(b);

    // Another stream never gets it: a segment of its own.
    Block* other = a->allocate(4096, S(2));
    assert_ptr_not_equal(P(other), p);
    assert_false(P(other) >= p && P(other) < p + 2 * MiB);
    assert_int_equal(be->alloc_calls(), 2);
    assert_int_equal(a->stats().cache_misses, 2);

    // Its own stream does, from the cache.
    Block* again = a->allocate(4096, S(1));
    assert_ptr_equal(P(again), p);
    assert_int_equal(be->alloc_calls(), 2);
    assert_int_equal(a->stats().cache_misses, 2);

    // The same for the large pool.
    Block* big = a->allocate(12 * MiB, S(1));
    char* bp = P(big);
    a->free(big);
    Block* big2 = a->allocate(12 * MiB, S(2));
    assert_ptr_not_equal(P(big2), bp);
    a->free(big2);
    Block* big1 = a->allocate(12 * MiB, S(1));
    assert_ptr_equal(P(big1), bp);

    for (Block* x : {other, again, big1}) a->free(x);
    assert_int_equal(be->events_recorded(), 0);  // no other-stream use declared: no events
    assert_device_empty(*a, be);
}

static void test_record_stream(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    Block* b = a->allocate(4096, S(1));
    char* p = P(b);
    a->record_stream(b, S(2));
    a->record_stream(b, S(2));  // declared once
    a->record_stream(b, S(1));  // its own stream: ignored
    a->free(b);
    assert_int_equal(be->events_recorded(), 1);

    Stats s = a->stats();
    assert_int_equal(s.allocated.current, 0);
    assert_int_equal(s.active.current, 4096);  // held back for stream 2
    assert_int_equal(s.frees, 1);
    assert_int_equal(s.active_allocations, 0);

    // Stream 2's work is pending: an allocation on stream 1 does not get the block.
    Block* q = a->allocate(4096, S(1));
    assert_ptr_not_equal(P(q), p);
    s = a->stats();
    assert_int_equal(s.active.current, 8192);
    assert_int_equal(s.allocated.current, 4096);
    // empty_cache keeps the segment: a block in it is still waiting.
    a->free(q);
    a->empty_cache();
    assert_int_equal(a->stats().segments, 1);
    assert_int_equal(be->free_calls(), 0);
    q = a->allocate(4096, S(1));
    assert_ptr_not_equal(P(q), p);

    // Once stream 2 is done, the next allocation on stream 1 reuses it.
    be->complete_stream(2);
    Block* r = a->allocate(4096, S(1));
    assert_ptr_equal(P(r), p);
    assert_int_equal(be->events_destroyed(), 1);
    assert_int_equal(be->live_events(), 0);
    s = a->stats();
    assert_int_equal(s.active.current, 8192);
    assert_int_equal(s.allocated.current, 8192);

    // stats() processes completed events too; and an event recorded after an earlier
    // completion of the stream is a new one, still pending.
    a->record_stream(q, S(2));
    a->free(q);
    assert_int_equal(be->events_recorded(), 2);
    assert_int_equal(a->stats().active.current, 8192);
    be->complete_stream(2);
    s = a->stats();
    assert_int_equal(s.active.current, 4096);
    assert_int_equal(be->events_destroyed(), 2);

    // Uses on two streams: held until both are done.
    a->record_stream(r, S(2));
    a->record_stream(r, S(3));
    a->free(r);
    assert_int_equal(be->events_recorded(), 4);
    be->complete_stream(3);
    s = a->stats();
    assert_int_equal(s.active.current, 4096);
    Block* t = a->allocate(4096, S(1));
    assert_ptr_not_equal(P(t), p);
    be->complete_stream(2);
    s = a->stats();
    assert_int_equal(s.active.current, 4096);  // only t
    assert_int_equal(be->events_destroyed(), 4);
    Block* u = a->allocate(4096, S(1), /*raw=*/true);
    assert_ptr_equal(P(u), p);

    // record_stream_ptr: the same through the pointer.
    assert_true(a->record_stream_ptr(P(u), S(3)));
    assert_true(a->free_ptr(P(u)));
    assert_int_equal(a->stats().active.current, 8192);
    be->complete_stream(3);
    assert_int_equal(a->stats().active.current, 4096);

    // empty_cache checks completed events itself: a segment whose last block was waiting goes
    // back at once.
    Block* v = a->allocate(8192, S(4));
    a->record_stream(v, S(2));
    a->free(v);
    be->complete_stream(2);
    const size_t live_before = be->live_bytes();
    a->empty_cache();
    assert_int_equal(be->live_bytes(), live_before - 2 * MiB);

    a->free(t);
    assert_device_empty(*a, be);
    assert_int_equal(be->events_recorded(), be->events_destroyed());
}

static void test_record_stream_inline_and_failing_events(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    // A stream with no pending work (the backend records no event): freed at once.
    be->make_inline(7);
    Block* b = a->allocate(4096, S(1));
    char* p = P(b);
    a->record_stream(b, S(7));
    a->free(b);
    assert_int_equal(be->inline_records(), 1);
    assert_int_equal(a->stats().active.current, 0);
    Block* c = a->allocate(4096, S(1));
    assert_ptr_equal(P(c), p);

    // An event that cannot be recorded: the block never comes back (and a warning says so).
    be->make_throwing(8);
    a->record_stream(c, S(8));
    {
        LogCapture log;
        a->free(c);
        assert_int_equal(log.count(), 1);
        assert_contains(log.messages[0], "4096 bytes stay unavailable");
    }
    Stats s = a->stats();
    assert_int_equal(s.allocated.current, 0);
    assert_int_equal(s.active.current, 4096);
    ignore_leak(c);
    Block* d = a->allocate(4096, S(1));
    assert_ptr_not_equal(P(d), p);
    a->free(d);
    a->empty_cache();
    assert_int_equal(a->stats().segments, 1);  // the lost block pins its segment
    // (the segment stays with the backend; its destructor frees it)
}

static void test_retire_stream(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be, 128 * MiB);

    // A free 10 MiB block of stream 5, which goes away with work still queued.
    Block* b5 = a->allocate(10 * MiB, S(5));
    char* p5 = P(b5);
    a->free(b5);
    a->retire_stream(S(5), S(1));
    assert_int_equal(be->events_recorded(), 1);

    // Not before stream 5's event completes.
    Block* q = a->allocate(10 * MiB, S(1));
    assert_ptr_not_equal(P(q), p5);
    assert_int_equal(a->stats().cache_misses, 2);
    assert_int_equal(be->events_destroyed(), 0);

    // After: stream 1 reuses it, without a new segment.
    be->complete_stream(5);
    Block* r = a->allocate(10 * MiB, S(1));
    assert_ptr_equal(P(r), p5);
    assert_int_equal(a->stats().cache_misses, 2);
    assert_int_equal(be->events_destroyed(), 1);
    a->free(q);
    a->free(r);

    // A block still live on the retired stream joins the fallback when it is freed later, and
    // coalesces with the rest of its segment (which moved there when the event completed).
    Block* l = a->allocate(4096, S(6));
    char* pl = P(l);
    a->retire_stream(S(6), S(1));
    be->complete_stream(6);
    (void)a->stats();
    a->free(l);
    const uint64_t calls = be->alloc_calls();
    Block* n = a->allocate(1 * MiB, S(1));
    // The whole 2 MiB segment of stream 6, now stream 1's (without the merge, the 1 MiB would
    // come from the remainder after l).
    assert_ptr_equal(P(n), pl);
    assert_int_equal(be->alloc_calls(), calls);
    assert_int_equal(be->events_destroyed(), 2);
    a->free(n);
    assert_device_empty(*a, be);

    // A block of the retired stream still waiting on another stream's event when the retirement
    // completes joins the fallback when its event completes, and its segment is whole again.
    Block* w = a->allocate(4096, S(9));
    char* pw = P(w);
    a->record_stream(w, S(2));
    a->free(w);  // waits for stream 2
    a->retire_stream(S(9), S(1));
    be->complete_stream(9);
    assert_int_equal(a->stats().active.current, 4096);
    Block* o = a->allocate(1 * MiB, S(1));  // the rest of w's segment, moved to stream 1
    assert_ptr_equal(P(o), pw + 4096);
    a->free(o);
    be->complete_stream(2);
    Block* back = a->allocate(4096, S(1));
    assert_ptr_equal(P(back), pw);
    a->free(back);
    a->empty_cache();
    assert_int_equal(a->stats().segments, 0);  // merged: the segment was whole
    assert_device_empty(*a, be);

    // A stream with nothing pending (no event recorded) retires at once.
    be->make_inline(10);
    Block* i10 = a->allocate(4096, S(10));
    char* pi = P(i10);
    a->free(i10);
    a->retire_stream(S(10), S(1));
    Block* i1 = a->allocate(4096, S(1));
    assert_ptr_equal(P(i1), pi);
    a->free(i1);
    assert_device_empty(*a, be);
}

/* ---------------------------------------------------------------------------------------------
 * Out of memory
 * ------------------------------------------------------------------------------------------- */

static void test_oom_retry(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be, 64 * MiB);
    LogCapture log;

    // Six cached (free) 10 MiB segments: 60 of the 64 MiB.
    std::vector<Block*> bs;
    for (int i = 0; i < 6; i++) bs.push_back(a->allocate(10 * MiB, S(1)));
    for (Block* b : bs) a->free(b);
    bs.clear();
    Stats s = a->stats();
    assert_int_equal(s.reserved.current, 60 * MiB);
    assert_int_equal(s.segments, 6);

    // 12 MiB needs a new segment: refused, the cache is emptied, the retry succeeds.
    Block* big = a->allocate(12 * MiB, S(1));
    assert_non_null(big);
    s = a->stats();
    assert_int_equal(s.alloc_retries, 1);
    assert_int_equal(s.segment_frees, 6);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.reserved.current, 12 * MiB);
    assert_int_equal(s.ooms, 0);
    assert_int_equal(be->failed_allocs(), 1);
    assert_int_equal(be->live_bytes(), 12 * MiB);
    assert_int_equal(log.count(), 0);

    // Live memory fills the device: nothing to give back, out of memory.
    for (int i = 0; i < 5; i++) bs.push_back(a->allocate(10 * MiB, S(1)));  // 62 MiB live
    aph_tracker* t = new aph_tracker(0);
    a->set_tracker(t);
    const Stats before = a->stats();
    const size_t live = be->live_bytes();
    const uint64_t failed = be->failed_allocs();
    std::string msg = expect_error([&] { a->allocate(4 * MiB, S(1)); }, APH_ERR_OUT_OF_MEMORY);
    // Nothing was cached, so there was nothing to retry with: one request to the device.
    assert_int_equal(be->failed_allocs(), failed + 1);
    assert_int_equal(msg.rfind("out of memory: ", 0), 0);
    assert_contains(msg, kLabel);
    assert_contains(msg, "tried to allocate 4194304 bytes");
    assert_contains(msg, "free 2097152 of total 67108864 bytes");  // the backend's note
    assert_contains(msg, "simulated device full");                 // and its reason
    s = a->stats();
    assert_int_equal(s.ooms, 1);
    assert_int_equal(s.alloc_retries, 1);
    assert_int_equal(s.allocations, before.allocations);
    assert_int_equal(s.allocated.current, before.allocated.current);
    assert_int_equal(s.reserved.current, before.reserved.current);
    assert_int_equal(s.segment_allocations, before.segment_allocations);
    assert_int_equal(be->live_bytes(), live);
    assert_int_equal(t->allocated(), 0);  // the budget charge was given back
    assert_int_equal(log.count(), 1);
    assert_contains(log.messages[0], "out of memory: sim:0: tried to allocate 4194304 bytes");

    // A cached segment to give back, but still not enough room: one retry, then out of memory.
    a->free(big);  // 12 MiB cached, 50 MiB live
    msg = expect_error([&] { a->allocate(20 * MiB, S(1)); }, APH_ERR_OUT_OF_MEMORY);
    assert_contains(msg, "tried to allocate 20971520 bytes");
    s = a->stats();
    assert_int_equal(s.alloc_retries, 2);
    assert_int_equal(s.ooms, 2);
    assert_int_equal(s.segment_frees, 7);
    assert_int_equal(s.reserved.current, 50 * MiB);
    assert_int_equal(be->live_bytes(), 50 * MiB);
    assert_int_equal(t->allocated(), 0);  // the live blocks predate the tracker

    for (Block* b : bs) a->free(b);
    bs.clear();
    assert_int_equal(t->allocated(), 0);
    a->set_tracker(nullptr);
    if (t->refs.release()) delete t;
    a->empty_cache();

    // An injected refusal with a cached segment to give back: the retry succeeds.
    Block* c = a->allocate(10 * MiB, S(1));
    a->free(c);
    be->fail_next(1);
    Block* d = a->allocate(12 * MiB, S(1));
    assert_non_null(d);
    s = a->stats();
    assert_int_equal(s.alloc_retries, 3);
    assert_int_equal(s.reserved.current, 12 * MiB);
    a->free(d);

    // Any other backend failure passes through unchanged: not an out-of-memory event, and the
    // budget charge is given back.
    aph_tracker* t2 = new aph_tracker(0);
    a->set_tracker(t2);
    const Stats before2 = a->stats();
    be->throw_next();
    msg = expect_error([&] { a->allocate(14 * MiB, S(1)); }, APH_ERR_INTERNAL);
    assert_string_equal(msg.c_str(), "internal error: simulated driver error");
    assert_stats_equal(a->stats(), before2);
    assert_int_equal(t2->allocated(), 0);
    a->set_tracker(nullptr);
    if (t2->refs.release()) delete t2;

    // Refused twice: the error carries the backend's reason.
    be->fail_next(2);
    msg = expect_error([&] { a->allocate(14 * MiB, S(1)); }, APH_ERR_OUT_OF_MEMORY);
    assert_contains(msg, "(simulated failure)");
    s = a->stats();
    assert_int_equal(s.alloc_retries, 4);
    assert_int_equal(s.ooms, 3);
    assert_device_empty(*a, be);
}

/* ---------------------------------------------------------------------------------------------
 * Budgets
 * ------------------------------------------------------------------------------------------- */

static void test_tracker_budget(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);
    LogCapture log;

    // A refusal on a fresh allocator takes no segment.
    aph_tracker* t = new aph_tracker(4096);
    a->set_tracker(t);
    aph_tracker* attached = a->tracker();  // a new reference
    assert_ptr_equal(attached, t);
    attached->refs.release();
    Stats before = a->stats();
    std::string msg = expect_error([&] { a->allocate(8192, S(1)); }, APH_ERR_OUT_OF_MEMORY);
    assert_string_equal(msg.c_str(), "out of memory: allocation of 8192 bytes would exceed limit of 4096 bytes "
                                     "(current: 0 bytes)");
    assert_stats_equal(a->stats(), before);
    assert_int_equal(be->alloc_calls(), 0);
    assert_int_equal(t->allocated(), 0);

    // 1 byte charges its rounded size.
    Block* b1 = a->allocate(1, S(1));
    assert_int_equal(t->allocated(), 512);
    assert_int_equal(be->alloc_calls(), 1);

    before = a->stats();
    msg = expect_error([&] { a->allocate(4000, S(1)); }, APH_ERR_OUT_OF_MEMORY);
    assert_string_equal(msg.c_str(), "out of memory: allocation of 4096 bytes would exceed limit of 4096 bytes "
                                     "(current: 512 bytes)");
    Stats after = a->stats();
    assert_stats_equal(after, before);  // allocations, reserved, segments, ooms: nothing moves
    assert_int_equal(after.ooms, 0);    // budgets are not device refusals
    assert_int_equal(be->alloc_calls(), 1);
    assert_int_equal(t->allocated(), 512);
    assert_int_equal(t->peak(), 512);
    assert_int_equal(log.count(), 0);

    // Reaching the limit exactly is allowed.
    Block* b2 = a->allocate(3584, S(1));
    assert_int_equal(t->allocated(), 4096);
    msg = expect_error([&] { a->allocate(1, S(1)); }, APH_ERR_OUT_OF_MEMORY);
    assert_string_equal(msg.c_str(), "out of memory: allocation of 512 bytes would exceed limit of 4096 bytes "
                                     "(current: 4096 bytes)");
    a->free(b1);
    assert_int_equal(t->allocated(), 3584);
    a->free(b2);
    assert_int_equal(t->allocated(), 0);

    // A large block handed out whole is charged whole.
    a->set_tracker(nullptr);
    assert_null(a->tracker());
    aph_tracker* u = new aph_tracker(0);
    a->set_tracker(u);
    Block* big = a->allocate(11 * MiB + 1, S(1));
    assert_int_equal(N(big), 12 * MiB);
    assert_int_equal(u->allocated(), 12 * MiB);
    a->free(big);
    assert_int_equal(u->allocated(), 0);

    // Switching trackers while memory is live: each block gives back to its own tracker.
    aph_tracker* tA = new aph_tracker(0);
    aph_tracker* tB = new aph_tracker(0);
    a->set_tracker(tA);
    Block* x = a->allocate(1000, S(1));
    a->set_tracker(tB);
    Block* y = a->allocate(2000, S(1));
    assert_int_equal(tA->allocated(), 1024);
    assert_int_equal(tB->allocated(), 2048);
    // The allocator and the blocks keep the trackers alive: drop the test's references now.
    if (tA->refs.release()) delete tA;  // x still holds tA
    a->free(y);
    assert_int_equal(tB->allocated(), 0);
    a->set_tracker(nullptr);
    Block* z = a->allocate(4096, S(1));  // no tracker: charged to nobody
    assert_int_equal(tB->allocated(), 0);
    assert_int_equal(u->allocated(), 0);
    a->free(x);  // gives back to tA (and drops the last reference to it)
    a->free(z);
    assert_int_equal(tB->allocated(), 0);
    if (tB->refs.release()) delete tB;
    if (u->refs.release()) delete u;
    if (t->refs.release()) delete t;
    assert_device_empty(*a, be);
}

/* ---------------------------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------------------------- */

static void test_peak_stats_and_counts(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    Block* m1 = a->allocate(1 * MiB, S(1));
    Block* m2 = a->allocate(1 * MiB, S(1));  // the same segment
    Block* k = a->allocate(4096, S(1));      // the segment is full: a second one
    Stats s = a->stats();
    assert_int_equal(s.allocations, 3);
    assert_int_equal(s.segment_allocations, 2);
    assert_int_equal(s.cache_misses, 2);
    assert_int_equal(s.segments, 2);
    assert_int_equal(s.active_allocations, 3);
    assert_int_equal(s.reserved.current, 4 * MiB);
    assert_int_equal(s.allocated.current, 2 * MiB + 4096);
    assert_int_equal(s.allocated.peak, 2 * MiB + 4096);

    a->free(m1);
    a->free(m2);
    s = a->stats();
    assert_int_equal(s.frees, 2);
    assert_int_equal(s.active_allocations, 1);
    assert_int_equal(s.allocated.current, 4096);
    assert_int_equal(s.allocated.peak, 2 * MiB + 4096);
    assert_int_equal(s.requested.peak, 2 * MiB + 4096);
    assert_int_equal(s.active.peak, 2 * MiB + 4096);
    assert_int_equal(s.reserved.peak, 4 * MiB);

    a->reset_peak_stats();
    s = a->stats();
    assert_int_equal(s.allocated.peak, 4096);
    assert_int_equal(s.requested.peak, 4096);
    assert_int_equal(s.active.peak, 4096);
    assert_int_equal(s.reserved.peak, 4 * MiB);
    assert_int_equal(s.allocations, 3);  // counters are not peaks
    assert_int_equal(s.frees, 2);

    // From the cache: an allocation but no miss, and new peaks from the reset values. Best
    // fit: the remainder of k's segment (2 MiB - 4 KiB) rather than the free 2 MiB segment.
    Block* m3 = a->allocate(1 * MiB - 100, S(1));
    assert_ptr_equal(P(m3), P(k) + 4096);
    s = a->stats();
    assert_int_equal(s.allocations, 4);
    assert_int_equal(s.cache_misses, 2);
    assert_int_equal(s.segment_allocations, 2);
    assert_int_equal(s.allocated.peak, 1 * MiB + 4096);
    assert_int_equal(s.requested.peak, 1 * MiB - 100 + 4096);

    // The first segment is free again: empty_cache returns it, and only it.
    a->empty_cache();
    s = a->stats();
    assert_int_equal(s.segment_frees, 1);
    assert_int_equal(s.segments, 1);
    assert_int_equal(s.reserved.current, 2 * MiB);
    assert_int_equal(s.reserved.peak, 4 * MiB);
    a->free(m3);
    a->empty_cache();
    assert_int_equal(a->stats().segment_frees, 1);  // k is still live
    a->free(k);
    assert_device_empty(*a, be);
    s = a->stats();
    assert_int_equal(s.allocations, 4);
    assert_int_equal(s.frees, 4);
    assert_int_equal(s.segment_frees, 2);
}

static void test_live_blocks(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    Block* b1 = a->allocate(100, S(1));
    Block* b2 = a->allocate(3 * MiB, S(2));
    Block* b3 = a->allocate(5000, S(1));
    Block* b4 = a->allocate(777, S(3));
    std::vector<Block*> all = {b1, b2, b3, b4};
    std::sort(all.begin(), all.end(), [](Block* x, Block* y) { return P(x) < P(y); });
    std::map<Block*, std::pair<size_t, uint64_t>> want = {
        {b1, {100, 1}}, {b2, {3 * MiB, 2}}, {b3, {5000, 1}}, {b4, {777, 3}}};

    std::vector<LiveBlock> live = a->live_blocks(false);
    assert_int_equal(live.size(), 4);
    assert_int_equal(a->stats().leaked, 0);
    for (size_t i = 0; i < live.size(); i++) {
        assert_ptr_equal(live[i].ptr, P(all[i]));
        assert_int_equal(live[i].size, N(all[i]));
        assert_int_equal(live[i].requested, want[all[i]].first);
        assert_int_equal(live[i].stream_id, want[all[i]].second);
        assert_true(live[i].age_seconds >= 0.0);
    }

    live = a->live_blocks(true);
    assert_int_equal(live.size(), 4);
    assert_int_equal(a->stats().leaked, 4);
    a->free(b2);
    live = a->live_blocks(true);
    assert_int_equal(live.size(), 3);
    assert_int_equal(a->stats().leaked, 7);
    for (size_t i = 1; i < live.size(); i++) assert_true(live[i - 1].ptr < live[i].ptr);

    for (Block* b : {b1, b3, b4}) a->free(b);
    assert_int_equal(a->live_blocks(true).size(), 0);
    assert_int_equal(a->stats().leaked, 7);
    assert_device_empty(*a, be);
}

static void test_unknown_pointers(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);

    // A block handed out for a tensor (not raw) cannot be freed through its pointer.
    Block* owned = a->allocate(4096, S(1));
    assert_false(a->free_ptr(P(owned)));
    assert_false(a->record_stream_ptr(P(owned), S(2)));
    a->free(owned);

    Block* b = a->allocate(4096, S(1), /*raw=*/true);
    char* p = P(b);
    assert_ptr_equal(a->find(p), b);
    assert_null(a->find(p + 512));
    const Stats before = a->stats();
    int local = 0;

    assert_false(a->free_ptr(nullptr));
    assert_false(a->free_ptr(&local));
    assert_false(a->free_ptr(p + 512));   // inside a live block
    assert_false(a->free_ptr(p + 4096));  // the free remainder
    assert_false(a->record_stream_ptr(nullptr, S(2)));
    assert_false(a->record_stream_ptr(&local, S(2)));
    assert_false(a->record_stream_ptr(p + 512, S(2)));
    assert_stats_equal(a->stats(), before);

    // The block itself: no use on stream 2 was recorded, so it is reusable at once.
    assert_true(a->free_ptr(p));
    assert_int_equal(be->events_recorded(), 0);
    assert_false(a->free_ptr(p));  // twice: nothing changes
    assert_false(a->record_stream_ptr(p, S(2)));
    assert_null(a->find(p));
    Stats s = a->stats();
    assert_int_equal(s.frees, 2);  // the tensor-style block above, then this one
    assert_int_equal(s.allocated.current, 0);
    assert_int_equal(s.active_allocations, 0);
    Block* c = a->allocate(4096, S(1));
    assert_ptr_equal(P(c), p);
    a->free(c);
    assert_device_empty(*a, be);
}

/* ---------------------------------------------------------------------------------------------
 * Randomised operation sequences
 * ------------------------------------------------------------------------------------------- */

namespace {

uint64_t test_seed() {
    if (const char* e = std::getenv("APH_TEST_SEED"); e && *e) return std::strtoull(e, nullptr, 0);
    return static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

struct LiveRec {
    Block* block;
    char* ptr;
    size_t size;
    size_t requested;
    uint64_t stream;
    uint64_t tag;
};

size_t random_size(std::mt19937_64& rng) {
    // Log-uniform between 1 B and 8 MiB, with some exact 512 multiples and boundary sizes.
    std::uniform_real_distribution<double> u(0.0, std::log(8.0 * MiB));
    switch (rng() % 10) {
        case 0: return 512 * (1 + rng() % 64);
        case 1: {
            static const size_t edges[] = {1, 511, 512, 513, MiB - 1, MiB, MiB + 1, 10 * MiB - 512, 2 * MiB, 8 * MiB};
            return edges[rng() % (sizeof edges / sizeof edges[0])];
        }
        default: return std::max<size_t>(1, static_cast<size_t>(std::exp(u(rng))));
    }
}

size_t rounded(size_t n) { return (n + 511) / 512 * 512; }

// Writes a tag at both ends of the requested bytes (a block sharing memory with another shows
// up as a clobbered tag).
void write_tag(const LiveRec& r) {
    std::memcpy(r.ptr, &r.tag, std::min<size_t>(8, r.requested));
    if (r.requested >= 16) std::memcpy(r.ptr + r.requested - 8, &r.tag, 8);
}
bool tag_intact(const LiveRec& r) {
    uint64_t x = 0, y = 0;
    std::memcpy(&x, r.ptr, std::min<size_t>(8, r.requested));
    uint64_t want = 0;
    std::memcpy(&want, &r.tag, std::min<size_t>(8, r.requested));
    if (x != want) return false;
    if (r.requested >= 16) {
        std::memcpy(&y, r.ptr + r.requested - 8, 8);
        if (y != r.tag) return false;
    }
    return true;
}

// The shape of a block for its request: exactly the rounded size in the small pool; in the
// large pool at most 1 MiB more (a remainder that was not worth splitting off).
bool size_ok(size_t requested, size_t size) {
    const size_t r = rounded(requested);
    if (r <= MiB) return size == r;
    return size >= r && size - r <= MiB;
}

// Checks the allocator against the live set; returns "" or what is wrong.
std::string check_invariants(CachingAllocator& a, SimulatedBackend* be, std::vector<LiveRec>& live) {
    Stats s = a.stats();
    uint64_t sum = 0, req = 0;
    for (const LiveRec& r : live) {
        sum += r.size;
        req += r.requested;
    }
    if (s.allocated.current != sum)
        return aph::strprintf("allocated %" PRIu64 " != sum of live blocks %" PRIu64, s.allocated.current, sum);
    if (s.requested.current != req)
        return aph::strprintf("requested %" PRIu64 " != sum of requests %" PRIu64, s.requested.current, req);
    if (s.reserved.current != be->live_bytes())
        return aph::strprintf("reserved %" PRIu64 " != backend live %zu", s.reserved.current, be->live_bytes());
    if (s.segments != be->live_regions())
        return aph::strprintf("segments %" PRIu64 " != backend regions %zu", s.segments, be->live_regions());
    if (s.active_allocations != live.size())
        return aph::strprintf("active_allocations %" PRIu64 " != %zu", s.active_allocations, live.size());
    if (s.allocations - s.frees != live.size()) return "allocations - frees != live blocks";
    if (s.active.current < s.allocated.current) return "active < allocated";
    if (s.allocated.current > s.reserved.current) return "allocated > reserved";
    if (s.allocated.peak < s.allocated.current || s.reserved.peak < s.reserved.current ||
        s.active.peak < s.active.current || s.requested.peak < s.requested.current)
        return "a peak below its current value";
    if (be->bad_frees() || be->bad_events()) return "the backend saw a bad free or event";
    std::vector<const LiveRec*> sorted;
    for (const LiveRec& r : live) sorted.push_back(&r);
    std::sort(sorted.begin(), sorted.end(), [](const LiveRec* x, const LiveRec* y) { return x->ptr < y->ptr; });
    for (size_t i = 0; i < sorted.size(); i++) {
        const LiveRec& r = *sorted[i];
        if (reinterpret_cast<uintptr_t>(r.ptr) % 512 != 0) return "a block not 512-aligned";
        if (!be->contains(r.ptr, r.size)) return "a block outside every segment";
        if (!tag_intact(r)) return "a block's contents were overwritten";
        if (i > 0 && sorted[i - 1]->ptr + sorted[i - 1]->size > r.ptr) return "blocks overlap";
    }
    return "";
}

}  // namespace

static void test_random_stress(void**) {
    const uint64_t seed = test_seed();
    std::printf("test_random_stress: seed %" PRIu64 " (APH_TEST_SEED=%" PRIu64 " replays it)\n", seed, seed);
    std::fflush(stdout);
    std::mt19937_64 rng(seed);
    SimulatedBackend* be;
    auto a = make_allocator(&be, 256 * MiB);
    LogCapture log;  // out-of-memory warnings are expected here

    std::vector<LiveRec> live;
    uint64_t next_tag = 1, ooms = 0, records = 0;
    const int kOps = 20000;
    for (int op = 0; op < kOps; op++) {
        const uint64_t dice = rng() % 1000;
        const bool do_alloc = live.empty() || (rng() % 400) >= live.size();
        if (dice < 30 && !live.empty()) {
            // Declare a use on another stream.
            LiveRec& r = live[rng() % live.size()];
            a->record_stream(r.block, S(1 + rng() % 3));
            records++;
        } else if (dice < 60) {
            be->complete_stream(1 + rng() % 3);
        } else if (dice < 63) {
            a->empty_cache();
        } else if (dice < 65) {
            a->reset_peak_stats();
        } else if (do_alloc) {
            const size_t n = random_size(rng);
            const uint64_t st = 1 + rng() % 3;
            const Stats before = a->stats();
            try {
                Block* b = a->allocate(n, S(st), /*raw=*/(rng() % 2) == 0);
                LiveRec r{b, P(b), N(b), n, st, next_tag++ * 0x9E3779B97F4A7C15ULL};
                if (!size_ok(n, r.size)) {
                    fail_msg("seed %" PRIu64 " op %d: %zu bytes got a block of %zu", seed, op, n, r.size);
                }
                write_tag(r);
                live.push_back(r);
            } catch (const aph::Error& e) {
                if (e.status() != APH_ERR_OUT_OF_MEMORY) {
                    fail_msg("seed %" PRIu64 " op %d: %s", seed, op, e.what());
                }
                ooms++;
                const Stats after = a->stats();
                if (after.allocations != before.allocations || after.ooms != before.ooms + 1) {
                    fail_msg("seed %" PRIu64 " op %d: a failed allocation moved the counters", seed, op);
                }
            }
        } else {
            const size_t i = rng() % live.size();
            LiveRec r = live[i];
            if (!tag_intact(r)) fail_msg("seed %" PRIu64 " op %d: block contents clobbered", seed, op);
            if (!CachingAllocator::block_raw(r.block)) {
                a->free(r.block);
            } else if (!a->free_ptr(r.ptr)) {
                fail_msg("seed %" PRIu64 " op %d: free_ptr of a live block returned false", seed, op);
            }
            live[i] = live.back();
            live.pop_back();
        }
        std::string err = check_invariants(*a, be, live);
        if (!err.empty()) fail_msg("seed %" PRIu64 " op %d: %s", seed, op, err.c_str());
    }

    Stats s = a->stats();
    std::printf("test_random_stress: %zu live at the end, %" PRIu64 " out-of-memory, %" PRIu64 " retries, %" PRIu64
                " segments allocated, %" PRIu64 " record_stream\n",
                live.size(), ooms, s.alloc_retries, s.segment_allocations, records);
    assert_int_equal(s.ooms, ooms);
    for (const LiveRec& r : live) a->free(r.block);
    live.clear();
    for (uint64_t st = 1; st <= 3; st++) be->complete_stream(st);
    std::string err = check_invariants(*a, be, live);
    if (!err.empty()) fail_msg("seed %" PRIu64 " at the end: %s", seed, err.c_str());
    assert_device_empty(*a, be);
    assert_int_equal(be->events_recorded(), be->events_destroyed());
}

static void test_threads(void**) {
    const uint64_t seed = test_seed();
    std::printf("test_threads: seed %" PRIu64 "\n", seed);
    std::fflush(stdout);
    SimulatedBackend* be;
    auto a = make_allocator(&be, 1024 * MiB);
    LogCapture log;
    aph_tracker* t = new aph_tracker(0);
    a->set_tracker(t);

    constexpr int kThreads = 4, kOps = 4000;
    std::vector<std::vector<LiveRec>> lives(kThreads);
    std::atomic<int> errors{0};
    std::mutex err_mu;
    std::string first_error;
    auto report = [&](const std::string& e) {
        errors++;
        std::lock_guard lock(err_mu);
        if (first_error.empty()) first_error = e;
    };

    std::vector<std::thread> threads;
    for (int ti = 0; ti < kThreads; ti++) {
        threads.emplace_back([&, ti] {
            std::mt19937_64 rng(seed + 7919 * ti);
            std::vector<LiveRec>& live = lives[ti];
            const uint64_t st = 1 + ti;
            for (int op = 0; op < kOps; op++) {
                const uint64_t dice = rng() % 100;
                if (dice < 3 && !live.empty()) {
                    // A use on another thread's stream, completed by that thread later.
                    a->record_stream(live[rng() % live.size()].block, S(1 + rng() % kThreads));
                } else if (dice < 6) {
                    be->complete_stream(st);
                } else if (dice < 7) {
                    (void)a->stats();
                } else if (live.empty() || (rng() % 100) >= live.size()) {
                    const size_t n = std::min(random_size(rng), 3 * MiB);
                    try {
                        Block* b = a->allocate(n, S(st));
                        LiveRec r{b, P(b), N(b), n, st, (uint64_t(ti) << 56) | uint64_t(op + 1)};
                        if (!size_ok(n, r.size) || reinterpret_cast<uintptr_t>(r.ptr) % 512) {
                            report("a badly shaped block");
                        }
                        write_tag(r);
                        live.push_back(r);
                    } catch (const aph::Error& e) {
                        if (e.status() != APH_ERR_OUT_OF_MEMORY) report(e.what());
                    }
                } else {
                    const size_t i = rng() % live.size();
                    if (!tag_intact(live[i])) report("block contents clobbered by another thread");
                    a->free(live[i].block);
                    live[i] = live.back();
                    live.pop_back();
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    if (errors.load()) fail_msg("%d errors, the first: %s", errors.load(), first_error.c_str());

    std::vector<LiveRec> all;
    for (auto& l : lives) all.insert(all.end(), l.begin(), l.end());
    std::string err = check_invariants(*a, be, all);
    if (!err.empty()) fail_msg("seed %" PRIu64 ": %s", seed, err.c_str());
    uint64_t sum = 0;
    for (const LiveRec& r : all) sum += r.size;
    assert_int_equal(t->allocated(), sum);

    for (const LiveRec& r : all) a->free(r.block);
    all.clear();
    for (uint64_t st = 1; st <= kThreads; st++) be->complete_stream(st);
    assert_int_equal(t->allocated(), 0);
    a->set_tracker(nullptr);
    if (t->refs.release()) delete t;
    assert_device_empty(*a, be);
}

static void test_destructor(void**) {
    SimulatedBackend::Final fin;
    aph_tracker* t = new aph_tracker(0);
    t->refs.retain();  // two references held here
    {
        SimulatedBackend* be;
        auto a = make_allocator(&be);
        be->report_final_state_to(&fin);
        a->set_tracker(t);
        a->set_tracker(t);                            // setting the same tracker again keeps one reference
        Block* live = a->allocate(4096, S(1));        // stays with its owner
        Block* cached = a->allocate(10 * MiB, S(1));  // a whole free segment: returned
        a->free(cached);
        Block* waiting = a->allocate(4096, S(3));  // freed, waiting on stream 2's event
        a->record_stream(waiting, S(2));
        a->free(waiting);
        a->set_tracker(nullptr);
        a->set_tracker(t);
        ignore_leak(live);
        ignore_leak(waiting);  // its event is destroyed, the block itself is not
        ignore_leak(t);
        // The live block still holds a reference to t (charged), as does the allocator.
        assert_int_equal(t->allocated(), 4096);
    }
    assert_int_equal(fin.free_calls, 1);
    assert_int_equal(fin.bad_frees, 0);
    assert_int_equal(fin.live_events, 0);  // the pending event was destroyed
    assert_int_equal(fin.events_destroyed, 1);
    assert_int_equal(fin.live_regions, 2);
    assert_int_equal(fin.live_bytes, 4 * MiB);
    // The allocator gave its reference back; the live block (never freed) keeps one.
    assert_false(t->refs.release());
    assert_false(t->refs.release());
    t->refs.retain();
    if (t->refs.release()) fail_msg("the leaked block's reference to the tracker is gone");
    // (t stays allocated: the leaked block still refers to it.)
}

// Runs a test, turning an exception that escapes it into a test failure (an exception
// unwinding into cmocka's C frames would end the whole run).
template <void (*F)(void**)>
static void guarded(void** state) {
    static char msg[1024];
    msg[0] = '\0';
    try {
        F(state);
    } catch (const std::exception& e) {
        std::snprintf(msg, sizeof msg, "%s", e.what());
    } catch (...) {
        std::snprintf(msg, sizeof msg, "an unknown exception");
    }
    if (msg[0]) fail_msg("unexpected exception: %s", msg);
}
#define TEST(f) \
    { #f, guarded < f>, nullptr, nullptr, nullptr }

// A stream that goes away while a live block has a declared use on it: the use becomes an event
// recorded at retirement, nothing is recorded on the dead stream later, and the block is held
// back until that event completes.
static void test_retire_stream_with_live_uses(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);
    Block* b = a->allocate(4096, S(1));
    char* p = P(b);
    a->record_stream(b, S(9));
    const int before = be->events_recorded();
    a->retire_stream(S(9), S(1));
    const int at_retire = be->events_recorded();
    assert_int_equal(at_retire, before + 2);  // one for the live use, one for the free blocks
    a->free(b);
    assert_int_equal(be->events_recorded(), at_retire);  // nothing recorded on the dead stream
    Block* c = a->allocate(4096, S(1));
    assert_ptr_not_equal(P(c), p);  // still held: stream 9's work may read it
    be->complete_stream(9);
    Block* d = a->allocate(4096, S(1));
    assert_ptr_equal(P(d), p);
    a->free(c);
    a->free(d);
    assert_int_equal(a->stats().active.current, 0);
}

// A stream goes away while a live block has a declared use on it, and the event that should
// stand in for that use cannot be recorded: the block must not come back to the cache when it
// is freed (as in free(), a use that cannot be ordered keeps the block out for good), and
// nothing is recorded on the dead stream later.
static void test_retire_stream_failing_event_keeps_live_use(void**) {
    SimulatedBackend* be;
    auto a = make_allocator(&be);
    LogCapture log;
    Block* b = a->allocate(4096, S(1));
    char* p = P(b);
    a->record_stream(b, S(9));
    be->make_throwing(9);
    try {
        a->retire_stream(S(9), S(1));
    } catch (const aph::Error&) {
        // The stream's own retirement event failed too: the caller logs it.
    }
    const uint64_t recorded = be->events_recorded();
    a->free(b);
    assert_int_equal(be->events_recorded(), recorded);  // nothing recorded on the dead stream
    // Stream 9's work may still read the block: it must not be handed out again.
    Block* c = a->allocate(4096, S(1));
    assert_ptr_not_equal(P(c), p);
    assert_int_equal(a->stats().active.current, 8192);
    ignore_leak(b);
    a->free(c);
}

// A host allocation failure (std::bad_alloc) anywhere inside allocate() must leave everything
// as it was: no budget charge kept, no segment lost, the statistics unchanged, and the device
// empty once the rest is freed. Sweeps the failure over every operator new the call makes, on
// a fresh segment (split) and on a cached block (split).
static void test_allocate_bad_alloc_changes_nothing(void**) {
    for (int mode = 0; mode < 2; mode++) {
        for (long n = 0; n < 40; n++) {
            SimulatedBackend* be;
            auto a = make_allocator(&be);
            aph_tracker* t = new aph_tracker(0);
            a->set_tracker(t);
            if (mode == 1) {  // a cached 2 MiB segment to carve from
                Block* w = a->allocate(8192, S(1));
                a->free(w);
            }
            const Stats before = a->stats();
            const size_t live_before = be->live_bytes();
            bool threw = false;
            Block* b = nullptr;
            g_new_countdown.store(n);
            try {
                b = a->allocate(4096, S(1), /*raw=*/true);
            } catch (const std::bad_alloc&) {
                threw = true;
            }
            g_new_countdown.store(-1);
            if (!threw) {
                a->free(b);
            } else {
                const Stats after = a->stats();
                if (t->allocated() != 0) fail_msg("mode %d, new #%ld: budget charge kept", mode, n);
                if (after.allocations != before.allocations || after.allocated.current != before.allocated.current)
                    fail_msg("mode %d, new #%ld: statistics moved", mode, n);
                if (after.reserved.current != be->live_bytes() || be->live_bytes() != live_before)
                    fail_msg("mode %d, new #%ld: reserved %llu, backend holds %zu (before %zu)", mode, n,
                             (unsigned long long)after.reserved.current, be->live_bytes(), live_before);
                if (!a->live_blocks(false).empty()) fail_msg("mode %d, new #%ld: a block left live", mode, n);
            }
            a->set_tracker(nullptr);
            if (t->refs.release()) delete t;
            a->empty_cache();
            if (be->live_bytes() != 0)
                fail_msg("mode %d, new #%ld: %zu bytes never come back", mode, n, be->live_bytes());
            if (!threw) break;
        }
    }
}

// free() is noexcept and must survive a host allocation failure at any point (before, the
// set insert or the pending-event queue threw through it and ended the process): the block is
// then held for good (never handed out again, its segment stays reserved), and the statistics
// still balance.
static void test_free_bad_alloc_survives(void**) {
    // (A) A block with no free neighbour: caching it needs a new set node.
    for (long n = 0; n < 8; n++) {
        SimulatedBackend* be;
        auto a = make_allocator(&be);
        Block* x = a->allocate(1 << 20, S(1));
        Block* y = a->allocate(1 << 20, S(1));
        assert_ptr_equal(P(y), P(x) + (1 << 20));  // one 2 MiB small segment, both halves out
        char* px = P(x);
        g_new_countdown.store(n);
        a->free(x);
        const bool hit = g_new_countdown.load() == -1;  // the failure fired inside free()
        g_new_countdown.store(-1);
        a->free(y);
        Stats st = a->stats();
        assert_int_equal(st.allocated.current, 0);
        assert_int_equal(st.active_allocations, 0);
        Block* z = a->allocate(1 << 20, S(1));
        // When the insert failed (hit, n == 0), x waited out of the cache and the next call that
        // processes events (stats() above) cached it, merged with y: either way the segment is
        // whole again, x's half is handed out first, and emptying the cache gives it all back
        // (before, a failed insert kept x out of the cache for good: tests/fault/ found it).
        if (n == 0) assert_true(hit);
        assert_ptr_equal(P(z), px);
        a->free(z);
        a->empty_cache();
        assert_int_equal(a->stats().reserved.current, 0);
    }
    // (B) A block with a use on another stream: the event and the pending queue.
    for (long n = 0; n < 8; n++) {
        SimulatedBackend* be;
        auto a = make_allocator(&be);
        Block* w = a->allocate(4096, S(1));
        a->record_stream(w, S(2));
        g_new_countdown.store(n);
        a->free(w);
        g_new_countdown.store(-1);
        be->complete_stream(2);
        be->complete_stream(1);
        Stats st = a->stats();
        assert_int_equal(st.allocated.current, 0);
        assert_int_equal(st.active_allocations, 0);
        Block* v = a->allocate(4096, S(1));  // whatever it gets, it works
        assert_non_null(v);
        a->free(v);
        assert_int_equal(a->stats().allocated.current, 0);
    }
}

// A host allocation failure while a completed stream retirement is processed must not destroy
// the retirement's event and keep using it, nor lose the stream's cached blocks: once memory
// is back, the blocks move to the fallback as usual.
static void test_retire_processing_bad_alloc(void**) {
    for (long n = 0; n < 20; n++) {
        SimulatedBackend* be;
        auto a = make_allocator(&be);
        Block* b = a->allocate(4096, S(5));
        char* p = P(b);
        a->free(b);
        a->retire_stream(S(5), S(1));
        be->complete_stream(5);
        bool threw = false;
        g_new_countdown.store(n);
        try {
            (void)a->stats();
        } catch (const std::bad_alloc&) {
            threw = true;
        }
        g_new_countdown.store(-1);
        (void)a->stats();
        if (be->bad_events() != 0) fail_msg("new #%ld: a destroyed event was used again", n);
        Block* c = a->allocate(4096, S(1));
        if (P(c) != p) fail_msg("new #%ld: stream 5's cached block was lost", n);
        a->free(c);
        a->empty_cache();
        if (be->live_bytes() != 0) fail_msg("new #%ld: %zu bytes never come back", n, be->live_bytes());
        if (!threw) break;
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(test_rounding),
        TEST(test_segment_sizes),
        TEST(test_split_and_coalesce),
        TEST(test_large_split_rule),
        TEST(test_best_fit),
        TEST(test_stream_ordered_reuse),
        TEST(test_record_stream),
        TEST(test_record_stream_inline_and_failing_events),
        TEST(test_borrowed_blocks),
        TEST(test_retire_stream),
        TEST(test_retire_stream_with_live_uses),
        TEST(test_retire_stream_failing_event_keeps_live_use),
        TEST(test_allocate_bad_alloc_changes_nothing),
        TEST(test_free_bad_alloc_survives),
        TEST(test_retire_processing_bad_alloc),
        TEST(test_oom_retry),
        TEST(test_tracker_budget),
        TEST(test_peak_stats_and_counts),
        TEST(test_live_blocks),
        TEST(test_unknown_pointers),
        TEST(test_destructor),
        TEST(test_random_stress),
        TEST(test_threads),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
