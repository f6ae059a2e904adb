// Shared machinery of the operations: see op.hpp.
#include "op.hpp"

#include "../core/device.hpp"
#include "../core/device_memory.hpp"
#include "../core/dtype.hpp"
#include "../core/env.hpp"
#include "../core/log.hpp"
#include "../core/memory.hpp"
#include "../core/stream.hpp"
#include "../kernels/cpu.hpp"

#include <atomic>
#include <cstring>

namespace aph::ops {
namespace {

aph_status status_of_kernel(int code) {
    switch (code) {
        case APH_K_STATUS_NOT_IMPLEMENTED: return APH_ERR_NOT_IMPLEMENTED;
        case APH_K_STATUS_BAD_INDEX: return APH_ERR_INVALID_ARGUMENT;
        case APH_K_STATUS_OUT_OF_MEMORY: return APH_ERR_OUT_OF_MEMORY;
        default: return APH_ERR_KERNEL;
    }
}

}  // namespace

void cpu_dispatch_warning() {
    static std::atomic<bool> done{false};
    if (done.load(std::memory_order_relaxed)) return;
    done.store(true, std::memory_order_relaxed);
    if (env::forcing_cpu_variable() == nullptr) device::warn_cpu_once("aphelion");
}

std::string shape_str(std::span<const int64_t> shape) { return memory::format_shape(shape.data(), shape.size()); }

void throw_shape(const char* name, std::span<const int64_t> expected, std::span<const int64_t> got) {
    log::logf(APH_LOG_DEBUG, "aphelion::ops", "%s has the wrong shape", name);
    throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                      strprintf("expected %s, got %s", shape_str(expected).c_str(), shape_str(got).c_str()));
}

void throw_dims(const std::string& detail) { throw Error::kind(APH_ERR_DIMENSION_MISMATCH, detail); }

Call::Call(aph_stream* stream, std::initializer_list<const aph_tensor*> tensors) {
    for (const aph_tensor* t : tensors) {
        if (t == nullptr) continue;
        aph_device* d = t->device();
        if (device_ == nullptr) {
            device_ = d;
        } else if (d->kind != device_->kind || d->ordinal != device_->ordinal) {
            throw device_mismatch(strprintf("operation on %s and %s", device_->label.c_str(), d->label.c_str()));
        }
    }
    if (device_ == nullptr) throw invalid_argument("an operation needs at least one tensor");
    if (stream != nullptr && (stream->device->kind != device_->kind || stream->device->ordinal != device_->ordinal)) {
        throw device_mismatch(
            strprintf("a stream of %s used for work on %s", stream->device->label.c_str(), device_->label.c_str()));
    }
    stream_ = stream != nullptr ? stream : device_->default_stream;
}

Call::~Call() {
    for (aph_tensor* t : temps_) tensor::release(t);
}

bool Call::cuda() const { return device_->kind == APH_DEVICE_CUDA; }

aph_kt Call::kt(const aph_tensor* t) {
    aph_kt k{};
    if (t == nullptr) return k;
    use(t);
    k.data = t->data();
    k.dtype = t->dtype;
    k.ndim = static_cast<int32_t>(t->shape.size());
    for (size_t i = 0; i < t->shape.size(); ++i) {
        k.shape[i] = t->shape[i];
        k.strides[i] = t->strides[i];
    }
    return k;
}

aph_kt Call::kt_as(const aph_tensor* t, const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
    aph_kt k{};
    use(t);
    k.data = t->data();
    k.dtype = t->dtype;
    k.ndim = static_cast<int32_t>(shape.size());
    for (size_t i = 0; i < shape.size(); ++i) {
        k.shape[i] = shape[i];
        k.strides[i] = strides[i];
    }
    return k;
}

void Call::use(const aph_tensor* t) {
    for (const aph_tensor* u : used_) {
        if (u == t) return;
    }
    used_.push_back(t);
}

const aph_tensor* Call::contiguous(const aph_tensor* t) {
    if (t == nullptr || tensor::is_contiguous(*t)) return t;
    aph_tensor* c = temp(t->dtype, t->shape);
    copy(c, t);
    return c;
}

