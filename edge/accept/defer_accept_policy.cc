#include "edge/accept/defer_accept_policy.h"

namespace berth::edge
{

DeferAcceptPolicy::DeferAcceptPolicy(AutoSwitch mode, uint32_t on_rate) noexcept
    : mode_(mode), on_rate_(on_rate), deferring_(mode == AutoSwitch::kOn)
{
}

bool DeferAcceptPolicy::observe(uint64_t accepted, uint64_t elapsed_ms) noexcept
{
    if (mode_ != AutoSwitch::kAuto) return false;
    window_accepted_ += accepted;
    window_ms_ += elapsed_ms;
    if (window_ms_ < kWindowMs) return false;
    // accepted/ms against rate/s, without dividing: accepted * 1000 >= rate * ms.
    uint64_t scaled = window_accepted_ * 1000;
    bool next = deferring_ ? scaled * 4 >= on_rate_ * window_ms_ : scaled >= on_rate_ * window_ms_;
    window_accepted_ = window_ms_ = 0;
    if (next == deferring_) return false;
    deferring_ = next;
    return true;
}

} // namespace berth::edge
