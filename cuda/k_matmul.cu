// Matrix products (APH_K_MATMUL) on CUDA through cuBLAS and cuBLASLt.
//
// Both libraries are opened with dlopen from inside the module (libcublas.so.13,
// libcublasLt.so.13) and every function is resolved with dlsym once: the module does not link
// them, so it loads on machines without them, where a product reports
// APH_K_STATUS_NOT_IMPLEMENTED ("cuBLAS not available: <dlerror>"). The headers are included for
// the types only.
//
// Row-major to column-major: cuBLAS is column-major, and a row-major matrix read column-major
// is its transpose. So out[M, N] = a[M, K]·b[K, N] runs as the column-major product
// outᵀ[N, M] = bᵀ[N, K]·aᵀ[K, M] (cuBLAS's A is b, its B is a, m = N, n = M, k = K). A
// row-major operand (unit last stride) enters untransposed with ld = its row stride; a
// column-major one (unit middle stride: a transposed view) enters with CUBLAS_OP_T and ld = its
// column stride. Batches: cublasGemmStridedBatchedEx_64 (64-bit sizes) with batch stride 0 for
// a broadcast operand, CUBLAS_COMPUTE_32F for f32/f16/bf16 (f32 accumulation; TF32 is never
// enabled: the handle keeps the default math mode, plus "no reduced-precision reductions" so
// split-K partial sums of a half output are added in f32 too).
//
// Bias (linear layers): with batch 1 and a bias of out's dtype, cuBLASLt's CUBLASLT_EPILOGUE_BIAS
// adds it in the pass that stores the product (after alpha/beta, before rounding). Elsewhere (no
// cuBLASLt, no cuBLASLt kernel for the layout or alignment, a bias of another dtype, batches) a
// small kernel first writes beta·out + bias into out and the GEMM then runs with beta 1: the
// bias still joins the f32 sum before the single rounding whenever beta is 0 (every product the
// library issues), since the bias is exactly representable in out's dtype.
//
// Handles: a cuBLAS handle owns a workspace that the kernels it queues use, so one handle must
// not serve two streams that run concurrently. Handles are cached per (device, stream) (a small
// LRU list; an evicted handle is destroyed when its last user lets go, and cublasDestroy waits
// for the device, which is why the list is not tiny); each use sets the stream and holds the
// handle's mutex while queuing. cuBLASLt runs without a workspace (no allocation in the hot
// path), with one cuBLASLt handle per cached entry.
#include "kernels.cuh"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <new>

namespace aph::cuk {
namespace {

// ---------------------------------------------------------------------------------------------
// cuBLAS / cuBLASLt entry points
// ---------------------------------------------------------------------------------------------

struct Blas {
    bool ok = false;       // cuBLAS loaded with every required function
    char error[384] = {};  // why not
    decltype(&cublasCreate_v2) create = nullptr;
    decltype(&cublasDestroy_v2) destroy = nullptr;
    decltype(&cublasSetStream_v2) set_stream = nullptr;
    decltype(&cublasSetMathMode) set_math_mode = nullptr;
    decltype(&cublasGemmStridedBatchedEx_64) gemm = nullptr;
    decltype(&cublasGetStatusName) status_name = nullptr;      // optional
    decltype(&cublasGetStatusString) status_string = nullptr;  // optional

