#include "edge/accept/listen_sockets.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

namespace berth::edge
{

namespace
{

sockaddr_storage resolve(const ListenAddr &a, socklen_t &len)
{
    sockaddr_storage ss{};
    auto *v4 = reinterpret_cast<sockaddr_in *>(&ss);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&ss);
    if (inet_pton(AF_INET, a.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(a.port);
        len = sizeof *v4;
        return ss;
    }
    if (inet_pton(AF_INET6, a.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(a.port);
        len = sizeof *v6;
        return ss;
    }
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(a.host.c_str(), nullptr, &hints, &res) != 0 || !res)
        throw ListenError("cannot resolve listen host \"" + a.host + "\"");
    std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
    len = socklen_t(res->ai_addrlen);
    freeaddrinfo(res);
    if (ss.ss_family == AF_INET)
        v4->sin_port = htons(a.port);
    else
        v6->sin6_port = htons(a.port);
    return ss;
}

int bind_socket(const sockaddr_storage &ss, socklen_t len, const std::string &what)
{
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw ListenError("socket(): " + std::string(strerror(errno)));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // inherited by accepted sockets
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr *>(&ss), len) != 0) {
        int e = errno;
        ::close(fd);
        throw ListenError("cannot listen on " + what + ": " + strerror(e));
    }
    if (listen(fd, 4096) != 0) {
        int e = errno;
        ::close(fd);
        throw ListenError("listen() on " + what + ": " + strerror(e));
    }
    return fd;
}

// SO_REUSEPORT would let a second berth-edge silently share the port with a running one;
// a plain bind first turns that mistake into a clear "address in use".
void refuse_if_in_use(const sockaddr_storage &ss, socklen_t len, const std::string &what)
{
    int probe = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return;
    int one = 1;
    setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int rc = bind(probe, reinterpret_cast<const sockaddr *>(&ss), len);
    int e = errno;
    ::close(probe);
    if (rc != 0 && e == EADDRINUSE)
        throw ListenError("cannot listen on " + what + ": address already in use");
}

} // namespace

std::string format_addr(const sockaddr_storage &ss)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET6) {
        auto *v6 = reinterpret_cast<const sockaddr_in6 *>(&ss);
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        return "[" + std::string(ip) + "]:" + std::to_string(ntohs(v6->sin6_port));
    }
    auto *v4 = reinterpret_cast<const sockaddr_in *>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(v4->sin_port));
}

ListenSockets open_listen_sockets(const std::vector<ListenAddr> &addrs, unsigned workers)
{
    ListenSockets out;
    out.per_worker.assign(workers, {});
    try {
        for (const ListenAddr &a : addrs) {
            socklen_t len = 0;
            sockaddr_storage ss = resolve(a, len);
            std::string what = a.host + ":" + std::to_string(a.port);
            if (a.port != 0) refuse_if_in_use(ss, len, what);
            for (unsigned w = 0; w < workers; ++w) {
                int fd = bind_socket(ss, len, what);
                out.per_worker[w].push_back({fd, a.tls});
                if (w == 0) {
                    // Port 0: every worker's socket must share the port the kernel picked.
                    socklen_t blen = sizeof ss;
                    getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &blen);
                    out.bound.push_back(format_addr(ss));
                    out.ports.push_back(ntohs(ss.ss_family == AF_INET6
                                                  ? reinterpret_cast<sockaddr_in6 &>(ss).sin6_port
                                                  : reinterpret_cast<sockaddr_in &>(ss).sin_port));
                }
            }
        }
    } catch (...) {
        for (auto &sockets : out.per_worker)
            for (ListenSocket &s : sockets)
                ::close(s.fd);
        throw;
    }
    return out;
}

} // namespace berth::edge
