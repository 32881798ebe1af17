// End-to-end tests of the API's list shapes with the real berth-control binary: pagination
// links that keep the request's filters (absolute, as DRF writes them), the build log's
// has_more/next cursor and ?tail=, paginated env vars and domains, HEAD wherever GET is
// allowed, one timestamp format, and 503 bodies without connection details.
#include <catch2/catch.hpp>

#include <regex>

#include <pqxx/pqxx>

#include "tests/control/support/control_env.h"
#include "tests/control/support/pipeline_support.h"

using namespace berth::test;
using nlohmann::json;

namespace
{

// The API alone (no pipeline workers): deployments stay where the API put them.
constexpr ControlOptions kApiOnly{.workers = 0};

// GET /api/v1/<path> with this Host header (the links are built from it).
Response get_as_host(int port, const std::string &host, const std::string &path,
                     const std::string &token)
{
    return must(get(port, host, "/api/v1/" + path, "Authorization: Token " + token + "\r\n"));
}

// The part of an absolute link after the authority: what to request to follow it.
std::string path_of(const std::string &url)
{
    const std::string scheme = "http://";
    REQUIRE(url.rfind(scheme, 0) == 0);
    size_t slash = url.find('/', scheme.size());
    REQUIRE(slash != std::string::npos);
    return url.substr(slash);
}

// A queued deployment of the service, then cancelled so the next trigger is allowed.
std::string cancelled_deployment(HttpClient &c, const std::string &token, const std::string &sid)
{
    std::string id = trigger_deployment(c, token, sid);
    REQUIRE(c.call("POST", "deployments/" + id + "/cancel/", token).status == 200);
    return id;
}

// Alice's project, service and one cancelled deployment on a running control plane; bob's token.
struct OneDeployment {
    ControlEnv env{kApiOnly};
    std::unique_ptr<HttpClient> c;
    std::string token, bob, sid, did;
    OneDeployment()
    {
        env.start_server();
        c = env.client();
        token = env.create_token("alice");
        bob = env.create_token("bob");
        sid = create_service(*c, token, create_project(*c, token, "p")["id"], "s")["id"];
        did = cancelled_deployment(*c, token, sid);
    }
    // n build log lines "line 1" .. "line n", written as the pipeline would.
    void add_log_lines(int n)
    {
        pqxx::connection db(env.pg.url());
        pqxx::work w(db);
        w.exec_params("INSERT INTO build_logs(deployment_id, line) SELECT $1, 'line ' || g"
                      " FROM generate_series(1, $2) g",
                      did, n);
        w.commit();
    }
};

bool api_timestamp(const json &v)
{
    static const std::regex re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00)");
    return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

} // namespace

