// Header name → token: switch on length first, then one case-insensitive compare.
#include "shared/http/header_token.h"

#include <array>

namespace berth::shared::http
{

namespace
{
inline char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c;
}
} // namespace

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// One table load per byte: field names of every request pass through here.
constexpr auto kTchar = [] {
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

bool is_tchar(char c) noexcept
{
    return kTchar[static_cast<unsigned char>(c)];
}

std::string_view trim_ows(std::string_view v) noexcept
{
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
        v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
        v.remove_suffix(1);
    return v;
}

HeaderToken header_token(std::string_view n) noexcept
{
    // b is always lower case, so only a needs folding.
    auto is = [&](std::string_view b) {
        for (size_t i = 0; i < b.size(); ++i)
            if (lower(n[i]) != b[i]) return false;
        return true;
    };
    switch (n.size()) {
    case 4:
        if (is("host")) return HeaderToken::kHost;
        break;
    case 5:
        if (is("range")) return HeaderToken::kRange;
        break;
    case 6:
        if (is("expect")) return HeaderToken::kExpect;
        break;
    case 7:
        if (is("referer")) return HeaderToken::kReferer;
        if (is("upgrade")) return HeaderToken::kUpgrade;
        break;
    case 8:
        if (is("if-range")) return HeaderToken::kIfRange;
        break;
    case 10:
        if (is("connection")) return HeaderToken::kConnection;
        if (is("user-agent")) return HeaderToken::kUserAgent;
        break;
    case 12:
        if (is("content-type")) return HeaderToken::kContentType;
        break;
    case 13:
        if (is("if-none-match")) return HeaderToken::kIfNoneMatch;
        if (is("authorization")) return HeaderToken::kAuthorization;
        break;
    case 14:
        if (is("content-length")) return HeaderToken::kContentLength;
        break;
    case 15:
        if (is("accept-encoding")) return HeaderToken::kAcceptEncoding;
        if (is("x-forwarded-for")) return HeaderToken::kXForwardedFor;
        break;
    case 17:
        if (is("transfer-encoding")) return HeaderToken::kTransferEncoding;
        if (is("if-modified-since")) return HeaderToken::kIfModifiedSince;
        break;
    default:
        break;
    }
    return HeaderToken::kOther;
}

} // namespace berth::shared::http
