// The built-in graph operations (header section 20's table): for each, its operand count,
// the inference of its output dtype and shape from its operands' (with the eager operation's
// checks, so a graph that does not fit fails when the executor is made, naming the node), and
// its execution through the eager operations of section 14 (runtime/ops).
#include "executor.hpp"

#include "../core/dtype.hpp"
#include "../core/memory.hpp"
#include "../core/tensor.hpp"
#include "../ops/op.hpp"
#include "../ops/ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace aph::exec {

namespace {

enum class Fam {
    Input, Weight, Constant, Output,
    Matmul, Linear, Binary, Unary, BiasAct, Softmax, LogSoftmax, LayerNorm, RmsNorm, Reduce,
    Argmax, Rope, Embedding, Cast, Attention, TernaryMatmul, Dequantize, Gru, Contiguous,
    Reshape, Permute, Transpose, Slice,
};

}  // namespace

struct Builtin {
    const char* name;
    Fam fam;
    int sub;       // the aph_binary_op / aph_unary_op / aph_reduce_op value
    size_t min_in, max_in;
    Kind kind;
};

namespace {

constexpr size_t kAny = 64;

const Builtin kBuiltins[] = {
    {"input", Fam::Input, 0, 0, 0, Kind::Input},
    {"weight", Fam::Weight, 0, 0, 0, Kind::Weight},
    {"constant", Fam::Constant, 0, 0, 0, Kind::Constant},
    {"output", Fam::Output, 0, 1, 1, Kind::Output},
    {"matmul", Fam::Matmul, 0, 2, 2, Kind::Compute},
    {"linear", Fam::Linear, 0, 2, 3, Kind::Compute},
    {"add", Fam::Binary, APH_BINARY_ADD, 1, 2, Kind::Compute},
    {"sub", Fam::Binary, APH_BINARY_SUB, 1, 2, Kind::Compute},
    {"mul", Fam::Binary, APH_BINARY_MUL, 1, 2, Kind::Compute},
    {"div", Fam::Binary, APH_BINARY_DIV, 1, 2, Kind::Compute},
    {"maximum", Fam::Binary, APH_BINARY_MAXIMUM, 1, 2, Kind::Compute},
    {"minimum", Fam::Binary, APH_BINARY_MINIMUM, 1, 2, Kind::Compute},
    {"relu", Fam::Unary, APH_UNARY_RELU, 1, 1, Kind::Compute},
    {"gelu", Fam::Unary, APH_UNARY_GELU, 1, 1, Kind::Compute},
    {"gelu_tanh", Fam::Unary, APH_UNARY_GELU_TANH, 1, 1, Kind::Compute},
    {"silu", Fam::Unary, APH_UNARY_SILU, 1, 1, Kind::Compute},
    {"tanh", Fam::Unary, APH_UNARY_TANH, 1, 1, Kind::Compute},
    {"sigmoid", Fam::Unary, APH_UNARY_SIGMOID, 1, 1, Kind::Compute},
    {"exp", Fam::Unary, APH_UNARY_EXP, 1, 1, Kind::Compute},
    {"log", Fam::Unary, APH_UNARY_LOG, 1, 1, Kind::Compute},
    {"neg", Fam::Unary, APH_UNARY_NEG, 1, 1, Kind::Compute},
    {"sqrt", Fam::Unary, APH_UNARY_SQRT, 1, 1, Kind::Compute},
    {"rsqrt", Fam::Unary, APH_UNARY_RSQRT, 1, 1, Kind::Compute},
    {"abs", Fam::Unary, APH_UNARY_ABS, 1, 1, Kind::Compute},
    {"bias_activation", Fam::BiasAct, 0, 2, 2, Kind::Compute},
    {"softmax", Fam::Softmax, 0, 1, 1, Kind::Compute},
    {"log_softmax", Fam::LogSoftmax, 0, 1, 1, Kind::Compute},
    {"layer_norm", Fam::LayerNorm, 0, 2, 3, Kind::Compute},
    {"rms_norm", Fam::RmsNorm, 0, 2, 2, Kind::Compute},
    {"sum", Fam::Reduce, APH_REDUCE_SUM, 1, 1, Kind::Compute},
    {"mean", Fam::Reduce, APH_REDUCE_MEAN, 1, 1, Kind::Compute},
    {"max", Fam::Reduce, APH_REDUCE_MAX, 1, 1, Kind::Compute},
    {"argmax", Fam::Argmax, 0, 1, 1, Kind::Compute},
    {"rope", Fam::Rope, 0, 2, 2, Kind::Compute},
    {"embedding", Fam::Embedding, 0, 2, 2, Kind::Compute},
    {"cast", Fam::Cast, 0, 1, 1, Kind::Compute},
    {"attention", Fam::Attention, 0, 3, 4, Kind::Compute},
    {"ternary_matmul", Fam::TernaryMatmul, 0, 3, 3, Kind::Compute},
    {"dequantize", Fam::Dequantize, 0, 2, 2, Kind::Compute},
    {"gru_cell", Fam::Gru, 0, 4, 6, Kind::Compute},
    {"contiguous", Fam::Contiguous, 0, 1, 1, Kind::Compute},
    {"reshape", Fam::Reshape, 0, 1, 1, Kind::View},
    {"permute", Fam::Permute, 0, 1, 1, Kind::View},
    {"transpose", Fam::Transpose, 0, 1, 1, Kind::View},
    {"slice", Fam::Slice, 0, 1, 1, Kind::View},
};

using ops::shape_str;

[[noreturn]] void dims(const std::string& detail) {
    throw Error::kind(APH_ERR_DIMENSION_MISMATCH, detail);
}

const char* dname(aph_dtype d) { return dtype::name(d); }

bool is_float(aph_dtype d) {
    return d == APH_DTYPE_F32 || d == APH_DTYPE_F16 || d == APH_DTYPE_BF16 || d == APH_DTYPE_F64;
}

void require_float(const ValueInfo& v, const char* what) {
    if (!is_float(v.dtype))
        throw invalid_argument(strprintf("%s has dtype %s; the operation takes f32, f16, bf16 or f64",
                                         what, dname(v.dtype)));
}

void require_same_dtype(const ValueInfo& a, const char* an, const ValueInfo& b, const char* bn) {
    if (a.dtype != b.dtype)
        throw invalid_argument(strprintf("%s has dtype %s but %s has dtype %s; they must match", bn,
                                         dname(b.dtype), an, dname(a.dtype)));
}

void require_index(const ValueInfo& v, const char* what) {
    if (v.dtype != APH_DTYPE_I32 && v.dtype != APH_DTYPE_I64)
        throw invalid_argument(strprintf("%s has dtype %s; it must be i32 or i64", what, dname(v.dtype)));
}

int64_t numel_of(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) throw invalid_argument("shape " + shape_str(shape) + " has a negative dimension");
        if (d != 0 && n > INT64_MAX / d) throw invalid_argument("shape " + shape_str(shape) + " is too large");
        n *= d;
    }
    return n;
}


