// Worker loop: accept on its own SO_REUSEPORT sockets, sweep deadlines, swap route tables,
// and on stop drain its connections before the loop ends.
#include "edge/core/worker.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/http/connection.h"
#include "edge/log/access_log.h"
#include "shared/http/http_date.h"

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

uint64_t tick_interval(const EdgeConfig &c)
{
    uint64_t smallest = std::min({c.header_timeout_ms, c.idle_timeout_ms, c.send_timeout_ms});
    return std::clamp<uint64_t>(smallest / 4, 10, 1000);
}

constexpr std::string_view k503 =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 34\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    "Too many connections; retry soon.\n";

} // namespace

Worker::Worker(int id, ServerShared &shared, std::vector<int> listen_fds,
               std::shared_ptr<const shared::route::RouteTable> routes)
    : id_(id), shared_(shared), routes_(std::move(routes)),
      router_(shared.config->base_domain, shared.config->quick_spa),
      cache_(shared.config->deployments_root, cache_limits(*shared.config), &loop_,
             &shared.digests),
      warmer_(&loop_), defer_policy_(shared.config->defer_accept, shared.config->defer_accept_rate)
{
    uv_loop_init(&loop_);
    io_ = std::make_unique<IoLoop>(&loop_, shared.config->io_uring != AutoSwitch::kOff);
    spare_heads_.reserve(kSpareConnections); // giving one back never allocates
    for (int fd : listen_fds) {
        auto l = std::make_unique<Listener>();
        l->worker = this;
        l->fd = fd;
        listeners_.push_back(std::move(l));
    }
    uv_timer_init(&loop_, &tick_);
    tick_.data = this;
    uv_async_init(&loop_, &async_,
                  [](uv_async_t *a) { static_cast<Worker *>(a->data)->on_async(); });
    async_.data = this;
    if (shared.access_log_fd >= 0)
        access_log_ =
            std::make_unique<AccessLog>(&loop_, shared.access_log_fd, shared.config->log_format);
}

Worker::~Worker()
{
    join();
    if (access_log_) access_log_->flush_blocking();
    access_log_.reset();
    // Close what is left (only at startup failures) and run the loop until it can close.
    connections_.for_each([](Connection &c) { c.close(); });
    reap();
    uv_walk(
        &loop_,
        [](uv_handle_t *h, void *) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    reap();
    for (void *mem : spare_connections_)
        ::operator delete(mem);
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

std::string_view Worker::date_header() noexcept
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date_second_) {
        date_second_ = ts.tv_sec;
        std::memcpy(date_buf_, "Date: ", 6);
        shared::http::format_http_date(ts.tv_sec, date_buf_ + 6);
        std::memcpy(date_buf_ + 6 + shared::http::kHttpDateLength, "\r\n", 2);
        date_len_ = 6 + shared::http::kHttpDateLength + 2;
    }
    return std::string_view(date_buf_, date_len_);
}

void Worker::run()
{
    for (auto &l : listeners_)
        io_->watch_level(l->fd, l.get());
    if (defer_policy_.deferring()) apply_defer_accept();
    observed_ms_ = now_ms();
    uint64_t interval = tick_interval(config());
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
    io_->run_once(max_wait_ms);
    reap();
}

void Worker::reap()
{
    for (Connection *dead : doomed_) { // a destructor never closes another connection
        dead->~Connection();
        if (spare_connections_.size() < kSpareConnections)
            spare_connections_.push_back(dead);
        else
            ::operator delete(dead);
    }
    doomed_.clear(); // keeps its capacity: no allocation per closed connection
}

std::string Worker::take_head_buffer()
{
    std::string buffer;
    if (spare_heads_.empty()) {
        buffer.reserve(kInitialHeadBytes);
    } else {
        buffer = std::move(spare_heads_.back());
        spare_heads_.pop_back();
    }
    return buffer;
}

void Worker::give_back_head_buffer(std::string buffer) noexcept
{
    if (buffer.capacity() > kSpareHeadBytes || spare_heads_.size() >= kSpareConnections) return;
    buffer.clear();
    spare_heads_.push_back(std::move(buffer));
}