    bool lt = false;  // cuBLASLt loaded with every function below
    decltype(&cublasLtCreate) lt_create = nullptr;
    decltype(&cublasLtDestroy) lt_destroy = nullptr;
    decltype(&cublasLtMatmulDescCreate) desc_create = nullptr;
    decltype(&cublasLtMatmulDescDestroy) desc_destroy = nullptr;
    decltype(&cublasLtMatmulDescSetAttribute) desc_set = nullptr;
    decltype(&cublasLtMatrixLayoutCreate) layout_create = nullptr;
    decltype(&cublasLtMatrixLayoutDestroy) layout_destroy = nullptr;
    decltype(&cublasLtMatmulPreferenceCreate) pref_create = nullptr;
    decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy = nullptr;
    decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set = nullptr;
    decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
    decltype(&cublasLtMatmul) lt_matmul = nullptr;
};

template <class F>
bool resolve(void* lib, const char* name, F& fn, char* error, size_t len) {
    dlerror();
    fn = reinterpret_cast<F>(dlsym(lib, name));
    if (fn != nullptr) return true;
    const char* e = dlerror();
    put(error, len, "%s", e != nullptr ? e : name);
    return false;
}

void load(Blas& b) {
    dlerror();
    void* lib = dlopen("libcublas.so.13", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        const char* e = dlerror();
        put(b.error, sizeof b.error, "%s", e != nullptr ? e : "libcublas.so.13 could not be loaded");
        return;
    }
    // Kept loaded for the life of the process (handles and queued work use it).
    b.ok = resolve(lib, "cublasCreate_v2", b.create, b.error, sizeof b.error) &&
           resolve(lib, "cublasDestroy_v2", b.destroy, b.error, sizeof b.error) &&
           resolve(lib, "cublasSetStream_v2", b.set_stream, b.error, sizeof b.error) &&
           resolve(lib, "cublasSetMathMode", b.set_math_mode, b.error, sizeof b.error) &&
           resolve(lib, "cublasGemmStridedBatchedEx_64", b.gemm, b.error, sizeof b.error);
    if (!b.ok) return;
    char ignored[8];
    if (!resolve(lib, "cublasGetStatusName", b.status_name, ignored, sizeof ignored)) b.status_name = nullptr;
    if (!resolve(lib, "cublasGetStatusString", b.status_string, ignored, sizeof ignored)) b.status_string = nullptr;

    // cuBLASLt only serves the fused bias; without it the bias kernel does the job.
    void* lt = dlopen("libcublasLt.so.13", RTLD_NOW | RTLD_LOCAL);
    if (lt == nullptr) return;
    char e[128];
    b.lt = resolve(lt, "cublasLtCreate", b.lt_create, e, sizeof e) &&
           resolve(lt, "cublasLtDestroy", b.lt_destroy, e, sizeof e) &&
           resolve(lt, "cublasLtMatmulDescCreate", b.desc_create, e, sizeof e) &&
           resolve(lt, "cublasLtMatmulDescDestroy", b.desc_destroy, e, sizeof e) &&
           resolve(lt, "cublasLtMatmulDescSetAttribute", b.desc_set, e, sizeof e) &&
           resolve(lt, "cublasLtMatrixLayoutCreate", b.layout_create, e, sizeof e) &&
           resolve(lt, "cublasLtMatrixLayoutDestroy", b.layout_destroy, e, sizeof e) &&
           resolve(lt, "cublasLtMatmulPreferenceCreate", b.pref_create, e, sizeof e) &&
           resolve(lt, "cublasLtMatmulPreferenceDestroy", b.pref_destroy, e, sizeof e) &&
           resolve(lt, "cublasLtMatmulPreferenceSetAttribute", b.pref_set, e, sizeof e) &&
           resolve(lt, "cublasLtMatmulAlgoGetHeuristic", b.heuristic, e, sizeof e) &&
           resolve(lt, "cublasLtMatmul", b.lt_matmul, e, sizeof e);
}

const Blas& blas() {
    static Blas b;
    static std::once_flag once;
    std::call_once(once, [] { load(b); });
    return b;
}

// "{call} failed: {description} ({CUBLAS_STATUS_...})".
int blas_fail(const char* call, cublasStatus_t st, char* msg, size_t len) {
    const Blas& b = blas();
    const char* name = b.status_name != nullptr ? b.status_name(st) : nullptr;
    const char* text = b.status_string != nullptr ? b.status_string(st) : nullptr;
    if (name != nullptr) put(msg, len, "%s failed: %s (%s)", call, text != nullptr ? text : "error", name);
    else
        put(msg, len, "%s failed: cuBLAS status %d", call, static_cast<int>(st));
    return st == CUBLAS_STATUS_ALLOC_FAILED ? APH_K_STATUS_OUT_OF_MEMORY : APH_K_STATUS_FAILED;
}

// ---------------------------------------------------------------------------------------------
// Handles per (device, stream)
// ---------------------------------------------------------------------------------------------

struct Handle {
    std::mutex mutex;  // held while configuring the handle and queuing work with it
    cublasHandle_t cublas = nullptr;
    cublasLtHandle_t lt = nullptr;  // created on first use of the fused bias
    bool lt_failed = false;         // cublasLtCreate failed once: use the bias kernel
    int device = -1;                // the device the handles were created on

