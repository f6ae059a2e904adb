// C API, sections 12 and 13: tensors and DLPack.
#include "../core/device.hpp"
#include "../core/dlpack.hpp"
#include "../core/error.hpp"
#include "../core/stream.hpp"
#include "../core/tensor.hpp"

namespace t = aph::tensor;

extern "C" {

APH_API aph_status aph_tensor_create(aph_device* device, aph_dtype dtype, const int64_t* shape, size_t ndim,
                                     aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = t::create(device, nullptr, dtype, shape, ndim);
    });
}

APH_API aph_status aph_tensor_create_on_stream(aph_device* device, aph_dtype dtype, const int64_t* shape, size_t ndim,
                                               aph_stream* stream, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = t::create(device, stream, dtype, shape, ndim);
    });
}

APH_API aph_status aph_tensor_zeros(aph_device* device, aph_dtype dtype, const int64_t* shape, size_t ndim,
                                    aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        aph_tensor* r = t::create(device, nullptr, dtype, shape, ndim);
        try {
            t::fill_zero(r, nullptr, true);
        } catch (...) {
            t::release(r);
            throw;
        }
        *out = r;
    });
}

APH_API aph_status aph_tensor_from_host(aph_device* device, aph_dtype dtype, const int64_t* shape, size_t ndim,
                                        const void* data, size_t nbytes, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        if (data == nullptr && nbytes > 0) throw aph::invalid_argument("data must not be NULL when nbytes > 0");
        aph_tensor* r = t::create(device, nullptr, dtype, shape, ndim);
        try {
            t::from_host(r, data, nbytes, nullptr, true);
        } catch (...) {
            t::release(r);
            throw;
        }
        *out = r;
    });
}

APH_API aph_status aph_tensor_from_blob(aph_device* device, aph_dtype dtype, const int64_t* shape,
                                        const int64_t* strides, size_t ndim, void* data, aph_deleter deleter,
                                        void* user_data, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = t::from_blob(device, dtype, shape, strides, ndim, data, deleter, user_data, false);
    });
}

APH_API void aph_tensor_retain(aph_tensor* tensor) { t::retain(tensor); }
APH_API void aph_tensor_release(aph_tensor* tensor) { t::release(tensor); }

APH_API aph_dtype aph_tensor_dtype(const aph_tensor* tensor) { return tensor ? tensor->dtype : APH_DTYPE_INVALID; }
APH_API size_t aph_tensor_ndim(const aph_tensor* tensor) { return tensor ? tensor->shape.size() : 0; }
APH_API const int64_t* aph_tensor_shape(const aph_tensor* tensor) {
    return tensor && !tensor->shape.empty() ? tensor->shape.data() : nullptr;
}
APH_API const int64_t* aph_tensor_strides(const aph_tensor* tensor) {
    return tensor && !tensor->strides.empty() ? tensor->strides.data() : nullptr;
}
APH_API int64_t aph_tensor_numel(const aph_tensor* tensor) { return tensor ? tensor->numel : 0; }
APH_API uint64_t aph_tensor_nbytes(const aph_tensor* tensor) { return tensor ? tensor->nbytes() : 0; }
APH_API const void* aph_tensor_data(const aph_tensor* tensor) { return tensor ? tensor->data() : nullptr; }
APH_API aph_status aph_tensor_data_mut(aph_tensor* tensor, void** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        if (tensor->read_only)
            throw aph::invalid_argument(
                "tensor is read-only (memory-mapped weights or a read-only DLPack import); copy it to write");
        *out = tensor->data();
    });
}
APH_API uint64_t aph_tensor_byte_offset(const aph_tensor* tensor) { return tensor ? tensor->offset : 0; }
APH_API aph_device* aph_tensor_device(const aph_tensor* tensor) { return tensor ? tensor->device() : nullptr; }
APH_API int aph_tensor_is_contiguous(const aph_tensor* tensor) { return tensor && t::is_contiguous(*tensor) ? 1 : 0; }
APH_API int aph_tensor_is_read_only(const aph_tensor* tensor) { return tensor && tensor->read_only ? 1 : 0; }
APH_API int aph_tensor_shares_storage(const aph_tensor* a, const aph_tensor* b) {
    return a && b && a->storage == b->storage ? 1 : 0;
}

