// The process-wide registry of custom graph operations (header section 20).
#include "executor.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

namespace aph::exec {

CustomOp::~CustomOp() {
    if (op.destroy != nullptr) invoke_callback([this] { op.destroy(op.user_data); });
}

namespace {

std::mutex g_mutex;
std::map<std::string, std::shared_ptr<CustomOp>>& registry() {
    static auto* r = new std::map<std::string, std::shared_ptr<CustomOp>>();  // never destroyed:
    return *r;  // user callbacks must not run from static destructors at exit
}

}  // namespace

void register_custom(const aph_custom_op* op) {
    require_arg(op, "op");
    // Required: name, infer and cpu; cuda, user_data and destroy past struct_size are NULL.
    if (op->struct_size < offsetof(aph_custom_op, cpu) + sizeof op->cpu)
        throw invalid_argument("op->struct_size is too small (set it to sizeof(aph_custom_op))");
    require_arg(op->name, "op->name");
    const std::string name = op->name;
    if (name.empty()) throw invalid_argument("op->name must not be empty");
    if (is_builtin_name(name))
        throw invalid_argument("op->name '" + name + "' is a built-in operation; choose another name");
    if (op->infer == nullptr) throw invalid_argument("op->infer must not be NULL");
    if (op->cpu == nullptr) throw invalid_argument("op->cpu must not be NULL");
    auto entry = std::make_shared<CustomOp>();
    entry->name = name;
    std::memcpy(&entry->op, op, std::min(op->struct_size, sizeof(aph_custom_op)));
    entry->op.struct_size = sizeof(aph_custom_op);
    entry->op.name = entry->name.c_str();
    std::shared_ptr<CustomOp> old;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        auto& slot = registry()[name];
        old = std::move(slot);
        slot = std::move(entry);
    }
    // old's destroy (if this was its last user) runs here, outside the lock.
}

void unregister_custom(const char* name) {
    require_arg(name, "name");
    std::shared_ptr<CustomOp> old;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        auto it = registry().find(name);
        if (it == registry().end())
            throw Error::kind(APH_ERR_NOT_FOUND, std::string("no custom operation is registered as '") + name + "'");
        old = std::move(it->second);
        registry().erase(it);
    }
}

std::shared_ptr<CustomOp> find_custom(const std::string& name) {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = registry().find(name);
    return it == registry().end() ? nullptr : it->second;
}

}  // namespace aph::exec
