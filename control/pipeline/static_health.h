// The health_check stage of a static deployment (#16): its URL requested through an edge,
// retried a few times, judged healthy on a 2xx or 3xx answered by the new deployment.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace berth::control
{

struct StaticHealthTarget {
    std::vector<std::string> edge_addresses; // [edges] http_addresses, tried in order
    std::string host;                        // <service>.<base_domain>
    std::string path;                        // "/" or the configured health_check_path
    std::string deployment_id;               // must be what answers (X-Berth-Deployment)
    int timeout_ms = 2000;                   // per request
    int attempts = 3;                        // rounds over every address
    int retry_delay_ms = 500;
};

struct StaticHealthVerdict {
    bool healthy = false;
    // Healthy: "GET / via 127.0.0.1:8080: 200". Not: the last answer, e.g. "GET /health via
    // 127.0.0.1:8080: 404 \"<body excerpt>\"", or why no edge answered.
    std::string detail;
};

// Tries each address in order, up to `attempts` rounds with retry_delay_ms between them. An
// address that does not answer, or answers for another deployment (an edge not yet holding
// the new table), passes to the next; the first 2xx/3xx of the new deployment is healthy.
// `log` gets one line per failed try. Blocking; never throws.
StaticHealthVerdict check_static_health(const StaticHealthTarget &t,
                                        const std::function<void(const std::string &)> &log);

} // namespace berth::control
