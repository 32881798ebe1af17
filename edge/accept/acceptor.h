// Accept step: a worker's listening sockets → accepted connections handed to the worker.
//
// Listeners are level-triggered: a readiness report accepts one connection with accept4 (like
// nginx's multi_accept off: no accept4 that says EAGAIN per wake-up), and a listener ready in
// two rounds in a row has a backlog and gets a burst. Out of descriptors, listeners rest until
// the next tick instead of spinning. Above max_connections a connection gets a fixed 503 and
// is closed. While new connections pour in, TCP_DEFER_ACCEPT makes the kernel hand over a
// connection with its request already there (defer_accept_policy.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <sys/socket.h>
#include <vector>

#include "edge/accept/defer_accept_policy.h"
#include "edge/accept/listen_sockets.h"
#include "edge/io/io_loop.h"
#include "shared/base/counter.h"

namespace berth::edge
{

struct AcceptStats {
    shared::Counter accepted;
    shared::Counter rejected_over_cap;
};

class Acceptor
{
public:
    // Who takes the accepted sockets (the worker).
    class Sink
    {
    public:
        // A non-blocking socket to serve; `tls`: it came in on a TLS listener.
        virtual void adopt(int fd, const sockaddr_storage &peer, bool tls) = 0;

    protected:
        ~Sink() = default;
    };

    static constexpr int kBurst = 16;

    // `open`: connections open across all workers (the max_connections count), decremented by
    // the sink when one closes.
    Acceptor(IoLoop &io, const EdgeConfig &config, std::atomic<uint32_t> &open, AcceptStats &stats,
             Sink &sink, std::vector<ListenSocket> listeners);
    Acceptor(const Acceptor &) = delete;
    Acceptor &operator=(const Acceptor &) = delete;
    ~Acceptor();

    // Starts watching the listeners (loop thread).
    void start(uint64_t now_ms);
    // Rested listeners listen again; the accept rate decides about deferred accepts.
    void on_tick(uint64_t now_ms);
    // Draining: the listeners close (no new connections).
    void close() noexcept;

    // Loop thread: new connections come with their request (accepts are deferred).
    bool deferring() const noexcept { return policy_.deferring(); }
    // Any thread.
    bool deferring_now() const noexcept { return deferring_.load(std::memory_order_relaxed); }

private:
    struct Listener final : IoWatcher {
        Acceptor *acceptor = nullptr;
        int fd = -1;
        bool tls = false;
        bool paused = false;      // out of descriptors: not watched until the next tick
        uint64_t ready_round = 0; // the IoLoop round that last reported it ready
        void on_io(uint32_t) override { acceptor->ready(*this); }
    };
    void ready(Listener &l);
    // Takes one connection off the listener's queue; false when there is none to take.
    bool accept_one(Listener &l);
    void apply_defer_accept();

    IoLoop &io_;
    const EdgeConfig &config_;
    std::atomic<uint32_t> &open_;
    AcceptStats &stats_;
    Sink &sink_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    bool closed_ = false;
    bool paused_ = false; // out of descriptors: listeners rest until the next tick
    DeferAcceptPolicy policy_;
    std::atomic<bool> deferring_{false}; // policy_.deferring(), for the admin thread
    uint64_t accepted_seen_ = 0;         // stats_.accepted at the last observation
    uint64_t observed_ms_ = 0;
};

} // namespace berth::edge