TEST_CASE("pagination links keep every filter of the request and are absolute URLs",
          "[control][api][pagination]")
{
    ControlEnv env(kApiOnly);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), admin = env.create_token("root", true);
    std::string p1 = create_project(*c, token, "p1")["id"];
    std::string p2 = create_project(*c, token, "p2")["id"];
    std::string sa = create_service(*c, token, p1, "a")["id"];
    std::string sb = create_service(*c, token, p1, "b")["id"];
    create_service(*c, token, p2, "c");
    std::vector<std::string> a_ids;
    for (int i = 0; i < 3; ++i)
        a_ids.push_back(cancelled_deployment(*c, token, sa));
    cancelled_deployment(*c, token, sb);
    cancelled_deployment(*c, token, sb);

    // The audit's example: the filter survives into next, parameters sorted as DRF sorts them.
    const std::string host = "127.0.0.1:8700";
    auto r = get_as_host(env.port(), host, "deployments/?service_id=" + sa + "&page_size=1", token);
    REQUIRE(r.status == 200);
    json page = r.json();
    CHECK(page["count"] == 3);
    CHECK(page["previous"].is_null());
    CHECK(page["next"] ==
          "http://127.0.0.1:8700/api/v1/deployments/?page=2&page_size=1&service_id=" + sa);

    // Following next to the end visits the service's deployments only, each once.
    std::vector<std::string> seen = {page["results"][0]["id"]};
    json last = page;
    for (int hops = 0; !last["next"].is_null() && hops < 5; ++hops) {
        auto next = must(
            get(env.port(), host, path_of(last["next"]), "Authorization: Token " + token + "\r\n"));
        REQUIRE(next.status == 200);
        last = next.json();
        CHECK(last["count"] == 3);
        for (const auto &row : last["results"]) {
            CHECK(row["service_id"] == sa);
            seen.push_back(row["id"]);
        }
    }
    std::sort(seen.begin(), seen.end());
    std::sort(a_ids.begin(), a_ids.end());
    CHECK(seen == a_ids);
    CHECK(last["page"] == 3);
    // As DRF: the link to page 1 has no page parameter; page 2 → page 3's previous.
    CHECK(last["previous"] ==
          "http://127.0.0.1:8700/api/v1/deployments/?page=2&page_size=1&service_id=" + sa);
    r = get_as_host(env.port(), host, "deployments/?page=2&service_id=" + sa + "&page_size=1",
                    token);
    CHECK(r.json()["previous"] ==
          "http://127.0.0.1:8700/api/v1/deployments/?page_size=1&service_id=" + sa);

    // services/?project_id= and system/audit/?target_id= keep theirs too; a parameter the
    // endpoint does not know is kept as well, re-encoded.
    r = get_as_host(env.port(), "control.example.test",
                    "services/?project_id=" + p1 + "&page_size=1&note=a%20b%2Fc", token);
    REQUIRE(r.status == 200);
    CHECK(r.json()["count"] == 2);
    CHECK(r.json()["next"] == "http://control.example.test/api/v1/services/?note=a+b%2Fc&page=2"
                              "&page_size=1&project_id=" +
                                  p1);
    auto second = must(get(env.port(), "control.example.test", path_of(r.json()["next"]),
                           "Authorization: Token " + token + "\r\n"));
    CHECK(second.json()["count"] == 2);
    CHECK(second.json()["results"][0]["project_id"] == p1);
    CHECK(second.json()["next"].is_null());

    r = get_as_host(env.port(), host, "system/audit/?target_id=" + a_ids[0] + "&page_size=1",
                    admin);
    REQUIRE(r.status == 200);
    CHECK(r.json()["count"] == 2); // trigger and cancel
    CHECK(r.json()["next"] == "http://127.0.0.1:8700/api/v1/system/audit/?page=2&page_size=1"
                              "&target_id=" +
                                  a_ids[0]);
    auto older = must(
        get(env.port(), host, path_of(r.json()["next"]), "Authorization: Token " + admin + "\r\n"));
    CHECK(older.json()["count"] == 2);
    CHECK(older.json()["results"][0]["target_id"] == a_ids[0]);

    // Without page_size the link has none either (the default applies again).
    for (int i = 0; i < 20; ++i)
        create_project(*c, token, "bulk" + std::to_string(i));
    r = get_as_host(env.port(), host, "projects/", token);
    CHECK(r.json()["next"] == "http://127.0.0.1:8700/api/v1/projects/?page=2");
    // A request without a Host header gets a link relative to the server.
    auto bare = must(request(env.port(), "GET /api/v1/projects/?page=2 HTTP/1.0\r\n"
                                         "Authorization: Token " +
                                             token + "\r\n\r\n"));
    CHECK(bare.json()["previous"] == "/api/v1/projects/");
    env.stop_server();
}

