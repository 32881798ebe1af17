// The client's head for a proxied answer: route header rules replace the upstream's header of
// the same name and the edge's own (HSTS, X-Request-Id), and overlapping patterns send each
// name once, the most specific pattern's value.
#include <catch2/catch.hpp>

#include <string>

#include "edge/proxy/proxy_headers.h"
#include "shared/http/response_parser.h"
#include "shared/route/route_table_json.h"

using namespace berth::edge;
using berth::shared::http::ResponseEvent;
using berth::shared::http::ResponseParser;

namespace
{

// How many header lines of `head` have this name (exact spelling).
size_t count(const std::string &head, const std::string &name)
{
    size_t n = 0;
    for (size_t at = head.find("\r\n" + name + ": "); at != std::string::npos;
         at = head.find("\r\n" + name + ": ", at + 1))
        ++n;
    return n;
}

std::vector<berth::shared::route::HeaderRule> rules_of(const std::string &headers)
{
    std::string error;
    auto table = berth::shared::route::parse_route_table(
        R"({"version":1,"routes":[{"host":"a.test","type":"proxy","upstreams":[{"addr":"a:1"}],
            "headers":)" +
            headers + "}]}",
        error);
    INFO(error);
    REQUIRE(table);
    return table->routes()[0].header_rules;
}

} // namespace

TEST_CASE("proxied answers carry each rule header once, the most specific pattern's", "[proxy]")
{
    auto rules = rules_of(R"({"/*": {"Cache-Control": "A", "X-Frame-Options": "DENY"},
        "/assets/*": {"Cache-Control": "B", "X-Frame-Options": "SAMEORIGIN",
                      "Strict-Transport-Security": "max-age=1", "X-Request-Id": "mine"}})");
    std::string upstream =
        "HTTP/1.1 200 OK\r\nCache-Control: upstream\r\nContent-Type: text/css\r\n"
        "X-Frame-Options: ALLOW\r\nContent-Length: 2\r\n\r\nok";
    ResponseParser parser;
    REQUIRE(parser.feed(upstream.data(), upstream.size()).event == ResponseEvent::kHeadComplete);

    for (const char *path : {"/assets/app.css", "/index.html"}) {
        CAPTURE(path);
        bool assets = std::string(path).starts_with("/assets/");
        ClientAnswer a;
        a.date = "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n";
        a.hsts = "Strict-Transport-Security: max-age=31536000\r\n";
        a.request_id = "edge-id";
        a.rules = &rules;
        a.path = path;
        std::string out;
        build_client_response(parser.head(), a, out);
        INFO(out);
        CHECK(count(out, "Cache-Control") == 1);
        CHECK(count(out, "X-Frame-Options") == 1);
        CHECK(count(out, "Strict-Transport-Security") == 1);
        CHECK(count(out, "X-Request-Id") == 1);
        CHECK(count(out, "Content-Type") == 1);
        CHECK(out.find(assets ? "Cache-Control: B\r\n" : "Cache-Control: A\r\n") !=
              std::string::npos);
        CHECK(out.find(assets ? "X-Frame-Options: SAMEORIGIN\r\n" : "X-Frame-Options: DENY\r\n") !=
              std::string::npos);
        CHECK(out.find(assets ? "Strict-Transport-Security: max-age=1\r\n"
                              : "Strict-Transport-Security: max-age=31536000\r\n") !=
              std::string::npos);
        CHECK(out.find(assets ? "X-Request-Id: mine\r\n" : "X-Request-Id: edge-id\r\n") !=
              std::string::npos);
        CHECK(out.find("Content-Length: 2\r\n") != std::string::npos);
    }
}
