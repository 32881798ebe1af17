// Send batching: the sendmsg() calls of one loop round leave together in one io_uring_enter().
//
// Why: in a virtual machine a syscall's entry and exit cost about as much as sending a small
// response itself. A 1 KiB response costs a recv, a sendmsg and a share of an epoll_wait;
// putting the round's sends in one enter took a minimal epoll server from 113k to 121k
// requests per CPU second on our 2-core machine (#2; the figures are in edge/README.md).
//
// Connections fill a slot with their gather list while the round's events are dispatched;
// the IoLoop submits all slots at once and gives each connection the result sendmsg() would
// have returned. MSG_DONTWAIT makes a full socket answer -EAGAIN at once instead of being
// polled by the ring, so every send has completed when submit() returns and the kernel
// holds no pointer into a connection's buffers afterwards.
//
// Where io_uring is missing or forbidden (an old kernel, a container's seccomp profile,
// kernel.io_uring_disabled), reserve() says no and connections call sendmsg() themselves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <liburing.h>

#include "shared/base/counter.h"

namespace berth::edge
{

class SendBatch
{
public:
    static constexpr size_t kMaxIov = 32; // OutputQueue::kMaxSegments
    static constexpr unsigned kSlots = 64;

    class Sender
    {
    public:
        // bytes sent, or -errno (-EAGAIN: the socket is full; wait for send space).
        virtual void on_sent(ssize_t result) = 0;

    protected:
        ~Sender() = default;
    };

    struct Slot {
        Sender *sender = nullptr;
        int fd = -1;
        int flags = 0; // MSG_MORE when more bytes follow
        size_t n_iov = 0;
        iovec iov[kMaxIov];
    };

    // use_io_uring false: never batch. True: batch when the kernel allows a ring.
    explicit SendBatch(bool use_io_uring);
    SendBatch(const SendBatch &) = delete;
    SendBatch &operator=(const SendBatch &) = delete;
    ~SendBatch();

    bool enabled() const noexcept { return ready_; }
    // "io_uring", or "sendmsg" and why io_uring is not used (set at construction).
    const std::string &describe() const noexcept { return description_; }

    // A slot for the sender's next sendmsg, to fill before the round ends; nullptr when
    // batching is off or the batch is full (send directly then).
    Slot *reserve(Sender *sender, int fd) noexcept;
    // The sender is closing its socket: its slot, not sent yet, is dropped.
    void cancel(Sender *sender) noexcept;
    bool empty() const noexcept { return count_ == 0; }
    // Sends that left through a batch so far (any thread may read it: admin stats).
    uint64_t batched() const noexcept { return batched_.get(); }
    // Sends every slot and reports each result. Senders may reserve again from on_sent (the
    // next pipelined response); those leave before submit() returns.
    void submit() noexcept;

private:
    // Slots [0, n) through the ring, their results reaped; returns how many the kernel
    // took: n, or fewer when the ring failed (should not happen with a ring sized to the
    // batch), which ends batching for good.
    unsigned send_through_ring(unsigned n, ssize_t *results) noexcept;
    // Slots [from, to) with one sendmsg each.
    void send_directly(unsigned from, unsigned to, ssize_t *results) noexcept;

    io_uring ring_{};
    bool ring_open_ = false;
    bool ready_ = false; // batching: the ring is open and has not failed
    bool owned_ = false; // the ring is enabled by the thread that submits first
    std::string description_;
    std::unique_ptr<Slot[]> slots_;
    msghdr msgs_[kSlots];
    unsigned count_ = 0;
    shared::Counter batched_;
};

} // namespace berth::edge
