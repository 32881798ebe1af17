// The content hash of a route table's routes (SHA-256, hex, of their compact JSON). Control
// compares it with what each edge holds, so both sides must compute it alike: here, once.
#pragma once

#include <string>

#include "shared/route/route_table.h"

namespace berth::shared::route
{

std::string route_table_hash(const RouteTable &table);

} // namespace berth::shared::route
