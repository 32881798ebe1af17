#include "shared/fleet/signature.h"

#include <fstream>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

namespace berth::shared::fleet
{

namespace
{

constexpr size_t kMinKeyChars = 32;

constexpr std::string_view kTableKind = "berth route table v1";
constexpr std::string_view kArchiveKind = "berth deployment archive v1";

std::string to_hex(const unsigned char *md, size_t len)
{
    static const char kHex[] = "0123456789abcdef";
    std::string hex(len * 2, '0');
    for (size_t i = 0; i < len; ++i) {
        hex[2 * i] = kHex[md[i] >> 4];
        hex[2 * i + 1] = kHex[md[i] & 15];
    }
    return hex;
}

std::string hmac_hex(std::string_view key, std::string_view kind, std::string_view where,
                     std::string_view body)
{
    if (key.empty()) return "";
    std::string message;
    message.reserve(kind.size() + where.size() + body.size() + 2);
    message.append(kind).append("\n").append(where).append("\n").append(body);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), key.data(), int(key.size()),
              reinterpret_cast<const unsigned char *>(message.data()), message.size(), md, &len))
        throw std::runtime_error("HMAC-SHA256 failed");
    return to_hex(md, len);
}

} // namespace

std::string read_signing_key(const std::string &path)
{
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::string key;
    std::getline(in, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ' || key.back() == '\t'))
        key.pop_back();
    if (key.size() < kMinKeyChars)
        throw std::runtime_error(path + ": the key (its first line) must have at least " +
                                 std::to_string(kMinKeyChars) +
                                 " characters, e.g. from `openssl rand -hex 32`");
    return key;
}

std::string sign_table(std::string_view key, std::string_view version, std::string_view table)
{
    return hmac_hex(key, kTableKind, version, table);
}

std::string sign_archive(std::string_view key, std::string_view root, std::string_view archive)
{
    return hmac_hex(key, kArchiveKind, root, archive);
}

namespace
{

std::string signature_problem(bool keyed, std::string_view expected, std::string_view given)
{
    if (!keyed) return "";
    if (given.empty()) return "unsigned, and this edge has a [redis] signing_key_file";
    if (expected.size() == given.size() &&
        CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0)
        return "";
    return "its signature does not match this edge's [redis] signing_key_file";
}

} // namespace

std::string table_signature_problem(std::string_view key, std::string_view version,
                                    std::string_view table, std::string_view given)
{
    return signature_problem(!key.empty(), sign_table(key, version, table), given);
}

struct ArchiveSigner::State {
    EVP_MAC *mac = nullptr;
    EVP_MAC_CTX *ctx = nullptr;
    ~State()
    {
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(mac);
    }
};

ArchiveSigner::ArchiveSigner(std::string_view key, std::string_view root) : key_set_(!key.empty())
{
    if (!key_set_) return;
    state_ = std::make_unique<State>();
    state_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    state_->ctx = state_->mac ? EVP_MAC_CTX_new(state_->mac) : nullptr;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!state_->ctx ||
        !EVP_MAC_init(state_->ctx, reinterpret_cast<const unsigned char *>(key.data()), key.size(),
                      params))
        throw std::runtime_error("HMAC-SHA256 failed");
    // The same message as sign_archive's: kind, root, then the archive's bytes.
    update(kArchiveKind);
    update("\n");
    update(root);
    update("\n");
}

ArchiveSigner::~ArchiveSigner() = default;

void ArchiveSigner::update(std::string_view piece)
{
    if (state_ &&
        !EVP_MAC_update(state_->ctx, reinterpret_cast<const unsigned char *>(piece.data()),
                        piece.size()))
        throw std::runtime_error("HMAC-SHA256 failed");
}

std::string ArchiveSigner::hex()
{
    if (!key_set_) return "";
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (!EVP_MAC_final(state_->ctx, md, &len, sizeof md))
        throw std::runtime_error("HMAC-SHA256 failed");
    return to_hex(md, len);
}

std::string ArchiveSigner::problem(std::string_view given)
{
    return signature_problem(key_set_, hex(), given);
}

} // namespace berth::shared::fleet
