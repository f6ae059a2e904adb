// The built-in graph operations (header section 20's table), one struct per family: its
// operands and params (the schema, op_schema.hpp), its inference and its execution or view.
//
// - Inference of every operation of section 14 is that operation's own (runtime/ops/infer.hpp):
//   a node and the eager call with the same operands pass or fail together, with the same
//   status and message. Only what has no eager counterpart (inputs, constants, views, the
//   operand-count rules of a graph) is inferred here.
// - Params: before inference, a node's params are checked against its schema (unknown, missing
//   and mistyped params are APH_ERR_GRAPH) and the absent ones get their schema default, parsed
//   from the schema's JSON text. Afterwards the only way to read one is arg<Family, "name">(s),
//   which finds the param in the family's schema at compile time (a name the schema does not
//   list does not compile) and returns the C++ type of its schema type.
// - The table (builtins()) is made by def<Family>(name), which takes the family's infer, and
//   run (compute) or view (views): an entry without them does not compile.
#include "op_schema.hpp"

#include "../core/dtype.hpp"
#include "../core/memory.hpp"
#include "../core/tensor.hpp"
#include "../graph/serde_json.hpp"
#include "../ops/ops.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string_view>

namespace aph::exec {

namespace {

using ops::shape_str;
using Tensors = std::vector<aph_tensor*>;

// ---------------------------------------------------------------------------------------------
// Params: checking a node's params against its schema, and reading them through it
// ---------------------------------------------------------------------------------------------

[[noreturn]] void bad_param(const char* key, const Json& v, const char* expected) {
    throw Error::kind(APH_ERR_GRAPH, strprintf("param '%s' is a%s %s, expected %s", key,
                                               std::strchr("aeiou", graph::json_type_name(v)[0]) ? "n" : "",
                                               graph::json_type_name(v), expected));
}

bool is_int64(const Json& v) {
    return v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX));
}

// "a, b or c".
std::string or_list(std::span<const char* const> names, const char* last = " or ") {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += i + 1 == names.size() ? last : ", ";
        out += names[i];
    }
    return out;
}

// Throws APH_ERR_GRAPH unless v is a valid value of param p.
void check_value(const ParamDef& p, const Json& v) {
    switch (p.type) {
        case APH_PARAM_INT:
            if (!is_int64(v)) bad_param(p.name, v, "an integer");
            return;
        case APH_PARAM_FLOAT:
            if (!v.is_number()) bad_param(p.name, v, "a number");
            return;
        case APH_PARAM_BOOL:
            if (!v.is_boolean()) bad_param(p.name, v, "a bool");
            return;
        case APH_PARAM_STRING: {
            if (!v.is_string()) bad_param(p.name, v, "a string");
            if (p.allowed.empty()) return;
            const std::string& str = v.get_ref<const std::string&>();
            for (const char* a : p.allowed)
                if (str == a) return;
            throw Error::kind(APH_ERR_GRAPH, strprintf("param '%s' is \"%s\"; expected %s", p.name, str.c_str(),
                                                       or_list(p.allowed).c_str()));
        }
        case APH_PARAM_INT_LIST:
            if (!v.is_array()) bad_param(p.name, v, "an array of integers");
            for (const Json& e : v) {
                if (e.is_string())
                    throw Error::kind(APH_ERR_GRAPH,
                                      strprintf("param '%s' holds the string \"%s\"; expected integers (symbolic "
                                                "dimensions are allowed in the shapes of input and reshape nodes only)",
                                                p.name, e.get_ref<const std::string&>().c_str()));
                if (!is_int64(e)) bad_param(p.name, v, "an array of integers");
            }
            return;
        case APH_PARAM_SYMBOLIC_SHAPE:
            // Integers and symbol names; the executor checks the names (analyse in executor.cpp).
            if (!v.is_array()) bad_param(p.name, v, "an array of integers and symbol names");
            for (const Json& e : v)
                if (!is_int64(e) && !e.is_string()) bad_param(p.name, v, "an array of integers and symbol names");
            return;
        case APH_PARAM_DTYPE:
            if (!v.is_string()) bad_param(p.name, v, "a string");
            if (!dtype::from_name(v.get_ref<const std::string&>()))
                throw Error::kind(APH_ERR_GRAPH, strprintf("param '%s' names no dtype: \"%s\"", p.name,
                                                           v.get_ref<const std::string&>().c_str()));
            return;
        case APH_PARAM_NUMBERS:
            if (v.is_number()) return;
            if (!v.is_array()) bad_param(p.name, v, "a number or an array of numbers");
            for (const Json& e : v)
                if (!e.is_number())
                    throw Error::kind(APH_ERR_GRAPH,
                                      strprintf("param '%s' holds a%s %s, expected numbers", p.name,
                                                std::strchr("aeiou", graph::json_type_name(e)[0]) ? "n" : "",
                                                graph::json_type_name(e)));
            return;
    }
    throw Error::kind(APH_ERR_INTERNAL, strprintf("param '%s' has no type", p.name));
}

