#include "edge/tls/ticket_keys.h"

#include <cstring>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/rand.h>

namespace berth::edge
{

namespace
{

bool set_mac_key(EVP_MAC_CTX *mac, unsigned char *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char *>("SHA256"), 0),
        OSSL_PARAM_construct_end()};
    return EVP_MAC_CTX_set_params(mac, params) == 1;
}

} // namespace

TicketKeys::Key TicketKeys::random_key()
{
    Key k;
    if (RAND_bytes(k.name, sizeof k.name) != 1 || RAND_bytes(k.aes, sizeof k.aes) != 1 ||
        RAND_bytes(k.hmac, sizeof k.hmac) != 1)
        throw std::runtime_error("no randomness for session-ticket keys");
    return k;
}

TicketKeys::TicketKeys() : current_(random_key()) {}

void TicketKeys::rotate()
{
    Key next = random_key();
    std::lock_guard<std::mutex> lock(mutex_);
    previous_ = current_;
    has_previous_ = true;
    current_ = next;
    ++rotations_;
}

uint64_t TicketKeys::rotations() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return rotations_;
}

int TicketKeys::seal_or_open(unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                             EVP_MAC_CTX *mac, int enc)
{
    Key k;
    int result = 1;
    if (enc) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            k = current_;
        }
        if (RAND_bytes(iv, 16) != 1) return -1;
        std::memcpy(name, k.name, sizeof k.name);
        if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv) != 1) return -1;
    } else {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (std::memcmp(name, current_.name, sizeof current_.name) == 0) {
                k = current_;
            } else if (has_previous_ &&
                       std::memcmp(name, previous_.name, sizeof previous_.name) == 0) {
                k = previous_;
                result = 2; // still good, but the client should get a ticket of this period
            } else {
                return 0; // sealed before the previous period, or by another process
            }
        }
        if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes, iv) != 1) return -1;
    }
    if (!set_mac_key(mac, k.hmac)) return -1;
    return result;
}

} // namespace berth::edge