APH_API aph_status aph_tensor_to_host(const aph_tensor* tensor, void* dst, size_t nbytes) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        t::to_host(tensor, dst, nbytes, nullptr, true);
    });
}

APH_API aph_status aph_tensor_copy_from_host(aph_tensor* tensor, const void* src, size_t nbytes) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        t::from_host(tensor, src, nbytes, nullptr, true);
    });
}

APH_API aph_status aph_tensor_to_host_async(const aph_tensor* tensor, void* dst, size_t nbytes, aph_stream* stream) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        t::to_host(tensor, dst, nbytes, stream, false);
    });
}

APH_API aph_status aph_tensor_copy_from_host_async(aph_tensor* tensor, const void* src, size_t nbytes,
                                                   aph_stream* stream) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        t::from_host(tensor, src, nbytes, stream, false);
    });
}

APH_API aph_status aph_tensor_to_device(const aph_tensor* tensor, aph_device* device, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(device, "device");
        aph::require_arg(out, "out");
        *out = t::to_device(tensor, device);
    });
}

APH_API aph_status aph_tensor_copy(aph_tensor* dst, const aph_tensor* src) {
    return aph::guard([&] {
        aph::require_arg(dst, "dst");
        aph::require_arg(src, "src");
        t::copy(dst, src, nullptr, true);
    });
}

APH_API aph_status aph_tensor_copy_async(aph_tensor* dst, const aph_tensor* src, aph_stream* stream) {
    return aph::guard([&] {
        aph::require_arg(dst, "dst");
        aph::require_arg(src, "src");
        t::copy(dst, src, stream, false);
    });
}

APH_API aph_status aph_tensor_contiguous(aph_tensor* tensor, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::contiguous(tensor);
    });
}

APH_API aph_status aph_tensor_record_stream(aph_tensor* tensor, aph_stream* stream) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        t::record_stream(tensor, stream);
    });
}

APH_API aph_status aph_tensor_reshape(aph_tensor* tensor, const int64_t* shape, size_t ndim, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::reshape(tensor, shape, ndim);
    });
}

APH_API aph_status aph_tensor_permute(aph_tensor* tensor, const int64_t* dims, size_t ndim, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::permute(tensor, dims, ndim);
    });
}

APH_API aph_status aph_tensor_transpose(aph_tensor* tensor, int64_t dim0, int64_t dim1, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::transpose(tensor, dim0, dim1);
    });
}

APH_API aph_status aph_tensor_slice(aph_tensor* tensor, int64_t dim, int64_t start, int64_t stop, int64_t step,
                                    aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::slice(tensor, dim, start, stop, step);
    });
}

APH_API aph_status aph_tensor_narrow(aph_tensor* tensor, int64_t dim, int64_t start, int64_t length, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::narrow(tensor, dim, start, length);
    });
}

APH_API aph_status aph_tensor_select(aph_tensor* tensor, int64_t dim, int64_t index, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::select(tensor, dim, index);
    });
}

APH_API aph_status aph_tensor_expand(aph_tensor* tensor, const int64_t* shape, size_t ndim, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = t::expand(tensor, shape, ndim);
    });
}

APH_API aph_status aph_tensor_to_dlpack(aph_tensor* tensor, struct DLManagedTensorVersioned** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = aph::dlpack::to_versioned(tensor);
    });
}

APH_API aph_status aph_tensor_to_dlpack_unversioned(aph_tensor* tensor, struct DLManagedTensor** out) {
    return aph::guard([&] {
        aph::require_arg(tensor, "tensor");
        aph::require_arg(out, "out");
        *out = aph::dlpack::to_unversioned(tensor);
    });
}

APH_API aph_status aph_tensor_from_dlpack(struct DLManagedTensorVersioned* src, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(src, "src");
        aph::require_arg(out, "out");
        *out = aph::dlpack::from_versioned(src);
    });
}

APH_API aph_status aph_tensor_from_dlpack_unversioned(struct DLManagedTensor* src, aph_tensor** out) {
    return aph::guard([&] {
        aph::require_arg(src, "src");
        aph::require_arg(out, "out");
        *out = aph::dlpack::from_unversioned(src);
    });
}

}  // extern "C"
