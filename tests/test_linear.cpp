// The CPU linear-layer kernels (runtime/kernels/linear.hpp) against float64 references on fresh
// random inputs: f32 (weights as bound, and packed), bf16 and int8 (weights converted once), every ragged
// tile edge (rows, outputs and K not multiples of the tile, padded row strides), the epilogue
// (bias, GELU, residual, residual in place) and non-finite inputs. Each precision's bound is
// derived from its rounding: f32 ~ K · 2^-24 · Σ|x·w|; bf16 2 · 2^-9 · Σ|x·w| (both operands
// rounded to 8 significant bits); int8 from the quantization steps, |Σ x·w − Σ x̂·ŵ| <=
// sw/2 · Σ|x| + sx · Σ|ŵ| with sx, sw each row's step (x's error reaches a whole step where the
// rounded zero point pushes the top of its range past 255), over the columns that are not
// outliers (int8 computes those in f32: the weight's 4 largest columns, and each row's 8 largest
// entries of x with bf16 weights; the cases plant outlier columns in x and w). Where the processor lacks a
// precision's instructions its cases are skipped (and say so).
#include "linear.hpp"
#include "vmath.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <cmocka.h>
}

namespace k = aph::kernels;

namespace {

std::mt19937_64 g_rng(std::random_device{}());

double gelu(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }

struct Case {
    int64_t m, n, k;
    bool bias, gelu, residual, in_place;
};

// Runs one case in precision p and checks every output against the float64 reference.
void run_case(const Case& c, k::LinearPrecision p, bool packed = false) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t ldx = c.k + 3, ldo = c.n + 5;  // padded strides: rows are not packed
    std::vector<float> x(static_cast<size_t>(c.m * ldx)), w(static_cast<size_t>(c.n * c.k)),
        b(static_cast<size_t>(c.n)), r(static_cast<size_t>(c.m * ldo));
    for (auto& v : x) v = nd(g_rng) * 2.0f;
    for (auto& v : w) v = nd(g_rng) * 0.1f;
    // Outlier channels, as transformers have them: a column of x 30 times larger, one of w 10
    // times (int8 must keep them out of its scales, or its bound below fails).
    if (c.k > 16) {
        for (int64_t i = 0; i < c.m; ++i) x[static_cast<size_t>(i * ldx + c.k / 3)] *= 30.0f;
        for (int64_t j = 0; j < c.n; ++j) w[static_cast<size_t>(j * c.k + c.k / 2)] *= 10.0f;
    }
    for (auto& v : b) v = nd(g_rng);
    for (auto& v : r) v = nd(g_rng);
    std::vector<float> out(static_cast<size_t>(c.m * ldo), 12345.0f);
    if (c.in_place) out = r;

    k::LinearEpilogue e;
    e.bias = c.bias ? b.data() : nullptr;
    e.act = c.gelu ? 2 : 0;
    e.residual = c.residual ? (c.in_place ? out.data() : r.data()) : nullptr;
    e.ldr = ldo;
    k::PackedLinearWeight pw;
    if (p == k::LinearPrecision::kF32 && !packed) {
        k::linear_f32(x.data(), ldx, c.m, w.data(), c.k, c.n, c.k, e, out.data(), ldo);
    } else {
        pw = k::pack_linear_weight(w.data(), c.k, c.n, c.k, p);
        k::linear_packed(x.data(), ldx, c.m, pw, e, out.data(), ldo);
    }

