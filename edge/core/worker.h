// One worker thread: its own loop, SO_REUSEPORT listeners, connections, route snapshot,
// handlers (with their caches) and access-log buffer. Nothing on the request path is shared
// with other workers. The worker wires the layers together: accept → transport → connection
// (http) → route → handler → write → log.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <uv.h>

#include "edge/accept/acceptor.h"
#include "edge/cache/digest_memo.h"
#include "edge/config/edge_config.h"
#include "edge/geo/geoip.h"
#include "edge/geo/ip_ranges.h"
#include "edge/http/busy_state.h"
#include "edge/http/connection.h"
#include "edge/http/connection_context.h"
#include "edge/io/io_loop.h"
#include "edge/io/object_pool.h"
#include "edge/proxy/proxy_handler.h"
#include "edge/redirect/redirect_handler.h"
#include "edge/route/router.h"
#include "edge/static/static_handler.h"
#include "edge/tls/tls_server.h"
#include "edge/transport/transport_pool.h"
#include "edge/write/page_cache.h"
#include "shared/base/intrusive_list.h"
#include "shared/route/route_table.h"

namespace berth::edge
{

// State shared by all workers; touched per connection (not per request) or by the admin path.
struct ServerShared {
    const EdgeConfig *config = nullptr;
    std::atomic<uint32_t> connections{0};
    int access_log_fd = -1;
    uv_async_t *worker_finished = nullptr; // wakes the main loop when a worker has drained
    DigestMemo digests;                    // ETags of large files, filled at cache misses
    const TlsServer *tls = nullptr;        // with a TLS listener: certificates, tickets
    const HttpsPolicy *https = nullptr;    // with a TLS listener: plain HTTP → HTTPS
    std::string hsts_line;                 // "Strict-Transport-Security: ...\r\n" or empty
    UpstreamRegistry upstreams;            // operator health marks, per-upstream counters
    const GeoIp *geo = nullptr;            // with a [geoip] database
    IpRanges trusted_proxies;              // [geoip] trusted_proxies
};

class Worker final : public Acceptor::Sink, public ConnectionOwner
{
public:
    Worker(int id, ServerShared &shared, std::vector<ListenSocket> listeners,
           std::shared_ptr<const shared::route::RouteTable> routes);
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;
    ~Worker();

    void start(); // spawns the thread
    void join();
    void request_stop(); // any thread: drain and exit the loop
    // Any thread: install a newer table; the worker swaps it between requests.
    void install_routes(std::shared_ptr<const shared::route::RouteTable> routes);
    // Any thread: waits until the worker serves `version` (or newer); false on timeout.
    bool wait_installed(uint64_t version, int timeout_ms);

    // Counters, read by the admin thread.
    const AcceptStats &accept_stats() const noexcept { return accept_stats_; }
    const ConnectionStats &connection_stats() const noexcept { return connection_stats_; }
    uint64_t batched_sends() const noexcept { return io_->sends().batched(); }
    const TlsStats &tls_stats() const noexcept { return tls_stats_; }
    bool deferring_accept_now() const noexcept { return acceptor_->deferring_now(); }
    // Any thread: the worker has drained and its loop is ending.
    bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }

    // Serves an accepted, non-blocking socket on this worker's loop (loop thread only; the
    // connection-level fuzz target uses it with a socketpair and drives the loop itself).
    void adopt(int fd, const sockaddr_storage &peer, bool tls = false) override;
    void retire(Connection &c) noexcept override;
    void defer(DeferredPump &pump) noexcept override;
    size_t connection_count() const noexcept { return connections_.size(); }
    // Connections holding buffers from the pool (the rest are idle keep-alive ones).
    size_t busy_connection_count() noexcept;
    // One loop round on the calling thread (the connection fuzz target drives it this way).
    void run_once(int max_wait_ms);

private:
    void run();
    void on_tick();
    void on_async();
    void begin_drain();
    void maybe_finish();
    void reap(); // deletes the connections closed during the round
    // Pumps deferred in the round (a streamed answer or pipeline at its round cap) go on.
    void run_deferred();

    int id_;
    ServerShared &shared_;
    const EdgeConfig &config_;
    uv_loop_t loop_;
    uv_timer_t tick_;
    uv_async_t async_;
    std::unique_ptr<IoLoop> io_; // sockets; libuv (timers, async, threadpool) nests inside
    std::unique_ptr<TransportPool> transports_;
    std::unique_ptr<Acceptor> acceptor_;
    static constexpr size_t kSpareConnections = 256; // memory of closed connections, reused
    ObjectPool<Connection> connection_memory_{kSpareConnections};
    BusyStatePool busy_states_;
    std::vector<Connection *> doomed_;
    shared::IntrusiveList<DeferredPump> deferred_;
    shared::IntrusiveList<Connection> connections_;

    std::shared_ptr<const shared::route::RouteTable> routes_;
    Router router_;
    StaticHandler static_;
    RedirectHandler redirect_;
    std::unique_ptr<ProxyHandler> proxy_; // made once the loop is up (it owns a timer)
    std::unique_ptr<GeoView> geo_;
    HandlerTable handlers_;
    PageCacheWarmer warmer_;
    DateHeader date_;
    std::unique_ptr<AccessLog> access_log_;
    AcceptStats accept_stats_;
    ConnectionStats connection_stats_;
    TlsStats tls_stats_;
    ConnectionContext ctx_;

    std::thread thread_;
    bool draining_ = false;
    std::atomic<bool> finished_{false};
    uint64_t drain_deadline_ = 0;
    std::atomic<bool> stop_requested_{false};
    std::mutex pending_mutex_; // guards pending_routes_ only (admin path, not per request)
    std::shared_ptr<const shared::route::RouteTable> pending_routes_;
    std::condition_variable installed_cv_;
    uint64_t installed_version_ = 0; // guarded by pending_mutex_
};

} // namespace berth::edge
