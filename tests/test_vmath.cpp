// The CPU kernels' vector math (runtime/kernels/vmath.hpp) against double-precision libm, for
// every instruction set this processor has (and the one-lane scalar form): dense samples over
// each function's range plus its edges (±0, ±inf, NaN, the overflow and underflow limits).
//
// Errors are measured in ulp of the correctly rounded f32 result, except where the result is
// below `tiny` in magnitude, where the absolute error is bounded instead (the functions flush
// subnormal results to 0, and GELU's far tail is compared in absolute terms: see each bound).
#include "vmath.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

extern "C" {
#include <setjmp.h>
#include <cmocka.h>
}

namespace vm = aph::kernels::vmath;
using aph::kernels::Isa;

namespace {

enum Fn { kExp, kSigmoid, kErf, kErfc, kTanh, kGelu, kGeluTanh, kSilu };

template <int W>
__attribute__((always_inline)) inline void eval_w(Fn f, const float* x, float* y, int64_t n) {
    switch (f) {
        case kExp: vm::map<W, vm::ExpOp>(x, y, n); break;
        case kSigmoid: vm::map<W, vm::SigmoidOp>(x, y, n); break;
        case kErf: vm::map<W, vm::ErfOp>(x, y, n); break;
        case kErfc: vm::map<W, vm::ErfcLargeOp>(x, y, n); break;
        case kTanh: vm::map<W, vm::TanhOp>(x, y, n); break;
        case kGelu: vm::map<W, vm::GeluOp>(x, y, n); break;
        case kGeluTanh: vm::map<W, vm::GeluTanhOp>(x, y, n); break;
        case kSilu: vm::map<W, vm::SiluOp>(x, y, n); break;
    }
}

void eval_scalar(Fn f, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) eval_w<1>(f, x + i, y + i, 1);
}
void eval_generic(Fn f, const float* x, float* y, int64_t n) { eval_w<4>(f, x, y, n); }
#ifdef APH_X86_DISPATCH
APH_TARGET_AVX2 void eval_avx2(Fn f, const float* x, float* y, int64_t n) { eval_w<8>(f, x, y, n); }
APH_TARGET_AVX512 void eval_avx512(Fn f, const float* x, float* y, int64_t n) { eval_w<16>(f, x, y, n); }
#endif

double reference(Fn f, double x) {
    switch (f) {
        case kExp: return std::exp(x);
        case kSigmoid: return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
        case kErf: return std::erf(x);
        case kErfc: return std::erfc(x);
        case kTanh: return std::tanh(x);
        case kGelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
        case kGeluTanh: {
            const double u = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
            return x / (1.0 + std::exp(-2.0 * u));
        }
        case kSilu: return x >= 0 ? x / (1.0 + std::exp(-x)) : x * std::exp(x) / (1.0 + std::exp(x));
    }
    return 0.0;
}

// The spacing of f32 numbers at |v| (normal range; the smallest normal's spacing below it).
double ulp_of(double v) {
    const double a = std::fabs(v);
    if (a < 1.1754943508222875e-38) return std::ldexp(1.0, -149);
    int e;
    std::frexp(a, &e);  // a = m·2^e, m in [0.5, 1)
    return std::ldexp(1.0, e - 24);
}

struct Bound {
    Fn f;
    const char* name;
    double lo, hi;   // the sampled range
    double max_ulp;  // bound where |reference| >= tiny
    double tiny;     // below this: |got - ref| <= tiny_abs
    double tiny_abs;
    // gelu_tanh only: extra ulp per unit of |2u| (u = √(2/π)(x + 0.044715x³)): the f32 rounding
    // of the exponent 2u, inherent in computing it in f32, is amplified by |2u|.
    double per_arg = 0.0;
};

// The bounds are about 1.3 times the largest errors measured (printed by the test) on the
// scalar, generic, AVX2 and AVX-512 paths.
const Bound kBounds[] = {
    {kExp, "exp", -87.3f, 88.3f, 1.5, 1.1754943508222875e-38, 1.1754943508222875e-38},
    {kSigmoid, "sigmoid", -87.0f, 87.0f, 3.5, 1.1754943508222875e-38, 1.1754943508222875e-38},
    {kErf, "erf", -6.0f, 6.0f, 3.0, 1e-30, 1e-37},
    {kErfc, "erfc (a >= 0.5)", 0.5f, 9.1f, 7.0, 1.1754943508222875e-38, 1.1754943508222875e-38},
    {kTanh, "tanh", -10.0f, 10.0f, 2.0, 1e-30, 1e-37},
    {kGelu, "gelu", -13.0f, 13.0f, 9.0, 1.1754943508222875e-38, 1.1754943508222875e-38},
    {kGeluTanh, "gelu_tanh", -13.0f, 13.0f, 6.0, 1e-30, 1e-35, 3.5},
    {kSilu, "silu", -87.0f, 87.0f, 4.5, 1e-35, 1e-35},
};

