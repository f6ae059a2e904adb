/*
 * The private interface between libaphelion.so and its CUDA module, libaphelion-cuda.so.MAJOR.
 * Not installed and not part of the public ABI: the core and the module are always built
 * together, and the core refuses a module whose abi_version or library_version differ.
 *
 * The module exports exactly one symbol, aph_cuda_module_entry, which returns a pointer to a
 * static table of the functions below. Every function is safe to call from any thread, returns
 * 0 on success, and on failure writes a NUL-terminated message (at most msg_len bytes, the
 * underlying CUDA error name included) and returns non-zero. None of them throws.
 */
#ifndef APHELION_CUDA_MODULE_ABI_H
#define APHELION_CUDA_MODULE_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "kernel_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define APH_CUDA_MODULE_ABI_VERSION 3u
#define APH_CUDA_MAX_DIMS 16
#define APH_CUDA_MODULE_ENTRY_SYMBOL "aph_cuda_module_entry"

typedef struct aph_cuda_module_device {
    char name[256];
    int32_t cc_major;
    int32_t cc_minor;
    int32_t multiprocessors;
    uint64_t total_memory;
} aph_cuda_module_device;

/* A strided element copy dst[i] = src[i] over an index space of shape; strides in elements,
 * elem_size 1, 2, 4 or 8 bytes. */
typedef struct aph_cuda_strided_copy {
    void* dst;
    const void* src;
    int32_t elem_size;
    int32_t ndim;
    int64_t shape[APH_CUDA_MAX_DIMS];
    int64_t dst_strides[APH_CUDA_MAX_DIMS];
    int64_t src_strides[APH_CUDA_MAX_DIMS];
} aph_cuda_strided_copy;

/* Streams and events are passed as void* (cudaStream_t, cudaEvent_t); stream NULL is the
 * legacy default stream. Functions that take an ordinal make that device current for the call
 * and restore the calling thread's previous device afterwards. */
typedef struct aph_cuda_module_api {
    uint32_t abi_version;        /* APH_CUDA_MODULE_ABI_VERSION */
    const char* library_version; /* the libaphelion version the module was built with */
    int32_t runtime_version;     /* CUDART_VERSION the module was built with */

    /* Looks for the driver and counts devices. Always fills all outputs; when no device is
     * usable, reason says why ("NVIDIA driver not found (...)"). Returns non-zero only when
     * an output pointer is NULL. */
    int (*probe)(int* driver_present, int32_t* driver_version, int32_t* device_count, char* reason, size_t reason_len);
    int (*device_properties)(int32_t ordinal, aph_cuda_module_device* out, char* msg, size_t msg_len);
    int (*memory_info)(int32_t ordinal, uint64_t* free_bytes, uint64_t* total_bytes, char* msg, size_t msg_len);

    /* Memory. *out_of_memory is set to 1 when the failure was cudaErrorMemoryAllocation. */
    int (*mem_alloc)(int32_t ordinal, size_t bytes, void** out, int* out_of_memory, char* msg, size_t msg_len);
    int (*mem_free)(int32_t ordinal, void* ptr, char* msg, size_t msg_len);
    int (*host_alloc)(size_t bytes, void** out, int* out_of_memory, char* msg, size_t msg_len);
    int (*host_free)(void* ptr, char* msg, size_t msg_len);

    /* Copies and fills, queued on stream (cudaMemcpyDefault: any direction, unified addressing). */
    int (*memcpy_async)(int32_t ordinal, void* dst, const void* src, size_t bytes, void* stream, char* msg,
                        size_t msg_len);
    int (*memcpy_peer_async)(void* dst, int32_t dst_ordinal, const void* src, int32_t src_ordinal, size_t bytes,
                             void* stream, char* msg, size_t msg_len);
    int (*memset_async)(int32_t ordinal, void* ptr, int value, size_t bytes, void* stream, char* msg, size_t msg_len);
    int (*strided_copy_async)(int32_t ordinal, const aph_cuda_strided_copy* copy, void* stream, char* msg,
                              size_t msg_len);

    /* Streams (created non-blocking) and events (timing disabled). */
    int (*stream_create)(int32_t ordinal, void** out, char* msg, size_t msg_len);
    int (*stream_destroy)(int32_t ordinal, void* stream, char* msg, size_t msg_len);
    int (*stream_synchronize)(int32_t ordinal, void* stream, char* msg, size_t msg_len);
    int (*stream_query)(int32_t ordinal, void* stream, int* idle, char* msg, size_t msg_len);
    int (*event_create)(int32_t ordinal, void** out, char* msg, size_t msg_len);
    int (*event_destroy)(void* event, char* msg, size_t msg_len);
    int (*event_record)(int32_t ordinal, void* event, void* stream, char* msg, size_t msg_len);
    int (*event_query)(void* event, int* done, char* msg, size_t msg_len);
    int (*event_synchronize)(void* event, char* msg, size_t msg_len);
    int (*stream_wait_event)(int32_t ordinal, void* stream, void* event, char* msg, size_t msg_len);
    int (*device_synchronize)(int32_t ordinal, char* msg, size_t msg_len);

    /* Kernels (ABI v3): queues operation op (aph_k_op) described by desc (the aph_k_* struct of
     * that op, desc_size bytes, read before the call returns) on stream. Returns 0, or an
     * APH_K_STATUS_* code with msg. */
    int (*kernel_launch)(int32_t ordinal, int32_t op, const void* desc, size_t desc_size, void* stream, char* msg,
                         size_t msg_len);
} aph_cuda_module_api;

typedef const aph_cuda_module_api* (*aph_cuda_module_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