    // int8's outlier columns (linear.hpp), which it computes in f32 with f32 weights: the 4
    // columns of w with the largest maximum magnitude (when K > 16).
    std::vector<char> w_outlier(static_cast<size_t>(c.k), 0);
    if (p == k::LinearPrecision::kInt8 && c.k > 16) {
        std::vector<double> colmax(static_cast<size_t>(c.k), 0.0);
        for (int64_t q = 0; q < c.k; ++q)
            for (int64_t r2 = 0; r2 < c.n; ++r2)
                colmax[static_cast<size_t>(q)] = std::max(colmax[static_cast<size_t>(q)],
                                                          static_cast<double>(std::fabs(w[r2 * c.k + q])));
        for (int t = 0; t < 4; ++t) {
            const auto it = std::max_element(colmax.begin(), colmax.end());
            w_outlier[static_cast<size_t>(it - colmax.begin())] = 1;
            *it = -1.0;
        }
    }
    for (int64_t i = 0; i < c.m; ++i) {
        // int8: and this row's own outliers, computed in f32 with bf16 weights: its 8 entries of
        // largest magnitude among the rest (when K > 32; 2 = a bf16 weight's error).
        std::vector<char> outlier = w_outlier, bf16_side(static_cast<size_t>(c.k), 0);
        if (p == k::LinearPrecision::kInt8 && c.k > 32) {
            std::vector<int64_t> order;
            for (int64_t q = 0; q < c.k; ++q)
                if (!w_outlier[static_cast<size_t>(q)] && x[i * ldx + q] != 0.0f) order.push_back(q);
            const size_t take = std::min<size_t>(8, order.size());
            std::partial_sort(
                order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                [&](int64_t a, int64_t b) { return std::fabs(x[i * ldx + a]) > std::fabs(x[i * ldx + b]); });
            for (size_t t = 0; t < take; ++t)
                outlier[static_cast<size_t>(order[t])] = bf16_side[static_cast<size_t>(order[t])] = 1;
        }
        // int8: this row's quantization step (asymmetric over [min(x, 0), max(x, 0)] of the
        // columns that are not outliers).
        double lo = 0, hi = 0, sum_x = 0;
        for (int64_t q = 0; q < c.k; ++q) {
            if (outlier[static_cast<size_t>(q)]) continue;
            lo = std::min(lo, static_cast<double>(x[i * ldx + q]));
            hi = std::max(hi, static_cast<double>(x[i * ldx + q]));
            sum_x += std::fabs(x[i * ldx + q]);
        }
        const double sx = (hi - lo) / 255.0;
        for (int64_t j = 0; j < c.n; ++j) {
            double acc = 0, mag = 0, wmax = 0, sum_w = 0, side = 0;
            for (int64_t q = 0; q < c.k; ++q) {
                const double xv = x[i * ldx + q], wv = w[j * c.k + q];
                acc += xv * wv;
                mag += std::fabs(xv * wv);
                if (bf16_side[static_cast<size_t>(q)]) side += std::fabs(xv * wv);
                if (outlier[static_cast<size_t>(q)]) continue;
                wmax = std::max(wmax, std::fabs(wv));
                sum_w += std::fabs(wv);
            }
            double bound = 0;
            switch (p) {
                case k::LinearPrecision::kF32: bound = 4.0 * static_cast<double>(c.k + 2) * 0x1p-24 * mag; break;
                case k::LinearPrecision::kBf16: bound = 2.0 * 0x1p-8 * mag + 1e-5 * mag; break;
                case k::LinearPrecision::kInt8: {
                    const double sw = wmax / 127.0;
                    // x's error is up to a whole step sx, not half: the zero point is rounded, so
                    // the top of a row's range can land one step past 255 and be clamped.
                    bound = sw / 2.0 * sum_x * 1.001 + sx * (sum_w + static_cast<double>(c.k) * sw / 2.0) * 1.001 +
                            0x1p-8 * side + 1e-5 * mag;
                    break;
                }
            }
            double want = acc + (c.bias ? b[j] : 0.0);
            double slope = 1.0;  // how much an error before the activation can grow through it
            if (c.gelu) {
                want = gelu(want);
                slope = 1.13;  // max |GELU'|
            }
            if (c.residual) want += r[i * ldo + j];
            const double got = out[i * ldo + j];
            const double tol = slope * bound + 1e-6 * (std::fabs(want) + 1.0);
            if (!(std::fabs(got - want) <= tol)) {
                print_error("precision %d m=%lld n=%lld k=%lld bias=%d gelu=%d residual=%d in_place=%d: out[%lld, "
                            "%lld] = %.9g, float64 %.9g, tolerance %.3g\n",
                            static_cast<int>(p), static_cast<long long>(c.m), static_cast<long long>(c.n),
                            static_cast<long long>(c.k), c.bias, c.gelu, c.residual, c.in_place,
                            static_cast<long long>(i), static_cast<long long>(j), got, want, tol);
                fail();
            }
        }
        // Columns past n are not written (the padding of the row stride keeps its value).
        for (int64_t j = c.n; j < ldo && !c.in_place; ++j) assert_true(out[i * ldo + j] == 12345.0f);
    }
}

void run_precision(k::LinearPrecision p, const char* name, bool packed = false) {
    if (!k::linear_supported(p)) {
        std::printf("[  SKIPPED ] %s: this processor (or APHELION_CPU_ISA) lacks its instructions\n", name);
        return;
    }
    const int64_t ms[] = {1, 3, 4, 5, 17, 70};
    const int64_t ns[] = {1, 3, 4, 7, 64, 67};
    const int64_t ks[] = {1, 15, 16, 17, 33, 64, 65, 200, 384};
    int cases = 0;
    for (int64_t m : ms)
        for (int64_t n : ns)
            for (int64_t kk : ks) {
                const int v = cases++ % 5;
                Case c{m, n, kk, v != 0, v == 2 || v == 4, v >= 3, v == 4};
                run_case(c, p, packed);
            }
    // A block boundary in both directions, with every epilogue part.
    run_case(Case{130, 131, 96, true, true, true, false}, p, packed);
    run_case(Case{64, 64, 1536, true, false, true, true}, p, packed);
    std::printf("%s: %d cases\n", name, cases + 2);
}

void test_f32(void**) { run_precision(k::LinearPrecision::kF32, "f32"); }
void test_f32_packed(void**) { run_precision(k::LinearPrecision::kF32, "f32 packed", true); }
void test_bf16(void**) { run_precision(k::LinearPrecision::kBf16, "bf16"); }
void test_int8(void**) { run_precision(k::LinearPrecision::kInt8, "int8"); }

