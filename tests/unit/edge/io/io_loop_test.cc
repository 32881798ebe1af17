// IoLoop: edge-triggered sockets report each new arrival once, level-triggered ones every
// round while ready; libuv's timers and threadpool completions run inside the same rounds;
// a closed descriptor leaves the set.
#include <catch2/catch.hpp>

#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <uv.h>

#include "edge/io/io_loop.h"
#include "tests/support/socket_pair.h"

using namespace berth::edge;
using berth::test::SocketPair;

namespace
{

struct Counting final : IoWatcher {
    std::vector<uint32_t> events;
    void on_io(uint32_t e) override { events.push_back(e); }
    size_t readable() const
    {
        size_t n = 0;
        for (uint32_t e : events)
            n += (e & EPOLLIN) != 0;
        return n;
    }
};

struct Loop {
    uv_loop_t uv;
    std::unique_ptr<IoLoop> io;
    Loop()
    {
        uv_loop_init(&uv);
        io = std::make_unique<IoLoop>(&uv, false);
    }
    ~Loop()
    {
        io.reset();
        uv_loop_close(&uv);
    }
};

} // namespace

TEST_CASE("an edge-triggered socket hears each arrival once, not each round", "[io_loop]")
{
    Loop l;
    SocketPair s;
    Counting w;
    REQUIRE(l.io->watch(s.ours, &w));
    l.io->run_once(0);
    CHECK(w.readable() == 0);
    REQUIRE(::write(s.peer, "x", 1) == 1);
    l.io->run_once(100);
    CHECK(w.readable() == 1);
    l.io->run_once(0); // still unread, but no new arrival: no new event
    l.io->run_once(0);
    CHECK(w.readable() == 1);
    REQUIRE(::write(s.peer, "y", 1) == 1);
    l.io->run_once(100);
    CHECK(w.readable() == 2);
    uint64_t rounds = l.io->rounds();
    CHECK(rounds == 5);
}

TEST_CASE("a level-triggered socket is reported every round while ready", "[io_loop]")
{
    Loop l;
    SocketPair s;
    Counting w;
    REQUIRE(l.io->watch_level(s.ours, &w));
    REQUIRE(::write(s.peer, "x", 1) == 1);
    l.io->run_once(100);
    l.io->run_once(0);
    CHECK(w.readable() == 2);
    char c;
    REQUIRE(::read(s.ours, &c, 1) == 1);
    l.io->run_once(0);
    CHECK(w.readable() == 2);
    l.io->unwatch(s.ours);
    REQUIRE(::write(s.peer, "z", 1) == 1);
    l.io->run_once(0);
    CHECK(w.readable() == 2);
}

TEST_CASE("the peer's shutdown is reported with the readable bits", "[io_loop]")
{
    Loop l;
    SocketPair s;
    Counting w;
    REQUIRE(l.io->watch(s.ours, &w));
    ::shutdown(s.peer, SHUT_WR);
    l.io->run_once(100);
    REQUIRE_FALSE(w.events.empty());
    CHECK((w.events.back() & EPOLLRDHUP) != 0);
}

TEST_CASE("libuv timers and threadpool work run inside the loop's rounds", "[io_loop]")
{
    Loop l;
    uv_timer_t timer;
    uv_timer_init(&l.uv, &timer);
    int fired = 0;
    timer.data = &fired;
    uv_timer_start(
        &timer, [](uv_timer_t *t) { ++*static_cast<int *>(t->data); }, 20, 0);
    uv_work_t work;
    int done = 0;
    work.data = &done;
    REQUIRE(uv_queue_work(
                &l.uv, &work, [](uv_work_t *) {},
                [](uv_work_t *w, int) { ++*static_cast<int *>(w->data); }) == 0);
    for (int i = 0; i < 100 && (fired == 0 || done == 0); ++i)
        l.io->run_once(-1); // waits for libuv's next due timer or completion, no longer
    CHECK(fired == 1);
    CHECK(done == 1);
    uv_close(reinterpret_cast<uv_handle_t *>(&timer), nullptr);
    uv_run(&l.uv, UV_RUN_DEFAULT);
}