// Checks s's params against its schema and adds the absent ones that have a default.
void prepare_params(Step& s) {
    const Builtin& b = *s.builtin;
    for (const ParamDef& p : b.params) {
        auto it = s.params.find(p.name);
        if (it == s.params.end()) {
            if (p.required) throw Error::kind(APH_ERR_GRAPH, strprintf("missing param '%s'", p.name));
            if (p.default_json != nullptr) s.params[p.name] = Json::parse(p.default_json);
            continue;
        }
        check_value(p, *it);
    }
    for (auto it = s.params.begin(); it != s.params.end(); ++it) {
        const bool known = std::any_of(b.params.begin(), b.params.end(),
                                       [&](const ParamDef& p) { return it.key() == p.name; });
        if (known) continue;
        std::vector<const char*> names;
        for (const ParamDef& p : b.params) names.push_back(p.name);
        throw Error::kind(APH_ERR_GRAPH,
                          names.empty() ? strprintf("unknown param '%s'; %s takes no params", it.key().c_str(), b.name)
                                        : strprintf("unknown param '%s'; %s takes %s", it.key().c_str(), b.name,
                                                    or_list(names, " and ").c_str()));
    }
}

// A string literal as a template argument: arg<Family, "eps">.
template <size_t N>
struct Name {
    char text[N]{};
    consteval Name(const char (&s)[N]) {
        for (size_t i = 0; i < N; ++i) text[i] = s[i];
    }
    constexpr std::string_view view() const { return {text, N - 1}; }
};

// The index of param N in Op's schema (Op::params.size() when it has none).
template <class Op, Name N>
consteval size_t param_index() {
    for (size_t i = 0; i < Op::params.size(); ++i)
        if (std::string_view(Op::params[i].name) == N.view()) return i;
    return Op::params.size();
}

// The C++ value of a checked param: int64_t, double, bool, int32_t (an enumeration's index,
// which is the C enum's value), std::string, std::vector<int64_t>, aph_dtype, or the JSON
// itself for a number or list.
template <aph_param_type T, bool Enumeration>
auto read(const Json& v, const ParamDef& p) {
    if constexpr (T == APH_PARAM_INT) {
        return v.get<int64_t>();
    } else if constexpr (T == APH_PARAM_FLOAT) {
        return v.get<double>();
    } else if constexpr (T == APH_PARAM_BOOL) {
        return v.get<bool>();
    } else if constexpr (T == APH_PARAM_STRING && Enumeration) {
        const std::string& str = v.get_ref<const std::string&>();
        for (size_t i = 0; i < p.allowed.size(); ++i)
            if (str == p.allowed[i]) return static_cast<int32_t>(i);
        throw Error::kind(APH_ERR_INTERNAL, strprintf("param '%s' was not checked", p.name));
    } else if constexpr (T == APH_PARAM_STRING) {
        return v.get<std::string>();
    } else if constexpr (T == APH_PARAM_INT_LIST) {
        return v.get<std::vector<int64_t>>();
    } else if constexpr (T == APH_PARAM_SYMBOLIC_SHAPE) {
        // Read only after the executor bound the symbols to sizes (bind_symbols in executor.cpp).
        for (const Json& e : v)
            if (!e.is_number_integer())
                throw Error::kind(APH_ERR_INTERNAL, strprintf("param '%s' read before its symbols were bound", p.name));
        return v.get<std::vector<int64_t>>();
    } else if constexpr (T == APH_PARAM_DTYPE) {
        return *dtype::from_name(v.get_ref<const std::string&>());
    } else {
        static_assert(T == APH_PARAM_NUMBERS);
        return &v;
    }
}

