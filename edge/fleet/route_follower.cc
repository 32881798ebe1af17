// Both connections are opened together and dropped together: one state to reason about.
// Commands are pipelined from the start (hiredis queues them until the connection is up), so
// AUTH, SELECT, SUBSCRIBE and the first version check leave in one round trip.
#include "edge/fleet/route_follower.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <unistd.h>
#include <utility>
#include <vector>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "edge/fleet/hiredis_uv.h"
#include "shared/base/log.h"
#include "shared/fleet/signature.h"
#include "shared/route/route_table_json.h"

namespace berth::edge
{

using shared::log_message;
using shared::LogLevel;

namespace
{

constexpr uint64_t kMaxBackoffMs = 5000;
constexpr uint64_t kConnectTimeoutMs = 5000;
constexpr uint64_t kArchiveWaitMs = 10 * 60 * 1000;

std::string reply_text(const redisReply *r)
{
    return r && r->str ? std::string(r->str, r->len) : std::string();
}

// A decimal version as Redis stores it; 0 for anything else.
uint64_t parse_version(const std::string &s)
{
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos)
        return 0;
    return std::strtoull(s.c_str(), nullptr, 10);
}

uint64_t unix_ms()
{
    using namespace std::chrono;
    return uint64_t(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

} // namespace

RouteFollower::RouteFollower(uv_loop_t *loop, Settings settings, Hooks hooks)
    : loop_(loop), settings_(std::move(settings)), hooks_(std::move(hooks)),
      routes_key_(settings_.prefix + ":routes"),
      edge_key_(settings_.prefix + ":edge:" + settings_.name),
      edges_key_(settings_.prefix + ":edges")
{
    std::random_device rd;
    char id[17];
    std::snprintf(id, sizeof id, "%08x%08x", rd(), rd());
    instance_ = id;
    if (settings_.fetch_files)
        fetcher_ = std::make_unique<DeploymentFetcher>(
            loop, settings_.deployments_root, settings_.state_dir, settings_.keep_fetched_ms,
            settings_.signing_key, settings_.prefix + ":files:",
            [this](std::initializer_list<std::string> argv) { send(cmd_, Step::kFiles, argv); });
}

RouteFollower::~RouteFollower()
{
    // close() ran on the loop before it stopped; without start() there is nothing to free.
    drop_contexts();
}

void RouteFollower::start()
{
    if (started_) return;
    started_ = true;
    for (uv_timer_t *t : {&retry_timer_, &heartbeat_timer_, &connect_timer_}) {
        uv_timer_init(loop_, t);
        t->data = this;
    }
    uv_timer_start(
        &heartbeat_timer_,
        [](uv_timer_t *t) { static_cast<RouteFollower *>(t->data)->heartbeat(); },
        settings_.heartbeat_ms, settings_.heartbeat_ms);
    connect();
}

void RouteFollower::close()
{
    if (!started_ || closing_) return;
    closing_ = true;
    if (resolving_) uv_cancel(reinterpret_cast<uv_req_t *>(&resolve_));
    drop_contexts();
    for (uv_timer_t *t : {&retry_timer_, &heartbeat_timer_, &connect_timer_})
        uv_close(reinterpret_cast<uv_handle_t *>(t), nullptr);
}

void RouteFollower::connect()
{
    if (closing_) return;
    const std::string &host = settings_.url.host;
    unsigned char buf[16];
    if (uv_inet_pton(AF_INET, host.c_str(), buf) == 0 ||
        uv_inet_pton(AF_INET6, host.c_str(), buf) == 0) {
        open(host);
        return;
    }
    // A host name is resolved on the threadpool: the main loop also answers the admin socket.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    resolve_.data = this;
    resolving_ = true;
    int rc = uv_getaddrinfo(
        loop_, &resolve_,
        [](uv_getaddrinfo_t *req, int status, addrinfo *res) {
            auto *self = static_cast<RouteFollower *>(req->data);
            self->resolving_ = false;
            char ip[64] = "";
            if (status == 0 && res) {
                if (res->ai_family == AF_INET6)
                    uv_ip6_name(reinterpret_cast<sockaddr_in6 *>(res->ai_addr), ip, sizeof ip);
                else
                    uv_ip4_name(reinterpret_cast<sockaddr_in *>(res->ai_addr), ip, sizeof ip);
            }
            uv_freeaddrinfo(res);
            if (self->closing_) return;
            if (status != 0)
                self->fail("cannot resolve " + self->settings_.url.host + ": " +
                           uv_strerror(status));
            else
                self->open(ip);
        },
        host.c_str(), nullptr, &hints);
    if (rc != 0) {
        resolving_ = false;
        fail("cannot resolve " + host + ": " + uv_strerror(rc));
    }
}

void RouteFollower::open(const std::string &ip)
{
    for (redisAsyncContext **slot : {&cmd_, &sub_}) {
        redisAsyncContext *ctx = redisAsyncConnect(ip.c_str(), settings_.url.port);
        if (!ctx || ctx->err) {
            std::string why = ctx ? ctx->errstr : "out of memory";
            if (ctx) redisAsyncFree(ctx);
            fail("cannot connect: " + why);
            return;
        }
        if (!attach_to_loop(ctx, loop_)) {
            redisAsyncFree(ctx);
            fail("cannot watch the connection on the loop");
            return;
        }
        ctx->data = this;
        redisAsyncSetConnectCallback(ctx, on_connect);
        redisAsyncSetDisconnectCallback(ctx, on_disconnect);
        *slot = ctx;
    }
    connects_left_ = 2;
    uv_timer_start(
        &connect_timer_,
        [](uv_timer_t *t) {
            static_cast<RouteFollower *>(t->data)->fail("connecting timed out after " +
                                                        std::to_string(kConnectTimeoutMs) + " ms");
        },
        kConnectTimeoutMs, 0);
    // Queued now, sent as soon as each connection is up.
    for (redisAsyncContext *ctx : {cmd_, sub_}) {
        const auto &u = settings_.url;
        if (!u.password.empty()) {
            if (u.user.empty())
                send(ctx, Step::kAuth, {"AUTH", u.password});
            else
                send(ctx, Step::kAuth, {"AUTH", u.user, u.password});
        }
    }
    if (settings_.url.db) send(cmd_, Step::kSelect, {"SELECT", std::to_string(settings_.url.db)});
    send(sub_, Step::kSubscribe, {"SUBSCRIBE", routes_key_});
}

void RouteFollower::on_connect(const redisAsyncContext *ctx, int status)
{
    auto *self = static_cast<RouteFollower *>(ctx->data);
    if (!self) return;
    if (status != REDIS_OK) {
        // hiredis frees the context after this callback.
        self->lost(ctx, std::string("cannot connect: ") + ctx->errstr);
        return;
    }
    self->connected(ctx);
}

void RouteFollower::on_disconnect(const redisAsyncContext *ctx, int status)
{
    auto *self = static_cast<RouteFollower *>(ctx->data);
    if (!self) return; // our own drop_contexts()
    self->lost(ctx, status == REDIS_OK ? "the server closed the connection"
                                       : std::string("connection lost: ") + ctx->errstr);
}

void RouteFollower::connected(const redisAsyncContext *)
{
    if (--connects_left_ > 0) return;
    uv_timer_stop(&connect_timer_);
    backoff_ms_ = 250;
    check_version(); // the table may have changed while this edge was away
}

void RouteFollower::lost(const redisAsyncContext *ctx, const std::string &why)
{
    // The context is hiredis' to free now: forget it, then drop the other one.
    if (ctx == cmd_) cmd_ = nullptr;
    if (ctx == sub_) sub_ = nullptr;
    fail(why);
}

void RouteFollower::fail(const std::string &why)
{
    if (closing_) return;
    drop_contexts();
    last_error_ = why;
    if (why != logged_error_) {
        log_message(
            LogLevel::kWarn, "fleet: redis %s: %s; serving route table version %llu, retrying",
            settings_.url.display().c_str(), why.c_str(), (unsigned long long)hooks_.version());
        logged_error_ = why;
    }
    uv_timer_start(
        &retry_timer_, [](uv_timer_t *t) { static_cast<RouteFollower *>(t->data)->connect(); },
        backoff_ms_, 0);
    backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
}

void RouteFollower::drop_contexts()
{
    for (redisAsyncContext **slot : {&cmd_, &sub_}) {
        if (!*slot) continue;
        // Callbacks that run while it is freed find no owner and do nothing.
        (*slot)->data = nullptr;
        redisAsyncFree(*slot);
        *slot = nullptr;
    }
    if (started_) uv_timer_stop(&connect_timer_);
    connects_left_ = 0;
    in_flight_ = 0;
    waiting_since_ = 0;
    fetching_ = fetch_again_ = false;
    subscribed_ = false;
    if (fetcher_) fetcher_->abort();
}

void RouteFollower::send(redisAsyncContext *ctx, Step step, std::initializer_list<std::string> argv)
{
    std::vector<const char *> args;
    std::vector<size_t> lens;
    for (const std::string &a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    // The step rides in privdata: nothing to allocate or free per command.
    void *privdata = reinterpret_cast<void *>(uintptr_t(step));
    if (redisAsyncCommandArgv(ctx, on_reply, privdata, int(args.size()), args.data(),
                              lens.data()) != REDIS_OK) {
        fail("cannot send a command");
        return;
    }
    if (ctx == cmd_ && in_flight_++ == 0) waiting_since_ = uv_now(loop_);
}

void RouteFollower::on_reply(redisAsyncContext *ctx, void *reply, void *privdata)
{
    auto *self = static_cast<RouteFollower *>(ctx->data);
    // No owner: dropped by us. No reply: the connection is going away (lost() follows).
    if (!self || !reply) return;
    bool on_subscriber = ctx == self->sub_;
    if (!on_subscriber && self->in_flight_ > 0 && --self->in_flight_ == 0) self->waiting_since_ = 0;
    self->handle(Step(uintptr_t(privdata)), on_subscriber, reply);
}

void RouteFollower::handle(Step step, bool on_subscriber, void *raw)
{
    const auto *r = static_cast<const redisReply *>(raw);
    if (step == Step::kFiles) { // errors included: one archive's problem, not the connection's
        if (fetcher_) fetcher_->answer(r);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        const char *what = step == Step::kAuth     ? "refused AUTH: "
                           : step == Step::kSelect ? "refused SELECT: "
                                                   : "refused a command: ";
        fail(what + reply_text(r));
        return;
    }
    switch (step) {
    case Step::kAuth:
    case Step::kSelect:
    case Step::kAck:
        return;
    case Step::kOwner: {
        // Written by another process since our last acknowledgement: a second edge uses our name.
        std::string owner = reply_text(r);
        if (r->type == REDIS_REPLY_STRING && owner != instance_ && !name_clash_) {
            name_clash_ = true;
            log_message(LogLevel::kWarn,
                        "fleet: another edge acknowledges as \"%s\" too (instance %s, this one is "
                        "%s): give each edge its own [redis] name, or control counts them as one",
                        settings_.name.c_str(), owner.c_str(), instance_.c_str());
        }
        return;
    }
    case Step::kSubscribe: {
        if (!on_subscriber || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
        std::string kind = reply_text(r->element[0]);
        if (kind == "subscribe") {
            subscribed_ = true;
            if (!last_error_.empty() || !logged_error_.empty())
                log_message(LogLevel::kInfo, "fleet: redis %s reachable again",
                            settings_.url.display().c_str());
            else
                log_message(LogLevel::kInfo,
                            "fleet: following route tables on redis %s (%s) as edge \"%s\"",
                            settings_.url.display().c_str(), routes_key_.c_str(),
                            settings_.name.c_str());
            last_error_.clear();
            logged_error_.clear();
            check_version(); // anything published before the subscription took hold
        } else if (kind == "message") {
            check_version();
        }
        return;
    }
    case Step::kVersion: {
        published_version_ = r->type == REDIS_REPLY_NIL ? 0 : parse_version(reply_text(r));
        // A table this edge refused is not fetched again until a newer one is published.
        if (published_version_ > hooks_.version() && published_version_ != refused_version_) {
            send(cmd_, Step::kTable, {"HMGET", routes_key_, "version", "table", "signature"});
            return;
        }
        fetch_done();
        return;
    }
    case Step::kTable: {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
            r->element[1]->type != REDIS_REPLY_STRING) {
            fetch_done();
            return;
        }
        std::string version_text = reply_text(r->element[0]);
        uint64_t version = parse_version(version_text);
        if (version <= hooks_.version()) {
            fetch_done();
            return;
        }
        std::string text = reply_text(r->element[1]), signature = reply_text(r->element[2]);
        std::string error = shared::fleet::table_signature_problem(settings_.signing_key,
                                                                   version_text, text, signature);
        std::optional<shared::route::RouteTable> parsed;
        if (error.empty()) {
            parsed = shared::route::parse_route_table(text, error);
            if (!parsed) error = "invalid route table: " + error;
        }
        if (!error.empty()) {
            refuse(version, error);
            fetch_done();
            return;
        }
        auto table = std::make_shared<shared::route::RouteTable>(std::move(*parsed));
        std::vector<std::string> missing;
        if (fetcher_ && hooks_.missing_in) missing = hooks_.missing_in(*table);
        if (!missing.empty()) {
            // The files first: installed without them, this host would answer 404 for those
            // sites (a redeploy too) until they arrive.
            fetcher_->forget_refusals();
            fetcher_->fetch(std::move(missing), [this, version, table] {
                install_published(version, std::move(*table));
                fetch_done();
            });
            return;
        }
        install_published(version, std::move(*table));
        fetch_done();
        return;
    }
    case Step::kFiles:
        return; // answered above
    }
}

void RouteFollower::install_published(uint64_t version, shared::route::RouteTable table)
{
    if (version <= hooks_.version()) return; // an admin push overtook it
    std::string error = hooks_.install(std::move(table));
    if (error.empty()) {
        install_error_.clear();
        log_message(LogLevel::kInfo, "fleet: route table version %llu from redis installed",
                    (unsigned long long)version);
        return;
    }
    refuse(version, error);
}

void RouteFollower::refuse(uint64_t version, const std::string &why)
{
    install_error_ = "version " + std::to_string(version) + ": " + why;
    refused_version_ = version;
    log_message(LogLevel::kError,
                "fleet: route table version %llu from redis refused: %s; the current table stays",
                (unsigned long long)version, why.c_str());
}

void RouteFollower::fetch_done()
{
    fetching_ = false;
    acknowledge();
    if (std::exchange(fetch_again_, false)) check_version();
}

void RouteFollower::fetch_missing_files()
{
    if (!fetcher_ || fetching_ || fetcher_->busy()) return;
    std::vector<std::string> missing = hooks_.missing_roots();
    if (missing.empty()) return;
    fetching_ = true; // a table published meanwhile waits for this (fetch_again_)
    fetcher_->fetch(std::move(missing), [this] { fetch_done(); });
}

void RouteFollower::check_version()
{
    if (!ready()) return;
    if (fetching_) {
        fetch_again_ = true; // a newer table may have come while this fetch was under way
        return;
    }
    fetching_ = true;
    send(cmd_, Step::kVersion, {"HGET", routes_key_, "version"});
}

void RouteFollower::acknowledge()
{
    if (!ready()) return;
    send(cmd_, Step::kAck,
         {"HSET", edge_key_, "version", std::to_string(hooks_.version()), "hash", hooks_.hash(),
          "error", install_error_, "missing_roots",
          nlohmann::json(hooks_.missing_roots ? hooks_.missing_roots() : std::vector<std::string>{})
              .dump(),
          "files_error", fetcher_ ? fetcher_->refusals() : std::string(), "pid",
          std::to_string(getpid()), "instance", instance_, "at_ms", std::to_string(unix_ms())});
    send(cmd_, Step::kAck,
         {"PEXPIRE", edge_key_, std::to_string(uint64_t(settings_.heartbeat_ms) * 3)});
    send(cmd_, Step::kAck, {"SADD", edges_key_, settings_.name});
}

void RouteFollower::heartbeat()
{
    if (!ready()) return;
    // A server that stopped answering (paused, or a network that drops packets) shows no
    // error: an answer overdue by three heartbeats counts as a lost connection.
    uint64_t limit = std::max<uint64_t>(uint64_t(settings_.heartbeat_ms) * 3, 3000);
    // An archive of hundreds of megabytes may take minutes over a slow link: while one is
    // coming, only a much longer silence counts.
    if (fetcher_ && fetcher_->awaiting_archive()) limit = std::max(limit, kArchiveWaitMs);
    if (waiting_since_ && uv_now(loop_) - waiting_since_ > limit) {
        fail("no answer in " + std::to_string(limit) + " ms");
        return;
    }
    send(cmd_, Step::kOwner, {"HGET", edge_key_, "instance"});
    acknowledge();
    if (fetcher_ && fetcher_->keeps_any() && hooks_.static_roots)
        fetcher_->sweep(hooks_.static_roots());
    fetch_missing_files(); // before the version check, which would hold it back
    check_version();
}

nlohmann::json RouteFollower::stats() const
{
    return {
        {"redis", settings_.url.display()},
        {"name", settings_.name},
        {"connected", ready()},
        {"subscribed", subscribed_},
        {"published_version", published_version_},
        {"name_clash", name_clash_},
        {"last_error", last_error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error_)},
        {"install_error",
         install_error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(install_error_)},
        {"files", fetcher_ ? fetcher_->stats() : nlohmann::json(nullptr)}};
}

} // namespace berth::edge
