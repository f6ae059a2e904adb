// Matrix products (APH_K_MATMUL) on the CPU: OpenBLAS sgemm/dgemm, one call per batch matrix
// (OpenBLAS threads each call internally, so batches run one after another).
//
// Descriptor (cuda/kernel_abi.h): a [batch, M, K], b [batch, K, N], out [batch, M, N]. a and b
// are row-major (last stride 1) or column-major (middle stride 1) matrices; a column-major
// operand is handed to BLAS as the transpose of a row-major one (CblasTrans, ld = its column
// stride), so no operand is copied for its layout. Batch stride 0 repeats one matrix.
//
// Few rows: an f32 product of a row-major a and a column-major b (a linear layer's x · weightᵀ,
// the weight read in place) with few rows runs linear.hpp's dot-product kernel
// with the bias in its epilogue, where the processor has AVX-512 (linear_f32_preferred: OpenBLAS
// packs both operands on every call, which at few rows costs about as much as the product).
//
// Precision: f64 runs dgemm; f32 runs sgemm straight on the tensors; f16/bf16 operands are
// widened to f32 buffers first (one matrix at a time; a broadcast operand once), the product is
// formed in f32 and rounded once when stored. out may be wider than the operands (the GRU cell
// keeps its gate pre-activations in f32): a buffer is used only where out's dtype is not the
// computation's. The bias is added to the f32/f64 result after alpha/beta, before rounding.
#include "cpu.hpp"
#include "linear.hpp"

