// Small JSON helpers shared by the API and the store: canonical form and typed field access.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::control
{

using Json = nlohmann::json;

// Canonical JSON: keys sorted (nlohmann's object is an ordered map), no whitespace, UTF-8 as is.
// The audit hash chain hashes this form, so it must never change for a given value.
std::string canonical_json(const Json &value);

// Nesting deeper than this is refused: no API body or webhook payload needs more.
inline constexpr int kMaxJsonDepth = 64;

// True when no array/object in text nests deeper than max_depth (a scan, no parse).
bool json_depth_within(std::string_view text, int max_depth) noexcept;

// Parses text; returns a discarded value on malformed or too deeply nested input (never
// throws).
Json parse_json_or_discarded(std::string_view text);

// A PostgreSQL array literal of texts ('{"a","b\\"c"}'), for a $n::text[] parameter.
std::string pg_text_array(const std::vector<std::string> &items);

} // namespace berth::control
