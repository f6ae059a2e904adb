// CUDA kernels of the elementwise family: binary (broadcast strides or a scalar), unary, cast and
// fused bias + activation.
//
// The core simplified every index space before building the descriptor (size-1 dimensions
// dropped, dimensions contiguous in every operand merged), so a contiguous call arrives as one
// dimension with unit strides and takes the flat path: each thread moves 16 bytes per operand
// per step (a Pack of VEC elements, one 128-bit load or store) when every pointer is aligned to
// that, single elements otherwise, in a grid-stride loop; the last n % VEC elements are spread
// over the first threads. Anything else takes the strided path: one element per thread step,
// its linear index decomposed over the (compact) shape into per-operand offsets, in 32-bit
// arithmetic when the element count allows (64-bit division is several times slower).
//
// f16/bf16 are computed in f32 and rounded once when stored (round to nearest even); f64 never
// reaches CUDA (the core reports it as not implemented). Transcendentals use the accurate
// functions (erff, tanhf, expf, logf, sqrtf), never the fast-math intrinsics.
#include "kernels.cuh"

#include <cstdint>
#include <type_traits>

namespace aph::cuk {
namespace {

constexpr int kThreads = 256;

// The enums of the descriptors' op fields, as include/aphelion.h numbers them (values fixed by
// the ABI; the module is built without the public header).
enum BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMaximum = 4, kMinimum = 5 };
enum UnaryOp : int {
    kRelu = 0,
    kGelu = 1,
    kGeluTanh = 2,
    kSilu = 3,
    kTanh = 4,
    kSigmoid = 5,
    kExp = 6,
    kLog = 7,
    kNeg = 8,
    kSqrt = 9,
    kRsqrt = 10,
    kAbs = 11
};
enum Activation : int { kActNone = 0, kActRelu = 1, kActGelu = 2, kActGeluTanh = 3, kActSilu = 4, kActTanh = 5 };

// VEC elements moved as one aligned 16-byte (or smaller) access.
template <class T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
    T v[VEC];
};

template <class T, int VEC>
bool aligned(const void* p) {
    return p == nullptr || reinterpret_cast<uintptr_t>(p) % (sizeof(T) * VEC) == 0;
}

// Index space of the strided path: shape[nd] and, per operand k (out, a, b), strides in elements.
struct Geo {
    int32_t nd;
    int32_t reserved;
    int64_t shape[APH_K_MAX_DIMS];
    int64_t st[3][APH_K_MAX_DIMS];
};

Geo geo_of(const aph_kt& out, const aph_kt* a, const aph_kt* b) {
    Geo g{};
    g.nd = out.ndim;
    for (int d = 0; d < out.ndim; ++d) {
        g.shape[d] = out.shape[d];
        g.st[0][d] = out.strides[d];
        g.st[1][d] = a ? a->strides[d] : 0;
        g.st[2][d] = b ? b->strides[d] : 0;
    }
    return g;
}

// Offsets (elements) of linear index i (row-major over g.shape) in operands 0..K-1.
template <int K, class I>
__device__ __forceinline__ void offsets(const Geo& g, I i, int64_t (&off)[3]) {
#pragma unroll
    for (int k = 0; k < 3; ++k) off[k] = 0;
    for (int d = g.nd - 1; d >= 0; --d) {
        const I size = static_cast<I>(g.shape[d]);
        const I c = i % size;
        i /= size;
#pragma unroll
        for (int k = 0; k < K; ++k) off[k] += static_cast<int64_t>(c) * g.st[k][d];
    }
}

