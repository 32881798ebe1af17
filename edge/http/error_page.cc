// Error responses: short, clear HTML; the exchange decides keep-alive or close. Each page's
// header lines and body are built once per worker thread and then copied: 404s for missing
// assets are a hot path (#2 benchmark).
#include <deque>

#include "edge/http/exchange.h"

namespace berth::edge
{

namespace
{

struct Page {
    int status;
    const char *title; // identity of the string literal the caller passed
    const char *detail;
    std::string headers; // Content-Type .. X-Content-Type-Options, CRLF-terminated lines
    std::string body;
};

Page build_page(int status, std::string_view title, std::string_view detail)
{
    Page p{status, title.data(), detail.data(), {}, {}};
    char code[4] = {char('0' + status / 100 % 10), char('0' + status / 10 % 10),
                    char('0' + status % 10), ' '};
    p.body.append("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>")
        .append(code, 4)
        .append(shared::http::reason_phrase(status))
        .append("</title></head>\n<body><h1>")
        .append(title)
        .append("</h1>\n<p>")
        .append(detail)
        .append("</p>\n</body></html>\n");
    shared::http::ResponseWriter w(p.headers);
    w.raw("Content-Type: text/html; charset=utf-8\r\n");
    w.header("Content-Length", uint64_t(p.body.size()));
    w.raw("Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
    return p;
}

// Titles and details are string literals, so their addresses identify a page.
const Page &page_for(int status, std::string_view title, std::string_view detail)
{
    thread_local std::deque<Page> pages;
    for (const Page &p : pages)
        if (p.status == status && p.title == title.data() && p.detail == detail.data()) return p;
    if (pages.size() >= 64) pages.pop_front(); // bounded even if a caller passes other strings
    pages.push_back(build_page(status, title, detail));
    return pages.back();
}

} // namespace

void send_error(Exchange &ex, int status, std::string_view title, std::string_view detail,
                std::string_view extra)
{
    const Page &page = page_for(status, title, detail);
    ex.begin(status);
    std::string &out = ex.out.buffer();
    out.append(page.headers).append(extra);
    ex.end_head();
    if (!ex.head_only) out.append(page.body);
}

} // namespace berth::edge
