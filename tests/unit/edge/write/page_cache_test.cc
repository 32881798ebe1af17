// PageCacheWarmer: a window of an evicted file is read into the page cache on the threadpool,
// then its waiter hears on_warm on the loop thread; a waiter that went away hears nothing.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <string>
#include <thread>
#include <unistd.h>

#include <uv.h>

#include "edge/io/resident_pages.h"
#include "edge/write/page_cache.h"
#include "tests/support/temp_tree.h"

using namespace berth::edge;
using berth::test::TempTree;

namespace
{

struct Waiting : WarmTicket::Waiter {
    int warmed = 0;
    std::thread::id on_thread;
    void on_warm() override
    {
        ++warmed;
        on_thread = std::this_thread::get_id();
    }
};

// Drops the file's pages until mincore sees none resident (false if the kernel keeps them).
bool evict(int fd, size_t size)
{
    for (int i = 0; i < 50; ++i) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        if (!pages_resident(fd, 0, size)) return true;
        usleep(20 * 1000);
    }
    return false;
}

} // namespace

TEST_CASE("a cold file window is read in off the loop thread, then its waiter is told",
          "[page_cache]")
{
    TempTree t;
    size_t size = 3 * 1024 * 1024;
    t.write("big.bin", std::string(size, 'w'));
    int fd = ::open(t.path("big.bin").c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    if (!evict(fd, size)) {
        WARN("the kernel keeps this file's pages: cannot set up a cold window here");
        ::close(fd);
        return;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    PageCacheWarmer warmer(&loop);
    auto ticket = std::make_shared<WarmTicket>();
    Waiting w;
    ticket->waiting = &w;
    REQUIRE(warmer.warm(fd, 1 << 20, 1 << 20, std::make_shared<int>(0), ticket));
    CHECK(w.warmed == 0); // queued on the threadpool
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(w.warmed == 1);
    CHECK(w.on_thread == std::this_thread::get_id()); // the loop thread
    CHECK(ticket->waiting == nullptr);
    CHECK(pages_resident(fd, 1 << 20, 1 << 20));

    // A waiter that left (its connection closed) is not called.
    REQUIRE(evict(fd, size));
    ticket->waiting = nullptr;
    REQUIRE(warmer.warm(fd, 0, 1 << 20, std::make_shared<int>(0), ticket));
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(w.warmed == 1);
    uv_loop_close(&loop);
    ::close(fd);
}

TEST_CASE("without a loop the warmer refuses, so the caller sends as it is", "[page_cache]")
{
    PageCacheWarmer warmer(nullptr);
    CHECK_FALSE(warmer.warm(0, 0, 1, nullptr, std::make_shared<WarmTicket>()));
}
