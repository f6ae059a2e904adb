#include "tensor.hpp"

#include "device.hpp"
#include "device_memory.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "log.hpp"
#include "memory.hpp"
#include "stream.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace aph::tensor {
namespace {

std::string shape_str(const std::vector<int64_t>& s) { return memory::format_shape(s.data(), s.size()); }

// A dimension index as the C API takes it (negative counts from the end: -1 is the last), as an
// index into the shape; outside [-ndim, ndim) is an invalid argument naming it.
size_t check_dim(int64_t dim, size_t ndim, const char* arg) {
    const int64_t n = static_cast<int64_t>(ndim);
    if (dim < -n || dim >= n) {
        throw invalid_argument(strprintf("%s %lld is out of range for a tensor with %zu dimensions", arg,
                                         static_cast<long long>(dim), ndim));
    }
    return static_cast<size_t>(dim < 0 ? dim + n : dim);
}

// The element count of a tensor of shape with elem-byte elements. numel is an int64_t and
// nbytes = numel × elem a byte count that the rest of the library treats as an int64_t: both
// must fit, whatever the strides (a broadcast over one element still reports them).
int64_t numel_of(const std::vector<int64_t>& shape, size_t elem) {
    const uint64_t n = memory::numel(shape.data(), shape.size());
    if (n > static_cast<uint64_t>(INT64_MAX) / elem) {
        throw invalid_argument(strprintf("shape %s has %llu elements of %zu bytes, more than "
                                         "INT64_MAX bytes",
                                         shape_str(shape).c_str(), static_cast<unsigned long long>(n), elem));
    }
    return static_cast<int64_t>(n);
}

Storage* new_storage(aph_device* device) {
    auto* s = new Storage();
    s->device = device;
    device::retain(device);
    return s;
}

// A view of t with another layout (same storage, dtype and flags).
aph_tensor* view_of(aph_tensor* t, std::vector<int64_t> shape, std::vector<int64_t> strides, uint64_t offset) {
    t->storage->refs.retain();
    try {
        return make_view(t->storage, t->dtype, std::move(shape), std::move(strides), offset, t->read_only);
    } catch (...) {
        storage_release(t->storage);
        throw;
    }
}

}  // namespace

void storage_release(Storage* s) noexcept {
    if (s == nullptr || !s->refs.release()) return;
    if (s->block) (*s->device->memory).allocator.free(s->block);
    if (s->borrowed) {
        // The deleter runs once the work queued on the streams the memory was used on is done.
        (*s->device->memory).allocator.release_borrowed(s->borrowed, s->deleter, s->base, s->user_data);
    } else if (s->deleter) {
        try {
            invoke_callback([s] { s->deleter(s->user_data, s->base); });
        } catch (...) {
            // A C++ deleter that throws must not unwind through the library.
        }
    }
    stream::release(s->stream);
    device::release(s->device);
    delete s;
}

void check_new_shape(const int64_t* shape, size_t ndim, aph_dtype dtype) {
    if (ndim > APH_TENSOR_MAX_DIMS) {
        throw invalid_argument(strprintf("ndim is %zu; at most APH_TENSOR_MAX_DIMS (%d) dimensions are supported", ndim,
                                         APH_TENSOR_MAX_DIMS));
    }
    memory::check_shape(shape, ndim, "shape");
    memory::check_dtype(dtype, "dtype");
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
    std::vector<int64_t> st(shape.size());
    int64_t acc = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        st[i] = acc;
        // Saturates: only zero-size tensors can have dimensions this large, and their strides
        // are never used to address memory.
        if (__builtin_mul_overflow(acc, std::max<int64_t>(shape[i], 1), &acc)) acc = INT64_MAX;
    }
    return st;
}

bool is_contiguous(const aph_tensor& t) {
    if (t.numel == 0) return true;
    int64_t expected = 1;
    for (size_t i = t.shape.size(); i-- > 0;) {
        if (t.shape[i] == 1) continue;
        if (t.strides[i] != expected) return false;
        expected *= t.shape[i];
    }
    return true;
}

