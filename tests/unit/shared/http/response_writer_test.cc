// ResponseWriter: exact bytes of status lines, headers, chunk framing and simple responses.
#include <catch2/catch.hpp>

#include <string>

#include "shared/http/response_writer.h"

using berth::shared::http::reason_phrase;
using berth::shared::http::ResponseWriter;

TEST_CASE("response writer writes status line and headers byte for byte", "[http]")
{
    std::string out;
    ResponseWriter w(out);
    w.status_line(200);
    w.header("Content-Type", "text/plain");
    w.header("Content-Length", uint64_t(18446744073709551615ull));
    w.raw("X-Raw: 1\r\n");
    w.end_head();
    w.body("hi");
    CHECK(out == "HTTP/1.1 200 OK\r\n"
                 "Content-Type: text/plain\r\n"
                 "Content-Length: 18446744073709551615\r\n"
                 "X-Raw: 1\r\n"
                 "\r\n"
                 "hi");
}

TEST_CASE("response writer writes HTTP/1.0 status lines on request", "[http]")
{
    std::string out;
    ResponseWriter(out).status_line(404, true);
    CHECK(out == "HTTP/1.0 404 Not Found\r\n");
}

TEST_CASE("response writer appends to what the buffer already holds", "[http]")
{
    std::string out = "HTTP/1.1 100 Continue\r\n\r\n";
    ResponseWriter w(out);
    w.status_line(204);
    w.end_head();
    CHECK(out == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    CHECK(&w.buffer() == &out);
}

TEST_CASE("response writer frames chunks in hex and skips empty ones", "[http]")
{
    std::string out;
    ResponseWriter w(out);
    w.chunk("hello");
    w.chunk("");
    w.chunk(std::string(255, 'x'));
    w.last_chunk();
    CHECK(out == "5\r\nhello\r\nff\r\n" + std::string(255, 'x') + "\r\n0\r\n\r\n");
}

TEST_CASE("response writer builds a simple response and omits the body for HEAD", "[http]")
{
    std::string out;
    ResponseWriter(out).simple(404, "text/html; charset=utf-8", "<h1>gone</h1>",
                               "Cache-Control: no-cache\r\n");
    CHECK(out == "HTTP/1.1 404 Not Found\r\n"
                 "Content-Type: text/html; charset=utf-8\r\n"
                 "Content-Length: 13\r\n"
                 "Cache-Control: no-cache\r\n"
                 "\r\n"
                 "<h1>gone</h1>");

    std::string head;
    ResponseWriter(head).simple(503, "", "busy", {}, true, true);
    CHECK(head == "HTTP/1.1 503 Service Unavailable\r\n"
                  "Content-Length: 4\r\n"
                  "Connection: close\r\n"
                  "\r\n");
}

TEST_CASE("response writer knows the reason phrases it sends", "[http]")
{
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(206) == "Partial Content");
    CHECK(reason_phrase(304) == "Not Modified");
    CHECK(reason_phrase(308) == "Permanent Redirect");
    CHECK(reason_phrase(413) == "Content Too Large");
    CHECK(reason_phrase(416) == "Range Not Satisfiable");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(505) == "HTTP Version Not Supported");
    CHECK(reason_phrase(299) == "Unknown");

    std::string out;
    ResponseWriter(out).status_line(299);
    CHECK(out == "HTTP/1.1 299 Unknown\r\n");
}