TEST_CASE("build-logs without follow: has_more and a next cursor, ?tail=N for the last lines",
          "[control][api][logs]")
{
    OneDeployment d;
    auto &[env, c, token, bob, sid, did] = d;
    constexpr int kLines = 2500; // one answer holds at most 10 * page_size_max (1000)
    d.add_log_lines(kLines);
    const std::string logs = "deployments/" + did + "/build-logs/";

    // Page by page through next: every line once, in order; the old fields as they were.
    std::vector<std::string> got;
    auto r = c->call("GET", logs, token);
    REQUIRE(r.status == 200);
    json body = r.json();
    CHECK(body["deployment_id"] == did);
    CHECK(body["status"] == "CANCELLED");
    CHECK(body["lines"].size() == 1000);
    CHECK(body["count"] == kLines);
    CHECK(body["has_more"] == true);
    CHECK(body["last_id"] == body["lines"][999]["id"]);
    CHECK(body["next"] ==
          "http://127.0.0.1/api/v1/" + logs + "?after=" + body["lines"][999]["id"].dump());
    for (int hops = 0;; ++hops) {
        for (const auto &l : body["lines"])
            got.push_back(l["line"]);
        if (body["next"].is_null() || hops > 5) break;
        r = c->request("GET", path_of(body["next"]), "", {{"Authorization", "Token " + token}});
        REQUIRE(r.status == 200);
        body = r.json();
    }
    CHECK(body["has_more"] == false);
    CHECK(body["lines"].size() == 500);
    REQUIRE(got.size() == size_t(kLines));
    for (int i = 0; i < kLines; ++i)
        CHECK(got[size_t(i)] == "line " + std::to_string(i + 1));
    // Nothing after the last line: no lines, the cursor stays where it was.
    r = c->call("GET", logs + "?after=" + body["last_id"].dump(), token);
    CHECK(r.json()["lines"].empty());
    CHECK(r.json()["has_more"] == false);
    CHECK(r.json()["next"].is_null());
    CHECK(r.json()["last_id"] == body["last_id"]);

    // ?tail=N: the last N lines, oldest first; more than one answer holds is capped.
    r = c->call("GET", logs + "?tail=3", token);
    REQUIRE(r.status == 200);
    json tail = r.json();
    REQUIRE(tail["lines"].size() == 3);
    CHECK(tail["lines"][0]["line"] == "line 2498");
    CHECK(tail["lines"][2]["line"] == "line 2500");
    CHECK(tail["has_more"] == false);
    CHECK(tail["next"].is_null());
    CHECK(tail["count"] == kLines);
    CHECK(c->call("GET", logs + "?tail=5000", token).json()["lines"].size() == 1000);
    CHECK(c->call("GET", logs + "?tail=0", token).status == 400);
    r = c->call("GET", logs + "?tail=-1", token);
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "invalid_query");
    CHECK(c->call("GET", logs + "?tail=3", bob).status == 404);

    // tail with follow: the last lines, then the end of the (terminal) deployment.
    LogFollower f(env.port(), token, did, "follow=1&tail=2");
    REQUIRE(f.pump_until([&] { return f.ended(); }));
    auto lines = f.lines();
    REQUIRE(lines.size() == 3);
    CHECK(lines[0]["line"] == "line 2499");
    CHECK(lines[1]["line"] == "line 2500");
    CHECK(lines[2]["end"] == true);
    env.stop_server();
}

