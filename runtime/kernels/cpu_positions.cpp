// CPU kernel of the positions (aph_k_positions): out [n] contiguous i64 = 0, 1, ..., n - 1.
#include "cpu.hpp"

namespace aph::kernels {

int cpu_positions(const aph_k_positions& d, std::string& msg) {
    (void)msg;
    int64_t* out = static_cast<int64_t*>(d.out.data);
    const int64_t n = d.out.shape[0];
    for (int64_t i = 0; i < n; ++i) out[i] = i;
    return 0;
}

}  // namespace aph::kernels
