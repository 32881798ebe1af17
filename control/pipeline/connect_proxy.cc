// Threads, not the event loop: a clone runs on a pipeline worker thread and blocks in libgit2,
// and a clone opens one or two connections. Every descriptor is owned by an RAII holder.
#include "control/pipeline/connect_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace berth::control
{

namespace
{

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd()
    {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;
};

bool send_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        n -= size_t(w);
    }
    return true;
}

// Connects to address:port within timeout_ms; -1 on failure.
int connect_to(const IpAddr &a, uint16_t port, int timeout_ms)
{
    sockaddr_storage ss{};
    socklen_t len;
    if (a.is_v4()) {
        auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        std::memcpy(&s4->sin_addr, a.bytes.data() + 12, 4);
        len = sizeof *s4;
    } else {
        auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        std::memcpy(&s6->sin6_addr, a.bytes.data(), 16);
        len = sizeof *s6;
    }
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0) {
        pollfd p{fd, POLLOUT, 0};
        int err = 0;
        socklen_t elen = sizeof err;
        if (errno != EINPROGRESS || ::poll(&p, 1, timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0) {
            ::close(fd);
            return -1;
        }
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

} // namespace

ConnectProxy::ConnectProxy(std::string authority, IpAddr address, uint16_t port,
                           int connect_timeout_ms)
    : authority_(std::move(authority)), address_(address), target_port_(port),
      connect_timeout_ms_(connect_timeout_ms)
{
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (listen_fd_ < 0 || stop_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        int e = errno;
        if (listen_fd_ >= 0) ::close(listen_fd_);
        if (stop_fd_ >= 0) ::close(stop_fd_);
        throw std::runtime_error(std::string("cannot start the clone proxy: ") + std::strerror(e));
    }
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

ConnectProxy::~ConnectProxy()
{
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    acceptor_.join();
    {
        std::lock_guard lock(mu_);
        for (auto &t : workers_)
            t.join();
    }
    ::close(listen_fd_);
    ::close(stop_fd_);
}

void ConnectProxy::accept_loop()
{
    for (;;) {
        pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
        if (p[1].revents) return;
        if (!(p[0].revents & POLLIN)) continue;
        int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::lock_guard lock(mu_);
        workers_.emplace_back([this, c] { serve(c); });
    }
}

void ConnectProxy::serve(int client_fd)
{
    Fd client(client_fd);
    std::string head;
    char buf[16384];
    while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd p[2] = {{client.fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        if (::poll(p, 2, 10000) <= 0 || p[1].revents) return;
        ssize_t n = ::recv(client.fd, buf, sizeof buf, 0);
        if (n <= 0 || head.size() + size_t(n) > 8192) return;
        head.append(buf, size_t(n));
    }
    std::string line = head.substr(0, head.find("\r\n"));
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    std::string method = line.substr(0, sp1);
    std::string target =
        sp1 == std::string::npos || sp2 <= sp1 ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (method != "CONNECT" || strcasecmp(target.c_str(), authority_.c_str()) != 0) {
        ++refused_;
        static const char kForbidden[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        send_all(client.fd, kForbidden, sizeof kForbidden - 1);
        return;
    }
    Fd upstream(connect_to(address_, target_port_, connect_timeout_ms_));
    if (upstream.fd < 0) {
        static const char kBad[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
        send_all(client.fd, kBad, sizeof kBad - 1);
        return;
    }
    ++tunnels_;
    static const char kOk[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (!send_all(client.fd, kOk, sizeof kOk - 1)) return;
    std::string early = head.substr(head.find("\r\n\r\n") + 4);
    if (!early.empty() && !send_all(upstream.fd, early.data(), early.size())) return;
    // Both directions until both have ended (or the proxy stops).
    bool open[2] = {true, true}; // client→upstream, upstream→client
    while (open[0] || open[1]) {
        pollfd p[3] = {{client.fd, short(open[0] ? POLLIN : 0), 0},
                       {upstream.fd, short(open[1] ? POLLIN : 0), 0},
                       {stop_fd_, POLLIN, 0}};
        if (::poll(p, 3, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (p[2].revents) return;
        for (int i = 0; i < 2; ++i) {
            if (!open[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int from = i == 0 ? client.fd : upstream.fd, to = i == 0 ? upstream.fd : client.fd;
            ssize_t n = ::recv(from, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || !send_all(to, buf, size_t(n))) {
                open[i] = false;
                ::shutdown(to, SHUT_WR);
            }
        }
    }
}

} // namespace berth::control
