// Session-ticket keys shared by every worker, rotated on a schedule.
//
// A resumed handshake skips the certificate signature and the key exchange's most expensive
// half, so a returning client costs a fraction of a new one. Tickets are sealed (AES-256-CBC
// and HMAC-SHA256, as RFC 5077 suggests) with the current key; after a rotation the previous
// key still opens tickets for one more period (and the client gets a fresh ticket), so a
// rotation never turns resumptions into full handshakes at once. Keys live only in memory:
// a restart starts a new period.
#pragma once

#include <cstdint>
#include <mutex>

#include <openssl/evp.h>

namespace berth::edge
{

class TicketKeys
{
public:
    TicketKeys(); // a fresh random current key, no previous one
    // The current key becomes the previous one; a new random key seals from now on.
    void rotate();
    uint64_t rotations() const;

    // OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb): enc = 1 seals a new
    // ticket, enc = 0 opens one. Returns 1 (ok), 2 (ok, but issue a new ticket: sealed with
    // the previous key), 0 (unknown key: full handshake), -1 (error). Any thread: one short
    // lock per handshake, never per request.
    int seal_or_open(unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                     EVP_MAC_CTX *mac, int enc);

private:
    struct Key {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
    };
    static Key random_key();

    mutable std::mutex mutex_;
    Key current_;
    Key previous_;
    bool has_previous_ = false;
    uint64_t rotations_ = 0;
};

} // namespace berth::edge