    Handle() = default;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() {
        const Blas& b = blas();
        // The last reference may go on a thread whose current device is another one: destroy
        // on the device the handles belong to, then restore the thread's device.
        // Failures here are ignored, so consumed (a stale error would fail the next launch).
        int previous = -1;
        cudaError_t err = device >= 0 ? cudaGetDevice(&previous) : cudaSuccess;
        consume(err);
        if (device >= 0 && err == cudaSuccess && previous != device) {
            err = cudaSetDevice(device);
            consume(err);
            if (err != cudaSuccess) previous = -1;
        } else {
            previous = -1;
        }
        if (cublas != nullptr) {
            // The stream may be gone by now: detach it before destroying (cublasDestroy waits
            // for the device, so queued work using the workspace has finished).
            b.set_stream(cublas, nullptr);
            b.destroy(cublas);
        }
        if (lt != nullptr) b.lt_destroy(lt);
        if (previous >= 0) consume(cudaSetDevice(previous));
    }
};

struct Cache {
    struct Entry {
        int device;
        cudaStream_t stream;
        std::shared_ptr<Handle> handle;
    };
    std::mutex mutex;
    std::list<Entry> entries;  // most recently used first
};
constexpr size_t kMaxHandles = 64;

// Never destroyed: at process exit the CUDA context may already be gone, and destroying
// handles then is undefined.
Cache& cache() {
    static Cache* c = new Cache;
    return *c;
}

// The handle for the current device and stream s, created on first use.
int handle_for(cudaStream_t s, std::shared_ptr<Handle>& out, char* msg, size_t len) {
    int device = 0;
    if (int rc = check(cudaGetDevice(&device), "cudaGetDevice", msg, len)) return rc;
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        for (auto it = c.entries.begin(); it != c.entries.end(); ++it) {
            if (it->device == device && it->stream == s) {
                c.entries.splice(c.entries.begin(), c.entries, it);
                out = c.entries.front().handle;
                return 0;
            }
        }
    }
    // Created outside the lock: cublasCreate allocates device memory.
    auto h = std::make_shared<Handle>();
    h->device = device;
    const Blas& b = blas();
    cublasStatus_t st = b.create(&h->cublas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        h->cublas = nullptr;
        return blas_fail("cublasCreate", st, msg, len);
    }
    st = b.set_math_mode(
        h->cublas, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION));
    if (st != CUBLAS_STATUS_SUCCESS) return blas_fail("cublasSetMathMode", st, msg, len);

    std::shared_ptr<Handle> evicted;  // destroyed after the lock is released
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        for (auto it = c.entries.begin(); it != c.entries.end(); ++it) {
            if (it->device == device && it->stream == s) {  // another thread was faster
                out = it->handle;
                evicted = std::move(h);
                return 0;
            }
        }
        c.entries.push_front({device, s, h});
        if (c.entries.size() > kMaxHandles) {
            evicted = std::move(c.entries.back().handle);
            c.entries.pop_back();
        }
    }
    out = std::move(h);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// The column-major problem cuBLAS runs
// ---------------------------------------------------------------------------------------------