// Samples: a uniform grid over [lo, hi], a fine grid near 0, and every float of a few binades
// around 1 (where polynomial regions meet).
std::vector<float> samples(const Bound& b) {
    std::vector<float> x;
    const int n = 200000;
    for (int i = 0; i <= n; ++i) x.push_back(static_cast<float>(b.lo + (b.hi - b.lo) * i / n));
    for (int i = -20000; i <= 20000; ++i) {
        const float v = static_cast<float>(i) * 1e-5f;
        if (v >= b.lo && v <= b.hi) x.push_back(v);
    }
    for (float v = 0.5f; v < 2.0f; v = std::nextafter(v, 4.0f)) {
        // Every 29th float of [0.5, 2), their negatives and those times √2: ~1.2 million points.
        for (int k = 0; k < 28; ++k) v = std::nextafter(v, 4.0f);
        for (float c : {v, -v, v * 1.41421356f, -v * 1.41421356f}) {
            if (c >= b.lo && c <= b.hi) x.push_back(c);
        }
    }
    return x;
}

using EvalFn = void (*)(Fn, const float*, float*, int64_t);

// Samples and references of each bound, computed once and shared by every instruction set.
struct Reference {
    std::vector<float> x;
    std::vector<double> want;
};
const Reference& reference_of(size_t k) {
    static Reference refs[sizeof kBounds / sizeof kBounds[0]];
    Reference& r = refs[k];
    if (r.x.empty()) {
        r.x = samples(kBounds[k]);
        r.want.resize(r.x.size());
        for (size_t i = 0; i < r.x.size(); ++i) r.want[i] = reference(kBounds[k].f, r.x[i]);
    }
    return r;
}

void check_accuracy(const char* isa, EvalFn eval) {
    for (size_t k = 0; k < sizeof kBounds / sizeof kBounds[0]; ++k) {
        const Bound& b = kBounds[k];
        const Reference& ref = reference_of(k);
        const std::vector<float>& x = ref.x;
        std::vector<float> y(x.size(), std::numeric_limits<float>::quiet_NaN());
        eval(b.f, x.data(), y.data(), static_cast<int64_t>(x.size()));
        double worst = 0.0, worst_x = 0.0;
        for (size_t i = 0; i < x.size(); ++i) {
            const double want = ref.want[i];
            const double got = y[i];
            if (std::isnan(got)) fail_msg("%s %s(%.9g) = NaN, want %.9g", isa, b.name, x[i], want);
            if (std::fabs(want) < b.tiny) {
                if (std::fabs(got - want) > b.tiny_abs) {
                    fail_msg("%s %s(%.9g) = %.9g, want %.9g (absolute bound %g)", isa, b.name, x[i], got, want,
                             b.tiny_abs);
                }
                continue;
            }
            double e = std::fabs(got - want) / ulp_of(want);
            if (b.per_arg > 0.0) {
                const double u = std::sqrt(2.0 / M_PI) * (x[i] + 0.044715 * x[i] * x[i] * x[i]);
                e /= 1.0 + b.per_arg * std::fabs(2.0 * u) / b.max_ulp;  // in units of the bound
            }
            if (e > worst) {
                worst = e;
                worst_x = x[i];
            }
        }
        printf("  %-7s %-15s max error %.2f ulp%s (at %.9g) over %zu points\n", isa, b.name, worst,
               b.per_arg > 0.0 ? " (scaled)" : "", worst_x, x.size());
        if (worst > b.max_ulp) fail_msg("%s %s: %.2f ulp at %.9g, bound %.1f", isa, b.name, worst, worst_x, b.max_ulp);
    }
}

