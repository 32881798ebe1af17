// Something a request can wait for on its worker loop (a file load, later an upstream
// connect), and the requests waiting for it. The waiters are woken on the loop thread, one at
// a time: a waiter woken first may make another one forget its wait. A wake-up is for the
// waiters present when it starts; one that waits again meanwhile waits for the next.
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
        for (std::vector<Waiter *> *list : {&waiters_, waking_})
            if (list)
                for (Waiter *&x : *list)
                    if (x == w) x = nullptr;
    }
    // Loop thread, once what they wait for is done (or came to nothing).
    void wake()
    {
        std::vector<Waiter *> now;
        now.swap(waiters_);
        waking_ = &now;
        for (Waiter *&slot : now) {
            Waiter *w = slot;
            slot = nullptr;
            if (w) w->on_wake();
        }
        waking_ = nullptr;
    }
    bool has_waiters() const noexcept
    {
        for (Waiter *w : waiters_)
            if (w) return true;
        return false;
    }

private:
    std::vector<Waiter *> waiters_; // null: forgotten
    std::vector<Waiter *> *waking_ = nullptr;
};

using WakeRef = std::shared_ptr<WakeList>;

} // namespace berth::edge
