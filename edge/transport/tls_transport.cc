#include "edge/transport/tls_transport.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "edge/io/nocancel.h"

namespace berth::edge
{

namespace
{

// Answered once, in plain text, to an HTTP request that reached the TLS port (as nginx does).
constexpr std::string_view kPlainHttp400 =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 44\r\nConnection: close\r\n\r\n"
    "This port speaks HTTPS: use https:// to it.\n";

} // namespace

BIO_METHOD *TlsTransport::bio_method()
{
    static BIO_METHOD *method = [] {
        BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "berth-socket");
        BIO_meth_set_read(m, bio_read);
        BIO_meth_set_write(m, bio_write);
        BIO_meth_set_ctrl(m, bio_ctrl);
        return m;
    }();
    return method;
}

int TlsTransport::bio_read(BIO *bio, char *buf, int len)
{
    auto *t = static_cast<TlsTransport *>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    while (true) {
        ssize_t n = recv_nocancel(t->fd_, buf, size_t(len));
        if (n > 0) {
            t->drained_ = n < len; // a short read emptied the socket
            return int(n);
        }
        if (n == 0) {
            t->eof_ = true;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            t->drained_ = true;
            BIO_set_retry_read(bio);
        }
        return -1;
    }
}

int TlsTransport::bio_write(BIO *bio, const char *data, int len)
{
    auto *t = static_cast<TlsTransport *>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (!t->out_) t->out_ = t->buffers_.take();
    t->out_->append(data, size_t(len));
    return len;
}

long TlsTransport::bio_ctrl(BIO *bio, int cmd, long, void *)
{
    auto *t = static_cast<TlsTransport *>(BIO_get_data(bio));
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; // records leave with the loop round (flush_out)
    case BIO_CTRL_EOF:
        return t->eof_ ? 1 : 0;
    default:
        return 0;
    }
}

TlsTransport::TlsTransport(IoLoop &io, int fd, SslPtr ssl, TlsStats &stats, BufferPool &buffers,
                           uint64_t handshake_deadline_ms)
    : Transport(TransportKind::kTls), io_(io), fd_(fd), ssl_(std::move(ssl)), stats_(stats),
      buffers_(buffers), deadline_ms_(handshake_deadline_ms)
{
    BIO *bio = BIO_new(bio_method());
    if (!bio || !ssl_) {
        BIO_free(bio);
        state_ = State::kFailed;
        return;
    }
    BIO_set_data(bio, this);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_.get(), bio, bio); // the session owns it
    SSL_set_accept_state(ssl_.get());
}

TlsTransport::~TlsTransport()
{
    close();
}

bool TlsTransport::advance_handshake() noexcept
{
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
        flush_out(false); // our last flight and the session ticket
        state_ = State::kOpen;
        (SSL_session_reused(ssl_.get()) ? stats_.resumed : stats_.full).add(1);
        return true;
    }
    int error = SSL_get_error(ssl_.get(), r);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        flush_out(false);
        watch();
        return false;
    }
    fail(classify(error));
    return false;
}

HandshakeFailure TlsTransport::classify(int ssl_error) const noexcept
{
    unsigned long e = ERR_peek_last_error();
    if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN || (eof_ && !e))
        return HandshakeFailure::kPeerClosed;
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) return HandshakeFailure::kOther;
    switch (ERR_GET_REASON(e)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
        return HandshakeFailure::kPlainHttp;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return HandshakeFailure::kProtocol;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        return HandshakeFailure::kNoCipher;
    case SSL_R_CALLBACK_FAILED: // our SNI callback: no certificate for the name
        return HandshakeFailure::kUnknownName;
    default:
        return HandshakeFailure::kOther;
    }
}

