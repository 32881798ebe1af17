// Route tables as control builds them: the shared route model (shared/route), validated with
// the same code the edge runs before anything is pushed (#12, #15).
#pragma once

#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "control/base/json_util.h"
#include "control/config/control_config.h"
#include "shared/route/route_table.h"

namespace berth::control
{

// The response header every static route sets to the id of the deployment it serves.
inline constexpr const char *kServedByHeader = "X-Berth-Deployment";

// A route that was left out of a table because an edge would refuse it (or the whole table).
struct DroppedRoute {
    std::string service_id;
    std::string host;
    std::string reason; // the shared validator's message, or "duplicate host ..."
};

struct BuiltTable {
    shared::route::RouteTable table;
    std::vector<DroppedRoute> dropped;
    std::vector<std::string> served; // deployments whose <name>.<base_domain> route is in it
    Json json() const;               // route_table_to_json(table)
    std::string hash() const;        // table_hash(table)
};

// Adds `route` to `routes` when the shared validator accepts it alone and its host is not
// taken yet; otherwise records why in `dropped` and returns false. Exposed for tests.
bool add_checked_route(std::vector<shared::route::Route> &routes,
                       std::vector<DroppedRoute> &dropped, shared::route::Route route,
                       const std::string &service_id);

// The table every edge should serve: for each service its live deployment (the one being made
// ACTIVE, or the ACTIVE one), at
// <name>.<base_domain> and at each verified custom domain; version from the
// route_table_version sequence (snapshots only increase). Routes the shared validator refuses
// are left out (never the whole table); the caller records them. The whole result is checked
// once more with the shared parser and std::logic_error is thrown if it still fails.
BuiltTable build_route_table(pqxx::transaction_base &w, const ControlConfig &config);

// One ROUTE_DROPPED audit row per dropped route (actor "routes").
void audit_dropped_routes(pqxx::transaction_base &w, const std::vector<DroppedRoute> &dropped);

// SHA-256 (hex) of the canonical JSON of the table's routes, without its version: two tables
// with the same routes have the same hash. Used to compare an edge's table with the expected.
std::string table_hash(const shared::route::RouteTable &table);

} // namespace berth::control
