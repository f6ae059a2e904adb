// The memory tracker (docs/compat.md section 3) behind aph_tracker.
#pragma once

#include "aphelion.h"
#include "refcount.hpp"

#include <atomic>
#include <cstdint>

struct aph_tracker {
    explicit aph_tracker(uint64_t limit) : limit_(limit) {}

    aph::RefCount refs;

    // Check-and-add in one atomic step (a compare-and-swap loop): concurrent callers can never
    // push the total past the limit. Throws APH_ERR_OUT_OF_MEMORY and changes nothing on failure.
    void allocate(uint64_t bytes);
    // Throws APH_ERR_INVALID_ARGUMENT, changing nothing, when bytes > allocated.
    void deallocate(uint64_t bytes);
    bool would_fit(uint64_t bytes) const noexcept;
    void reset() noexcept;

    uint64_t allocated() const noexcept { return allocated_.load(std::memory_order_acquire); }
    uint64_t peak() const noexcept { return peak_.load(std::memory_order_acquire); }
    uint64_t limit() const noexcept { return limit_; }

    double overhead_factor() const noexcept { return factor_.load(std::memory_order_relaxed); }
    void set_overhead_factor(double f);  // throws unless finite and > 0
    uint64_t estimate_with_overhead(const int64_t* shape, size_t ndim, aph_dtype dtype) const;

private:
    const uint64_t limit_;  // 0: unlimited
    std::atomic<uint64_t> allocated_{0};
    std::atomic<uint64_t> peak_{0};
    std::atomic<double> factor_{APH_DEFAULT_OVERHEAD_FACTOR};
};