TEST_CASE("env-vars and domains lists paginate like the others", "[control][api][pagination]")
{
    ControlEnv env(kApiOnly);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "s")["id"];
    for (const char *k : {"ALPHA", "BRAVO", "CHARLIE"})
        REQUIRE(
            c->call("POST", "services/" + sid + "/env-vars/", token, {{"key", k}, {"value", "v"}})
                .status == 201);
    for (const char *h : {"a.example.test", "b.example.test", "c.example.test"})
        REQUIRE(c->call("POST", "services/" + sid + "/domains/", token, {{"hostname", h}}).status ==
                201);

    for (const std::string &what : {std::string("env-vars"), std::string("domains")}) {
        INFO(what);
        const std::string base = "services/" + sid + "/" + what + "/";
        auto r = c->call("GET", base + "?page_size=2", token);
        REQUIRE(r.status == 200);
        json page = r.json();
        CHECK(page["count"] == 3);
        CHECK(page["page"] == 1);
        CHECK(page["page_size"] == 2);
        CHECK(page["results"].size() == 2);
        CHECK(page["previous"].is_null());
        CHECK(page["next"] == "http://127.0.0.1/api/v1/" + base + "?page=2&page_size=2");
        r = c->request("GET", path_of(page["next"]), "", {{"Authorization", "Token " + token}});
        REQUIRE(r.status == 200);
        CHECK(r.json()["results"].size() == 1);
        CHECK(r.json()["next"].is_null());
        CHECK(r.json()["previous"] == "http://127.0.0.1/api/v1/" + base + "?page_size=2");
        CHECK(c->call("GET", base + "?page_size=0", token).status == 400);
        CHECK(c->call("GET", base, token).json()["results"].size() == 3); // default 20
    }
    auto r = c->call("GET", "services/" + sid + "/env-vars/?page_size=1&page=3", token);
    CHECK(r.json()["results"][0]["key"] == "CHARLIE");
    r = c->call("GET", "services/" + sid + "/domains/?page_size=1&page=2", token);
    CHECK(r.json()["results"][0]["hostname"] == "b.example.test");
    env.stop_server();
}

TEST_CASE("HEAD is answered wherever GET is: same status and headers, no body",
          "[control][api][head]")
{
    OneDeployment d;
    auto &[env, c, token, bob, sid, did] = d;
    const std::string auth = "Authorization: Token " + token + "\r\n";

    for (const std::string &path : std::vector<std::string>{
             "projects/", "services/" + sid + "/", "services/" + sid + "/env-vars/",
             "services/" + sid + "/domains/", "deployments/?service_id=" + sid,
             "deployments/" + did + "/", "deployments/" + did + "/build-logs/"}) {
        INFO(path);
        // HEAD then GET on one keep-alive connection: a stray body would break the GET.
        RawClient conn(env.port());
        conn.send("HEAD /api/v1/" + path + " HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n");
        auto head = conn.read_response(true);
        REQUIRE(head);
        conn.send("GET /api/v1/" + path + " HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n");
        auto got = conn.read_response();
        REQUIRE(got);
        CHECK(head->status == 200);
        CHECK(got->status == 200);
        CHECK(head->header("Content-Type") == got->header("Content-Type"));
        CHECK(head->header("Content-Length") == std::to_string(got->body.size()));
        CHECK(head->body.empty());
        CHECK(got->json().is_object());
    }
    // Errors are the GET's too.
    auto r = must(request(env.port(), "HEAD /api/v1/projects/ HTTP/1.1\r\nHost: h\r\n\r\n", true));
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == "Token");
    r = must(request(env.port(),
                     "HEAD /api/v1/deployments/" + did + "/ HTTP/1.1\r\nHost: h\r\n" +
                         "Authorization: Token " + bob + "\r\n\r\n",
                     true));
    CHECK(r.status == 404);
    // A POST-only endpoint refuses HEAD; Allow lists HEAD next to GET everywhere.
    r = must(request(env.port(),
                     "HEAD /api/v1/system/route-recheck/ HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n",
                     true));
    CHECK(r.status == 405);
    CHECK(r.header("Allow") == "POST");
    CHECK(c->call("PUT", "projects/", token).header("Allow") == "GET, HEAD, POST");
    CHECK(c->call("PUT", "services/" + sid + "/env-vars/X/", token).header("Allow") ==
          "GET, HEAD, PATCH, DELETE");
    CHECK(c->call("POST", "system/edges/", token).header("Allow") == "GET, HEAD");

    // A streaming GET: its head (chunked NDJSON), no producer, the connection closes.
    RawClient stream(env.port());
    stream.send("HEAD /api/v1/deployments/" + did +
                "/build-logs/?follow=1 HTTP/1.1\r\nHost: h\r\n" + auth + "\r\n");
    auto sh = stream.read_response(true);
    REQUIRE(sh);
    CHECK(sh->status == 200);
    CHECK(sh->header("Content-Type") == "application/x-ndjson");
    CHECK(sh->header("Transfer-Encoding") == "chunked");
    CHECK(stream.wait_closed());
    CHECK(stream.pending().empty());
    env.stop_server();
}

