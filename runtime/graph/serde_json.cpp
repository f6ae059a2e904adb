// serde_json's output, byte for byte, for nlohmann::json values (see serde_json.hpp).
#include "serde_json.hpp"

#include "../core/error.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace aph::graph {

namespace {

// How serde_json writes a positive decimal exponent. serde_json up to 1.0.146 formatted floats
// with the ryu crate ("1e16"); from 1.0.147 on it uses the zmij crate, which writes the sign
// ("1e+16"), with the same digits and the same switch points between plain and exponent form.
// aphelion-framework-rs pins serde_json 1.0.149 (zmij 1.0.17) in its Cargo.lock, so its hashes
// contain "e+": that is what libaphelion reproduces. Negative exponents are "e-7" in both.
constexpr bool kPlusOnPositiveExponent = true;

// serde_json's recursion limit is 128 nested arrays/objects (it fails at the 128th); the
// printers below recurse, so parsed documents are held to the same bound.
constexpr int kMaxDepth = 127;

void indent_to(std::string& out, int level) { out.append(static_cast<size_t>(level) * 2, ' '); }

// serde_json reads the integer "-0" as the float -0.0 (and writes it back as "-0.0"), where
// nlohmann reads the integer 0. Returns text with each such token spelled "-0.0", or an empty
// string when there is none (the usual case: no copy).
std::string negative_zeros_as_floats(std::string_view text) {
    std::string fixed;
    size_t copied = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '0') {
            const char after = i + 2 < text.size() ? text[i + 2] : ' ';
            if ((after >= '0' && after <= '9') || after == '.' || after == 'e' || after == 'E') continue;
            fixed.append(text.substr(copied, i + 2 - copied));
            fixed += ".0";
            copied = i + 2;
        }
    }
    if (copied == 0) return {};
    fixed.append(text.substr(copied));
    return fixed;
}

}  // namespace

std::string serde_float(double v) {
    if (!std::isfinite(v)) return "null";
    if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";

    // The shortest round-trip digits, as d.ddde±x (std::to_chars picks the digits closest to v
    // among the shortest, as ryu and zmij do).
    char sci[64];
    auto res = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
    std::string_view s(sci, static_cast<size_t>(res.ptr - sci));

    std::string out;
    if (s.front() == '-') {
        out.push_back('-');
        s.remove_prefix(1);
    }
    size_t epos = s.find('e');
    std::string digits;
    for (char c : s.substr(0, epos))
        if (c != '.') digits.push_back(c);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    int exp = std::atoi(std::string(s.substr(epos + 1)).c_str());  // exponent of the first digit
    const int n = static_cast<int>(digits.size());

    if (exp >= -5 && exp <= 15) {
        if (n - 1 <= exp) {
            // 1234e7 -> 12340000000.0
            out += digits;
            out.append(static_cast<size_t>(exp - (n - 1)), '0');
            out += ".0";
        } else if (exp >= 0) {
            // 1234e-2 -> 12.34
            out.append(digits, 0, static_cast<size_t>(exp + 1));
            out.push_back('.');
            out.append(digits, static_cast<size_t>(exp + 1), std::string::npos);
        } else {
            // 1234e-6 -> 0.001234
            out += "0.";
            out.append(static_cast<size_t>(-exp - 1), '0');
            out += digits;
        }
        return out;
    }
    // 1234e30 -> 1.234e+33 ; 1e-7
    out.push_back(digits[0]);
    if (n > 1) {
        out.push_back('.');
        out.append(digits, 1, std::string::npos);
    }
    out.push_back('e');
    if (exp < 0) {
        out.push_back('-');
        exp = -exp;
    } else if (kPlusOnPositiveExponent) {
        out.push_back('+');
    }
    out += std::to_string(exp);
    return out;
}

