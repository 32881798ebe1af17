// Error responses: short, clear HTML; the exchange decides keep-alive or close.
#include "edge/http/exchange.h"

namespace berth::edge
{

void send_error(Exchange &ex, int status, std::string_view title, std::string_view detail,
                std::string_view extra)
{
    ex.begin(status);
    // Assemble the body after the head in the same buffer: compute its length first.
    constexpr std::string_view a = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>";
    constexpr std::string_view b = "</title></head>\n<body><h1>";
    constexpr std::string_view c = "</h1>\n<p>";
    constexpr std::string_view d = "</p>\n</body></html>\n";
    std::string_view reason = shared::http::reason_phrase(status);
    uint64_t len = a.size() + 4 + reason.size() + b.size() + title.size() + c.size() +
                   detail.size() + d.size();
    auto w = ex.writer();
    w.raw("Content-Type: text/html; charset=utf-8\r\n");
    w.header("Content-Length", len);
    w.raw("Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
    w.raw(extra);
    ex.end_head();
    if (ex.head_only) return;
    std::string &out = ex.out.buffer();
    char code[4] = {char('0' + status / 100 % 10), char('0' + status / 10 % 10),
                    char('0' + status % 10), ' '};
    out.append(a)
        .append(code, 4)
        .append(reason)
        .append(b)
        .append(title)
        .append(c)
        .append(detail)
        .append(d);
    ex.body_bytes = len;
}

} // namespace berth::edge