// Param N of a node of family Op, after prepare_params: its value, or for a param with no
// default (neither required nor defaulted), an optional that is empty when the node lacks it.
template <class Op, Name N>
auto arg(const Step& s) {
    static_assert(param_index<Op, N>() < Op::params.size(), "the operation's schema lists no param of this name");
    constexpr ParamDef p = Op::params[param_index<Op, N>() < Op::params.size() ? param_index<Op, N>() : 0];
    const auto it = s.params.find(p.name);
    const Json* v = it == s.params.end() ? nullptr : &*it;
    if constexpr (p.required || p.default_json != nullptr) {
        if (v == nullptr)
            throw Error::kind(APH_ERR_INTERNAL, strprintf("param '%s' read before it was checked", p.name));
        return read<p.type, !p.allowed.empty()>(*v, p);
    } else {
        using T = decltype(read<p.type, !p.allowed.empty()>(*v, p));
        return v != nullptr ? std::optional<T>(read<p.type, !p.allowed.empty()>(*v, p)) : std::optional<T>();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers of the families
// ---------------------------------------------------------------------------------------------

using ParamList = std::span<const ParamDef>;
constexpr std::array<const char*, 0> kNoOperands{};
constexpr std::array<ParamDef, 0> kNoParams{};
constexpr std::array<const char*, 1> kX{"x"};

// Operand i of a node of family Op, named as its schema names it.
template <class Op>
ops::Operand operand(const Inputs& in, size_t i) {
    return ops::Operand{Op::operands[i], in[i]->dtype, in[i]->shape};
}
template <class Op>
std::optional<ops::Operand> optional_operand(const Inputs& in, size_t i) {
    if (i >= in.size()) return std::nullopt;
    return operand<Op>(in, i);
}
const ops::Operand* ptr(const std::optional<ops::Operand>& o) { return o ? &*o : nullptr; }
const aph_tensor* opt(const Tensors& in, size_t i) { return i < in.size() ? in[i] : nullptr; }

ValueInfo value(ops::Inferred r) { return contiguous_value(r.dtype, std::move(r.shape)); }

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

// A dimension param (negative counts from the end) of a value with ndim dimensions.
size_t dim_param(const char* name, int64_t d, size_t ndim) {
    const int64_t n = static_cast<int64_t>(ndim);
    if (d < -n || d >= n)
        throw Error::kind(APH_ERR_GRAPH,
                          strprintf("param '%s' %lld is outside [%lld, %lld)", name, static_cast<long long>(d),
                                    static_cast<long long>(-n), static_cast<long long>(n)));
    return static_cast<size_t>(d < 0 ? d + n : d);
}

// The enumerations' strings: the n-th is the C enum's value n.
constexpr const char* kActivations[] = {"none", "relu", "gelu", "gelu_tanh", "silu", "tanh"};
static_assert(APH_ACTIVATION_NONE == 0 && APH_ACTIVATION_RELU == 1 && APH_ACTIVATION_GELU == 2 &&
              APH_ACTIVATION_GELU_TANH == 3 && APH_ACTIVATION_SILU == 4 && APH_ACTIVATION_TANH == 5);
constexpr const char* kRopeLayouts[] = {"interleaved", "half"};
static_assert(APH_ROPE_INTERLEAVED == 0 && APH_ROPE_HALF == 1);
constexpr const char* kQuantSchemes[] = {"int8", "fp8_e4m3", "fp8_e5m2", "nf4", "ternary"};
static_assert(APH_QUANT_INT8 == 0 && APH_QUANT_FP8_E4M3 == 1 && APH_QUANT_FP8_E5M2 == 2 && APH_QUANT_NF4 == 3 &&
              APH_QUANT_TERNARY == 4);

// ---------------------------------------------------------------------------------------------
// The families
// ---------------------------------------------------------------------------------------------

// input, weight, constant: a contiguous value of params dtype and shape (an input's shape may
// name symbolic dimensions, bound to sizes before inference; weights and constants are concrete).
constexpr ParamDef kShapeParam{"shape", APH_PARAM_INT_LIST, true, nullptr, {}};
constexpr ParamDef kSymbolicShapeParam{"shape", APH_PARAM_SYMBOLIC_SHAPE, true, nullptr, {}};
constexpr ParamDef kDtypeParam{"dtype", APH_PARAM_DTYPE, false, "\"f32\"", {}};

struct InputOp {
    static constexpr Kind kind = Kind::Input;
    static constexpr auto operands = kNoOperands;
    static constexpr size_t min_operands = 0;
    static constexpr std::array params{kSymbolicShapeParam, kDtypeParam};
    static ValueInfo infer(const Step& s, const Inputs&, const ops::Target&) {
        return contiguous_value(arg<InputOp, "dtype">(s), arg<InputOp, "shape">(s));
    }
};

struct WeightOp {
    static constexpr Kind kind = Kind::Weight;
    static constexpr auto operands = kNoOperands;
    static constexpr size_t min_operands = 0;
    static constexpr std::array params{kShapeParam, kDtypeParam, ParamDef{"key", APH_PARAM_STRING, false, nullptr, {}}};
    static ValueInfo infer(const Step& s, const Inputs&, const ops::Target&) {
        return contiguous_value(arg<WeightOp, "dtype">(s), arg<WeightOp, "shape">(s));
    }
};

struct ConstantOp {
    static constexpr Kind kind = Kind::Constant;
    static constexpr auto operands = kNoOperands;
    static constexpr size_t min_operands = 0;
    static constexpr std::array params{kShapeParam, kDtypeParam,
                                       ParamDef{"value", APH_PARAM_NUMBERS, true, nullptr, {}}};
    static ValueInfo infer(const Step& s, const Inputs&, const ops::Target&) {
        ValueInfo v = contiguous_value(arg<ConstantOp, "dtype">(s), arg<ConstantOp, "shape">(s));
        const Json& val = *arg<ConstantOp, "value">(s);
        const int64_t n = numel_of(v.shape);
        if (val.is_array() && static_cast<int64_t>(val.size()) != n)
            throw Error::kind(APH_ERR_GRAPH, strprintf("param 'value' has %zu numbers; shape %s needs %lld", val.size(),
                                                       shape_str(v.shape).c_str(), static_cast<long long>(n)));
        const aph_dtype d = v.dtype;
        const bool floating = d == APH_DTYPE_F32 || d == APH_DTYPE_F16 || d == APH_DTYPE_BF16 || d == APH_DTYPE_F64;
        if (!floating && d != APH_DTYPE_I32 && d != APH_DTYPE_I64)
            throw Error::kind(APH_ERR_GRAPH,
                              std::string("constants take f32, f16, bf16, f64, i32 or i64, not ") + dtype::name(d));
        if (!floating && !(val.is_array() ? std::all_of(val.begin(), val.end(), is_int64) : is_int64(val)))
            throw Error::kind(APH_ERR_GRAPH,
                              std::string("param 'value' must hold integers (in the int64 range) for dtype ") +
                                  dtype::name(d));
        return v;
    }
};

struct OutputOp {
    static constexpr Kind kind = Kind::Output;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step&, const Inputs& in, const ops::Target&) { return *in[0]; }
};

struct MatmulOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 2> operands{"a", "b"};
    static constexpr size_t min_operands = 2;
    static constexpr std::array params{ParamDef{"transpose_a", APH_PARAM_BOOL, false, "false", {}},
                                       ParamDef{"transpose_b", APH_PARAM_BOOL, false, "false", {}},
                                       ParamDef{"alpha", APH_PARAM_FLOAT, false, "1", {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_matmul(t, operand<MatmulOp>(in, 0), operand<MatmulOp>(in, 1),
                                       arg<MatmulOp, "transpose_a">(s), arg<MatmulOp, "transpose_b">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::matmul(stream, in[0], in[1], arg<MatmulOp, "transpose_a">(s), arg<MatmulOp, "transpose_b">(s),
                    arg<MatmulOp, "alpha">(s), 0.0, out);
    }
};

struct LinearOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 3> operands{"x", "weight", "bias"};
    static constexpr size_t min_operands = 2;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step&, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_linear(t, operand<LinearOp>(in, 0), operand<LinearOp>(in, 1),
                                       ptr(optional_operand<LinearOp>(in, 2))));
    }
    static void run(const Step&, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::linear(stream, in[0], in[1], opt(in, 2), out);
    }
};