// NaN and infinity in a row of x reach that row's outputs and no other row's.
void test_non_finite(void**) {
    for (k::LinearPrecision p : {k::LinearPrecision::kF32, k::LinearPrecision::kBf16, k::LinearPrecision::kInt8}) {
        if (!k::linear_supported(p)) continue;
        const int64_t m = 6, n = 5, kk = 40;
        std::vector<float> x(static_cast<size_t>(m * kk), 0.5f), w(static_cast<size_t>(n * kk), 0.25f),
            out(static_cast<size_t>(m * n), 0.0f);
        x[1 * kk + 7] = std::numeric_limits<float>::quiet_NaN();
        x[4 * kk + 39] = std::numeric_limits<float>::infinity();
        k::LinearEpilogue e;
        if (p == k::LinearPrecision::kF32) {
            k::linear_f32(x.data(), kk, m, w.data(), kk, n, kk, e, out.data(), n);
        } else {
            const k::PackedLinearWeight pw = k::pack_linear_weight(w.data(), kk, n, kk, p);
            k::linear_packed(x.data(), kk, m, pw, e, out.data(), n);
        }
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                const float v = out[static_cast<size_t>(i * n + j)];
                if (i == 1) assert_true(std::isnan(v));
                else if (i == 4)
                    assert_false(std::isfinite(v));
                else
                    assert_true(std::fabs(v - 0.5f * 0.25f * kk) <= 0.05f);
            }
    }
}

// A row's outputs do not depend on the other rows of the call (bit for bit): the packed
// precisions convert and quantize x per row (int8's outliers included), so a row computed
// alone equals the same row in a batch whose other rows hold much larger values.
void test_rows_independent(void**) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t m = 9, n = 70, kk = 384;
    std::vector<float> x(static_cast<size_t>(m * kk)), w(static_cast<size_t>(n * kk));
    for (auto& v : x) v = nd(g_rng);
    for (auto& v : w) v = nd(g_rng) * 0.1f;
    for (int64_t i = 1; i < m; ++i)  // batch-mates with their own outlier columns, 50 times larger
        x[static_cast<size_t>(i * kk + (i * 37) % kk)] *= 50.0f;
    for (k::LinearPrecision p : {k::LinearPrecision::kF32, k::LinearPrecision::kBf16, k::LinearPrecision::kInt8}) {
        if (!k::linear_supported(p)) continue;
        const k::PackedLinearWeight pw = k::pack_linear_weight(w.data(), kk, n, kk, p);
        k::LinearEpilogue e;
        std::vector<float> all(static_cast<size_t>(m * n)), one(static_cast<size_t>(n));
        k::linear_packed(x.data(), kk, m, pw, e, all.data(), n);
        for (int64_t i = 0; i < m; ++i) {
            k::linear_packed(x.data() + i * kk, kk, 1, pw, e, one.data(), n);
            for (int64_t j = 0; j < n; ++j)
                assert_true(one[static_cast<size_t>(j)] == all[static_cast<size_t>(i * n + j)]);
        }
    }
}

// int8 on rows whose largest entries share one magnitude (so the rows' outliers are chosen among
// ties: from fewer candidates than the vector ranking holds up to more than the candidate buffer):
// every output against float64, within the bound of the weights' quantization and the bf16
// weights of the 8 outliers (x's values, 0.5 and -0.25, are exact in u8: range 0.75 in 255 steps).
void test_int8_ties(void**) {
    if (!k::linear_supported(k::LinearPrecision::kInt8)) return;
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t kk : {40, 200, 384, 1000}) {
        const int64_t m = 5, n = 33;
        std::vector<float> x(static_cast<size_t>(m * kk)), w(static_cast<size_t>(n * kk)),
            out(static_cast<size_t>(m * n));
        for (int64_t i = 0; i < m; ++i)
            for (int64_t q = 0; q < kk; ++q) x[static_cast<size_t>(i * kk + q)] = (i + q) % 3 == 0 ? -0.25f : 0.5f;
        for (auto& v : w) v = nd(g_rng) * 0.1f;
        const k::PackedLinearWeight pw = k::pack_linear_weight(w.data(), kk, n, kk, k::LinearPrecision::kInt8);
        k::linear_packed(x.data(), kk, m, pw, k::LinearEpilogue{}, out.data(), n);
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double want = 0, wmax = 0;
                for (int64_t q = 0; q < kk; ++q) {
                    want += static_cast<double>(x[static_cast<size_t>(i * kk + q)]) *
                            w[static_cast<size_t>(j * kk + q)];
                    wmax = std::max(wmax, static_cast<double>(std::fabs(w[static_cast<size_t>(j * kk + q)])));
                }
                const double tol = (wmax / 127.0 / 2.0 + 1e-6) * 0.5 * static_cast<double>(kk) * 1.001 +
                                   0x1p-8 * 8 * 0.5 * wmax + 1e-5;
                assert_true(std::fabs(out[static_cast<size_t>(i * n + j)] - want) <= tol);
            }
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),       cmocka_unit_test(test_f32_packed), cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_int8),      cmocka_unit_test(test_non_finite), cmocka_unit_test(test_rows_independent),
        cmocka_unit_test(test_int8_ties),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