TEST_CASE("every timestamp the API writes has one format", "[control][api][timestamps]")
{
    OneDeployment d;
    auto &[env, c, token, bob, sid, did] = d;
    std::string admin = env.create_token("root", true);
    d.add_log_lines(1);
    json project = c->call("GET", "projects/", token).json()["results"][0];
    json svc = c->call("GET", "services/" + sid + "/", token).json();
    auto r =
        c->call("POST", "services/" + sid + "/env-vars/", token, {{"key", "K"}, {"value", "v"}});
    REQUIRE(r.status == 201);
    json env_var = r.json();
    r = c->call("POST", "services/" + sid + "/domains/", token, {{"hostname", "t.example.test"}});
    REQUIRE(r.status == 201);
    json domain = r.json();
    REQUIRE(c->call("POST", "system/route-recheck/", admin).status == 200);

    CHECK(api_timestamp(project["created_at"]));
    CHECK(api_timestamp(project["updated_at"]));
    CHECK(api_timestamp(svc["created_at"]));
    CHECK(api_timestamp(env_var["created_at"]));
    CHECK(api_timestamp(env_var["updated_at"]));
    json listed = c->call("GET", "services/" + sid + "/env-vars/", token).json()["results"][0];
    CHECK(api_timestamp(listed["created_at"]));
    CHECK(api_timestamp(listed["updated_at"]));
    CHECK(api_timestamp(
        c->call("GET", "services/" + sid + "/env-vars/K/", token).json()["updated_at"]));
    CHECK(api_timestamp(domain["created_at"]));
    json dep = c->call("GET", "deployments/" + did + "/", token).json();
    CHECK(api_timestamp(dep["created_at"]));
    CHECK(api_timestamp(dep["updated_at"]));
    CHECK(api_timestamp(dep["status_history"][0]["at"]));
    json line = c->call("GET", "deployments/" + did + "/build-logs/", token).json()["lines"][0];
    CHECK(api_timestamp(line["at"]));
    json audit = c->call("GET", "system/audit/?page_size=1", admin).json()["results"][0];
    CHECK(api_timestamp(audit["created_at"]));
    json edges = c->call("GET", "system/edges/", admin).json();
    REQUIRE(edges["expected"].is_object()); // route-recheck above wrote the expected table
    CHECK(api_timestamp(edges["expected"]["updated_at"]));
    // The audit chain still verifies with rows in the new format.
    auto v = env.run({"audit", "verify"});
    CHECK(v.exit_code == 0);
    env.stop_server();
}

TEST_CASE("503 database_unavailable gives the client no connection details, the log has them",
          "[control][api][resilience]")
{
    ControlEnv env(kApiOnly);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    REQUIRE(c->call("GET", "projects/", token).status == 200);
    env.pg.stop();
    auto r = c->call("GET", "projects/", token);
    CHECK(r.status == 503);
    CHECK(r.json()["code"] == "database_unavailable");
    CHECK(r.json()["error"] == "the database is unavailable; retry later");
    const std::string port = std::to_string(env.pg.port());
    CHECK(r.body.find(port) == std::string::npos);
    CHECK(r.body.find("127.0.0.1") == std::string::npos);
    CHECK(r.body.find("connect") == std::string::npos);
    CHECK(wait_until([&] {
        std::string log = env.server_log();
        return log.find("database_unavailable") != std::string::npos &&
               log.find(port) != std::string::npos;
    }));
    env.pg.start();
    CHECK(c->call("GET", "projects/", token).status == 200);
    env.stop_server();
}
