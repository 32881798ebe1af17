// The process's TLS setup, shared by every worker: protocol and cipher policy, the
// certificate snapshot chosen by SNI, ALPN, session tickets and the session cache.
//
// Every connection starts on one base SSL_CTX that holds no certificate; the SNI callback
// moves it to the context of the name it asked for (exact, wildcard, default), or ends the
// handshake with an unrecognized_name alert. Reloads swap the certificate snapshot
// atomically: new handshakes see the new one, established sessions keep theirs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "edge/tls/cert_store.h"
#include "edge/tls/ssl_ptr.h"
#include "edge/tls/ticket_keys.h"
#include "shared/base/counter.h"

namespace berth::edge
{

// Why a handshake failed, for the admin stats.
enum class HandshakeFailure : uint8_t {
    kProtocol,    // TLS 1.0/1.1, SSLv3 or no common version
    kNoCipher,    // no shared cipher or signature algorithm
    kUnknownName, // SNI names no certificate and there is no default
    kPlainHttp,   // an HTTP request sent to the TLS port
    kTimeout,     // the handshake did not finish within handshake_timeout_ms
    kPeerClosed,  // the client went away mid-handshake
    kOther,
};
inline constexpr size_t kHandshakeFailures = 7;
const char *handshake_failure_name(HandshakeFailure f) noexcept;

// Per worker; summed by the admin stats.
struct TlsStats {
    shared::Counter full;
    shared::Counter resumed;
    shared::Counter failed[kHandshakeFailures];
};

class TlsServer
{
public:
    // Reads the certificates at once (`report` says what loaded and what was refused).
    TlsServer(CertSources sources, size_t session_cache_size, CertReport &report);
    TlsServer(const TlsServer &) = delete;
    TlsServer &operator=(const TlsServer &) = delete;

    // Main thread: reads every certificate source again and swaps the snapshot. A refused
    // pair's names keep their previous certificate.
    CertReport reload();
    void rotate_ticket_keys() { tickets_.rotate(); }
    uint64_t ticket_rotations() const { return tickets_.rotations(); }

    // Any worker: a session for a new connection. Null only when OpenSSL is out of memory.
    SslPtr new_session() const;
    std::shared_ptr<const CertStore> store() const { return store_.load(); }

private:
    bool setup(SSL_CTX *ctx);
    static int on_server_name(SSL *ssl, int *alert, void *arg);

    CertSources sources_;
    SslCtxPtr base_;
    std::atomic<std::shared_ptr<const CertStore>> store_;
    TicketKeys tickets_;
};

} // namespace berth::edge
