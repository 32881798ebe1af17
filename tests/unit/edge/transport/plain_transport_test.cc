// PlainTransport over real sockets: reads say when the socket may hold more, sends go in the
// round's io_uring batch where the kernel allows it (or directly), files go by sendfile, a
// close drops a queued send, and epoll readiness reaches the user as transport readiness.
#include <catch2/catch.hpp>

#include <cerrno>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <uv.h>

#include "edge/io/io_loop.h"
#include "edge/transport/plain_transport.h"
#include "tests/support/socket_pair.h"
#include "tests/support/temp_tree.h"

using namespace berth::edge;
using berth::test::SocketPair;
using berth::test::TempTree;

namespace
{

struct User final : TransportUser {
    std::vector<uint8_t> ready;
    std::vector<ssize_t> sent;
    void on_ready(uint8_t r) override { ready.push_back(r); }
    void on_sent(ssize_t result) override { sent.push_back(result); }
};

struct Setup {
    uv_loop_t uv;
    std::unique_ptr<IoLoop> io;
    SocketPair pair;
    std::unique_ptr<PlainTransport> t;
    User user;
    explicit Setup(bool io_uring)
    {
        uv_loop_init(&uv);
        io = std::make_unique<IoLoop>(&uv, io_uring);
        t = std::make_unique<PlainTransport>(*io, dup(pair.ours));
        t->set_user(&user);
    }
    ~Setup()
    {
        t.reset();
        io.reset();
        uv_loop_close(&uv);
    }
};

} // namespace

TEST_CASE("a read that fills the buffer may have left more, a short one emptied the socket",
          "[transport]")
{
    Setup s(false);
    REQUIRE(::write(s.pair.peer, "0123456789", 10) == 10);
    char buf[4];
    ReadResult r = s.t->read(buf, sizeof buf);
    CHECK(r.n == 4);
    CHECK(r.more);
    char big[64];
    r = s.t->read(big, sizeof big);
    CHECK(r.n == 6);
    CHECK_FALSE(r.more);
    CHECK(s.t->read(big, sizeof big).n == -EAGAIN);
    ::shutdown(s.pair.peer, SHUT_WR);
    CHECK(s.t->read(big, sizeof big).n == 0);
}

TEST_CASE("sends go directly without a ring, and in the round's batch with one", "[transport]")
{
    for (bool ring : {false, true}) {
        CAPTURE(ring);
        Setup s(ring);
        std::string a = "hello ", b = "world";
        iovec iov[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
        ssize_t n = s.t->send(iov, 2, 11, false);
        if (ring && s.io->sends().enabled()) {
            CHECK(n == Transport::kQueued);
            CHECK(s.pair.drain().empty()); // not before the round ends
            s.io->run_once(0);
            REQUIRE(s.user.sent.size() == 1);
            CHECK(s.user.sent[0] == 11);
        } else {
            CHECK(n == 11);
        }
        CHECK(s.pair.drain() == "hello world");
    }
}

TEST_CASE("a close drops a send still queued for the round", "[transport]")
{
    Setup s(true);
    if (!s.io->sends().enabled()) {
        WARN("no io_uring here: " << s.io->sends().describe());
        return;
    }
    std::string a = "never";
    iovec iov{a.data(), a.size()};
    REQUIRE(s.t->send(&iov, 1, a.size(), false) == Transport::kQueued);
    s.t->close();
    s.io->run_once(0);
    CHECK(s.user.sent.empty());
    CHECK(s.pair.drain().empty());
}

TEST_CASE("a file range goes by sendfile", "[transport]")
{
    Setup s(false);
    TempTree t;
    t.write("f.txt", "abcdefghij");
    int fd = ::open(t.path("f.txt").c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK(s.t->send_file(fd, 3, 4) == 4);
    CHECK(s.pair.drain() == "defg");
    CHECK(s.t->send_file(fd, 10, 4) == -EIO); // past the end: shorter than promised
    ::close(fd);
}

TEST_CASE("epoll readiness reaches the user once watched", "[transport]")
{
    Setup s(false);
    REQUIRE(s.t->watch());
    REQUIRE(s.t->watch()); // once is enough; again does nothing
    s.io->run_once(0);
    REQUIRE_FALSE(s.user.ready.empty());
    CHECK((s.user.ready.back() & kWritable) != 0);
    s.user.ready.clear();
    REQUIRE(::write(s.pair.peer, "x", 1) == 1);
    s.io->run_once(100);
    REQUIRE_FALSE(s.user.ready.empty());
    CHECK((s.user.ready.back() & kReadable) != 0);
    s.user.ready.clear();
    ::shutdown(s.pair.peer, SHUT_WR);
    s.io->run_once(100);
    REQUIRE_FALSE(s.user.ready.empty());
    CHECK((s.user.ready.back() & (kHangup | kReadable)) == (kHangup | kReadable));
}
