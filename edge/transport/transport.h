// Transport step: the one interface between a client socket and the HTTP connection on it.
//
// The connection reads request bytes, sends response bytes (gathered buffers or a file range)
// and hears readiness through this seam only, so a plain TCP socket (plain_transport.h) and a
// TLS session share every line of HTTP, routing and static code. Readiness is edge-triggered:
// after kReadable the user reads until a read says nothing more is waiting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>
#include <sys/uio.h>

namespace berth::edge
{

enum Readiness : uint8_t {
    kReadable = 1, // bytes (or the end of the stream) may be waiting
    kWritable = 2, // there may be room to send
    kHangup = 4,   // the peer shut down or reset the connection: read on to the end
};

// Who uses a transport: the HTTP connection (tests use their own).
class TransportUser
{
public:
    virtual void on_ready(uint8_t readiness) = 0;
    // A send the transport queued for the end of the loop round (Transport::kQueued) went:
    // the bytes taken, or -errno (-EAGAIN: the socket is full, wait for kWritable).
    virtual void on_sent(ssize_t result) = 0;

protected:
    ~TransportUser() = default;
};

struct ReadResult {
    // > 0: bytes read; 0: the peer closed; -EAGAIN: nothing now (readiness will tell);
    // other negative: -errno, the connection is broken.
    ssize_t n = 0;
    // n > 0 and bytes may remain that no new readiness event will announce: read again.
    bool more = false;
};

enum class TransportKind : uint8_t { kPlain, kTls, kOther };

// What a TLS transport negotiated (for the access log and HTTPS policy).
struct TlsInfo {
    const char *version = nullptr; // "TLSv1.3"; null on a plain connection
    bool resumed = false;          // the session was resumed (ticket or cache)
};

class Transport
{
public:
    // send() queued the bytes for the round's batch: the result comes through on_sent().
    static constexpr ssize_t kQueued = -(ssize_t(1) << 30);
    // At most this many buffers per send() (OutputQueue::kMaxSegments).
    static constexpr size_t kMaxIov = 32;

    explicit Transport(TransportKind kind) noexcept : kind_(kind) {}
    virtual ~Transport() = default;
    void set_user(TransportUser *user) noexcept { user_ = user; }
    TransportKind kind() const noexcept { return kind_; }

    virtual ReadResult read(char *buf, size_t len) noexcept = 0;
    // Sends the gathered bytes; `more`: further bytes follow at once (held back so they can
    // share a packet). Returns the bytes taken (fewer than `bytes`: the socket is full, wait
    // for kWritable), kQueued, or -errno (-EAGAIN: full).
    virtual ssize_t send(const iovec *iov, size_t n_iov, size_t bytes, bool more) noexcept = 0;
    // Sends len bytes of the file from offset. The caller has found the range in the page
    // cache, so this never waits on the disk. Returns bytes taken or -errno.
    virtual ssize_t send_file(int fd, uint64_t offset, size_t len) noexcept = 0;
    // Readiness is reported from now on (once is enough; later calls do nothing). False when
    // the loop refused the socket: the connection closes.
    virtual bool watch() noexcept = 0;
    // Nothing more will be sent: the peer sees the end of the stream after what went.
    virtual void shutdown_write() noexcept = 0;
    // Closes the socket now; a send queued for the round is dropped.
    virtual void close() noexcept = 0;
    // Every byte the user sent has left (a TLS transport may still hold records): the user
    // closes only once this is true, and hears kWritable when it becomes true.
    virtual bool flushed() const noexcept { return true; }
    // The transport's own deadline passed (a TLS handshake that stalled): close it.
    virtual bool expired(uint64_t /*now_ms*/) noexcept { return false; }
    virtual TlsInfo tls_info() const noexcept { return {}; }

protected:
    TransportUser *user_ = nullptr;

private:
    TransportKind kind_;
};

} // namespace berth::edge
