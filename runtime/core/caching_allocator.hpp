// The caching allocator behind every device's memory (header section 11), written against a
// small "raw memory" interface so the same logic serves CUDA memory (cudaMalloc), page-locked
// host memory (cudaHostAlloc), CPU memory (aligned malloc) and, in the tests, a simulated device
// of fixed capacity.
//
// Design (after PyTorch's CUDACachingAllocator):
//   - sizes round up to kRound (512) bytes;
//   - requests <= kSmallSize (1 MiB) come from the small pool, carved from kSmallSegment (2 MiB)
//     segments; larger ones from the large pool: < kMinLargeAlloc (10 MiB) from kLargeSegment
//     (20 MiB) segments, bigger ones from segments rounded up to kRoundLarge (2 MiB);
//   - a cached block is split when the remainder is worth keeping (small: >= 512 B,
//     large: > 1 MiB) and free neighbours in a segment coalesce;
//   - free blocks are keyed by the stream they were allocated on and reused only there; uses on
//     other streams (record_stream) hold a freed block back until an event recorded on each of
//     those streams at free time has completed;
//   - a failed segment request frees every completely free cached segment and retries once.
// It also keeps the books of borrowed memory (aph_tensor_from_blob, DLPack imports) on its
// device: the streams it is used on, and its owner's deleter, which waits for that work.
// One mutex guards everything; backend calls happen under it (they are short). No user code
// runs under it: messages logged meanwhile are delivered, and deleters whose work is done are
// run, once it is released (see Lock).
#pragma once

#include "aphelion.h"
#include "log.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace aph::alloc {

// A stream as the allocator sees it: id is unique for the life of the process (the key of the
// free lists); native is what the backend records events on (a cudaStream_t, or nothing).
struct StreamKey {
    uint64_t id = 0;
    void* native = nullptr;
    int32_t ordinal = 0;
    bool operator==(const StreamKey& o) const noexcept { return id == o.id; }
};

// The raw memory under the cache. raw_alloc returns nullptr when memory is exhausted (why says
// what the backend reported) and throws aph::Error for any other failure.
class Backend {
public:
    virtual ~Backend() = default;
    virtual void* raw_alloc(size_t bytes, std::string& why) = 0;
    virtual void raw_free(void* ptr, size_t bytes) noexcept = 0;
    // An event marking the current end of stream, or nullptr when the stream has no pending
    // work (CPU streams run inline). Throws on failure.
    virtual void* record_event(const StreamKey& stream) = 0;
    virtual bool event_done(void* event) = 0;
    virtual void destroy_event(void* event) noexcept = 0;
    // "free F of total T bytes" for out-of-memory messages ("" if unknown).
    virtual std::string capacity_note() { return ""; }
};

constexpr size_t kRound = 512;
constexpr size_t kSmallSize = size_t{1} << 20;
constexpr size_t kSmallSegment = size_t{2} << 20;
constexpr size_t kLargeSegment = size_t{20} << 20;
constexpr size_t kMinLargeAlloc = size_t{10} << 20;
constexpr size_t kRoundLarge = size_t{2} << 20;

struct Stat {
    uint64_t current = 0, peak = 0;
    void add(uint64_t n) noexcept {
        current += n;
        if (current > peak) peak = current;
    }
    void sub(uint64_t n) noexcept { current -= n; }
};

struct Stats {
    Stat allocated, reserved, active, requested;
    uint64_t allocations = 0, frees = 0, segment_allocations = 0, segment_frees = 0, cache_misses = 0,
             alloc_retries = 0, ooms = 0, leaked = 0, active_allocations = 0, segments = 0;
};

struct Block;

// What the leak report says about a live block.
struct LiveBlock {
    void* ptr;
    size_t size;
    size_t requested;
    uint64_t stream_id;
    double age_seconds;
};

class CachingAllocator {
public:
    // label names the memory in messages ("cuda:0", "cpu", "pinned host").
    CachingAllocator(std::unique_ptr<Backend> backend, std::string label);
    ~CachingAllocator();
    CachingAllocator(const CachingAllocator&) = delete;
    CachingAllocator& operator=(const CachingAllocator&) = delete;