aph_tensor* make_view(Storage* storage, aph_dtype dtype, std::vector<int64_t> shape, std::vector<int64_t> strides,
                      uint64_t offset, bool read_only) {
    const size_t elem = dtype::size(dtype);
    const int64_t numel = numel_of(shape, elem);  // may throw: before anything is allocated
    auto* t = new aph_tensor();
    t->storage = storage;
    t->dtype = dtype;
    t->elem = elem;
    t->numel = numel;
    t->shape = std::move(shape);
    t->strides = std::move(strides);
    t->offset = offset;
    t->read_only = read_only;
    return t;
}

aph_tensor* create(aph_device* device, aph_stream* stream, aph_dtype dtype, const int64_t* shape, size_t ndim) {
    check_new_shape(shape, ndim, dtype);
    std::vector<int64_t> sh(shape, shape + ndim);
    const uint64_t bytes = memory::tensor_bytes(shape, ndim, dtype);
    aph_stream* s = stream::resolve(device, stream);
    mem::DeviceMemory& dm = (*device->memory);
    Storage* st = new_storage(device);
    try {
        st->block = dm.allocator.allocate(static_cast<size_t>(bytes), s->key);
    } catch (...) {
        storage_release(st);
        throw;
    }
    st->base = static_cast<char*>(alloc::CachingAllocator::block_ptr(st->block));
    st->nbytes = bytes;
    if (!s->is_default) {
        stream::retain(s);
        st->stream = s;
    }
    try {
        return make_view(st, dtype, sh, contiguous_strides(sh), 0, false);
    } catch (...) {
        storage_release(st);
        throw;
    }
}

aph_tensor* from_blob(aph_device* device, aph_dtype dtype, const int64_t* shape, const int64_t* strides, size_t ndim,
                      void* data, aph_deleter deleter, void* user_data, bool read_only) {
    check_new_shape(shape, ndim, dtype);
    std::vector<int64_t> sh(shape, shape + ndim);
    std::vector<int64_t> st;
    if (strides) {
        st.assign(strides, strides + ndim);
        for (size_t i = 0; i < ndim; ++i) {
            if (st[i] < 0) {
                throw invalid_argument(strprintf("strides[%zu] is %lld; negative strides are not supported", i,
                                                 static_cast<long long>(st[i])));
            }
        }
    } else {
        st = contiguous_strides(sh);
    }
    const int64_t n = numel_of(sh, dtype::size(dtype));
    if (data == nullptr && n > 0) throw invalid_argument("data must not be NULL for a tensor with elements");
    // The furthest element must be addressable.
    uint64_t extent = 0;
    if (n > 0) {
        for (size_t i = 0; i < ndim; ++i) {
            extent = memory::checked_add(
                extent, memory::checked_mul(static_cast<uint64_t>(sh[i] - 1), static_cast<uint64_t>(st[i]), "strides"),
                "strides");
        }
        const uint64_t bytes = memory::checked_mul(extent + 1, dtype::size(dtype), "strides");
        // Byte offsets are int64_t everywhere (DLPack, views, kernels): the span must fit one,
        // and must not wrap the address space above data.
        if (bytes > static_cast<uint64_t>(INT64_MAX) || reinterpret_cast<uintptr_t>(data) > UINTPTR_MAX - bytes) {
            throw invalid_argument(
                strprintf("strides %s with shape %s span %llu elements of %zu bytes from %p, past the "
                          "addressable range",
                          shape_str(st).c_str(), shape_str(sh).c_str(), static_cast<unsigned long long>(extent + 1),
                          dtype::size(dtype), data));
        }
    }
    Storage* s = new_storage(device);
    s->base = static_cast<char*>(data);
    s->nbytes = n > 0 ? (extent + 1) * dtype::size(dtype) : 0;
    try {
        if (device->kind == APH_DEVICE_CUDA) {
            s->borrowed = (*device->memory).allocator.borrow(data, static_cast<size_t>(s->nbytes), device->ordinal);
        }
        aph_tensor* t = make_view(s, dtype, std::move(sh), std::move(st), 0, read_only);
        s->deleter = deleter;  // only now: a failure above leaves the memory with the caller
        s->user_data = user_data;
        return t;
    } catch (...) {
        storage_release(s);
        throw;
    }
}

