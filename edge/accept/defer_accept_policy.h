// When a worker's listeners ask the kernel to hold new connections until their first bytes
// arrive (TCP_DEFER_ACCEPT, one second).
//
// A held connection wakes the worker once, with its request already there, instead of once
// for the accept and again for the bytes; a wake-up is the dearest thing a worker does on a
// virtual machine. The price: a connection that sends nothing stays in the kernel for about a
// second, not counted against max_connections, its header timeout starting late.
// "auto" pays that price only while new connections arrive at `on_rate` per second or more,
// and keeps exact accounting on a quiet edge.
#pragma once

#include <cstdint>

#include "edge/config/edge_config.h"

namespace berth::edge
{

class DeferAcceptPolicy
{
public:
    // The rate is measured over windows of at least this long (ticks may be 10 ms apart).
    static constexpr uint64_t kWindowMs = 250;

    DeferAcceptPolicy(AutoSwitch mode, uint32_t on_rate) noexcept;

    bool deferring() const noexcept { return deferring_; }
    // Counts `accepted` connections over `elapsed_ms`; true when deferring() changed. Auto
    // turns on at on_rate per second and off below a quarter of it, so a rate near the
    // threshold does not flip the listeners every window.
    bool observe(uint64_t accepted, uint64_t elapsed_ms) noexcept;

private:
    AutoSwitch mode_;
    uint64_t on_rate_;
    bool deferring_;
    uint64_t window_accepted_ = 0;
    uint64_t window_ms_ = 0;
};

} // namespace berth::edge
