// Something a request can wait for on its worker loop (a file load, later an upstream
// connect), and the requests waiting for it. The waiters are woken on the loop thread, one at
// a time: a waiter woken first may make another one forget its wait.
#pragma once

#include <memory>
#include <vector>

namespace berth::edge
{

class Waiter
{
public:
    virtual void on_wake() = 0;

protected:
    ~Waiter() = default;
};

class WakeList
{
public:
    void wait(Waiter *w) { waiters_.push_back(w); }
    // The waiter goes away first (its connection closed).
    void forget(Waiter *w) noexcept
    {
        for (size_t i = 0; i < waiters_.size(); ++i)
            if (waiters_[i] == w) {
                waiters_.erase(waiters_.begin() + std::ptrdiff_t(i));
                return;
            }
    }
    // Loop thread, once what they wait for is done (or came to nothing).
    void wake()
    {
        while (!waiters_.empty()) {
            Waiter *w = waiters_.front();
            waiters_.erase(waiters_.begin());
            w->on_wake();
        }
    }
    bool has_waiters() const noexcept { return !waiters_.empty(); }

private:
    std::vector<Waiter *> waiters_;
};

using WakeRef = std::shared_ptr<WakeList>;

} // namespace berth::edge
