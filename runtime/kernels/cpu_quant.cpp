// NOT YET WRITTEN: filled in by the family owner.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_quantize(const aph_k_quant&, std::string& msg) {
    msg = "cpu_quantize";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int cpu_dequantize(const aph_k_quant&, std::string& msg) {
    msg = "cpu_dequantize";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int cpu_ternary_matmul(const aph_k_ternary_matmul&, std::string& msg) {
    msg = "cpu_ternary_matmul";
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::kernels
