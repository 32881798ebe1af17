// OutputQueue: heads and bodies in order over a real socket, and the page-cache check that
// keeps sendfile() from waiting on the disk (a file evicted with POSIX_FADV_DONTNEED).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "edge/write/output_queue.h"
#include "edge/write/page_cache.h"
#include "tests/support/socket_pair.h"

using namespace berth::edge;
using berth::test::SocketPair;

namespace
{

// A file of `size` patterned bytes in /tmp, removed at the end, behind a FileBody.
struct TempBody {
    std::string path;
    std::string bytes;
    std::shared_ptr<FileEntry> entry = std::make_shared<FileEntry>();
    explicit TempBody(size_t size)
    {
        path = (std::filesystem::temp_directory_path() / "berth-output-queue-XXXXXX").string();
        int fd = mkstemp(path.data());
        REQUIRE(fd >= 0);
        for (size_t i = 0; i < size; ++i)
            bytes.push_back(char('a' + i % 23));
        REQUIRE(write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size()));
        fdatasync(fd);
        entry->identity.fd = fd;
        entry->identity.size = size;
    }
    ~TempBody() { std::filesystem::remove(path); }
    const FileBody &body() const { return entry->identity; }
    void evict() const { posix_fadvise(body().fd, 0, 0, POSIX_FADV_DONTNEED); }
};

// Flushes until done, reading the other end as it goes; stops early on kCold.
OutputQueue::Flush flush_all(OutputQueue &q, SocketPair &s, std::string &got, uint64_t now_ms)
{
    uint64_t written = 0;
    while (true) {
        auto r = q.flush(s.ours, written, false, now_ms);
        got += s.drain();
        if (r != OutputQueue::Flush::kBlocked) return r;
    }
}

} // namespace

TEST_CASE("a cached head and a file body leave in order", "[output_queue]")
{
    TempBody file(300 * 1024);
    SocketPair s;
    OutputQueue q;
    q.buffer() = "HEAD\r\n\r\n";
    q.push_file(file.body(), 0, file.bytes.size(), file.entry);
    std::string got;
    CHECK(flush_all(q, s, got, 1000) == OutputQueue::Flush::kDone);
    CHECK(got == "HEAD\r\n\r\n" + file.bytes);
    CHECK(q.empty());
}

TEST_CASE("an evicted file window is reported cold, then sent once marked warm", "[output_queue]")
{
    TempBody file(3 * 1024 * 1024 + 100); // several send windows
    SocketPair s;
    OutputQueue q;
    q.buffer() = "H\r\n\r\n";
    q.push_file(file.body(), 0, file.bytes.size(), file.entry);
    file.evict();
    std::string got;
    REQUIRE(flush_all(q, s, got, 1000) == OutputQueue::Flush::kCold);
    CHECK(got == "H\r\n\r\n"); // the head went out; the body waits for the disk
    auto w = q.cold_window();
    CHECK(w.fd == file.body().fd);
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
    SocketPair s;
    OutputQueue q;
    std::string got;
    q.push_file(file.body(), 0, file.bytes.size(), file.entry);
    REQUIRE(flush_all(q, s, got, 5000) == OutputQueue::Flush::kDone); // found resident

    file.evict();
    q.push_file(file.body(), 0, file.bytes.size(), file.entry);
    got.clear();
    CHECK(flush_all(q, s, got, 5999) == OutputQueue::Flush::kDone); // trusted for a second
    CHECK(got == file.bytes);

    file.evict();
    q.push_file(file.body(), 0, file.bytes.size(), file.entry);
    CHECK(flush_all(q, s, got, 6000) == OutputQueue::Flush::kCold); // then checked again
}

TEST_CASE("a large memory body goes out in pieces of at most kMaxSendBytes, whole and in order",
          "[output_queue]")
{
    std::string body;
    for (size_t i = 0; i < 100 * 1024 + 7; ++i)
        body.push_back(char('A' + i % 26));
    auto entry = std::make_shared<FileEntry>();
    OutputQueue q;
    q.buffer() = "HEAD\r\n\r\n";
    q.push_memory(body.data(), body.size(), entry);
    q.buffer() += "NEXT\r\n\r\n"; // a pipelined response behind it
    q.commit_buffer();

    iovec iov[OutputQueue::kMaxSegments];
    OutputQueue::Gathered g = q.gather(iov, false);
    CHECK(g.bytes == OutputQueue::kMaxSendBytes);
    CHECK(g.n_iov == 2); // the head and the first piece of the body
    CHECK(g.flags == 0);
    CHECK(iov[0].iov_len + iov[1].iov_len == g.bytes);

    // A slow reader: the socket takes what it can, the rest waits for send space.
    SocketPair s;
    int small = 16 * 1024;
    setsockopt(s.ours, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    std::string got;
    uint64_t written = 0;
    OutputQueue::Flush r;
    int rounds = 0;
    while ((r = q.flush(s.ours, written, false, 0)) == OutputQueue::Flush::kBlocked) {
        got += s.drain();
        REQUIRE(++rounds < 1000);
    }
    CHECK(r == OutputQueue::Flush::kDone);
    got += s.drain();
    CHECK(got == "HEAD\r\n\r\n" + body + "NEXT\r\n\r\n");
    CHECK(written == got.size());
    CHECK(q.empty());
}
