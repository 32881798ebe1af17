// TLS behind the transport seam: the HTTP connection above reads and sends plaintext exactly as
// over TCP.
//
// OpenSSL runs on the worker's loop with two small BIOs of ours: reads call recv() on the
// socket straight into OpenSSL's buffer (so, as on a plain socket, a short read says the
// socket is empty and edge-triggered readiness needs no extra recv), and records written go
// into a per-connection buffer lent by the worker's pool, which leaves in the loop round's
// io_uring batch like any other send (or by send() where there is no ring). A handshake
// never blocks: it advances on readiness and is cut after handshake_timeout_ms. An idle
// keep-alive connection holds no record buffers (SSL_MODE_RELEASE_BUFFERS, and the outgoing
// buffer goes back to the pool once sent).
//
// Files: the kernel offers no TLS ULP here, so a file range (already in the page cache: the
// write step checked) is read in pieces of one record and encrypted; nothing reads a whole
// file into memory.
#pragma once

#include <cstdint>
#include <string>

#include "edge/io/io_loop.h"
#include "edge/tls/ssl_ptr.h"
#include "edge/tls/tls_server.h"
#include "edge/transport/buffer_pool.h"
#include "edge/transport/transport.h"

namespace berth::edge
{

class TlsTransport final : public Transport, public IoWatcher, public SendBatch::Sender
{
public:
    // Takes ownership of the accepted, non-blocking socket and of the session.
    TlsTransport(IoLoop &io, int fd, SslPtr ssl, TlsStats &stats, BufferPool &buffers,
                 uint64_t handshake_deadline_ms);
    TlsTransport(const TlsTransport &) = delete;
    TlsTransport &operator=(const TlsTransport &) = delete;
    ~TlsTransport() override;

    ReadResult read(char *buf, size_t len) noexcept override;
    ssize_t send(const iovec *iov, size_t n_iov, size_t bytes, bool more) noexcept override;
    ssize_t send_file(int fd, uint64_t offset, size_t len) noexcept override;
    bool watch() noexcept override;
    void shutdown_write() noexcept override;
    void close() noexcept override;
    bool flushed() const noexcept override { return !out_ && !queued_; }
    bool expired(uint64_t now_ms) noexcept override;
    TlsInfo tls_info() const noexcept override;

    void on_io(uint32_t events) override;
    void on_sent(ssize_t result) override;

    // Records waiting to leave before the transport takes more plaintext.
    static constexpr size_t kMaxBacklog = 64 * 1024;
    // Plaintext encrypted per record (TLS's maximum).
    static constexpr size_t kRecord = 16 * 1024;

private:
    enum class State : uint8_t { kHandshake, kOpen, kFailed, kClosed };

    static BIO_METHOD *bio_method();
    static int bio_read(BIO *bio, char *buf, int len);
    static int bio_write(BIO *bio, const char *data, int len);
    static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr);

    // Advances the handshake; true once it is done.
    bool advance_handshake() noexcept;
    void fail(HandshakeFailure why) noexcept;
    HandshakeFailure classify(int ssl_error) const noexcept;
    // Encrypts plaintext into records (always taken whole: our BIO never refuses).
    bool encrypt(const char *data, size_t len) noexcept;
    // Sends the records waiting: through the round's batch when there is a ring, else
    // directly. `more`: further bytes follow at once.
    void flush_out(bool more) noexcept;
    void release_out() noexcept;
    size_t backlog() const noexcept { return out_ ? out_->size() - out_pos_ : 0; }

    IoLoop &io_;
    int fd_;
    SslPtr ssl_;
    TlsStats &stats_;
    BufferPool &buffers_;
    uint64_t deadline_ms_;
    State state_ = State::kHandshake;
    std::string *out_ = nullptr; // records not yet sent, from buffers_
    size_t out_pos_ = 0;
    bool queued_ = false;     // out_ bytes are in the round's send batch
    size_t queued_bytes_ = 0; // how many
    bool watched_ = false;
    bool drained_ = true; // the last recv was short and no readiness came since: nothing waits
    bool eof_ = false;    // the peer closed its side
};

} // namespace berth::edge
