// CPU kernels of the row-wise family: softmax / log-softmax (aph_k_softmax) and layer / RMS
// norm (aph_k_norm), over contiguous [rows, n]. Rows are independent: parallel_for splits them.
//
// f32 rows run explicit vector loops (vmath.hpp: 16 lanes with AVX-512, 8 with AVX2, 4
// otherwise) straight over the tensors, a few passes per row (the row is read from memory once;
// later passes find it in cache):
//   softmax      max; e = exp(x - max) stored into out, summed; out *= 1/sum
//   log_softmax  max; sum of exp(x - max); out = (x - max) - log(sum)
//   layer_norm   mean; mean of squared deviations (two passes: no cancellation); out
//   rms_norm     mean of squares; out
// Sums use 4 vector accumulators (so the additions overlap), combined at the end.
// f16, bf16 and f64 rows are widened into an accumulator-type buffer (f32; f64 for f64),
// processed with plain loops, and rounded once when stored. In-place use (out == x) is safe on
// both paths: a value of x is read before its element of out is written (log_softmax never
// stores before its last pass).
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

// ---- f32 rows as explicit vectors (W lanes)

using vmath::Vec;

// Σ f(x[j]) over a row: 4 vector accumulators, the last n % W elements one by one.
template <int W, class F>
APH_VI float row_sum(const float* x, int64_t n, F f) {
    using V = Vec<W>;
    V a0{}, a1{}, a2{}, a3{};
    int64_t j = 0;
    for (; j + 4 * W <= n; j += 4 * W) {
        a0 += f(vmath::load<V>(x + j));
        a1 += f(vmath::load<V>(x + j + W));
        a2 += f(vmath::load<V>(x + j + 2 * W));
        a3 += f(vmath::load<V>(x + j + 3 * W));
    }
    for (; j + W <= n; j += W) a0 += f(vmath::load<V>(x + j));
    float tail = 0.0f;
    for (; j < n; ++j) tail += f(x[j]);
    return vmath::hsum((a0 + a1) + (a2 + a3)) + tail;
}

// The row maximum. A NaN never wins a comparison, so it is ignored here; it then makes its
// exp(x - m) and so the sum and the whole row NaN, as on the scalar path.
template <int W>
APH_VI float row_max(const float* x, int64_t n) {
    using V = Vec<W>;
    V m0 = vmath::splat<V>(-std::numeric_limits<float>::infinity()), m1 = m0;
    int64_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
        const V a = vmath::load<V>(x + j), b = vmath::load<V>(x + j + W);
        m0 = a > m0 ? a : m0;
        m1 = b > m1 ? b : m1;
    }
    for (; j + W <= n; j += W) {
        const V a = vmath::load<V>(x + j);
        m0 = a > m0 ? a : m0;
    }
    m0 = m1 > m0 ? m1 : m0;
    float m = -std::numeric_limits<float>::infinity();
    for (int k = 0; k < W; ++k) m = m0[k] > m ? m0[k] : m;
    for (; j < n; ++j) m = x[j] > m ? x[j] : m;
    return m;
}

// The functors the sums apply (always inlined; not lambdas, see vmath.hpp's map).
struct Identity {
    template <class V>
    APH_VI V operator()(V v) const {
        return v;
    }
};
struct Square {
    template <class V>
    APH_VI V operator()(V v) const {
        return v * v;
    }
};
struct SquaredDeviation {
    float mean;
    template <class V>
    APH_VI V operator()(V v) const {
        const V d = v - mean;
        return d * d;
    }
};
// exp(x - m), stored into out as it is summed (softmax's second pass) or only summed (out
// null: log_softmax).
template <int W>
APH_VI float exp_sum(const float* x, float* out, int64_t n, float m) {
    using V = Vec<W>;
    V a0{}, a1{};
    int64_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
        const V e0 = vmath::exp(vmath::load<V>(x + j) - m), e1 = vmath::exp(vmath::load<V>(x + j + W) - m);
        if (out) {
            vmath::store(out + j, e0);
            vmath::store(out + j + W, e1);
        }
        a0 += e0;
        a1 += e1;
    }
    for (; j < n; j += W) {
        const int64_t k = n - j < W ? n - j : W;
        V e = vmath::exp(vmath::load_part<V>(x + j, k) - m);
        if (k < W) {
            for (int64_t l = k; l < W; ++l) e[l] = 0.0f;
        }
        if (out) vmath::store_part(out + j, e, k);
        a0 += e;
    }
    return vmath::hsum(a0 + a1);
}

template <int W>
APH_VI void softmax_rows_w(const aph_k_softmax& d, int64_t r0, int64_t r1) {
    using V = Vec<W>;
    const int64_t n = d.n;
    for (int64_t r = r0; r < r1; ++r) {
        const float* x = static_cast<const float*>(d.x.data) + r * n;
        float* o = static_cast<float*>(d.out.data) + r * n;
        const float m = row_max<W>(x, n);
        if (d.log) {
            const float ls = std::log(exp_sum<W>(x, nullptr, n, m));
            int64_t j = 0;
            for (; j + W <= n; j += W) vmath::store(o + j, (vmath::load<V>(x + j) - m) - ls);
            for (; j < n; ++j) o[j] = (x[j] - m) - ls;
        } else {
            const float inv = 1.0f / exp_sum<W>(x, o, n, m);
            int64_t j = 0;
            for (; j + W <= n; j += W) vmath::store(o + j, vmath::load<V>(o + j) * inv);
            for (; j < n; ++j) o[j] *= inv;
        }
    }
}

