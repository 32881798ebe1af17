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
std::optional<RouteTable> parse_route_table(std::string_view json_text, std::string &error);
std::optional<RouteTable> route_table_from_json(const nlohmann::json &doc, std::string &error);

nlohmann::json route_table_to_json(const RouteTable &table);

// True when a relative root stays inside the deployments root (no "..", not absolute).
bool root_is_contained(std::string_view root) noexcept;

} // namespace berth::shared::route