aph_tensor* Call::temp(aph_dtype dtype, const std::vector<int64_t>& shape) {
    temps_.reserve(temps_.size() + 1);
    aph_tensor* t = tensor::create(device_, stream_, dtype, shape.data(), shape.size());
    temps_.push_back(t);
    return t;
}

void Call::copy(aph_tensor* dst, const aph_tensor* src) { tensor::copy(dst, src, stream_, false); }

void Call::launch_raw(aph_k_op op, const void* desc, size_t size) {
    int rc = 0;
    std::string msg;
    if (device_->kind == APH_DEVICE_CPU) {
        cpu_dispatch_warning();
        rc = kernels::cpu_launch(op, desc, msg);
    } else {
        const aph_cuda_module_api& api = mem::cuda_api();
        char buf[512] = {0};
        rc = api.kernel_launch(device_->ordinal, op, desc, size, stream_->key.native, buf, sizeof buf);
        if (rc != 0) msg = buf;
        // Memory allocated on another stream is now in use on this one: the allocator must not
        // hand it out again before this work finishes; nor may borrowed memory go back to its
        // owner (its deleter waits for every stream it was used on).
        if (rc == 0) {
            for (const aph_tensor* t : used_) tensor::record_use(t, stream_);
        }
    }
    if (rc != 0) {
        const aph_status st = status_of_kernel(rc);
        throw Error::kind(st, msg);
    }
}

void require_writable(const aph_tensor* out, const char* name, const std::vector<int64_t>& shape) {
    require(out, name);
    if (out->shape != shape) throw_shape(name, shape, out->shape);
    if (out->read_only)
        throw invalid_argument(strprintf("%s is read-only (memory-mapped weights or a read-only DLPack import)", name));
    for (size_t i = 0; i < out->shape.size(); ++i) {
        if (out->strides[i] == 0 && out->shape[i] > 1) {
            throw invalid_argument(strprintf("%s has a broadcast dimension (dim %zu: size %lld, stride 0); "
                                             "write into a contiguous tensor instead",
                                             name, i, static_cast<long long>(out->shape[i])));
        }
    }
}

void require_output(const aph_tensor* out, const char* name, aph_dtype dtype, const std::vector<int64_t>& shape) {
    require(out, name);
    if (out->dtype != dtype) {
        throw invalid_argument(
            strprintf("%s has dtype %s; this operation writes %s", name, dtype::name(out->dtype), dtype::name(dtype)));
    }
    require_writable(out, name, shape);
}

Output::Output(Call& call, aph_tensor* out, const char* name, aph_dtype dtype, const std::vector<int64_t>& shape)
    : call_(call), out_(out), work_(out) {
    require_output(out, name, dtype, shape);
    if (!tensor::is_contiguous(*out)) work_ = call.temp(dtype, shape);
}

void Output::finish() {
    if (work_ != out_) call_.copy(out_, work_);
}

void require_float(const Operand& t, const Target& target) {
    const aph_dtype d = t.dtype;
    if (d == APH_DTYPE_F32 || d == APH_DTYPE_F16 || d == APH_DTYPE_BF16) return;
    if (d == APH_DTYPE_F64) {
        if (target.cuda) throw Error::kind(APH_ERR_NOT_IMPLEMENTED, strprintf("f64 operations on CUDA (%s)", t.name));
        return;
    }
    throw invalid_argument(strprintf("%s has dtype %s; expected f32, f16, bf16 or f64", t.name, dtype::name(d)));
}

void require_dtype(const Operand& t, aph_dtype expected) {
    if (t.dtype != expected) {
        throw invalid_argument(
            strprintf("%s has dtype %s; expected %s", t.name, dtype::name(t.dtype), dtype::name(expected)));
    }
}

void require_index(const Operand& t) {
    if (t.dtype != APH_DTYPE_I32 && t.dtype != APH_DTYPE_I64) {
        throw invalid_argument(strprintf("%s has dtype %s; expected i32 or i64", t.name, dtype::name(t.dtype)));
    }
}

