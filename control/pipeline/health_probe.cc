// A tiny blocking HTTP client: non-blocking socket + poll() against one deadline, the shared
// strict response parser (shared/http/response_parser.h) for what comes back (#16).
#include "control/pipeline/health_probe.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "control/edges/route_tables.h"
#include "shared/http/response_parser.h"

namespace berth::control
{

namespace
{

using Clock = std::chrono::steady_clock;

// The probe's socket; closed on every return path.
class SocketFd
{
public:
    explicit SocketFd(int fd) noexcept : fd_(fd) {}
    ~SocketFd()
    {
        if (fd_ >= 0) ::close(fd_);
    }
    SocketFd(const SocketFd &) = delete;
    SocketFd &operator=(const SocketFd &) = delete;
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

struct AddrInfoDeleter {
    void operator()(addrinfo *a) const noexcept { freeaddrinfo(a); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// Numeric only: the edge's address is configuration, never a name to resolve.
AddrInfo resolve_numeric(const std::string &addr)
{
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos || colon + 1 >= addr.size()) return nullptr;
    std::string host = addr.substr(0, colon), port = addr.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
        std::stoi(port) < 1 || std::stoi(port) > 65535)
        return nullptr;
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *res = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return nullptr;
    return AddrInfo(res);
}

// Waits for `events` until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline)
{
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, int(left.count()));
        if (rc > 0) return true;
        if (rc < 0 && errno != EINTR) return false;
    }
}

ProbeResponse failure(std::string why)
{
    ProbeResponse r;
    r.error = std::move(why);
    return r;
}

void append_excerpt(std::string &excerpt, std::string_view piece)
{
    for (char c : piece) {
        if (excerpt.size() >= kProbeExcerptBytes) return;
        excerpt.push_back((unsigned char)c < 0x20 && c != '\n' && c != '\t' ? '?' : c);
    }
}

} // namespace

ProbeResponse http_probe(const std::string &addr, const std::string &host, const std::string &path,
                         int timeout_ms)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    AddrInfo ai = resolve_numeric(addr);
    if (!ai) return failure("not a numeric IP:PORT address");
    SocketFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return failure(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) return failure(std::string("connect: ") + std::strerror(errno));
        if (!wait_for(fd.get(), POLLOUT, deadline)) return failure("connect: timed out");
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return failure(std::string("connect: ") + std::strerror(err));
    }
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                      "\r\nUser-Agent: berth-control-health\r\nAccept: */*\r\n"
                      "Connection: close\r\n\r\n";
    for (size_t off = 0; off < req.size();) {
        ssize_t n = ::send(fd.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += size_t(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd.get(), POLLOUT, deadline)) return failure("send: timed out");
        } else {
            return failure(std::string("send: ") + std::strerror(errno));
        }
    }
    // The head must stay in place for the parser's views: one buffer that never grows.
    constexpr size_t kCap = 32 * 1024;
    std::unique_ptr<char[]> buf(new char[kCap]);
    size_t len = 0, pos = 0;
    shared::http::ResponseParser parser(kCap / 2);
    ProbeResponse out;
    bool have_head = false;
    for (;;) {
        while (pos < len) {
            auto r = parser.feed(buf.get() + pos, len - pos);
            pos += r.consumed;
            switch (r.event) {
            case shared::http::ResponseEvent::kHeadComplete:
                if (parser.head().status >= 200) {
                    have_head = true;
                    out.status = parser.head().status;
                    out.served_by = std::string(parser.head().get(kServedByHeader));
                }
                break;
            case shared::http::ResponseEvent::kBody:
                append_excerpt(out.body_excerpt, parser.body());
                if (out.body_excerpt.size() >= kProbeExcerptBytes) return out;
                break;
            case shared::http::ResponseEvent::kMessageComplete:
                return out;
            case shared::http::ResponseEvent::kError:
                return failure("malformed response: " + std::string(parser.error_reason()));
            case shared::http::ResponseEvent::kNeedMore:
                break;
            }
        }
        if (len == kCap) {
            // Only body bytes remain unparsed here; the head (if any) sits before pos.
            if (have_head) return out;
            return failure("response head too large");
        }
        ssize_t n = ::recv(fd.get(), buf.get() + len, kCap - len, 0);
        if (n > 0) {
            len += size_t(n);
        } else if (n == 0) {
            if (parser.finish() == shared::http::ResponseEvent::kMessageComplete || have_head)
                return out;
            return failure("the connection closed before a response");
        } else if (errno == EAGAIN || errno == EINTR) {
            if (!wait_for(fd.get(), POLLIN, deadline))
                return have_head
                           ? out
                           : failure("no response within " + std::to_string(timeout_ms) + " ms");
        } else {
            return failure(std::string("recv: ") + std::strerror(errno));
        }
    }
}

} // namespace berth::control