bool contiguous(const ValueInfo& v) {
    int64_t expect = 1;
    for (size_t i = v.shape.size(); i-- > 0;) {
        if (v.shape[i] == 0) return true;
        if (v.shape[i] != 1 && v.strides[i] != expect) return false;
        expect *= v.shape[i];
    }
    return true;
}

// numpy broadcasting of a and b.
std::vector<int64_t> broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                               const char* what) {
    const size_t n = std::max(a.size(), b.size());
    std::vector<int64_t> out(n);
    for (size_t i = 0; i < n; ++i) {
        const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
        const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
        if (da != db && da != 1 && db != 1)
            dims(strprintf("%s: shapes %s and %s do not broadcast", what, shape_str(a).c_str(),
                           shape_str(b).c_str()));
        out[i] = da == 1 ? db : da;
    }
    return out;
}

int64_t norm_dim(int64_t dim, size_t ndim, const char* what) {
    const int64_t n = static_cast<int64_t>(ndim == 0 ? 1 : ndim);
    if (dim < -n || dim >= n)
        throw invalid_argument(strprintf("%s %lld is outside [%lld, %lld)", what, static_cast<long long>(dim),
                                         static_cast<long long>(-n), static_cast<long long>(n)));
    return dim < 0 ? dim + n : dim;
}

int32_t activation_of(const Step& s) {
    const std::string a = param_string(s, "activation", "none");
    static const char* names[] = {"none", "relu", "gelu", "gelu_tanh", "silu", "tanh"};
    for (int32_t i = 0; i < 6; ++i)
        if (a == names[i]) return i;
    throw Error::kind(APH_ERR_GRAPH, "param 'activation' is \"" + a +
                                         "\"; expected none, relu, gelu, gelu_tanh, silu or tanh");
}

int32_t rope_layout_of(const Step& s) {
    const std::string l = param_string(s, "layout", "half");
    if (l == "half") return APH_ROPE_HALF;
    if (l == "interleaved") return APH_ROPE_INTERLEAVED;
    throw Error::kind(APH_ERR_GRAPH, "param 'layout' is \"" + l + "\"; expected half or interleaved");
}