#include <cblas.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace aph::kernels {
namespace {

constexpr int32_t kF32 = 0;
constexpr int32_t kF64 = 3;

// How BLAS reads an operand [batch, rows, cols]: row-major (NoTrans, ld = row stride) or
// column-major (Trans: its memory is the row-major transpose, ld = column stride).
struct Layout {
    CBLAS_TRANSPOSE trans;
    int64_t ld;
};

Layout layout_of(const aph_kt& t) {
    const int64_t cols = t.shape[2], sr = t.strides[1], sc = t.strides[2];
    if (sc == 1 && sr >= std::max<int64_t>(1, cols)) return {CblasNoTrans, sr};
    return {CblasTrans, sc};
}

inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, double alpha, const float* a,
                 blasint lda, const float* b, blasint ldb, double beta, float* c, blasint ldc) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, static_cast<float>(alpha), a, lda, b, ldb, static_cast<float>(beta), c,
                ldc);
}
inline void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, double alpha, const double* a,
                 blasint lda, const double* b, blasint ldb, double beta, double* c, blasint ldc) {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Copies one strided operand matrix into a packed f32 buffer with the same orientation:
// row-major [rows, cols] (ld cols) or column-major (ld rows). Returns the packed ld.
int64_t widen(const char* base, const aph_kt& t, const Layout& l, float* buf) {
    const int64_t rows = t.shape[1], cols = t.shape[2];
    const size_t es = dtype_size(t.dtype);
    // A "line" is a contiguous run in memory: a row (row-major) or a column (column-major).
    const bool row_major = l.trans == CblasNoTrans;
    const int64_t lines = row_major ? rows : cols, len = row_major ? cols : rows;
    const int64_t stride = row_major ? t.strides[1] : t.strides[2];
    for (int64_t i = 0; i < lines; ++i) {
        to_f32(base + static_cast<size_t>(i * stride) * es, t.dtype, buf + i * len, len);
    }
    return std::max<int64_t>(1, len);
}

// out = beta·out (+ bias) when K == 0: the product is empty. beta 0 writes without reading.
void empty_product(const aph_k_matmul& d) {
    const int64_t batch = d.out.shape[0], M = d.out.shape[1], N = d.out.shape[2];
    const size_t es = dtype_size(d.out.dtype), bes = d.bias.data ? dtype_size(d.bias.dtype) : 0;
    char* out = static_cast<char*>(d.out.data);
    const char* bias = static_cast<const char*>(d.bias.data);
    for (int64_t i = 0; i < batch; ++i) {
        for (int64_t r = 0; r < M; ++r) {
            char* row = out + static_cast<size_t>(i * d.out.strides[0] + r * d.out.strides[1]) * es;
            for (int64_t c = 0; c < N; ++c) {
                double v = d.beta == 0.0 ? 0.0 : d.beta * load_f64(row + static_cast<size_t>(c) * es, d.out.dtype);
                if (bias) v += load_f64(bias + static_cast<size_t>(c) * bes, d.bias.dtype);
                store_f64(row + static_cast<size_t>(c) * es, d.out.dtype, v);
            }
        }
    }
}

// The product in T (float or double) for every batch matrix.
template <class T>
int run(const aph_k_matmul& d, std::string& msg) {
    constexpr int32_t kT = sizeof(T) == 8 ? kF64 : kF32;
    const int64_t batch = d.out.shape[0], M = d.out.shape[1], N = d.out.shape[2], K = d.a.shape[2];
    const Layout la = layout_of(d.a), lb = layout_of(d.b);
    const int64_t ldc_out = std::max<int64_t>(1, d.out.strides[1]);

    // BLAS takes 32-bit sizes: rows of a and out are split into chunks below; the other sizes
    // and leading dimensions must fit.
    constexpr int64_t kMax = std::numeric_limits<blasint>::max();
    if (N > kMax || K > kMax || la.ld > kMax || lb.ld > kMax || ldc_out > kMax ||
        (la.trans == CblasTrans && M > kMax)) {
        msg = "matrix product: a dimension or leading stride exceeds the BLAS library's 32-bit range";
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }

    const bool wa = d.a.dtype != kT, wb = d.b.dtype != kT, wc = d.out.dtype != kT;
    std::vector<T> abuf(wa ? static_cast<size_t>(M * K) : 0);
    std::vector<T> bbuf(wb ? static_cast<size_t>(K * N) : 0);
    std::vector<T> cbuf(wc ? static_cast<size_t>(M * N) : 0);
    std::vector<T> bias;
    if (d.bias.data != nullptr) {
        bias.resize(static_cast<size_t>(N));
        const size_t bes = dtype_size(d.bias.dtype);
        for (int64_t c = 0; c < N; ++c) {
            bias[static_cast<size_t>(c)] = static_cast<T>(
                load_f64(static_cast<const char*>(d.bias.data) + static_cast<size_t>(c) * bes, d.bias.dtype));
        }
    }

    const size_t esa = dtype_size(d.a.dtype), esb = dtype_size(d.b.dtype), esc = dtype_size(d.out.dtype);
    if constexpr (sizeof(T) == 4) {
        if (!wa && !wb && !wc && la.trans == CblasNoTrans && lb.trans == CblasTrans && d.alpha == 1.0 &&
            d.beta == 0.0 && linear_f32_preferred(M)) {
            LinearEpilogue e;
            e.bias = bias.empty() ? nullptr : bias.data();
            for (int64_t i = 0; i < batch; ++i) {
                const float* ap = static_cast<const float*>(d.a.data) + i * d.a.strides[0];
                const float* bp = static_cast<const float*>(d.b.data) + i * d.b.strides[0];
                float* cp = static_cast<float*>(d.out.data) + i * d.out.strides[0];
                linear_f32(ap, la.ld, M, bp, lb.ld, N, K, e, cp, ldc_out);
            }
            return 0;
        }
    }
    for (int64_t i = 0; i < batch; ++i) {
        const char* ap = static_cast<const char*>(d.a.data) + static_cast<size_t>(i * d.a.strides[0]) * esa;
        const char* bp = static_cast<const char*>(d.b.data) + static_cast<size_t>(i * d.b.strides[0]) * esb;
        char* cp = static_cast<char*>(d.out.data) + static_cast<size_t>(i * d.out.strides[0]) * esc;

        const T* A = reinterpret_cast<const T*>(ap);
        int64_t lda = la.ld;
        if constexpr (sizeof(T) == 4) {
            if (wa) {
                // A broadcast matrix (batch stride 0) is widened once.
                if (i == 0 || d.a.strides[0] != 0) lda = widen(ap, d.a, la, abuf.data());
                else
                    lda = la.trans == CblasNoTrans ? std::max<int64_t>(1, K) : std::max<int64_t>(1, M);
                A = abuf.data();
            }
        }
        const T* B = reinterpret_cast<const T*>(bp);
        int64_t ldb = lb.ld;
        if constexpr (sizeof(T) == 4) {
            if (wb) {
                if (i == 0 || d.b.strides[0] != 0) ldb = widen(bp, d.b, lb, bbuf.data());
                else
                    ldb = lb.trans == CblasNoTrans ? std::max<int64_t>(1, N) : std::max<int64_t>(1, K);
                B = bbuf.data();
            }
        }
        T* C = reinterpret_cast<T*>(cp);
        int64_t ldc = ldc_out;
        if (wc) {
            C = cbuf.data();
            ldc = std::max<int64_t>(1, N);
            if (d.beta != 0.0) {
                for (int64_t r = 0; r < M; ++r) {
                    if constexpr (sizeof(T) == 4) {
                        to_f32(cp + static_cast<size_t>(r * ldc_out) * esc, d.out.dtype, C + r * N, N);
                    }
                }
            }
        }

        // Rows [r0, r0 + m) of a and out per BLAS call (one call unless M exceeds 32 bits).
        for (int64_t r0 = 0; r0 < M; r0 += kMax) {
            const int64_t m = std::min<int64_t>(kMax, M - r0);
            const T* Ar = la.trans == CblasNoTrans ? A + r0 * lda : A + r0;
            gemm(la.trans, lb.trans, static_cast<blasint>(m), static_cast<blasint>(N), static_cast<blasint>(K), d.alpha,
                 Ar, static_cast<blasint>(lda), B, static_cast<blasint>(ldb), d.beta, C + r0 * ldc,
                 static_cast<blasint>(ldc));
        }

        if (!bias.empty()) {
            for (int64_t r = 0; r < M; ++r) {
                T* row = C + r * ldc;
                for (int64_t c = 0; c < N; ++c) row[c] += bias[static_cast<size_t>(c)];
            }
        }
        if (wc) {
            for (int64_t r = 0; r < M; ++r) {
                if constexpr (sizeof(T) == 4) {
                    from_f32(C + r * N, cp + static_cast<size_t>(r * ldc_out) * esc, d.out.dtype, N);
                }
            }
        }
    }
    return 0;
}

}  // namespace

int cpu_matmul(const aph_k_matmul& d, std::string& msg) {
    if (d.a.shape[2] == 0) {
        empty_product(d);
        return 0;
    }
    const bool f64a = d.a.dtype == kF64, f64b = d.b.dtype == kF64, f64c = d.out.dtype == kF64;
    if (f64a || f64b || f64c) {
        if (!(f64a && f64b && f64c)) {
            msg = "matrix product: f64 cannot be mixed with other dtypes";
            return APH_K_STATUS_NOT_IMPLEMENTED;
        }
        return run<double>(d, msg);
    }
    return run<float>(d, msg);
}

}  // namespace aph::kernels
