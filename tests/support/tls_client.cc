#include "tests/support/tls_client.h"

#include <csignal>

#include <openssl/err.h>
#include <openssl/x509.h>

namespace berth::test
{

namespace
{

std::string last_error()
{
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += (out.empty() ? "" : "; ") + std::string(buf);
    }
    return out.empty() ? "the connection closed" : out;
}

} // namespace

TlsSession::TlsSession(int fd, const TlsOptions &o)
{
    // OpenSSL writes with write(): a server that closed first must not kill the test.
    static const bool sigpipe_ignored = (std::signal(SIGPIPE, SIG_IGN), true);
    (void)sigpipe_ignored;
    ERR_clear_error();
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(ctx_, 0); // let a test offer TLS 1.0/1.1 to see them refused
    SSL_CTX_set_min_proto_version(ctx_, o.min_version);
    SSL_CTX_set_max_proto_version(ctx_, o.max_version);
    if (!o.sigalgs.empty()) SSL_CTX_set1_sigalgs_list(ctx_, o.sigalgs.c_str());
    if (!o.tls12_ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, o.tls12_ciphers.c_str());
    if (!o.alpn.empty()) {
        std::string wire(1, char(o.alpn.size()));
        wire += o.alpn;
        SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char *>(wire.data()),
                                unsigned(wire.size()));
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
    if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl_, o.sni.c_str());
    if (o.resume) SSL_set_session(ssl_, o.resume);
    if (SSL_connect(ssl_) != 1) {
        std::string why = last_error();
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
        throw TlsError("TLS handshake failed: " + why);
    }
}

TlsSession::~TlsSession()
{
    // A session freed without close_notify counts as broken and would not resume.
    if (!SSL_in_init(ssl_)) SSL_shutdown(ssl_);
    ERR_clear_error();
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
}

long TlsSession::write(const void *data, size_t len)
{
    size_t done = 0;
    if (SSL_write_ex(ssl_, data, len, &done) != 1) return -1;
    return long(done);
}

long TlsSession::read(void *buf, size_t len)
{
    size_t got = 0;
    if (SSL_read_ex(ssl_, buf, len, &got) == 1) return long(got);
    int e = SSL_get_error(ssl_, 0);
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
}

bool TlsSession::has_pending() const
{
    return SSL_pending(ssl_) > 0;
}

void TlsSession::shutdown()
{
    SSL_shutdown(ssl_);
    ERR_clear_error();
}

std::string TlsSession::version() const
{
    return SSL_get_version(ssl_);
}

bool TlsSession::resumed() const
{
    return SSL_session_reused(ssl_) == 1;
}

std::string TlsSession::alpn() const
{
    const unsigned char *p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return std::string(reinterpret_cast<const char *>(p), len);
}

std::string TlsSession::peer_key_type() const
{
    X509 *cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) return "";
    int id = EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
    X509_free(cert);
    return id == EVP_PKEY_EC ? "ECDSA" : id == EVP_PKEY_RSA ? "RSA" : "other";
}

std::string TlsSession::peer_common_name() const
{
    X509 *cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) return "";
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
}

SSL_SESSION *TlsSession::session() const
{
    return SSL_get1_session(ssl_);
}

} // namespace berth::test