template <int W>
APH_VI void norm_rows_w(const aph_k_norm& d, int64_t r0, int64_t r1) {
    using V = Vec<W>;
    const int64_t n = d.n;
    const float* w = static_cast<const float*>(d.weight.data);
    const float* b = static_cast<const float*>(d.bias.data);
    const float eps = static_cast<float>(d.eps);
    const float inv_n = 1.0f / static_cast<float>(n);
    for (int64_t r = r0; r < r1; ++r) {
        const float* x = static_cast<const float*>(d.x.data) + r * n;
        float* o = static_cast<float*>(d.out.data) + r * n;
        int64_t j = 0;
        if (d.rms) {
            const float rstd = 1.0f / std::sqrt(row_sum<W>(x, n, Square{}) * inv_n + eps);
            for (; j + W <= n; j += W) vmath::store(o + j, vmath::load<V>(x + j) * rstd * vmath::load<V>(w + j));
            for (; j < n; ++j) o[j] = x[j] * rstd * w[j];
            continue;
        }
        const float mean = row_sum<W>(x, n, Identity{}) * inv_n;
        const float rstd = 1.0f / std::sqrt(row_sum<W>(x, n, SquaredDeviation{mean}) * inv_n + eps);
        if (b == nullptr) {
            for (; j + W <= n; j += W) {
                vmath::store(o + j, (vmath::load<V>(x + j) - mean) * rstd * vmath::load<V>(w + j));
            }
            for (; j < n; ++j) o[j] = (x[j] - mean) * rstd * w[j];
        } else {
            for (; j + W <= n; j += W) {
                const V y = (vmath::load<V>(x + j) - mean) * rstd * vmath::load<V>(w + j) + vmath::load<V>(b + j);
                vmath::store(o + j, y);
            }
            for (; j < n; ++j) o[j] = (x[j] - mean) * rstd * w[j] + b[j];
        }
    }
}

// One function per instruction set for each (the vector width is fixed by the target).
void softmax_rows_generic(const aph_k_softmax& d, int64_t r0, int64_t r1) { softmax_rows_w<4>(d, r0, r1); }
void norm_rows_generic(const aph_k_norm& d, int64_t r0, int64_t r1) { norm_rows_w<4>(d, r0, r1); }
#ifdef APH_X86_DISPATCH
APH_TARGET_AVX2 void softmax_rows_avx2(const aph_k_softmax& d, int64_t r0, int64_t r1) { softmax_rows_w<8>(d, r0, r1); }
APH_TARGET_AVX2 void norm_rows_avx2(const aph_k_norm& d, int64_t r0, int64_t r1) { norm_rows_w<8>(d, r0, r1); }
APH_TARGET_AVX512 void softmax_rows_avx512(const aph_k_softmax& d, int64_t r0, int64_t r1) {
    softmax_rows_w<16>(d, r0, r1);
}
APH_TARGET_AVX512 void norm_rows_avx512(const aph_k_norm& d, int64_t r0, int64_t r1) { norm_rows_w<16>(d, r0, r1); }
#endif

template <class Fn>
Fn pick(Fn generic, [[maybe_unused]] Fn avx2, [[maybe_unused]] Fn avx512) {
    switch (cpu_isa()) {
        case Isa::kAvx512: return avx512;
        case Isa::kAvx2: return avx2;
        case Isa::kGeneric: break;
    }
    return generic;
}

// ---- f16, bf16, f64: through accumulator buffers

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
            else
                e[j] = std::exp(row[j]);
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

#ifdef APH_X86_DISPATCH
#define APH_PICK(name) pick(name##_generic, name##_avx2, name##_avx512)
#else
#define APH_PICK(name) name##_generic
#endif

int cpu_softmax(const aph_k_softmax& d, std::string& msg) {
    const double work = static_cast<double>(d.rows) * static_cast<double>(d.n) * 16.0;
    if (d.x.dtype == 0) {  // f32
        const auto rows = APH_PICK(softmax_rows);
        parallel_for(d.rows, work, [&](int64_t r0, int64_t r1) { rows(d, r0, r1); });
        return 0;
    }
    return dispatch(d.x.dtype, msg, [&](auto tag) {
        using T = decltype(tag);
        parallel_for(d.rows, work, [&](int64_t r0, int64_t r1) { softmax_rows<T>(d, r0, r1); });
        return 0;
    });
}

int cpu_norm(const aph_k_norm& d, std::string& msg) {
    if (d.x.dtype == 0) {  // f32: weight and bias are f32 too (the core checks)
        const auto rows = APH_PICK(norm_rows);
        parallel_for(d.rows, static_cast<double>(d.rows) * static_cast<double>(d.n) * 8.0,
                     [&](int64_t r0, int64_t r1) { rows(d, r0, r1); });
        return 0;
    }
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
