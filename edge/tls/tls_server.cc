#include "edge/tls/tls_server.h"

#include <cstring>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/tls1.h>

namespace berth::edge
{

namespace
{

// No CBC-SHA1 and no RSA key exchange: ECDHE with AEAD ciphers only (TLS 1.2); TLS 1.3's
// suites are all AEAD.
constexpr const char *kTls12Ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// AES-128 first: as strong as needed and the cheapest with AES-NI.
constexpr const char *kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr unsigned char kSessionContext[] = "berth-edge";

int server_index()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

TicketKeys *tickets_of(SSL *ssl)
{
    return static_cast<TicketKeys *>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), server_index()));
}

int on_ticket(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
              EVP_MAC_CTX *mac, int enc)
{
    TicketKeys *keys = tickets_of(ssl);
    return keys ? keys->seal_or_open(name, iv, cipher, mac, enc) : -1;
}

// ALPN: http/1.1, with room for h2 later (listed first here once it is served).
int on_alpn(SSL *, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *)
{
    static const unsigned char kOffered[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char *selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, kOffered, sizeof kOffered, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; // the client offered only protocols we do not speak
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

} // namespace

const char *handshake_failure_name(HandshakeFailure f) noexcept
{
    switch (f) {
    case HandshakeFailure::kProtocol:
        return "protocol_version";
    case HandshakeFailure::kNoCipher:
        return "no_shared_cipher";
    case HandshakeFailure::kUnknownName:
        return "unrecognized_name";
    case HandshakeFailure::kPlainHttp:
        return "plain_http";
    case HandshakeFailure::kTimeout:
        return "timeout";
    case HandshakeFailure::kPeerClosed:
        return "peer_closed";
    case HandshakeFailure::kOther:
        break;
    }
    return "other";
}

TlsServer::TlsServer(CertSources sources, size_t session_cache_size, CertReport &report)
    : sources_(std::move(sources)), base_(SSL_CTX_new(TLS_server_method()))
{
    if (!base_ || !setup(base_.get())) throw std::runtime_error("cannot set up TLS");
    SSL_CTX_set_tlsext_servername_callback(base_.get(), on_server_name);
    SSL_CTX_set_tlsext_servername_arg(base_.get(), this);
    // Sessions resumed by id are cached in the base context (the one every session starts
    // on); tickets need no cache at all.
    SSL_CTX_set_session_cache_mode(base_.get(), SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(base_.get(), long(session_cache_size));
    auto first = CertStore::load(
        sources_, [this](SSL_CTX *ctx) { return setup(ctx); }, nullptr, report);
    store_.store(first);
}

bool TlsServer::setup(SSL_CTX *ctx)
{
    bool ok =
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
        SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1 &&
        SSL_CTX_set_ciphersuites(ctx, kTls13Suites) == 1 &&
        SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1) == 1 &&
        SSL_CTX_set_ex_data(ctx, server_index(), &tickets_) == 1;
    if (!ok) return false;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_NO_COMPRESSION);
    // An idle keep-alive connection holds no record buffers.
    // (No partial writes: our BIO takes every record, so SSL_write takes all it is given.)
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // One recv takes as many records as the buffer holds, not a header and then a body.
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
    // TLS 1.3: one ticket per full handshake is enough for a browser's next visit.
    SSL_CTX_set_num_tickets(ctx, 1);
    return true;
}

CertReport TlsServer::reload()
{
    CertReport report;
    auto previous = store_.load();
    auto next = CertStore::load(
        sources_, [this](SSL_CTX *ctx) { return setup(ctx); }, previous.get(), report);
    store_.store(next);
    return report;
}

SslPtr TlsServer::new_session() const
{
    return SslPtr(SSL_new(base_.get()));
}

int TlsServer::on_server_name(SSL *ssl, int *alert, void *arg)
{
    auto *self = static_cast<TlsServer *>(arg);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    std::string host = name ? name : "";
    for (char &c : host)
        if (c >= 'A' && c <= 'Z') c = char(c | 0x20);
    while (!host.empty() && host.back() == '.')
        host.pop_back();
    auto store = self->store();
    SSL_CTX *ctx = store ? store->find(host) : nullptr;
    if (!ctx) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_SSL_CTX(ssl, ctx); // takes a reference: a later reload cannot pull it away
    return SSL_TLSEXT_ERR_OK;
}

} // namespace berth::edge