    // A block of at least bytes bytes for use on stream; nullptr for 0 bytes. Charges the
    // attached tracker. Throws APH_ERR_OUT_OF_MEMORY (tracker's message or the device's).
    // raw: handed out by pointer (aph_device_allocate); only raw blocks can be freed or given
    // stream uses through their pointer, and only they appear in the leak report.
    Block* allocate(size_t bytes, const StreamKey& stream, bool raw = false);
    void free(Block* block) noexcept;
    // Frees the live raw block starting at ptr; false (nothing changes) when there is none.
    bool free_ptr(void* ptr) noexcept;
    // record_stream for the live block starting at ptr; false when there is none.
    bool record_stream_ptr(void* ptr, const StreamKey& stream);
    // Declares a use of block on stream (ignored for its own stream).
    void record_stream(Block* block, const StreamKey& stream);

    // The live raw block starting at ptr, or nullptr.
    Block* find(void* ptr);

    void empty_cache();
    // Frees that were waiting for events: check them now. Deleters of borrowed memory whose
    // work is done run before this returns, on this thread, unless run_deleters is false: they
    // then stay queued for the next call that runs them (run_deleters() or any other).
    void process_events(bool run_deleters = true);
    // Runs the deleters that process_events(false) left queued.
    void run_deleters();
    Stats stats();
    void reset_peak_stats();

    // The tracker later allocations are charged to (retained); nullptr detaches.
    void set_tracker(aph_tracker* tracker);
    // A new reference to the attached tracker (nullptr when none), taken under the lock, so a
    // concurrent set_tracker cannot free it under the caller.
    aph_tracker* tracker();

    // The stream is going away: its cached free blocks move to fallback once an event recorded
    // now on the stream completes, and live blocks that declared uses on it get that event in
    // place of the use (so nothing is ever recorded on the dead stream).
    void retire_stream(const StreamKey& stream, const StreamKey& fallback);

    // Live blocks (raw ones only when raw_only); counts them as leaked when count_as_leaked.
    std::vector<LiveBlock> live_blocks(bool count_as_leaked, bool raw_only = false);

    // Borrowed memory: a block outside every segment, pool and statistic that only collects
    // the streams the memory is used on (record_stream and retire_stream treat it as they treat
    // owned blocks; every stream counts, the default one included, since the deleter is not
    // stream-ordered). Throws std::bad_alloc.
    Block* borrow(void* ptr, size_t bytes, int32_t ordinal);
    // The borrowed memory's last reference went: deleter(user_data, data) runs exactly once,
    // after the work queued (by now) on every stream it was used on has completed. When none is
    // pending it runs before this returns, on this thread. Otherwise it waits, and runs on the
    // first thread that finds the work done: a later call here that processes events
    // (allocate, process_events, stats, empty_cache) or whatever the deferred hook wakes. It
    // never runs with the lock held. If an event cannot be recorded or tracked (a device error,
    // no host memory) the work cannot be waited for: the deleter is then never called (logged
    // at error level), since the memory may still be in use. deleter may be NULL.
    void release_borrowed(Block* b, aph_deleter deleter, void* data, void* user_data) noexcept;
    // Borrowed blocks released whose deleter still waits for work.
    size_t deferred_deleters();
    // Called (outside the lock, on the releasing thread) each time a deleter starts waiting,
    // with this allocator: e.g. to wake a thread that calls process_events() until
    // deferred_deleters() is 0. Set once, before the allocator is shared.
    void set_deferred_hook(void (*hook)(CachingAllocator*)) noexcept { deferred_hook_ = hook; }