void TlsTransport::fail(HandshakeFailure why) noexcept
{
    ERR_clear_error();
    if (state_ != State::kHandshake) return;
    state_ = State::kFailed;
    stats_.failed[size_t(why)].add(1);
    if (queued_) io_.sends().cancel(this);
    queued_ = false;
    if (why == HandshakeFailure::kPlainHttp) {
        release_out(); // no TLS alert: the client speaks plain HTTP and reads this instead
        (void)!::send(fd_, kPlainHttp400.data(), kPlainHttp400.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    } else if (backlog() > 0) {
        // The alert (unrecognized_name, protocol_version, ...) goes now: the connection closes
        // right after this, before the round's batch would send it.
        (void)!::send(fd_, out_->data() + out_pos_, backlog(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    release_out();
}

bool TlsTransport::expired(uint64_t now_ms) noexcept
{
    if (state_ != State::kHandshake || now_ms < deadline_ms_) return false;
    state_ = State::kFailed;
    stats_.failed[size_t(HandshakeFailure::kTimeout)].add(1);
    return true;
}

ReadResult TlsTransport::read(char *buf, size_t len) noexcept
{
    if (state_ == State::kHandshake && !advance_handshake())
        return {state_ == State::kFailed ? -EPROTO : -EAGAIN, false};
    if (state_ != State::kOpen) return {-EPIPE, false};
    ERR_clear_error();
    size_t got = 0;
    int r = SSL_read_ex(ssl_.get(), buf, len, &got);
    if (out_ && !queued_) flush_out(false); // a session ticket or key update may have been written
    if (r == 1) return {ssize_t(got), got == len || SSL_has_pending(ssl_.get()) || !drained_};
    switch (SSL_get_error(ssl_.get(), r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return {-EAGAIN, false};
    case SSL_ERROR_ZERO_RETURN: // close_notify
        return {0, false};
    case SSL_ERROR_SYSCALL:
        return {eof_ ? 0 : -EIO, false}; // a FIN without close_notify reads as the end too
    default:
        ERR_clear_error();
        return {-EPROTO, false};
    }
}

bool TlsTransport::encrypt(const char *data, size_t len) noexcept
{
    ERR_clear_error();
    size_t written = 0;
    if (SSL_write_ex(ssl_.get(), data, len, &written) != 1 || written != len) {
        ERR_clear_error();
        return false;
    }
    return true;
}

ssize_t TlsTransport::send(const iovec *iov, size_t n_iov, size_t bytes, bool more) noexcept
{
    if (state_ == State::kHandshake) return -EAGAIN;
    if (state_ != State::kOpen) return -EPIPE;
    if (queued_ || backlog() >= kMaxBacklog) return -EAGAIN; // on_sent or on_io says when
    size_t taken = 0;
    if (n_iov == 1) {
        taken = std::min(bytes, kMaxBacklog);
        if (!encrypt(static_cast<const char *>(iov[0].iov_base), taken)) return -EPROTO;
    } else {
        // A head and a small body become one record, not two.
        thread_local char plain[kRecord];
        for (size_t i = 0; i < n_iov && taken < kRecord; ++i) {
            size_t n = std::min(iov[i].iov_len, kRecord - taken);
            std::memcpy(plain + taken, iov[i].iov_base, n);
            taken += n;
        }
        if (!encrypt(plain, taken)) return -EPROTO;
    }
    flush_out(more || taken < bytes);
    return ssize_t(taken);
}

ssize_t TlsTransport::send_file(int fd, uint64_t offset, size_t len) noexcept
{
    if (state_ != State::kOpen) return -EPIPE;
    if (queued_ || backlog() >= kMaxBacklog) return -EAGAIN; // on_sent or on_io says when
    thread_local char plain[kRecord];
    size_t want = std::min(len, kRecord);
    ssize_t n;
    do {
        n = ::pread(fd, plain, want, off_t(offset)); // resident: no disk wait (checked above us)
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return n == 0 ? -EIO : -errno;
    if (!encrypt(plain, size_t(n))) return -EPROTO;
    flush_out(size_t(n) < len);
    return n;
}

void TlsTransport::flush_out(bool more) noexcept
{
    if (!out_ || queued_ || fd_ < 0) return;
    size_t left = out_->size() - out_pos_;
    if (left == 0) {
        release_out();
        return;
    }
    if (SendBatch::Slot *slot = io_.sends().reserve(this, fd_)) {
        slot->iov[0] = {out_->data() + out_pos_, left};
        slot->n_iov = 1;
        slot->flags = more ? MSG_MORE : 0;
        queued_ = true;
        queued_bytes_ = left;
        return;
    }
    while (left > 0) {
        ssize_t n = ::send(fd_, out_->data() + out_pos_, left,
                           MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN) {
                // Broken: nothing more will leave. The socket's error event brings the user
                // to read, hear it and close (not from here: we may be inside its send()).
                release_out();
                if (state_ == State::kOpen) state_ = State::kFailed;
                return;
            }
            watch(); // full: send space will bring us back
            return;
        }
        out_pos_ += size_t(n);
        left -= size_t(n);
    }
    release_out();
}

void TlsTransport::release_out() noexcept
{
    buffers_.give(out_);
    out_ = nullptr;
    out_pos_ = 0;
}

void TlsTransport::on_sent(ssize_t result)
{
    queued_ = false;
    if (result < 0 && result != -EAGAIN && result != -EINTR) {
        release_out();
        if (state_ == State::kOpen) state_ = State::kFailed;
        if (user_) user_->on_ready(kReadable | kHangup); // it reads the error and closes
        return;
    }
    if (result > 0) out_pos_ += size_t(result);
    if (backlog() > 0) {
        watch(); // the socket is full: send space brings us back (on_io)
        return;
    }
    release_out();
    if (state_ != State::kOpen) return;    // a handshake goes on when the client answers
    if (user_) user_->on_ready(kWritable); // everything left: the user may send (or close)
}

void TlsTransport::on_io(uint32_t events)
{
    // Bytes arrived after the last short recv: a read served from OpenSSL's buffered record
    // must not report the socket as empty, or the user waits for an edge already consumed.
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) drained_ = false;
    if ((events & EPOLLOUT) && out_ && !queued_) flush_out(false);
    uint8_t ready = 0;
    if (events & EPOLLIN) ready |= kReadable;
    if (events & EPOLLOUT) ready |= kWritable;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= kHangup | kReadable;
    if (state_ == State::kHandshake) {
        if (!(ready & (kReadable | kHangup))) return;
        if (!advance_handshake()) {
            // Failed: the user reads the error and closes. Still going: wait for the client.
            if (state_ == State::kFailed && user_) user_->on_ready(kReadable | kHangup);
            return;
        }
        ready |= kReadable; // the request may have come with the client's last flight
    }
    if (!flushed()) ready &= uint8_t(~kWritable); // not yet: on_sent or a later event says so
    if (ready && user_) user_->on_ready(ready);
}

bool TlsTransport::watch() noexcept
{
    if (watched_) return true;
    if (fd_ < 0 || !io_.watch(fd_, this)) return false;
    watched_ = true;
    return true;
}

void TlsTransport::shutdown_write() noexcept
{
    if (state_ == State::kOpen) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get()); // close_notify into out_
        ERR_clear_error();
        flush_out(false);
    }
    if (fd_ >= 0 && !queued_) ::shutdown(fd_, SHUT_WR);
}

void TlsTransport::close() noexcept
{
    if (fd_ < 0) return;
    if (queued_) io_.sends().cancel(this); // before the descriptor number can be reused
    queued_ = false;
    if (state_ == State::kOpen) {
        // close_notify, best effort: a client waiting for more must not read a truncation.
        ERR_clear_error();
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
        if (out_ && out_->size() > out_pos_)
            (void)!::send(fd_, out_->data() + out_pos_, out_->size() - out_pos_,
                          MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    state_ = State::kClosed;
    release_out();
    ::close(fd_);
    fd_ = -1;
}

TlsInfo TlsTransport::tls_info() const noexcept
{
    if (!ssl_ || state_ == State::kHandshake) return {};
    return {SSL_get_version(ssl_.get()), SSL_session_reused(ssl_.get()) == 1};
}

} // namespace berth::edge
