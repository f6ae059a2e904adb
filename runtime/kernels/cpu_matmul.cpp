// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_matmul(const aph_k_matmul&, std::string& msg) {
    msg = "cpu_matmul";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