namespace {

bool live(const aph_tensor* t, const char* what) noexcept {
    if (t->magic == aph_tensor::kLive) return true;
    log::logf(APH_LOG_ERROR, "aphelion::tensor", "%s(%p): not a live tensor (released twice, or not a tensor); ignored",
              what, static_cast<const void*>(t));
    return false;
}

}  // namespace

void retain(aph_tensor* t) noexcept {
    if (t && live(t, "aph_tensor_retain")) t->refs.retain();
}

void release(aph_tensor* t) noexcept {
    if (t == nullptr || !live(t, "aph_tensor_release") || !t->refs.release()) return;
    Storage* s = t->storage;
    *const_cast<volatile uint32_t*>(&t->magic) = aph_tensor::kDead;  // volatile: not a dead store
    delete t;
    storage_release(s);
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

aph_tensor* reshape(aph_tensor* t, const int64_t* shape, size_t ndim) {
    if (ndim > APH_TENSOR_MAX_DIMS) {
        throw invalid_argument(strprintf("ndim is %zu; at most APH_TENSOR_MAX_DIMS (%d) dimensions are supported", ndim,
                                         APH_TENSOR_MAX_DIMS));
    }
    if (shape == nullptr && ndim > 0) throw invalid_argument("shape must not be NULL when ndim > 0");
    std::vector<int64_t> ns(shape, shape + ndim);
    // Infer one -1.
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < ndim; ++i) {
        if (ns[i] == -1) {
            if (infer >= 0) throw invalid_argument("shape has more than one -1 dimension");
            infer = static_cast<int>(i);
        } else if (ns[i] < 0) {
            throw invalid_argument(strprintf("shape[%zu] is %lld; dimensions must be >= 0 (or -1 to infer one)", i,
                                             static_cast<long long>(ns[i])));
        } else {
            known = static_cast<int64_t>(
                memory::checked_mul(static_cast<uint64_t>(known), static_cast<uint64_t>(ns[i]), "shape"));
        }
    }
    if (infer >= 0) {
        if (known == 0 || t->numel % known != 0) {
            std::vector<int64_t> shown = ns;
            throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                              strprintf("cannot infer the -1 dimension of %s for %lld elements",
                                        shape_str(shown).c_str(), static_cast<long long>(t->numel)));
        }
        ns[infer] = t->numel / known;
    }
    const uint64_t got = memory::numel(ns.data(), ns.size());
    if (got != static_cast<uint64_t>(t->numel)) {
        // Compared as element counts, in docs/compat.md's format.
        throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                          strprintf("expected [%lld], got [%llu]", static_cast<long long>(t->numel),
                                    static_cast<unsigned long long>(got)));
    }
    if (t->numel == 0) return view_of(t, ns, contiguous_strides(ns), t->offset);

    // Strides for the new shape over the old layout, if it can be expressed (PyTorch's
    // computeStride): walk the old dimensions from the right in chunks that are contiguous
    // among themselves, and match each chunk with new dimensions of the same element count.
    std::vector<int64_t> os = t->shape, ost = t->strides;
    if (os.empty()) {
        os = {1};
        ost = {1};
    }
    std::vector<int64_t> nst(ns.size(), 0);
    int64_t view_d = static_cast<int64_t>(ns.size()) - 1;
    int64_t chunk_base_stride = ost.back();
    int64_t tensor_numel = 1, view_numel = 1;
    for (int64_t td = static_cast<int64_t>(os.size()) - 1; td >= 0; --td) {
        tensor_numel *= os[td];
        // Products that overflow (huge strides, which from_blob accepts for spans up to
        // INT64_MAX bytes) cannot equal a stride; and only size-1 dimensions get one (any
        // stride does for them), since the others stay inside the chunk's extent.
        int64_t chunk_end_stride = 0;
        const bool overflows = __builtin_mul_overflow(tensor_numel, chunk_base_stride, &chunk_end_stride);
        if (td == 0 || (os[td - 1] != 1 && (overflows || ost[td - 1] != chunk_end_stride))) {
            while (view_d >= 0 && (view_numel < tensor_numel || ns[view_d] == 1)) {
                if (__builtin_mul_overflow(view_numel, chunk_base_stride, &nst[view_d])) nst[view_d] = INT64_MAX;
                view_numel *= ns[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) {
                throw invalid_argument(strprintf("shape %s cannot view a tensor of shape %s with strides %s; make it "
                                                 "contiguous first (aph_tensor_contiguous)",
                                                 shape_str(ns).c_str(), shape_str(t->shape).c_str(),
                                                 shape_str(t->strides).c_str()));
            }
            if (td > 0) {
                chunk_base_stride = ost[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    if (view_d != -1) {
        throw invalid_argument(
            strprintf("shape %s cannot view a tensor of shape %s", shape_str(ns).c_str(), shape_str(t->shape).c_str()));
    }
    return view_of(t, ns, nst, t->offset);
}

aph_tensor* permute(aph_tensor* t, const int64_t* dims, size_t ndim) {
    if (ndim != t->shape.size()) {
        throw invalid_argument(
            strprintf("dims has %zu entries; the tensor has %zu dimension(s)", ndim, t->shape.size()));
    }
    if (dims == nullptr && ndim > 0) throw invalid_argument("dims must not be NULL when ndim > 0");
    std::vector<bool> seen(ndim, false);
    std::vector<int64_t> sh(ndim), st(ndim);
    const int64_t n = static_cast<int64_t>(ndim);
    for (size_t i = 0; i < ndim; ++i) {
        const int64_t d = dims[i] < 0 && dims[i] >= -n ? dims[i] + n : dims[i];  // -1 is the last
        if (d < 0 || d >= n || seen[static_cast<size_t>(d)]) {
            throw invalid_argument(strprintf("dims[%zu] is %lld; dims must be a permutation of 0..%zu (or of "
                                             "their negative counterparts, counted from the end)",
                                             i, static_cast<long long>(dims[i]), ndim - 1));
        }
        seen[static_cast<size_t>(d)] = true;
        sh[i] = t->shape[static_cast<size_t>(d)];
        st[i] = t->strides[static_cast<size_t>(d)];
    }
    return view_of(t, sh, st, t->offset);
}

aph_tensor* transpose(aph_tensor* t, int64_t dim0, int64_t dim1) {
    const size_t d0 = check_dim(dim0, t->shape.size(), "dim0");
    const size_t d1 = check_dim(dim1, t->shape.size(), "dim1");
    std::vector<int64_t> sh = t->shape, st = t->strides;
    std::swap(sh[d0], sh[d1]);
    std::swap(st[d0], st[d1]);
    return view_of(t, sh, st, t->offset);
}

aph_tensor* slice(aph_tensor* t, int64_t d, int64_t start, int64_t stop, int64_t step) {
    const size_t dim = check_dim(d, t->shape.size(), "dim");
    if (step < 1) throw invalid_argument(strprintf("step is %lld; it must be >= 1", static_cast<long long>(step)));
    const int64_t size = t->shape[dim];
    auto norm = [size](int64_t v) {
        if (v < 0) v += size;
        return std::clamp<int64_t>(v, 0, size);
    };
    // Saturate before normalising so INT64_MIN/MAX behave like Python's unbounded slices.
    start = norm(std::clamp<int64_t>(start, -size - 1, size + 1));
    stop = norm(std::clamp<int64_t>(stop, -size - 1, size + 1));
    const int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;  // no overflow for any step
    std::vector<int64_t> sh = t->shape, st = t->strides;
    sh[dim] = len;
    // With two or more elements, step < size, so the product stays inside the storage's extent.
    // A zero-size tensor has no extent (its strides may be anything, INT64_MAX included): its
    // views keep the stride and the offset, which address nothing.
    const bool moves = len > 0 && t->numel > 0;
    st[dim] = moves && len > 1 ? t->strides[dim] * step : t->strides[dim];
    const uint64_t off = moves ? t->offset + static_cast<uint64_t>(start * t->strides[dim]) * t->elem : t->offset;
    return view_of(t, sh, st, off);
}

aph_tensor* narrow(aph_tensor* t, int64_t d, int64_t start, int64_t length) {
    const size_t dim = check_dim(d, t->shape.size(), "dim");
    const int64_t size = t->shape[dim];
    if (start < 0 || start > size) {
        throw invalid_argument(strprintf("start is %lld; it must be in [0, %lld]", static_cast<long long>(start),
                                         static_cast<long long>(size)));
    }
    if (length < 0 || length > size - start) {
        throw invalid_argument(strprintf("length is %lld; start + length must be <= %lld",
                                         static_cast<long long>(length), static_cast<long long>(size)));
    }
    return slice(t, static_cast<int64_t>(dim), start, start + length, 1);
}

aph_tensor* select(aph_tensor* t, int64_t d, int64_t index) {
    const size_t dim = check_dim(d, t->shape.size(), "dim");
    const int64_t size = t->shape[dim];
    const int64_t i = index < 0 ? index + size : index;
    if (i < 0 || i >= size) {
        throw invalid_argument(strprintf("index is %lld, out of range for dimension %zu of size %lld",
                                         static_cast<long long>(index), dim, static_cast<long long>(size)));
    }
    std::vector<int64_t> sh = t->shape, st = t->strides;
    // A zero-size tensor's strides address nothing (and may be anything): keep its offset.
    const uint64_t off = t->numel > 0 ? t->offset + static_cast<uint64_t>(i * t->strides[dim]) * t->elem : t->offset;
    sh.erase(sh.begin() + static_cast<std::ptrdiff_t>(dim));
    st.erase(st.begin() + static_cast<std::ptrdiff_t>(dim));
    return view_of(t, sh, st, off);
}

aph_tensor* expand(aph_tensor* t, const int64_t* shape, size_t ndim) {
    const size_t old = t->shape.size();
    if (ndim > APH_TENSOR_MAX_DIMS) {
        throw invalid_argument(strprintf("ndim is %zu; at most APH_TENSOR_MAX_DIMS (%d) dimensions are supported", ndim,
                                         APH_TENSOR_MAX_DIMS));
    }
    if (shape == nullptr && ndim > 0) throw invalid_argument("shape must not be NULL when ndim > 0");
    std::vector<int64_t> req(shape, shape + ndim);
    auto mismatch = [&] {
        return Error::kind(APH_ERR_SHAPE_MISMATCH,
                           strprintf("expected %s, got %s", shape_str(t->shape).c_str(), shape_str(req).c_str()));
    };
    if (ndim < old) {
        throw invalid_argument(
            strprintf("shape has %zu dimension(s); expand needs at least the tensor's %zu", ndim, old));
    }
    std::vector<int64_t> sh(ndim), st(ndim);
    const size_t lead = ndim - old;
    for (size_t i = 0; i < ndim; ++i) {
        const int64_t want = req[i];
        if (i < lead) {
            if (want < 0) {
                throw invalid_argument(strprintf("shape[%zu] is %lld; new leading dimensions must be >= 0", i,
                                                 static_cast<long long>(want)));
            }
            sh[i] = want;
            st[i] = 0;
            continue;
        }
        const int64_t have = t->shape[i - lead];
        if (want == -1 || want == have) {
            sh[i] = have;
            st[i] = t->strides[i - lead];
        } else if (want < -1) {
            throw invalid_argument(strprintf("shape[%zu] is %lld; dimensions must be >= 0 (or -1 to keep one)", i,
                                             static_cast<long long>(want)));
        } else if (have == 1) {
            sh[i] = want;
            st[i] = 0;
        } else {
            throw mismatch();
        }
    }
    return view_of(t, sh, st, t->offset);  // make_view refuses counts that overflow
}

}  // namespace aph::tensor
