#include "shared/fleet/signature.h"

#include <fstream>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace berth::shared::fleet
{

namespace
{

constexpr size_t kMinKeyChars = 32;

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
    static const char kHex[] = "0123456789abcdef";
    std::string hex(size_t(len) * 2, '0');
    for (unsigned int i = 0; i < len; ++i) {
        hex[2 * i] = kHex[md[i] >> 4];
        hex[2 * i + 1] = kHex[md[i] & 15];
    }
    return hex;
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
    return hmac_hex(key, "berth route table v1", version, table);
}

std::string sign_archive(std::string_view key, std::string_view root, std::string_view archive)
{
    return hmac_hex(key, "berth deployment archive v1", root, archive);
}

namespace
{

std::string signature_problem(std::string_view key, std::string_view expected,
                              std::string_view given)
{
    if (key.empty()) return "";
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
    return signature_problem(key, sign_table(key, version, table), given);
}

std::string archive_signature_problem(std::string_view key, std::string_view root,
                                      std::string_view archive, std::string_view given)
{
    return signature_problem(key, sign_archive(key, root, archive), given);
}

} // namespace berth::shared::fleet
