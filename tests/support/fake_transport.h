// Test support: an in-memory transport, so a test drives a Connection byte by byte without
// sockets: it scripts what the client sends and when, how much the "socket" takes before it
// is full, and whether sends go through a round's batch.
#pragma once

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <unistd.h>

#include "edge/transport/transport.h"

namespace berth::test
{

class FakeTransport final : public edge::Transport
{
public:
    FakeTransport() : Transport(edge::TransportKind::kOther) {}

    // --- the client's side, as the test scripts it
    std::string input;            // sent by the client, not read by the server yet
    bool eof = false;             // the client shut down after `input`
    size_t read_chunk = SIZE_MAX; // a read returns at most this many bytes
    std::string output;           // what the server sent
    size_t send_room = SIZE_MAX;  // bytes the socket takes before it is full
    bool batch = false;           // send() queues like the io_uring batch (flush_batch())
    bool watched = false;
    bool shut = false;
    bool closed = false;
    size_t reads = 0;

    // The client sends bytes (a readiness event follows, as from epoll).
    void client_sends(const std::string &bytes)
    {
        input += bytes;
        user_->on_ready(edge::kReadable);
    }
    void client_closes()
    {
        eof = true;
        user_->on_ready(edge::kReadable | edge::kHangup);
    }
    // The client read everything: the socket has room again.
    void client_reads(size_t room = SIZE_MAX)
    {
        send_room = room;
        user_->on_ready(edge::kWritable);
    }
    // The end of a loop round: the queued send goes (as far as send_room allows).
    bool flush_batch()
    {
        if (!queued_) return false;
        queued_ = false;
        std::string bytes;
        bytes.swap(pending_);
        size_t n = std::min(bytes.size(), send_room);
        output.append(bytes, 0, n);
        if (send_room != SIZE_MAX) send_room -= n;
        user_->on_sent(n == 0 ? -EAGAIN : ssize_t(n));
        return true;
    }

    // The end of a loop round, for a socket that broke meanwhile: the queued send fails.
    bool fail_batch(int error)
    {
        if (!queued_) return false;
        queued_ = false;
        pending_.clear();
        user_->on_sent(-error);
        return true;
    }

    // --- the server's side
    edge::ReadResult read(char *buf, size_t len) noexcept override
    {
        ++reads;
        if (closed) return {-EBADF, false};
        if (input.empty()) return {eof ? 0 : -EAGAIN, false};
        size_t n = std::min({len, input.size(), read_chunk});
        std::memcpy(buf, input.data(), n);
        input.erase(0, n);
        return {ssize_t(n), !input.empty() || eof};
    }
    ssize_t send(const iovec *iov, size_t n_iov, size_t bytes, bool) noexcept override
    {
        if (closed || shut) return -EPIPE;
        std::string all;
        for (size_t i = 0; i < n_iov; ++i)
            all.append(static_cast<const char *>(iov[i].iov_base), iov[i].iov_len);
        if (batch) {
            pending_ = std::move(all);
            queued_ = true;
            return kQueued;
        }
        size_t n = std::min(bytes, send_room);
        if (n == 0) return -EAGAIN;
        output.append(all, 0, n);
        if (send_room != SIZE_MAX) send_room -= n;
        return ssize_t(n);
    }
    ssize_t send_file(int fd, uint64_t offset, size_t len) noexcept override
    {
        if (closed || shut) return -EPIPE;
        size_t n = std::min(len, send_room);
        if (n == 0) return -EAGAIN;
        std::string bytes(n, '\0');
        ssize_t got = ::pread(fd, bytes.data(), n, off_t(offset));
        if (got <= 0) return -EIO;
        output.append(bytes, 0, size_t(got));
        if (send_room != SIZE_MAX) send_room -= size_t(got);
        return got;
    }
    bool watch() noexcept override
    {
        watched = true;
        return !closed;
    }
    void shutdown_write() noexcept override { shut = true; }
    void close() noexcept override
    {
        closed = true;
        queued_ = false;
    }

private:
    std::string pending_;
    bool queued_ = false;
};

} // namespace berth::test
