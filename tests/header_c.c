/* Compiled with -std=c11 -Wall -Wextra -Werror -pedantic: the public header must be clean C11. */
#include <aphelion.h>

/* Every declaration is usable from C: take the address of a few and use the types. */
static aph_status (*const use_create)(uint64_t, aph_tracker**) = aph_tracker_create;

int header_c_check(void);
int header_c_check(void) {
    aph_cuda_info info;
    info.struct_size = sizeof info;
    (void)info;
    aph_dtype d = APH_DTYPE_BF16;
    aph_status s = APH_ERR_INTERNAL;
    aph_log_level l = APH_LOG_TRACE;
    aph_device_kind k = APH_DEVICE_CUDA;
    return (int)d + (int)s + (int)l + (int)k + (use_create != 0) + (int)APH_VERSION_MAJOR;
}
