// NOT YET WRITTEN: filled in by the family owner.
#include "kernels.cuh"

namespace aph::cuk {

int binary(const aph_k_binary&, cudaStream_t, char* msg, size_t len) {
    put(msg, len, "%s", "binary");
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int unary(const aph_k_unary&, cudaStream_t, char* msg, size_t len) {
    put(msg, len, "%s", "unary");
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int cast(const aph_k_unary&, cudaStream_t, char* msg, size_t len) {
    put(msg, len, "%s", "cast");
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

int bias_act(const aph_k_bias_act&, cudaStream_t, char* msg, size_t len) {
    put(msg, len, "%s", "bias_act");
    return APH_K_STATUS_NOT_IMPLEMENTED;
}

}  // namespace aph::cuk