cudaDataType cuda_type(int32_t dtype) {
    switch (dtype) {
        case 1: return CUDA_R_16F;
        case 2: return CUDA_R_16BF;
        default: return CUDA_R_32F;
    }
}

// C'[m, n] = op(A')[m, k] · op(B')[k, n] in cuBLAS's column-major terms, batched.
struct Gemm {
    cublasOperation_t ta, tb;
    int64_t m, n, k, batch;
    const void* A;
    int64_t lda, stride_a;
    cudaDataType type_a;
    const void* B;
    int64_t ldb, stride_b;
    cudaDataType type_b;
    void* C;
    int64_t ldc, stride_c;
    cudaDataType type_c;
};

Gemm plan(const aph_k_matmul& d) {
    const int64_t M = d.out.shape[1], N = d.out.shape[2], K = d.a.shape[2];
    Gemm g{};
    g.m = N;
    g.n = M;
    g.k = K;
    g.batch = d.out.shape[0];
    // A' = b [K, N]. Row-major (strides (ld, 1)): read column-major it is bᵀ [N, K] = op(A')
    // untransposed, lda = row stride >= N. Column-major (strides (1, ld)): it is b [K, N] itself,
    // so op(A') = its transpose, lda = column stride >= K.
    if (d.b.strides[2] == 1 && d.b.strides[1] >= std::max<int64_t>(1, N)) {
        g.ta = CUBLAS_OP_N;
        g.lda = d.b.strides[1];
    } else {
        g.ta = CUBLAS_OP_T;
        g.lda = d.b.strides[2];
    }
    // B' = a [M, K], the same way: row-major is aᵀ [K, M] (ldb >= K), column-major needs OP_T
    // (ldb >= M).
    if (d.a.strides[2] == 1 && d.a.strides[1] >= std::max<int64_t>(1, K)) {
        g.tb = CUBLAS_OP_N;
        g.ldb = d.a.strides[1];
    } else {
        g.tb = CUBLAS_OP_T;
        g.ldb = d.a.strides[2];
    }
    g.A = d.b.data;
    g.stride_a = d.b.strides[0];
    g.type_a = cuda_type(d.b.dtype);
    g.B = d.a.data;
    g.stride_b = d.a.strides[0];
    g.type_b = cuda_type(d.a.dtype);
    // out [batch, M, N] contiguous: outᵀ column-major [N, M] with ldc = N.
    g.C = d.out.data;
    g.ldc = std::max<int64_t>(1, N);
    g.stride_c = d.out.strides[0];
    g.type_c = cuda_type(d.out.dtype);
    return g;
}

// ---------------------------------------------------------------------------------------------
// out = beta·out + bias over out [rows, n] (contiguous): before the GEMM when the bias cannot be
// fused (the GEMM then runs with beta 1), and alone for an empty product (K = 0).
// ---------------------------------------------------------------------------------------------

// One thread per element in a grid-stride loop over the row-major index i: column i % n (bias
// element), row-major writes, so consecutive threads touch consecutive addresses.
template <class T, class TB>
__global__ void prologue_kernel(T* out, int64_t total, int64_t n, float beta, const TB* bias) {
    const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
        float v = beta != 0.0f ? beta * ld(out + i) : 0.0f;  // beta 0: out is not read
        if (bias != nullptr) v += ld(bias + i % n);
        st(out + i, v);
    }
}

int prologue(const aph_k_matmul& d, float beta, cudaStream_t s, char* msg, size_t len) {
    const int64_t n = d.out.shape[2], total = d.out.shape[0] * d.out.shape[1] * n;
    constexpr int kThreads = 256;
    const int32_t bias_dtype = d.bias.data != nullptr ? d.bias.dtype : d.out.dtype;
    return dispatch_float(d.out.dtype, msg, len, [&](auto out_tag) {
        using T = decltype(out_tag);
        return dispatch_float(bias_dtype, msg, len, [&](auto bias_tag) {
            using TB = decltype(bias_tag);
            prologue_kernel<T, TB><<<grid_for(total, kThreads), kThreads, 0, s>>>(
                static_cast<T*>(d.out.data), total, n, beta, static_cast<const TB*>(d.bias.data));
            return check_launch("matmul prologue kernel", msg, len);
        });
    });
}

