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

#ifdef __cplusplus
extern "C" {
#endif

#define APH_CUDA_MODULE_ABI_VERSION 1u
#define APH_CUDA_MODULE_ENTRY_SYMBOL "aph_cuda_module_entry"

typedef struct aph_cuda_module_device {
    char name[256];
    int32_t cc_major;
    int32_t cc_minor;
    int32_t multiprocessors;
    uint64_t total_memory;
} aph_cuda_module_device;

typedef struct aph_cuda_module_api {
    uint32_t abi_version;        /* APH_CUDA_MODULE_ABI_VERSION */
    const char* library_version; /* the libaphelion version the module was built with */
    int32_t runtime_version;     /* CUDART_VERSION the module was built with */

    /* Looks for the driver and counts devices. Always fills all outputs; when no device is
     * usable, reason says why ("NVIDIA driver not found (...)"). Returns non-zero only when
     * an output pointer is NULL. */
    int (*probe)(int* driver_present, int32_t* driver_version, int32_t* device_count,
                 char* reason, size_t reason_len);
    int (*device_properties)(int32_t ordinal, aph_cuda_module_device* out, char* msg,
                             size_t msg_len);
    int (*memory_info)(int32_t ordinal, uint64_t* free_bytes, uint64_t* total_bytes, char* msg,
                       size_t msg_len);
} aph_cuda_module_api;

typedef const aph_cuda_module_api* (*aph_cuda_module_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
