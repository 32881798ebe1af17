// File bytes into the page cache without blocking a worker loop.
//
// sendfile() on the loop thread is only free of disk waits when the pages it sends are
// already cached. The OutputQueue checks each window of a file before sending it
// (pages_resident); a window that is not all there is read in on the libuv threadpool
// (PageCacheWarmer) while the connection waits, and sendfile() goes on once it is.
#pragma once

#include <cstdint>
#include <memory>

#include <uv.h>

#include "edge/write/output_queue.h"

namespace berth::edge
{

// Whoever waits for a warm-up. The waiter clears `waiting` when it goes away first.
struct WarmTicket {
    class Waiter
    {
    public:
        virtual void on_warm() = 0;

    protected:
        ~Waiter() = default;
    };
    Waiter *waiting = nullptr;
};

class PageCacheWarmer
{
public:
    explicit PageCacheWarmer(uv_loop_t *loop) noexcept : loop_(loop) {}

    // Reads [offset, offset + len) of fd into the page cache on the threadpool, then calls
    // ticket->waiting->on_warm() on the loop thread if the waiter is still there. `keep`
    // holds the descriptor open meanwhile. False if the job could not be queued.
    bool warm(int fd, uint64_t offset, uint64_t len, Keep keep, std::shared_ptr<WarmTicket> ticket);

private:
    uv_loop_t *loop_;
};

} // namespace berth::edge
