// Intrusive reference count for the C handles (retain / release from any thread).
#pragma once

#include <atomic>
#include <cstdint>

namespace aph {

class RefCount {
public:
    void retain() noexcept { count_.fetch_add(1, std::memory_order_relaxed); }
    // True when this call dropped the last reference (the caller then destroys the object).
    bool release() noexcept { return count_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
    // Takes a reference only if one is still alive (weak-to-strong upgrade, as weak_ptr::lock).
    bool try_retain() noexcept {
        uint32_t c = count_.load(std::memory_order_relaxed);
        while (c != 0) {
            if (count_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) return true;
        }
        return false;
    }

private:
    std::atomic<uint32_t> count_{1};
};

}  // namespace aph
