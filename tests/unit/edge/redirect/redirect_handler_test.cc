// RedirectHandler: the route's code, and a Location that keeps the request's path and query
// unless the route names a path of its own.
#include <catch2/catch.hpp>

#include <string>

#include "edge/redirect/redirect_handler.h"
#include "shared/http/request_parser.h"

using namespace berth::edge;
using berth::shared::route::Route;
using berth::shared::route::RouteType;

namespace
{

std::string redirect(const std::string &to, int code, const std::string &request)
{
    berth::shared::http::RequestParser parser{berth::shared::http::ParserLimits{}};
    auto r = parser.feed(request.data(), request.size());
    REQUIRE(r.event == berth::shared::http::ParseEvent::kMessageComplete);
    Route route;
    route.type = RouteType::kRedirect;
    route.to = to;
    route.code = code;
    RouteTarget target;
    target.kind = RouteTarget::Kind::kRedirect;
    target.route = &route;
    OutputQueue out;
    Exchange ex{parser.head(), "old.test", target, out, "Date: x\r\n", 0};
    RedirectHandler().serve(ex);
    CHECK(ex.status == code);
    return out.buffer();
}

} // namespace

TEST_CASE("a redirect keeps the request path and query", "[redirect]")
{
    std::string a =
        redirect("https://new.test", 308, "GET /a/b?c=1 HTTP/1.1\r\nHost: old.test\r\n\r\n");
    CHECK(a.rfind("HTTP/1.1 308 Permanent Redirect\r\n", 0) == 0);
    CHECK(a.find("\r\nLocation: https://new.test/a/b?c=1\r\n") != std::string::npos);
    CHECK(a.find("\r\nContent-Length: 0\r\n") != std::string::npos);
    CHECK(a.ends_with("\r\n\r\n"));
    std::string slash =
        redirect("https://new.test/", 301, "GET /x HTTP/1.1\r\nHost: old.test\r\n\r\n");
    CHECK(slash.find("\r\nLocation: https://new.test/x\r\n") != std::string::npos);
}

TEST_CASE("a redirect to a path of its own drops the request path", "[redirect]")
{
    std::string a =
        redirect("https://new.test/landing", 302, "GET /a?b HTTP/1.1\r\nHost: old.test\r\n\r\n");
    CHECK(a.rfind("HTTP/1.1 302 Found\r\n", 0) == 0);
    CHECK(a.find("\r\nLocation: https://new.test/landing\r\n") != std::string::npos);
}

TEST_CASE("an absolute-form request is redirected by its path, not its authority", "[redirect]")
{
    std::string a = redirect("https://new.test", 308,
                             "GET http://old.test/p?q=2 HTTP/1.1\r\nHost: old.test\r\n\r\n");
    CHECK(a.find("\r\nLocation: https://new.test/p?q=2\r\n") != std::string::npos);
    CHECK(a.find("old.test/p") == std::string::npos);
}
