// Non-blocking socket with one deadline per call: a stuck edge costs its caller at most the
// timeout, never a hang (#12: replaces the hand-written clients of control, the CLI and tests).
#include "shared/admin/admin_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "shared/admin/admin_protocol.h"

namespace berth::shared::admin
{

namespace
{

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline)
{
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() > 0 ? int(left.count()) : 0;
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline)
{
    for (;;) {
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, ms_left(deadline));
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) return false;
    }
}

} // namespace

AdminClient::AdminClient(std::string path, int timeout_ms)
    : path_(std::move(path)), timeout_ms_(timeout_ms)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.empty() || path_.size() >= sizeof addr.sun_path)
        throw AdminError("admin socket \"" + path_ + "\": the path must be 1 to " +
                         std::to_string(sizeof addr.sun_path - 1) + " bytes long");
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) fail(std::string("cannot create a socket: ") + std::strerror(errno));
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    // A unix socket connects at once or refuses; EAGAIN means its backlog is full: retry.
    while (::connect(fd_, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN)
            fail(std::string("cannot connect: ") + std::strerror(errno) +
                 (errno == ENOENT || errno == ECONNREFUSED ? " (is the edge running?)" : ""));
        if (ms_left(deadline) == 0)
            fail("cannot connect: its backlog stayed full for " + std::to_string(timeout_ms_) +
                 " ms");
        ::poll(nullptr, 0, 5);
    }
}

AdminClient::AdminClient(AdminClient &&other) noexcept
    : path_(std::move(other.path_)), timeout_ms_(other.timeout_ms_), fd_(other.fd_),
      buf_(std::move(other.buf_))
{
    other.fd_ = -1;
}

AdminClient::~AdminClient()
{
    if (fd_ >= 0) ::close(fd_);
}

void AdminClient::fail(const std::string &what)
{
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    throw AdminError("admin socket " + path_ + ": " + what);
}

std::string AdminClient::call_line(std::string_view line)
{
    if (fd_ < 0) throw AdminError("admin socket " + path_ + ": the connection is closed");
    if (line.find('\n') != std::string_view::npos)
        throw AdminError("admin socket " + path_ + ": a request must be one line");
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    std::string out;
    out.reserve(line.size() + 1);
    out.append(line).push_back('\n');
    for (size_t off = 0; off < out.size();) {
        ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += size_t(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (!wait_for(fd_, POLLOUT, deadline))
                fail("timed out after " + std::to_string(timeout_ms_) + " ms sending the request");
        } else {
            fail(std::string("cannot send the request: ") + std::strerror(errno));
        }
    }
    size_t nl;
    while ((nl = buf_.find('\n')) == std::string::npos) {
        if (buf_.size() > kMaxLineBytes) fail("the reply line is too long");
        char tmp[16384];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_.append(tmp, size_t(n));
        } else if (n == 0) {
            fail("the edge closed the connection before replying");
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN) {
            if (!wait_for(fd_, POLLIN, deadline))
                fail("timed out after " + std::to_string(timeout_ms_) + " ms waiting for a reply");
        } else {
            fail(std::string("cannot read the reply: ") + std::strerror(errno));
        }
    }
    std::string reply = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    return reply;
}

nlohmann::json AdminClient::call(const nlohmann::json &request)
{
    std::string reply = call_line(request.dump());
    nlohmann::json doc = nlohmann::json::parse(reply, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        throw AdminError("admin socket " + path_ + ": the reply is not a JSON object");
    return doc;
}

} // namespace berth::shared::admin
