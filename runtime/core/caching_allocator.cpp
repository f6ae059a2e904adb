#include "caching_allocator.hpp"

#include "error.hpp"
#include "fault.hpp"
#include "log.hpp"
#include "tracker.hpp"

#include <algorithm>
#include <ctime>

namespace aph::alloc {

struct Block {
    char* ptr = nullptr;
    size_t size = 0;       // bytes of this block
    size_t requested = 0;  // what the caller asked for (while allocated)
    StreamKey stream;      // the stream it was allocated on (free-list key)
    bool small = false;    // which pool
    bool allocated = false;
    bool raw = false;               // handed out by pointer
    int event_count = 0;            // events still to complete before it is free
    bool held = false;              // out of the cache for good: a use could not be ordered (an
                                    // event failed) or host memory ran out; on held_head_ once freed
    bool uncached = false;          // free, but host memory ran out while caching it: on
                                    // uncached_head_ until the next call caches it
                                    // (a borrowed block is never freed: its deleter never runs)
    bool borrowed = false;          // borrowed memory (borrow()): no segment, pool or statistic
    aph_deleter deleter = nullptr;  // borrowed, released: what runs once its events completed
    void* deleter_data = nullptr;
    void* deleter_user_data = nullptr;
    Block* prev = nullptr;  // neighbours in the same segment
    Block* next = nullptr;
    std::vector<StreamKey> uses;      // other streams it was used on
    std::vector<void*> retired_uses;  // events recorded when a used stream went away
    aph_tracker* charged = nullptr;
    uint64_t born_ns = 0;        // CLOCK_MONOTONIC_COARSE at allocation (for the leak report)
    Block* live_prev = nullptr;  // the allocator's list of live blocks (while allocated), or
    Block* live_next = nullptr;  // of held blocks once freed (live_next only)

