// Route table JSON: parsing with field-precise errors, root containment, host matching, round trip.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shared/route/route_table.h"
#include "shared/route/route_table_json.h"

using namespace berth::shared::route;

namespace
{

// The example from DESIGN.md.
const char *const kDesignTable = R"({ "version": 42,
  "routes": [
    { "host": "myapp.example.test", "type": "static", "root": "myapp/d-17", "spa": true,
      "headers": { "/assets/*": { "Cache-Control": "public, max-age=31536000, immutable" } } },
    { "host": "*.preview.example.test", "type": "static", "root_from_label": true, "spa": true },
    { "host": "api.example.test", "type": "proxy", "websocket": true,
      "upstreams": [ { "addr": "127.0.0.1:9001", "weight": 90 },
                     { "addr": "127.0.0.1:9002", "weight": 10 } ],
      "timeouts": { "connect_ms": 2000, "response_header_ms": 30000, "idle_ms": 60000 },
      "geo": { "deny_countries": ["XX"] } },
    { "host": "www.example.test", "type": "redirect", "to": "https://example.test", "code": 308 } ] })";

RouteTable parse_ok(const std::string &text)
{
    std::string error;
    auto table = parse_route_table(text, error);
    INFO(error);
    REQUIRE(table);
    CHECK(error.empty());
    return std::move(*table);
}

// The error for a table that must be refused (empty when it was accepted).
std::string parse_error(const std::string &text)
{
    std::string error;
    auto table = parse_route_table(text, error);
    if (table) return {};
    CHECK_FALSE(error.empty());
    return error;
}

// One route wrapped in a table.
std::string table_with(const std::string &route)
{
    return R"({"version": 1, "routes": [)" + route + "]}";
}

std::string static_route(const std::string &host, const std::string &root)
{
    return R"({"host": ")" + host + R"(", "type": "static", "root": ")" + root + R"("})";
}

} // namespace

TEST_CASE("route table parses the DESIGN.md example", "[route]")
{
    RouteTable t = parse_ok(kDesignTable);
    CHECK(t.version() == 42);
    REQUIRE(t.routes().size() == 4);

    const auto &app = t.routes()[0];
    CHECK(app.host == "myapp.example.test");
    CHECK(app.type == RouteType::kStatic);
    CHECK(app.root == "myapp/d-17");
    CHECK(app.spa);
    CHECK_FALSE(app.root_from_label);
    REQUIRE(app.header_rules.size() == 1);
    CHECK(app.header_rules[0].pattern == "/assets/");
    CHECK(app.header_rules[0].prefix);
    REQUIRE(app.header_rules[0].headers.size() == 1);
    CHECK(app.header_rules[0].headers[0].first == "Cache-Control");
    CHECK(app.header_rules[0].headers[0].second == "public, max-age=31536000, immutable");

    const auto &preview = t.routes()[1];
    CHECK(preview.host == "*.preview.example.test");
    CHECK(preview.root_from_label);
    CHECK(preview.root.empty());

    const auto &api = t.routes()[2];
    CHECK(api.type == RouteType::kProxy);
    CHECK(api.websocket);
    REQUIRE(api.upstreams.size() == 2);
    CHECK(api.upstreams[0].addr == "127.0.0.1:9001");
    CHECK(api.upstreams[0].host == "127.0.0.1");
    CHECK(api.upstreams[0].port == 9001);
    CHECK(api.upstreams[0].weight == 90);
    CHECK(api.upstreams[1].weight == 10);
    CHECK(api.timeouts.connect_ms == 2000);
    CHECK(api.timeouts.response_header_ms == 30000);
    CHECK(api.timeouts.idle_ms == 60000);
    CHECK(api.deny_countries == std::vector<std::string>{"XX"});
    CHECK(api.allow_countries.empty());

    const auto &www = t.routes()[3];
    CHECK(www.type == RouteType::kRedirect);
    CHECK(www.to == "https://example.test");
    CHECK(www.code == 308);
}

