// OutputQueue: heads and bodies in order over a real socket, and the page-cache check that
// keeps sendfile() from waiting on the disk (a file evicted with POSIX_FADV_DONTNEED).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/io/io_loop.h"
#include "edge/io/resident_pages.h"
#include "edge/transport/plain_transport.h"
#include "edge/write/output_queue.h"
#include "tests/support/fake_transport.h"
#include "tests/support/socket_pair.h"

using namespace berth::edge;
using berth::test::FakeTransport;
using berth::test::SocketPair;

namespace
{

// A file of `size` patterned bytes in /tmp, removed at the end, open as a FileSource.
struct TempBody {
    std::string path;
    std::string bytes;
    uint64_t resident_checked_ms = 0;
    FileSource source;
    Keep keep = std::make_shared<int>(0); // what a cache entry would be
    explicit TempBody(size_t size)
    {
        path = (std::filesystem::temp_directory_path() / "berth-output-queue-XXXXXX").string();
        int fd = mkstemp(path.data());
        REQUIRE(fd >= 0);
        for (size_t i = 0; i < size; ++i)
            bytes.push_back(char('a' + i % 23));
        REQUIRE(write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size()));
        fdatasync(fd);
        source = FileSource{fd, size, &resident_checked_ms};
    }
    ~TempBody()
    {
        ::close(source.fd);
        std::filesystem::remove(path);
    }
    void evict() const { posix_fadvise(source.fd, 0, 0, POSIX_FADV_DONTNEED); }
};

// A real socket behind a PlainTransport (sends made directly: no io_uring batch here).
struct Socket {
    uv_loop_t uv;
    std::unique_ptr<IoLoop> io;
    SocketPair pair;
    std::unique_ptr<PlainTransport> transport;
    Socket()
    {
        uv_loop_init(&uv);
        io = std::make_unique<IoLoop>(&uv, false);
        transport = std::make_unique<PlainTransport>(*io, dup(pair.ours));
    }
    ~Socket()
    {
        transport.reset();
        io.reset();
        uv_loop_close(&uv);
    }
    std::string drain() const { return pair.drain(); }
};

// Flushes until done, reading the other end as it goes; stops early on kCold.
OutputQueue::Flush flush_all(OutputQueue &q, Socket &s, std::string &got, uint64_t now_ms)
{
    uint64_t written = 0;
    while (true) {
        auto r = q.flush(*s.transport, written, false, now_ms);
        got += s.drain();
        if (r != OutputQueue::Flush::kBlocked) return r;
    }
}

} // namespace

TEST_CASE("a cached head and a file body leave in order", "[output_queue]")
{
    TempBody file(300 * 1024);
    Socket s;
    OutputQueue q;
    q.buffer() = "HEAD\r\n\r\n";
    q.push_file(file.source, 0, file.bytes.size(), file.keep);
    std::string got;
    CHECK(flush_all(q, s, got, 1000) == OutputQueue::Flush::kDone);
    CHECK(got == "HEAD\r\n\r\n" + file.bytes);
    CHECK(q.empty());
}

TEST_CASE("an evicted file window is reported cold, then sent once marked warm", "[output_queue]")
{
    TempBody file(3 * 1024 * 1024 + 100); // several send windows
    Socket s;
    OutputQueue q;
    q.buffer() = "H\r\n\r\n";
    q.push_file(file.source, 0, file.bytes.size(), file.keep);
    file.evict();
    std::string got;
    REQUIRE(flush_all(q, s, got, 1000) == OutputQueue::Flush::kCold);
    CHECK(got == "H\r\n\r\n"); // the head went out; the body waits for the disk
    auto w = q.cold_window();
    CHECK(w.fd == file.source.fd);
    CHECK(w.offset == 0);
    CHECK(w.length == OutputQueue::kWindow);
    // What the warmer does on the threadpool, done here: read the window in.
    std::string scratch(size_t(w.length), '\0');
    REQUIRE(pread(w.fd, scratch.data(), scratch.size(), 0) == ssize_t(w.length));
    CHECK(pages_resident(w.fd, 0, w.length));
    q.mark_warm();
    // Each later window is checked in turn; warm them as they come.
    OutputQueue::Flush r;
    int cold_windows = 1;
    while ((r = flush_all(q, s, got, 1000)) == OutputQueue::Flush::kCold) {
        auto next = q.cold_window();
        CHECK(next.offset % OutputQueue::kWindow == 0);
        REQUIRE(pread(next.fd, scratch.data(), size_t(next.length), off_t(next.offset)) ==
                ssize_t(next.length));
        q.mark_warm();
        REQUIRE(++cold_windows <= 4);
    }
    CHECK(r == OutputQueue::Flush::kDone);
    CHECK(got == "H\r\n\r\n" + file.bytes);
}

