// Router: route table first (exact, then wildcard), then quick mode's NAME.<base>.
#include <catch2/catch.hpp>

#include <string>

#include "edge/route/router.h"
#include "shared/route/route_table_json.h"

using berth::edge::is_deployment_label;
using berth::edge::Router;
using berth::edge::RouteTarget;
using berth::shared::route::parse_route_table;
using berth::shared::route::RouteTable;

namespace
{

RouteTable table(const std::string &routes)
{
    std::string error;
    auto t = parse_route_table(R"({"version": 3, "routes": [)" + routes + "]}", error);
    INFO(error);
    REQUIRE(t);
    return std::move(*t);
}

RouteTarget route(const Router &router, const RouteTable *t, std::string_view host, char *scratch,
                  size_t cap = 64)
{
    return router.route(t, host, scratch, cap);
}

} // namespace

TEST_CASE("router quick mode serves NAME.base from the directory NAME", "[route]")
{
    Router router("example.test", true);
    CHECK(router.quick_name("demo.example.test") == "demo");
    CHECK(router.quick_name("my-app_2.example.test") == "my-app_2");
    char scratch[64];
    RouteTarget t = route(router, nullptr, "demo.example.test", scratch);
    CHECK(t.kind == RouteTarget::Kind::kStatic);
    CHECK(t.site_dir == "demo");
    CHECK(t.spa);
    CHECK(t.route == nullptr);
    CHECK(t.header_rules == nullptr);

    Router no_spa("example.test", false);
    CHECK_FALSE(route(no_spa, nullptr, "demo.example.test", scratch).spa);
}

TEST_CASE("router quick mode refuses names that are not one deployment label", "[route]")
{
    Router router("example.test", true);
    for (const char *host :
         {"www.example.test", "example.test", ".example.test", "a.b.example.test", "xexample.test",
          "demo.example.test.evil", "-demo.example.test", "_demo.example.test", "Demo.example.test",
          "de mo.example.test", "demo.other.test", ""}) {
        CAPTURE(host);
        CHECK(router.quick_name(host).empty());
        char scratch[64];
        CHECK(route(router, nullptr, host, scratch).kind == RouteTarget::Kind::kUnknownHost);
    }
}

TEST_CASE("router quick mode is off without a base domain", "[route]")
{
    Router router("", true);
    CHECK(router.quick_name("demo.example.test").empty());
    char scratch[64];
    CHECK(route(router, nullptr, "demo.example.test", scratch).kind ==
          RouteTarget::Kind::kUnknownHost);
}

TEST_CASE("deployment labels are one DNS label of [a-z0-9_-], not www", "[route]")
{
    CHECK(is_deployment_label("demo"));
    CHECK(is_deployment_label("a"));
    CHECK(is_deployment_label("pr-12"));
    CHECK(is_deployment_label("9lives"));
    CHECK(is_deployment_label("a_b-"));
    CHECK(is_deployment_label(std::string(63, 'a')));
    CHECK_FALSE(is_deployment_label(std::string(64, 'a')));
    CHECK_FALSE(is_deployment_label(""));
    CHECK_FALSE(is_deployment_label("www"));
    CHECK_FALSE(is_deployment_label("-a"));
    CHECK_FALSE(is_deployment_label("_a"));
    CHECK_FALSE(is_deployment_label("a.b"));
    CHECK_FALSE(is_deployment_label(".."));
    CHECK_FALSE(is_deployment_label("A"));
    CHECK_FALSE(is_deployment_label("a/b"));
}

TEST_CASE("router matches exact hosts before wildcards and quick mode", "[route]")
{
    RouteTable t = table(
        R"({"host": "*.example.test", "type": "proxy", "upstreams": [{"addr": "127.0.0.1:9001"}]},
           {"host": "api.example.test", "type": "redirect", "to": "https://api.other.test"},
           {"host": "demo.example.test", "type": "static", "root": "pinned/d-3", "spa": false,
            "headers": {"/*": {"X-Frame-Options": "DENY"}}})");
    Router router("example.test", true);
    char scratch[64];

    RouteTarget api = route(router, &t, "api.example.test", scratch);
    CHECK(api.kind == RouteTarget::Kind::kRedirect);
    REQUIRE(api.route);
    CHECK(api.route->to == "https://api.other.test");

    RouteTarget demo = route(router, &t, "demo.example.test", scratch);
    CHECK(demo.kind == RouteTarget::Kind::kStatic);
    CHECK(demo.site_dir == "pinned/d-3");
    CHECK_FALSE(demo.spa);
    REQUIRE(demo.header_rules);
    CHECK(demo.header_rules->size() == 1);

    // The wildcard wins over quick mode for other names under the same base.
    RouteTarget other = route(router, &t, "shop.example.test", scratch);
    CHECK(other.kind == RouteTarget::Kind::kProxy);
    REQUIRE(other.route);
    CHECK(other.route->upstreams.size() == 1);
}

TEST_CASE("router falls back to quick mode when the table has no match", "[route]")
{
    RouteTable t = table(R"({"host": "shop.test", "type": "static", "root": "shop/d-1"})");
    Router router("example.test", true);
    char scratch[64];
    RouteTarget quick = route(router, &t, "demo.example.test", scratch);
    CHECK(quick.kind == RouteTarget::Kind::kStatic);
    CHECK(quick.site_dir == "demo");
    CHECK(quick.route == nullptr);
    CHECK(route(router, &t, "nothing.test", scratch).kind == RouteTarget::Kind::kUnknownHost);
    CHECK(route(router, &t, "shop.test", scratch).site_dir == "shop/d-1");
}

TEST_CASE("router names the site by the wildcard label with root_from_label", "[route]")
{
    RouteTable t = table(
        R"({"host": "*.preview.example.test", "type": "static", "root_from_label": true, "spa": true},
           {"host": "*.pr.test", "type": "static", "root": "previews", "root_from_label": true})");
    Router router("", false);
    char scratch[64];

    RouteTarget bare = route(router, &t, "pr-7.preview.example.test", scratch);
    CHECK(bare.kind == RouteTarget::Kind::kStatic);
    CHECK(bare.site_dir == "pr-7");
    CHECK(bare.spa);

    RouteTarget under = route(router, &t, "feature-x.pr.test", scratch);
    CHECK(under.kind == RouteTarget::Kind::kStatic);
    CHECK(under.site_dir == "previews/feature-x");
    CHECK(under.site_dir.data() == scratch);
    CHECK_FALSE(under.spa);

    // Exactly fits, then one byte too many for the scratch buffer.
    CHECK(route(router, &t, "abcd.pr.test", scratch, 13).site_dir == "previews/abcd");
    CHECK(route(router, &t, "abcde.pr.test", scratch, 13).kind == RouteTarget::Kind::kUnknownHost);

    // Labels that are not a deployment name never become a directory.
    for (const char *host : {"www.preview.example.test", "a.b.preview.example.test",
                             "-x.preview.example.test", "_x.pr.test"}) {
        CAPTURE(host);
        CHECK(route(router, &t, host, scratch).kind == RouteTarget::Kind::kUnknownHost);
    }
}
