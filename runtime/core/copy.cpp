// Copies between tensors, host memory and devices (header section 12).
//
// CPU<->CUDA transfers go through page-locked staging blocks from the pinned cache: a block is
// declared used on the copy's stream before it is freed, so the cache hands it out again only
// once the transfer has finished. Non-contiguous CUDA layouts are gathered / scattered by the
// module's strided-copy kernel through a contiguous temporary on the same stream.
#include "device.hpp"
#include "device_memory.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "memory.hpp"
#include "stream.hpp"
#include "tensor.hpp"

#include <cstring>
#include <memory>

namespace aph::tensor {
namespace {

// Synchronous transfers move at most this much per staging round trip.
constexpr size_t kStagingChunk = size_t{64} << 20;

struct TensorRef {
    aph_tensor* t = nullptr;
    ~TensorRef() { release(t); }
};

// A pinned staging block, freed (after its stream use is declared) when it goes out of scope.
struct Staging {
    alloc::Block* block = nullptr;
    char* ptr = nullptr;
    Staging(size_t bytes, const alloc::StreamKey& used_on) {
        alloc::CachingAllocator& p = mem::pinned();
        block = p.allocate(bytes, mem::pinned_stream());
        ptr = static_cast<char*>(alloc::CachingAllocator::block_ptr(block));
        p.record_stream(block, used_on);
    }
    ~Staging() { mem::pinned().free(block); }
    Staging(const Staging&) = delete;
    Staging& operator=(const Staging&) = delete;
};

// Drops size-1 dimensions and merges neighbours that are contiguous with each other in both
// layouts, so most copies reach the fast paths.
struct Coalesced {
    std::vector<int64_t> shape, a, b;  // a: destination strides, b: source strides
};

Coalesced coalesce(const std::vector<int64_t>& shape, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    Coalesced c;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == 1) continue;
        if (!c.shape.empty() && c.a.back() == a[i] * shape[i] && c.b.back() == b[i] * shape[i]) {
            c.shape.back() *= shape[i];
            c.a.back() = a[i];
            c.b.back() = b[i];
            continue;
        }
        c.shape.push_back(shape[i]);
        c.a.push_back(a[i]);
        c.b.push_back(b[i]);
    }
    return c;
}

const aph_cuda_module_api& api() { return mem::cuda_api(); }

// Whether two non-empty tensors are views of one storage whose byte spans, [first, last
// element's end), intersect (conservative: interleaved views may share a span, not elements).
bool overlapping(const aph_tensor& a, const aph_tensor& b) {
    if (a.storage != b.storage) return false;
    auto end = [](const aph_tensor& t) {
        uint64_t last = 0;  // elements; inside the storage's extent, so no overflow
        for (size_t i = 0; i < t.shape.size(); ++i)
            last += static_cast<uint64_t>(t.shape[i] - 1) * static_cast<uint64_t>(t.strides[i]);
        return t.offset + (last + 1) * t.elem;
    };
    return a.offset < end(b) && b.offset < end(a);
}

void cuda_memcpy(int32_t ordinal, void* dst, const void* src, size_t bytes, const aph_stream* s) {
    mem::cuda_call("cudaMemcpyAsync", [&](char* m, size_t n) {
        return api().memcpy_async(ordinal, dst, src, bytes, s->key.native, m, n);
    });
}

void cuda_strided(int32_t ordinal, char* dst, const std::vector<int64_t>& dst_strides, const char* src,
                  const std::vector<int64_t>& src_strides, const std::vector<int64_t>& shape, size_t elem,
                  const aph_stream* s) {
    const Coalesced c = coalesce(shape, dst_strides, src_strides);
    aph_cuda_strided_copy p{};
    p.dst = dst;
    p.src = src;
    p.elem_size = static_cast<int32_t>(elem);
    p.ndim = static_cast<int32_t>(c.shape.size());
    for (size_t i = 0; i < c.shape.size(); ++i) {
        p.shape[i] = c.shape[i];
        p.dst_strides[i] = c.a[i];
        p.src_strides[i] = c.b[i];
    }
    mem::cuda_call("strided copy",
                   [&](char* m, size_t n) { return api().strided_copy_async(ordinal, &p, s->key.native, m, n); });
}