    static void* block_ptr(const Block* b) noexcept;
    static size_t block_size(const Block* b) noexcept;
    static bool block_raw(const Block* b) noexcept;

private:
    // The allocator's lock, taken by every public method. Declared in this order, a Defer
    // holds back what is logged under the lock, the lock is released, then the deleters that
    // became ready run and the deferred hook is called (all on this thread), and only then the
    // held messages are delivered: no user callback ever runs under the lock.
    class Lock {
    public:
        explicit Lock(CachingAllocator& a, bool run_ready = true) : a_(a), run_ready_(run_ready), lock_(a.mutex_) {}
        ~Lock();
        Lock(const Lock&) = delete;
        Lock& operator=(const Lock&) = delete;

    private:
        CachingAllocator& a_;
        bool run_ready_;
        log::Defer defer_;
        std::unique_lock<std::mutex> lock_;
    };

    struct BlockLess {
        bool operator()(const Block* a, const Block* b) const noexcept;
    };
    using Pool = std::set<Block*, BlockLess>;
    struct Pending {
        void* event;
        Block* block;
    };

    static size_t round_size(size_t bytes) noexcept;
    static size_t segment_size(size_t rounded) noexcept;
    static bool should_split(const Block* b, size_t rounded) noexcept;

    Pool& pool_for(size_t rounded) { return rounded <= kSmallSize ? small_ : large_; }
    Block* find_free(Pool& pool, const StreamKey& stream, size_t rounded);
    void insert_free(Block* b);  // coalesces with free neighbours, then pools (never throws
                                 // for lack of host memory: the block is then held)
    void free_block_locked(Block* b);
    void free_locked(Block* b) noexcept;
    void record_stream_locked(Block* b, const StreamKey& stream);
    void process_events_locked();
    size_t release_free_segments_locked(const StreamKey* only_stream);
    void* raw_alloc_with_retry(size_t bytes, std::string& why);
    [[noreturn]] void throw_oom(size_t requested, size_t rounded, const std::string& why);

    std::unique_ptr<Backend> backend_;
    std::string label_;
    std::mutex mutex_;
    Pool small_, large_;
    Block* new_block();
    void recycle(Block* b) noexcept;
    void link_held(Block* b) noexcept;
    // An event on s for a use of b, or nullptr (no work pending on s, or recording failed: b is
    // then held for good; logged). what names b in the log line.
    void* record_use_event_locked(Block* b, const StreamKey& s, const char* what) noexcept;
    // Queues ev as a use b waits for before reuse; on host memory exhaustion b stays held.
    void add_pending_locked(void* ev, Block* b) noexcept;
    void link_live(Block* b) noexcept;
    void unlink_live(Block* b) noexcept;

    Block* live_head_ = nullptr;             // every live block (intrusive list)
    Block* held_head_ = nullptr;             // freed blocks held for good (freed at the end)
    Block* uncached_head_ = nullptr;         // free blocks not cached yet (no host memory)
    void cache_uncached_locked() noexcept;   // caches them (called when events are processed)
    std::unordered_map<void*, Block*> raw_;  // live raw blocks by address
    std::vector<Block*> spare_;              // recycled Block objects
    std::deque<Pending> pending_;
    // Free blocks of retired streams waiting for the stream's last event; moved to fallback.
    struct Retired {
        void* event;
        StreamKey from;
        StreamKey to;
    };
    std::vector<Retired> retired_;
    std::unordered_map<uint64_t, StreamKey> retired_done_;  // dead stream id -> fallback
    Block* ready_head_ = nullptr;                           // borrowed blocks whose deleter may run (via live_next)
    size_t deferred_ = 0;                                   // borrowed blocks released, deleter waiting for events
    bool wake_ = false;                                     // a deleter started waiting: call deferred_hook_
    void (*deferred_hook_)(CachingAllocator*) = nullptr;
    // A borrowed block whose last event completed (waited: it was counted in deferred_): its
    // deleter joins the ready list (or, for a held block, whose use could not be waited for,
    // the block just goes).
    void borrowed_done_locked(Block* b, bool waited) noexcept;
    // Runs the deleters of a ready list and deletes its blocks (no lock held).
    static void run_ready(Block* list) noexcept;
    Stats stats_;
    aph_tracker* tracker_ = nullptr;
};

}  // namespace aph::alloc
