// Model configurations and validators (header section 16; aphelion-core config.rs and
// validation.rs).
#include "graph.hpp"
#include "serde_json.hpp"

#include "../core/error.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>

namespace aph::graph {

namespace {

Error config_error(const std::string& detail) { return Error::kind(APH_ERR_INVALID_CONFIG, detail); }

// "a string", "an integer", "null".
std::string with_article(const char* type) {
    std::string t(type);
    if (t == "null") return t;
    if (t == "integer" || t == "array" || t == "object") return "an " + t;
    return "a " + t;
}

Error wrong_type(const std::string& key, const Json& value, const char* expected) {
    return config_error("parameter '" + key + "' is " + with_article(json_type_name(value)) + ", expected " +
                        with_article(expected));
}

// ---- Unicode alphanumerics (Rust's char::is_alphanumeric) --------------------------------

struct Range {
    uint32_t lo, hi;
};
constexpr Range kAlnum[] = {
#include "unicode_alnum.inc"
};

bool is_alphanumeric(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    auto it = std::upper_bound(std::begin(kAlnum), std::end(kAlnum), cp,
                               [](uint32_t c, const Range& r) { return c < r.lo; });
    if (it == std::begin(kAlnum)) return false;
    --it;
    return cp <= it->hi;
}

// Decodes one UTF-8 sequence at s[i]; returns false for invalid UTF-8 (overlong forms,
// surrogates, values past U+10FFFF, truncated sequences).
bool next_code_point(const std::string& s, size_t& i, uint32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len;
    uint32_t min;
    if (b0 < 0x80) {
        cp = b0;
        ++i;
        return true;
    } else if ((b0 & 0xE0) == 0xC0) {
        len = 2, cp = b0 & 0x1Fu, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3, cp = b0 & 0x0Fu, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4, cp = b0 & 0x07u, min = 0x10000;
    } else {
        return false;
    }
    if (i + static_cast<size_t>(len) > s.size()) return false;
    for (int k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
        if ((b & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<size_t>(len);
    return true;
}

// Rust's u32::from_str: an optional '+', then one or more ASCII digits, no overflow.
bool parses_as_u32(std::string_view part) {
    if (!part.empty() && part.front() == '+') part.remove_prefix(1);
    if (part.empty()) return false;
    uint64_t v = 0;
    for (char c : part) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > std::numeric_limits<uint32_t>::max()) return false;
    }
    return true;
}

const char* kNameEmpty = "Name cannot be empty";
const char* kNameChars = "Name must contain only alphanumeric characters, dashes, and underscores";
const char* kVersionEmpty = "Version cannot be empty";
const char* kVersionPattern = "Version must match semantic versioning pattern (e.g., 1.2.3)";

// The problem with name, or nullptr.
const char* name_problem(const std::string& name) {
    if (name.empty()) return kNameEmpty;
    size_t i = 0;
    while (i < name.size()) {
        uint32_t cp;
        if (!next_code_point(name, i, cp)) return kNameChars;
        if (!(cp == '-' || cp == '_' || is_alphanumeric(cp))) return kNameChars;
    }
    return nullptr;
}

const char* version_problem(const std::string& version) {
    if (version.empty()) return kVersionEmpty;
    // version.split('.'): at least three parts, the first three u32.
    std::vector<std::string_view> parts;
    std::string_view rest(version);
    while (true) {
        size_t dot = rest.find('.');
        parts.push_back(rest.substr(0, dot));
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
    }
    if (parts.size() < 3) return kVersionPattern;
    for (size_t k = 0; k < 3; ++k)
        if (!parses_as_u32(parts[k])) return kVersionPattern;
    return nullptr;
}

}  // namespace

const char* json_type_name(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: return "null";
        case Json::value_t::boolean: return "bool";
        case Json::value_t::number_integer: return "integer";
        case Json::value_t::number_unsigned: return "integer";
        case Json::value_t::number_float: return "number";
        case Json::value_t::string: return "string";
        case Json::value_t::array: return "array";
        case Json::value_t::object: return "object";
        case Json::value_t::binary: return "binary";
        case Json::value_t::discarded: return "discarded";
    }
    return "unknown";
}

std::string ModelConfig::to_compact_json() const {
    std::string out = "{\"name\":";
    serde_string(out, name);
    out += ",\"version\":";
    serde_string(out, version);
    out += ",\"params\":";
    serde_write(out, params, false, 0);
    out += '}';
    return out;
}

ModelConfig ModelConfig::from_json(const Json& j, const std::string& where) {
    auto fail = [&](const std::string& path, const char* problem) {
        return Error::kind(APH_ERR_SERIALIZATION, path + ": " + problem);
    };
    if (!j.is_object()) throw fail(where, "expected an object");
    ModelConfig c;
    auto name = j.find("name");
    if (name == j.end()) throw fail(where + ".name", "missing field");
    if (!name->is_string()) throw fail(where + ".name", "expected a string");
    auto version = j.find("version");
    if (version == j.end()) throw fail(where + ".version", "missing field");
    if (!version->is_string()) throw fail(where + ".version", "expected a string");
    c.name = name->get<std::string>();
    c.version = version->get<std::string>();
    auto params = j.find("params");
    if (params != j.end()) {
        if (!params->is_object()) throw fail(where + ".params", "expected an object");
        c.params = *params;
    }
    return c;
}

const Json& ModelConfig::param(const std::string& key) const {
    auto it = params.find(key);
    if (it == params.end()) throw config_error("missing parameter '" + key + "'");
    return *it;
}

int64_t ModelConfig::get_int(const std::string& key) const {
    const Json& v = param(key);
    if (v.is_number_unsigned()) {
        uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw config_error("parameter '" + key + "' is an integer out of the int64 range");
        return static_cast<int64_t>(u);
    }
    if (v.is_number_integer()) return v.get<int64_t>();
    throw wrong_type(key, v, "integer");
}

double ModelConfig::get_float(const std::string& key) const {
    const Json& v = param(key);
    if (v.is_number_float()) return v.get<double>();
    if (v.is_number_unsigned()) return static_cast<double>(v.get<uint64_t>());
    if (v.is_number_integer()) return static_cast<double>(v.get<int64_t>());
    throw wrong_type(key, v, "number");
}

bool ModelConfig::get_bool(const std::string& key) const {
    const Json& v = param(key);
    if (!v.is_boolean()) throw wrong_type(key, v, "bool");
    return v.get<bool>();
}

const std::string& ModelConfig::get_string(const std::string& key) const {
    const Json& v = param(key);
    if (!v.is_string()) throw wrong_type(key, v, "string");
    return v.get_ref<const std::string&>();
}

ModelConfig ModelConfig::preset(const std::string& preset, const std::string& name) {
    int64_t hidden, layers;
    double dropout;
    if (preset == "small") {
        hidden = 256, layers = 2, dropout = 0.1;
    } else if (preset == "medium") {
        hidden = 512, layers = 4, dropout = 0.2;
    } else if (preset == "large") {
        hidden = 1024, layers = 8, dropout = 0.3;
    } else {
        throw Error::kind(APH_ERR_NOT_FOUND,
                          "unknown preset '" + preset + "' (expected \"small\", \"medium\" or \"large\")");
    }
    ModelConfig c;
    c.name = name;
    c.version = "1.0.0";
    c.params["hidden_size"] = hidden;
    c.params["num_layers"] = layers;
    c.params["dropout"] = dropout;
    c.params["activation"] = "relu";
    return c;
}

void validate_name(const std::string& name) {
    if (const char* p = name_problem(name)) throw Error::kind(APH_ERR_VALIDATION, p);
}

void validate_version(const std::string& version) {
    if (const char* p = version_problem(version)) throw Error::kind(APH_ERR_VALIDATION, p);
}

std::vector<std::string> validate_config(const ModelConfig& config) {
    std::vector<std::string> errors;
    if (const char* p = name_problem(config.name)) errors.push_back(std::string("name: ") + p);
    if (const char* p = version_problem(config.version)) errors.push_back(std::string("version: ") + p);
    return errors;
}

}  // namespace aph::graph
