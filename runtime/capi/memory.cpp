// C API, sections 5 and 6: memory estimates and the tracker.
#include "../core/error.hpp"
#include "../core/memory.hpp"
#include "../core/tracker.hpp"

extern "C" {

APH_API aph_status aph_estimate_tensor_bytes(const int64_t* shape, size_t ndim, aph_dtype dtype, uint64_t* out_bytes) {
    return aph::guard([&] {
        aph::require_arg(out_bytes, "out_bytes");
        *out_bytes = aph::memory::tensor_bytes(shape, ndim, dtype);
    });
}

APH_API aph_status aph_estimate_attention_bytes(uint64_t batch, uint64_t heads, uint64_t seq_len, uint64_t head_dim,
                                                aph_dtype dtype, uint64_t* out_bytes) {
    return aph::guard([&] {
        aph::require_arg(out_bytes, "out_bytes");
        *out_bytes = aph::memory::attention_bytes(batch, heads, seq_len, head_dim, dtype);
    });
}

APH_API aph_status aph_tracker_create(uint64_t limit_bytes, aph_tracker** out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        *out = new aph_tracker(limit_bytes);
    });
}

APH_API void aph_tracker_retain(aph_tracker* tracker) {
    if (tracker) tracker->refs.retain();
}

APH_API void aph_tracker_release(aph_tracker* tracker) {
    if (tracker && tracker->refs.release()) delete tracker;
}

APH_API aph_status aph_tracker_set_overhead_factor(aph_tracker* tracker, double factor) {
    return aph::guard([&] {
        aph::require_arg(tracker, "tracker");
        tracker->set_overhead_factor(factor);
    });
}

APH_API double aph_tracker_overhead_factor(const aph_tracker* tracker) {
    return tracker ? tracker->overhead_factor() : 0.0;
}

APH_API aph_status aph_tracker_allocate(aph_tracker* tracker, uint64_t bytes) {
    return aph::guard([&] {
        aph::require_arg(tracker, "tracker");
        tracker->allocate(bytes);
    });
}

APH_API aph_status aph_tracker_deallocate(aph_tracker* tracker, uint64_t bytes) {
    return aph::guard([&] {
        aph::require_arg(tracker, "tracker");
        tracker->deallocate(bytes);
    });
}

APH_API int aph_tracker_would_fit(const aph_tracker* tracker, uint64_t bytes) {
    return tracker ? tracker->would_fit(bytes) : 0;
}

APH_API uint64_t aph_tracker_allocated_bytes(const aph_tracker* tracker) { return tracker ? tracker->allocated() : 0; }

APH_API uint64_t aph_tracker_peak_bytes(const aph_tracker* tracker) { return tracker ? tracker->peak() : 0; }

APH_API uint64_t aph_tracker_limit_bytes(const aph_tracker* tracker) { return tracker ? tracker->limit() : 0; }

APH_API void aph_tracker_reset(aph_tracker* tracker) {
    if (tracker) tracker->reset();
}

APH_API aph_status aph_tracker_estimate_with_overhead(const aph_tracker* tracker, const int64_t* shape, size_t ndim,
                                                      aph_dtype dtype, uint64_t* out_bytes) {
    return aph::guard([&] {
        aph::require_arg(tracker, "tracker");
        aph::require_arg(out_bytes, "out_bytes");
        *out_bytes = tracker->estimate_with_overhead(shape, ndim, dtype);
    });
}

}  // extern "C"
