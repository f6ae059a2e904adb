// CUDA kernel of the embedding lookup (aph_k_embedding): out [n, dim] = table [vocab, dim] rows
// gathered by ids [n] (i32 or i64), all contiguous. An id outside [0, vocab) gives a row of
// zeros: checking would mean waiting for the device (the CPU kernel reports it instead).
//
// One block of 128 threads per id (grid-stride over ids): the row is copied as words W of the
// widest size (16, 8, 4 or 2 bytes) that divides the row's byte length and the alignment of
// both base pointers (so every row start is aligned too); thread t copies words t, t + 128, ...,
// consecutive threads touching consecutive words (coalesced 16-byte accesses for the common
// dims: 64 f16 or 32 f32 and multiples). The copy is bitwise, so the dtype does not matter.
#include "kernels.cuh"

#include <cstdint>

namespace aph::cuk {
namespace {

constexpr int kThreads = 128;

template <class W, class I>
__global__ void __launch_bounds__(kThreads)
    embedding_kernel(const W* table, const I* ids, W* out, int64_t n, int64_t vocab, int64_t words) {
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const int64_t id = static_cast<int64_t>(ids[r]);
        W* dst = out + r * words;
        if (id < 0 || id >= vocab) {
            for (int64_t j = threadIdx.x; j < words; j += kThreads) dst[j] = W{};
        } else {
            const W* src = table + id * words;
            for (int64_t j = threadIdx.x; j < words; j += kThreads) dst[j] = src[j];
        }
    }
}

template <class W>
void launch_words(const aph_k_embedding& d, int64_t row_bytes, cudaStream_t s) {
    const int64_t n = d.ids.shape[0], vocab = d.table.shape[0];
    const int64_t words = row_bytes / static_cast<int64_t>(sizeof(W));
    const W* table = static_cast<const W*>(d.table.data);
    W* out = static_cast<W*>(d.out.data);
    const unsigned grid = grid_for(n, 1);
    if (d.ids.dtype == 8) {  // i32
        embedding_kernel<W, int32_t>
            <<<grid, kThreads, 0, s>>>(table, static_cast<const int32_t*>(d.ids.data), out, n, vocab, words);
    } else {
        embedding_kernel<W, int64_t>
            <<<grid, kThreads, 0, s>>>(table, static_cast<const int64_t*>(d.ids.data), out, n, vocab, words);
    }
}

}  // namespace

int embedding(const aph_k_embedding& d, cudaStream_t s, char* msg, size_t len) {
    int64_t esize;
    switch (d.table.dtype) {
        case 0: esize = 4; break;  // f32
        case 1:
        case 2: esize = 2; break;  // f16, bf16
        default:
            put(msg, len, "dtype %d is not supported by this CUDA kernel", static_cast<int>(d.table.dtype));
            return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    const int64_t row_bytes = d.table.shape[1] * esize;
    // The widest word dividing the row length and both base addresses.
    const uint64_t align = static_cast<uint64_t>(row_bytes) | reinterpret_cast<uintptr_t>(d.table.data) |
                           reinterpret_cast<uintptr_t>(d.out.data);
    if (align % 16 == 0) launch_words<uint4>(d, row_bytes, s);
    else if (align % 8 == 0)
        launch_words<uint2>(d, row_bytes, s);
    else if (align % 4 == 0)
        launch_words<uint32_t>(d, row_bytes, s);
    else
        launch_words<uint16_t>(d, row_bytes, s);
    return check_launch("embedding kernel", msg, len);
}

}  // namespace aph::cuk