    // Every field back to its default, keeping the vectors' capacity (recycling is on the hit
    // path: no allocation, no deallocation).
    void reset() noexcept {
        std::vector<StreamKey> u = std::move(uses);
        std::vector<void*> r = std::move(retired_uses);
        u.clear();
        r.clear();
        *this = Block();
        uses = std::move(u);
        retired_uses = std::move(r);
    }
};

namespace {

constexpr const char* kTarget = "aphelion::memory";

// The stream key of borrowed blocks: no stream has it, so every stream's use is recorded.
constexpr uint64_t kBorrowedStream = UINT64_MAX;

// A coarse clock (a few ns through the vDSO, millisecond resolution): ages in leak reports do
// not need more, and the allocation hit path cannot afford a precise clock read.
uint64_t coarse_now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Gives a tracker charge back; the amounts always balance, so a failure cannot happen short of
// a tracker reset by the user, which is logged rather than thrown from a free.
void uncharge(aph_tracker* t, size_t bytes) noexcept {
    if (t == nullptr) return;
    try {
        t->deallocate(bytes);
    } catch (const std::exception& e) {
        log::logf(APH_LOG_WARN, kTarget, "tracker could not take back %zu bytes: %s", bytes, e.what());
    }
    if (t->refs.release()) delete t;
}

}  // namespace

bool CachingAllocator::BlockLess::operator()(const Block* a, const Block* b) const noexcept {
    if (a->stream.id != b->stream.id) return a->stream.id < b->stream.id;
    if (a->size != b->size) return a->size < b->size;
    return a->ptr < b->ptr;
}

CachingAllocator::CachingAllocator(std::unique_ptr<Backend> backend, std::string label)
    : backend_(std::move(backend)), label_(std::move(label)) {}

CachingAllocator::~CachingAllocator() {
    Block* ready = nullptr;
    {
        std::lock_guard lock(mutex_);
        ready = ready_head_;
        ready_head_ = nullptr;
    }
    run_ready(ready);
    std::lock_guard lock(mutex_);
    // Borrowed blocks still waiting: their deleters never run (the work may still use the
    // memory); only the bookkeeping goes.
    std::set<Block*> waiting;
    for (auto& p : pending_) {
        if (p.block->borrowed) waiting.insert(p.block);
    }
    for (Block* b : waiting) delete b;
    for (auto& p : pending_) backend_->destroy_event(p.event);
    for (auto& r : retired_) backend_->destroy_event(r.event);
    for (Block* b = live_head_; b; b = b->live_next) {
        for (void* ev : b->retired_uses) backend_->destroy_event(ev);
    }
    // Free segments only; memory still handed out stays with its owner.
    for (Pool* pool : {&small_, &large_}) {
        for (Block* b : *pool) {
            if (b->prev == nullptr && b->next == nullptr) backend_->raw_free(b->ptr, b->size);
            delete b;
        }
        pool->clear();
    }
    for (Block* head : {held_head_, uncached_head_}) {
        for (Block* b = head; b;) {
            Block* next = b->live_next;
            if (b->prev == nullptr && b->next == nullptr) backend_->raw_free(b->ptr, b->size);
            delete b;
            b = next;
        }
    }
    for (Block* b : spare_) delete b;
    if (tracker_ && tracker_->refs.release()) delete tracker_;
}

Block* CachingAllocator::new_block() {
    if (spare_.empty()) return new Block();
    Block* b = spare_.back();
    spare_.pop_back();
    return b;
}

void CachingAllocator::recycle(Block* b) noexcept {
    b->reset();
    try {
        spare_.push_back(b);
    } catch (...) {
        delete b;
    }
}

void CachingAllocator::link_live(Block* b) noexcept {
    b->live_prev = nullptr;
    b->live_next = live_head_;
    if (live_head_) live_head_->live_prev = b;
    live_head_ = b;
}

void CachingAllocator::link_held(Block* b) noexcept {
    b->live_prev = nullptr;
    b->live_next = held_head_;
    held_head_ = b;
}

void CachingAllocator::unlink_live(Block* b) noexcept {
    if (b->live_prev) b->live_prev->live_next = b->live_next;
    else
        live_head_ = b->live_next;
    if (b->live_next) b->live_next->live_prev = b->live_prev;
    b->live_prev = b->live_next = nullptr;
}

void* CachingAllocator::block_ptr(const Block* b) noexcept { return b ? b->ptr : nullptr; }
size_t CachingAllocator::block_size(const Block* b) noexcept { return b ? b->size : 0; }
bool CachingAllocator::block_raw(const Block* b) noexcept { return b && b->raw; }

size_t CachingAllocator::round_size(size_t bytes) noexcept {
    if (bytes < kRound) return kRound;
    return kRound * ((bytes + kRound - 1) / kRound);
}

size_t CachingAllocator::segment_size(size_t rounded) noexcept {
    if (rounded <= kSmallSize) return kSmallSegment;
    if (rounded < kMinLargeAlloc) return kLargeSegment;
    return kRoundLarge * ((rounded + kRoundLarge - 1) / kRoundLarge);
}

bool CachingAllocator::should_split(const Block* b, size_t rounded) noexcept {
    const size_t remaining = b->size - rounded;
    return b->small ? remaining >= kRound : remaining > kSmallSize;
}

Block* CachingAllocator::find_free(Pool& pool, const StreamKey& stream, size_t rounded) {
    Block key;
    key.stream = stream;
    key.size = rounded;
    key.ptr = nullptr;
    auto it = pool.lower_bound(&key);
    if (it == pool.end() || (*it)->stream.id != stream.id) return nullptr;
    return *it;
}

void CachingAllocator::insert_free(Block* b) {
    // A block of a stream that has gone away (and whose work is done) joins the fallback.
    if (!retired_done_.empty()) {
        if (auto it = retired_done_.find(b->stream.id); it != retired_done_.end()) b->stream = it->second;
    }
    // Try to merge with free neighbours of the same stream; the merged block keeps the lower
    // address.
    Pool& pool = b->small ? small_ : large_;
    Pool::node_type node;  // a set node freed by a merge, reused for b (no allocation)
    for (Block* n : {b->prev, b->next}) {
        if (n == nullptr || n->allocated || n->event_count > 0 || n->held || n->uncached ||
            n->stream.id != b->stream.id) {
            continue;
        }
        node = pool.extract(n);
        if (n == b->prev) {
            b->ptr = n->ptr;
            b->prev = n->prev;
            if (b->prev) b->prev->next = b;
        } else {
            b->next = n->next;
            if (b->next) b->next->prev = b;
        }
        b->size += n->size;
        recycle(n);
    }
    if (node) {
        node.value() = b;
        pool.insert(std::move(node));
        return;
    }
    try {
        pool.insert(b);  // the one allocation here (a set node); free() must survive it failing
    } catch (const std::exception& e) {
        // Out of host memory: the block cannot be cached now. It waits, out of every pool
        // (neighbours do not merge with it), on a list that needs no allocation, and the next
        // call that processes events caches it (so its segment can be given back again).
        b->uncached = true;
        b->live_prev = nullptr;
        b->live_next = uncached_head_;
        uncached_head_ = b;
        log::logf(APH_LOG_WARN, kTarget,
                  "%s: could not cache a freed block of %zu bytes yet (%s); "
                  "retried at the next allocation",
                  label_.c_str(), b->size, e.what());
    }
}

void CachingAllocator::cache_uncached_locked() noexcept {
    Block* list = uncached_head_;
    uncached_head_ = nullptr;
    while (list) {
        Block* b = list;
        list = b->live_next;
        b->live_next = nullptr;
        b->uncached = false;
        insert_free(b);  // back on the list if host memory is still short
    }
}

void CachingAllocator::free_block_locked(Block* b) {
    stats_.active.sub(b->size);
    b->uses.clear();
    insert_free(b);
}

void CachingAllocator::process_events_locked() {
    if (uncached_head_) cache_uncached_locked();
    while (!pending_.empty() || !retired_.empty()) {
        bool progressed = false;
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (backend_->event_done(it->event)) {
                backend_->destroy_event(it->event);
                Block* b = it->block;
                it = pending_.erase(it);
                if (--b->event_count == 0) {
                    if (b->borrowed) borrowed_done_locked(b, !b->held);
                    else if (!b->held)
                        free_block_locked(b);
                }
                progressed = true;
            } else {
                ++it;
            }
        }
        for (auto it = retired_.begin(); it != retired_.end();) {
            if (it->event == nullptr || backend_->event_done(it->event)) {
                // What can throw first (nothing has changed yet), then the changes, which cannot.
                std::vector<Block*> moved;
                for (Pool* pool : {&small_, &large_}) {
                    for (Block* b : *pool)
                        if (b->stream.id == it->from.id) moved.push_back(b);
                }
                retired_done_[it->from.id] = it->to;
                if (it->event) backend_->destroy_event(it->event);
                // Move the retired stream's free blocks to the fallback stream (re-keyed through
                // their own set nodes: no allocation).
                for (Block* b : moved) {
                    Pool& pool = b->small ? small_ : large_;
                    auto node = pool.extract(b);
                    b->stream = it->to;
                    pool.insert(std::move(node));
                }
                it = retired_.erase(it);
                progressed = true;
            } else {
                ++it;
            }
        }
        if (!progressed) break;
    }
}

