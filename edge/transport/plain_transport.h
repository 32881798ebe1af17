// A plain TCP socket behind the transport seam, with the edge's fast paths: the round's sends
// leave together in one io_uring_enter (send_batch.h), files go by sendfile(), and the socket
// joins the epoll set only once it first has to wait.
#pragma once

#include "edge/io/io_loop.h"
#include "edge/transport/transport.h"

namespace berth::edge
{

class PlainTransport final : public Transport, public IoWatcher, public SendBatch::Sender
{
public:
    // Takes ownership of the connected, non-blocking socket.
    PlainTransport(IoLoop &io, int fd) noexcept : Transport(TransportKind::kPlain), io_(io), fd_(fd)
    {
    }
    PlainTransport(const PlainTransport &) = delete;
    PlainTransport &operator=(const PlainTransport &) = delete;
    ~PlainTransport() override;

    ReadResult read(char *buf, size_t len) noexcept override;
    ssize_t send(const iovec *iov, size_t n_iov, size_t bytes, bool more) noexcept override;
    ssize_t send_file(int fd, uint64_t offset, size_t len) noexcept override;
    bool watch() noexcept override;
    void shutdown_write() noexcept override;
    void close() noexcept override;

    void on_io(uint32_t events) override;
    void on_sent(ssize_t result) override;

private:
    IoLoop &io_;
    int fd_;
    bool watched_ = false;
    bool queued_ = false; // a send waits in the round's batch
};

} // namespace berth::edge
