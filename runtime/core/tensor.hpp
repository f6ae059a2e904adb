// Tensors and storages (header section 12): the handles behind aph_tensor.
#pragma once

#include "aphelion.h"
#include "caching_allocator.hpp"
#include "refcount.hpp"

#include <cstdint>
#include <vector>

namespace aph::tensor {

// Reference-counted memory shared by a tensor and its views.
struct Storage {
    aph::RefCount refs;
    aph_device* device = nullptr;  // retained
    char* base = nullptr;
    uint64_t nbytes = 0;
    alloc::Block* block = nullptr;  // memory from the device's allocator
    aph_stream* stream = nullptr;   // retained allocation stream (NULL: the default)
    aph_deleter deleter = nullptr;  // borrowed memory
    void* user_data = nullptr;
    // Borrowed CUDA memory: its books in the device's allocator (the streams it is used on),
    // which run the deleter once that work is done. NULL for CPU memory (nothing is queued).
    alloc::Block* borrowed = nullptr;
};

void storage_release(Storage* s) noexcept;

// Byte layout of a tensor: shape/strides (elements), offset (bytes) from the storage base.
struct Layout {
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;
    uint64_t offset = 0;
};

}  // namespace aph::tensor

struct aph_tensor {
    static constexpr uint32_t kLive = 0x54485041u;  // "APHT"
    static constexpr uint32_t kDead = 0xDEADDEADu;
    aph::RefCount refs;
    aph::tensor::Storage* storage = nullptr;  // one reference held
    aph_dtype dtype = APH_DTYPE_F32;
    size_t elem = 4;  // bytes per element
    std::vector<int64_t> shape;
    // kLive while the handle exists; overwritten when it is destroyed, so that a second release
    // of the same handle is usually caught and reported instead of corrupting memory. (Placed
    // past the first 16 bytes, which the C library's allocator reuses once the memory is freed.)
    uint32_t magic = kLive;
    std::vector<int64_t> strides;
    uint64_t offset = 0;  // bytes
    int64_t numel = 1;
    bool read_only = false;

    aph_device* device() const { return storage->device; }
    char* data() const { return numel == 0 ? nullptr : storage->base + offset; }
    uint64_t nbytes() const { return static_cast<uint64_t>(numel) * elem; }
};

namespace aph::tensor {

// Checks ndim (<= APH_TENSOR_MAX_DIMS), shape and dtype; throws naming the arguments.
void check_new_shape(const int64_t* shape, size_t ndim, aph_dtype dtype);

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);
bool is_contiguous(const aph_tensor& t);

// New tensors over fresh memory from the device's allocator (uninitialised).
aph_tensor* create(aph_device* device, aph_stream* stream, aph_dtype dtype, const int64_t* shape, size_t ndim);
// A tensor over a storage (takes over the caller's storage reference). It checks only that
// numel × dtype size fits INT64_MAX bytes (and throws before taking anything over); the callers
// (create, from_blob and the view functions) keep every element inside the storage.
aph_tensor* make_view(Storage* storage, aph_dtype dtype, std::vector<int64_t> shape, std::vector<int64_t> strides,
                      uint64_t offset, bool read_only);
// Wraps borrowed memory.
aph_tensor* from_blob(aph_device* device, aph_dtype dtype, const int64_t* shape, const int64_t* strides, size_t ndim,
                      void* data, aph_deleter deleter, void* user_data, bool read_only);

void retain(aph_tensor* t) noexcept;
void release(aph_tensor* t) noexcept;

// Views.
aph_tensor* reshape(aph_tensor* t, const int64_t* shape, size_t ndim);
aph_tensor* permute(aph_tensor* t, const int64_t* dims, size_t ndim);
aph_tensor* transpose(aph_tensor* t, int64_t dim0, int64_t dim1);
aph_tensor* slice(aph_tensor* t, int64_t dim, int64_t start, int64_t stop, int64_t step);
aph_tensor* narrow(aph_tensor* t, int64_t dim, int64_t start, int64_t length);
aph_tensor* select(aph_tensor* t, int64_t dim, int64_t index);
aph_tensor* expand(aph_tensor* t, const int64_t* shape, size_t ndim);

// Copies (copy.cpp). stream NULL: the default stream of the device doing the work.
void copy(aph_tensor* dst, const aph_tensor* src, aph_stream* stream, bool synchronous);
void to_host(const aph_tensor* t, void* dst, size_t nbytes, aph_stream* stream, bool synchronous);
void from_host(aph_tensor* t, const void* src, size_t nbytes, aph_stream* stream, bool synchronous);
void fill_zero(aph_tensor* t, aph_stream* stream, bool synchronous);
aph_tensor* to_device(const aph_tensor* t, aph_device* device);
aph_tensor* contiguous(aph_tensor* t);
void record_stream(aph_tensor* t, aph_stream* stream);
// What operations record after queuing work on stream s that uses t: memory allocated on
// another stream (owned blocks), and borrowed memory on any stream (its deleter is not
// stream-ordered, so it waits for every stream). t NULL: nothing.
void record_use(const aph_tensor* t, aph_stream* s);
// Borrowed memory only (copies: owned memory used on another stream is the caller's to
// declare, see aph_tensor_record_stream). t NULL: nothing.
void record_borrowed_use(const aph_tensor* t, aph_stream* s);

// Host strided copy of elem-byte elements over shape (strides in elements).
void host_strided_copy(char* dst, const int64_t* dst_strides, const char* src, const int64_t* src_strides,
                       const int64_t* shape, size_t ndim, size_t elem);

}  // namespace aph::tensor
