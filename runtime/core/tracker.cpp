#include "tracker.hpp"

#include "error.hpp"
#include "fault.hpp"
#include "memory.hpp"

#include <cmath>

void aph_tracker::allocate(uint64_t bytes) {
    if (aph::fault::inject(aph::fault::kTracker)) {  // fault-injection builds (tests) only
        throw aph::out_of_memory(aph::strprintf("allocation of %llu bytes refused by the tracker (fault injected)",
                                                static_cast<unsigned long long>(bytes)));
    }
    uint64_t current = allocated_.load(std::memory_order_acquire);
    uint64_t next;
    do {
        // limit > 0 && current + bytes > limit, written so that it cannot overflow.
        if (limit_ > 0 && (bytes > limit_ || current > limit_ - bytes)) {
            throw aph::out_of_memory(
                aph::strprintf("allocation of %llu bytes would exceed limit of %llu bytes (current: %llu bytes)",
                               static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(limit_),
                               static_cast<unsigned long long>(current)));
        }
        if (__builtin_add_overflow(current, bytes, &next)) {
            throw aph::out_of_memory(
                aph::strprintf("allocation of %llu bytes would overflow the 64-bit total (current: %llu bytes)",
                               static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(current)));
        }
    } while (!allocated_.compare_exchange_weak(current, next, std::memory_order_acq_rel, std::memory_order_acquire));
    uint64_t p = peak_.load(std::memory_order_relaxed);
    while (next > p && !peak_.compare_exchange_weak(p, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
    }
}

void aph_tracker::deallocate(uint64_t bytes) {
    uint64_t current = allocated_.load(std::memory_order_acquire);
    do {
        if (bytes > current) {
            throw aph::invalid_argument(aph::strprintf("deallocation of %llu bytes exceeds the %llu bytes allocated",
                                                       static_cast<unsigned long long>(bytes),
                                                       static_cast<unsigned long long>(current)));
        }
    } while (!allocated_.compare_exchange_weak(current, current - bytes, std::memory_order_acq_rel,
                                               std::memory_order_acquire));
}

bool aph_tracker::would_fit(uint64_t bytes) const noexcept {
    if (limit_ == 0) {
        uint64_t sum;
        return !__builtin_add_overflow(allocated(), bytes, &sum);
    }
    return bytes <= limit_ && allocated() <= limit_ - bytes;
}

void aph_tracker::reset() noexcept {
    allocated_.store(0, std::memory_order_release);
    peak_.store(0, std::memory_order_release);
}

void aph_tracker::set_overhead_factor(double f) {
    if (!std::isfinite(f) || !(f > 0.0)) {
        throw aph::invalid_argument(aph::strprintf("factor must be finite and > 0, got %g", f));
    }
    factor_.store(f, std::memory_order_relaxed);
}

uint64_t aph_tracker::estimate_with_overhead(const int64_t* shape, size_t ndim, aph_dtype dtype) const {
    const uint64_t raw = aph::memory::tensor_bytes(shape, ndim, dtype);
    // As rust-ai-core: (raw as f64 * factor) as usize, i.e. truncation toward zero.
    const double scaled = static_cast<double>(raw) * overhead_factor();
    if (!(scaled < 18446744073709551616.0)) {  // 2^64
        throw aph::invalid_argument(aph::strprintf("the estimate %llu bytes × %g overflows 64 bits",
                                                   static_cast<unsigned long long>(raw), overhead_factor()));
    }
    return static_cast<uint64_t>(scaled);
}