void Worker::accept_ready(Listener &l)
{
    // The listener is level-triggered: a connection left in its queue reports it again next
    // round. So a listener ready in two rounds in a row has a backlog and gets a burst of
    // accepts (new connection per request: 42k → 47k requests per CPU second, #2); one ready
    // now and then gets one accept, as a burst ending in an accept4() that says EAGAIN would
    // cost a syscall per wake-up for nothing (nginx's multi_accept off).
    uint64_t round = io_->rounds();
    int burst = l.ready_round + 1 == round ? kAcceptBurst : 1;
    l.ready_round = round;
    for (int i = 0; i < burst; ++i)
        if (!accept_one(l)) return;
}

bool Worker::accept_one(Listener &l)
{
    if (draining_) return false;
    sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd;
    do {
        fd = accept4(l.fd, reinterpret_cast<sockaddr *>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            // Out of descriptors: the listener stays readable, so stop listening to it until
            // the next tick instead of spinning on a failing accept.
            io_->unwatch(l.fd);
            l.paused = true;
            accept_paused_ = true;
        }
        return false; // EAGAIN: another worker or the client was faster
    }
    stats_.accepted.add(1);
    uint32_t n = shared_.connections.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n > config().max_connections) {
        shared_.connections.fetch_sub(1, std::memory_order_relaxed);
        stats_.rejected_over_cap.add(1);
        (void)!::send(fd, k503.data(), k503.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
        return true;
    }
    adopt(fd, peer);
    return true;
}

void Worker::adopt(int fd, const sockaddr_storage &peer)
{
    // Connections are a few KiB (input buffer inline): reuse the memory of closed ones
    // rather than a trip through malloc's large-chunk path per connection.
    void *mem;
    if (spare_connections_.empty()) {
        mem = ::operator new(sizeof(Connection));
    } else {
        mem = spare_connections_.back();
        spare_connections_.pop_back();
    }
    auto *c = new (mem) Connection(*this, fd, peer);
    connections_.push_front(*c);
    c->start();
}

void Worker::on_tick()
{
    uint64_t now = now_ms();
    if (accept_paused_ && !draining_) {
        accept_paused_ = false;
        for (auto &l : listeners_) {
            if (l->paused) io_->watch_level(l->fd, l.get());
            l->paused = false;
        }
    }
    observe_accept_rate(now);
    connections_.for_each([now](Connection &c) { c.on_tick(now); });
    if (access_log_) access_log_->flush();
    if (draining_ && now >= drain_deadline_) {
        connections_.for_each([](Connection &c) { c.close(); });
    }
    maybe_finish();
}

void Worker::observe_accept_rate(uint64_t now)
{
    uint64_t accepted = stats_.accepted.get();
    if (defer_policy_.observe(accepted - accepted_seen_, now - observed_ms_)) apply_defer_accept();
    accepted_seen_ = accepted;
    observed_ms_ = now;
}

void Worker::apply_defer_accept()
{
    // Read by the kernel at each handshake, so switching a listening socket takes effect for
    // the next connection. One second: a client that has sent nothing by then is accepted.
    int seconds = defer_policy_.deferring() ? 1 : 0;
    for (auto &l : listeners_)
        if (l->fd >= 0) setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds);
    deferring_.store(defer_policy_.deferring(), std::memory_order_relaxed);
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
        cache_.clear(); // entries belong to the old table's directories
        std::lock_guard<std::mutex> lock(pending_mutex_);
        installed_version_ = routes_->version();
        installed_cv_.notify_all();
    }
    if (stop_requested_.load() && !draining_) begin_drain();
}

void Worker::begin_drain()
{
    draining_ = true;
    drain_deadline_ = now_ms() + config().drain_timeout_ms;
    for (auto &l : listeners_) {
        ::close(l->fd); // leaves the epoll set with it
        l->fd = -1;
    }
    connections_.for_each([](Connection &c) { c.drain(); });
    cache_.stop_background();
    maybe_finish();
}

void Worker::defer_delete(Connection *c)
{
    doomed_.push_back(c);
}

void Worker::on_connection_closed(Connection &) noexcept
{
    if (draining_) maybe_finish();
}

void Worker::maybe_finish()
{
    if (!draining_ || finished_.load() || !connections_.empty()) return;
    if (access_log_ && !access_log_->idle()) return; // the next tick checks again
    finished_.store(true, std::memory_order_release);
    if (shared_.worker_finished) uv_async_send(shared_.worker_finished);
    if (access_log_) access_log_->flush_blocking();
    uv_close(reinterpret_cast<uv_handle_t *>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t *>(&async_), nullptr);
}

} // namespace berth::edge
