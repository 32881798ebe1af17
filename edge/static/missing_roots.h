// Static roots of a route table that are not directories on this host. An edge on another host
// than control (a fleet edge) may hold a table before the deployment's files reach it; it says
// so (routes.get, stats, its fleet acknowledgement) rather than answer 404 unnoticed.
#pragma once

#include <string>
#include <vector>

#include "shared/route/route_table.h"

namespace berth::edge
{

// Each distinct `root` of the table's static routes (root_from_label ones have none), in
// table order.
std::vector<std::string> static_roots(const shared::route::RouteTable &table);

// Each distinct `root` of the table's static routes (root_from_label ones have none) that is
// not a directory under deployments_root, in table order. Runs stat(2): never on a worker loop.
std::vector<std::string> missing_static_roots(const shared::route::RouteTable &table,
                                              const std::string &deployments_root);

// `missing` without the roots that have appeared since.
std::vector<std::string> still_missing(const std::vector<std::string> &missing,
                                       const std::string &deployments_root);

} // namespace berth::edge
