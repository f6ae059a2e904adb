// C API, section 20: the built-in operations as data (runtime/exec/op_schema.hpp: the very
// definitions the executor infers and runs with).
#include "../core/error.hpp"
#include "../exec/op_schema.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace {

aph_node_kind public_kind(aph::exec::Kind k) {
    switch (k) {
        case aph::exec::Kind::Input: return APH_NODE_INPUT;
        case aph::exec::Kind::Weight: return APH_NODE_WEIGHT;
        case aph::exec::Kind::Constant: return APH_NODE_CONSTANT;
        case aph::exec::Kind::Output: return APH_NODE_OUTPUT;
        case aph::exec::Kind::View: return APH_NODE_VIEW;
        case aph::exec::Kind::Compute: return APH_NODE_COMPUTE;
    }
    throw aph::Error::kind(APH_ERR_INTERNAL, "an operation of no node kind");
}

// Writes the first out->struct_size bytes of full into out (output structs: fields past
// struct_size are not written), after checking struct_size covers `name`, the first field.
template <class S>
void fill(S* out, S full, const char* type) {
    aph::require_arg(out, "out");
    if (out->struct_size < offsetof(S, name) + sizeof(const char*))
        throw aph::invalid_argument(aph::strprintf("out->struct_size is too small (set it to sizeof(%s))", type));
    full.struct_size = out->struct_size;
    std::memcpy(out, &full, std::min(out->struct_size, sizeof full));
}

const aph::exec::Builtin& builtin_at(size_t index) {
    const auto all = aph::exec::builtins();
    if (index >= all.size())
        throw aph::invalid_argument(
            aph::strprintf("index %zu is out of range (%zu built-in operations)", index, all.size()));
    return all[index];
}

aph_op_schema schema_of(const aph::exec::Builtin& b, size_t index) {
    aph_op_schema s{};
    s.name = b.name;
    s.kind = public_kind(b.kind);
    s.index = index;
    s.min_operands = b.min_operands;
    s.max_operands = b.operands.size();
    s.operand_names = b.operands.empty() ? nullptr : b.operands.data();
    s.param_count = b.params.size();
    return s;
}

}  // namespace

extern "C" {

APH_API size_t aph_op_schema_count(void) { return aph::exec::builtins().size(); }

APH_API aph_status aph_op_get_schema(size_t index, aph_op_schema* out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        const aph::exec::Builtin& b = builtin_at(index);
        fill(out, schema_of(b, index), "aph_op_schema");
    });
}

APH_API aph_status aph_op_schema_find(const char* name, aph_op_schema* out) {
    return aph::guard([&] {
        aph::require_arg(name, "name");
        aph::require_arg(out, "out");
        const auto all = aph::exec::builtins();
        for (size_t i = 0; i < all.size(); ++i) {
            if (std::strcmp(all[i].name, name) == 0) {
                fill(out, schema_of(all[i], i), "aph_op_schema");
                return;
            }
        }
        throw aph::Error::kind(APH_ERR_NOT_FOUND, aph::strprintf("built-in operation '%s'", name));
    });
}

APH_API aph_status aph_op_get_param(size_t op_index, size_t param_index, aph_op_param* out) {
    return aph::guard([&] {
        aph::require_arg(out, "out");
        const aph::exec::Builtin& b = builtin_at(op_index);
        if (param_index >= b.params.size())
            throw aph::invalid_argument(aph::strprintf("param_index %zu is out of range (%s has %zu params)",
                                                       param_index, b.name, b.params.size()));
        const aph::exec::ParamDef& p = b.params[param_index];
        aph_op_param full{};
        full.name = p.name;
        full.type = p.type;
        full.required = p.required ? 1 : 0;
        full.default_json = p.default_json;
        full.allowed_values = p.allowed.empty() ? nullptr : p.allowed.data();
        full.allowed_count = p.allowed.size();
        fill(out, full, "aph_op_param");
    });
}

}  // extern "C"