__device__ __forceinline__ int64_t thread_index() {
    return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

bool fits_u32(int64_t n) { return n <= static_cast<int64_t>(UINT32_MAX); }

int64_t numel(const aph_kt& t) {
    int64_t n = 1;
    for (int d = 0; d < t.ndim; ++d) n *= t.shape[d];
    return n;
}

// The stride of t's only dimension; 1 for a 0-dim t (one element: any stride reads it).
int64_t flat_stride(const aph_kt& t) { return t.ndim == 0 ? 1 : t.strides[0]; }

// Calls f(std::integral_constant<int, OP>{}) for OP in [0, N); -1 outside.
template <int I, int N, class F>
int with_op(int op, F&& f) {
    if constexpr (I >= N) {
        return -1;
    } else {
        if (op == I) return f(std::integral_constant<int, I>{});
        return with_op<I + 1, N>(op, f);
    }
}

// ---- operations on f32 values

template <int OP>
__device__ __forceinline__ float bin(float x, float y) {
    if constexpr (OP == kAdd) return x + y;
    if constexpr (OP == kSub) return x - y;
    if constexpr (OP == kMul) return x * y;
    if constexpr (OP == kDiv) return x / y;
    // x != x: x is NaN and is returned; y NaN fails the comparison and y is returned.
    if constexpr (OP == kMaximum) return (x > y || x != x) ? x : y;
    if constexpr (OP == kMinimum) return (x < y || x != x) ? x : y;
}

__device__ __forceinline__ float sigmoidf(float x) {
    // Stable for large |x|: expf is only taken of a non-positive argument.
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

template <int OP>
__device__ __forceinline__ float un(float x) {
    if constexpr (OP == kRelu) return x < 0.0f ? 0.0f : x;  // NaN stays NaN
    if constexpr (OP == kGelu) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    if constexpr (OP == kGeluTanh) {
        return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    }
    if constexpr (OP == kSilu) return x * sigmoidf(x);
    if constexpr (OP == kTanh) return tanhf(x);
    if constexpr (OP == kSigmoid) return sigmoidf(x);
    if constexpr (OP == kExp) return expf(x);
    if constexpr (OP == kLog) return logf(x);
    if constexpr (OP == kNeg) return -x;
    if constexpr (OP == kSqrt) return sqrtf(x);
    if constexpr (OP == kRsqrt) return 1.0f / sqrtf(x);  // IEEE division and sqrt, not rsqrtf
    if constexpr (OP == kAbs) return fabsf(x);
}

// aph_activation -> the unary op computing it (NONE: -1).
constexpr int act_op(int act) {
    return act == kActRelu       ? kRelu
           : act == kActGelu     ? kGelu
           : act == kActGeluTanh ? kGeluTanh
           : act == kActSilu     ? kSilu
           : act == kActTanh     ? kTanh
                                 : -1;
}

template <int OP>
__device__ __forceinline__ float act(float v) {
    if constexpr (OP < 0) return v;
    else
        return un<OP>(v);
}

// ---- binary

// Flat path over n contiguous elements. UA: a is the single value a[0] (broadcast); UB: b is the
// single value b[0], or bv when b is null (the scalar form). Thread t handles packs t, t + G, ...
// (G = threads in the grid), pack p covering elements [p·VEC, p·VEC + VEC).
template <class T, int OP, int VEC, bool UA, bool UB>
__global__ void __launch_bounds__(kThreads) k_binary_flat(T* out, const T* a, const T* b, float bv, int64_t n) {
    using P = Pack<T, VEC>;
    const int64_t t = thread_index(), G = grid_stride();
    float xu = 0.0f, yu = bv;
    if constexpr (UA) xu = ld(a);
    if constexpr (UB) {
        if (b != nullptr) yu = ld(b);
    }
    const int64_t npack = n / VEC;
    for (int64_t p = t; p < npack; p += G) {
        P pa, pb, po;
        if constexpr (!UA) pa = reinterpret_cast<const P*>(a)[p];
        if constexpr (!UB) pb = reinterpret_cast<const P*>(b)[p];
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
            float x, y;
            if constexpr (UA) x = xu;
            else
                x = ld(&pa.v[j]);
            if constexpr (UB) y = yu;
            else
                y = ld(&pb.v[j]);
            st(&po.v[j], bin<OP>(x, y));
        }
        reinterpret_cast<P*>(out)[p] = po;
    }
    for (int64_t i = npack * VEC + t; i < n; i += G) {
        const float x = UA ? xu : ld(a + i);
        const float y = UB ? yu : ld(b + i);
        st(out + i, bin<OP>(x, y));
    }
}

// Strided path: any strides (0 where an operand broadcasts); b null: the scalar bv.
template <class T, int OP, class I>
__global__ void __launch_bounds__(kThreads) k_binary_strided(T* out, const T* a, const T* b, float bv, I n, Geo g) {
    for (int64_t i = thread_index(); i < static_cast<int64_t>(n); i += grid_stride()) {
        int64_t off[3];
        offsets<3>(g, static_cast<I>(i), off);
        const float y = b != nullptr ? ld(b + off[2]) : bv;
        st(out + off[0], bin<OP>(ld(a + off[1]), y));
    }
}

template <class T, int OP, int VEC, bool UA, bool UB>
void launch_binary_flat(const aph_k_binary& d, cudaStream_t s, int64_t n) {
    const int64_t work = n / VEC > 0 ? n / VEC : n;
    k_binary_flat<T, OP, VEC, UA, UB><<<grid_for(work, kThreads), kThreads, 0, s>>>(
        static_cast<T*>(d.out.data), static_cast<const T*>(d.a.data), static_cast<const T*>(d.b.data),
        static_cast<float>(d.scalar), n);
}

template <class T, int OP>
void launch_binary(const aph_k_binary& d, cudaStream_t s) {
    constexpr int VEC = static_cast<int>(16 / sizeof(T));
    const int64_t n = numel(d.out);
    const bool has_b = d.b.data != nullptr;
    const bool flat = d.out.ndim <= 1 && flat_stride(d.out) == 1;
    const int64_t sa = flat_stride(d.a), sb = has_b ? flat_stride(d.b) : 0;
    if (flat && sa == 1 && (!has_b || sb == 0 || sb == 1)) {
        const bool ub = !has_b || sb == 0;
        const bool vec = aligned<T, VEC>(d.out.data) && aligned<T, VEC>(d.a.data) && (ub || aligned<T, VEC>(d.b.data));
        if (ub) {
            if (vec) launch_binary_flat<T, OP, VEC, false, true>(d, s, n);
            else
                launch_binary_flat<T, OP, 1, false, true>(d, s, n);
        } else {
            if (vec) launch_binary_flat<T, OP, VEC, false, false>(d, s, n);
            else
                launch_binary_flat<T, OP, 1, false, false>(d, s, n);
        }
        return;
    }
    if (flat && sa == 0 && has_b && sb == 1) {  // a single value against a contiguous b
        if (aligned<T, VEC>(d.out.data) && aligned<T, VEC>(d.b.data))
            launch_binary_flat<T, OP, VEC, true, false>(d, s, n);
        else
            launch_binary_flat<T, OP, 1, true, false>(d, s, n);
        return;
    }
    const Geo g = geo_of(d.out, &d.a, has_b ? &d.b : nullptr);
    T* o = static_cast<T*>(d.out.data);
    const T* a = static_cast<const T*>(d.a.data);
    const T* b = static_cast<const T*>(d.b.data);
    const float bv = static_cast<float>(d.scalar);
    if (fits_u32(n)) {
        k_binary_strided<T, OP, uint32_t>
            <<<grid_for(n, kThreads), kThreads, 0, s>>>(o, a, b, bv, static_cast<uint32_t>(n), g);
    } else {
        k_binary_strided<T, OP, int64_t><<<grid_for(n, kThreads), kThreads, 0, s>>>(o, a, b, bv, n, g);
    }
}

// ---- one input, one output: unary ops and casts, through a functor F: TI -> TO

// Flat path over n contiguous elements, VEC per pack as in k_binary_flat.
template <class TO, class TI, int VEC, class F>
__global__ void __launch_bounds__(kThreads) k_map_flat(TO* out, const TI* x, int64_t n, F f) {
    using PI = Pack<TI, VEC>;
    using PO = Pack<TO, VEC>;
    const int64_t t = thread_index(), G = grid_stride();
    const int64_t npack = n / VEC;
    for (int64_t p = t; p < npack; p += G) {
        const PI px = reinterpret_cast<const PI*>(x)[p];
        PO po;
#pragma unroll
        for (int j = 0; j < VEC; ++j) po.v[j] = f(px.v[j]);
        reinterpret_cast<PO*>(out)[p] = po;
    }
    for (int64_t i = npack * VEC + t; i < n; i += G) out[i] = f(x[i]);
}

template <class TO, class TI, class I, class F>
__global__ void __launch_bounds__(kThreads) k_map_strided(TO* out, const TI* x, I n, Geo g, F f) {
    for (int64_t i = thread_index(); i < static_cast<int64_t>(n); i += grid_stride()) {
        int64_t off[3];
        offsets<2>(g, static_cast<I>(i), off);
        out[off[0]] = f(x[off[1]]);
    }
}

// VEC: 16 bytes of the wider of the two types per pack.
template <class TO, class TI, class F>
void launch_map(const aph_kt& out, const aph_kt& x, cudaStream_t s, F f) {
    constexpr int VEC = static_cast<int>(16 / (sizeof(TO) > sizeof(TI) ? sizeof(TO) : sizeof(TI)));
    TO* o = static_cast<TO*>(out.data);
    const TI* xi = static_cast<const TI*>(x.data);
    if (out.ndim <= 1 && flat_stride(out) == 1 && flat_stride(x) == 1) {
        const int64_t n = numel(out);
        if (aligned<TO, VEC>(o) && aligned<TI, VEC>(xi) && n >= VEC) {
            k_map_flat<TO, TI, VEC><<<grid_for(n / VEC, kThreads), kThreads, 0, s>>>(o, xi, n, f);
        } else {
            k_map_flat<TO, TI, 1><<<grid_for(n, kThreads), kThreads, 0, s>>>(o, xi, n, f);
        }
        return;
    }
    const int64_t total = numel(out);
    const Geo g = geo_of(out, &x, nullptr);
    if (fits_u32(total)) {
        k_map_strided<TO, TI, uint32_t>
            <<<grid_for(total, kThreads), kThreads, 0, s>>>(o, xi, static_cast<uint32_t>(total), g, f);
    } else {
        k_map_strided<TO, TI, int64_t><<<grid_for(total, kThreads), kThreads, 0, s>>>(o, xi, total, g, f);
    }
}

template <class T, int OP>
struct UnaryF {
    __device__ __forceinline__ T operator()(T v) const {
        T r;
        st(&r, un<OP>(ld(&v)));
        return r;
    }
};

// ---- cast: f32, f16, bf16, i32, i64 in any combination

template <class T>
constexpr bool kIsFloat = std::is_same<T, float>::value || std::is_same<T, __half>::value ||
                          std::is_same<T, __nv_bfloat16>::value;

// Round to odd from an integer: |v| truncated to 24 significant bits, the lowest one set when any
// discarded bit was. Rounding that to f16/bf16 (nearest even) equals rounding v directly, which
// rounding v to nearest f32 first would not (double rounding).
__device__ __forceinline__ float i64_to_f32_odd(long long v) {
    const unsigned long long u = v < 0 ? 0ull - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
    if (u < (1ull << 24)) return static_cast<float>(v);              // exact
    const int shift = 64 - __clzll(static_cast<long long>(u)) - 24;  // 1..40
    unsigned long long m = u >> shift;
    if ((u & ((1ull << shift) - 1ull)) != 0ull) m |= 1ull;
    const float r = static_cast<float>(m) * __uint_as_float(static_cast<unsigned>(127 + shift) << 23);  // exact
    return v < 0 ? -r : r;
}

// Float to integer: toward zero, saturating, NaN -> 0 (written out rather than trusting the
// conversion instruction's saturation).
template <class I>
__device__ __forceinline__ I f32_to_int(float f) {
    if (f != f) return 0;
    if constexpr (sizeof(I) == 4) {
        if (f >= 2147483648.0f) return INT32_MAX;
        if (f <= -2147483648.0f) return INT32_MIN;
        return static_cast<I>(f);
    } else {
        if (f >= 9223372036854775808.0f) return INT64_MAX;
        if (f <= -9223372036854775808.0f) return INT64_MIN;
        return static_cast<I>(f);
    }
}

template <class TO, class TI>
struct CastF {
    __device__ __forceinline__ TO operator()(TI v) const {
        if constexpr (std::is_same<TO, TI>::value) {
            return v;
        } else if constexpr (kIsFloat<TI>) {
            const float f = ld(&v);  // exact
            if constexpr (kIsFloat<TO>) {
                TO r;
                st(&r, f);  // rounded once (nearest even)
                return r;
            } else {
                return f32_to_int<TO>(f);
            }
        } else if constexpr (std::is_same<TO, float>::value) {
            return static_cast<float>(v);  // cvt.rn: one rounding
        } else if constexpr (kIsFloat<TO>) {
            TO r;
            st(&r, i64_to_f32_odd(static_cast<long long>(v)));
            return r;
        } else if constexpr (sizeof(TO) < sizeof(TI)) {  // i64 -> i32, saturating
            return v > INT32_MAX ? TO{INT32_MAX} : v < INT32_MIN ? TO{INT32_MIN} : static_cast<TO>(v);
        } else {
            return static_cast<TO>(v);
        }
    }
};

// Calls f(T{}) for the element type of a cast dtype; -1 for any other.
template <class F>
int with_cast_type(int32_t dtype, F&& f) {
    switch (dtype) {
        case 0: return f(float{});
        case 1: return f(__half{});
        case 2: return f(__nv_bfloat16{});
        case 8: return f(int32_t{});
        case 9: return f(int64_t{});
        default: return -1;
    }
}

// ---- bias + activation

// x, out contiguous [rows, n] (total = rows·n elements), bias [n]. Pack p covers elements
// [p·VEC, p·VEC + VEC) of the flattened tensor; VEC divides n, so a pack lies in one row, at
// column (p·VEC) % n, and the matching VEC bias values are one aligned pack too.
template <class T, int OP, int VEC, class I>
__global__ void __launch_bounds__(kThreads) k_bias_act(T* out, const T* x, const T* bias, I n, I npack) {
    using P = Pack<T, VEC>;
    for (int64_t p = thread_index(); p < static_cast<int64_t>(npack); p += grid_stride()) {
        const I e = static_cast<I>(p) * VEC;
        const I col = e % n;
        const P px = reinterpret_cast<const P*>(x)[p];
        const P pb = *reinterpret_cast<const P*>(bias + col);
        P po;
#pragma unroll
        for (int j = 0; j < VEC; ++j) st(&po.v[j], act<OP>(ld(&px.v[j]) + ld(&pb.v[j])));
        reinterpret_cast<P*>(out)[p] = po;
    }
}

template <class T, int OP>
void launch_bias_act(const aph_k_bias_act& d, cudaStream_t s) {
    constexpr int VEC = static_cast<int>(16 / sizeof(T));
    T* o = static_cast<T*>(d.out.data);
    const T* x = static_cast<const T*>(d.x.data);
    const T* b = static_cast<const T*>(d.bias.data);
    const int64_t total = d.rows * d.n;
    const bool vec = d.n % VEC == 0 && aligned<T, VEC>(o) && aligned<T, VEC>(x) && aligned<T, VEC>(b);
    if (vec) {
        const int64_t npack = total / VEC;
        if (fits_u32(total)) {
            k_bias_act<T, OP, VEC, uint32_t><<<grid_for(npack, kThreads), kThreads, 0, s>>>(
                o, x, b, static_cast<uint32_t>(d.n), static_cast<uint32_t>(npack));
        } else {
            k_bias_act<T, OP, VEC, int64_t><<<grid_for(npack, kThreads), kThreads, 0, s>>>(o, x, b, d.n, npack);
        }
    } else if (fits_u32(total)) {
        k_bias_act<T, OP, 1, uint32_t><<<grid_for(total, kThreads), kThreads, 0, s>>>(
            o, x, b, static_cast<uint32_t>(d.n), static_cast<uint32_t>(total));
    } else {
        k_bias_act<T, OP, 1, int64_t><<<grid_for(total, kThreads), kThreads, 0, s>>>(o, x, b, d.n, total);
    }
}

}  // namespace

