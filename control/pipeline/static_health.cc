// Why "answered by the new deployment" matters: an edge that has not taken the new route table
// yet still serves the previous version, which would pass for the new one (#16).
#include "control/pipeline/static_health.h"

#include <chrono>
#include <thread>

#include "control/pipeline/health_probe.h"

namespace berth::control
{

StaticHealthVerdict check_static_health(const StaticHealthTarget &t,
                                        const std::function<void(const std::string &)> &log)
{
    std::string last = "no edge HTTP address to request";
    for (int attempt = 1; attempt <= t.attempts; ++attempt) {
        if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(t.retry_delay_ms));
        for (const std::string &addr : t.edge_addresses) {
            std::string what = "GET " + t.path + " via " + addr;
            ProbeResponse r = http_probe(addr, t.host, t.path, t.timeout_ms);
            if (!r.error.empty()) {
                last = what + ": " + r.error;
            } else if (!r.served_by.empty() && r.served_by != t.deployment_id) {
                last = what + ": answered by deployment " + r.served_by + ", not this one";
            } else if (r.status >= 200 && r.status < 400) {
                return {true, what + ": " + std::to_string(r.status)};
            } else {
                last = what + ": " + std::to_string(r.status) +
                       (r.body_excerpt.empty() ? "" : " \"" + r.body_excerpt + "\"");
            }
            if (log)
                log("health check " + std::to_string(attempt) + "/" + std::to_string(t.attempts) +
                    ": " + last);
        }
    }
    return {false, last};
}

} // namespace berth::control
