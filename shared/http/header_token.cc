// Header name → token: switch on length first, then one case-insensitive compare.
#include "shared/http/header_token.h"

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
        if (lower(a[i]) != b[i] && lower(a[i]) != lower(b[i])) return false;
    return true;
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