// Special inputs: ±0, ±inf, NaN, and the limits of exp.
void check_edges(const char* isa, EvalFn eval) {
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    struct Case {
        Fn f;
        float x, want;
    };
    const Case cases[] = {
        {kExp, 0.0f, 1.0f},    {kExp, -0.0f, 1.0f},    {kExp, inf, inf},          {kExp, -inf, 0.0f},
        {kExp, 89.0f, inf},    {kExp, -88.0f, 0.0f},   {kExp, -1e30f, 0.0f},      {kExp, 1e30f, inf},
        {kSigmoid, inf, 1.0f}, {kSigmoid, -inf, 0.0f}, {kSigmoid, 0.0f, 0.5f},    {kSigmoid, -1e4f, 0.0f},
        {kErf, 0.0f, 0.0f},    {kErf, inf, 1.0f},      {kErf, -inf, -1.0f},       {kErf, 1e10f, 1.0f},
        {kErf, 4.0f, 1.0f},    {kErfc, inf, 0.0f},     {kErfc, 1e30f, 0.0f},      {kTanh, inf, 1.0f},
        {kTanh, -inf, -1.0f},  {kTanh, 0.0f, 0.0f},    {kTanh, 1e30f, 1.0f},      {kTanh, -20.0f, -1.0f},
        {kGelu, 0.0f, 0.0f},   {kGelu, inf, inf},      {kGelu, 1e30f, 1e30f},     {kGelu, -30000.0f, 0.0f},
        {kGelu, -1e30f, 0.0f}, {kGeluTanh, inf, inf},  {kGeluTanh, -1e30f, 0.0f}, {kGeluTanh, 30000.0f, 30000.0f},
        {kSilu, inf, inf},     {kSilu, -1e30f, 0.0f},  {kSilu, 0.0f, 0.0f},
    };
    for (const Case& c : cases) {
        float y = nan;
        eval(c.f, &c.x, &y, 1);
        if (!(y == c.want)) fail_msg("%s edge: fn %d at %g gave %.9g, want %.9g", isa, c.f, c.x, y, c.want);
    }
    // NaN in, NaN out, for every function; a NaN lane does not disturb its neighbours.
    for (int f = kExp; f <= kSilu; ++f) {
        float x[17], y[17];
        for (int i = 0; i < 17; ++i) x[i] = i == 5 ? nan : 0.25f * static_cast<float>(i - 8);
        eval(static_cast<Fn>(f), x, y, 17);
        for (int i = 0; i < 17; ++i) {
            if (f == kErfc && x[i] < 0.5f && i != 5) continue;  // erfc_large's domain is a >= 0.5
            const bool nan_out = std::isnan(y[i]);
            if (nan_out != (i == 5)) fail_msg("%s NaN propagation: fn %d lane %d gave %g", isa, f, i, y[i]);
        }
    }
}

void run_isa(const char* isa, EvalFn eval) {
    check_edges(isa, eval);
    check_accuracy(isa, eval);
}

void test_scalar(void** state) {
    (void)state;
    run_isa("scalar", eval_scalar);
}
void test_generic(void** state) {
    (void)state;
    run_isa("generic", eval_generic);
}
void test_avx2(void** state) {
    (void)state;
#ifdef APH_X86_DISPATCH
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) skip();
    run_isa("avx2", eval_avx2);
#else
    skip();
#endif
}
void test_avx512(void** state) {
    (void)state;
#ifdef APH_X86_DISPATCH
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512bw"))
        skip();
    run_isa("avx512", eval_avx512);
#else
    skip();
#endif
}

// cpu_isa() never exceeds what the processor has, and APHELION_CPU_ISA only lowers it.
void test_isa_choice(void** state) {
    (void)state;
    const Isa isa = aph::kernels::cpu_isa();
    printf("  cpu_isa() = %d (APHELION_CPU_ISA=%s)\n", static_cast<int>(isa),
           getenv("APHELION_CPU_ISA") ? getenv("APHELION_CPU_ISA") : "");
#ifdef APH_X86_DISPATCH
    __builtin_cpu_init();
    if (isa >= Isa::kAvx2) assert_true(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
    if (isa >= Isa::kAvx512) assert_true(__builtin_cpu_supports("avx512f"));
#else
    assert_int_equal(static_cast<int>(isa), static_cast<int>(Isa::kGeneric));
#endif
    const char* cap = getenv("APHELION_CPU_ISA");
    if (cap && strcmp(cap, "generic") == 0) assert_int_equal(static_cast<int>(isa), 0);
    if (cap && strcmp(cap, "avx2") == 0) assert_true(isa <= Isa::kAvx2);
}

}  // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar), cmocka_unit_test(test_generic),    cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_avx512), cmocka_unit_test(test_isa_choice),
    };
    // With APHELION_CPU_ISA set (the capped run), only the choice is tested: the accuracy tests
    // call every instruction set's functions directly whatever the cap.
    if (getenv("APHELION_CPU_ISA") != nullptr) {
        const struct CMUnitTest choice[] = {cmocka_unit_test(test_isa_choice)};
        return cmocka_run_group_tests(choice, nullptr, nullptr);
    }
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
