// DeferAcceptPolicy: when a worker's listeners hold connections until their first bytes.
#include <catch2/catch.hpp>

#include "edge/accept/defer_accept_policy.h"

using berth::edge::AutoSwitch;
using berth::edge::DeferAcceptPolicy;

TEST_CASE("defer_accept true and false never change", "[defer_accept]")
{
    DeferAcceptPolicy on(AutoSwitch::kOn, 100), off(AutoSwitch::kOff, 100);
    CHECK(on.deferring());
    CHECK_FALSE(off.deferring());
    CHECK_FALSE(on.observe(0, 10'000));
    CHECK_FALSE(off.observe(1'000'000, 1000));
    CHECK(on.deferring());
    CHECK_FALSE(off.deferring());
}

TEST_CASE("auto starts off and turns on at the configured rate", "[defer_accept]")
{
    DeferAcceptPolicy p(AutoSwitch::kAuto, 2000);
    CHECK_FALSE(p.deferring());
    CHECK_FALSE(p.observe(499, 250)); // 1996 per second
    CHECK_FALSE(p.deferring());
    CHECK(p.observe(500, 250)); // 2000 per second
    CHECK(p.deferring());
}

TEST_CASE("auto measures over whole windows, not single ticks", "[defer_accept]")
{
    DeferAcceptPolicy p(AutoSwitch::kAuto, 2000);
    // A burst of 100 connections in one 10 ms tick is 10000/s, but the window is not over.
    CHECK_FALSE(p.observe(100, 10));
    for (int i = 0; i < 23; ++i)
        CHECK_FALSE(p.observe(0, 10));
    // The window closes at 250 ms with 100 connections: 400 per second, below the rate.
    CHECK_FALSE(p.observe(0, 10));
    CHECK_FALSE(p.deferring());
    // The next window starts empty: 500 over 250 ms turns it on.
    for (int i = 0; i < 24; ++i)
        CHECK_FALSE(p.observe(20, 10));
    CHECK(p.observe(20, 10));
    CHECK(p.deferring());
}

TEST_CASE("auto turns off only below a quarter of the rate", "[defer_accept]")
{
    DeferAcceptPolicy p(AutoSwitch::kAuto, 2000);
    REQUIRE(p.observe(1000, 500));
    CHECK_FALSE(p.observe(250, 500)); // 500 per second: still a storm's tail
    CHECK(p.deferring());
    CHECK(p.observe(249, 500)); // 498 per second: quiet
    CHECK_FALSE(p.deferring());
    CHECK_FALSE(p.observe(0, 60'000)); // a long idle stretch stays off
}
