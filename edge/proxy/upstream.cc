// Upstream sockets on the worker loop, the operator's marks, and the stats registry.
#include "edge/proxy/upstream.h"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "edge/io/nocancel.h"

namespace berth::edge
{

const char *failure_name(UpstreamFailure f) noexcept
{
    switch (f) {
    case UpstreamFailure::kConnectRefused:
        return "connect_refused";
    case UpstreamFailure::kConnectTimeout:
        return "connect_timeout";
    case UpstreamFailure::kConnectError:
        return "connect_error";
    case UpstreamFailure::kReset:
        return "upstream_reset";
    case UpstreamFailure::kHeaderTimeout:
        return "header_timeout";
    case UpstreamFailure::kIdleTimeout:
        return "idle_timeout";
    case UpstreamFailure::kBadResponse:
        return "bad_response";
    case UpstreamFailure::kCount:
        break;
    }
    return "unknown";
}

void UpstreamRegistry::mark(const std::string &host, const std::string &addr, bool healthy)
{
    std::lock_guard<std::mutex> lock(mutex_);
    marks_[{host, addr}] = healthy;
    generation_.fetch_add(1, std::memory_order_release);
}

bool UpstreamRegistry::marked_down(const std::string &host, const std::string &addr) const
{
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = marks_.find({host, addr});
    return it != marks_.end() && !it->second;
}

std::map<std::pair<std::string, std::string>, bool> UpstreamRegistry::marks() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return marks_;
}

UpstreamStats *UpstreamRegistry::stats_for(int worker, const std::string &addr)
{
    std::lock_guard<std::mutex> lock(mutex_);
    for (UpstreamStats &s : stats_)
        if (s.worker == worker && s.addr == addr) return &s;
    UpstreamStats &s = stats_.emplace_back();
    s.addr = addr;
    s.worker = worker;
    return &s;
}

int UpstreamConn::connect() noexcept
{
    generation = target_.addrs_generation;
    fd_ = ::socket(target_.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return -errno;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc;
    do {
        rc = ::connect(fd_, reinterpret_cast<const sockaddr *>(&target_.sa), target_.sa_len);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        ::close(fd_);
        fd_ = -1;
        return -e;
    }
    connected = rc == 0;
    if (!io_.watch(fd_, this)) {
        int e = errno;
        ::close(fd_);
        fd_ = -1;
        return -e;
    }
    return 0;
}

void UpstreamConn::close() noexcept
{
    if (fd_ < 0) return;
    if (queued_) io_.sends().cancel(this);
    queued_ = false;
    ::close(fd_);
    fd_ = -1;
}

ssize_t UpstreamConn::send(const iovec *iov, size_t n) noexcept
{
    if (fd_ < 0) return -EBADF;
    if (SendBatch::Slot *slot = io_.sends().reserve(this, fd_)) {
        std::memcpy(slot->iov, iov, n * sizeof(iovec));
        slot->n_iov = n;
        queued_ = true;
        return kQueued;
    }
    msghdr msg{};
    msg.msg_iov = const_cast<iovec *>(iov);
    msg.msg_iovlen = n;
    while (true) {
        ssize_t r = sendmsg_nocancel(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

ssize_t UpstreamConn::recv(char *buf, size_t len) noexcept
{
    if (fd_ < 0) return -EBADF;
    while (true) {
        ssize_t r = recv_nocancel(fd_, buf, len);
        if (r >= 0) return r;
        if (errno != EINTR) return -errno;
    }
}

int UpstreamConn::socket_error() noexcept
{
    int err = 0;
    socklen_t len = sizeof err;
    if (fd_ < 0) return EBADF;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

void UpstreamConn::shutdown_write() noexcept
{
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void UpstreamConn::on_io(uint32_t events)
{
    if (fd_ < 0) return; // closed earlier in this round
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hung_up_ = true;
    if (user)
        user->on_upstream_io(events);
    else if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        owner_.on_idle_event(*this);
}

void UpstreamConn::on_sent(ssize_t result)
{
    queued_ = false;
    if (fd_ < 0) return;
    if (user) user->on_upstream_sent(result);
}

} // namespace berth::edge