void require_castable(const Operand& t, const Target& target) {
    switch (t.dtype) {
        case APH_DTYPE_F32:
        case APH_DTYPE_F16:
        case APH_DTYPE_BF16:
        case APH_DTYPE_I32:
        case APH_DTYPE_I64: return;
        case APH_DTYPE_F64:
            if (target.cuda)
                throw Error::kind(APH_ERR_NOT_IMPLEMENTED, strprintf("f64 operations on CUDA (%s)", t.name));
            return;
        default:
            throw invalid_argument(
                strprintf("%s has dtype %s; expected f64, f32, f16, bf16, i32 or i64", t.name, dtype::name(t.dtype)));
    }
}

size_t normalize_dim(int64_t dim, size_t ndim, const char* name) {
    const int64_t n = static_cast<int64_t>(ndim);
    if (dim < -n || dim >= n) {
        throw invalid_argument(strprintf("%s %lld is out of range for a tensor with %zu dimensions", name,
                                         static_cast<long long>(dim), ndim));
    }
    return static_cast<size_t>(dim < 0 ? dim + n : dim);
}

namespace {
// [lo, hi) byte range of the elements of t within its storage.
void byte_range(const aph_tensor* t, uint64_t& lo, uint64_t& hi) {
    lo = hi = t->offset;
    if (t->numel == 0) return;
    int64_t span = 0;
    for (size_t i = 0; i < t->shape.size(); ++i) span += (t->shape[i] - 1) * t->strides[i];
    hi = t->offset + static_cast<uint64_t>(span) * t->elem + t->elem;
}
}  // namespace

bool overlaps(const aph_tensor* a, const aph_tensor* b) {
    if (a == nullptr || b == nullptr || a->numel == 0 || b->numel == 0) return false;
    if (a->storage != b->storage) {
        // Borrowed memory may be wrapped twice: compare addresses.
        if (a->device() != b->device()) return false;
    }
    uint64_t alo, ahi, blo, bhi;
    byte_range(a, alo, ahi);
    byte_range(b, blo, bhi);
    const uintptr_t abase = reinterpret_cast<uintptr_t>(a->storage->base);
    const uintptr_t bbase = reinterpret_cast<uintptr_t>(b->storage->base);
    return abase + alo < bbase + bhi && bbase + blo < abase + ahi;
}

bool same_view(const aph_tensor* a, const aph_tensor* b) {
    return a->data() == b->data() && a->shape == b->shape && a->strides == b->strides && a->dtype == b->dtype;
}

void require_no_overlap(const aph_tensor* out, const char* out_name, const aph_tensor* in, const char* in_name,
                        bool in_place_ok) {
    if (in == nullptr || !overlaps(out, in)) return;
    if (in_place_ok && same_view(out, in)) return;
    throw invalid_argument(strprintf("%s overlaps %s in memory%s", out_name, in_name,
                                     in_place_ok ? " (only exactly the same view is allowed: in place)" : ""));
}

std::vector<int64_t> broadcast_shapes(std::span<const int64_t> a, std::span<const int64_t> b) {
    const size_t n = std::max(a.size(), b.size());
    std::vector<int64_t> r(n);
    for (size_t i = 0; i < n; ++i) {
        const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
        if (x != y && x != 1 && y != 1) {
            throw_dims(strprintf("shapes %s and %s do not broadcast (dimension %zu: %lld vs %lld)",
                                 shape_str(a).c_str(), shape_str(b).c_str(), i, static_cast<long long>(x),
                                 static_cast<long long>(y)));
        }
        r[i] = x == 1 ? y : x;
    }
    return r;
}

std::vector<int64_t> broadcast_strides(const aph_tensor* t, const std::vector<int64_t>& shape) {
    const size_t n = shape.size(), m = t->shape.size();
    std::vector<int64_t> s(n, 0);
    for (size_t i = 0; i < m; ++i) {
        const size_t j = n - m + i;
        s[j] = (t->shape[i] == 1 && shape[j] != 1) ? 0 : t->strides[i];
    }
    return s;
}

int64_t product(std::span<const int64_t> shape, size_t from, size_t to) {
    int64_t p = 1;
    for (size_t i = from; i < shape.size() && i < to; ++i) p *= shape[i];
    return p;
}

}  // namespace aph::ops
