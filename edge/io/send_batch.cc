#include "edge/io/send_batch.h"

#include <cerrno>
#include <cstring>
#include <sys/syscall.h>
#include <unistd.h>

#include "edge/io/nocancel.h"

namespace berth::edge
{

namespace
{

// One thread submits and reaps (the worker's), and completions run when it waits for them:
// the cheapest ring. Kernels before 6.1 lack these flags; a plain ring works there too.
constexpr unsigned kFastFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;

int setup_ring(io_uring &ring)
{
    io_uring_params p{};
    // Created on the main thread, used on the worker's: enabled by the first submitter.
    p.flags = kFastFlags | IORING_SETUP_R_DISABLED;
    int r = io_uring_queue_init_params(SendBatch::kSlots, &ring, &p);
    if (r == -EINVAL) {
        p = {};
        r = io_uring_queue_init_params(SendBatch::kSlots, &ring, &p);
    }
    return r;
}

// liburing 2.3 declares io_uring_enable_rings() but does not export it.
int enable_ring(io_uring &ring)
{
    return int(
        syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0));
}

} // namespace

SendBatch::SendBatch(bool use_io_uring)
{
    if (!use_io_uring) {
        description_ = "sendmsg (io_uring = false)";
        return;
    }
    int r = setup_ring(ring_);
    if (r < 0) {
        description_ = std::string("sendmsg (io_uring unavailable: ") + std::strerror(-r) + ")";
        return;
    }
    ring_open_ = true;
    ready_ = true;
    owned_ = !(ring_.flags & IORING_SETUP_R_DISABLED);
    slots_ = std::make_unique<Slot[]>(kSlots);
    description_ = "io_uring";
}

SendBatch::~SendBatch()
{
    if (ring_open_) io_uring_queue_exit(&ring_);
}

SendBatch::Slot *SendBatch::reserve(Sender *sender, int fd) noexcept
{
    if (!ready_ || count_ == kSlots) return nullptr;
    Slot &s = slots_[count_++];
    s.sender = sender;
    s.fd = fd;
    s.flags = 0;
    s.n_iov = 0;
    return &s;
}

void SendBatch::cancel(Sender *sender) noexcept
{
    for (unsigned i = 0; i < count_; ++i) {
        if (slots_[i].sender != sender) continue;
        slots_[i] = slots_[--count_]; // order between connections does not matter
        return;
    }
}

void SendBatch::send_directly(unsigned from, unsigned to, ssize_t *results) noexcept
{
    for (unsigned i = from; i < to; ++i) {
        ssize_t n = sendmsg_nocancel(slots_[i].fd, &msgs_[i], slots_[i].flags);
        results[i] = n < 0 ? -errno : n;
    }
}

unsigned SendBatch::send_through_ring(unsigned n, ssize_t *results) noexcept
{
    if (ready_ && !owned_) {
        owned_ = enable_ring(ring_) == 0;
        ready_ = owned_;
    }
    if (!ready_) return 0;
    for (unsigned i = 0; i < n; ++i) {
        io_uring_sqe *sqe = io_uring_get_sqe(&ring_); // the ring holds kSlots
        io_uring_prep_sendmsg(sqe, slots_[i].fd, &msgs_[i], unsigned(slots_[i].flags));
        io_uring_sqe_set_data64(sqe, i);
    }
    int r = io_uring_submit_and_wait(&ring_, n);
    unsigned submitted = r < 0 ? 0 : unsigned(r);
    if (submitted < n) ready_ = false; // the rest never reached the kernel: sent directly
    unsigned reaped = 0;
    while (reaped < submitted) {
        io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe)
        {
            results[cqe->user_data] = cqe->res;
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
        reaped += seen;
        if (reaped == submitted) break;
        int w = io_uring_wait_cqe_nr(&ring_, &cqe, submitted - reaped);
        if (w < 0 && w != -EINTR && w != -EAGAIN) { // cannot happen; keep it safe
            // Unknown which ones went: their connections close. Late completions would
            // name slots of a later batch, so the ring is not used again.
            for (unsigned i = 0; i < submitted; ++i)
                results[i] = w;
            ready_ = false;
            break;
        }
    }
    return submitted;
}

void SendBatch::submit() noexcept
{
    while (count_ > 0) {
        unsigned n = count_;
        for (unsigned i = 0; i < n; ++i) {
            Slot &s = slots_[i];
            msgs_[i] = msghdr{};
            msgs_[i].msg_iov = s.iov;
            msgs_[i].msg_iovlen = s.n_iov;
            s.flags |= MSG_NOSIGNAL | MSG_DONTWAIT;
        }
        ssize_t results[kSlots];
        // One send alone costs less as a plain sendmsg than as a ring entry (a round that
        // accepted one new connection; measured on the new-connection workload).
        unsigned through_ring = n > 1 ? send_through_ring(n, results) : 0;
        send_directly(through_ring, n, results);
        // Senders may reserve again from on_sent: take this round's slots out first.
        Sender *senders[kSlots];
        for (unsigned i = 0; i < n; ++i)
            senders[i] = slots_[i].sender;
        count_ = 0;
        batched_.add(n);
        for (unsigned i = 0; i < n; ++i)
            senders[i]->on_sent(results[i]);
    }
}

} // namespace berth::edge
