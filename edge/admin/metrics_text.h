// The edge's counters in the Prometheus text exposition format (version 0.0.4), rendered from
// the same JSON object the admin socket's "stats" answers, so both always agree.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace berth::edge
{

// stats: the fields of a "stats" reply (workers, requests, upstreams, tls, ...).
std::string prometheus_text(const nlohmann::json &stats);

} // namespace berth::edge
