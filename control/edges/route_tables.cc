// Tables are built from rows, never from hand-written JSON: a schema change in shared/route
// breaks this file at compile time, and the edge's own parser is the last check (#12).
#include "control/edges/route_tables.h"

#include <stdexcept>
#include <unordered_set>

#include "control/store/audit_log.h"
#include "shared/route/route_table_hash.h"
#include "shared/route/route_table_json.h"

namespace berth::control
{

namespace route = shared::route;

Json BuiltTable::json() const
{
    return route::route_table_to_json(table);
}

std::string BuiltTable::hash() const
{
    return table_hash(table);
}

std::string table_hash(const route::RouteTable &table)
{
    return route::route_table_hash(table);
}

bool add_checked_route(std::vector<route::Route> &routes, std::vector<DroppedRoute> &dropped,
                       route::Route r, const std::string &service_id)
{
    std::string error;
    Json alone = route::route_table_to_json(route::RouteTable(1, {r}));
    auto parsed = route::route_table_from_json(alone, error);
    if (!parsed) {
        dropped.push_back({service_id, r.host, error});
        return false;
    }
    // The parser normalises hosts (case, trailing dot): compare and keep what the edge holds.
    route::Route normal = parsed->routes().front();
    for (const route::Route &have : routes)
        if (have.host == normal.host) {
            dropped.push_back({service_id, normal.host,
                               "duplicate host \"" + normal.host + "\" (already routed)"});
            return false;
        }
    routes.push_back(std::move(normal));
    return true;
}

void audit_dropped_routes(pqxx::transaction_base &w, const std::vector<DroppedRoute> &dropped)
{
    for (const auto &d : dropped)
        audit_append(w, {"routes", "ROUTE_DROPPED", "service", d.service_id,
                         Json{{"host", d.host}, {"reason", d.reason}}});
}

BuiltTable build_route_table(pqxx::transaction_base &w, const ControlConfig &config)
{
    auto version = w.exec("SELECT nextval('route_table_version')")[0][0].as<int64_t>();
    std::vector<route::Route> routes;
    BuiltTable out;
    auto add = [&](const std::string &service_id, std::string host, std::string root,
                   const std::string &deployment_id) {
        route::Route r;
        r.host = std::move(host);
        r.type = route::RouteType::kStatic;
        r.root = std::move(root);
        r.spa = true;
        // Every answer names the deployment that served it, so the health check (#16) can
        // tell the new version from an edge still serving the previous one.
        route::HeaderRule who;
        who.pattern = "/";
        who.prefix = true;
        who.headers.emplace_back(kServedByHeader, deployment_id);
        r.header_rules.push_back(std::move(who));
        return add_checked_route(routes, out.dropped, std::move(r), service_id);
    };
    // Service hosts first: a custom domain never displaces <name>.<base_domain>.
    for (const auto &r : w.exec("SELECT s.id, s.name, d.artifact_path, d.id FROM services s"
                                " JOIN deployments d ON d.id = s.live_deployment_id"
                                " WHERE d.artifact_path IS NOT NULL ORDER BY s.name"))
        if (add(r[0].as<std::string>(), r[1].as<std::string>() + "." + config.base_domain,
                r[2].as<std::string>(), r[3].as<std::string>()))
            out.served.push_back(r[3].as<std::string>());
    for (const auto &r : w.exec("SELECT dm.service_id, dm.hostname, d.artifact_path, d.id"
                                " FROM domains dm"
                                " JOIN services s ON s.id = dm.service_id"
                                " JOIN deployments d ON d.id = s.live_deployment_id"
                                " WHERE dm.verified AND d.artifact_path IS NOT NULL"
                                " ORDER BY dm.hostname"))
        add(r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
            r[3].as<std::string>());
    out.table = route::RouteTable(uint64_t(version), std::move(routes));
    std::string error;
    if (!route::route_table_from_json(out.json(), error))
        throw std::logic_error("built route table fails validation: " + error);
    return out;
}

} // namespace berth::control
