// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_binary(const aph_k_binary&, std::string& msg) {
    msg = "cpu_binary";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int cpu_unary(const aph_k_unary&, std::string& msg) {
    msg = "cpu_unary";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int cpu_cast(const aph_k_unary&, std::string& msg) {
    msg = "cpu_cast";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int cpu_bias_act(const aph_k_bias_act&, std::string& msg) {
    msg = "cpu_bias_act";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