TEST_CASE("route table matches exact hosts before wildcards", "[route]")
{
    RouteTable t = parse_ok(table_with(static_route("*.example.test", "wild") + "," +
                                       static_route("api.example.test", "exact") + "," +
                                       static_route("*.preview.example.test", "preview")));
    auto m = t.match("api.example.test");
    REQUIRE(m.route);
    CHECK(m.route->root == "exact");
    CHECK(m.label.empty());

    m = t.match("shop.example.test");
    REQUIRE(m.route);
    CHECK(m.route->root == "wild");
    CHECK(m.label == "shop");

    // The longest wildcard suffix wins, whatever the order in the table.
    m = t.match("pr-12.preview.example.test");
    REQUIRE(m.route);
    CHECK(m.route->root == "preview");
    CHECK(m.label == "pr-12");

    m = t.match("a.b.example.test");
    REQUIRE(m.route);
    CHECK(m.route->root == "wild");
    CHECK(m.label == "a.b");

    // A wildcard needs a label in front of its suffix.
    CHECK_FALSE(t.match("example.test").route);
    CHECK_FALSE(t.match(".example.test").route);
    CHECK_FALSE(t.match("other.test").route);
    CHECK_FALSE(t.match("").route);
    CHECK_FALSE(t.match("xexample.test").route);
}

TEST_CASE("route table lower-cases hosts and strips one trailing dot", "[route]")
{
    RouteTable t = parse_ok(table_with(static_route("MyApp.Example.TEST.", "a")));
    CHECK(t.routes()[0].host == "myapp.example.test");
    CHECK(t.match("myapp.example.test").route);
    CHECK_FALSE(t.match("MyApp.Example.TEST").route); // callers pass normalised hosts
}

TEST_CASE("route table refuses roots that escape the deployments root", "[route]")
{
    for (const char *root : {"..", "../other", "a/../../x", "a/..", "/etc", "/", "a/.git",
                             ".hidden", "a/.env/b", "...", "a\\\\..\\\\b"}) {
        CAPTURE(root);
        std::string error = parse_error(table_with(static_route("a.test", root)));
        CHECK(error.rfind("routes[0].root: ", 0) == 0);
        CHECK(error.find("escapes the deployments root") != std::string::npos);
    }
    std::string nul =
        parse_error(table_with(R"({"host": "a.test", "type": "static", "root": "a\u0000b"})"));
    CHECK(nul.rfind("routes[0].root:", 0) == 0);
}

TEST_CASE("root containment allows plain relative directories", "[route]")
{
    CHECK(root_is_contained("myapp/d-17"));
    CHECK(root_is_contained("demo"));
    CHECK(root_is_contained("a/b/"));
    CHECK(root_is_contained("./a"));
    CHECK(root_is_contained("a..b/c"));
    CHECK_FALSE(root_is_contained(""));
    CHECK_FALSE(root_is_contained(".."));
    CHECK_FALSE(root_is_contained("a/../b"));
    CHECK_FALSE(root_is_contained("/abs"));
    CHECK_FALSE(root_is_contained("a\\b"));
    CHECK_FALSE(root_is_contained(std::string_view("a\0b", 3)));
    CHECK_FALSE(root_is_contained("a/.well-known"));
}

TEST_CASE("route table refuses malformed hosts with the field named", "[route]")
{
    for (const char *host :
         {"", "a b.test", "a/b.test", "*", "*.", "a.*.test", "*a.test", "*.*.test", "**.test",
          "a..test", ".a.test", "caf\u00e9.test", "a.test..", "*.a.test.."}) {
        CAPTURE(host);
        std::string error = parse_error(table_with(static_route(host, "x")));
        CHECK(error.rfind("routes[0].host", 0) == 0);
    }
}

TEST_CASE("route table refuses a host that is only a dot", "[route]")
{
    // "." loses its trailing dot and becomes the empty host, which must be refused as "".
    std::string error = parse_error(table_with(static_route(".", "x")));
    CHECK(error.rfind("routes[0].host", 0) == 0);
}

TEST_CASE("route table refuses duplicate hosts after normalisation", "[route]")
{
    std::string error =
        parse_error(table_with(static_route("a.test", "x") + "," + static_route("A.TEST.", "y")));
    CHECK(error.rfind("routes[1].host: duplicate host", 0) == 0);
}