void sync(const aph_stream* s) { stream::synchronize(const_cast<aph_stream*>(s)); }

// Work on stream s that uses a and b (CUDA tensors of s's device, or NULL) was queued and not
// waited for: borrowed memory among them must wait for it before going back to its owner.
void queued_on(aph_stream* s, const aph_tensor* a, const aph_tensor* b = nullptr) {
    record_borrowed_use(a, s);
    record_borrowed_use(b, s);
}

void check_bytes(uint64_t want, size_t got) {
    if (want != got) {
        throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                          strprintf("expected [%llu], got [%zu]", static_cast<unsigned long long>(want), got));
    }
}

void check_writable(const aph_tensor* t) {
    if (t->read_only)
        throw invalid_argument(
            "the destination tensor is read-only (memory-mapped weights or a read-only DLPack import)");
    // A broadcast dimension (stride 0, size > 1) makes several elements one memory location:
    // which write wins would be arbitrary (a race on CUDA). PyTorch refuses the same.
    for (size_t i = 0; i < t->shape.size(); ++i) {
        if (t->strides[i] == 0 && t->shape[i] > 1) {
            throw invalid_argument(
                strprintf("the destination tensor has a broadcast dimension (dim %zu: size %lld, stride 0), so "
                          "several of its elements are one memory location; write into a contiguous copy instead",
                          i, static_cast<long long>(t->shape[i])));
        }
    }
}

// A contiguous CUDA copy of a (CUDA) tensor queued on s, or the tensor itself when contiguous.
// Returns the pointer to read from; keep holds a temporary if one was made.
const char* contiguous_on_stream(const aph_tensor* t, aph_stream* s, TensorRef& keep) {
    if (is_contiguous(*t)) return t->data();
    keep.t = create(t->device(), s, t->dtype, t->shape.data(), t->shape.size());
    cuda_strided(t->device()->ordinal, keep.t->data(), keep.t->strides, t->data(), t->strides, t->shape, t->elem, s);
    return keep.t->data();
}

// Host -> device of contiguous bytes through page-locked staging. Synchronous: in chunks of at
// most kStagingChunk, each waited for, so staging stays bounded. Asynchronous: one staging block
// for everything (the caller's buffer is free when this returns; the block is reused only once
// the stream has passed the copy).
void h2d(int32_t ordinal, char* dst, const char* src, size_t bytes, const aph_stream* s, bool synchronous) {
    if (bytes == 0) return;
    if (!synchronous) {
        Staging stage(bytes, s->key);
        std::memcpy(stage.ptr, src, bytes);
        cuda_memcpy(ordinal, dst, stage.ptr, bytes, s);
        return;
    }
    Staging stage(std::min(bytes, kStagingChunk), s->key);
    for (size_t done = 0; done < bytes;) {
        const size_t n = std::min(kStagingChunk, bytes - done);
        std::memcpy(stage.ptr, src + done, n);
        cuda_memcpy(ordinal, dst + done, stage.ptr, n, s);
        sync(s);
        done += n;
    }
}

// Device -> host of contiguous bytes through page-locked staging, in bounded chunks; waits.
void d2h(int32_t ordinal, char* dst, const char* src, size_t bytes, const aph_stream* s) {
    if (bytes == 0) return;
    Staging stage(std::min(bytes, kStagingChunk), s->key);
    for (size_t done = 0; done < bytes;) {
        const size_t n = std::min(kStagingChunk, bytes - done);
        cuda_memcpy(ordinal, stage.ptr, src + done, n, s);
        sync(s);
        std::memcpy(dst + done, stage.ptr, n);
        done += n;
    }
}

}  // namespace

