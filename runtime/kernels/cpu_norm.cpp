// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_softmax(const aph_k_softmax&, std::string& msg) {
    msg = "cpu_softmax";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int cpu_norm(const aph_k_norm&, std::string& msg) {
    msg = "cpu_norm";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