void CachingAllocator::process_events(bool run_deleters) {
    Lock lock(*this, run_deleters);
    process_events_locked();
}

void CachingAllocator::run_deleters() {
    Lock lock(*this);  // its release runs them
}

size_t CachingAllocator::release_free_segments_locked(const StreamKey* only_stream) {
    size_t released = 0;
    for (Pool* pool : {&small_, &large_}) {
        for (auto it = pool->begin(); it != pool->end();) {
            Block* b = *it;
            const bool whole = b->prev == nullptr && b->next == nullptr;
            if (whole && (only_stream == nullptr || b->stream.id == only_stream->id)) {
                it = pool->erase(it);
                backend_->raw_free(b->ptr, b->size);
                stats_.reserved.sub(b->size);
                stats_.segment_frees++;
                stats_.segments--;
                released += b->size;
                recycle(b);
            } else {
                ++it;
            }
        }
    }
    return released;
}

// A segment from the backend; in fault-injection builds (tests only) the request may be refused
// as the backend refuses one when memory is exhausted.
static void* backend_alloc(Backend& backend, size_t bytes, std::string& why) {
    if (fault::inject(fault::kDevice)) {
        why = "fault injected";
        return nullptr;
    }
    return backend.raw_alloc(bytes, why);
}

void* CachingAllocator::raw_alloc_with_retry(size_t bytes, std::string& why) {
    if (void* p = backend_alloc(*backend_, bytes, why)) return p;
    // Out of memory: hand back what the cache holds and try again.
    process_events_locked();
    if (release_free_segments_locked(nullptr) == 0) return nullptr;
    stats_.alloc_retries++;
    why.clear();
    return backend_alloc(*backend_, bytes, why);
}

void CachingAllocator::throw_oom(size_t requested, size_t rounded, const std::string& why) {
    stats_.ooms++;
    std::string note = backend_->capacity_note();
    std::string msg = strprintf("%s: tried to allocate %zu bytes (%zu rounded); %llu bytes allocated, %llu reserved by "
                                "libaphelion",
                                label_.c_str(), requested, rounded,
                                static_cast<unsigned long long>(stats_.allocated.current),
                                static_cast<unsigned long long>(stats_.reserved.current));
    if (!note.empty()) msg += "; " + note;
    if (!why.empty()) msg += " (" + why + ")";
    log::logf(APH_LOG_WARN, kTarget, "out of memory: %s", msg.c_str());
    throw out_of_memory(msg);
}

