// SendBatch over real sockets: every slot's bytes arrive, each sender hears sendmsg's result
// (bytes, -EAGAIN from a full socket), a cancelled slot sends nothing, and a sender that
// reserves again from on_sent is sent before submit() returns.
#include <catch2/catch.hpp>

#include <cerrno>
#include <fcntl.h>
#include <functional>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "edge/io/send_batch.h"
#include "tests/support/socket_pair.h"

using namespace berth::edge;
using berth::test::SocketPair;

namespace
{

struct Recorder final : SendBatch::Sender {
    std::vector<ssize_t> results;
    std::function<void()> then;
    void on_sent(ssize_t result) override
    {
        results.push_back(result);
        if (then) then();
    }
};

void fill(SendBatch::Slot &slot, const std::string &a, const std::string &b)
{
    slot.iov[0] = {const_cast<char *>(a.data()), a.size()};
    slot.iov[1] = {const_cast<char *>(b.data()), b.size()};
    slot.n_iov = 2;
}

} // namespace

TEST_CASE("a batch sends every slot's gather list in order and reports the byte counts",
          "[send_batch]")
{
    SendBatch batch(true);
    if (!batch.enabled()) {
        WARN("io_uring is refused here (" << batch.describe() << "): nothing to test");
        return;
    }
    CHECK(batch.describe() == "io_uring");
    SocketPair p1, p2;
    Recorder r1, r2;
    std::string h1 = "HTTP/1.1 200 OK\r\n\r\n", b1 = "first body";
    std::string h2 = "HTTP/1.1 404 Not Found\r\n\r\n", b2(3000, 'x');
    SendBatch::Slot *s1 = batch.reserve(&r1, p1.ours);
    SendBatch::Slot *s2 = batch.reserve(&r2, p2.ours);
    REQUIRE(s1);
    REQUIRE(s2);
    fill(*s1, h1, b1);
    fill(*s2, h2, b2);
    CHECK_FALSE(batch.empty());
    batch.submit();
    CHECK(batch.empty());
    CHECK(r1.results == std::vector<ssize_t>{ssize_t(h1.size() + b1.size())});
    CHECK(r2.results == std::vector<ssize_t>{ssize_t(h2.size() + b2.size())});
    CHECK(p1.drain() == h1 + b1);
    CHECK(p2.drain() == h2 + b2);
}

TEST_CASE("a full socket answers -EAGAIN at once and the others still go", "[send_batch]")
{
    SendBatch batch(true);
    if (!batch.enabled()) return;
    SocketPair full, open;
    std::string chunk(65536, 'f');
    while (::write(full.ours, chunk.data(), chunk.size()) > 0) {
    }
    REQUIRE(errno == EAGAIN);
    Recorder rf, ro;
    std::string h = "head", b = "body";
    fill(*batch.reserve(&rf, full.ours), h, b);
    fill(*batch.reserve(&ro, open.ours), h, b);
    batch.submit();
    CHECK(rf.results == std::vector<ssize_t>{-EAGAIN});
    CHECK(ro.results == std::vector<ssize_t>{8});
    CHECK(open.drain() == "headbody");
}

TEST_CASE("a cancelled slot sends nothing, a closed socket's error reaches its sender",
          "[send_batch]")
{
    SendBatch batch(true);
    if (!batch.enabled()) return;
    SocketPair a, b, c;
    Recorder ra, rb, rc;
    std::string h = "head", body = "body";
    fill(*batch.reserve(&ra, a.ours), h, body);
    fill(*batch.reserve(&rb, b.ours), h, body);
    fill(*batch.reserve(&rc, c.ours), h, body);
    batch.cancel(&ra);
    ::shutdown(c.ours, SHUT_WR); // sending now fails with EPIPE (MSG_NOSIGNAL: no signal)
    batch.submit();
    CHECK(ra.results.empty());
    CHECK(a.drain().empty());
    CHECK(rb.results == std::vector<ssize_t>{8});
    CHECK(b.drain() == "headbody");
    CHECK(rc.results == std::vector<ssize_t>{-EPIPE});
}

TEST_CASE("a sender reserving again from on_sent is sent before submit returns", "[send_batch]")
{
    SendBatch batch(true);
    if (!batch.enabled()) return;
    SocketPair p;
    Recorder r;
    std::vector<std::string> parts = {"one ", "two ", "three"};
    std::string empty;
    size_t next = 1;
    r.then = [&] {
        if (next == parts.size()) return;
        fill(*batch.reserve(&r, p.ours), parts[next++], empty);
    };
    fill(*batch.reserve(&r, p.ours), parts[0], empty);
    batch.submit();
    CHECK(r.results == std::vector<ssize_t>{4, 4, 5});
    CHECK(batch.empty());
    CHECK(p.drain() == "one two three");
}

TEST_CASE("a full batch and a batch turned off say no, so the caller sends directly",
          "[send_batch]")
{
    SendBatch off(false);
    Recorder r;
    CHECK_FALSE(off.enabled());
    CHECK(off.reserve(&r, 0) == nullptr);
    CHECK(off.describe() == "sendmsg (io_uring = false)");

    SendBatch batch(true);
    if (!batch.enabled()) return;
    SocketPair p;
    std::string h = "x", empty;
    for (unsigned i = 0; i < SendBatch::kSlots; ++i)
        fill(*batch.reserve(&r, p.ours), h, empty);
    CHECK(batch.reserve(&r, p.ours) == nullptr);
    batch.submit();
    CHECK(r.results.size() == SendBatch::kSlots);
    CHECK(p.drain() == std::string(SendBatch::kSlots, 'x'));
}
