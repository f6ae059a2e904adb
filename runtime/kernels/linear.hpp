// Linear layers on the CPU without BLAS: out[m, n] = epilogue(Σ_k x[m, k] · w[n, k]) for a weight
// stored as a linear layer keeps it, [N, K] with each output's weights contiguous along K
// (cpu_linear.cpp).
//
// Why: OpenBLAS packs both operands on every call, which for the few rows of one short sentence
// costs as much as the product (all-MiniLM-L6-v2 at (1, 16) spent 6 of its 6.5 ms in sgemm at
// about 50 GFLOP/s), and it cannot apply an activation or a residual while the result is in
// registers. Three precisions, each with the epilogue (bias, GELU, residual) applied to the
// results in registers before they are stored:
//   kF32   the weight as bound, read in place as dot products along K: a tile of 4 rows of x and
//          4 rows of w keeps 16 vector accumulators, which a shuffle tree reduces to the 4 × 4
//          outputs in one vector (AVX-512 FMAs);
//   kBf16  weights converted once to bf16 in panels of 16 outputs (PackedLinearWeight), x
//          rounded to bf16 per call and broadcast two values at a time, products summed in f32
//          (AVX512_BF16 vdpbf16ps: twice the products per instruction);
//   kInt8  weights quantized once per output row (symmetric int8, scale max|w|/127), x quantized
//          per call per row (asymmetric u8: scale sx = (max(x, 0) − min(x, 0)) / 255, zero point
//          zx), in the same panel form 4 bytes at a time, products summed in int32 (AVX512_VNNI
//          vpdpbusd: four times the products of f32), and scaled back: sx[m] · sw[n] · (acc − zx[m] · Σ_k q_w[n, k]).
//          Outliers stay f32: transformer activations carry a few channels 10-30 times larger
//          than the rest, and a few weight columns are as lopsided; quantized with the others
//          they would set every row's scale. The 4 weight columns of largest magnitude (fixed at
//          packing; their weights kept in f32) and each row's 8 entries of x of largest
//          magnitude among the rest (K > 32; their weights kept in bf16, transposed) are left
//          out of the int8 product and added in f32: large x values must meet accurate
//          weights, since an int8 weight's error times an outlier is what remains (all-MiniLM-L6-v2:
//          worst cosine to f32 over random-token batches 0.9984 with int8 weights for them,
//          0.9992 with bf16; docs/benchmarks.md). A row's result depends on that row alone.
// All three run only where the processor has the instructions (linear_supported); callers fall
// back to BLAS (f32) or report that the precision is unavailable.
#pragma once

#include <cstdint>
#include <vector>

namespace aph::kernels {

enum class LinearPrecision : int { kF32 = 0, kBf16 = 1, kInt8 = 2 };

// True when this processor runs the kernels of precision p (AVX-512 F/VL/BW/DQ, plus AVX512_BF16
// for kBf16 and AVX512_VNNI for kInt8), capped by APHELION_CPU_ISA like the other kernels.
bool linear_supported(LinearPrecision p) noexcept;

// What happens to each output before it is stored, in this order: + bias[n] (NULL: nothing),
// the activation (kActNone or kActGelu, cpu_elementwise's enum values), + residual[m, n] (NULL:
// nothing; row stride ldr elements; it may be out itself).
struct LinearEpilogue {
    const float* bias = nullptr;
    int act = 0;
    const float* residual = nullptr;
    int64_t ldr = 0;
};

// A weight [N, K] converted for kBf16 or kInt8 (pack_linear_weight), in panels of 16 outputs:
// for each group of 2 (bf16) or 4 (int8) consecutive k, 64 bytes hold that group's weights of
// the panel's 16 outputs. Rows are padded with zeros to kp elements (a multiple of 32 for bf16,
// 64 for int8) and outputs to a multiple of 16 (scale and offset too).
struct PackedLinearWeight {
    LinearPrecision precision = LinearPrecision::kF32;
    int64_t n = 0, k = 0, kp = 0;
    std::vector<float> f32;         // panels (kF32: a packed copy of a weight that cannot change)
    std::vector<uint16_t> bf16;     // panels
    std::vector<int8_t> s8;         // panels
    std::vector<float> scale;       // int8: per row of w
    std::vector<int32_t> offset;    // int8: Σ_k q_w[n, k] per row
    std::vector<int32_t> outliers;  // int8: columns left at zero in s8, computed in f32 instead
    std::vector<float> outlier_w;   // int8: [outliers][n rounded up to 16]: w[n, outliers[j]]
    std::vector<uint16_t> wt_bf16;  // int8: [k][n rounded up to 16]: w[n, k] in bf16 (rows' outliers)
    uint64_t bytes() const {
        return f32.size() * 4 + bf16.size() * 2 + s8.size() + scale.size() * 4 + offset.size() * 4 +
               outliers.size() * 4 + outlier_w.size() * 4 + wt_bf16.size() * 2;
    }
};

// Converts w (f32, [n, k], row stride ldw) for precision p (linear_supported(p) must hold; kF32
// copies the values into panels: the broadcast form, for weights that cannot change, such as
// memory-mapped ones). Throws std::bad_alloc.
PackedLinearWeight pack_linear_weight(const float* w, int64_t ldw, int64_t n, int64_t k, LinearPrecision p);

// out [m, n] (row stride ldo) = epilogue(x [m, k] (row stride ldx) · wᵀ) with w f32 [n, k] (row
// stride ldw), in parallel over the CPU pool. Requires linear_supported(kF32), m, n, k >= 1.
void linear_f32(const float* x, int64_t ldx, int64_t m, const float* w, int64_t ldw, int64_t n, int64_t k,
                const LinearEpilogue& e, float* out, int64_t ldo);

// Whether linear_f32 is the faster choice for an f32 product of this many rows (and available):
// the rule cpu_matmul and the executor's fusion share.
bool linear_f32_preferred(int64_t rows) noexcept;

// The same with a packed weight (its precision's requirements hold). Throws std::bad_alloc (the
// converted copy of x).
void linear_packed(const float* x, int64_t ldx, int64_t m, const PackedLinearWeight& w, const LinearEpilogue& e,
                   float* out, int64_t ldo);

}  // namespace aph::kernels