Block* CachingAllocator::allocate(size_t bytes, const StreamKey& stream, bool raw) {
    if (bytes == 0) return nullptr;
    if (bytes > (SIZE_MAX >> 2)) {
        throw out_of_memory(
            strprintf("%s: tried to allocate %zu bytes, more than any device has", label_.c_str(), bytes));
    }
    Lock lock(*this);
    process_events_locked();
    const size_t rounded = round_size(bytes);
    const bool small = rounded <= kSmallSize;
    Pool& pool = pool_for(rounded);

    Block* block = find_free(pool, stream, rounded);
    const bool found = block != nullptr;
    // Whether the block handed out is split off a larger one, and the size handed out (and
    // charged): the whole block unless it is split.
    size_t seg = 0;
    bool split;
    if (found) {
        split = should_split(block, rounded);
    } else {
        seg = segment_size(rounded);
        Block probe;
        probe.small = small;
        probe.size = seg;
        split = should_split(&probe, rounded);
    }
    const size_t final_size = split ? rounded : (found ? block->size : seg);

    // The budget first: a refusal changes nothing.
    aph_tracker* t = tracker_;
    if (t) t->allocate(final_size);

    // Everything that can fail (the segment, Block objects, set and map nodes) happens before
    // the first change to the cache, and is undone if any of it fails.
    void* p = nullptr;       // a new segment
    Block* fresh = nullptr;  // its Block
    Block* rest = nullptr;   // the split-off remainder
    char* base = nullptr;    // the address handed out
    bool mapped = false;     // raw_ holds base
    try {
        if (!found) {
            fresh = new_block();
            std::string why;
            p = raw_alloc_with_retry(seg, why);
            if (p == nullptr) throw_oom(bytes, rounded, why);
        }
        if (split) rest = new_block();
        base = found ? block->ptr : static_cast<char*>(p);
        if (raw) {
            raw_.emplace(base, found ? block : fresh);
            mapped = true;
        }
        if (!found && split) {
            // Keyed fields only; linked below. (A found block's set node is reused instead.)
            rest->ptr = base + rounded;
            rest->size = seg - rounded;
            rest->small = small;
            rest->stream = stream;
            pool.insert(rest);
        }
    } catch (...) {
        if (mapped) raw_.erase(base);
        if (p) backend_->raw_free(p, seg);
        if (fresh) recycle(fresh);
        if (rest) recycle(rest);
        if (t) {
            try {
                t->deallocate(final_size);
            } catch (const std::exception& e) {
                log::logf(APH_LOG_WARN, kTarget, "tracker could not take back %zu bytes: %s", final_size, e.what());
            }
        }
        throw;
    }

    // From here on nothing can fail.
    if (!found) {
        block = fresh;
        block->ptr = static_cast<char*>(p);
        block->size = seg;
        block->small = small;
        block->stream = stream;
        stats_.reserved.add(seg);
        stats_.segment_allocations++;
        stats_.segments++;
        stats_.cache_misses++;
    }
    if (split) {
        Pool::node_type node;  // the found block's set node, reused for the remainder
        if (found) {
            node = pool.extract(block);
            rest->ptr = block->ptr + rounded;
            rest->size = block->size - rounded;
            rest->small = block->small;
            rest->stream = block->stream;
        }
        rest->prev = block;
        rest->next = block->next;
        if (rest->next) rest->next->prev = rest;
        block->next = rest;
        block->size = rounded;
        if (found) {
            node.value() = rest;
            pool.insert(std::move(node));
        }
    } else if (found) {
        pool.erase(block);
    }

    block->allocated = true;
    block->raw = raw;
    block->requested = bytes;
    block->charged = t;
    if (t) t->refs.retain();
    block->born_ns = coarse_now_ns();
    link_live(block);
    stats_.allocated.add(block->size);
    stats_.active.add(block->size);
    stats_.requested.add(bytes);
    stats_.allocations++;
    stats_.active_allocations++;
    return block;
}

void CachingAllocator::free(Block* b) noexcept {
    if (b == nullptr) return;
    Lock lock(*this);
    free_locked(b);
}

