// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_reduce(const aph_k_reduce&, std::string& msg) {
    msg = "cpu_reduce";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