aph_quant_scheme scheme_of(const Step& s) {
    const std::string q = param_string(s, "scheme", nullptr);
    static const char* names[] = {"int8", "fp8_e4m3", "fp8_e5m2", "nf4", "ternary"};
    for (int i = 0; i < 5; ++i)
        if (q == names[i]) return static_cast<aph_quant_scheme>(i);
    throw Error::kind(APH_ERR_GRAPH,
                      "param 'scheme' is \"" + q + "\"; expected int8, fp8_e4m3, fp8_e5m2, nf4 or ternary");
}

aph_dtype quant_code_dtype(aph_quant_scheme q) {
    switch (q) {
        case APH_QUANT_INT8: return APH_DTYPE_I8;
        case APH_QUANT_FP8_E4M3: return APH_DTYPE_F8E4M3;
        case APH_QUANT_FP8_E5M2: return APH_DTYPE_F8E5M2;
        default: return APH_DTYPE_U8;
    }
}

// Shape of a reshape of `in` to `want` (one -1 allowed).
std::vector<int64_t> reshape_shape(const std::vector<int64_t>& in, std::vector<int64_t> want) {
    const int64_t n = numel_of(in);
    int64_t known = 1;
    int infer = -1;
    for (size_t i = 0; i < want.size(); ++i) {
        if (want[i] == -1) {
            if (infer >= 0) throw Error::kind(APH_ERR_GRAPH, "param 'shape' has more than one -1");
            infer = static_cast<int>(i);
        } else if (want[i] < 0) {
            throw Error::kind(APH_ERR_GRAPH, "param 'shape' " + shape_str(want) + " has a negative dimension");
        } else {
            if (want[i] != 0 && known > INT64_MAX / want[i])
                throw Error::kind(APH_ERR_GRAPH, "param 'shape' " + shape_str(want) + " is too large");
            known *= want[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || n % known != 0)
            throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                              "cannot reshape " + shape_str(in) + " to " + shape_str(want));
        want[static_cast<size_t>(infer)] = n / known;
    } else if (known != n) {
        throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                          strprintf("expected %s elements, got %s", shape_str(std::vector<int64_t>{n}).c_str(), shape_str(std::vector<int64_t>{known}).c_str()));
    }
    return want;
}

}  // namespace

ValueInfo contiguous_value(aph_dtype dt, std::vector<int64_t> shape) {
    ValueInfo v;
    v.dtype = dt;
    if (shape.size() > APH_TENSOR_MAX_DIMS)
        throw invalid_argument(strprintf("shape %s has more than %d dimensions", shape_str(shape).c_str(),
                                         APH_TENSOR_MAX_DIMS));
    const int64_t n = numel_of(shape);
    const uint64_t sz = dtype::size(dt);
    if (n != 0 && static_cast<uint64_t>(n) > static_cast<uint64_t>(INT64_MAX) / sz)
        throw invalid_argument("shape " + shape_str(shape) + " is too large");
    v.nbytes = static_cast<uint64_t>(n) * sz;
    v.strides = tensor::contiguous_strides(shape);
    v.shape = std::move(shape);
    return v;
}

const Builtin* find_builtin(const std::string& name) {
    for (const Builtin& b : kBuiltins)
        if (name == b.name) return &b;
    return nullptr;
}

bool is_builtin_name(const std::string& name) { return find_builtin(name) != nullptr; }

Kind builtin_kind(const Builtin* b) { return b->kind; }
size_t builtin_min_operands(const Builtin* b) { return b->min_in; }
size_t builtin_max_operands(const Builtin* b) { return b->max_in; }

