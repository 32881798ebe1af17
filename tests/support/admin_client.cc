#include "tests/support/admin_client.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace berth::test
{

AdminConn::AdminConn(const std::string &socket_path)
{
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_path.c_str());
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
}

AdminConn::~AdminConn()
{
    ::close(fd_);
}

nlohmann::json AdminConn::call(const std::string &line)
{
    std::string out = line + "\n";
    REQUIRE(::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) == ssize_t(out.size()));
    while (buf_.find('\n') == std::string::npos) {
        pollfd p{fd_, POLLIN, 0};
        REQUIRE(poll(&p, 1, 5000) == 1);
        char tmp[4096];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        REQUIRE(n > 0);
        buf_.append(tmp, size_t(n));
    }
    std::string reply = buf_.substr(0, buf_.find('\n'));
    buf_.erase(0, reply.size() + 1);
    return nlohmann::json::parse(reply);
}

} // namespace berth::test
