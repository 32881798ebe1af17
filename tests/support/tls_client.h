// Test support: the client side of TLS over a connected blocking socket (OpenSSL), with the
// knobs the TLS tests turn: SNI, versions, ALPN, signature algorithms, session resumption.
// Certificates are not verified: the tests check which one was served instead.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/ssl.h>

namespace berth::test
{

struct TlsOptions {
    std::string sni; // empty: none sent
    int min_version = TLS1_VERSION;
    int max_version = TLS1_3_VERSION;
    std::string alpn = "http/1.1"; // empty: none offered
    std::string sigalgs;           // e.g. "ECDSA+SHA256" to accept only ECDSA certificates
    std::string tls12_ciphers;     // TLS 1.2 cipher list (empty: OpenSSL's default)
    SSL_SESSION *resume = nullptr; // a session from an earlier connection (not owned)
};

// A handshake that failed; what() carries OpenSSL's reason ("... alert unrecognized name").
struct TlsError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class TlsSession
{
public:
    // Handshakes at once (the socket's receive timeout bounds it). Throws TlsError.
    TlsSession(int fd, const TlsOptions &options);
    TlsSession(const TlsSession &) = delete;
    TlsSession &operator=(const TlsSession &) = delete;
    ~TlsSession();

    // Like send()/recv() on the socket: bytes, 0 at the end (close_notify or FIN), -1 error.
    long write(const void *data, size_t len);
    long read(void *buf, size_t len);
    bool has_pending() const;
    void shutdown(); // close_notify

    std::string version() const; // "TLSv1.3"
    bool resumed() const;
    std::string alpn() const;          // "" when none was selected
    std::string peer_key_type() const; // "ECDSA" or "RSA"
    std::string peer_common_name() const;
    // The session to resume later (TLS 1.3 tickets arrive after the handshake: read a
    // response first). Owned by the caller (SSL_SESSION_free).
    SSL_SESSION *session() const;

private:
    SSL_CTX *ctx_ = nullptr;
    SSL *ssl_ = nullptr;
};

} // namespace berth::test