// add, sub, mul, div, maximum, minimum (sub: the aph_binary_op).
struct BinaryOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 2> operands{"a", "b"};
    static constexpr size_t min_operands = 1;
    static constexpr std::array params{ParamDef{"scalar", APH_PARAM_FLOAT, false, nullptr, {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        const bool scalar = arg<BinaryOp, "scalar">(s).has_value();
        if (in.size() == 1 && !scalar)
            throw Error::kind(APH_ERR_GRAPH, "one operand needs param 'scalar' (or give two operands)");
        if (in.size() == 2 && scalar) throw Error::kind(APH_ERR_GRAPH, "param 'scalar' takes one operand, not two");
        return value(
            ops::infer_binary(t, s.builtin->sub, operand<BinaryOp>(in, 0), ptr(optional_operand<BinaryOp>(in, 1))));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        if (in.size() == 1) ops::binary_scalar(stream, s.builtin->sub, in[0], *arg<BinaryOp, "scalar">(s), out);
        else
            ops::binary(stream, s.builtin->sub, in[0], in[1], out);
    }
};

// relu ... abs (sub: the aph_unary_op).
struct UnaryOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_unary(t, s.builtin->sub, operand<UnaryOp>(in, 0)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::unary(stream, s.builtin->sub, in[0], out);
    }
};

struct BiasActivationOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 2> operands{"x", "bias"};
    static constexpr size_t min_operands = 2;
    static constexpr std::array params{ParamDef{"activation", APH_PARAM_STRING, false, "\"none\"", kActivations}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_bias_activation(t, operand<BiasActivationOp>(in, 0), operand<BiasActivationOp>(in, 1),
                                                arg<BiasActivationOp, "activation">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::bias_activation(stream, in[0], in[1], arg<BiasActivationOp, "activation">(s), out);
    }
};

