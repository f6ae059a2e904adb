// The built-in graph operations as data (header section 20's table): for each, its name, node
// kind, operands and params, next to the functions that infer, run or view it. builtin_ops.cpp
// defines every entry from one struct per operation family, so an entry cannot lack its
// inference (or its execution, or its view) and still compile; the executor reads params only
// through these definitions (a param the schema does not list cannot be read); the C API
// (runtime/capi/op_schema.cpp) hands the same data to callers.
#pragma once

#include "../ops/infer.hpp"
#include "executor.hpp"

#include <span>
#include <vector>

namespace aph::exec {

// One param of an operation.
struct ParamDef {
    const char* name;
    aph_param_type type;
    bool required;
    // The value a node without the param gets, as JSON text (the executor parses this very text,
    // so the documented default is the one used); nullptr when the param is required, or when
    // its absence means something the node decides (a weight's key is then its name).
    const char* default_json;
    // A string param that is an enumeration: its values, the n-th being the C enum's value n.
    std::span<const char* const> allowed;
};

using Inputs = std::vector<const ValueInfo*>;

struct Builtin {
    const char* name;
    Kind kind;
    int32_t sub;  // the aph_binary_op / aph_unary_op / ... value, or 0
    size_t min_operands;
    std::span<const char* const> operands;  // every operand's name: the maximum count
    std::span<const ParamDef> params;
    // The node's output from its operands (params already checked against `params`).
    ValueInfo (*infer)(const Step& s, const Inputs& in, const ops::Target& target);
    // Compute nodes: writes the output. Views: makes the view of the operand. Else nullptr.
    void (*run)(const Step& s, aph_stream* stream, const std::vector<aph_tensor*>& in, aph_tensor* out);
    aph_tensor* (*view)(const Step& s, aph_tensor* base);
};

// Every built-in operation, in the order of header section 20's table.
std::span<const Builtin> builtins();

}  // namespace aph::exec
