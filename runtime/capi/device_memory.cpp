// C API, section 11: device memory (allocator statistics, budgets, raw allocations).
#include "../core/device.hpp"
#include "../core/device_memory.hpp"
#include "../core/error.hpp"
#include "../core/stream.hpp"
#include "../core/tracker.hpp"

#include <algorithm>
#include <cstring>

namespace {

aph::alloc::CachingAllocator& allocator_of(const aph_device* d) { return (*d->memory).allocator; }

}  // namespace

extern "C" {

APH_API aph_status aph_device_memory_stats(aph_device* device, aph_memory_stats* out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        constexpr size_t min_size = offsetof(aph_memory_stats, allocated_bytes) + sizeof(uint64_t);
        if (out->struct_size < min_size) {
            throw aph::invalid_argument(
                aph::strprintf("out->struct_size is %zu; set it to sizeof(aph_memory_stats) (%zu)", out->struct_size,
                               sizeof(aph_memory_stats)));
        }
        const aph::alloc::Stats s = allocator_of(device).stats();
        aph_memory_stats full{};
        full.struct_size = out->struct_size;
        full.allocated_bytes = s.allocated.current;
        full.allocated_bytes_peak = s.allocated.peak;
        full.reserved_bytes = s.reserved.current;
        full.reserved_bytes_peak = s.reserved.peak;
        full.active_bytes = s.active.current;
        full.active_bytes_peak = s.active.peak;
        full.requested_bytes = s.requested.current;
        full.requested_bytes_peak = s.requested.peak;
        full.allocations = s.allocations;
        full.frees = s.frees;
        full.segment_allocations = s.segment_allocations;
        full.segment_frees = s.segment_frees;
        full.cache_misses = s.cache_misses;
        full.alloc_retries = s.alloc_retries;
        full.out_of_memory_events = s.ooms;
        full.leaked_allocations = s.leaked;
        full.active_allocations = s.active_allocations;
        full.segments = s.segments;
        std::memcpy(out, &full, std::min(out->struct_size, sizeof full));
    });
}

APH_API aph_status aph_device_reset_peak_stats(aph_device* device) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        allocator_of(device).reset_peak_stats();
    });
}

APH_API aph_status aph_device_empty_cache(aph_device* device) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        allocator_of(device).empty_cache();
        // The page-locked staging cache serves every CUDA device; emptying any of them empties it.
        if (device->kind == APH_DEVICE_CUDA) aph::mem::pinned().empty_cache();
    });
}

APH_API aph_status aph_device_set_tracker(aph_device* device, aph_tracker* tracker) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        allocator_of(device).set_tracker(tracker);
    });
}

APH_API aph_status aph_device_tracker(const aph_device* device, aph_tracker** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = allocator_of(device).tracker();
    });
}

APH_API aph_status aph_device_allocate(aph_device* device, size_t bytes, aph_stream* stream, void** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        aph_stream* s = aph::stream::resolve(device, stream);
        aph::alloc::Block* b = allocator_of(device).allocate(bytes, s->key, /*raw=*/true);
        *out = aph::alloc::CachingAllocator::block_ptr(b);
    });
}

APH_API aph_status aph_device_free(aph_device* device, void* ptr) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        if (ptr == nullptr) return;
        if (!allocator_of(device).free_ptr(ptr)) {
            throw aph::invalid_argument(aph::strprintf(
                "ptr %p was not allocated by %s's allocator (or was already freed)", ptr, device->label.c_str()));
        }
    });
}

APH_API aph_status aph_device_record_stream(aph_device* device, void* ptr, aph_stream* stream) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(ptr, "ptr");
        aph_stream* s = aph::stream::resolve(device, stream);
        if (!allocator_of(device).record_stream_ptr(ptr, s->key)) {
            throw aph::invalid_argument(
                aph::strprintf("ptr %p was not allocated by %s's allocator", ptr, device->label.c_str()));
        }
    });
}

}  // extern "C"
