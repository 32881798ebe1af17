// Test support: a non-blocking AF_UNIX stream pair standing in for a client connection.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace berth::test
{

struct SocketPair {
    int ours = -1; // the server's end: what the code under test writes to
    int peer = -1; // the client's end
    SocketPair()
    {
        int fds[2];
        REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
        ours = fds[0];
        peer = fds[1];
    }
    SocketPair(const SocketPair &) = delete;
    SocketPair &operator=(const SocketPair &) = delete;
    ~SocketPair()
    {
        ::close(ours);
        ::close(peer);
    }
    // Everything the peer can read now.
    std::string drain() const
    {
        std::string got;
        char buf[65536];
        ssize_t n;
        while ((n = ::read(peer, buf, sizeof buf)) > 0)
            got.append(buf, size_t(n));
        return got;
    }
};

} // namespace berth::test
