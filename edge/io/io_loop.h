// The worker's event loop: an edge-triggered epoll set for its sockets, with the libuv loop
// (timers, async wake-ups, threadpool completions) nested inside it through uv_backend_fd().
//
// Why not uv_poll per connection: libuv registers a descriptor with five syscalls (an ADD/DEL
// probe, FIONBIO, a DEL, then the real ADD) and removes it with another DEL, and its level-
// triggered epoll polls every ready socket twice. Here a connection costs one epoll_ctl for
// its whole life, and close() removes it from the set.
//
// The sends of a round leave together at its end (send_batch.h).
#pragma once

#include <cstdint>
#include <sys/epoll.h>

#include <uv.h>

#include "edge/io/send_batch.h"

namespace berth::edge
{

// Something with a descriptor in the IoLoop. `events` are epoll's bits (EPOLLIN, EPOLLOUT,
// EPOLLRDHUP, EPOLLHUP, EPOLLERR).
class IoWatcher
{
public:
    virtual void on_io(uint32_t events) = 0;

protected:
    ~IoWatcher() = default;
};

class IoLoop
{
public:
    // use_io_uring: batch sends through a ring where the kernel allows one.
    IoLoop(uv_loop_t *uv, bool use_io_uring);
    IoLoop(const IoLoop &) = delete;
    IoLoop &operator=(const IoLoop &) = delete;
    ~IoLoop();

    // Edge-triggered readable and writable interest for the descriptor's whole life: the
    // watcher reads until a short read or EAGAIN, and hears of new bytes or new send space.
    // Closing the descriptor removes it.
    bool watch(int fd, IoWatcher *w) noexcept;
    // Level-triggered readable interest (listeners: one accept per round, the rest the next).
    bool watch_level(int fd, IoWatcher *w) noexcept;
    void unwatch(int fd) noexcept;

    // One round: waits for socket events or libuv's next due timer (at most max_wait_ms, -1:
    // no limit), dispatches the events, then lets libuv run what is due; the sends queued
    // by either leave after each.
    void run_once(int max_wait_ms = -1);

    SendBatch &sends() noexcept { return sends_; }
    // Rounds run so far, counting the one under way.
    uint64_t rounds() const noexcept { return rounds_; }

private:
    uv_loop_t *uv_;
    uint64_t rounds_ = 0;
    int epfd_ = -1;
    SendBatch sends_;
};

} // namespace berth::edge
