// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_embedding(const aph_k_embedding&, std::string& msg) {
    msg = "cpu_embedding";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
