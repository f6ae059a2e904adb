// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_attention(const aph_k_attention&, std::string& msg) {
    msg = "cpu_attention";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