void host_strided_copy(char* dst, const int64_t* dst_strides, const char* src, const int64_t* src_strides,
                       const int64_t* shape, size_t ndim, size_t elem) {
    const Coalesced c = coalesce(std::vector<int64_t>(shape, shape + ndim),
                                 std::vector<int64_t>(dst_strides, dst_strides + ndim),
                                 std::vector<int64_t>(src_strides, src_strides + ndim));
    for (int64_t s : c.shape)
        if (s == 0) return;
    const size_t nd = c.shape.size();
    if (nd == 0) {
        std::memcpy(dst, src, elem);
        return;
    }
    // The innermost dimension is copied as one run when both sides are unit-stride there.
    const bool run = c.a[nd - 1] == 1 && c.b[nd - 1] == 1;
    const int64_t inner = c.shape[nd - 1];
    std::vector<int64_t> idx(nd, 0);
    const int64_t as = c.a[nd - 1] * static_cast<int64_t>(elem), bs = c.b[nd - 1] * static_cast<int64_t>(elem);
    for (;;) {
        int64_t ao = 0, bo = 0;
        for (size_t d = 0; d + 1 < nd; ++d) {
            ao += idx[d] * c.a[d];
            bo += idx[d] * c.b[d];
        }
        char* dp = dst + ao * static_cast<int64_t>(elem);
        const char* sp = src + bo * static_cast<int64_t>(elem);
        if (run) {
            std::memmove(dp, sp, static_cast<size_t>(inner) * elem);
        } else {
            switch (elem) {
                case 1:
                    for (int64_t i = 0; i < inner; ++i) dp[i * as] = sp[i * bs];
                    break;
                case 2:
                    for (int64_t i = 0; i < inner; ++i) std::memcpy(dp + i * as, sp + i * bs, 2);
                    break;
                case 4:
                    for (int64_t i = 0; i < inner; ++i) std::memcpy(dp + i * as, sp + i * bs, 4);
                    break;
                case 8:
                    for (int64_t i = 0; i < inner; ++i) std::memcpy(dp + i * as, sp + i * bs, 8);
                    break;
                default:
                    for (int64_t i = 0; i < inner; ++i) std::memcpy(dp + i * as, sp + i * bs, elem);
            }
        }
        // Next outer index (odometer over all but the innermost dimension).
        size_t d = nd - 1;
        while (d > 0) {
            --d;
            if (++idx[d] < c.shape[d]) break;
            idx[d] = 0;
            if (d == 0) return;
        }
        if (nd == 1) return;
    }
}

