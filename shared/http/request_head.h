// A parsed request head: views into the connection's head buffer, valid until the next request.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "shared/http/header_token.h"

namespace berth::shared::http
{

// Request methods we route on; everything else is kOther and answered 405 (or 501).
enum class Method : uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };

struct Header {
    std::string_view name;
    std::string_view value;
    HeaderToken token = HeaderToken::kOther;
};

inline constexpr size_t kMaxHeaderCount = 100;

struct RequestHead {
    Method method = Method::kOther;
    std::string_view method_name;
    std::string_view target; // as sent: origin-form, absolute-form or "*"
    std::string_view path;   // target without query, still percent-encoded
    std::string_view query;  // without '?'
    std::string_view host;   // authority of an absolute-form target, else the Host header
    uint8_t version_major = 1;
    uint8_t version_minor = 1;
    bool keep_alive = true;
    bool has_body = false;
    bool expect_continue = false;
    uint64_t content_length = 0; // when !chunked
    bool chunked = false;
    uint16_t header_count = 0;
    std::array<Header, kMaxHeaderCount> headers;

    // First value of a well-known header, or an empty view.
    std::string_view get(HeaderToken t) const noexcept
    {
        for (uint16_t i = 0; i < header_count; ++i)
            if (headers[i].token == t) return headers[i].value;
        return {};
    }
    // First value of any header by name (case-insensitive).
    std::string_view get(std::string_view name) const noexcept
    {
        for (uint16_t i = 0; i < header_count; ++i)
            if (iequals(headers[i].name, name)) return headers[i].value;
        return {};
    }
    bool is_http10() const noexcept { return version_major == 1 && version_minor == 0; }
};

} // namespace berth::shared::http