// softmax (sub 0) and log_softmax (sub 1).
struct SoftmaxOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step&, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_softmax(t, operand<SoftmaxOp>(in, 0)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        if (s.builtin->sub == 0) ops::softmax(stream, in[0], out);
        else
            ops::log_softmax(stream, in[0], out);
    }
};

struct LayerNormOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 3> operands{"x", "weight", "bias"};
    static constexpr size_t min_operands = 2;
    static constexpr std::array params{ParamDef{"eps", APH_PARAM_FLOAT, false, "1e-5", {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_norm(t, operand<LayerNormOp>(in, 0), operand<LayerNormOp>(in, 1),
                                     ptr(optional_operand<LayerNormOp>(in, 2)), arg<LayerNormOp, "eps">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::layer_norm(stream, in[0], in[1], opt(in, 2), arg<LayerNormOp, "eps">(s), out);
    }
};

struct RmsNormOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 2> operands{"x", "weight"};
    static constexpr size_t min_operands = 2;
    static constexpr std::array params{ParamDef{"eps", APH_PARAM_FLOAT, false, "1e-6", {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_norm(t, operand<RmsNormOp>(in, 0), operand<RmsNormOp>(in, 1), nullptr,
                                     arg<RmsNormOp, "eps">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::rms_norm(stream, in[0], in[1], arg<RmsNormOp, "eps">(s), out);
    }
};

constexpr std::array kReduceParams{ParamDef{"dim", APH_PARAM_INT, false, "-1", {}},
                                   ParamDef{"keepdim", APH_PARAM_BOOL, false, "false", {}}};

// sum, mean, max (sub: the aph_reduce_op).
struct ReduceOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr auto params = kReduceParams;
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_reduce(t, s.builtin->sub, operand<ReduceOp>(in, 0), arg<ReduceOp, "dim">(s),
                                       arg<ReduceOp, "keepdim">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::reduce(stream, s.builtin->sub, in[0], arg<ReduceOp, "dim">(s), arg<ReduceOp, "keepdim">(s), out);
    }
};

struct ArgmaxOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr auto params = kReduceParams;
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(
            ops::infer_argmax(t, operand<ArgmaxOp>(in, 0), arg<ArgmaxOp, "dim">(s), arg<ArgmaxOp, "keepdim">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::argmax(stream, in[0], arg<ArgmaxOp, "dim">(s), arg<ArgmaxOp, "keepdim">(s), out);
    }
};

struct RopeOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 2> operands{"x", "positions"};
    static constexpr size_t min_operands = 2;
    static constexpr std::array params{ParamDef{"theta", APH_PARAM_FLOAT, false, "10000", {}},
                                       ParamDef{"layout", APH_PARAM_STRING, false, "\"half\"", kRopeLayouts}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_rope(t, operand<RopeOp>(in, 0), operand<RopeOp>(in, 1), arg<RopeOp, "theta">(s),
                                     arg<RopeOp, "layout">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::rope(stream, in[0], in[1], arg<RopeOp, "theta">(s), arg<RopeOp, "layout">(s), out);
    }
};

struct EmbeddingOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 2> operands{"table", "ids"};
    static constexpr size_t min_operands = 2;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step&, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_embedding(t, operand<EmbeddingOp>(in, 0), operand<EmbeddingOp>(in, 1)));
    }
    static void run(const Step&, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::embedding(stream, in[0], in[1], out);
    }
};

// The positions 0..n-1 along dimension dim of x (aph_op_positions).
struct PositionsOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr std::array params{ParamDef{"dim", APH_PARAM_INT, false, "-1", {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_positions(t, operand<PositionsOp>(in, 0), arg<PositionsOp, "dim">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::positions(stream, in[0], arg<PositionsOp, "dim">(s), out);
    }
};

struct CastOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr std::array params{ParamDef{"dtype", APH_PARAM_DTYPE, true, nullptr, {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_cast(t, operand<CastOp>(in, 0), arg<CastOp, "dtype">(s), "the output"));
    }
    static void run(const Step&, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::cast(stream, in[0], out);  // out has the param's dtype
    }
};

struct AttentionOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 4> operands{"q", "k", "v", "mask"};
    static constexpr size_t min_operands = 3;
    static constexpr std::array params{ParamDef{"scale", APH_PARAM_FLOAT, false, "0", {}},
                                       ParamDef{"causal", APH_PARAM_BOOL, false, "false", {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_attention(t, operand<AttentionOp>(in, 0), operand<AttentionOp>(in, 1),
                                          operand<AttentionOp>(in, 2), ptr(optional_operand<AttentionOp>(in, 3)),
                                          arg<AttentionOp, "scale">(s), arg<AttentionOp, "causal">(s)));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::attention(stream, in[0], in[1], in[2], opt(in, 3), arg<AttentionOp, "scale">(s),
                       arg<AttentionOp, "causal">(s), out);
    }
};

struct TernaryMatmulOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 3> operands{"x", "packed", "scale"};
    static constexpr size_t min_operands = 3;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step&, const Inputs& in, const ops::Target& t) {
        return value(ops::infer_ternary_matmul(t, operand<TernaryMatmulOp>(in, 0), operand<TernaryMatmulOp>(in, 1),
                                               operand<TernaryMatmulOp>(in, 2)));
    }
    static void run(const Step&, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::ternary_matmul(stream, in[0], in[1], in[2], out);
    }
};

