// The library's deleter thread: it runs the deleters of borrowed memory (aph_tensor_from_blob,
// DLPack imports) whose stream work finishes while the program makes no further library call.
#pragma once

#include "caching_allocator.hpp"

namespace aph::deleters {

// Keeps calling a->process_events() until a->deferred_deleters() is 0, polling from the
// library's deleter thread (started on first use; at most one per process). a must live for the
// rest of the process (the devices' allocators do). Never throws; if the thread cannot be
// started, the deleters still run at the next synchronisation or allocator activity (logged).
// Called without any lock held (as CachingAllocator's deferred hook).
void watch(alloc::CachingAllocator* a) noexcept;

}  // namespace aph::deleters