bool CachingAllocator::free_ptr(void* ptr) noexcept {
    Lock lock(*this);
    auto it = raw_.find(ptr);
    if (it == raw_.end()) return false;
    free_locked(it->second);
    return true;
}

bool CachingAllocator::record_stream_ptr(void* ptr, const StreamKey& stream) {
    Lock lock(*this);
    auto it = raw_.find(ptr);
    if (it == raw_.end()) return false;
    record_stream_locked(it->second, stream);
    return true;
}

void CachingAllocator::free_locked(Block* b) noexcept {
    unlink_live(b);
    if (b->raw) raw_.erase(b->ptr);
    b->allocated = false;
    stats_.allocated.sub(b->size);
    stats_.requested.sub(b->requested);
    stats_.frees++;
    stats_.active_allocations--;
    uncharge(b->charged, b->size);
    b->charged = nullptr;
    b->requested = 0;
    b->raw = false;
    // Events recorded when streams it was used on went away.
    for (void* ev : b->retired_uses) add_pending_locked(ev, b);
    b->retired_uses.clear();
    // Uses on other streams: the block waits for an event on each.
    for (const StreamKey& s : b->uses) {
        if (void* ev = record_use_event_locked(b, s, "a freed block")) add_pending_locked(ev, b);
    }
    if (b->held) link_held(b);
    else if (b->event_count == 0)
        free_block_locked(b);
}

void* CachingAllocator::record_use_event_locked(Block* b, const StreamKey& s, const char* what) noexcept {
    try {
        return backend_->record_event(s);
    } catch (const std::exception& e) {
        // Cannot order the reuse after s's work: the block stays out of the cache for good
        // (once freed), and the caller goes on.
        b->held = true;
        log::logf(APH_LOG_WARN, kTarget, "%s: could not record an event for %s (%s); %zu bytes stay unavailable",
                  label_.c_str(), what, e.what(), b->size);
        return nullptr;
    }
}

void CachingAllocator::add_pending_locked(void* ev, Block* b) noexcept {
    try {
        pending_.push_back({ev, b});
        b->event_count++;
    } catch (const std::exception& e) {
        b->held = true;
        // Out of host memory: without its event the reuse cannot be ordered, so the block stays
        // held for good; the event itself is given back.
        log::logf(APH_LOG_ERROR, kTarget,
                  "%s: could not track the event of a freed block of %zu bytes "
                  "(%s); it stays reserved and unavailable",
                  label_.c_str(), b->size, e.what());
        try {
            backend_->destroy_event(ev);
        } catch (...) {
        }
    }
}

void CachingAllocator::record_stream(Block* b, const StreamKey& stream) {
    if (b == nullptr) return;
    Lock lock(*this);
    record_stream_locked(b, stream);
}

void CachingAllocator::record_stream_locked(Block* b, const StreamKey& stream) {
    if (stream.id == b->stream.id) return;
    for (const StreamKey& s : b->uses)
        if (s.id == stream.id) return;
    b->uses.push_back(stream);
}

Block* CachingAllocator::find(void* ptr) {
    Lock lock(*this);
    auto it = raw_.find(ptr);
    return it == raw_.end() ? nullptr : it->second;
}

void CachingAllocator::empty_cache() {
    Lock lock(*this);
    process_events_locked();
    release_free_segments_locked(nullptr);
}

Stats CachingAllocator::stats() {
    Lock lock(*this);
    process_events_locked();
    return stats_;
}

void CachingAllocator::reset_peak_stats() {
    Lock lock(*this);
    for (Stat* s : {&stats_.allocated, &stats_.reserved, &stats_.active, &stats_.requested}) {
        s->peak = s->current;
    }
}

void CachingAllocator::set_tracker(aph_tracker* tracker) {
    if (tracker) tracker->refs.retain();
    aph_tracker* old;
    {
        Lock lock(*this);
        old = tracker_;
        tracker_ = tracker;
    }
    if (old && old->refs.release()) delete old;
}

aph_tracker* CachingAllocator::tracker() {
    Lock lock(*this);
    if (tracker_) tracker_->refs.retain();
    return tracker_;
}

void CachingAllocator::retire_stream(const StreamKey& stream, const StreamKey& fallback) {
    Lock lock(*this);
    // Live blocks used on this stream: replace the use with an event recorded now.
    for (Block* b = live_head_; b; b = b->live_next) {
        auto it = std::find_if(b->uses.begin(), b->uses.end(), [&](const StreamKey& u) { return u.id == stream.id; });
        if (it == b->uses.end()) continue;
        b->retired_uses.reserve(b->retired_uses.size() + 1);  // so the push below cannot throw
        void* ev = record_use_event_locked(b, stream, "a block used on a retired stream");
        b->uses.erase(it);
        if (ev) b->retired_uses.push_back(ev);
    }
    void* ev = backend_->record_event(stream);
    retired_.push_back({ev, stream, fallback});
    process_events_locked();
}