TEST_CASE("route table refuses bad documents and types", "[route]")
{
    CHECK(parse_error("").rfind("invalid JSON", 0) == 0);
    CHECK(parse_error("{\"version\": 1,").rfind("invalid JSON", 0) == 0);
    CHECK(parse_error("[]").rfind("table:", 0) == 0);
    CHECK(parse_error(R"({"routes": []})").rfind("version:", 0) == 0);
    CHECK(parse_error(R"({"version": -1, "routes": []})").rfind("version:", 0) == 0);
    CHECK(parse_error(R"({"version": "1", "routes": []})").rfind("version:", 0) == 0);
    CHECK(parse_error(R"({"version": 1})").rfind("routes:", 0) == 0);
    CHECK(parse_error(R"({"version": 1, "routes": {}})").rfind("routes:", 0) == 0);
    CHECK(parse_error(table_with("3")).rfind("routes[0]: must be an object", 0) == 0);
    CHECK(parse_error(table_with(R"({"type": "static", "root": "a"})"))
              .rfind("routes[0]: missing \"host\"", 0) == 0);
    CHECK(parse_error(table_with(R"({"host": 7, "type": "static"})"))
              .rfind("routes[0].host: must be a string", 0) == 0);
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "lambda"})"))
              .rfind("routes[0].type:", 0) == 0);
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "static"})"))
              .rfind("routes[0]: static route needs", 0) == 0);
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "static", "root": "a", "spa": 1})"))
              .rfind("routes[0].spa:", 0) == 0);

    RouteTable empty = parse_ok(R"({"version": 0, "routes": []})");
    CHECK(empty.routes().empty());
    CHECK_FALSE(empty.match("a.test").route);
}

TEST_CASE("route table reports a number overflow as invalid JSON instead of throwing", "[route]")
{
    // Found by route_table_fuzz: the second parse (for the error position) threw out_of_range.
    CHECK(parse_error(R"({"version": 1e999, "routes": []})").rfind("invalid JSON", 0) == 0);
    CHECK(parse_error("999e9999999").rfind("invalid JSON", 0) == 0);
    CHECK(parse_error("[-1e400]").rfind("invalid JSON", 0) == 0);
}

TEST_CASE("route table needs a wildcard host for root_from_label", "[route]")
{
    CHECK(
        parse_error(table_with(R"({"host": "a.test", "type": "static", "root_from_label": true})"))
            .rfind("routes[0].root_from_label:", 0) == 0);
    RouteTable t = parse_ok(table_with(
        R"({"host": "*.pr.test", "type": "static", "root": "previews", "root_from_label": true})"));
    CHECK(t.routes()[0].root == "previews");
    CHECK(t.routes()[0].root_from_label);
}