int binary(const aph_k_binary& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.out.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        const int rc = with_op<0, kMinimum + 1>(d.op, [&](auto c) {
            launch_binary<T, decltype(c)::value>(d, s);
            return 0;
        });
        if (rc < 0) {
            put(msg, len, "binary: op %d is not an aph_binary_op", static_cast<int>(d.op));
            return APH_K_STATUS_FAILED;
        }
        return check_launch("binary kernel", msg, len);
    });
}

int unary(const aph_k_unary& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.out.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        const int rc = with_op<0, kAbs + 1>(d.op, [&](auto c) {
            launch_map<T, T>(d.out, d.x, s, UnaryF<T, decltype(c)::value>{});
            return 0;
        });
        if (rc < 0) {
            put(msg, len, "unary: op %d is not an aph_unary_op", static_cast<int>(d.op));
            return APH_K_STATUS_FAILED;
        }
        return check_launch("unary kernel", msg, len);
    });
}

int cast(const aph_k_unary& d, cudaStream_t s, char* msg, size_t len) {
    const int rc = with_cast_type(d.x.dtype, [&](auto from) {
        using TI = decltype(from);
        return with_cast_type(d.out.dtype, [&](auto to) {
            using TO = decltype(to);
            launch_map<TO, TI>(d.out, d.x, s, CastF<TO, TI>{});
            return 0;
        });
    });
    if (rc < 0) {
        put(msg, len, "cast: dtypes %d -> %d are not supported by the CUDA cast", static_cast<int>(d.x.dtype),
            static_cast<int>(d.out.dtype));
        return APH_K_STATUS_NOT_IMPLEMENTED;
    }
    return check_launch("cast kernel", msg, len);
}

int bias_act(const aph_k_bias_act& d, cudaStream_t s, char* msg, size_t len) {
    return dispatch_float(d.out.dtype, msg, len, [&](auto tag) {
        using T = decltype(tag);
        const int rc = with_op<0, kActTanh + 1>(d.act, [&](auto c) {
            launch_bias_act<T, act_op(decltype(c)::value)>(d, s);
            return 0;
        });
        if (rc < 0) {
            put(msg, len, "bias_act: activation %d is not an aph_activation", static_cast<int>(d.act));
            return APH_K_STATUS_FAILED;
        }
        return check_launch("bias_act kernel", msg, len);
    });
}

}  // namespace aph::cuk
