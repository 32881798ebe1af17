// A worker's transports: made for each accepted socket, their memory reused when the
// connection on them is gone (no allocation per plain connection in the steady state).
#pragma once

#include <unistd.h>

#include "edge/io/object_pool.h"
#include "edge/tls/tls_server.h"
#include "edge/transport/buffer_pool.h"
#include "edge/transport/plain_transport.h"
#include "edge/transport/tls_transport.h"

namespace berth::edge
{

class TransportPool
{
public:
    // tls may be null (no TLS listener); tls_stats then too.
    TransportPool(IoLoop &io, size_t max_spare, const TlsServer *tls = nullptr,
                  TlsStats *tls_stats = nullptr, uint32_t handshake_timeout_ms = 10000)
        : io_(io), plain_(max_spare), tls_(max_spare), records_(max_spare), server_(tls),
          tls_stats_(tls_stats), handshake_timeout_ms_(handshake_timeout_ms)
    {
    }

    // Takes ownership of the accepted, non-blocking socket.
    Transport *plain(int fd) { return plain_.make(io_, fd); }
    // A TLS session on the socket; null (the socket closed) when there is no TLS setup or
    // OpenSSL is out of memory.
    Transport *tls(int fd, uint64_t now_ms)
    {
        SslPtr ssl = server_ ? server_->new_session() : nullptr;
        if (!ssl) {
            ::close(fd);
            return nullptr;
        }
        return tls_.make(io_, fd, std::move(ssl), *tls_stats_, records_,
                         now_ms + handshake_timeout_ms_);
    }
    // The transport's connection is gone: closes it (if still open) and keeps its memory.
    void recycle(Transport *t) noexcept
    {
        if (!t) return;
        switch (t->kind()) {
        case TransportKind::kPlain:
            plain_.destroy(static_cast<PlainTransport *>(t));
            return;
        case TransportKind::kTls:
            tls_.destroy(static_cast<TlsTransport *>(t));
            return;
        case TransportKind::kOther:
            delete t;
            return;
        }
    }

private:
    IoLoop &io_;
    ObjectPool<PlainTransport> plain_;
    ObjectPool<TlsTransport> tls_;
    BufferPool records_; // outgoing TLS records, lent while they wait to leave
    const TlsServer *server_;
    TlsStats *tls_stats_;
    uint32_t handshake_timeout_ms_;
};

} // namespace berth::edge