// ---------------------------------------------------------------------------------------------
// The fused bias through cuBLASLt (batch 1)
// ---------------------------------------------------------------------------------------------

// The largest power of two (at most 256) dividing the address: what cuBLASLt's heuristic must
// assume about a buffer.
uint32_t alignment_of(const void* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    uint32_t al = 256;
    while (al > 1 && a % al != 0) al /= 2;
    return al;
}

// The cuBLASLt objects of one call, destroyed when it returns (queued work does not need them).
struct LtObjects {
    const Blas& b;
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    explicit LtObjects(const Blas& blas) : b(blas) {}
    LtObjects(const LtObjects&) = delete;
    LtObjects& operator=(const LtObjects&) = delete;
    ~LtObjects() {
        if (pref != nullptr) b.pref_destroy(pref);
        if (lc != nullptr) b.layout_destroy(lc);
        if (lb != nullptr) b.layout_destroy(lb);
        if (la != nullptr) b.layout_destroy(la);
        if (op != nullptr) b.desc_destroy(op);
    }
};

// Runs the product with the bias epilogue when cuBLASLt has a kernel for it; *done false (and
// 0) when it has none or cannot be used, so the caller falls back. h's mutex is held.
int lt_bias_matmul(Handle& h, const Gemm& g, const aph_k_matmul& d, float alpha, float beta, cudaStream_t s, bool* done,
                   char* msg, size_t len) {
    *done = false;
    const Blas& b = blas();
    if (!b.lt || h.lt_failed) return 0;
    if (h.lt == nullptr && b.lt_create(&h.lt) != CUBLAS_STATUS_SUCCESS) {
        h.lt = nullptr;
        h.lt_failed = true;
        return 0;
    }
    LtObjects o(b);
    // Any failure while describing the problem means "no fused kernel": fall back.
    auto ok = [](cublasStatus_t st) { return st == CUBLAS_STATUS_SUCCESS; };
    const int32_t ta = g.ta, tb = g.tb;
    const uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    const void* bias = d.bias.data;
    const int32_t bias_type = cuda_type(d.bias.dtype);
    if (!ok(b.desc_create(&o.op, CUBLAS_COMPUTE_32F, CUDA_R_32F)) ||
        !ok(b.desc_set(o.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta)) ||
        !ok(b.desc_set(o.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb)) ||
        !ok(b.desc_set(o.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue)) ||
        !ok(b.desc_set(o.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias)) ||
        !ok(b.desc_set(o.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type))) {
        return 0;
    }
    // Layouts describe the stored matrices (before op): A' is [m, k] untransposed, [k, m]
    // transposed; B' is [k, n] or [n, k]; C = D is [m, n]. The bias runs along D's rows (m = N).
    const uint64_t a_rows = g.ta == CUBLAS_OP_N ? g.m : g.k, a_cols = g.ta == CUBLAS_OP_N ? g.k : g.m;
    const uint64_t b_rows = g.tb == CUBLAS_OP_N ? g.k : g.n, b_cols = g.tb == CUBLAS_OP_N ? g.n : g.k;
    if (!ok(b.layout_create(&o.la, g.type_a, a_rows, a_cols, g.lda)) ||
        !ok(b.layout_create(&o.lb, g.type_b, b_rows, b_cols, g.ldb)) ||
        !ok(b.layout_create(&o.lc, g.type_c, g.m, g.n, g.ldc))) {
        return 0;
    }
    // No workspace (nothing is allocated per call); reductions only in f32; the alignments the
    // buffers really have.
    const uint64_t workspace = 0;
    const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    const uint32_t al_a = alignment_of(g.A), al_b = alignment_of(g.B), al_c = alignment_of(g.C);
    if (!ok(b.pref_create(&o.pref)) ||
        !ok(b.pref_set(o.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace)) ||
        !ok(b.pref_set(o.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction, sizeof reduction)) ||
        !ok(b.pref_set(o.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a)) ||
        !ok(b.pref_set(o.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b)) ||
        !ok(b.pref_set(o.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c)) ||
        !ok(b.pref_set(o.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c))) {
        return 0;
    }
    cublasLtMatmulHeuristicResult_t result;
    std::memset(&result, 0, sizeof result);
    int found = 0;
    if (!ok(b.heuristic(h.lt, o.op, o.la, o.lb, o.lc, o.lc, o.pref, 1, &result, &found)) || found < 1 ||
        result.state != CUBLAS_STATUS_SUCCESS) {
        return 0;
    }
    const cublasStatus_t st = b.lt_matmul(h.lt, o.op, &alpha, g.A, o.la, g.B, o.lb, &beta, g.C, o.lc, g.C, o.lc,
                                          &result.algo, nullptr, 0, s);
    if (st != CUBLAS_STATUS_SUCCESS) return blas_fail("cublasLtMatmul", st, msg, len);
    *done = true;
    return 0;
}

