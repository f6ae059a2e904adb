// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_gru_gates(const aph_k_gru_gates&, std::string& msg) {
    msg = "cpu_gru_gates";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