ValueInfo infer_builtin(const Step& s, const std::vector<const ValueInfo*>& in) {
    const Builtin& b = *s.builtin;
    switch (b.fam) {
        case Fam::Input:
        case Fam::Weight:
        case Fam::Constant: {
            ValueInfo v = contiguous_value(param_dtype(s, "dtype", "f32"), param_ints(s, "shape"));
            if (b.fam == Fam::Weight) (void)param_string(s, "key", s.name.c_str());
            if (b.fam == Fam::Constant) {
                if (!s.params.contains("value"))
                    throw Error::kind(APH_ERR_GRAPH, "missing param 'value'");
                const Json& val = s.params.at("value");
                const int64_t n = numel_of(v.shape);
                if (val.is_array()) {
                    if (static_cast<int64_t>(val.size()) != n)
                        throw Error::kind(APH_ERR_GRAPH,
                                          strprintf("param 'value' has %zu numbers; shape %s needs %lld",
                                                    val.size(), shape_str(v.shape).c_str(),
                                                    static_cast<long long>(n)));
                    for (const Json& e : val)
                        if (!e.is_number())
                            throw Error::kind(APH_ERR_GRAPH, std::string("param 'value' holds a ") +
                                                                 graph::json_type_name(e) + ", expected numbers");
                } else if (!val.is_number()) {
                    throw Error::kind(APH_ERR_GRAPH, std::string("param 'value' is a ") + graph::json_type_name(val) +
                                                         ", expected a number or an array of numbers");
                }
                const aph_dtype d = v.dtype;
                if (!is_float(d) && d != APH_DTYPE_I32 && d != APH_DTYPE_I64)
                    throw Error::kind(APH_ERR_GRAPH, std::string("constants take f32, f16, bf16, f64, i32 or i64, not ") + dname(d));
                if (!is_float(d)) {
                    const auto integral = [](const Json& e) {
                        return e.is_number_integer() &&
                               !(e.is_number_unsigned() && e.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX));
                    };
                    bool ok = val.is_array() ? std::all_of(val.begin(), val.end(), integral) : integral(val);
                    if (!ok)
                        throw Error::kind(APH_ERR_GRAPH, std::string("param 'value' must hold integers (in the int64 range) for dtype ") + dname(d));
                }
            }
            return v;
        }
        case Fam::Output:
            return *in[0];
        case Fam::Matmul: {
            const ValueInfo &a = *in[0], &bb = *in[1];
            require_float(a, "a");
            require_same_dtype(a, "a", bb, "b");
            const bool ta = param_bool(s, "transpose_a", false), tb = param_bool(s, "transpose_b", false);
            (void)param_float(s, "alpha", 1.0);
            if (a.shape.size() < 2 || bb.shape.size() < 2)
                dims("matmul: a " + shape_str(a.shape) + " and b " + shape_str(bb.shape) + " need at least 2 dimensions");
            const size_t na = a.shape.size(), nb = bb.shape.size();
            const int64_t M = ta ? a.shape[na - 1] : a.shape[na - 2];
            const int64_t K = ta ? a.shape[na - 2] : a.shape[na - 1];
            const int64_t K2 = tb ? bb.shape[nb - 1] : bb.shape[nb - 2];
            const int64_t N = tb ? bb.shape[nb - 2] : bb.shape[nb - 1];
            if (K != K2)
                dims("matmul: a " + shape_str(a.shape) + " and b " + shape_str(bb.shape) + " have different inner dimensions");
            std::vector<int64_t> out = broadcast(std::vector<int64_t>(a.shape.begin(), a.shape.end() - 2),
                                                 std::vector<int64_t>(bb.shape.begin(), bb.shape.end() - 2),
                                                 "matmul batch dimensions");
            out.push_back(M);
            out.push_back(N);
            return contiguous_value(a.dtype, out);
        }
        case Fam::Linear: {
            const ValueInfo &x = *in[0], &w = *in[1];
            require_float(x, "x");
            require_same_dtype(x, "x", w, "weight");
            if (x.shape.empty() || w.shape.size() != 2 || w.shape[1] != x.shape.back())
                dims("linear: x " + shape_str(x.shape) + " and weight " + shape_str(w.shape) +
                     " do not fit (weight must be [N, K] with K x's last dimension)");
            if (in.size() > 2) {
                require_same_dtype(x, "x", *in[2], "bias");
                if (in[2]->shape != std::vector<int64_t>{w.shape[0]})
                    dims("linear: bias " + shape_str(in[2]->shape) + " does not fit weight " + shape_str(w.shape));
            }
            std::vector<int64_t> out = x.shape;
            out.back() = w.shape[0];
            return contiguous_value(x.dtype, out);
        }
        case Fam::Binary: {
            const ValueInfo& a = *in[0];
            require_float(a, "a");
            if (in.size() == 1) {
                if (!s.params.contains("scalar"))
                    throw Error::kind(APH_ERR_GRAPH, "one operand needs param 'scalar' (or give two operands)");
                (void)param_float(s, "scalar", 0);
                return contiguous_value(a.dtype, a.shape);
            }
            if (s.params.contains("scalar"))
                throw Error::kind(APH_ERR_GRAPH, "param 'scalar' takes one operand, not two");
            require_same_dtype(a, "a", *in[1], "b");
            return contiguous_value(a.dtype, broadcast(a.shape, in[1]->shape, b.name));
        }
        case Fam::Unary:
        case Fam::Softmax:
        case Fam::LogSoftmax:
            require_float(*in[0], "x");
            return contiguous_value(in[0]->dtype, in[0]->shape);
        case Fam::Contiguous:
            return contiguous_value(in[0]->dtype, in[0]->shape);
        case Fam::BiasAct: {
            const ValueInfo &x = *in[0], &bias = *in[1];
            require_float(x, "x");
            require_same_dtype(x, "x", bias, "bias");
            (void)activation_of(s);
            if (x.shape.empty() || bias.shape != std::vector<int64_t>{x.shape.back()})
                dims("bias_activation: bias " + shape_str(bias.shape) + " does not fit x " + shape_str(x.shape));
            return contiguous_value(x.dtype, x.shape);
        }
        case Fam::LayerNorm:
        case Fam::RmsNorm: {
            const ValueInfo& x = *in[0];
            require_float(x, "x");
            const double eps = param_float(s, "eps", b.fam == Fam::LayerNorm ? 1e-5 : 1e-6);
            if (!(eps > 0) || !std::isfinite(eps))
                throw invalid_argument(strprintf("eps %g must be positive and finite", eps));
            if (x.shape.empty()) dims(std::string(b.name) + ": x " + shape_str(x.shape) + " needs at least 1 dimension");
            for (size_t i = 1; i < in.size(); ++i) {
                const char* nm = i == 1 ? "weight" : "bias";
                require_same_dtype(x, "x", *in[i], nm);
                if (in[i]->shape != std::vector<int64_t>{x.shape.back()})
                    dims(strprintf("%s: %s %s does not fit x %s", b.name, nm, shape_str(in[i]->shape).c_str(),
                                   shape_str(x.shape).c_str()));
            }
            return contiguous_value(x.dtype, x.shape);
        }
        case Fam::Reduce:
        case Fam::Argmax: {
            const ValueInfo& x = *in[0];
            require_float(x, "x");
            const int64_t dim = norm_dim(param_int(s, "dim", -1), x.shape.size(), "dim");
            const bool keep = param_bool(s, "keepdim", false);
            std::vector<int64_t> out;
            for (size_t i = 0; i < x.shape.size(); ++i) {
                if (static_cast<int64_t>(i) == dim) {
                    if (x.shape[i] == 0 && (b.fam == Fam::Argmax || b.sub == APH_REDUCE_MAX))
                        throw invalid_argument(strprintf("dim %lld is empty", static_cast<long long>(dim)));
                    if (keep) out.push_back(1);
                } else {
                    out.push_back(x.shape[i]);
                }
            }
            return contiguous_value(b.fam == Fam::Argmax ? APH_DTYPE_I64 : x.dtype, out);
        }
        case Fam::Rope: {
            const ValueInfo &x = *in[0], &pos = *in[1];
            require_float(x, "x");
            require_index(pos, "positions");
            (void)rope_layout_of(s);
            const double theta = param_float(s, "theta", 10000.0);
            if (!(theta > 0) || !std::isfinite(theta))
                throw invalid_argument(strprintf("theta %g must be positive and finite", theta));
            if (x.shape.size() != 4 || x.shape[3] % 2 != 0)
                dims("rope: x " + shape_str(x.shape) + " must be [batch, seq, heads, head_dim] with an even head_dim");
            const bool ok = (pos.shape.size() == 1 && pos.shape[0] == x.shape[1]) ||
                            (pos.shape.size() == 2 && pos.shape[0] == x.shape[0] && pos.shape[1] == x.shape[1]);
            if (!ok)
                dims("rope: positions " + shape_str(pos.shape) + " must be [seq] or [batch, seq] for x " + shape_str(x.shape));
            return contiguous_value(x.dtype, x.shape);
        }
        case Fam::Embedding: {
            const ValueInfo &table = *in[0], &ids = *in[1];
            require_float(table, "table");
            require_index(ids, "ids");
            if (table.shape.size() != 2)
                dims("embedding: table " + shape_str(table.shape) + " must be [vocab, dim]");
            std::vector<int64_t> out = ids.shape;
            out.push_back(table.shape[1]);
            return contiguous_value(table.dtype, out);
        }
        case Fam::Cast: {
            const aph_dtype to = param_dtype(s, "dtype", nullptr);
            const auto castable = [](aph_dtype d) { return is_float(d) || d == APH_DTYPE_I32 || d == APH_DTYPE_I64; };
            if (!castable(in[0]->dtype)) throw invalid_argument(std::string("x has dtype ") + dname(in[0]->dtype) + ", which cast does not take");
            if (!castable(to)) throw invalid_argument(std::string("param 'dtype' ") + dname(to) + " is not a dtype cast writes");
            return contiguous_value(to, in[0]->shape);
        }
        case Fam::Attention: {
            const ValueInfo &q = *in[0], &k = *in[1], &v = *in[2];
            require_float(q, "q");
            require_same_dtype(q, "q", k, "k");
            require_same_dtype(q, "q", v, "v");
            const double scale = param_float(s, "scale", 0.0);
            if (!(scale >= 0) || !std::isfinite(scale))
                throw invalid_argument(strprintf("scale %g must be 0 (1/sqrt(head_dim)) or positive and finite", scale));
            (void)param_bool(s, "causal", false);
            if (q.shape.size() != 4 || k.shape.size() != 4 || k.shape != v.shape || q.shape[0] != k.shape[0] ||
                q.shape[3] != k.shape[3] || k.shape[2] == 0 || q.shape[2] % k.shape[2] != 0)
                dims("attention: q " + shape_str(q.shape) + ", k " + shape_str(k.shape) + " and v " + shape_str(v.shape) +
                     " do not fit (q [batch, seq_q, heads_q, head_dim], k and v [batch, seq_k, heads_kv, head_dim], heads_q a multiple of heads_kv)");
            if (q.shape[3] > 256)
                throw Error::kind(APH_ERR_NOT_IMPLEMENTED, strprintf("attention with head_dim %lld (at most 256)",
                                                                     static_cast<long long>(q.shape[3])));
            if (in.size() > 3) {
                const ValueInfo& m = *in[3];
                if (m.dtype != q.dtype && m.dtype != APH_DTYPE_F32)
                    throw invalid_argument(std::string("mask has dtype ") + dname(m.dtype) + "; it must be q's or f32");
                const std::vector<int64_t> full = {q.shape[0], q.shape[2], q.shape[1], k.shape[1]};
                if (m.shape.size() > 4 || broadcast(m.shape, full, "attention mask") != full)
                    dims("attention: mask " + shape_str(m.shape) + " does not broadcast to " + shape_str(full));
            }
            return contiguous_value(q.dtype, q.shape);
        }
        case Fam::TernaryMatmul: {
            const ValueInfo &x = *in[0], &packed = *in[1], &scale = *in[2];
            require_float(x, "x");
            if (packed.dtype != APH_DTYPE_U8) throw invalid_argument(std::string("packed has dtype ") + dname(packed.dtype) + "; it must be u8");
            if (scale.dtype != APH_DTYPE_F32) throw invalid_argument(std::string("scale has dtype ") + dname(scale.dtype) + "; it must be f32");
            if (x.shape.empty() || packed.shape.size() != 2 || packed.shape[1] != (x.shape.back() + 3) / 4 ||
                scale.shape != std::vector<int64_t>{1})
                dims("ternary_matmul: x " + shape_str(x.shape) + ", packed " + shape_str(packed.shape) + " and scale " +
                     shape_str(scale.shape) + " do not fit");
            std::vector<int64_t> out = x.shape;
            out.back() = packed.shape[0];
            return contiguous_value(x.dtype, out);
        }
        case Fam::Dequantize: {
            const aph_quant_scheme q = scheme_of(s);
            const aph_dtype to = param_dtype(s, "dtype", "f32");
            if (!is_float(to)) throw invalid_argument(std::string("param 'dtype' ") + dname(to) + " is not a floating-point dtype");
            if (in[0]->dtype != quant_code_dtype(q))
                throw invalid_argument(std::string("q has dtype ") + dname(in[0]->dtype) + "; the scheme's codes are " +
                                       dname(quant_code_dtype(q)));
            if (in[1]->dtype != APH_DTYPE_F32) throw invalid_argument(std::string("scale has dtype ") + dname(in[1]->dtype) + "; it must be f32");
            ValueInfo v = contiguous_value(to, param_ints(s, "shape"));
            // The q and scale shapes aph_quantize writes for a tensor of that shape (header
            // section 14), checked here so that a mismatch is found before anything runs.
            static const char* names[] = {"int8", "fp8_e4m3", "fp8_e5m2", "nf4", "ternary"};
            const int64_t axis = param_int(s, "axis", -1);
            if (q != APH_QUANT_INT8 && axis != -1)
                throw invalid_argument(strprintf("axis must be -1 for %s (got %lld); only int8 takes a channel axis",
                                                 names[q], static_cast<long long>(axis)));
            if (axis >= static_cast<int64_t>(v.shape.size()))
                throw invalid_argument(strprintf("axis %lld is out of range for shape %s", static_cast<long long>(axis),
                                                 shape_str(v.shape).c_str()));
            if (q == APH_QUANT_TERNARY && v.shape.empty())
                dims("dequantize: shape [] has no last dimension to unpack for ternary");
            const int64_t n = numel_of(v.shape);
            std::vector<int64_t> want_q = v.shape, want_scale = {1};
            if (q == APH_QUANT_INT8 && axis >= 0) want_scale = {v.shape[static_cast<size_t>(axis)]};
            if (q == APH_QUANT_NF4) {
                want_q = {(n + 1) / 2};
                want_scale = {(n + 63) / 64};
            }
            if (q == APH_QUANT_TERNARY) want_q.back() = (want_q.back() + 3) / 4;
            if (in[0]->shape != want_q || in[1]->shape != want_scale)
                dims(strprintf("dequantize: q %s and scale %s do not fit shape %s with scheme %s and axis %lld (q must "
                               "be %s, scale %s)",
                               shape_str(in[0]->shape).c_str(), shape_str(in[1]->shape).c_str(),
                               shape_str(v.shape).c_str(), names[q], static_cast<long long>(axis < 0 ? -1 : axis),
                               shape_str(want_q).c_str(), shape_str(want_scale).c_str()));
            return v;
        }
        case Fam::Gru: {
            if (in.size() == 5) throw Error::kind(APH_ERR_GRAPH, "gru_cell takes 4 operands, or 6 with both biases");
            const ValueInfo &x = *in[0], &h = *in[1], &wih = *in[2], &whh = *in[3];
            require_float(x, "x");
            for (size_t i = 1; i < in.size(); ++i) require_same_dtype(x, "x", *in[i], "every operand");
            if (x.shape.size() != 2 || h.shape.size() != 2 || h.shape[0] != x.shape[0] ||
                wih.shape != std::vector<int64_t>{3 * h.shape[1], x.shape[1]} ||
                whh.shape != std::vector<int64_t>{3 * h.shape[1], h.shape[1]} ||
                (in.size() == 6 && (in[4]->shape != std::vector<int64_t>{3 * h.shape[1]} || in[5]->shape != in[4]->shape)))
                dims("gru_cell: x " + shape_str(x.shape) + ", h " + shape_str(h.shape) + ", w_ih " + shape_str(wih.shape) +
                     " and w_hh " + shape_str(whh.shape) + " do not fit");
            return contiguous_value(x.dtype, h.shape);
        }
        case Fam::Reshape: {
            const ValueInfo& x = *in[0];
            if (!contiguous(x))
                throw invalid_argument("reshape needs a contiguous operand; " + shape_str(x.shape) +
                                       " is a strided view (add a 'contiguous' node before it)");
            ValueInfo v = contiguous_value(x.dtype, reshape_shape(x.shape, param_ints(s, "shape")));
            return v;
        }
        case Fam::Permute: {
            const ValueInfo& x = *in[0];
            const std::vector<int64_t> d = param_ints(s, "dims");
            std::vector<bool> seen(x.shape.size(), false);
            if (d.size() != x.shape.size())
                throw Error::kind(APH_ERR_GRAPH, strprintf("param 'dims' has %zu entries; the operand has %zu dimensions",
                                                           d.size(), x.shape.size()));
            ValueInfo v = x;
            for (size_t i = 0; i < d.size(); ++i) {
                if (d[i] < 0 || d[i] >= static_cast<int64_t>(d.size()) || seen[static_cast<size_t>(d[i])])
                    throw Error::kind(APH_ERR_GRAPH, "param 'dims' " + shape_str(d) + " is not a permutation");
                seen[static_cast<size_t>(d[i])] = true;
                v.shape[i] = x.shape[static_cast<size_t>(d[i])];
                v.strides[i] = x.strides[static_cast<size_t>(d[i])];
            }
            return v;
        }
        case Fam::Transpose: {
            const ValueInfo& x = *in[0];
            const int64_t d0 = param_int_required(s, "dim0"), d1 = param_int_required(s, "dim1");
            const int64_t n = static_cast<int64_t>(x.shape.size());
            if (d0 < 0 || d0 >= n || d1 < 0 || d1 >= n)
                throw Error::kind(APH_ERR_GRAPH, strprintf("params dim0 %lld and dim1 %lld must be in [0, %lld)",
                                                           static_cast<long long>(d0), static_cast<long long>(d1),
                                                           static_cast<long long>(n)));
            ValueInfo v = x;
            std::swap(v.shape[static_cast<size_t>(d0)], v.shape[static_cast<size_t>(d1)]);
            std::swap(v.strides[static_cast<size_t>(d0)], v.strides[static_cast<size_t>(d1)]);
            return v;
        }
        case Fam::Slice: {
            const ValueInfo& x = *in[0];
            const int64_t n = static_cast<int64_t>(x.shape.size());
            const int64_t dim = param_int_required(s, "dim");
            if (dim < 0 || dim >= n)
                throw Error::kind(APH_ERR_GRAPH, strprintf("param 'dim' %lld must be in [0, %lld)",
                                                           static_cast<long long>(dim), static_cast<long long>(n)));
            const int64_t size = x.shape[static_cast<size_t>(dim)];
            int64_t start = param_int(s, "start", 0), stop = param_int(s, "stop", size);
            const int64_t step = param_int(s, "step", 1);
            if (step < 1) throw Error::kind(APH_ERR_GRAPH, "param 'step' must be at least 1");
            if (start < 0) start += size;
            if (stop < 0) stop += size;
            start = std::clamp<int64_t>(start, 0, size);
            stop = std::clamp<int64_t>(stop, 0, size);
            ValueInfo v = x;
            const int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;  // no overflow
            v.shape[static_cast<size_t>(dim)] = len;
            if (len > 1) v.strides[static_cast<size_t>(dim)] = x.strides[static_cast<size_t>(dim)] * step;
            v.nbytes = static_cast<uint64_t>(numel_of(v.shape)) * dtype::size(v.dtype);
            return v;
        }
    }
    throw Error::kind(APH_ERR_INTERNAL, "unhandled operation family");
}

