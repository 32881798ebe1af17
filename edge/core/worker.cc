// Worker loop: accept on its own SO_REUSEPORT sockets, sweep deadlines, swap route tables,
// and on stop drain its connections before the loop ends.
#include "edge/core/worker.h"

#include <algorithm>
#include <chrono>
#include <unistd.h>

namespace berth::edge
{

namespace
{

CacheLimits cache_limits(const EdgeConfig &c)
{
    CacheLimits l;
    l.small_body_bytes = c.small_file_bytes;
    l.memory_bytes = c.memory_bytes;
    l.revalidate_ms = c.revalidate_ms;
    return l;
}

shared::http::ParserLimits parser_limits(const EdgeConfig &c)
{
    shared::http::ParserLimits l;
    l.max_head_bytes = c.max_header_bytes;
    l.max_target_bytes = c.max_url_bytes;
    l.max_header_count = c.max_header_count;
    l.max_body_bytes = c.max_body_bytes;
    return l;
}

uint64_t tick_interval(const EdgeConfig &c)
{
    uint64_t smallest = std::min({c.header_timeout_ms, c.idle_timeout_ms, c.send_timeout_ms});
    return std::clamp<uint64_t>(smallest / 4, 10, 1000);
}

} // namespace

Worker::Worker(int id, ServerShared &shared, std::vector<ListenSocket> listeners,
               std::shared_ptr<const shared::route::RouteTable> routes)
    : id_(id), shared_(shared), config_(*shared.config),
      // The head must fit; a little slack lets a pipelined next request start behind it.
      busy_states_(parser_limits(config_), config_.max_header_bytes + 1024, kSpareConnections),
      routes_(std::move(routes)), router_(config_.base_domain, config_.quick_spa),
      static_(config_.deployments_root, cache_limits(config_), &loop_, &shared.digests),
      warmer_(&loop_)
{
    uv_loop_init(&loop_);
    io_ = std::make_unique<IoLoop>(&loop_, config_.io_uring != AutoSwitch::kOff);
    transports_ = std::make_unique<TransportPool>(*io_, kSpareConnections, shared.tls, &tls_stats_,
                                                  config_.handshake_timeout_ms);
    acceptor_ = std::make_unique<Acceptor>(*io_, config_, shared.connections, accept_stats_, *this,
                                           std::move(listeners));
    handlers_.set(RouteTarget::Kind::kStatic, &static_);
    handlers_.set(RouteTarget::Kind::kRedirect, &redirect_);
    proxy_ = std::make_unique<ProxyHandler>(&loop_, *io_, ProxyOptions{id, &shared.upstreams});
    handlers_.set(RouteTarget::Kind::kProxy, proxy_.get());
    if (shared.geo) geo_ = std::make_unique<GeoView>(shared.geo);
    uv_timer_init(&loop_, &tick_);
    tick_.data = this;
    uv_async_init(&loop_, &async_,
                  [](uv_async_t *a) { static_cast<Worker *>(a->data)->on_async(); });
    async_.data = this;
    if (shared.access_log_fd >= 0)
        access_log_ = std::make_unique<AccessLog>(&loop_, shared.access_log_fd, config_.log_format);

    ctx_.config = &config_;
    ctx_.loop = &loop_;
    ctx_.date = &date_;
    ctx_.router = &router_;
    ctx_.routes = routes_.get();
    ctx_.handlers = &handlers_;
    ctx_.access_log = access_log_.get();
    ctx_.busy = &busy_states_;
    ctx_.warmer = &warmer_;
    ctx_.stats = &connection_stats_;
    ctx_.owner = this;
    ctx_.https = shared.https;
    ctx_.hsts = shared.hsts_line;
    ctx_.geo = geo_.get();
    if (!shared.trusted_proxies.empty()) ctx_.trusted = &shared.trusted_proxies;
}

Worker::~Worker()
{
    join();
    // Close what is left (only at startup failures and in tools that drive the loop) and run
    // the loop until every handle has closed.
    connections_.for_each([](Connection &c) { c.close(); });
    reap();
    if (access_log_) access_log_->flush_blocking();
    ctx_.access_log = nullptr;
    access_log_.reset();
    acceptor_.reset();
    proxy_->stop();
    proxy_->reap();
    uv_walk(
        &loop_,
        [](uv_handle_t *h, void *) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    reap();
    proxy_->reap();
    transports_.reset();
    io_.reset();
    uv_loop_close(&loop_);
}

void Worker::start()
{
    thread_ = std::thread([this] { run(); });
}

void Worker::join()
{
    if (thread_.joinable()) thread_.join();
}

void Worker::request_stop()
{
    stop_requested_.store(true);
    uv_async_send(&async_);
}

void Worker::install_routes(std::shared_ptr<const shared::route::RouteTable> routes)
{
    {
        std::lock_guard<std::mutex> lock(pending_mutex_);
        pending_routes_ = std::move(routes);
    }
    uv_async_send(&async_);
}

bool Worker::wait_installed(uint64_t version, int timeout_ms)
{
    std::unique_lock<std::mutex> lock(pending_mutex_);
    return installed_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                  [&] { return installed_version_ >= version; });
}

void Worker::run()
{
    acceptor_->start(uv_now(&loop_));
    uint64_t interval = tick_interval(config_);
    uv_timer_start(
        &tick_, [](uv_timer_t *t) { static_cast<Worker *>(t->data)->on_tick(); }, interval,
        interval);
    if (stop_requested_.load()) begin_drain();
    // Until drained, and then until libuv's last callbacks (closes, log writes, hashes) ran.
    while (!finished_.load(std::memory_order_relaxed) || uv_loop_alive(&loop_))
        run_once(-1);
}

void Worker::run_once(int max_wait_ms)
{
    io_->run_once(deferred_.empty() ? max_wait_ms : 0); // deferred pumps: no waiting
    run_deferred();
    reap();
    proxy_->reap(); // tasks and upstream connections that ended in the round
}

void Worker::defer(DeferredPump &pump) noexcept
{
    deferred_.push_front(pump); // once, however often asked
}

void Worker::run_deferred()
{
    if (deferred_.empty()) return;
    // Each is taken off first: one that defers again waits for the next round.
    deferred_.for_each([](DeferredPump &p) {
        p.unlink();
        p.conn->pump_deferred();
    });
    io_->sends().submit();
}

void Worker::adopt(int fd, const sockaddr_storage &peer, bool tls)
{
    Transport *t = tls ? transports_->tls(fd, uv_now(&loop_)) : transports_->plain(fd);
    if (!t) { // no TLS session to be had: the socket is closed already
        shared_.connections.fetch_sub(1, std::memory_order_relaxed);
        return;
    }
    Connection *c = connection_memory_.make(ctx_, *t, peer);
    connections_.push_front(*c);
    c->start(acceptor_->deferring());
}

void Worker::retire(Connection &c) noexcept
{
    doomed_.push_back(&c); // keeps its capacity: no allocation per closed connection
}

void Worker::reap()
{
    for (Connection *dead : doomed_) { // a destructor never closes another connection
        Transport *t = &dead->transport();
        connection_memory_.destroy(dead);
        transports_->recycle(t);
        shared_.connections.fetch_sub(1, std::memory_order_relaxed);
    }
    bool any = !doomed_.empty();
    doomed_.clear();
    if (any && draining_) maybe_finish();
}

size_t Worker::busy_connection_count() noexcept
{
    size_t n = 0;
    connections_.for_each([&n](Connection &c) { n += c.busy(); });
    return n;
}

void Worker::on_tick()
{
    uint64_t now = uv_now(&loop_);
    if (!draining_) acceptor_->on_tick(now);
    connections_.for_each([now](Connection &c) { c.on_tick(now); });
    if (access_log_) access_log_->flush();
    if (draining_ && now >= drain_deadline_) {
        connections_.for_each([](Connection &c) { c.close(); });
    }
    maybe_finish();
}

void Worker::on_async()
{
    std::shared_ptr<const shared::route::RouteTable> next;
    {
        std::lock_guard<std::mutex> lock(pending_mutex_);
        next = std::move(pending_routes_);
    }
    if (next) {
        routes_ = std::move(next);
        ctx_.routes = routes_.get();
        handlers_.for_each([](Handler &h) { h.routes_changed(); });
        std::lock_guard<std::mutex> lock(pending_mutex_);
        installed_version_ = routes_->version();
        installed_cv_.notify_all();
    }
    if (stop_requested_.load() && !draining_) begin_drain();
}

void Worker::begin_drain()
{
    draining_ = true;
    ctx_.draining = true;
    drain_deadline_ = uv_now(&loop_) + config_.drain_timeout_ms;
    acceptor_->close();
    connections_.for_each([](Connection &c) { c.drain(); });
    static_.cache().stop_background();
    maybe_finish();
}

void Worker::maybe_finish()
{
    if (!draining_ || finished_.load() || !connections_.empty()) return;
    if (access_log_ && !access_log_->idle()) return; // the next tick checks again
    finished_.store(true, std::memory_order_release);
    if (shared_.worker_finished) uv_async_send(shared_.worker_finished);
    proxy_->stop();
    if (access_log_) access_log_->flush_blocking();
    uv_close(reinterpret_cast<uv_handle_t *>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t *>(&async_), nullptr);
}

} // namespace berth::edge
