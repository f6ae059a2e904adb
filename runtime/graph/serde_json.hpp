// serde_json's output, byte for byte, for nlohmann::json values (docs/compat.md section 6).
//
// - compact: serde_json::to_string: no whitespace; pretty: serde_json::to_string_pretty (two
//   spaces of indent, "key": value, empty arrays and objects as [] and {}).
// - Object keys in the map's order (nlohmann's std::map: bytewise, like serde's BTreeMap).
// - Integers as integers; floats as ryu prints them (shortest round-trip digits; 1.0, 0.1,
//   1e-7, 1.5e16, 1e16, -0.0; NaN and infinities as null, as serde_json does).
// - Strings escaped as serde_json does: \" \\ \b \f \n \r \t, other control characters below
//   0x20 as \u00XX (lowercase hex), everything else (non-ASCII UTF-8, 0x7f) as is.
#pragma once

#include "../core/json.hpp"  // nlohmann/json, with its destructor made safe to run out of memory

#include <string>

namespace aph::graph {

void serde_write(std::string& out, const nlohmann::json& value, bool pretty, int indent = 0);
std::string serde_compact(const nlohmann::json& value);
std::string serde_pretty(const nlohmann::json& value);
// One double as ryu/serde_json prints it (finite values only).
std::string serde_float(double v);
void serde_string(std::string& out, const std::string& s);

// Parses JSON text, throwing APH_ERR_SERIALIZATION "serialization error: {what}: {parser
// message}" (with the byte position) on malformed input, and on arrays and objects nested more
// than 127 deep (serde_json's recursion limit). Numbers are read as serde_json reads them:
// integers stay integers (int64 or uint64), anything with a fraction or exponent is a float,
// and the integer -0 becomes the float -0.0. Never throws anything else.
nlohmann::json parse_json(std::string_view text, const char* what);

}  // namespace aph::graph