std::vector<LiveBlock> CachingAllocator::live_blocks(bool count_as_leaked, bool raw_only) {
    Lock lock(*this);
    std::vector<LiveBlock> out;
    const uint64_t now = coarse_now_ns();
    for (const Block* b = live_head_; b; b = b->live_next) {
        if (b->borrowed || (raw_only && !b->raw)) continue;
        out.push_back(
            {b->ptr, b->size, b->requested, b->stream.id, static_cast<double>(now - std::min(now, b->born_ns)) * 1e-9});
    }
    std::sort(out.begin(), out.end(), [](const LiveBlock& a, const LiveBlock& b) { return a.ptr < b.ptr; });
    if (count_as_leaked) stats_.leaked += out.size();
    return out;
}

// ---------------------------------------------------------------------------------------------
// Borrowed memory
// ---------------------------------------------------------------------------------------------

CachingAllocator::Lock::~Lock() {
    Block* ready = nullptr;
    if (run_ready_) {
        ready = a_.ready_head_;
        a_.ready_head_ = nullptr;
    }
    const bool wake = a_.wake_;
    a_.wake_ = false;
    void (*hook)(CachingAllocator*) = a_.deferred_hook_;
    lock_.unlock();
    run_ready(ready);
    if (wake && hook) hook(&a_);
    // defer_ goes last: the messages logged under the lock are delivered now.
}

void CachingAllocator::run_ready(Block* list) noexcept {
    while (list) {
        Block* b = list;
        list = b->live_next;
        if (b->deleter) {
            try {
                invoke_callback([b] { b->deleter(b->deleter_user_data, b->deleter_data); });
            } catch (...) {
                // A C++ deleter that throws must not unwind through the library.
            }
        }
        delete b;
    }
}

Block* CachingAllocator::borrow(void* ptr, size_t bytes, int32_t ordinal) {
    auto* b = new Block();
    b->ptr = static_cast<char*>(ptr);
    b->size = bytes;
    b->borrowed = true;
    b->allocated = true;
    b->stream = StreamKey{kBorrowedStream, nullptr, ordinal};
    Lock lock(*this);
    link_live(b);
    return b;
}

void CachingAllocator::release_borrowed(Block* b, aph_deleter deleter, void* data, void* user_data) noexcept {
    if (b == nullptr) return;
    Lock lock(*this);
    unlink_live(b);
    b->allocated = false;
    b->deleter = deleter;
    b->deleter_data = data;
    b->deleter_user_data = user_data;
    // Events recorded when streams it was used on went away, and one now on every stream it is
    // still used on: the deleter waits for all of them.
    for (void* ev : b->retired_uses) add_pending_locked(ev, b);
    b->retired_uses.clear();
    for (const StreamKey& s : b->uses) {
        if (void* ev = record_use_event_locked(b, s, "borrowed memory")) add_pending_locked(ev, b);
    }
    b->uses.clear();
    if (b->event_count == 0) {
        borrowed_done_locked(b, false);
        return;
    }
    if (!b->held) {
        deferred_++;
        // Work that is already done need not wait for a later poll.
        try {
            process_events_locked();
        } catch (const std::exception&) {
            // No host memory to process the other events now: a later poll does it.
        }
        if (b->event_count > 0) wake_ = true;
    }
}

void CachingAllocator::borrowed_done_locked(Block* b, bool waited) noexcept {
    if (waited) deferred_--;
    if (b->held) {
        // Some use could not be waited for: the memory may still be in use, so its owner never
        // gets it back (its deleter never runs); said once, when the last event is done.
        log::logf(APH_LOG_ERROR, kTarget,
                  "%s: borrowed memory at %p (%zu bytes) is never given back to its owner: "
                  "its use on a stream could not be waited for",
                  label_.c_str(), static_cast<void*>(b->ptr), b->size);
        delete b;
        return;
    }
    b->live_next = ready_head_;
    ready_head_ = b;
}

size_t CachingAllocator::deferred_deleters() {
    std::lock_guard lock(mutex_);  // runs nothing: callers may hold locks of their own
    return deferred_;
}

}  // namespace aph::alloc
