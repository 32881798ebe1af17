// OpenSSL EVP wrappers; every buffer is sized from the API's documented maxima.
#include "control/base/crypto.h"

#include <memory>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace berth::control
{

namespace
{

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX *c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

constexpr size_t kNonceLen = 12;
constexpr size_t kTagLen = 16;

int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::string to_hex(std::string_view bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view hex)
{
    if (hex.size() % 2) return std::nullopt;
    std::string out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(char(hi << 4 | lo));
    }
    return out;
}

std::string sha256_hex(std::string_view data)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(data.data()), data.size(), md);
    return to_hex(std::string_view(reinterpret_cast<char *>(md), sizeof md));
}

std::string hmac_sha256(std::string_view key, std::string_view data)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), int(key.size()),
         reinterpret_cast<const unsigned char *>(data.data()), data.size(), md, &len);
    return std::string(reinterpret_cast<char *>(md), len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data)
{
    return to_hex(hmac_sha256(key, data));
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

std::string base64_encode(std::string_view bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                        reinterpret_cast<const unsigned char *>(bytes.data()), int(bytes.size()));
    out.resize(size_t(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text)
{
    if (text.size() % 4) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(out.data()),
                            reinterpret_cast<const unsigned char *>(text.data()), int(text.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts padding as zero bytes; drop them.
    size_t pad = 0;
    if (!text.empty() && text.back() == '=') ++pad;
    if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
    out.resize(size_t(n) - pad);
    return out;
}

std::string random_hex(size_t n)
{
    std::string raw(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char *>(raw.data()), int(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return to_hex(raw);
}

std::string random_uuid()
{
    std::string h = random_hex(16);
    h[12] = '4';                                                 // version 4: random
    h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3]; // variant 10xx
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20);
}

SecretBox::SecretBox(std::string key) : key_(std::move(key))
{
    if (key_.size() != 32) throw std::invalid_argument("AES-256-GCM key must be 32 bytes");
}

std::optional<SecretBox> SecretBox::from_hex_key(std::string_view hex)
{
    auto raw = from_hex(hex);
    if (!raw || raw->size() != 32) return std::nullopt;
    return SecretBox(std::move(*raw));
}

std::string SecretBox::seal(std::string_view plaintext, std::string_view aad) const
{
    std::string out(kNonceLen + plaintext.size() + kTagLen, '\0');
    auto *buf = reinterpret_cast<unsigned char *>(out.data());
    if (RAND_bytes(buf, kNonceLen) != 1) throw std::runtime_error("RAND_bytes failed");
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok = ctx &&
              EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceLen, nullptr) == 1 &&
              EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr,
                                 reinterpret_cast<const unsigned char *>(key_.data()), buf) == 1 &&
              EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                                reinterpret_cast<const unsigned char *>(aad.data()),
                                int(aad.size())) == 1 &&
              EVP_EncryptUpdate(ctx.get(), buf + kNonceLen, &len,
                                reinterpret_cast<const unsigned char *>(plaintext.data()),
                                int(plaintext.size())) == 1 &&
              EVP_EncryptFinal_ex(ctx.get(), buf + kNonceLen + len, &len) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagLen,
                                  buf + kNonceLen + plaintext.size()) == 1;
    if (!ok) throw std::runtime_error("AES-256-GCM encryption failed");
    return base64_encode(out);
}

std::optional<std::string> SecretBox::open(std::string_view sealed, std::string_view aad) const
{
    auto raw = base64_decode(sealed);
    if (!raw || raw->size() < kNonceLen + kTagLen) return std::nullopt;
    auto *buf = reinterpret_cast<unsigned char *>(raw->data());
    size_t ct_len = raw->size() - kNonceLen - kTagLen;
    std::string plain(ct_len, '\0');
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok =
        ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceLen, nullptr) == 1 &&
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                           reinterpret_cast<const unsigned char *>(key_.data()), buf) == 1 &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                          reinterpret_cast<const unsigned char *>(aad.data()),
                          int(aad.size())) == 1 &&
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char *>(plain.data()), &len,
                          buf + kNonceLen, int(ct_len)) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagLen, buf + kNonceLen + ct_len) ==
            1 &&
        EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char *>(plain.data()) + len,
                            &len) == 1;
    if (!ok) return std::nullopt;
    return plain;
}

} // namespace berth::control
