// CPU kernel of the reductions (aph_k_reduce): x contiguous [outer, n, inner] reduced over n
// into out [outer, inner]. Sum and mean accumulate in f32 (f64 for f64); max propagates NaN;
// argmax keeps the first index on ties and takes the first NaN as the largest.
//
// inner == 1: each output is a contiguous row of n, summed with eight partial accumulators.
// inner > 1: a tile of up to kTile consecutive outputs of one outer index keeps its
// accumulators in a small array and walks the n rows of the tile (each row contiguous in x),
// so every inner loop runs over contiguous memory and vectorises.
#include "cpu.hpp"
#include "float_types.hpp"
#include "parallel.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace aph::kernels {
namespace {

using namespace fp;  // F16, BF16, to_acc, from_acc, Acc, dispatch (float_types.hpp)

[[maybe_unused]] constexpr int32_t kSum = 0;  // the default case: named for the reader
constexpr int32_t kMean = 1, kMax = 2, kArgmax = 3;
constexpr int64_t kTile = 256;  // outputs per tile when inner > 1

// Does b (at index ib) replace the current best a (at ia < ib) for argmax? Strictly larger, or
// the first NaN.
template <class A>
inline bool argmax_better(A a, A b) {
    return b > a || (b != b && a == a);
}

// One contiguous row of n: sum, max or argmax.
template <class T>
void reduce_row(int32_t op, const T* x, int64_t n, void* out, int64_t o) {
    using A = Acc<T>;
    if (op == kArgmax) {
        A best = to_acc(x[0]);
        int64_t bi = 0;
        for (int64_t k = 1; k < n && best == best; ++k) {
            const A v = to_acc(x[k]);
            if (argmax_better(best, v)) {
                best = v;
                bi = k;
            }
        }
        static_cast<int64_t*>(out)[o] = bi;
        return;
    }
    T* dst = static_cast<T*>(out) + o;
    if (op == kMax) {
        A m = -std::numeric_limits<A>::infinity();
        bool nan = false;
        for (int64_t k = 0; k < n; ++k) {
            const A v = to_acc(x[k]);
            m = v > m ? v : m;
            nan |= v != v;
        }
        from_acc(dst, nan ? std::numeric_limits<A>::quiet_NaN() : m);
        return;
    }
    A part[8] = {};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8) {
        for (int j = 0; j < 8; ++j) part[j] += to_acc(x[k + j]);
    }
    for (; k < n; ++k) part[k & 7] += to_acc(x[k]);
    A s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    if (op == kMean) s = n == 0 ? std::numeric_limits<A>::quiet_NaN() : s / static_cast<A>(n);
    from_acc(dst, s);
}

// Outputs [i0, i1) of outer index o, inner > 1: x rows [o][k][i0..i1) for k < n.
template <class T>
void reduce_tile(int32_t op, const T* x, int64_t n, int64_t inner, void* out, int64_t o, int64_t i0, int64_t i1) {
    using A = Acc<T>;
    const int64_t w = i1 - i0;
    const T* base = n > 0 ? x + o * n * inner + i0 : nullptr;  // n == 0: x has no data
    const int64_t obase = o * inner + i0;
    A acc[kTile];
    if (op == kArgmax) {
        int64_t idx[kTile];
        for (int64_t i = 0; i < w; ++i) {
            acc[i] = to_acc(base[i]);
            idx[i] = 0;
        }
        for (int64_t k = 1; k < n; ++k) {
            const T* r = base + k * inner;
            for (int64_t i = 0; i < w; ++i) {
                const A v = to_acc(r[i]);
                const bool take = argmax_better(acc[i], v);
                acc[i] = take ? v : acc[i];
                idx[i] = take ? k : idx[i];
            }
        }
        int64_t* dst = static_cast<int64_t*>(out) + obase;
        for (int64_t i = 0; i < w; ++i) dst[i] = idx[i];
        return;
    }
    T* dst = static_cast<T*>(out) + obase;
    if (op == kMax) {
        bool nan[kTile];
        for (int64_t i = 0; i < w; ++i) {
            acc[i] = -std::numeric_limits<A>::infinity();
            nan[i] = false;
        }
        for (int64_t k = 0; k < n; ++k) {
            const T* r = base + k * inner;
            for (int64_t i = 0; i < w; ++i) {
                const A v = to_acc(r[i]);
                acc[i] = v > acc[i] ? v : acc[i];
                nan[i] = nan[i] || v != v;
            }
        }
        for (int64_t i = 0; i < w; ++i) from_acc(dst + i, nan[i] ? std::numeric_limits<A>::quiet_NaN() : acc[i]);
        return;
    }
    for (int64_t i = 0; i < w; ++i) acc[i] = A(0);
    for (int64_t k = 0; k < n; ++k) {
        const T* r = base + k * inner;
        for (int64_t i = 0; i < w; ++i) acc[i] += to_acc(r[i]);
    }
    if (op == kMean) {
        const A scale = n == 0 ? std::numeric_limits<A>::quiet_NaN() : A(1) / static_cast<A>(n);
        for (int64_t i = 0; i < w; ++i) acc[i] *= scale;
    }
    for (int64_t i = 0; i < w; ++i) from_acc(dst + i, acc[i]);
}

}  // namespace

int cpu_reduce(const aph_k_reduce& d, std::string& msg) {
    return dispatch(d.x.dtype, msg, [&](auto tag) {
        using T = decltype(tag);
        const T* x = static_cast<const T*>(d.x.data);
        const int64_t n = d.n, inner = d.inner, outer = d.outer;
        const double work = static_cast<double>(outer) * static_cast<double>(std::max<int64_t>(n, 1)) *
                            static_cast<double>(inner) * 2.0;
        if (inner == 1) {
            parallel_for(outer, work, [&](int64_t o0, int64_t o1) {
                for (int64_t o = o0; o < o1; ++o) reduce_row<T>(d.op, n == 0 ? x : x + o * n, n, d.out.data, o);
            });
            return 0;
        }
        // Tasks: (outer index, tile of kTile outputs along inner).
        const int64_t tiles = (inner + kTile - 1) / kTile;
        parallel_for(outer * tiles, work, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                const int64_t o = t / tiles, i0 = (t % tiles) * kTile;
                reduce_tile<T>(d.op, x, n, inner, d.out.data, o, i0, std::min(inner, i0 + kTile));
            }
        });
        return 0;
    });
}

}  // namespace aph::kernels
