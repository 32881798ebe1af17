// Well-known request header names mapped to small integer tokens, so routing compares tokens.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace berth::shared::http
{

enum class HeaderToken : uint8_t {
    kOther = 0,
    kHost,
    kConnection,
    kContentLength,
    kTransferEncoding,
    kExpect,
    kAcceptEncoding,
    kRange,
    kIfRange,
    kIfNoneMatch,
    kIfModifiedSince,
    kIfMatch,
    kIfUnmodifiedSince,
    kUserAgent,
    kReferer,
    kUpgrade,
    kContentType,
    kAuthorization,
    kXForwardedFor,
    kCount,
};

// Case-insensitive lookup; kOther for any name not in the table.
HeaderToken header_token(std::string_view name) noexcept;

// Inline: every field name of every request and proxied answer passes through these.
inline char ascii_lower(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c;
}

// ASCII case-insensitive equality, as HTTP field names and tokens compare.
inline bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

// tchar (RFC 9110 5.6.2): the characters of field names and other tokens. One table load
// per byte.
inline constexpr auto kTcharTable = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c)
        t[size_t(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c)
        t[size_t(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c)
        t[size_t(c)] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}();

inline bool is_tchar(char c) noexcept
{
    return kTcharTable[static_cast<unsigned char>(c)];
}

// Strips optional whitespace (SP, HTAB) from both ends (RFC 9110 5.6.3).
inline std::string_view trim_ows(std::string_view v) noexcept
{
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return v;
}

} // namespace berth::shared::http
