// Well-known request header names mapped to small integer tokens, so routing compares tokens.
#pragma once

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

// ASCII case-insensitive equality, as HTTP field names and tokens compare.
bool iequals(std::string_view a, std::string_view b) noexcept;

// tchar (RFC 9110 5.6.2): the characters of field names and other tokens.
bool is_tchar(char c) noexcept;

// Strips optional whitespace (SP, HTAB) from both ends (RFC 9110 5.6.3).
std::string_view trim_ows(std::string_view v) noexcept;

} // namespace berth::shared::http
