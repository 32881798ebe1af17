// Header rewriting for proxied requests and answers (#14). Nothing here allocates beyond the
// caller's output buffer, whose capacity is kept from request to request.
#include "edge/proxy/proxy_headers.h"

#include <charconv>
#include <cstdint>

#include "shared/http/response_writer.h"

namespace berth::edge
{

using shared::http::Header;
using shared::http::HeaderToken;
using shared::http::iequals;
using shared::http::trim_ows;
using shared::route::any_rule_matches;
using shared::route::for_each_rule_header;
using shared::route::rule_header;

namespace
{

// The tokens of a comma-separated list, called one by one.
template <typename F> void for_each_token(std::string_view list, F &&f)
{
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = trim_ows(list.substr(0, comma));
        if (!item.empty()) f(item);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

bool has_token(std::string_view list, std::string_view token)
{
    bool found = false;
    for_each_token(list, [&](std::string_view t) { found |= iequals(t, token); });
    return found;
}

// The field names a head's Connection headers list (RFC 9110 7.6.1), looked at once per head:
// most list only "keep-alive" or "close", which name no field to drop.
template <typename Head> class ConnectionNamed
{
public:
    explicit ConnectionNamed(const Head &h) : head_(h)
    {
        for (uint16_t i = 0; i < h.header_count && !any_; ++i)
            if (h.headers[i].token == HeaderToken::kConnection)
                for_each_token(h.headers[i].value, [&](std::string_view t) {
                    if (!iequals(t, "keep-alive") && !iequals(t, "close")) any_ = true;
                });
    }
    bool operator()(std::string_view name) const
    {
        if (!any_) return false;
        for (uint16_t i = 0; i < head_.header_count; ++i)
            if (head_.headers[i].token == HeaderToken::kConnection &&
                has_token(head_.headers[i].value, name))
                return true;
        return false;
    }

private:
    const Head &head_;
    bool any_ = false;
};

// Fields that never pass a proxy as they came (RFC 9110 7.6.1), plus the framing ones.
bool hop_by_hop(std::string_view name) noexcept
{
    switch (name.size()) {
    case 2:
        return iequals(name, "te");
    case 7:
        return iequals(name, "trailer") || iequals(name, "upgrade");
    case 10:
        return iequals(name, "connection") || iequals(name, "keep-alive");
    case 14:
        return iequals(name, "content-length");
    case 17:
        return iequals(name, "transfer-encoding");
    default:
        return name.size() > 6 && iequals(name.substr(0, 6), "proxy-");
    }
}

void header_line(std::string &out, std::string_view name, std::string_view value)
{
    out.append(name).append(": ").append(value).append("\r\n");
}

} // namespace

bool wants_websocket(const shared::http::RequestHead &req) noexcept
{
    if (req.method != shared::http::Method::kGet || req.has_body) return false;
    bool upgrade = false, connection = false;
    for (uint16_t i = 0; i < req.header_count; ++i) {
        const Header &h = req.headers[i];
        if (h.token == HeaderToken::kUpgrade && has_token(h.value, "websocket")) upgrade = true;
        if (h.token == HeaderToken::kConnection && has_token(h.value, "upgrade")) connection = true;
    }
    return upgrade && connection;
}

bool valid_request_id(std::string_view id) noexcept
{
    if (id.empty() || id.size() > 128) return false;
    for (char c : id)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

void build_upstream_request(const shared::http::RequestHead &req, const ForwardInfo &f,
                            std::string &out)
{
    // Request line: origin-form (an absolute-form target loses its scheme and authority).
    std::string_view target = req.target;
    if (!target.empty() && target.front() != '/' && target != "*") {
        // The path (and query) as they stand in the target; "http://host" has neither, and
        // the parser's path is then a "/" of its own, not a view into the target.
        const char *begin = req.target.data(), *end = begin + req.target.size();
        auto at = reinterpret_cast<std::uintptr_t>(req.path.data());
        bool inside = at >= reinterpret_cast<std::uintptr_t>(begin) &&
                      at < reinterpret_cast<std::uintptr_t>(end);
        target = inside ? std::string_view(req.path.data(), size_t(end - req.path.data()))
                        : std::string_view("/");
    }
    out.append(req.method_name).append(" ").append(target).append(" HTTP/1.1\r\n");
    header_line(out, "Host", f.host);

    std::string_view client_xff, client_proto, client_fhost;
    size_t xff_count = 0;
    ConnectionNamed named_by_connection(req);
    for (uint16_t i = 0; i < req.header_count; ++i) {
        const Header &h = req.headers[i];
        if (h.token == HeaderToken::kHost || h.token == HeaderToken::kExpect) continue;
        if (h.token == HeaderToken::kXForwardedFor) {
            ++xff_count;
            if (client_xff.empty()) client_xff = h.value;
            continue;
        }
        if (hop_by_hop(h.name)) continue;
        if (iequals(h.name, "x-forwarded-proto")) {
            client_proto = h.value;
            continue;
        }
        if (iequals(h.name, "x-forwarded-host")) {
            client_fhost = h.value;
            continue;
        }
        if (iequals(h.name, "x-real-ip") || iequals(h.name, "x-request-id") ||
            iequals(h.name, "x-client-country"))
            continue;
        // RFC 7239's Forwarded says what X-Forwarded-* say: believed from a trusted proxy
        // only (the edge does not write its own; X-Forwarded-* carry the client).
        if (!f.peer_trusted && iequals(h.name, "forwarded")) continue;
        if (named_by_connection(h.name)) continue;
        out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    // X-Forwarded-For: a trusted proxy's list goes on with the peer appended; anyone else's
    // is replaced, so a client cannot forge the address the upstream sees.
    out.append("X-Forwarded-For: ");
    if (f.peer_trusted && xff_count > 0) {
        for (uint16_t i = 0; i < req.header_count; ++i)
            if (req.headers[i].token == HeaderToken::kXForwardedFor)
                out.append(req.headers[i].value).append(", ");
    }
    out.append(f.peer_ip).append("\r\n");
    header_line(out, "X-Forwarded-Proto",
                f.peer_trusted && !client_proto.empty() ? client_proto
                                                        : (f.secure ? "https" : "http"));
    header_line(out, "X-Forwarded-Host",
                f.peer_trusted && !client_fhost.empty() ? client_fhost : req.host);
    header_line(out, "X-Real-IP", f.peer_ip);
    header_line(out, "X-Request-Id", f.request_id);
    if (!f.country.empty()) header_line(out, "X-Client-Country", f.country);
    if (f.websocket) {
        out.append("Upgrade: websocket\r\nConnection: Upgrade\r\n");
    }
    if (req.expect_continue) out.append("Expect: 100-continue\r\n");
    if (req.chunked) {
        out.append("Transfer-Encoding: chunked\r\n");
    } else if (req.content_length > 0 || !req.get(HeaderToken::kContentLength).empty()) {
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, req.content_length);
        out.append("Content-Length: ").append(digits, size_t(end - digits)).append("\r\n");
    }
    out.append("\r\n");
}

ClientFraming build_client_response(const shared::http::ResponseHead &resp, ClientAnswer &a,
                                    std::string &out)
{
    ClientFraming framing;
    bool no_body = a.head_request || resp.status < 200 || resp.status == 204 || resp.status == 304;
    if (no_body)
        framing = ClientFraming::kNone;
    else if (resp.has_content_length)
        framing = ClientFraming::kLength;
    else if (!a.http10)
        framing = ClientFraming::kChunked;
    else
        framing = ClientFraming::kClose;
    if (framing == ClientFraming::kClose) a.close = true;

    out.append(a.http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    char code[4] = {char('0' + resp.status / 100), char('0' + resp.status / 10 % 10),
                    char('0' + resp.status % 10), ' '};
    out.append(code, 4);
    out.append(resp.reason.empty() ? shared::http::reason_phrase(resp.status) : resp.reason);
    out.append("\r\n");
    bool has_date = false;
    // Route header rules replace the upstream's header of the same name and the edge's own
    // (HSTS, X-Request-Id); overlapping patterns send each name once, the most specific's.
    const std::vector<shared::route::HeaderRule> *rules =
        a.rules && any_rule_matches(*a.rules, a.path) ? a.rules : nullptr;
    ConnectionNamed named_by_connection(resp);
    for (uint16_t i = 0; i < resp.header_count; ++i) {
        const Header &h = resp.headers[i];
        if (h.token == HeaderToken::kContentLength) {
            // A HEAD or 304 answer keeps the length of the body it stands for.
            if (framing == ClientFraming::kNone && resp.status >= 200 && resp.status != 204)
                out.append("Content-Length: ").append(h.value).append("\r\n");
            continue;
        }
        if (hop_by_hop(h.name) || named_by_connection(h.name)) continue;
        if (iequals(h.name, "x-request-id")) continue;              // ours is the same id
        if (rules && rule_header(*rules, a.path, h.name)) continue; // the rule's replaces it
        if (!has_date && iequals(h.name, "date")) has_date = true;
        out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!has_date) out.append(a.date);
    if (!rules) {
        out.append(a.hsts);
        header_line(out, "X-Request-Id", a.request_id);
    } else {
        for_each_rule_header(*rules, a.path, [&](std::string_view n, std::string_view v) {
            header_line(out, n, v);
        });
        if (!rule_header(*rules, a.path, "strict-transport-security")) out.append(a.hsts);
        if (!rule_header(*rules, a.path, "x-request-id"))
            header_line(out, "X-Request-Id", a.request_id);
    }
    if (framing == ClientFraming::kLength) {
        char digits[24];
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, resp.content_length);
        out.append("Content-Length: ").append(digits, size_t(end - digits)).append("\r\n");
    } else if (framing == ClientFraming::kChunked) {
        out.append("Transfer-Encoding: chunked\r\n");
    }
    if (a.tunnel) {
        out.append("Upgrade: ")
            .append(resp.get("upgrade"))
            .append("\r\nConnection: Upgrade\r\n\r\n");
        return framing;
    }
    if (a.close)
        out.append("Connection: close\r\n\r\n");
    else if (a.http10)
        out.append("Connection: keep-alive\r\n\r\n");
    else
        out.append("\r\n");
    return framing;
}

} // namespace berth::edge
