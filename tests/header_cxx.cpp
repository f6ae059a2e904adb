// Compiled with -std=c++17 and -std=c++98, -Wall -Wextra -Werror -pedantic: the header must be
// clean C++ too, with C linkage for every function.
#include <aphelion.h>
#if __cplusplus >= 201103L
#include <aphelion_dlpack.h> /* DLPack's C++ declarations need C++11 (a typed enum) */

#include <type_traits>

/* Every enum is declared through APH_ENUM: a fixed underlying int in C++11 and later, so any
 * value a C caller passes is well-defined here. Section 14's operation enums included. */
#define APH_CHECK_ENUM(e) static_assert(std::is_same<std::underlying_type<e>::type, int>::value, #e " is not APH_ENUM")
APH_CHECK_ENUM(aph_status);
APH_CHECK_ENUM(aph_dtype);
APH_CHECK_ENUM(aph_binary_op);
APH_CHECK_ENUM(aph_unary_op);
APH_CHECK_ENUM(aph_activation);
APH_CHECK_ENUM(aph_reduce_op);
APH_CHECK_ENUM(aph_rope_layout);
APH_CHECK_ENUM(aph_quant_scheme);
#endif

extern "C" typedef aph_status create_fn(uint64_t, aph_tracker**);

int header_cxx_check();
int header_cxx_check() {
    create_fn* f = &aph_tracker_create;
    aph_cuda_info info;
    info.struct_size = sizeof info;
    aph_dtype d = APH_DTYPE_F8E5M2;
#if __cplusplus >= 201103L
    DLManagedTensorVersioned m = {};
    aph_status (*exp)(aph_tensor*, DLManagedTensorVersioned**) = &aph_tensor_to_dlpack;
    if (exp == nullptr || m.dl_tensor.ndim != 0) return -1;
#endif
    return static_cast<int>(d) + (f != 0 ? 1 : 0) + static_cast<int>(info.struct_size > 0) +
           static_cast<int>(APH_DEFAULT_OVERHEAD_FACTOR > 1.0);
}
