// Header name → token: switch on length first, then one case-insensitive compare.
#include "shared/http/header_token.h"

namespace berth::shared::http
{

HeaderToken header_token(std::string_view n) noexcept
{
    // b is always lower case, so only a needs folding.
    auto is = [&](std::string_view b) {
        for (size_t i = 0; i < b.size(); ++i)
            if (ascii_lower(n[i]) != b[i]) return false;
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
        if (is("if-match")) return HeaderToken::kIfMatch;
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
    case 19:
        if (is("if-unmodified-since")) return HeaderToken::kIfUnmodifiedSince;
        break;
    default:
        break;
    }
    return HeaderToken::kOther;
}

} // namespace berth::shared::http