void run_builtin(const Step& s, aph_stream* stream, const std::vector<aph_tensor*>& in, aph_tensor* out) {
    const Builtin& b = *s.builtin;
    auto opt = [&](size_t i) -> const aph_tensor* { return i < in.size() ? in[i] : nullptr; };
    switch (b.fam) {
        case Fam::Matmul:
            ops::matmul(stream, in[0], in[1], param_bool(s, "transpose_a", false), param_bool(s, "transpose_b", false),
                        param_float(s, "alpha", 1.0), 0.0, out);
            return;
        case Fam::Linear: ops::linear(stream, in[0], in[1], opt(2), out); return;
        case Fam::Binary:
            if (in.size() == 1)
                ops::binary_scalar(stream, b.sub, in[0], param_float(s, "scalar", 0), out);
            else
                ops::binary(stream, b.sub, in[0], in[1], out);
            return;
        case Fam::Unary: ops::unary(stream, b.sub, in[0], out); return;
        case Fam::BiasAct: ops::bias_activation(stream, in[0], in[1], activation_of(s), out); return;
        case Fam::Softmax: ops::softmax(stream, in[0], out); return;
        case Fam::LogSoftmax: ops::log_softmax(stream, in[0], out); return;
        case Fam::LayerNorm: ops::layer_norm(stream, in[0], in[1], opt(2), param_float(s, "eps", 1e-5), out); return;
        case Fam::RmsNorm: ops::rms_norm(stream, in[0], in[1], param_float(s, "eps", 1e-6), out); return;
        case Fam::Reduce:
            ops::reduce(stream, b.sub, in[0], param_int(s, "dim", -1), param_bool(s, "keepdim", false), out);
            return;
        case Fam::Argmax: ops::argmax(stream, in[0], param_int(s, "dim", -1), param_bool(s, "keepdim", false), out); return;
        case Fam::Rope: ops::rope(stream, in[0], in[1], param_float(s, "theta", 10000.0), rope_layout_of(s), out); return;
        case Fam::Embedding: ops::embedding(stream, in[0], in[1], out); return;
        case Fam::Cast: ops::cast(stream, in[0], out); return;
        case Fam::Attention:
            ops::attention(stream, in[0], in[1], in[2], opt(3), param_float(s, "scale", 0.0), param_bool(s, "causal", false), out);
            return;
        case Fam::TernaryMatmul: ops::ternary_matmul(stream, in[0], in[1], in[2], out); return;
        case Fam::Dequantize: ops::dequantize(stream, scheme_of(s), in[0], in[1], param_int(s, "axis", -1), out); return;
        case Fam::Gru: ops::gru_cell(stream, in[0], in[1], in[2], in[3], opt(4), opt(5), out); return;
        case Fam::Contiguous: tensor::copy(out, in[0], stream, false); return;
        default: break;
    }
    throw Error::kind(APH_ERR_INTERNAL, std::string("operation ") + b.name + " does not compute");
}

aph_tensor* make_view(const Step& s, aph_tensor* base) {
    const Builtin& b = *s.builtin;
    switch (b.fam) {
        case Fam::Reshape: return tensor::reshape(base, s.info.shape.data(), s.info.shape.size());
        case Fam::Permute: {
            const std::vector<int64_t> d = param_ints(s, "dims");
            return tensor::permute(base, d.data(), d.size());
        }
        case Fam::Transpose:
            return tensor::transpose(base, static_cast<size_t>(param_int_required(s, "dim0")),
                                     static_cast<size_t>(param_int_required(s, "dim1")));
        case Fam::Slice: {
            const int64_t dim = param_int_required(s, "dim");
            const int64_t size = base->shape[static_cast<size_t>(dim)];
            return tensor::slice(base, static_cast<size_t>(dim), param_int(s, "start", 0), param_int(s, "stop", size),
                                 param_int(s, "step", 1));
        }
        default: break;
    }
    throw Error::kind(APH_ERR_INTERNAL, std::string("operation ") + b.name + " is not a view");
}

}  // namespace aph::exec