struct DequantizeOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 2> operands{"q", "scale"};
    static constexpr size_t min_operands = 2;
    static constexpr std::array params{ParamDef{"scheme", APH_PARAM_STRING, true, nullptr, kQuantSchemes},
                                       ParamDef{"axis", APH_PARAM_INT, false, "-1", {}}, kShapeParam, kDtypeParam};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target& t) {
        // The output (the original tensor) is what aph_dequantize's out is.
        const ValueInfo v = contiguous_value(arg<DequantizeOp, "dtype">(s), arg<DequantizeOp, "shape">(s));
        const ops::Operand out{"the output", v.dtype, v.shape};
        return value(ops::infer_dequantize(t, arg<DequantizeOp, "scheme">(s), operand<DequantizeOp>(in, 0),
                                           operand<DequantizeOp>(in, 1), arg<DequantizeOp, "axis">(s), out));
    }
    static void run(const Step& s, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::dequantize(stream, arg<DequantizeOp, "scheme">(s), in[0], in[1], arg<DequantizeOp, "axis">(s), out);
    }
};

struct GruCellOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr std::array<const char*, 6> operands{"x", "h", "w_ih", "w_hh", "b_ih", "b_hh"};
    static constexpr size_t min_operands = 4;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step&, const Inputs& in, const ops::Target& t) {
        if (in.size() == 5) throw Error::kind(APH_ERR_GRAPH, "gru_cell takes 4 operands, or 6 with both biases");
        return value(ops::infer_gru_cell(t, operand<GruCellOp>(in, 0), operand<GruCellOp>(in, 1),
                                         operand<GruCellOp>(in, 2), operand<GruCellOp>(in, 3),
                                         ptr(optional_operand<GruCellOp>(in, 4)),
                                         ptr(optional_operand<GruCellOp>(in, 5))));
    }
    static void run(const Step&, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        ops::gru_cell(stream, in[0], in[1], in[2], in[3], opt(in, 4), opt(in, 5), out);
    }
};

// A contiguous copy of any value (f64 on CUDA too: copies take every dtype).
struct ContiguousOp {
    static constexpr Kind kind = Kind::Compute;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr auto params = kNoParams;
    static ValueInfo infer(const Step&, const Inputs& in, const ops::Target&) {
        return contiguous_value(in[0]->dtype, in[0]->shape);
    }
    static void run(const Step&, aph_stream* stream, const Tensors& in, aph_tensor* out) {
        tensor::copy(out, in[0], stream, false);
    }
};

struct ReshapeOp {
    static constexpr Kind kind = Kind::View;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr std::array params{kSymbolicShapeParam};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target&) {
        const ValueInfo& x = *in[0];
        if (!contiguous(x))
            throw invalid_argument("reshape needs a contiguous operand; " + shape_str(x.shape) +
                                   " is a strided view (add a 'contiguous' node before it)");
        std::vector<int64_t> want = arg<ReshapeOp, "shape">(s);
        const int64_t n = numel_of(x.shape);
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
                                  "cannot reshape " + shape_str(x.shape) + " to " + shape_str(want));
            want[static_cast<size_t>(infer)] = n / known;
        } else if (known != n) {
            throw Error::kind(APH_ERR_SHAPE_MISMATCH,
                              strprintf("expected [%lld] elements, got [%lld]", static_cast<long long>(n),
                                        static_cast<long long>(known)));
        }
        return contiguous_value(x.dtype, std::move(want));
    }
    static aph_tensor* view(const Step& s, aph_tensor* base) {
        return tensor::reshape(base, s.info.shape.data(), s.info.shape.size());
    }
};