void copy(aph_tensor* dst, const aph_tensor* src, aph_stream* stream, bool synchronous) {
    if (dst->dtype != src->dtype) {
        throw invalid_argument(
            strprintf("dtype mismatch: dst is %s, src is %s", dtype::name(dst->dtype), dtype::name(src->dtype)));
    }
    if (dst->shape != src->shape) {
        throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                          strprintf("expected %s, got %s",
                                    memory::format_shape(dst->shape.data(), dst->shape.size()).c_str(),
                                    memory::format_shape(src->shape.data(), src->shape.size()).c_str()));
    }
    check_writable(dst);
    aph_device* D = dst->device();
    aph_device* S = src->device();
    if (stream && stream->device != D && stream->device != S) {
        throw device_mismatch(strprintf("copy from %s to %s on a stream of %s", S->label.c_str(), D->label.c_str(),
                                        stream->device->label.c_str()));
    }
    if (dst->numel == 0) return;
    if (dst == src || (dst->storage == src->storage && dst->offset == src->offset && dst->strides == src->strides))
        return;
    const size_t elem = dst->elem;
    const size_t bytes = dst->nbytes();

    if (D->kind == APH_DEVICE_CPU && S->kind == APH_DEVICE_CPU) {
        if (overlapping(*dst, *src)) {
            // Overlapping views (which the header asks callers to avoid): an element-by-element
            // copy would read elements it has already overwritten, so read all of src first.
            const std::vector<int64_t> cs = contiguous_strides(src->shape);
            std::vector<char> staged(bytes);
            host_strided_copy(staged.data(), cs.data(), src->data(), src->strides.data(), src->shape.data(),
                              src->shape.size(), elem);
            host_strided_copy(dst->data(), dst->strides.data(), staged.data(), cs.data(), dst->shape.data(),
                              dst->shape.size(), elem);
            return;
        }
        host_strided_copy(dst->data(), dst->strides.data(), src->data(), src->strides.data(), dst->shape.data(),
                          dst->shape.size(), elem);
        return;
    }
    if (D->kind == APH_DEVICE_CUDA && S->kind == APH_DEVICE_CUDA && D == S) {
        aph_stream* s = stream::resolve(D, stream);
        if (overlapping(*dst, *src)) {
            // Overlapping views: gather all of src first (stream order makes the scatter wait).
            TensorRef tmp;
            tmp.t = create(D, s, src->dtype, src->shape.data(), src->shape.size());
            cuda_strided(D->ordinal, tmp.t->data(), tmp.t->strides, src->data(), src->strides, src->shape, elem, s);
            cuda_strided(D->ordinal, dst->data(), dst->strides, tmp.t->data(), tmp.t->strides, dst->shape, elem, s);
            if (synchronous) sync(s);
            else
                queued_on(s, dst, src);
            return;
        }
        if (is_contiguous(*dst) && is_contiguous(*src)) {
            cuda_memcpy(D->ordinal, dst->data(), src->data(), bytes, s);
        } else {
            cuda_strided(D->ordinal, dst->data(), dst->strides, src->data(), src->strides, dst->shape, elem, s);
        }
        if (synchronous) sync(s);
        else
            queued_on(s, dst, src);
        return;
    }
    if (D->kind == APH_DEVICE_CUDA && S->kind == APH_DEVICE_CUDA) {
        // Between two GPUs: gather on the source, peer copy, scatter on the destination.
        aph_stream* ss = stream && stream->device == S ? stream : S->default_stream;
        aph_stream* ds = stream::resolve(D, stream && stream->device == D ? stream : nullptr);
        sync(ds);  // the destination's earlier work is done before the peer copy writes
        TensorRef src_tmp, dst_tmp;
        const char* from = contiguous_on_stream(src, ss, src_tmp);
        char* to = dst->data();
        const bool dst_contig = is_contiguous(*dst);
        if (!dst_contig) {
            dst_tmp.t = create(D, ds, dst->dtype, dst->shape.data(), dst->shape.size());
            to = dst_tmp.t->data();
        }
        mem::cuda_call("cudaMemcpyPeerAsync", [&](char* m, size_t n) {
            return api().memcpy_peer_async(to, D->ordinal, from, S->ordinal, bytes, ss->key.native, m, n);
        });
        sync(ss);
        if (!dst_contig) {
            cuda_strided(D->ordinal, dst->data(), dst->strides, to, dst_tmp.t->strides, dst->shape, elem, ds);
            if (synchronous) sync(ds);
            else
                queued_on(ds, dst);
        }
        return;
    }
    if (D->kind == APH_DEVICE_CUDA) {
        // Host -> device: a contiguous host source (made on the host if needed), staged DMA,
        // and a scatter on the device if the destination is strided.
        aph_stream* s = stream::resolve(D, stream && stream->device == D ? stream : nullptr);
        TensorRef host_tmp;
        const char* from = src->data();
        if (!is_contiguous(*src)) {
            host_tmp.t = to_device(src, S);
            from = host_tmp.t->data();
        }
        if (is_contiguous(*dst)) {
            h2d(D->ordinal, dst->data(), from, bytes, s, synchronous);
        } else {
            TensorRef tmp;
            tmp.t = create(D, s, dst->dtype, dst->shape.data(), dst->shape.size());
            h2d(D->ordinal, tmp.t->data(), from, bytes, s, synchronous);
            cuda_strided(D->ordinal, dst->data(), dst->strides, tmp.t->data(), tmp.t->strides, dst->shape, elem, s);
            if (synchronous) sync(s);
        }
        if (!synchronous) queued_on(s, dst);
        return;
    }
    // Device -> host (always waits): gather on the device, staged DMA, scatter on the host if the
    // destination is strided.
    aph_stream* s = stream::resolve(S, stream && stream->device == S ? stream : nullptr);
    TensorRef tmp;
    const char* from = contiguous_on_stream(src, s, tmp);
    if (is_contiguous(*dst)) {
        d2h(S->ordinal, dst->data(), from, bytes, s);
        return;
    }
    TensorRef host_tmp;
    host_tmp.t = create(D, nullptr, dst->dtype, dst->shape.data(), dst->shape.size());
    d2h(S->ordinal, host_tmp.t->data(), from, bytes, s);
    host_strided_copy(dst->data(), dst->strides.data(), host_tmp.t->data(), host_tmp.t->strides.data(),
                      dst->shape.data(), dst->shape.size(), elem);
}

