// DLPack export and import (header section 13).
#include "dlpack.hpp"

#include "aphelion_dlpack.h"
#include "device.hpp"
#include "dtype.hpp"
#include "error.hpp"
#include "tensor.hpp"

#include <cstring>

namespace aph::dlpack {
namespace {

// What an exported managed tensor owns: the tensor reference and the shape/strides arrays.
template <class Managed>
struct Export {
    Managed managed{};
    aph_tensor* tensor = nullptr;
    int64_t shape[APH_TENSOR_MAX_DIMS] = {};
    int64_t strides[APH_TENSOR_MAX_DIMS] = {};
};

DLDataType to_dl(aph_dtype d) {
    DLDataType t{};
    t.lanes = 1;
    t.bits = static_cast<uint8_t>(8 * dtype::size(d));
    switch (d) {
        case APH_DTYPE_F32:
        case APH_DTYPE_F16:
        case APH_DTYPE_F64: t.code = kDLFloat; break;
        case APH_DTYPE_BF16: t.code = kDLBfloat; break;
        case APH_DTYPE_U8:
        case APH_DTYPE_U32: t.code = kDLUInt; break;
        case APH_DTYPE_I8:
        case APH_DTYPE_I16:
        case APH_DTYPE_I32:
        case APH_DTYPE_I64: t.code = kDLInt; break;
        case APH_DTYPE_BOOL: t.code = kDLBool; break;
        case APH_DTYPE_F8E4M3: t.code = kDLFloat8_e4m3fn; break;
        case APH_DTYPE_F8E5M2: t.code = kDLFloat8_e5m2; break;
        default: throw invalid_argument("the tensor has an invalid dtype");
    }
    return t;
}

aph_dtype from_dl(DLDataType t) {
    if (t.lanes != 1) {
        throw Error::kind(APH_ERR_NOT_IMPLEMENTED,
                          strprintf("DLPack dtype with %u lanes (vector types); only lanes 1 is supported", t.lanes));
    }
    switch (t.code) {
        case kDLFloat:
            if (t.bits == 16) return APH_DTYPE_F16;
            if (t.bits == 32) return APH_DTYPE_F32;
            if (t.bits == 64) return APH_DTYPE_F64;
            break;
        case kDLBfloat:
            if (t.bits == 16) return APH_DTYPE_BF16;
            break;
        case kDLInt:
            if (t.bits == 8) return APH_DTYPE_I8;
            if (t.bits == 16) return APH_DTYPE_I16;
            if (t.bits == 32) return APH_DTYPE_I32;
            if (t.bits == 64) return APH_DTYPE_I64;
            break;
        case kDLUInt:
            if (t.bits == 8) return APH_DTYPE_U8;
            if (t.bits == 32) return APH_DTYPE_U32;
            break;
        case kDLBool:
            if (t.bits == 8) return APH_DTYPE_BOOL;
            break;
        case kDLFloat8_e4m3fn:
            if (t.bits == 8) return APH_DTYPE_F8E4M3;
            break;
        case kDLFloat8_e5m2:
            if (t.bits == 8) return APH_DTYPE_F8E5M2;
            break;
        default: break;
    }
    throw Error::kind(APH_ERR_NOT_IMPLEMENTED,
                      strprintf("DLPack dtype (code %u, bits %u) has no libaphelion equivalent", t.code, t.bits));
}

void fill(DLTensor& dl, aph_tensor* t, int64_t* shape, int64_t* strides) {
    const aph_device* d = t->device();
    dl.data = t->storage->base;
    dl.byte_offset = t->offset;
    if (t->numel == 0) {  // DLPack: a zero-size tensor's data should be NULL
        dl.data = nullptr;
        dl.byte_offset = 0;
    }
    dl.device.device_type = d->kind == APH_DEVICE_CUDA ? kDLCUDA : kDLCPU;
    dl.device.device_id = d->kind == APH_DEVICE_CUDA ? d->ordinal : 0;
    dl.ndim = static_cast<int32_t>(t->shape.size());
    dl.dtype = to_dl(t->dtype);
    for (size_t i = 0; i < t->shape.size(); ++i) {
        shape[i] = t->shape[i];
        strides[i] = t->strides[i];
    }
    dl.shape = t->shape.empty() ? nullptr : shape;
    dl.strides = t->shape.empty() ? nullptr : strides;
}

template <class Managed>
void delete_export(Managed* m) {
    if (m == nullptr) return;
    auto* e = static_cast<Export<Managed>*>(m->manager_ctx);
    tensor::release(e->tensor);
    delete e;
}

// The import's ownership: the producer's managed tensor, whose deleter runs when the storage goes.
template <class Managed>
void call_producer_deleter(void* user_data, void*) {
    auto* m = static_cast<Managed*>(user_data);
    if (m->deleter) m->deleter(m);
}

template <class Managed>
aph_tensor* import(Managed* src, bool read_only) {
    const DLTensor& dl = src->dl_tensor;
    if (dl.ndim < 0 || dl.ndim > APH_TENSOR_MAX_DIMS) {
        throw invalid_argument(
            strprintf("src->dl_tensor.ndim is %d; it must be in [0, %d]", dl.ndim, APH_TENSOR_MAX_DIMS));
    }
    const size_t ndim = static_cast<size_t>(dl.ndim);
    if (ndim > 0 && dl.shape == nullptr) throw invalid_argument("src->dl_tensor.shape must not be NULL when ndim > 0");
    for (size_t i = 0; i < ndim; ++i) {
        if (dl.shape[i] < 0) {
            throw invalid_argument(strprintf("src->dl_tensor.shape[%zu] is %lld; dimensions must be >= 0", i,
                                             static_cast<long long>(dl.shape[i])));
        }
        if (dl.strides && dl.strides[i] < 0) {
            throw Error::kind(APH_ERR_NOT_IMPLEMENTED,
                              strprintf("src->dl_tensor.strides[%zu] is %lld: negative strides", i,
                                        static_cast<long long>(dl.strides[i])));
        }
    }
    const aph_dtype dt = from_dl(dl.dtype);
    aph_device_kind kind;
    int32_t ordinal = 0;
    switch (dl.device.device_type) {
        case kDLCPU:
        case kDLCUDAHost: kind = APH_DEVICE_CPU; break;
        case kDLCUDA:
        case kDLCUDAManaged:
            kind = APH_DEVICE_CUDA;
            ordinal = dl.device.device_id;
            if (ordinal < 0) {
                throw invalid_argument(strprintf("src->dl_tensor.device.device_id is %d", ordinal));
            }
            break;
        default:
            throw Error::kind(APH_ERR_NOT_IMPLEMENTED,
                              strprintf("DLPack device type %d; libaphelion takes kDLCPU, kDLCUDAHost, "
                                        "kDLCUDA and kDLCUDAManaged",
                                        static_cast<int>(dl.device.device_type)));
    }
    aph_device* device = device::open(kind, ordinal);
    aph_tensor* t = nullptr;
    try {
        bool has_elements = true;  // (not a product: that may overflow; from_blob checks it)
        for (size_t i = 0; i < ndim; ++i) has_elements = has_elements && dl.shape[i] > 0;
        char* data = static_cast<char*>(dl.data);
        if (data == nullptr && has_elements)
            throw invalid_argument("src->dl_tensor.data must not be NULL for a tensor with elements");
        if (has_elements && dl.byte_offset > UINTPTR_MAX - reinterpret_cast<uintptr_t>(data)) {
            throw invalid_argument(strprintf("src->dl_tensor.byte_offset %llu from data %p wraps the address space",
                                             static_cast<unsigned long long>(dl.byte_offset), dl.data));
        }
        t = tensor::from_blob(device, dt, dl.shape, dl.strides, ndim, has_elements ? data + dl.byte_offset : nullptr,
                              &call_producer_deleter<Managed>, src, read_only);
    } catch (...) {
        device::release(device);
        throw;
    }
    device::release(device);  // the tensor holds its own reference
    return t;
}

}  // namespace

DLManagedTensorVersioned* to_versioned(aph_tensor* t) {
    auto* e = new Export<DLManagedTensorVersioned>();
    try {
        fill(e->managed.dl_tensor, t, e->shape, e->strides);
    } catch (...) {
        delete e;
        throw;
    }
    e->managed.version.major = DLPACK_MAJOR_VERSION;
    e->managed.version.minor = DLPACK_MINOR_VERSION;
    e->managed.flags = t->read_only ? DLPACK_FLAG_BITMASK_READ_ONLY : 0;
    e->managed.manager_ctx = e;
    e->managed.deleter = &delete_export<DLManagedTensorVersioned>;
    tensor::retain(t);
    e->tensor = t;
    return &e->managed;
}

DLManagedTensor* to_unversioned(aph_tensor* t) {
    // The legacy struct has no flags: a consumer takes its memory as writable. numpy refuses
    // the same export for read-only arrays.
    if (t->read_only) {
        throw invalid_argument("tensor is read-only, which the unversioned DLManagedTensor cannot say; "
                               "export it with aph_tensor_to_dlpack (DLPACK_FLAG_BITMASK_READ_ONLY)");
    }
    auto* e = new Export<DLManagedTensor>();
    try {
        fill(e->managed.dl_tensor, t, e->shape, e->strides);
    } catch (...) {
        delete e;
        throw;
    }
    e->managed.manager_ctx = e;
    e->managed.deleter = &delete_export<DLManagedTensor>;
    tensor::retain(t);
    e->tensor = t;
    return &e->managed;
}

aph_tensor* from_versioned(DLManagedTensorVersioned* src) {
    if (src->version.major != DLPACK_MAJOR_VERSION) {
        throw Error::kind(APH_ERR_NOT_IMPLEMENTED,
                          strprintf("src->version is %u.%u; libaphelion reads DLPack major version %d",
                                    src->version.major, src->version.minor, DLPACK_MAJOR_VERSION));
    }
    return import(src, (src->flags & DLPACK_FLAG_BITMASK_READ_ONLY) != 0);
}

aph_tensor* from_unversioned(DLManagedTensor* src) { return import(src, false); }

}  // namespace aph::dlpack
