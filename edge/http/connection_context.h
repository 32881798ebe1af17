// What a worker lends the connections on its loop: limits, clock, routes, handlers, pools and
// counters. The connection sees these and nothing else of the worker.
#pragma once

#include <cstdint>

#include <uv.h>

#include "edge/config/edge_config.h"
#include "edge/geo/geoip.h"
#include "edge/geo/ip_ranges.h"
#include "edge/http/busy_state.h"
#include "edge/http/date_header.h"
#include "edge/http/handler.h"
#include "edge/http/https_policy.h"
#include "edge/log/access_log.h"
#include "edge/route/router.h"
#include "edge/write/page_cache.h"
#include "shared/base/counter.h"
#include "shared/base/intrusive_list.h"

namespace berth::edge
{

class Connection;

struct ConnectionStats {
    shared::Counter requests;
    shared::Counter bytes_out;
    shared::Counter cold_file_reads; // file windows read into the page cache off the loop first
};

// A connection's place in its owner's list of pumps to run again after the round's events.
struct DeferredPump : shared::IntrusiveHook<DeferredPump> {
    explicit DeferredPump(Connection *c) noexcept : conn(c) {}
    Connection *conn;
};

// Who owns the connections: told when one has closed, deletes it after the loop round.
class ConnectionOwner
{
public:
    virtual void retire(Connection &c) noexcept = 0;
    // Calls c.pump_deferred() once this round's events are through (again: once).
    virtual void defer(DeferredPump &pump) noexcept = 0;

protected:
    ~ConnectionOwner() = default;
};

struct ConnectionContext {
    const EdgeConfig *config = nullptr;
    uv_loop_t *loop = nullptr; // the clock (uv_now) and the threadpool
    DateHeader *date = nullptr;
    const Router *router = nullptr;
    const shared::route::RouteTable *routes = nullptr; // the snapshot being served
    HandlerTable *handlers = nullptr;
    AccessLog *access_log = nullptr; // null: no access log
    BusyStatePool *busy = nullptr;
    PageCacheWarmer *warmer = nullptr;
    ConnectionStats *stats = nullptr;
    ConnectionOwner *owner = nullptr;
    const HttpsPolicy *https = nullptr; // plain HTTP → HTTPS redirects; null without TLS
    std::string_view hsts;              // the HSTS header line for HTTPS answers, or empty
    GeoView *geo = nullptr;             // null: no GeoIP database
    const IpRanges *trusted = nullptr;  // [geoip] trusted_proxies; null or empty: none
    bool draining = false;              // the worker is stopping: answers carry "Connection: close"

    uint64_t now_ms() const noexcept { return uv_now(loop); }
};

} // namespace berth::edge
