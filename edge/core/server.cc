// Startup and shutdown of the edge process.
#include "edge/core/server.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <pthread.h>
#include <sstream>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "edge/admin/metrics_text.h"
#include "edge/static/missing_roots.h"
#include "edge/tls/ktls.h"
#include "shared/base/log.h"
#include "shared/route/route_table_hash.h"
#include "shared/route/route_table_json.h"

namespace berth::edge
{

using shared::log_message;
using shared::LogLevel;

namespace
{

struct StartupError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::optional<shared::route::RouteTable> read_table(const std::string &path, bool required)
{
    std::ifstream in(path);
    if (!in) {
        if (required)
            throw StartupError("cannot read routes file " + path + ": " + strerror(errno));
        return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string error;
    auto table = shared::route::parse_route_table(text.str(), error);
    if (!table) throw StartupError(path + ": " + error);
    return table;
}

void raise_fd_limit()
{
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

} // namespace

Server::Server(EdgeConfig config) : config_(std::move(config))
{
    shared_.config = &config_;
}

Server::~Server()
{
    workers_.clear();
    for (auto &sockets : listeners_.per_worker)
        for (ListenSocket &s : sockets)
            ::close(s.fd);
}

std::shared_ptr<const shared::route::RouteTable> Server::initial_routes()
{
    std::optional<shared::route::RouteTable> table;
    if (!config_.routes_file.empty()) table = read_table(config_.routes_file, true);
    // The last table pushed to this edge wins when it is newer than the file.
    if (!config_.state_dir.empty()) {
        // A saved table this build cannot read (damaged, or written with a rule a newer
        // build refuses) must not keep the edge down: it is set aside, loudly, and the edge
        // serves the routes file (or nothing) until the control plane pushes a table.
        std::string path = config_.state_dir + "/routes.json";
        std::optional<shared::route::RouteTable> saved;
        try {
            saved = read_table(path, false);
        } catch (const StartupError &e) {
            std::string aside = path + ".invalid";
            std::error_code ec;
            std::filesystem::rename(path, aside, ec);
            log_message(LogLevel::kWarn,
                        "warning: %s; set aside as %s, serving %s until a table is pushed",
                        e.what(), ec ? "(could not rename it)" : aside.c_str(),
                        table ? config_.routes_file.c_str() : "no routes");
        }
        if (saved && (!table || saved->version() > table->version())) table = std::move(saved);
    }
    if (!table) return nullptr;
    return std::make_shared<const shared::route::RouteTable>(std::move(*table));
}

int Server::run()
{
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    try {
        if (config_.listen.empty() || config_.workers == 0) validate_edge_config(config_);
        if (!config_.state_dir.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(config_.state_dir, ec);
            if (ec)
                throw StartupError("cannot create state_dir " + config_.state_dir + ": " +
                                   ec.message());
        }
        routes_ = initial_routes();
        find_missing_roots();
        // Not fatal (a deployment may be published there later), but every host answers 404
        // until it exists: say so rather than leave an operator guessing.
        std::error_code dir_error;
        if (!config_.deployments_root.empty() &&
            !std::filesystem::is_directory(config_.deployments_root, dir_error))
            log_message(LogLevel::kWarn,
                        "warning: deployments root %s is not a directory; static routes answer "
                        "404 until it is",
                        config_.deployments_root.c_str());
        if (!config_.access_log.empty()) {
            shared_.access_log_fd = config_.access_log == "-"
                                        ? dup(STDOUT_FILENO)
                                        : open(config_.access_log.c_str(),
                                               O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
            if (shared_.access_log_fd < 0)
                throw StartupError("cannot open access log " + config_.access_log + ": " +
                                   strerror(errno));
        }
        if (std::string error = shared_.trusted_proxies.parse(config_.trusted_proxies);
            !error.empty())
            throw StartupError("[geoip] trusted_proxies: " + error);
        if (!config_.geoip_database.empty()) {
            // A missing or corrupt database is an error at startup, not a silent "no country".
            if (std::string error = geo_.open(config_.geoip_database); !error.empty())
                throw StartupError(error);
            shared_.geo = &geo_;
        }
        probe_io_uring();
        listeners_ = open_listen_sockets(config_.listen, config_.workers);
        setup_tls();
    } catch (const ListenError &e) {
        log_message(LogLevel::kError, "%s", e.what());
        return 1;
    } catch (const StartupError &e) {
        log_message(LogLevel::kError, "%s", e.what());
        return 1;
    }

    // Stop and reload signals reach no thread as a handler: they are blocked everywhere (the
    // workers inherit the mask) and read from a signalfd on the main loop.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal_fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);

    uv_loop_init(&loop_);
    started_ms_ = uv_now(&loop_);
    if (tls_) {
        // Session-ticket keys rotate on the main loop; every worker seals with the new one at
        // once and still opens tickets of the previous period.
        uv_timer_init(&loop_, &ticket_timer_);
        ticket_timer_.data = this;
        uint64_t period = uint64_t(config_.ticket_key_rotation_s) * 1000;
        uv_timer_start(
            &ticket_timer_,
            [](uv_timer_t *t) { static_cast<Server *>(t->data)->tls_->rotate_ticket_keys(); },
            period, period);
        ticket_timer_on_ = true;
    }
    uv_async_init(&loop_, &finished_async_,
                  [](uv_async_t *a) { static_cast<Server *>(a->data)->on_worker_finished(); });
    finished_async_.data = this;
    shared_.worker_finished = &finished_async_;
    uv_poll_init(&loop_, &signal_poll_, signal_fd_);
    signal_poll_.data = this;
    uv_poll_start(&signal_poll_, UV_READABLE, [](uv_poll_t *h, int, int) {
        auto *self = static_cast<Server *>(h->data);
        signalfd_siginfo info;
        while (read(self->signal_fd_, &info, sizeof info) == ssize_t(sizeof info)) {
            if (info.ssi_signo == SIGHUP)
                self->reload();
            else
                self->begin_stop(info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        }
    });

    for (unsigned w = 0; w < config_.workers; ++w) {
        workers_.push_back(std::make_unique<Worker>(int(w), shared_,
                                                    std::move(listeners_.per_worker[w]), routes_));
        listeners_.per_worker[w].clear();
    }
    for (auto &w : workers_)
        w->start();

    if (!config_.admin_socket.empty()) {
        admin_ = std::make_unique<AdminServer>(
            &loop_, [this](const shared::admin::AdminCommand &c) { return handle_admin(c); });
        try {
            std::filesystem::path parent =
                std::filesystem::path(config_.admin_socket).parent_path();
            if (!parent.empty()) std::filesystem::create_directories(parent);
            admin_->listen(config_.admin_socket);
        } catch (const std::exception &e) {
            log_message(LogLevel::kError, "%s", e.what());
            startup_failed_ = true;
            begin_stop("startup error");
        }
    }

    if (!config_.metrics_listen.empty() && !stopping_) {
        metrics_ = std::make_unique<MetricsServer>(
            &loop_, [this] { return prometheus_text(stats_fields()); });
        try {
            std::string bound =
                metrics_->listen(parse_listen_addr(config_.metrics_listen, "metrics_listen"));
            std::printf("berth-edge: metrics on http://%s/metrics\n", bound.c_str());
        } catch (const std::exception &e) {
            log_message(LogLevel::kError, "%s", e.what());
            startup_failed_ = true;
            begin_stop("startup error");
        }
    }

    if (!config_.redis_url.empty() && !stopping_) start_follower();

    // Announce readiness only now: when this line is out, the admin socket answers too.
    for (size_t i = 0; i < listeners_.bound.size() && !startup_failed_; ++i)
        std::printf("berth-edge: listening on %s://%s\n", config_.listen[i].tls ? "https" : "http",
                    listeners_.bound[i].c_str());
    std::fflush(stdout);

    uv_run(&loop_, UV_RUN_DEFAULT);
    for (auto &w : workers_)
        w->join();
    workers_.clear();
    uv_loop_close(&loop_);
    ::close(signal_fd_);
    if (shared_.access_log_fd >= 0) ::close(shared_.access_log_fd);
    log_message(LogLevel::kInfo, "stopped");
    return startup_failed_ ? 1 : 0;
}

void Server::begin_stop(const char *why)
{
    if (stopping_) return;
    stopping_ = true;
    log_message(LogLevel::kInfo, "%s, draining connections", why);
    for (auto &w : workers_)
        w->request_stop();
    on_worker_finished(); // no workers (startup error): finish at once
}

void Server::on_worker_finished()
{
    if (!stopping_) return;
    for (auto &w : workers_)
        if (!w->finished()) return;
    // Every worker drained: close the main loop's handles so uv_run returns.
    if (admin_) admin_->close();
    if (metrics_) metrics_->close();
    if (follower_) follower_->close();
    if (ticket_timer_on_) uv_close(reinterpret_cast<uv_handle_t *>(&ticket_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t *>(&signal_poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t *>(&finished_async_), nullptr);
}

std::string Server::handle_admin(const shared::admin::AdminCommand &cmd)
{
    using shared::admin::error_reply;
    using shared::admin::ok_reply;
    if (cmd.cmd == "ping") return ok_reply({{"pong", true}, {"pid", getpid()}});
    if (cmd.cmd == "stats") return ok_reply(stats_fields());
    if (cmd.cmd == "routes.get") {
        if (!routes_) return ok_reply({{"version", 0}, {"table", nullptr}});
        return ok_reply({{"version", routes_->version()},
                         {"table", shared::route::route_table_to_json(*routes_)},
                         {"missing_roots", missing_roots()}});
    }
    if (cmd.cmd == "routes.put") return put_routes(cmd.body.at("table"));
    if (cmd.cmd == "logs.reopen") return reopen_logs();
    if (cmd.cmd == "drain") {
        begin_stop("drain requested on the admin socket");
        return ok_reply({{"draining", true}});
    }
    if (cmd.cmd == "upstream.health") return upstream_health(cmd.body);
    if (cmd.cmd == "certs.reload") return reload_certs();
    if (cmd.cmd == "tickets.rotate") {
        if (!tls_) return error_reply("tickets.rotate: this edge has no TLS listener");
        tls_->rotate_ticket_keys();
        return ok_reply({{"rotations", tls_->ticket_rotations()}});
    }
    return error_reply("unknown command \"" + cmd.cmd + "\"");
}

std::string Server::put_routes(const nlohmann::json &table_json)
{
    std::string error;
    auto table = shared::route::route_table_from_json(table_json, error);
    if (!table) return shared::admin::error_reply("invalid route table: " + error);
    error = install_table(std::move(*table));
    if (!error.empty()) return shared::admin::error_reply(error);
    return shared::admin::ok_reply({{"version", routes_->version()},
                                    {"routes", routes_->routes().size()},
                                    {"missing_roots", missing_roots()}});
}

void Server::find_missing_roots()
{
    missing_roots_.clear();
    if (!routes_ || config_.deployments_root.empty()) return;
    missing_roots_ = missing_static_roots(*routes_, config_.deployments_root);
    if (missing_roots_.empty()) return;
    std::string some;
    for (size_t i = 0; i < missing_roots_.size() && i < 3; ++i)
        some += (i ? ", " : "") + missing_roots_[i];
    if (missing_roots_.size() > 3) some += ", ...";
    log_message(LogLevel::kWarn,
                "route table version %llu: %zu static root(s) are not directories under %s (%s); "
                "those hosts answer 404 until the files arrive",
                (unsigned long long)routes_->version(), missing_roots_.size(),
                config_.deployments_root.c_str(), some.c_str());
}

const std::vector<std::string> &Server::missing_roots() const
{
    if (missing_roots_.empty()) return missing_roots_;
    missing_roots_ = still_missing(missing_roots_, config_.deployments_root);
    if (missing_roots_.empty())
        log_message(LogLevel::kInfo, "route table version %llu: every static root is present now",
                    (unsigned long long)routes_->version());
    return missing_roots_;
}

std::string Server::install_table(shared::route::RouteTable table)
{
    if (routes_ && table.version() <= routes_->version())
        return "version " + std::to_string(table.version()) + " is not above the current version " +
               std::to_string(routes_->version());
    auto next = std::make_shared<const shared::route::RouteTable>(std::move(table));
    if (!config_.state_dir.empty()) {
        // Persist before installing: a restart must serve what was acknowledged.
        std::string path = config_.state_dir + "/routes.json", tmp = path + ".tmp";
        std::string text = shared::route::route_table_to_json(*next).dump(2) + "\n";
        int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, text.data(), text.size()) == ssize_t(text.size()) &&
                  fsync(fd) == 0;
        int saved = errno;
        if (fd >= 0) ::close(fd);
        if (ok && rename(tmp.c_str(), path.c_str()) != 0) {
            ok = false;
            saved = errno;
        }
        if (!ok)
            return "cannot persist the route table in " + config_.state_dir + ": " +
                   strerror(saved);
        // The rename itself survives a power cut only once the directory is on disk too.
        int dir = open(config_.state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {
            fsync(dir);
            ::close(dir);
        }
    }
    routes_ = next;
    find_missing_roots();
    for (auto &w : workers_)
        w->install_routes(next);
    // Acknowledge only once every worker serves the new table: a caller that pushes and then
    // probes must never see the old routes. Swaps take microseconds; the bound is for a stuck loop.
    bool all = true;
    for (auto &w : workers_)
        all &= w->wait_installed(next->version(), 2000);
    if (follower_) follower_->acknowledge();
    return all ? "" : "table persisted but not yet installed by every worker";
}

void Server::start_follower()
{
    RouteFollower::Settings settings;
    settings.url = shared::config::parse_redis_url(config_.redis_url); // checked at load
    settings.prefix = config_.redis_prefix;
    settings.name = config_.redis_name;
    if (settings.name.empty()) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        settings.name = host[0] ? host : "edge";
    }
    settings.heartbeat_ms = config_.redis_heartbeat_ms;
    settings.fetch_files = config_.redis_fetch_files;
    settings.deployments_root = config_.deployments_root;
    settings.state_dir = config_.state_dir;
    settings.signing_key = config_.redis_signing_key;
    settings.keep_fetched_ms = config_.redis_keep_fetched_ms;
    RouteFollower::Hooks hooks;
    hooks.version = [this] { return routes_ ? routes_->version() : uint64_t(0); };
    hooks.hash = [this] {
        if (!routes_) return std::string();
        if (routes_hash_version_ != routes_->version()) {
            routes_hash_ = shared::route::route_table_hash(*routes_);
            routes_hash_version_ = routes_->version();
        }
        return routes_hash_;
    };
    hooks.missing_roots = [this] { return missing_roots(); };
    hooks.static_roots = [this] {
        return routes_ ? static_roots(*routes_) : std::vector<std::string>{};
    };
    hooks.missing_in = [this](const shared::route::RouteTable &table) {
        return missing_static_roots(table, config_.deployments_root);
    };
    hooks.install = [this](shared::route::RouteTable table) {
        return install_table(std::move(table));
    };
    follower_ = std::make_unique<RouteFollower>(&loop_, std::move(settings), std::move(hooks));
    follower_->start();
}

std::string Server::upstream_health(const nlohmann::json &body)
{
    using shared::admin::error_reply;
    // {"host": route host, "addr": upstream, "healthy": bool} (DESIGN.md; the protocol
    // parser has checked the types).
    auto text = [&body](const char *k) -> std::string {
        return body.contains(k) && body.at(k).is_string() ? body.at(k).get<std::string>() : "";
    };
    std::string host = text("host"), addr = text("addr");
    if (host.empty()) return error_reply("upstream.health: needs \"host\" (the route's host)");
    if (addr.empty()) return error_reply("upstream.health: needs \"addr\" (host:port)");
    if (!body.contains("healthy") || !body.at("healthy").is_boolean())
        return error_reply("upstream.health: \"healthy\" must be true or false");
    for (char &c : host)
        if (c >= 'A' && c <= 'Z') c = char(c | 0x20);
    const shared::route::Route *route = nullptr;
    if (routes_)
        for (const shared::route::Route &r : routes_->routes())
            if (r.host == host) route = &r;
    if (!route || route->type != shared::route::RouteType::kProxy)
        return error_reply("upstream.health: no proxy route for host \"" + host + "\"");
    bool known = false;
    for (const shared::route::Upstream &u : route->upstreams)
        known |= u.addr == addr;
    if (!known) return error_reply("upstream.health: " + addr + " is not an upstream of " + host);
    bool healthy = body.at("healthy").get<bool>();
    shared_.upstreams.mark(host, addr, healthy);
    log_message(LogLevel::kInfo, "upstream.health: %s %s marked %s", host.c_str(), addr.c_str(),
                healthy ? "healthy" : "unhealthy");
    return shared::admin::ok_reply({{"host", host}, {"addr", addr}, {"healthy", healthy}});
}

nlohmann::json Server::upstream_stats() const
{
    // Summed over workers per address; the operator's marks listed by route host.
    struct Sum {
        uint64_t requests = 0, retries = 0, status[5] = {}, failures[kUpstreamFailures] = {};
        uint64_t open = 0, idle = 0, in_flight = 0, ejected_workers = 0;
        int resolve_status = 0; // a worker's last failed resolution of the name
    };
    std::map<std::string, Sum> sums;
    shared_.upstreams.for_each_stats([&sums](const UpstreamStats &s) {
        Sum &x = sums[s.addr];
        x.requests += s.requests.get();
        x.retries += s.retries.get();
        for (size_t i = 0; i < 5; ++i)
            x.status[i] += s.status[i].get();
        for (size_t i = 0; i < kUpstreamFailures; ++i)
            x.failures[i] += s.failures[i].get();
        x.open += s.open.load(std::memory_order_relaxed);
        x.idle += s.idle.load(std::memory_order_relaxed);
        x.in_flight += s.in_flight.load(std::memory_order_relaxed);
        x.ejected_workers += s.ejected.load(std::memory_order_relaxed);
        if (int r = s.resolve_status.load(std::memory_order_relaxed)) x.resolve_status = r;
    });
    auto marks = shared_.upstreams.marks();
    nlohmann::json out = nlohmann::json::array();
    for (const auto &[addr, x] : sums) {
        nlohmann::json status = nlohmann::json::object(), failures = nlohmann::json::object();
        for (size_t i = 0; i < 5; ++i)
            status[std::to_string(i + 1) + "xx"] = x.status[i];
        for (size_t i = 0; i < kUpstreamFailures; ++i)
            failures[failure_name(UpstreamFailure(i))] = x.failures[i];
        nlohmann::json marked = nlohmann::json::object();
        bool down = false;
        for (const auto &[key, healthy] : marks)
            if (key.second == addr) {
                marked[key.first] = healthy;
                down |= !healthy;
            }
        const char *health = down                ? "marked_down"
                             : x.resolve_status  ? "unresolved"
                             : x.ejected_workers ? "ejected"
                                                 : "healthy";
        out.push_back({{"addr", addr},
                       {"requests", x.requests},
                       {"retries", x.retries},
                       {"status", status},
                       {"failures", failures},
                       {"open_connections", x.open},
                       {"idle_connections", x.idle},
                       {"in_flight", x.in_flight},
                       {"ejected_workers", x.ejected_workers},
                       {"marks", marked},
                       {"health", health}});
        if (x.resolve_status) out.back()["resolve_error"] = uv_strerror(x.resolve_status);
    }
    return out;
}

void Server::reload()
{
    if (tls_) log_cert_report(tls_->reload(), "SIGHUP");
    if (shared_.geo) {
        // A database that fails to open keeps the old one serving.
        std::string error = geo_.reload();
        if (error.empty())
            log_message(LogLevel::kInfo, "SIGHUP: GeoIP database %s reopened", geo_.path().c_str());
        else
            log_message(LogLevel::kError, "SIGHUP: %s; the previous GeoIP database stays",
                        error.c_str());
    }
    if (!reopenable_access_log() && config_.routes_file.empty()) {
        log_message(LogLevel::kInfo, "SIGHUP: no access log file or routes file to reload");
        return;
    }
    if (reopenable_access_log()) {
        std::string error = reopen_access_log();
        if (error.empty())
            log_message(LogLevel::kInfo, "SIGHUP: access log %s reopened",
                        config_.access_log.c_str());
        else
            log_message(LogLevel::kError, "SIGHUP: %s", error.c_str());
    }
    if (config_.routes_file.empty()) return;
    std::string error;
    try {
        auto table = read_table(config_.routes_file, true);
        error = install_table(std::move(*table));
    } catch (const StartupError &e) {
        error = e.what();
    }
    if (error.empty())
        log_message(LogLevel::kInfo, "SIGHUP: route table version %llu from %s installed",
                    (unsigned long long)routes_->version(), config_.routes_file.c_str());
    else
        log_message(LogLevel::kError, "SIGHUP: %s; the current route table stays", error.c_str());
}

void Server::probe_io_uring()
{
    // Workers batch their sends through io_uring where the kernel allows a ring (a
    // container's seccomp profile or kernel.io_uring_disabled may forbid it). Find out once
    // here: "true" must fail at startup with the reason, "auto" says what it falls back to.
    SendBatch probe(config_.io_uring != AutoSwitch::kOff);
    send_path_ = probe.describe();
    if (probe.enabled() || config_.io_uring == AutoSwitch::kOff) return;
    if (config_.io_uring == AutoSwitch::kOn)
        throw StartupError("io_uring = true, but " + send_path_);
    log_message(LogLevel::kWarn, "sending with %s", send_path_.c_str());
}

nlohmann::json Server::stats_fields() const
{
    uint64_t requests = 0, accepted = 0, rejected = 0, bytes = 0, deferring = 0, cold = 0,
             batched = 0;
    for (auto &w : workers_) {
        deferring += w->deferring_accept_now();
        requests += w->connection_stats().requests.get();
        accepted += w->accept_stats().accepted.get();
        rejected += w->accept_stats().rejected_over_cap.get();
        bytes += w->connection_stats().bytes_out.get();
        cold += w->connection_stats().cold_file_reads.get();
        batched += w->batched_sends();
    }
    return nlohmann::json(
        {{"workers", workers_.size()},
         {"connections", shared_.connections.load()},
         {"requests", requests},
         {"accepted", accepted},
         {"rejected_over_cap", rejected},
         {"defer_accept_workers", deferring},
         {"bytes_out", bytes},
         {"cold_file_reads", cold},
         {"send_path", send_path_},
         {"batched_sends", batched},
         {"routes_version", routes_ ? routes_->version() : 0},
         {"missing_roots", missing_roots()},
         {"tls", tls_stats()},
         {"upstreams", upstream_stats()},
         {"geoip", shared_.geo ? nlohmann::json(geo_.path()) : nlohmann::json(nullptr)},
         {"fleet", follower_ ? follower_->stats() : nlohmann::json(nullptr)},
         {"draining", stopping_},
         {"uptime_ms", uv_now(const_cast<uv_loop_t *>(&loop_)) - started_ms_}});
}

std::string Server::reopen_logs()
{
    if (!reopenable_access_log()) return shared::admin::ok_reply({{"reopened", false}});
    std::string error = reopen_access_log();
    if (!error.empty()) return shared::admin::error_reply(error);
    return shared::admin::ok_reply({{"reopened", true}});
}

bool Server::reopenable_access_log() const
{
    return !config_.access_log.empty() && config_.access_log != "-";
}

std::string Server::reopen_access_log()
{
    int fd = open(config_.access_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return "cannot reopen " + config_.access_log + ": " + strerror(errno);
    // dup2 swaps the file under the descriptor every worker writes to, atomically.
    dup2(fd, shared_.access_log_fd);
    ::close(fd);
    return "";
}

namespace
{

nlohmann::json certificate_json(const CertInfo &c)
{
    char when[32] = "";
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&c.not_after));
    nlohmann::json j{
        {"name", c.name}, {"file", c.cert_file}, {"key_type", c.key_type}, {"not_after", when}};
    if (c.kept) j["kept_previous"] = true;
    return j;
}

nlohmann::json report_json(const CertReport &report)
{
    nlohmann::json loaded = nlohmann::json::array(), refused = nlohmann::json::array();
    for (const CertInfo &c : report.loaded)
        loaded.push_back(certificate_json(c));
    for (const CertProblem &p : report.refused)
        refused.push_back({{"file", p.file}, {"reason", p.reason}});
    return {{"loaded", loaded}, {"refused", refused}};
}

} // namespace

void Server::setup_tls()
{
    uint16_t https_port = 0;
    for (size_t i = 0; i < config_.listen.size(); ++i)
        if (config_.listen[i].tls && !https_port) https_port = listeners_.ports[i];
    if (!https_port) return; // no TLS listener: certificates are not read
    CertSources sources;
    sources.default_cert = config_.default_cert;
    sources.certs_dir = config_.certs_dir;
    for (size_t i = 0; i < config_.tls_certs.size(); ++i)
        sources.pairs.emplace_back(config_.tls_certs[i], config_.tls_keys[i]);
    CertReport report;
    tls_ = std::make_unique<TlsServer>(std::move(sources), config_.session_cache_size, report);
    log_cert_report(report, "TLS");
    if (report.loaded.empty())
        throw StartupError("the TLS listener has no certificate to serve (see the refusals above)");
    https_ = std::make_unique<HttpsPolicy>(config_.redirect_http, https_port);
    shared_.tls = tls_.get();
    shared_.https = https_.get();
    if (config_.hsts)
        shared_.hsts_line =
            "Strict-Transport-Security: max-age=" + std::to_string(config_.hsts_max_age) +
            (config_.hsts_include_subdomains ? "; includeSubDomains" : "") + "\r\n";
}

void Server::log_cert_report(const CertReport &report, const char *when)
{
    for (const CertProblem &p : report.refused)
        log_message(LogLevel::kWarn, "%s: certificate %s refused: %s", when, p.file.c_str(),
                    p.reason.c_str());
    log_message(LogLevel::kInfo, "%s: %zu certificate(s) loaded, %zu refused", when,
                report.loaded.size(), report.refused.size());
}

std::string Server::reload_certs()
{
    if (!tls_) return shared::admin::error_reply("certs.reload: this edge has no TLS listener");
    CertReport report = tls_->reload();
    log_cert_report(report, "certs.reload");
    return shared::admin::ok_reply(report_json(report));
}

nlohmann::json Server::tls_stats() const
{
    if (!tls_) return nullptr;
    uint64_t full = 0, resumed = 0, failed[kHandshakeFailures] = {};
    for (auto &w : workers_) {
        full += w->tls_stats().full.get();
        resumed += w->tls_stats().resumed.get();
        for (size_t i = 0; i < kHandshakeFailures; ++i)
            failed[i] += w->tls_stats().failed[i].get();
    }
    nlohmann::json failures = nlohmann::json::object();
    for (size_t i = 0; i < kHandshakeFailures; ++i)
        failures[handshake_failure_name(HandshakeFailure(i))] = failed[i];
    nlohmann::json certs = nlohmann::json::array();
    for (const CertInfo &c : tls_->store()->certificates())
        certs.push_back(certificate_json(c));
    return {{"handshakes", {{"full", full}, {"resumed", resumed}, {"failed", failures}}},
            {"certificates", certs},
            {"ticket_key_rotations", tls_->ticket_rotations()},
            {"ktls", ktls_status()}};
}

} // namespace berth::edge
