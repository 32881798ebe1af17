// Hashes, HMACs, constant-time compare, random tokens and AES-256-GCM for secrets at rest.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace berth::control
{

// Lower-case hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// Raw HMAC-SHA256 (32 bytes) and its lower-case hex.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// Compares without an early exit, so the time taken does not tell where a signature differs.
// Lengths are not secret (a signature's length is public).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

std::string to_hex(std::string_view bytes);
// Decodes hex (either case); nullopt on odd length or a non-hex digit.
std::optional<std::string> from_hex(std::string_view hex);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

// n bytes from the OS CSPRNG as lower-case hex (2n characters).
std::string random_hex(size_t n);

// A random (version 4) UUID, lower-case and hyphenated, as PostgreSQL's gen_random_uuid().
std::string random_uuid();

// AES-256-GCM with a 32-byte key. Output of seal: base64(nonce(12) || ciphertext || tag(16)).
// `aad` binds the value to its context (service id and key name), so a ciphertext copied to
// another row does not decrypt. open() returns nullopt when the tag does not verify.
class SecretBox
{
public:
    explicit SecretBox(std::string key); // key must be exactly 32 bytes (checked by from_hex_key)
    static std::optional<SecretBox> from_hex_key(std::string_view hex);

    std::string seal(std::string_view plaintext, std::string_view aad) const;
    std::optional<std::string> open(std::string_view sealed, std::string_view aad) const;

private:
    std::string key_;
};

} // namespace berth::control