void serde_string(std::string& out, const std::string& s) {
    static const char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(kHex[c >> 4]);
                    out.push_back(kHex[c & 0xF]);
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

void serde_write(std::string& out, const nlohmann::json& value, bool pretty, int indent) {
    using T = nlohmann::json::value_t;
    switch (value.type()) {
        case T::null:
        case T::discarded:
        case T::binary:  // never produced by the parser or the setters
            out += "null";
            return;
        case T::boolean: out += value.get<bool>() ? "true" : "false"; return;
        case T::number_integer: out += std::to_string(value.get<int64_t>()); return;
        case T::number_unsigned: out += std::to_string(value.get<uint64_t>()); return;
        case T::number_float: out += serde_float(value.get<double>()); return;
        case T::string: serde_string(out, value.get_ref<const std::string&>()); return;
        case T::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& item : value) {
                if (!first) out.push_back(',');
                if (pretty) {
                    out.push_back('\n');
                    indent_to(out, indent + 1);
                }
                serde_write(out, item, pretty, indent + 1);
                first = false;
            }
            if (pretty && !first) {
                out.push_back('\n');
                indent_to(out, indent);
            }
            out.push_back(']');
            return;
        }
        case T::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& [key, item] : value.items()) {
                if (!first) out.push_back(',');
                if (pretty) {
                    out.push_back('\n');
                    indent_to(out, indent + 1);
                }
                serde_string(out, key);
                out += pretty ? ": " : ":";
                serde_write(out, item, pretty, indent + 1);
                first = false;
            }
            if (pretty && !first) {
                out.push_back('\n');
                indent_to(out, indent);
            }
            out.push_back('}');
            return;
        }
    }
    out += "null";
}

std::string serde_compact(const nlohmann::json& value) {
    std::string out;
    serde_write(out, value, false, 0);
    return out;
}

std::string serde_pretty(const nlohmann::json& value) {
    std::string out;
    serde_write(out, value, true, 0);
    return out;
}

nlohmann::json parse_json(std::string_view text, const char* what) {
    struct TooDeep {
        size_t depth;
    };
    try {
        // The callback sees every value as it is parsed; depth counts enclosing containers.
        auto depth_check = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
            if ((event == nlohmann::json::parse_event_t::object_start ||
                 event == nlohmann::json::parse_event_t::array_start) &&
                depth >= kMaxDepth)
                throw TooDeep{static_cast<size_t>(depth) + 1};
            return true;
        };
        const std::string fixed = negative_zeros_as_floats(text);
        if (!fixed.empty()) return nlohmann::json::parse(fixed.begin(), fixed.end(), depth_check);
        return nlohmann::json::parse(text.begin(), text.end(), depth_check);
    } catch (const TooDeep&) {
        throw Error::kind(APH_ERR_SERIALIZATION,
                          strprintf("%s: arrays and objects nested deeper than %d levels", what, kMaxDepth));
    } catch (const nlohmann::json::parse_error& e) {
        // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column 5:
        // syntax error while parsing value - ..."; keep what follows the position.
        std::string detail = e.what();
        size_t col = detail.find("column ");
        size_t colon = col == std::string::npos ? std::string::npos : detail.find(": ", col);
        if (colon != std::string::npos) {
            detail.erase(0, colon + 2);
        } else {
            size_t bracket = detail.find("] ");
            if (bracket != std::string::npos) detail.erase(0, bracket + 2);
        }
        throw Error::kind(APH_ERR_SERIALIZATION, strprintf("%s: parse error at byte %zu: %s", what,
                                                           static_cast<size_t>(e.byte), detail.c_str()));
    } catch (const nlohmann::json::exception& e) {
        // E.g. "[json.exception.out_of_range.406] number overflow parsing '1e400'".
        std::string detail = e.what();
        size_t bracket = detail.find("] ");
        if (bracket != std::string::npos) detail.erase(0, bracket + 2);
        throw Error::kind(APH_ERR_SERIALIZATION, strprintf("%s: %s", what, detail.c_str()));
    }
}

}  // namespace aph::graph
