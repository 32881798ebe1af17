// End-to-end: route header rules on static answers (a rule replaces the edge's own header of
// that name, overlapping patterns send each name once) and route tables refused whole, with
// the place named, for a framing header rule, an unknown key or a key given twice.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/e2e/edge_fixture.h"
#include "tests/support/admin_client.h"

using namespace berth::test;
using nlohmann::json;

namespace
{

const char *const kRulesTable = R"({"version": 1, "routes": [
  {"host": "rules.test", "type": "static", "root": "site", "headers": {
    "/*": {"Cache-Control": "A", "X-Frame-Options": "DENY"},
    "/assets/*": {"Cache-Control": "B", "X-Frame-Options": "SAMEORIGIN"},
    "/plain.txt": {"Content-Type": "text/evil", "ETag": "\"mine\"",
                   "Last-Modified": "Thu, 01 Jan 2026 00:00:00 GMT", "Server": "hidden",
                   "X-Content-Type-Options": "none", "Vary": "Origin"}}}]})";

// Every header of the answer appears once (names compared without case).
void check_each_once(const Response &r)
{
    for (const auto &[name, value] : r.headers) {
        CAPTURE(name, value);
        CHECK(r.count_header(name) == 1);
    }
}

} // namespace

TEST_CASE("static route header rules replace the edge's headers and send each name once",
          "[e2e][static]")
{
    TempTree t;
    for (auto [file, text] : {std::pair{"index.html", "<h1>rules</h1>\n"},
                              {"assets/app.css", "body{}\n"},
                              {"plain.txt", "0123456789"}})
        t.write(std::string("deployments/site/") + file, text);
    t.write("routes.json", kRulesTable);
    EdgeProcess edge({"--listen", "127.0.0.1:0", "--deployments", t.path("deployments"),
                      "--workers", "1", "--routes", t.path("routes.json")});

    Response css = must(get(edge.port(), "rules.test", "/assets/app.css"));
    CHECK(css.status == 200);
    check_each_once(css);
    CHECK(css.header("Cache-Control") == "B");
    CHECK(css.header("X-Frame-Options") == "SAMEORIGIN");
    CHECK(css.header("Content-Type").starts_with("text/css"));

    // Revalidated: the 304 carries the same single headers.
    Response not_modified = must(get(edge.port(), "rules.test", "/assets/app.css",
                                     "If-None-Match: " + css.header("ETag") + "\r\n"));
    CHECK(not_modified.status == 304);
    check_each_once(not_modified);
    CHECK(not_modified.header("Cache-Control") == "B");

    Response index = must(get(edge.port(), "rules.test", "/"));
    check_each_once(index);
    CHECK(index.header("Cache-Control") == "A");
    CHECK(index.header("X-Frame-Options") == "DENY");

    // A rule for a header the edge sets itself replaces the edge's value.
    Response plain = must(get(edge.port(), "rules.test", "/plain.txt"));
    CHECK(plain.status == 200);
    CHECK(plain.body == "0123456789");
    check_each_once(plain);
    CHECK(plain.header("Content-Type") == "text/evil");
    CHECK(plain.header("ETag") == "\"mine\"");
    CHECK(plain.header("Last-Modified") == "Thu, 01 Jan 2026 00:00:00 GMT");
    CHECK(plain.header("Server") == "hidden");
    CHECK(plain.header("X-Content-Type-Options") == "none");
    CHECK(plain.header("Vary") == "Origin");
    CHECK(plain.header("Cache-Control") == "A");
    CHECK(plain.header("Content-Length") == "10");

    Response range = must(get(edge.port(), "rules.test", "/plain.txt", "Range: bytes=2-4\r\n"));
    CHECK(range.status == 206);
    CHECK(range.body == "234");
    check_each_once(range);
    CHECK(range.header("Content-Type") == "text/evil");
    CHECK(range.header("Content-Range") == "bytes 2-4/10");
}

TEST_CASE("a route table with a framing header rule, an unknown or a repeated key is refused",
          "[e2e][routing]")
{
    TempTree t;
    t.write("deployments/site/index.html", "<h1>site</h1>\n");
    struct Case {
        const char *table;
        const char *error;
    };
    for (const Case &c : {
             Case{R"({"version": 1, "routes": [{"host": "a.test", "type": "static", "root": "site",
                    "headers": {"/*": {"Content-Length": "1"}}}]})",
                  R"(routes[0].headers["/*"]: header "Content-Length" cannot be set by a rule)"},
             Case{R"({"version": 1, "routes": [{"host": "a.test", "type": "proxy",
                    "upstreams": [{"addr": "127.0.0.1:9", "wieght": 5}]}]})",
                  R"(routes[0].upstreams[0]: unknown key "wieght")"},
             Case{R"({"version": 1, "routes": [{"host": "a.test", "type": "static", "root": "site",
                    "root": "../x"}]})",
                  R"(routes[0]: duplicate key "root")"},
         }) {
        CAPTURE(c.table);
        t.write("routes.json", c.table);
        auto [rc, err] =
            run_edge({"--listen", "127.0.0.1:0", "--deployments", t.path("deployments"),
                      "--workers", "1", "--routes", t.path("routes.json")});
        CHECK(rc == 1);
        CHECK(err.find(c.error) != std::string::npos);
    }

    // Pushed over the admin socket: refused, and the table in service stays.
    std::string socket = t.path("run/admin.sock");
    EdgeProcess edge({"--listen", "127.0.0.1:0", "--deployments", t.path("deployments"),
                      "--workers", "1", "--admin-socket", socket});
    AdminConn admin(socket);
    json good = admin.call(R"({"cmd":"routes.put","table":{"version":5,"routes":[)"
                           R"({"host":"a.test","type":"static","root":"site"}]}})");
    REQUIRE(good["ok"] == true);
    for (const Case &c : {
             Case{R"({"cmd":"routes.put","table":{"version":6,"routes":[{"host":"a.test",
                    "type":"proxy","upstreams":[{"addr":"127.0.0.1:9"}],
                    "timeouts":{"conect_ms":5}}]}})",
                  R"(routes[0].timeouts: unknown key "conect_ms")"},
             Case{R"({"cmd":"routes.put","table":{"version":6,"routes":[{"host":"a.test",
                    "type":"static","root":"site","headers":{"/*":{"Transfer-Encoding":"x"}}}]}})",
                  R"(routes[0].headers["/*"]: header "Transfer-Encoding" cannot be set)"},
             Case{R"({"cmd":"routes.put","table":{"version":6,"routes":[],"extra":1}})",
                  R"(table: unknown key "extra")"},
         }) {
        CAPTURE(c.table);
        json reply = admin.call(json::parse(c.table).dump()); // one line
        CHECK(reply["ok"] == false);
        CHECK(reply.value("error", "").find(c.error) != std::string::npos);
    }
    // A key given twice, sent as it is (the admin line parser alone would keep the last).
    json dup = admin.call(R"({"cmd":"routes.put","table":{"version":6,"routes":[{"host":)"
                          R"("a.test","type":"static","root":"site","root":"../x"}]}})");
    CHECK(dup["ok"] == false);
    CHECK(dup.value("error", "").find(R"(duplicate key "root")") != std::string::npos);
    json now = admin.call(R"({"cmd":"routes.get"})");
    CHECK(now["version"] == 5);
    CHECK(must(get(edge.port(), "a.test", "/")).body == "<h1>site</h1>\n");
}