struct PermuteOp {
    static constexpr Kind kind = Kind::View;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr std::array params{ParamDef{"dims", APH_PARAM_INT_LIST, true, nullptr, {}}};
    // The permutation (negative entries counted from the end).
    static std::vector<size_t> dims(const Step& s, size_t ndim) {
        const std::vector<int64_t> d = arg<PermuteOp, "dims">(s);
        if (d.size() != ndim)
            throw Error::kind(APH_ERR_GRAPH, strprintf("param 'dims' has %zu entries; the operand has %zu dimensions",
                                                       d.size(), ndim));
        std::vector<size_t> out(ndim);
        std::vector<bool> seen(ndim, false);
        const int64_t n = static_cast<int64_t>(ndim);
        for (size_t i = 0; i < ndim; ++i) {
            const int64_t v = d[i] < 0 ? d[i] + n : d[i];
            if (v < 0 || v >= n || seen[static_cast<size_t>(v)])
                throw Error::kind(APH_ERR_GRAPH, "param 'dims' " + shape_str(d) + " is not a permutation");
            seen[static_cast<size_t>(v)] = true;
            out[i] = static_cast<size_t>(v);
        }
        return out;
    }
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target&) {
        const ValueInfo& x = *in[0];
        const std::vector<size_t> d = dims(s, x.shape.size());
        ValueInfo v = x;
        for (size_t i = 0; i < d.size(); ++i) {
            v.shape[i] = x.shape[d[i]];
            v.strides[i] = x.strides[d[i]];
        }
        return v;
    }
    static aph_tensor* view(const Step& s, aph_tensor* base) {
        const std::vector<size_t> d = dims(s, base->shape.size());
        const std::vector<int64_t> d64(d.begin(), d.end());
        return tensor::permute(base, d64.data(), d64.size());
    }
};

