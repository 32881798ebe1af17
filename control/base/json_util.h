// Small JSON helpers shared by the API and the store: canonical form and typed field access.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::control
{

using Json = nlohmann::json;

// Canonical JSON: keys sorted (nlohmann's object is an ordered map), no whitespace, UTF-8 as is.
// The audit hash chain hashes this form, so it must never change for a given value.
std::string canonical_json(const Json &value);

// Parses text; nullopt-like: returns a discarded value on malformed input (never throws).
Json parse_json_or_discarded(std::string_view text);

} // namespace berth::control