TEST_CASE("a small file found in the page cache is not checked again within a second",
          "[output_queue]")
{
    TempBody file(200 * 1024);
    Socket s;
    OutputQueue q;
    std::string got;
    q.push_file(file.source, 0, file.bytes.size(), file.keep);
    REQUIRE(flush_all(q, s, got, 5000) == OutputQueue::Flush::kDone); // found resident

    file.evict();
    q.push_file(file.source, 0, file.bytes.size(), file.keep);
    got.clear();
    CHECK(flush_all(q, s, got, 5999) == OutputQueue::Flush::kDone); // trusted for a second
    CHECK(got == file.bytes);

    file.evict();
    q.push_file(file.source, 0, file.bytes.size(), file.keep);
    CHECK(flush_all(q, s, got, 6000) == OutputQueue::Flush::kCold); // then checked again
}

TEST_CASE("a large memory body goes out in pieces of at most kMaxSendBytes, whole and in order",
          "[output_queue]")
{
    std::string body;
    for (size_t i = 0; i < 100 * 1024 + 7; ++i)
        body.push_back(char('A' + i % 26));
    Keep keep = std::make_shared<int>(0);
    OutputQueue q;
    q.buffer() = "HEAD\r\n\r\n";
    q.push_memory(body.data(), body.size(), keep);
    q.buffer() += "NEXT\r\n\r\n"; // a pipelined response behind it
    q.commit_buffer();

    // Each send is one piece: the head and the first part of the body, then the rest.
    FakeTransport t;
    t.send_room = OutputQueue::kMaxSendBytes; // the socket takes exactly one piece
    uint64_t written = 0;
    CHECK(q.flush(t, written, false, 0) == OutputQueue::Flush::kBlocked);
    CHECK(t.output.size() == OutputQueue::kMaxSendBytes);
    CHECK(t.output == ("HEAD\r\n\r\n" + body).substr(0, OutputQueue::kMaxSendBytes));

    // A slow reader: the socket takes what it can, the rest waits for send space.
    Socket s;
    int small = 16 * 1024;
    setsockopt(s.pair.ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    std::string got = t.output;
    OutputQueue::Flush r;
    int rounds = 0;
    while ((r = q.flush(*s.transport, written, false, 0)) == OutputQueue::Flush::kBlocked) {
        got += s.drain();
        REQUIRE(++rounds < 1000);
    }
    CHECK(r == OutputQueue::Flush::kDone);
    got += s.drain();
    CHECK(got == "HEAD\r\n\r\n" + body + "NEXT\r\n\r\n");
    CHECK(written == got.size());
    CHECK(q.empty());
    CHECK(q.sent_total() == got.size());
    CHECK(q.queued_total() == got.size());
}

TEST_CASE("a send queued for the round's batch holds the output until its result comes",
          "[output_queue]")
{
    OutputQueue q;
    q.buffer() = "ONE\r\n";
    FakeTransport t;
    t.batch = true;
    uint64_t written = 0;
    REQUIRE(q.flush(t, written, false, 0) == OutputQueue::Flush::kQueued);
    CHECK(q.in_flight());
    CHECK(written == 0);
    // The socket took only part: the rest stays queued, in order.
    CHECK(q.sent(2, written) == OutputQueue::Flush::kBlocked);
    CHECK(written == 2);
    CHECK(q.unsent() == 3);
    t.batch = false;
    CHECK(q.flush(t, written, false, 0) == OutputQueue::Flush::kDone);
    CHECK(t.output == "E\r\n");
    CHECK(q.empty());
    // A full socket (-EAGAIN) and a broken one (-EPIPE).
    q.buffer() = "TWO";
    t.batch = true;
    REQUIRE(q.flush(t, written, false, 0) == OutputQueue::Flush::kQueued);
    CHECK(q.sent(-EAGAIN, written) == OutputQueue::Flush::kBlocked);
    REQUIRE(q.flush(t, written, false, 0) == OutputQueue::Flush::kQueued);
    CHECK(q.sent(-EPIPE, written) == OutputQueue::Flush::kError);
}
