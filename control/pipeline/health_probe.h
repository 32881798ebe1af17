// One HTTP/1.1 GET to an edge over TCP, bounded by a total timeout: the request the static
// health check sends through the edge (#16). Blocking; runs on a pipeline worker thread.
#pragma once

#include <string>

namespace berth::control
{

struct ProbeResponse {
    std::string error; // non-empty: no HTTP answer (refused, timeout, malformed); the rest empty
    int status = 0;    // the response's status code
    std::string served_by;    // its X-Berth-Deployment header (route_tables.cc), "" if absent
    std::string body_excerpt; // the first bytes of the body (de-chunked), control bytes as '?'
};

inline constexpr size_t kProbeExcerptBytes = 200;

// GET `path` with `Host: host` from the edge at `addr` ("IP:PORT" or "[IPv6]:PORT", numeric:
// [edges] http_addresses are checked at config load) and reads the head and up to
// kProbeExcerptBytes of the body, all within timeout_ms. Never throws; the socket is closed
// on return.
ProbeResponse http_probe(const std::string &addr, const std::string &host, const std::string &path,
                         int timeout_ms);

} // namespace berth::control
