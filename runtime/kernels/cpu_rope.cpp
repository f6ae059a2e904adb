// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_rope(const aph_k_rope&, std::string& msg) {
    msg = "cpu_rope";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
