#include "edge/accept/acceptor.h"

#include <cerrno>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string_view>
#include <unistd.h>

namespace berth::edge
{

namespace
{

constexpr std::string_view k503 =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 34\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
    "Too many connections; retry soon.\n";

} // namespace

Acceptor::Acceptor(IoLoop &io, const EdgeConfig &config, std::atomic<uint32_t> &open,
                   AcceptStats &stats, Sink &sink, std::vector<ListenSocket> listeners)
    : io_(io), config_(config), open_(open), stats_(stats), sink_(sink),
      policy_(config.defer_accept, config.defer_accept_rate)
{
    for (const ListenSocket &s : listeners) {
        auto l = std::make_unique<Listener>();
        l->acceptor = this;
        l->fd = s.fd;
        l->tls = s.tls;
        listeners_.push_back(std::move(l));
    }
}

Acceptor::~Acceptor()
{
    close();
}

void Acceptor::start(uint64_t now_ms)
{
    for (auto &l : listeners_)
        io_.watch_level(l->fd, l.get());
    if (policy_.deferring()) apply_defer_accept();
    observed_ms_ = now_ms;
}

void Acceptor::close() noexcept
{
    closed_ = true;
    for (auto &l : listeners_) {
        if (l->fd >= 0) ::close(l->fd); // leaves the epoll set with it
        l->fd = -1;
    }
}

void Acceptor::ready(Listener &l)
{
    // The listener is level-triggered: a connection left in its queue reports it again next
    // round. So a listener ready in two rounds in a row has a backlog and gets a burst of
    // accepts (new connection per request: 42k → 47k requests per CPU second, #2); one ready
    // now and then gets one accept, as a burst ending in an accept4() that says EAGAIN would
    // cost a syscall per wake-up for nothing (nginx's multi_accept off).
    uint64_t round = io_.rounds();
    int burst = l.ready_round + 1 == round ? kBurst : 1;
    l.ready_round = round;
    for (int i = 0; i < burst; ++i)
        if (!accept_one(l)) return;
}

bool Acceptor::accept_one(Listener &l)
{
    if (closed_) return false;
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
            io_.unwatch(l.fd);
            l.paused = true;
            paused_ = true;
        }
        return false; // EAGAIN: another worker or the client was faster
    }
    stats_.accepted.add(1);
    uint32_t n = open_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n > config_.max_connections) {
        open_.fetch_sub(1, std::memory_order_relaxed);
        stats_.rejected_over_cap.add(1);
        // Plain HTTP gets a fixed 503; a TLS client could not read it before a handshake.
        if (!l.tls) (void)!::send(fd, k503.data(), k503.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(fd);
        return true;
    }
    sink_.adopt(fd, peer, l.tls);
    return true;
}

void Acceptor::on_tick(uint64_t now)
{
    if (paused_ && !closed_) {
        paused_ = false;
        for (auto &l : listeners_) {
            if (l->paused) io_.watch_level(l->fd, l.get());
            l->paused = false;
        }
    }
    uint64_t accepted = stats_.accepted.get();
    if (policy_.observe(accepted - accepted_seen_, now - observed_ms_)) apply_defer_accept();
    accepted_seen_ = accepted;
    observed_ms_ = now;
}

void Acceptor::apply_defer_accept()
{
    // Read by the kernel at each handshake, so switching a listening socket takes effect for
    // the next connection. One second: a client that has sent nothing by then is accepted.
    int seconds = policy_.deferring() ? 1 : 0;
    for (auto &l : listeners_)
        if (l->fd >= 0) setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds);
    deferring_.store(policy_.deferring(), std::memory_order_relaxed);
}

} // namespace berth::edge
