// bench_linear: the CPU linear-layer kernels (runtime/kernels/linear.hpp) against OpenBLAS's
// sgemm on the same product, in the same run: out[m, n] = x[m, k] · w[n, k]ᵀ + bias, at
// all-MiniLM-L6-v2's layer shapes (384 → 384, 384 → 1536, 1536 → 384) and 16 (one short
// sentence), 128 and 4096 rows (32 × 128 tokens). Rows:
//   sgemm        cblas_sgemm(x, wᵀ) then the bias added in a second pass (what the executor did
//                before these kernels);
//   f32 tile     linear_f32: the dot-product tile reading w in place, bias in its epilogue;
//   f32 packed   linear_packed on a packed f32 copy (read-only weights);
//   bf16, int8   linear_packed on converted weights (AVX512_BF16 / AVX512_VNNI), x converted per
//                call as the executor does.
// Each figure is GFLOP/s (2·m·n·k per call; int8's "FLOP" are its multiply-adds the same way),
// the median of 7 rounds, with its ratio to sgemm's in the same round set. The pool's threads
// and OpenBLAS's are both at this machine's defaults. Kernels the processor lacks are skipped
// (and say so).
//
// usage: bench_linear [--quick]    (--quick: tiny shapes, one round: the ctest smoke run)
#include "linear.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace {

namespace k = aph::kernels;
using Clock = std::chrono::steady_clock;

bool g_quick = false;

// Median seconds per call of f over the rounds (each round: enough calls for about 20 ms).
template <class F>
double seconds_per_call(F&& f) {
    f();  // warm-up (and, for packed kernels, caches)
    const int rounds = g_quick ? 1 : 7;
    std::vector<double> t;
    for (int r = 0; r < rounds; ++r) {
        int calls = 0;
        const auto t0 = Clock::now();
        double el = 0;
        do {
            f();
            ++calls;
            el = std::chrono::duration<double>(Clock::now() - t0).count();
        } while (!g_quick && el < 0.02);
        t.push_back(el / calls);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

void run_shape(int64_t m, int64_t n, int64_t kk) {
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(m * kk)), w(static_cast<size_t>(n * kk)), b(static_cast<size_t>(n)),
        out(static_cast<size_t>(m * n));
    for (auto& v : x) v = nd(rng);
    for (auto& v : w) v = nd(rng) * 0.05f;
    for (auto& v : b) v = nd(rng);
    const double flop = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(kk);
    k::LinearEpilogue e;
    e.bias = b.data();

    // The kernels first, sgemm last and then a pause: OpenBLAS's threads keep spinning for a while
    // after a call, which on two cores would slow whatever is timed right after it.
    struct Row {
        const char* name;
        double t;
    };
    std::vector<Row> rows;
    if (k::linear_supported(k::LinearPrecision::kF32)) {
        rows.push_back({"f32 tile", seconds_per_call([&] {
                            k::linear_f32(x.data(), kk, m, w.data(), kk, n, kk, e, out.data(), n);
                        })});
    }
    const struct {
        k::LinearPrecision p;
        const char* name;
    } packed[] = {{k::LinearPrecision::kF32, "f32 packed"},
                  {k::LinearPrecision::kBf16, "bf16"},
                  {k::LinearPrecision::kInt8, "int8"}};
    for (const auto& pk : packed) {
        if (!k::linear_supported(pk.p)) {
            rows.push_back({pk.name, 0.0});
            continue;
        }
        const k::PackedLinearWeight pw = k::pack_linear_weight(w.data(), kk, n, kk, pk.p);
        rows.push_back({pk.name, seconds_per_call([&] { k::linear_packed(x.data(), kk, m, pw, e, out.data(), n); })});
    }
    const double t_sgemm = seconds_per_call([&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                    static_cast<int>(kk), 1.0f, x.data(), static_cast<int>(kk), w.data(), static_cast<int>(kk), 0.0f,
                    out.data(), static_cast<int>(n));
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) out[static_cast<size_t>(i * n + j)] += b[static_cast<size_t>(j)];
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    char shape[48];
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lld", static_cast<long long>(m), static_cast<long long>(n),
                  static_cast<long long>(kk));
    std::printf("%-18s %-12s %8.1f GFLOP/s\n", shape, "sgemm+bias", flop / t_sgemm * 1e-9);
    for (const Row& r : rows) {
        if (r.t == 0.0)
            std::printf("%-18s %-12s skipped: this processor (or APHELION_CPU_ISA) lacks its instructions\n", shape,
                        r.name);
        else
            std::printf("%-18s %-12s %8.1f GFLOP/s   x%.2f of sgemm\n", shape, r.name, flop / r.t * 1e-9,
                        t_sgemm / r.t);
    }
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) {
            g_quick = true;
        } else {
            std::fprintf(stderr, "usage: bench_linear [--quick]\n");
            return 2;
        }
    }
    std::printf("bench_linear: out = x · wᵀ + bias (m x n x k), median of %d rounds\n", g_quick ? 1 : 7);
    if (g_quick) {
        run_shape(5, 40, 70);
        return 0;
    }
    {  // the pool's threads started and the clock up before the first figure: 0.3 s of the first shape
        const int64_t m = 16, n = 384, kk = 384;
        std::vector<float> x(static_cast<size_t>(m * kk), 0.5f), w(static_cast<size_t>(n * kk), 0.25f),
            out(static_cast<size_t>(m * n));
        const auto until = Clock::now() + std::chrono::milliseconds(300);
        while (Clock::now() < until && k::linear_supported(k::LinearPrecision::kF32))
            k::linear_f32(x.data(), kk, m, w.data(), kk, n, kk, k::LinearEpilogue{}, out.data(), n);
    }
    const int64_t rows[] = {16, 128, 4096};
    const int64_t layers[][2] = {{384, 384}, {1536, 384}, {384, 1536}};
    for (int64_t m : rows)
        for (const auto& l : layers) run_shape(m, l[0], l[1]);
    return 0;
}
