// CPU kernel of the embedding lookup (aph_k_embedding): out [n, dim] = table [vocab, dim] rows
// gathered by ids [n], all contiguous. Every id is checked before anything is written, so a bad
// id leaves out untouched (APH_K_STATUS_BAD_INDEX naming the first one); rows are then copied
// whole (memcpy: the dtype does not matter), split over threads when there are many.
#include "cpu.hpp"
#include "parallel.hpp"

#include <cstring>

namespace aph::kernels {
namespace {

template <class I>
int64_t first_bad(const I* ids, int64_t n, int64_t vocab) {
    for (int64_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || static_cast<int64_t>(ids[i]) >= vocab) return i;
    }
    return -1;
}

template <class I>
void gather(const aph_k_embedding& d, const I* ids, int64_t n) {
    const size_t row = static_cast<size_t>(d.table.shape[1]) * dtype_size(d.table.dtype);
    const char* table = static_cast<const char*>(d.table.data);
    char* out = static_cast<char*>(d.out.data);
    parallel_for(n, static_cast<double>(n) * static_cast<double>(row) / 4.0, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            std::memcpy(out + static_cast<size_t>(i) * row, table + static_cast<size_t>(ids[i]) * row, row);
        }
    });
}

template <class I>
int run(const aph_k_embedding& d, std::string& msg) {
    const I* ids = static_cast<const I*>(d.ids.data);
    const int64_t n = d.ids.shape[0], vocab = d.table.shape[0];
    const int64_t bad = first_bad(ids, n, vocab);
    if (bad >= 0) {
        msg = "ids[" + std::to_string(bad) + "] = " + std::to_string(static_cast<int64_t>(ids[bad])) +
              " is outside [0, " + std::to_string(vocab) + ")";
        return APH_K_STATUS_BAD_INDEX;
    }
    gather(d, ids, n);
    return 0;
}

}  // namespace

int cpu_embedding(const aph_k_embedding& d, std::string& msg) {
    if (d.ids.dtype == 8) return run<int32_t>(d, msg);  // i32
    return run<int64_t>(d, msg);                        // i64
}

}  // namespace aph::kernels
