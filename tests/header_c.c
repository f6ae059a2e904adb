/* Compiled with -std=c11 -Wall -Wextra -Werror -pedantic: the public header must be clean C11. */
#include <aphelion.h>
#include <aphelion_dlpack.h> /* after aphelion.h: completes its forward-declared DLPack structs */

/* Every declaration is usable from C: take the address of a few and use the types. */
static aph_status (*const use_create)(uint64_t, aph_tracker**) = aph_tracker_create;
static aph_status (*const use_export)(aph_tensor*, DLManagedTensorVersioned**) = aph_tensor_to_dlpack;
static aph_status (*const use_import)(DLManagedTensor*, aph_tensor**) = aph_tensor_from_dlpack_unversioned;

int header_c_check(void);
int header_c_check(void) {
    aph_cuda_info info;
    info.struct_size = sizeof info;
    (void)info;
    aph_dtype d = APH_DTYPE_BF16;
    aph_status s = APH_ERR_INTERNAL;
    aph_log_level l = APH_LOG_TRACE;
    aph_device_kind k = APH_DEVICE_CUDA;
    aph_memory_stats stats;
    stats.struct_size = sizeof stats;
    DLManagedTensorVersioned m;
    m.version.major = DLPACK_MAJOR_VERSION;
    m.dl_tensor.device.device_type = kDLCUDA;
    return (int)d + (int)s + (int)l + (int)k + (use_create != 0) + (use_export != 0) + (use_import != 0) +
           (int)APH_VERSION_MAJOR + (int)m.version.major + (int)m.dl_tensor.device.device_type +
           (int)(stats.struct_size > 0) + APH_TENSOR_MAX_DIMS;
}