TEST_CASE("route table validates header rules", "[route]")
{
    auto with_headers = [](const std::string &headers) {
        return table_with(R"({"host": "a.test", "type": "static", "root": "a", "headers": )" +
                          headers + "}");
    };
    RouteTable t = parse_ok(with_headers(
        R"({"/index.html": {"X-Frame-Options": "DENY", "Cache-Control": "no-store"}, "/*": {"X-A": ""}})"));
    const auto &rules = t.routes()[0].header_rules;
    REQUIRE(rules.size() == 2);
    for (const auto &rule : rules) {
        if (rule.prefix) {
            CHECK(rule.pattern == "/");
            CHECK(rule.matches("/anything/at/all"));
        } else {
            CHECK(rule.pattern == "/index.html");
            CHECK(rule.matches("/index.html"));
            CHECK_FALSE(rule.matches("/index.html5"));
            CHECK(rule.headers.size() == 2);
        }
    }
    CHECK(parse_error(with_headers(R"([])")).rfind("routes[0].headers: must be an object", 0) == 0);
    CHECK(parse_error(with_headers(R"({"assets/*": {}})")).find("must start with '/'") !=
          std::string::npos);
    CHECK(parse_error(with_headers(R"({"/a*b": {}})")).find("only allowed at the end") !=
          std::string::npos);
    CHECK(parse_error(with_headers(R"({"/a": "x"})")).find("must be an object") !=
          std::string::npos);
    CHECK(parse_error(with_headers(R"({"/a": {"Bad Name": "x"}})")).find("invalid header name") !=
          std::string::npos);
    CHECK(parse_error(with_headers(R"({"/a": {"": "x"}})")).find("invalid header name") !=
          std::string::npos);
    CHECK(parse_error(with_headers(R"({"/a": {"X-A": 1}})")).find("must be a string") !=
          std::string::npos);
    for (const char *value : {R"("a\r\nSet-Cookie: x=1")", R"("a\nb")", R"("a\u0000b")"}) {
        CAPTURE(value);
        CHECK(parse_error(with_headers(std::string(R"({"/a": {"X-A": )") + value + "}}"))
                  .find("must not contain CR, LF or NUL") != std::string::npos);
    }
}

TEST_CASE("route table validates proxy upstreams, timeouts and geo rules", "[route]")
{
    auto proxy = [](const std::string &rest) {
        return table_with(R"({"host": "api.test", "type": "proxy", )" + rest + "}");
    };
    RouteTable t =
        parse_ok(proxy(R"("upstreams": [{"addr": "[::1]:9000"}, {"addr": "backend.internal:80"}],
        "geo": {"allow_countries": ["de", "Fr"]})"));
    const auto &r = t.routes()[0];
    CHECK(r.upstreams[0].host == "::1");
    CHECK(r.upstreams[0].port == 9000);
    CHECK(r.upstreams[0].weight == 1);
    CHECK(r.upstreams[1].host == "backend.internal");
    CHECK(r.upstreams[1].port == 80);
    CHECK_FALSE(r.websocket);
    CHECK(r.timeouts.connect_ms == 2000);
    CHECK(r.allow_countries == std::vector<std::string>{"DE", "FR"});

    for (const char *addr : {"127.0.0.1", ":80", "a:0", "a:65536", "a:80x", "a:", "a:-1"}) {
        CAPTURE(addr);
        CHECK(parse_error(proxy(std::string(R"("upstreams": [{"addr": ")") + addr + "\"}]"))
                  .rfind("routes[0].upstreams[0].addr:", 0) == 0);
    }
    CHECK(parse_error(proxy(R"("upstreams": [])")).rfind("routes[0].upstreams:", 0) == 0);
    CHECK(parse_error(proxy(R"("upstreams": {})")).rfind("routes[0].upstreams:", 0) == 0);
    CHECK(parse_error(table_with(R"({"host": "api.test", "type": "proxy"})"))
              .rfind("routes[0].upstreams:", 0) == 0);
    CHECK(parse_error(proxy(R"("upstreams": ["a:1"])"))
              .rfind("routes[0].upstreams[0]: must be an object", 0) == 0);
    CHECK(parse_error(proxy(R"("upstreams": [{"addr": "a:1", "weight": 1000001}])"))
              .rfind("routes[0].upstreams[0].weight: must be at most 1000000", 0) == 0);
    CHECK(parse_error(proxy(R"("upstreams": [{"addr": "a:1", "weight": -1}])"))
              .rfind("routes[0].upstreams[0].weight:", 0) == 0);
    CHECK(parse_error(proxy(R"("upstreams": [{"addr": "a:1"}], "timeouts": {"idle_ms": 86400001})"))
              .rfind("routes[0].timeouts.idle_ms:", 0) == 0);
    CHECK(parse_error(proxy(R"("upstreams": [{"addr": "a:1"}], "timeouts": {"connect_ms": 1.5})"))
              .rfind("routes[0].timeouts.connect_ms:", 0) == 0);
    CHECK(
        parse_error(proxy(R"("upstreams": [{"addr": "a:1"}], "geo": {"deny_countries": ["DEU"]})"))
            .rfind("routes[0].geo.deny_countries:", 0) == 0);
    CHECK(parse_error(proxy(R"("upstreams": [{"addr": "a:1"}], "geo": {"deny_countries": "DE"})"))
              .rfind("routes[0].geo.deny_countries:", 0) == 0);
}

TEST_CASE("route table validates redirects", "[route]")
{
    auto redirect = [](const std::string &rest) {
        return table_with(R"({"host": "old.test", "type": "redirect", )" + rest + "}");
    };
    RouteTable t = parse_ok(redirect(R"("to": "http://new.test/path")"));
    CHECK(t.routes()[0].code == 308);
    CHECK(parse_ok(redirect(R"("to": "https://new.test", "code": 301)")).routes()[0].code == 301);
    CHECK(parse_error(redirect(R"("to": "ftp://new.test")")).rfind("routes[0].to:", 0) == 0);
    CHECK(parse_error(redirect(R"("to": "//new.test")")).rfind("routes[0].to:", 0) == 0);
    CHECK(parse_error(redirect(R"("to": "https://new.test/\r\nSet-Cookie: a")"))
              .rfind("routes[0].to:", 0) == 0);
    CHECK(parse_error(redirect(R"("to": "https://new.test/a b")")).rfind("routes[0].to:", 0) == 0);
    CHECK(parse_error(redirect(R"("to": "https://new.test", "code": 200)"))
              .rfind("routes[0].code:", 0) == 0);
    CHECK(parse_error(redirect(R"("code": 301)")).rfind("routes[0]: missing \"to\"", 0) == 0);
}

TEST_CASE("route table survives a round trip through route_table_to_json", "[route]")
{
    RouteTable t = parse_ok(kDesignTable);
    nlohmann::json once = route_table_to_json(t);
    CHECK(once["version"] == 42);
    CHECK(once["routes"].size() == 4);
    RouteTable again = parse_ok(once.dump());
    nlohmann::json twice = route_table_to_json(again);
    CHECK(once == twice);

    // The re-parsed table routes the same way.
    auto m = again.match("x.preview.example.test");
    REQUIRE(m.route);
    CHECK(m.route->root_from_label);
    CHECK(m.label == "x");
    REQUIRE(again.match("api.example.test").route);
    CHECK(again.match("api.example.test").route->upstreams[1].port == 9002);
}

TEST_CASE("route table refuses unknown keys, naming where they are", "[route]")
{
    auto proxy = [](const std::string &rest) {
        return table_with(
            R"({"host": "api.test", "type": "proxy", "upstreams": [{"addr": "a:1"}])" + rest + "}");
    };
    CHECK(parse_error(R"({"version": 1, "routes": [], "rotes": []})") ==
          "table: unknown key \"rotes\"");
    CHECK(parse_error(table_with(R"({"host": "api.test", "type": "proxy",
        "upstreams": [{"addr": "a:1", "wieght": 5}]})")) ==
          "routes[0].upstreams[0]: unknown key \"wieght\"");
    CHECK(parse_error(proxy(R"(, "timeouts": {"conect_ms": 5})")) ==
          "routes[0].timeouts: unknown key \"conect_ms\"");
    CHECK(parse_error(proxy(R"(, "helth": {})")) == "routes[0]: unknown key \"helth\"");
    CHECK(parse_error(proxy(R"(, "health": {"max_fail": 2})")) ==
          "routes[0].health: unknown key \"max_fail\"");
    CHECK(parse_error(proxy(R"(, "pool": {"maxidle": 2})")) ==
          "routes[0].pool: unknown key \"maxidle\"");
    CHECK(parse_error(proxy(R"(, "geo": {"deny": ["XX"]})")) ==
          "routes[0].geo: unknown key \"deny\"");
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "static", "root": "a",
        "sap": true})")) == "routes[0]: unknown key \"sap\"");
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "redirect",
        "to": "https://b.test", "status": 301})")) == "routes[0]: unknown key \"status\"");
    // A key of another route type is not silently ignored either.
    CHECK(parse_error(proxy(R"(, "spa": true)")) ==
          "routes[0]: \"spa\" belongs to static routes, not to a proxy route");
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "redirect", "to": "https://b.test",
        "headers": {"/*": {"X-A": "1"}}})")) ==
          "routes[0]: \"headers\" belongs to static routes, not to a redirect route");
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "static", "root": "a",
        "upstreams": []})")) ==
          "routes[0]: \"upstreams\" belongs to proxy routes, not to a static route");
}

TEST_CASE("route table refuses a key given twice in its text, naming where", "[route]")
{
    CHECK(parse_error(R"({"version": 1, "version": 2, "routes": []})") ==
          "table: duplicate key \"version\"");
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "static", "root": "a",
        "root": "../b"})")) == "routes[0]: duplicate key \"root\"");
    CHECK(parse_error(table_with(R"({"host": "b.test", "type": "static", "root": "b"},
        {"host": "a.test", "type": "proxy",
         "upstreams": [{"addr": "a:1"}, {"addr": "a:2", "weight": 1, "weight": 9}]})")) ==
          "routes[1].upstreams[1]: duplicate key \"weight\"");
    CHECK(parse_error(table_with(R"({"host": "a.test", "type": "static", "root": "a",
        "headers": {"/x": {"X-A": "1", "X-A": "2"}}})")) ==
          "routes[0].headers[\"/x\"]: duplicate key \"X-A\"");
    // Equal keys in different objects are no duplicates.
    parse_ok(table_with(R"({"host": "a.test", "type": "proxy",
        "upstreams": [{"addr": "a:1", "weight": 1}, {"addr": "a:2", "weight": 2}],
        "pool": {"max_idle": 1}, "timeouts": {"idle_ms": 5}})"));
}

TEST_CASE("route table refuses header rules that would break framing or the connection", "[route]")
{
    auto with_headers = [](const std::string &type_fields, const std::string &name) {
        return table_with(R"({"host": "a.test", )" + type_fields + R"(, "headers": {"/*": {")" +
                          name + R"(": "x"}}})");
    };
    for (const char *fields :
         {R"("type": "static", "root": "a")", R"("type": "proxy", "upstreams": [{"addr": "a:1"}])"})
        for (const char *name :
             {"Content-Length", "transfer-encoding", "Connection", "Keep-Alive", "TE", "Trailer",
              "Upgrade", "Proxy-Connection", "Proxy-Authenticate", "Content-Range", "DATE",
              "Content-Encoding"}) {
            CAPTURE(fields, name);
            std::string error = parse_error(with_headers(fields, name));
            CHECK(error.rfind(std::string("routes[0].headers[\"/*\"]: header \"") + name +
                                  "\" cannot be set by a rule (",
                              0) == 0);
        }
    // Headers the edge sets on its own answers may be replaced by a rule.
    for (const char *name : {"Content-Type", "Cache-Control", "ETag", "Last-Modified", "Location",
                             "Server", "Strict-Transport-Security", "Vary", "X-Request-Id"}) {
        CAPTURE(name);
        parse_ok(with_headers(R"("type": "static", "root": "a")", name));
    }
    CHECK(
        parse_error(table_with(R"({"host": "a.test", "type": "static", "root": "a",
        "headers": {"/*": {"Content-Type": "text/plain", "content-type": "text/evil"}}})")) ==
        "routes[0].headers[\"/*\"]: header \"content-type\" is given twice (as \"Content-Type\")");
}

TEST_CASE("overlapping header rules: the most specific pattern gives each header once", "[route]")
{
    RouteTable t = parse_ok(table_with(R"({"host": "a.test", "type": "static", "root": "a",
        "headers": {"/*": {"Cache-Control": "A", "X-Frame-Options": "DENY", "X-Root": "r"},
                    "/assets/*": {"cache-control": "B", "X-Frame-Options": "SAMEORIGIN"},
                    "/assets/app.css": {"X-Frame-Options": "EXACT"},
                    "/assets/app.*": {"X-Frame-Options": "LONGER", "X-App": "1"}}})"));
    const auto &rules = t.routes()[0].header_rules;
    auto collect = [&](std::string_view path) {
        std::vector<std::pair<std::string, std::string>> out;
        for_each_rule_header(rules, path, [&](std::string_view n, std::string_view v) {
            out.emplace_back(std::string(n), std::string(v));
        });
        std::sort(out.begin(), out.end());
        return out;
    };
    using Headers = std::vector<std::pair<std::string, std::string>>;
    CHECK(collect("/index.html") ==
          Headers{{"Cache-Control", "A"}, {"X-Frame-Options", "DENY"}, {"X-Root", "r"}});
    // Longer prefix over shorter; names compare without case (the winner's spelling is sent).
    CHECK(collect("/assets/x.js") ==
          Headers{{"X-Frame-Options", "SAMEORIGIN"}, {"X-Root", "r"}, {"cache-control", "B"}});
    CHECK(collect("/assets/app.js") == Headers{{"X-App", "1"},
                                               {"X-Frame-Options", "LONGER"},
                                               {"X-Root", "r"},
                                               {"cache-control", "B"}});
    // An exact path over every prefix, even a longer-matching one.
    CHECK(collect("/assets/app.css") == Headers{{"X-App", "1"},
                                                {"X-Frame-Options", "EXACT"},
                                                {"X-Root", "r"},
                                                {"cache-control", "B"}});
    REQUIRE(rule_header(rules, "/assets/app.css", "CACHE-CONTROL"));
    CHECK(*rule_header(rules, "/assets/app.css", "CACHE-CONTROL") == "B");
    CHECK(rule_header(rules, "/assets/app.css", "X-Nothing") == nullptr);
    CHECK(any_rule_matches(rules, "/anything"));

    // The order of the rules does not matter (a table built in code, as control does).
    std::vector<HeaderRule> reversed(rules.rbegin(), rules.rend());
    for (std::string_view path : {"/assets/app.css", "/assets/x.js", "/"})
        CHECK(*rule_header(reversed, path, "x-frame-options") ==
              *rule_header(rules, path, "x-frame-options"));
}

TEST_CASE("every key route_table_to_json writes is accepted back", "[route]")
{
    // Every field away from its default, so the serializer writes every key it knows (the
    // edge persists tables this way and answers routes.get with it; control builds its pushes
    // with it).
    Route s;
    s.host = "*.s.test";
    s.type = RouteType::kStatic;
    s.https_redirect = true;
    s.root = "site/d-1";
    s.root_from_label = true;
    s.spa = true;
    s.header_rules.push_back({"/", true, {{"X-Berth-Deployment", "d-1"}}});
    s.header_rules.push_back({"/index.html", false, {{"Cache-Control", "no-store"}}});
    s.deny_countries = {"XX"};
    Route p;
    p.host = "api.test";
    p.type = RouteType::kProxy;
    p.https_redirect = false;
    p.upstreams.push_back({"127.0.0.1:9001", "127.0.0.1", 9001, 7});
    p.websocket = true;
    p.timeouts = {11, 12, 13, 14};
    p.balance = Balance::kLeastOutstanding;
    p.retries = 3;
    p.retry_idempotent = false;
    p.host_header = "app.internal:8080";
    p.pool = {1, 2, 3, 400};
    p.health = {5, 6, 7};
    p.max_body_bytes = 99;
    p.header_rules.push_back({"/", true, {{"X-Frame-Options", "DENY"}}});
    p.allow_countries = {"DE"};
    Route r;
    r.host = "www.test";
    r.type = RouteType::kRedirect;
    r.to = "https://test";
    r.code = 301;
    r.deny_countries = {"XX"};
    r.allow_countries = {"FR"};
    nlohmann::json once = route_table_to_json(RouteTable(9, {s, p, r}));
    std::string error;
    auto again = route_table_from_json(once, error);
    INFO(error);
    REQUIRE(again);
    CHECK(route_table_to_json(*again) == once);
    const auto &proxy = once["routes"][1];
    for (const char *key : {"https_redirect", "upstreams", "websocket", "timeouts", "balance",
                            "retries", "retry_idempotent", "host_header", "max_body_bytes", "pool",
                            "health", "headers", "geo"}) {
        CAPTURE(key);
        CHECK(proxy.contains(key));
    }
    CHECK(proxy["timeouts"].contains("total_ms"));
    CHECK(parse_ok(once.dump(2)).version() == 9); // as persisted in state_dir
}