struct TransposeOp {
    static constexpr Kind kind = Kind::View;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr std::array params{ParamDef{"dim0", APH_PARAM_INT, true, nullptr, {}},
                                       ParamDef{"dim1", APH_PARAM_INT, true, nullptr, {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target&) {
        const ValueInfo& x = *in[0];
        const size_t d0 = dim_param("dim0", arg<TransposeOp, "dim0">(s), x.shape.size());
        const size_t d1 = dim_param("dim1", arg<TransposeOp, "dim1">(s), x.shape.size());
        ValueInfo v = x;
        std::swap(v.shape[d0], v.shape[d1]);
        std::swap(v.strides[d0], v.strides[d1]);
        return v;
    }
    static aph_tensor* view(const Step& s, aph_tensor* base) {
        const size_t n = base->shape.size();
        return tensor::transpose(base, dim_param("dim0", arg<TransposeOp, "dim0">(s), n),
                                 dim_param("dim1", arg<TransposeOp, "dim1">(s), n));
    }
};

struct SliceOp {
    static constexpr Kind kind = Kind::View;
    static constexpr auto operands = kX;
    static constexpr size_t min_operands = 1;
    static constexpr std::array params{
        ParamDef{"dim", APH_PARAM_INT, true, nullptr, {}}, ParamDef{"start", APH_PARAM_INT, false, "0", {}},
        ParamDef{"stop", APH_PARAM_INT, false, nullptr, {}}, ParamDef{"step", APH_PARAM_INT, false, "1", {}}};
    static ValueInfo infer(const Step& s, const Inputs& in, const ops::Target&) {
        const ValueInfo& x = *in[0];
        const size_t dim = dim_param("dim", arg<SliceOp, "dim">(s), x.shape.size());
        const int64_t size = x.shape[dim];
        int64_t start = arg<SliceOp, "start">(s), stop = arg<SliceOp, "stop">(s).value_or(size);
        const int64_t step = arg<SliceOp, "step">(s);
        if (step < 1) throw Error::kind(APH_ERR_GRAPH, "param 'step' must be at least 1");
        if (start < 0) start += size;
        if (stop < 0) stop += size;
        start = std::clamp<int64_t>(start, 0, size);
        stop = std::clamp<int64_t>(stop, 0, size);
        ValueInfo v = x;
        const int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;  // no overflow
        v.shape[dim] = len;
        if (len > 1) v.strides[dim] = x.strides[dim] * step;
        v.nbytes = static_cast<uint64_t>(numel_of(v.shape)) * dtype::size(v.dtype);
        return v;
    }
    static aph_tensor* view(const Step& s, aph_tensor* base) {
        const size_t dim = dim_param("dim", arg<SliceOp, "dim">(s), base->shape.size());
        const int64_t size = base->shape[dim];
        return tensor::slice(base, dim, arg<SliceOp, "start">(s), arg<SliceOp, "stop">(s).value_or(size),
                             arg<SliceOp, "step">(s));
    }
};

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

// The entry of operation `name` of family Op: its inference always, its execution for compute
// nodes, its view for views (a family without them does not compile).
template <class Op>
constexpr Builtin def(const char* name, int32_t sub = 0) {
    Builtin b{name, Op::kind, sub, Op::min_operands, Op::operands, Op::params, &Op::infer, nullptr, nullptr};
    if constexpr (Op::kind == Kind::Compute) b.run = &Op::run;
    if constexpr (Op::kind == Kind::View) b.view = &Op::view;
    return b;
}

constexpr Builtin kBuiltins[] = {
    def<InputOp>("input"),
    def<WeightOp>("weight"),
    def<ConstantOp>("constant"),
    def<OutputOp>("output"),
    def<MatmulOp>("matmul"),
    def<LinearOp>("linear"),
    def<BinaryOp>("add", APH_BINARY_ADD),
    def<BinaryOp>("sub", APH_BINARY_SUB),
    def<BinaryOp>("mul", APH_BINARY_MUL),
    def<BinaryOp>("div", APH_BINARY_DIV),
    def<BinaryOp>("maximum", APH_BINARY_MAXIMUM),
    def<BinaryOp>("minimum", APH_BINARY_MINIMUM),
    def<UnaryOp>("relu", APH_UNARY_RELU),
    def<UnaryOp>("gelu", APH_UNARY_GELU),
    def<UnaryOp>("gelu_tanh", APH_UNARY_GELU_TANH),
    def<UnaryOp>("silu", APH_UNARY_SILU),
    def<UnaryOp>("tanh", APH_UNARY_TANH),
    def<UnaryOp>("sigmoid", APH_UNARY_SIGMOID),
    def<UnaryOp>("exp", APH_UNARY_EXP),
    def<UnaryOp>("log", APH_UNARY_LOG),
    def<UnaryOp>("neg", APH_UNARY_NEG),
    def<UnaryOp>("sqrt", APH_UNARY_SQRT),
    def<UnaryOp>("rsqrt", APH_UNARY_RSQRT),
    def<UnaryOp>("abs", APH_UNARY_ABS),
    def<BiasActivationOp>("bias_activation"),
    def<SoftmaxOp>("softmax", 0),
    def<SoftmaxOp>("log_softmax", 1),
    def<LayerNormOp>("layer_norm"),
    def<RmsNormOp>("rms_norm"),
    def<ReduceOp>("sum", APH_REDUCE_SUM),
    def<ReduceOp>("mean", APH_REDUCE_MEAN),
    def<ReduceOp>("max", APH_REDUCE_MAX),
    def<ArgmaxOp>("argmax"),
    def<RopeOp>("rope"),
    def<EmbeddingOp>("embedding"),
    def<PositionsOp>("positions"),
    def<CastOp>("cast"),
    def<AttentionOp>("attention"),
    def<TernaryMatmulOp>("ternary_matmul"),
    def<DequantizeOp>("dequantize"),
    def<GruCellOp>("gru_cell"),
    def<ContiguousOp>("contiguous"),
    def<ReshapeOp>("reshape"),
    def<PermuteOp>("permute"),
    def<TransposeOp>("transpose"),
    def<SliceOp>("slice"),
};

}  // namespace

std::span<const Builtin> builtins() { return kBuiltins; }

ValueInfo contiguous_value(aph_dtype dt, std::vector<int64_t> shape) {
    ValueInfo v;
    v.dtype = dt;
    if (shape.size() > APH_TENSOR_MAX_DIMS)
        throw invalid_argument(
            strprintf("shape %s has more than %d dimensions", shape_str(shape).c_str(), APH_TENSOR_MAX_DIMS));
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
size_t builtin_min_operands(const Builtin* b) { return b->min_operands; }
size_t builtin_max_operands(const Builtin* b) { return b->operands.size(); }

void prepare_builtin(Step& s) { prepare_params(s); }

const char* symbolic_param(const Builtin* b) {
    for (const ParamDef& p : b->params)
        if (p.type == APH_PARAM_SYMBOLIC_SHAPE) return p.name;
    return nullptr;
}

ValueInfo infer_builtin(const Step& s, const std::vector<const ValueInfo*>& in, bool cuda) {
    return s.builtin->infer(s, in, ops::Target{cuda});
}

void run_builtin(const Step& s, aph_stream* stream, const std::vector<aph_tensor*>& in, aph_tensor* out) {
    if (s.builtin->run == nullptr)
        throw Error::kind(APH_ERR_INTERNAL, std::string("operation ") + s.builtin->name + " does not compute");
    s.builtin->run(s, stream, in, out);
}

aph_tensor* make_view(const Step& s, aph_tensor* base) {
    if (s.builtin->view == nullptr)
        throw Error::kind(APH_ERR_INTERNAL, std::string("operation ") + s.builtin->name + " is not a view");
    return s.builtin->view(s, base);
}

std::string weight_key(const Step& s) { return arg<WeightOp, "key">(s).value_or(s.name); }

const Json& constant_value(const Step& s) { return *arg<ConstantOp, "value">(s); }

}  // namespace aph::exec
