// Route table JSON (the --routes file and the body of routes.put) ↔ RouteTable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "shared/route/route_table.h"

namespace berth::shared::route
{

// Parses and validates a whole table. On error returns nullopt and sets `error` to a precise
// message naming the offending field ("routes[2].root: escapes the deployments root").
// Unknown keys are refused by name ("routes[0].upstreams[0]: unknown key \"wieght\"") and so
// are duplicate keys in the text ("routes[0]: duplicate key \"root\"").
std::optional<RouteTable> parse_route_table(std::string_view json_text, std::string &error);
// Refuses unknown keys, but a parsed document has already lost any duplicate keys.
std::optional<RouteTable> route_table_from_json(const nlohmann::json &doc, std::string &error);

nlohmann::json route_table_to_json(const RouteTable &table);

// JSON text → document, refusing a key given twice in one object (nlohmann would keep the
// last one silently) with its place named, as in "routes[0]: duplicate key \"root\"".
std::optional<nlohmann::json> parse_json_refusing_duplicates(std::string_view json_text,
                                                             std::string &error);

// True when a relative root stays inside the deployments root (no "..", not absolute).
bool root_is_contained(std::string_view root) noexcept;

} // namespace berth::shared::route
