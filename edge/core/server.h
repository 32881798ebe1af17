// The edge process: listening sockets (one per worker, SO_REUSEPORT), route table loading,
// worker threads, and signals (SIGTERM/SIGINT: graceful stop, exit 0; SIGHUP: reopen the access
// log and reload the routes file, as logrotate and service managers expect).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "edge/accept/listen_sockets.h"
#include "edge/admin/admin_server.h"
#include "edge/admin/metrics_server.h"
#include "edge/config/edge_config.h"
#include "edge/core/worker.h"
#include "edge/fleet/route_follower.h"
#include "edge/http/https_policy.h"
#include "edge/tls/tls_server.h"

namespace berth::edge
{

class Server
{
public:
    explicit Server(EdgeConfig config);
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;
    ~Server();

    // Binds, starts the workers and blocks until a stop signal drained them. Returns the exit
    // code. Startup errors (bind, routes file) are printed and give exit code 1 (2 for config).
    int run();

private:
    // Whether workers can batch sends through io_uring; io_uring = true without it is an error.
    void probe_io_uring();
    std::shared_ptr<const shared::route::RouteTable> initial_routes();
    // Main-loop side: admin commands, stop requests, worker completion.
    std::string handle_admin(const shared::admin::AdminCommand &cmd);
    std::string put_routes(const nlohmann::json &table_json);
    // Refuses a version not above the current one, persists to state_dir, then installs in
    // every worker. Returns an empty string or what went wrong.
    std::string install_table(shared::route::RouteTable table);
    // SIGHUP: reopen the access log, re-read routes_file and the certificates; each outcome
    // is one stderr line.
    void reload();
    // With a TLS listener: certificates, session tickets (rotated on a timer), HTTPS policy.
    void setup_tls();
    // [redis] url: follow the route tables berth-control publishes (edges as a fleet).
    void start_follower();
    std::string reload_certs();
    void log_cert_report(const CertReport &report, const char *when);
    nlohmann::json stats_fields() const; // the "stats" reply's fields, also /metrics
    void find_missing_roots();           // after routes_ changed
    const std::vector<std::string> &missing_roots() const; // those still missing now
    nlohmann::json upstream_stats() const;
    std::string upstream_health(const nlohmann::json &body);
    nlohmann::json tls_stats() const;
    std::string reopen_logs();
    bool reopenable_access_log() const; // a file, not stdout
    std::string reopen_access_log();    // empty or the error
    void begin_stop(const char *why);
    void on_worker_finished();

    EdgeConfig config_;
    uv_loop_t loop_;
    uv_poll_t signal_poll_;
    uv_async_t finished_async_;
    int signal_fd_ = -1;
    bool stopping_ = false;
    bool startup_failed_ = false; // the admin socket or metrics listener could not start: exit 1
    uint64_t started_ms_ = 0;
    std::unique_ptr<AdminServer> admin_;
    std::unique_ptr<MetricsServer> metrics_;
    std::shared_ptr<const shared::route::RouteTable> routes_;
    // route_table_hash(*routes_) for the fleet acknowledgement, computed when first asked for
    // (an edge without [redis] never pays for it) and kept for that version.
    std::string routes_hash_;
    uint64_t routes_hash_version_ = 0;
    // Static roots of routes_ not on this host (edge/static/missing_roots.h): found at install,
    // rechecked whenever read, so files that arrive after their table are noticed.
    mutable std::vector<std::string> missing_roots_;
    std::unique_ptr<RouteFollower> follower_;
    ServerShared shared_;
    ListenSockets listeners_; // handed to the workers as they start
    std::string send_path_;   // "io_uring" or "sendmsg (why)", for the admin stats
    std::unique_ptr<TlsServer> tls_;
    GeoIp geo_; // opened when [geoip] database / --geoip names a file
    std::unique_ptr<HttpsPolicy> https_;
    uv_timer_t ticket_timer_;
    bool ticket_timer_on_ = false;
    std::vector<std::unique_ptr<Worker>> workers_;
};

} // namespace berth::edge
