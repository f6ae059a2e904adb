// CPU kernels of the row-wise family: softmax / log-softmax (aph_k_softmax) and layer / RMS
// norm (aph_k_norm), over contiguous [rows, n]. Each row is widened into an accumulator-type
// buffer (f32 for f32/f16/bf16, f64 for f64), processed with plain loops the compiler
// vectorises, and rounded once when stored. Rows are independent: parallel_for splits them, and
// in-place use (out == x) is safe because a row is fully read before it is written.
#include "cpu.hpp"
#include "float_types.hpp"
#include "parallel.hpp"
#include "vmath.hpp"

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace aph::kernels {
namespace {

using namespace fp;  // F16, BF16, to_acc, from_acc, Acc, dispatch (float_types.hpp)

template <class T, class A = Acc<T>>
void load_row(const T* src, A* dst, int64_t n) {
    for (int64_t j = 0; j < n; ++j) dst[j] = to_acc(src[j]);
}

// Eight partial sums (so the loop vectorises without reassociation flags), added at the end.
template <class A>
A sum_of(const A* v, int64_t n) {
    A part[8] = {};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int k = 0; k < 8; ++k) part[k] += v[j + k];
    }
    for (; j < n; ++j) part[j & 7] += v[j];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

template <class T>
void softmax_rows(const aph_k_softmax& d, int64_t r0, int64_t r1) {
    using A = Acc<T>;
    const int64_t n = d.n;
    const T* x = static_cast<const T*>(d.x.data);
    T* out = static_cast<T*>(d.out.data);
    std::vector<A> row(static_cast<size_t>(n)), e(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
        load_row(x + r * n, row.data(), n);
        // The maximum ignores NaN (a NaN then makes every exp and the sum NaN); a row of -inf
        // has max -inf, and -inf - -inf = NaN gives NaN everywhere, as in PyTorch.
        A m = -std::numeric_limits<A>::infinity();
        for (int64_t j = 0; j < n; ++j) m = row[j] > m ? row[j] : m;
        for (int64_t j = 0; j < n; ++j) {
            row[j] -= m;
            if constexpr (std::is_same_v<A, float>) e[j] = vmath::exp(row[j]);  // vectorised
            else e[j] = std::exp(row[j]);
        }
        const A s = sum_of(e.data(), n);
        T* o = out + r * n;
        if (d.log) {
            const A ls = std::log(s);
            for (int64_t j = 0; j < n; ++j) from_acc(o + j, row[j] - ls);
        } else {
            const A inv = A(1) / s;
            for (int64_t j = 0; j < n; ++j) from_acc(o + j, e[j] * inv);
        }
    }
}

template <class T>
void norm_rows(const aph_k_norm& d, const std::vector<Acc<T>>& w, const std::vector<Acc<T>>& b, int64_t r0,
               int64_t r1) {
    using A = Acc<T>;
    const int64_t n = d.n;
    const T* x = static_cast<const T*>(d.x.data);
    T* out = static_cast<T*>(d.out.data);
    const A eps = static_cast<A>(d.eps);
    const A inv_n = A(1) / static_cast<A>(n);
    std::vector<A> row(static_cast<size_t>(n)), tmp(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
        load_row(x + r * n, row.data(), n);
        T* o = out + r * n;
        if (d.rms) {
            for (int64_t j = 0; j < n; ++j) tmp[j] = row[j] * row[j];
            const A rstd = A(1) / std::sqrt(sum_of(tmp.data(), n) * inv_n + eps);
            for (int64_t j = 0; j < n; ++j) from_acc(o + j, row[j] * rstd * w[j]);
        } else {
            // Two passes: the mean, then the mean of squared deviations (no cancellation).
            const A mean = sum_of(row.data(), n) * inv_n;
            for (int64_t j = 0; j < n; ++j) {
                row[j] -= mean;
                tmp[j] = row[j] * row[j];
            }
            const A rstd = A(1) / std::sqrt(sum_of(tmp.data(), n) * inv_n + eps);
            if (b.empty()) {
                for (int64_t j = 0; j < n; ++j) from_acc(o + j, row[j] * rstd * w[j]);
            } else {
                for (int64_t j = 0; j < n; ++j) from_acc(o + j, row[j] * rstd * w[j] + b[j]);
            }
        }
    }
}

}  // namespace

int cpu_softmax(const aph_k_softmax& d, std::string& msg) {
    return dispatch(d.x.dtype, msg, [&](auto tag) {
        using T = decltype(tag);
        parallel_for(d.rows, static_cast<double>(d.rows) * static_cast<double>(d.n) * 16.0,
                     [&](int64_t r0, int64_t r1) { softmax_rows<T>(d, r0, r1); });
        return 0;
    });
}

int cpu_norm(const aph_k_norm& d, std::string& msg) {
    return dispatch(d.x.dtype, msg, [&](auto tag) {
        using T = decltype(tag);
        using A = Acc<T>;
        // weight and bias widened once, shared (read-only) by every row.
        std::vector<A> w(static_cast<size_t>(d.n)), b;
        load_row(static_cast<const T*>(d.weight.data), w.data(), d.n);
        if (d.bias.data != nullptr) {
            b.resize(static_cast<size_t>(d.n));
            load_row(static_cast<const T*>(d.bias.data), b.data(), d.n);
        }
        parallel_for(d.rows, static_cast<double>(d.rows) * static_cast<double>(d.n) * 8.0,
                     [&](int64_t r0, int64_t r1) { norm_rows<T>(d, w, b, r0, r1); });
        return 0;
    });
}

}  // namespace aph::kernels