int run(const aph_k_matmul& d, cudaStream_t s, char* msg, size_t len) {
    const Blas& b = blas();
    if (!b.ok) {
        put(msg, len, "cuBLAS not available: %s", b.error);
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    for (const aph_kt* t : {&d.a, &d.b, &d.out}) {
        if (t->dtype != 0 && t->dtype != 1 && t->dtype != 2) {
            put(msg, len, "dtype %d is not supported by the CUDA matrix product", static_cast<int>(t->dtype));
            return APH_K_STATUS_NOT_IMPLEMENTED;
        }
    }
    const bool has_bias = d.bias.data != nullptr;
    // K = 0: the product is empty, out = beta·out + bias.
    if (d.a.shape[2] == 0) return prologue(d, static_cast<float>(d.beta), s, msg, len);

    std::shared_ptr<Handle> h;
    if (int rc = handle_for(s, h, msg, len)) return rc;
    const Gemm g = plan(d);
    const float alpha = static_cast<float>(d.alpha);
    float beta = static_cast<float>(d.beta);

    std::lock_guard<std::mutex> lock(h->mutex);
    if (has_bias && g.batch == 1 && d.bias.dtype == d.out.dtype) {
        bool done = false;
        if (int rc = lt_bias_matmul(*h, g, d, alpha, beta, s, &done, msg, len)) return rc;
        if (done) return 0;
    }
    if (has_bias) {
        // out = beta·out + bias first (ordered before the GEMM on s), then accumulate onto it.
        if (int rc = prologue(d, beta, s, msg, len)) return rc;
        beta = 1.0f;
    }
    cublasStatus_t st = b.set_stream(h->cublas, s);
    if (st != CUBLAS_STATUS_SUCCESS) return blas_fail("cublasSetStream", st, msg, len);
    st = b.gemm(h->cublas, g.ta, g.tb, g.m, g.n, g.k, &alpha, g.A, g.type_a, g.lda, g.stride_a, g.B, g.type_b, g.ldb,
                g.stride_b, &beta, g.C, g.type_c, g.ldc, g.stride_c, g.batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS) return blas_fail("cublasGemmStridedBatchedEx", st, msg, len);
    return 0;
}

}  // namespace

int matmul(const aph_k_matmul& d, cudaStream_t s, char* msg, size_t len) {
    try {
        return run(d, s, msg, len);
    } catch (const std::bad_alloc&) {
        put(msg, len, "%s", "matrix product: host memory exhausted");
        return APH_K_STATUS_OUT_OF_MEMORY;
    } catch (...) {
        put(msg, len, "%s", "matrix product: unexpected failure");
        return APH_K_STATUS_FAILED;
    }
}

}  // namespace aph::cuk