void to_host(const aph_tensor* t, void* dst, size_t nbytes, aph_stream* stream, bool synchronous) {
    check_bytes(t->nbytes(), nbytes);
    if (nbytes == 0) return;
    if (dst == nullptr) throw invalid_argument("dst must not be NULL when nbytes > 0");
    const std::vector<int64_t> cs = contiguous_strides(t->shape);
    aph_device* d = t->device();
    if (d->kind == APH_DEVICE_CPU) {
        host_strided_copy(static_cast<char*>(dst), cs.data(), t->data(), t->strides.data(), t->shape.data(),
                          t->shape.size(), t->elem);
        return;
    }
    aph_stream* s = stream::resolve(d, stream);
    TensorRef tmp;
    const char* from = contiguous_on_stream(t, s, tmp);
    if (!synchronous) {
        cuda_memcpy(d->ordinal, dst, from, nbytes, s);  // dst must stay valid until the stream gets there
        queued_on(s, t);
        return;
    }
    d2h(d->ordinal, static_cast<char*>(dst), from, nbytes, s);
}

void from_host(aph_tensor* t, const void* src, size_t nbytes, aph_stream* stream, bool synchronous) {
    check_bytes(t->nbytes(), nbytes);
    check_writable(t);
    if (nbytes == 0) return;
    if (src == nullptr) throw invalid_argument("src must not be NULL when nbytes > 0");
    const std::vector<int64_t> cs = contiguous_strides(t->shape);
    aph_device* d = t->device();
    if (d->kind == APH_DEVICE_CPU) {
        host_strided_copy(t->data(), t->strides.data(), static_cast<const char*>(src), cs.data(), t->shape.data(),
                          t->shape.size(), t->elem);
        return;
    }
    aph_stream* s = stream::resolve(d, stream);
    const bool contig = is_contiguous(*t);
    TensorRef tmp;
    char* to = t->data();
    if (!contig) {
        tmp.t = create(d, s, t->dtype, t->shape.data(), t->shape.size());
        to = tmp.t->data();
    }
    h2d(d->ordinal, to, static_cast<const char*>(src), nbytes, s, synchronous);
    if (!contig) {
        cuda_strided(d->ordinal, t->data(), t->strides, to, tmp.t->strides, t->shape, t->elem, s);
        if (synchronous) sync(s);
    }
    if (!synchronous) queued_on(s, t);
}

void fill_zero(aph_tensor* t, aph_stream* stream, bool synchronous) {
    check_writable(t);
    if (t->numel == 0) return;
    aph_device* d = t->device();
    if (!is_contiguous(*t)) throw invalid_argument("fill_zero needs a contiguous tensor");
    if (d->kind == APH_DEVICE_CPU) {
        std::memset(t->data(), 0, t->nbytes());
        return;
    }
    aph_stream* s = stream::resolve(d, stream);
    mem::cuda_call("cudaMemsetAsync", [&](char* m, size_t n) {
        return api().memset_async(d->ordinal, t->data(), 0, t->nbytes(), s->key.native, m, n);
    });
    if (synchronous) sync(s);
    else
        queued_on(s, t);
}

aph_tensor* to_device(const aph_tensor* t, aph_device* device) {
    aph_tensor* out = create(device, nullptr, t->dtype, t->shape.data(), t->shape.size());
    try {
        copy(out, t, nullptr, true);
    } catch (...) {
        release(out);
        throw;
    }
    return out;
}

aph_tensor* contiguous(aph_tensor* t) {
    if (is_contiguous(*t)) {
        retain(t);
        return t;
    }
    return to_device(t, t->device());
}

void record_stream(aph_tensor* t, aph_stream* stream) {
    aph_stream* s = stream::resolve(t->device(), stream);
    if (alloc::Block* b = t->storage->block ? t->storage->block : t->storage->borrowed) {
        (*t->device()->memory).allocator.record_stream(b, s->key);
    }
}

void record_use(const aph_tensor* t, aph_stream* s) {
    if (t == nullptr) return;
    const Storage* st = t->storage;
    if ((st->block != nullptr && st->stream != s) || st->borrowed != nullptr) {
        record_stream(const_cast<aph_tensor*>(t), s);
    }
}

void record_borrowed_use(const aph_tensor* t, aph_stream* s) {
    if (t != nullptr && t->storage->borrowed != nullptr) record_stream(const_cast<aph_tensor*>(t), s);
}

}  // namespace aph::tensor
