// End-to-end API tests: the real berth-control binary, real PostgreSQL and Redis, raw HTTP
// over loopback (#3). Each case owns its instances, so cases are independent.
#include <catch2/catch.hpp>

#include <fstream>

#include <pqxx/pqxx>

#include "control/base/crypto.h"
#include "tests/control/support/control_env.h"

using namespace berth::test;
using nlohmann::json;

namespace
{

// The worker threads are off in API tests so deployments stay where the API put them.
ControlOptions api_only()
{
    ControlOptions o;
    o.workers = 0;
    return o;
}

std::string signed_github(const std::string &body, const std::string &secret = "gh-secret")
{
    return "sha256=" + berth::control::hmac_sha256_hex(secret, body);
}

// A running API (no pipeline) with user alice, her token and one project of hers.
struct ApiAlice {
    ControlEnv env{api_only()};
    std::unique_ptr<HttpClient> c;
    std::string token, project;
    ApiAlice()
    {
        env.start_server();
        c = env.client();
        token = env.create_token("alice");
        project = create_project(*c, token, "p")["id"];
    }
};

} // namespace

TEST_CASE("API requires a token: 401 without or with a bad one, JSON errors with a code",
          "[control][api]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    auto r = c->call("GET", "projects/", "");
    CHECK(r.status == 401);
    CHECK(r.json()["code"] == "not_authenticated");
    CHECK(r.header("www-authenticate") == "Token");
    r = c->call("GET", "projects/", "brt_wrong");
    CHECK(r.status == 401);
    CHECK(r.json()["code"] == "invalid_token");
    r = c->request("GET", "/api/v1/projects/", "", {{"Authorization", "Bearer x"}});
    CHECK(r.status == 401);
    std::string token = env.create_token("alice");
    r = c->call("GET", "nothing/here/", token);
    CHECK(r.status == 404);
    CHECK(r.json()["code"] == "not_found");
    r = c->call("PUT", "projects/", token);
    CHECK(r.status == 405);
    CHECK(r.json()["code"] == "method_not_allowed");
    CHECK(r.header("allow") == "GET, HEAD, POST");
    r = c->request("POST", "/api/v1/projects/", "{nope", {{"Authorization", "Token " + token}});
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "invalid_json");
    // Malformed HTTP is refused by the shared parser with a JSON body and a close.
    auto bad = env.client();
    r = bad->raw("GET /api/v1/projects/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(r.header("connection") == "close");
    env.stop_server();
}

TEST_CASE("berth-control CLI: config errors exit 2 with file:line, migrate re-runs as a no-op",
          "[control][cli]")
{
    ControlEnv env(api_only());
    auto again = env.run({"migrate"});
    CHECK(again.exit_code == 0);
    CHECK(again.out == "up to date\n");
    auto token = env.run({"token", "create", "--user", "carol"});
    CHECK(token.exit_code == 0);
    std::string last = token.out.substr(token.out.rfind('\n', token.out.size() - 2) + 1);
    CHECK(last.rfind("brt_", 0) == 0);
    CHECK(env.run({"token", "create"}).exit_code == 2); // usage
    CommandResult long_name = env.run({"token", "create", "--user", std::string(101, 'x')});
    CHECK(long_name.exit_code == 2);
    CHECK(long_name.err.find("--user must be 1 to 100 characters") != std::string::npos);
    env.start_server();
    auto c = env.client();
    CHECK(c->call("GET", "projects/", last.substr(0, last.size() - 1)).status == 200);
    auto revoke = env.run({"token", "revoke", "--user", "carol"});
    CHECK(revoke.exit_code == 0);
    CHECK(revoke.out == "revoked 1 token(s) of carol\n");
    CHECK(c->call("GET", "projects/", last.substr(0, last.size() - 1)).status == 401);
    env.stop_server();
    {
        std::ofstream bad(env.config_path, std::ios::app);
        bad << "[bogus]\nx = 1\n";
    }
    auto r = env.run({"migrate"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(env.config_path + ":") == 0);
    CHECK(r.err.find("unknown key \"bogus\" in [top level]") != std::string::npos);
}

TEST_CASE("keep-alive serves many requests on one connection and closes idle ones",
          "[control][api]")
{
    ControlOptions o = api_only();
    o.idle_timeout_ms = 300;
    ControlEnv env(o);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    // Pipelined: two requests in one write, answered in order.
    std::string get =
        "GET /api/v1/projects/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + token + "\r\n\r\n";
    auto first =
        c->raw(get + "POST /api/v1/projects/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + token +
               "\r\nContent-Length: 14\r\n\r\n{\"name\":\"one\"}");
    CHECK(first.status == 200);
    auto second = c->raw("");
    CHECK(second.status == 201);
    for (int i = 0; i < 20; ++i)
        CHECK(c->call("GET", "projects/", token).status == 200);
    std::string auth = "Host: x\r\nAuthorization: Token " + token + "\r\n";
    // Expect: 100-continue gets an interim response before the body is sent.
    auto cont = c->raw("POST /api/v1/projects/ HTTP/1.1\r\n" + auth +
                       "Expect: 100-continue\r\nContent-Length: 14\r\n\r\n");
    CHECK(cont.status == 100);
    CHECK(c->raw("{\"name\":\"two\"}").status == 201);
    // A chunked body is collected by the shared parser.
    auto chunked =
        c->raw("POST /api/v1/projects/ HTTP/1.1\r\n" + auth +
               "Transfer-Encoding: chunked\r\n\r\n7\r\n{\"name\"\r\n7\r\n:\"thr\"}\r\n0\r\n\r\n");
    CHECK(chunked.status == 201);
    CHECK(c->call("GET", "projects/", token).json()["count"] == 3);
    // Over max_body_bytes: 413 before the body is read, and the connection closes.
    auto big = env.client()->raw("POST /api/v1/projects/ HTTP/1.1\r\n" + auth +
                                 "Content-Length: 5000000\r\n\r\n");
    CHECK(big.status == 413);
    CHECK(big.json()["code"] == "body_too_large");
    CHECK(big.header("connection") == "close");
    auto idle = env.client();
    CHECK(idle->wait_closed(5000)); // closed by the server after ~300 ms of silence
    env.stop_server();
}

TEST_CASE("projects and services: CRUD, pagination, and a user sees only their own",
          "[control][api]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string alice = env.create_token("alice"), bob = env.create_token("bob");

    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i)
        ids.push_back(create_project(*c, alice, "p" + std::to_string(i))["id"]);
    auto r = c->call("POST", "projects/", alice, {{"name", "p0"}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "project_exists");
    r = c->call("POST", "projects/", alice, {{"name", ""}});
    CHECK(r.status == 400);
    CHECK(r.json()["field"] == "name");

    r = c->call("GET", "projects/?page=2&page_size=2", alice);
    REQUIRE(r.status == 200);
    json page = r.json();
    CHECK(page["count"] == 5);
    CHECK(page["results"].size() == 2);
    CHECK(page["results"][0]["name"] == "p2");
    CHECK(page["next"] == "http://127.0.0.1/api/v1/projects/?page=3&page_size=2");
    CHECK(page["previous"] == "http://127.0.0.1/api/v1/projects/?page_size=2");
    CHECK(c->call("GET", "projects/?page=0", alice).status == 400);
    CHECK(c->call("GET", "projects/", bob).json()["count"] == 0);

    r = c->call("GET", "projects/" + ids[0] + "/", alice);
    CHECK(r.status == 200);
    CHECK(r.json()["name"] == "p0");
    // Another user's project is 404, not 403: its existence is not confirmed.
    CHECK(c->call("GET", "projects/" + ids[0] + "/", bob).status == 404);
    CHECK(c->call("GET", "projects/not-a-uuid/", alice).status == 404);
    r = c->call("PATCH", "projects/" + ids[0] + "/", alice, {{"name", "renamed"}});
    CHECK(r.status == 200);
    CHECK(r.json()["name"] == "renamed");
    CHECK(c->call("PATCH", "projects/" + ids[1] + "/", alice, {{"name", "renamed"}}).status == 409);

    json svc = create_service(*c, alice, ids[0], "web", {{"require_approval", true}});
    CHECK(svc["name"] == "web");
    CHECK(svc["buildpack"] == "STATIC");
    CHECK(svc["health_check_path"] == "/health");
    CHECK(svc["require_approval"] == true);
    CHECK(svc["health_webhook_token"].get<std::string>().rfind("hwt_", 0) == 0);
    CHECK_FALSE(svc.contains("health_webhook_token_hash"));
    std::string sid = svc["id"];
    r = c->call("POST", "services/", alice, {{"project_id", ids[0]}, {"name", "web"}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "service_name_taken");
    // #15: Berth's own words only, never PostgreSQL's (it named the index and the value).
    CHECK_FALSE(r.json().contains("detail"));
    CHECK(r.body.find("duplicate key") == std::string::npos);
    CHECK(r.body.find("services_name_key") == std::string::npos);
    r = c->call("POST", "services/", bob, {{"project_id", ids[0]}, {"name", "bobs"}});
    CHECK(r.status == 404); // not bob's project
    r = c->call("POST", "services/", alice,
                {{"project_id", ids[0]}, {"name", "x"}, {"strategy", "YOLO"}});
    CHECK(r.status == 400);
    CHECK(r.json()["field"] == "strategy");
    create_service(*c, alice, ids[1], "api");

    r = c->call("GET", "services/?project_id=" + ids[0], alice);
    CHECK(r.json()["count"] == 1);
    CHECK(c->call("GET", "services/", alice).json()["count"] == 2);
    CHECK(c->call("GET", "services/", bob).json()["count"] == 0);
    CHECK(c->call("GET", "services/" + sid + "/", bob).status == 404);
    r = c->call("GET", "services/" + sid + "/", alice);
    CHECK(r.status == 200);
    CHECK_FALSE(r.json().contains("health_webhook_token"));
    r = c->call("PATCH", "services/" + sid + "/", alice,
                {{"min_replicas", 3}, {"strategy", "CANARY"}});
    CHECK(r.status == 200);
    CHECK(r.json()["min_replicas"] == 3);
    CHECK(r.json()["strategy"] == "CANARY");
    r = c->call("PATCH", "services/" + sid + "/", alice, {{"branch", "dev"}});
    CHECK(r.json()["branch"] == "dev");
    CHECK(c->call("PATCH", "services/" + sid + "/", alice, {{"project_id", ids[1]}}).status == 400);
    CHECK(c->call("DELETE", "services/" + sid + "/", bob).status == 404);
    r = c->call("DELETE", "services/" + sid + "/", alice);
    CHECK(r.status == 204);
    CHECK(r.body.empty());
    CHECK(c->call("GET", "services/" + sid + "/", alice).status == 404);
    CHECK(c->call("DELETE", "projects/" + ids[4] + "/", alice).status == 204);
    CHECK(c->call("GET", "projects/", alice).json()["count"] == 4);
    env.stop_server();
}

TEST_CASE("deployment endpoints: trigger, 409 while in flight, get, list, logs, cancel, approve, "
          "rollback",
          "[control][api]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string alice = env.create_token("alice"), bob = env.create_token("bob");
    std::string pid = create_project(*c, alice, "p")["id"];
    std::string sid = create_service(*c, alice, pid, "site")["id"];

    auto r = c->call("POST", "deployments/trigger/", alice,
                     {{"service_id", sid}, {"commit_hash", "abc1234"}});
    REQUIRE(r.status == 201);
    json dep = r.json();
    CHECK(dep["status"] == "QUEUED");
    CHECK(dep["commit_hash"] == "abc1234");
    CHECK(dep["branch"] == "main");
    CHECK(dep["is_rollback"] == false);
    std::string did = dep["id"];

    r = c->call("POST", "deployments/trigger/", alice, {{"service_id", sid}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "deployment_in_progress");
    CHECK(r.json()["existing_deployment"]["id"] == did);
    CHECK(c->call("POST", "deployments/trigger/", bob, {{"service_id", sid}}).status == 404);
    CHECK(c->call("POST", "deployments/trigger/", alice, json::object()).status == 400);

    r = c->call("GET", "deployments/" + did + "/", alice);
    CHECK(r.status == 200);
    CHECK(r.json()["id"] == did);
    CHECK(c->call("GET", "deployments/" + did + "/", bob).status == 404);
    r = c->call("GET", "deployments/?service_id=" + sid, alice);
    CHECK(r.json()["count"] == 1);
    r = c->call("GET", "deployments/" + did + "/build-logs/", alice);
    CHECK(r.status == 200);
    CHECK(r.json()["lines"].is_array());

    r = c->call("POST", "deployments/" + did + "/approve/", alice);
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "not_awaiting_approval");
    r = c->call("POST", "deployments/" + did + "/rollback/", alice, json::object());
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "confirmation_required");
    r = c->call("POST", "deployments/" + did + "/rollback/", alice, {{"confirm", "true"}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "not_rollbackable");
    r = c->call("POST", "services/" + sid + "/instant-rollback/", alice,
                {{"message", "5xx spike"}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "no_previous_deployment");

    CHECK(c->call("POST", "deployments/" + did + "/cancel/", bob).status == 404);
    r = c->call("POST", "deployments/" + did + "/cancel/", alice);
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "CANCELLED");
    r = c->call("POST", "deployments/" + did + "/cancel/", alice);
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "cannot_cancel");
    CHECK(r.json()["error"].get<std::string>().find("CANCELLED") != std::string::npos);

    // Once terminal, a new trigger is allowed.
    CHECK(c->call("POST", "deployments/trigger/", alice, {{"service_id", sid}}).status == 201);
    // Services that cannot be built here are refused clearly.
    std::string docker = create_service(*c, alice, pid, "img", {{"deploy_type", "DOCKER"}})["id"];
    r = c->call("POST", "deployments/trigger/", alice, {{"service_id", docker}});
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "not_deployable");
    // Every state change above is in the audit chain (admins can read it), and it verifies.
    CHECK(c->call("GET", "system/audit/", alice).status == 403);
    std::string root = env.create_token("root", true);
    r = c->call("GET", "system/audit/?target_id=" + did, root);
    REQUIRE(r.status == 200);
    json audit = r.json(); // keep it alive: the loop below iterates into it
    std::vector<std::string> actions;
    for (const auto &row : audit["results"])
        actions.push_back(row["action"]);
    CHECK(actions == std::vector<std::string>{"DEPLOYMENT_CANCEL", "DEPLOYMENT_TRIGGER"});
    CHECK(r.json()["results"][0]["prev_hash"].get<std::string>().size() == 64);
    auto v = env.run({"audit", "verify"});
    CHECK(v.exit_code == 0);
    CHECK(v.out.find("audit log OK") != std::string::npos);
    env.stop_server();
}

TEST_CASE("20 concurrent triggers for one service: exactly one 201 and nineteen 409",
          "[control][api]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "race")["id"];
    auto responses = concurrently(env.port(), 20, [&](HttpClient &mine) {
        return mine.call("POST", "deployments/trigger/", token, {{"service_id", sid}});
    });
    int created = 0, conflict = 0, other = 0;
    for (const auto &r : responses) {
        if (r.status == 201)
            ++created;
        else if (r.status == 409 && r.json().contains("existing_deployment"))
            ++conflict;
        else
            ++other;
    }
    CHECK(created == 1);
    CHECK(conflict == 19);
    CHECK(other == 0);
    CHECK(c->call("GET", "deployments/?service_id=" + sid, token).json()["count"] == 1);
    env.stop_server();
}

TEST_CASE("trigger throttle answers 429 with Retry-After", "[control][api]")
{
    ControlOptions o = api_only();
    o.trigger_per_minute = 3;
    o.trigger_per_hour = 10;
    ControlEnv env(o);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), other = env.create_token("bob");
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "busy")["id"];
    for (int i = 0; i < 3; ++i) {
        auto r = c->call("POST", "deployments/trigger/", token, {{"service_id", sid}});
        REQUIRE(r.status == 201);
        REQUIRE(
            c->call("POST", "deployments/" + r.json()["id"].get<std::string>() + "/cancel/", token)
                .status == 200);
    }
    auto r = c->call("POST", "deployments/trigger/", token, {{"service_id", sid}});
    CHECK(r.status == 429);
    CHECK(r.json()["code"] == "throttled");
    int retry = std::stoi(r.header("retry-after"));
    CHECK(retry >= 55);
    CHECK(retry <= 60);
    CHECK(r.json()["retry_after"] == retry);
    // Per user: bob is not throttled (404: not his service, but past the throttle).
    CHECK(c->call("POST", "deployments/trigger/", other, {{"service_id", sid}}).status == 404);
    env.stop_server();
}

TEST_CASE("env vars: CRUD, values sealed at rest, secrets never returned in clear",
          "[control][api]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), bob = env.create_token("bob");
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "envy")["id"];
    std::string base = "services/" + sid + "/env-vars/";
    auto r = c->call("POST", base, token,
                     {{"key", "DATABASE_URL"}, {"value", "postgres://pw@db"}, {"is_secret", true}});
    REQUIRE(r.status == 201);
    CHECK(r.json()["value"].is_null());
    CHECK(r.json()["value_masked"] == "********");
    CHECK(r.body.find("postgres://pw@db") == std::string::npos);
    r = c->call("POST", base, token, {{"key", "MODE"}, {"value", "production"}});
    CHECK(r.status == 201);
    CHECK(r.json()["value"] == "production");
    CHECK(c->call("POST", base, token, {{"key", "MODE"}, {"value", "x"}}).status == 409);
    CHECK(c->call("POST", base, token, {{"key", "1BAD"}, {"value", "x"}}).status == 400);
    CHECK(c->call("POST", base, bob, {{"key", "X"}, {"value", "x"}}).status == 404);

    r = c->call("GET", base, token);
    REQUIRE(r.status == 200);
    CHECK(r.json()["count"] == 2);
    CHECK(r.body.find("postgres://pw@db") == std::string::npos);
    r = c->call("GET", base + "DATABASE_URL/", token);
    CHECK(r.status == 200);
    CHECK(r.json()["value"].is_null());
    r = c->call("PATCH", base + "DATABASE_URL/", token, {{"is_secret", false}});
    CHECK(r.status == 400);
    r = c->call("PATCH", base + "MODE/", token, {{"value", "staging"}, {"is_locked", true}});
    CHECK(r.status == 200);
    CHECK(r.json()["value"] == "staging");
    CHECK(r.json()["is_locked"] == true);
    {
        pqxx::connection db(env.pg.url());
        pqxx::work w(db);
        for (const auto &row : w.exec("SELECT value_sealed FROM env_vars")) {
            std::string sealed = row[0].as<std::string>();
            CHECK(sealed.find("postgres") == std::string::npos);
            CHECK(sealed.find("staging") == std::string::npos);
        }
    }
    CHECK(c->call("DELETE", base + "MODE/", token).status == 204);
    CHECK(c->call("GET", base + "MODE/", token).status == 404);
    CHECK(c->call("DELETE", base + "MODE/", token).status == 404);
    env.stop_server();
}

TEST_CASE("domains: add, list, admin verification, delete", "[control][api]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), bob = env.create_token("bob");
    std::string admin = env.create_token("root", true);
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "dom")["id"];
    std::string base = "services/" + sid + "/domains/";
    auto r = c->call("POST", base, token, {{"hostname", "WWW.Example.TEST"}});
    REQUIRE(r.status == 201);
    CHECK(r.json()["hostname"] == "www.example.test");
    CHECK(r.json()["verified"] == false);
    CHECK(c->call("POST", base, token, {{"hostname", "www.example.test"}}).status == 409);
    CHECK(c->call("POST", base, token, {{"hostname", "no_dots"}}).status == 400);
    CHECK(c->call("POST", base, token, {{"hostname", "-bad.example.test"}}).status == 400);
    CHECK(c->call("POST", base, bob, {{"hostname", "bob.example.test"}}).status == 404);
    CHECK(c->call("GET", base, token).json()["count"] == 1);
    r = c->call("POST", base + "www.example.test/verify/", token);
    CHECK(r.status == 403);
    CHECK(r.json()["code"] == "admin_required");
    r = c->call("POST", base + "www.example.test/verify/", admin);
    CHECK(r.status == 200);
    CHECK(r.json()["verified"] == true);
    CHECK(c->call("DELETE", base + "www.example.test/", bob).status == 404);
    CHECK(c->call("DELETE", base + "www.example.test/", token).status == 204);
    CHECK(c->call("GET", base, token).json()["count"] == 0);
    env.stop_server();
}

TEST_CASE("health webhook (token), recheck-health and route-recheck (admin)", "[control][api]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), admin = env.create_token("root", true);
    json svc = create_service(*c, token, create_project(*c, token, "p")["id"], "healthy");
    std::string sid = svc["id"], hook = svc["health_webhook_token"];
    std::string path = "/api/v1/services/" + sid + "/health/webhook/";
    std::string body = R"({"status":"healthy","details":{"db":"ok"}})";
    CHECK(c->request("POST", path, body).status == 401);
    auto r = c->request("POST", path, body, {{"X-Health-Webhook-Token", "hwt_wrong"}});
    CHECK(r.status == 403);
    CHECK(r.json()["code"] == "invalid_health_token");
    r = c->request("POST", path, R"({"status":"meh"})", {{"X-Health-Webhook-Token", hook}});
    CHECK(r.status == 400);
    r = c->request("POST", path, body, {{"X-Health-Webhook-Token", hook}});
    CHECK(r.status == 200);
    CHECK(c->call("GET", "services/" + sid + "/", token).json()["health_status"] == "healthy");

    r = c->call("POST", "services/" + sid + "/recheck-health/", token);
    CHECK(r.status == 200);
    CHECK(r.json()["health_status"] == "unknown"); // no ACTIVE deployment yet

    r = c->call("POST", "system/route-recheck/", token);
    CHECK(r.status == 403);
    CHECK(r.json()["code"] == "admin_required");
    r = c->call("POST", "system/route-recheck/", admin);
    CHECK(r.status == 200);
    CHECK(r.json()["routes"] == 0);
    CHECK(r.json()["version"].get<int>() >= 1);
    env.stop_server();
}

TEST_CASE(
    "webhooks: signed pushes deploy, duplicates are ignored, bad signatures are 401 and recorded",
    "[control][api][webhooks]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    // The installation-wide secrets deploy administrators' services (#15).
    std::string token = env.create_token("alice", true);
    std::string pid = create_project(*c, token, "p")["id"];
    std::string gh = create_service(*c, token, pid, "gh",
                                    {{"repo_url", "https://github.com/Org/App.git"}})["id"];
    create_service(*c, token, pid, "gl",
                   {{"repo_url", "https://gitlab.com/g/p.git"}, {"branch", "dev"}});
    create_service(*c, token, pid, "bb", {{"repo_url", "https://bitbucket.org/t/r"}});

    std::string push =
        R"({"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567",
        "repository":{"clone_url":"https://github.com/org/app.git"}})";
    auto gh_post = [&](const std::string &body, const std::string &delivery, const std::string &sig,
                       const std::string &event = "push") {
        std::vector<std::pair<std::string, std::string>> h = {{"X-GitHub-Event", event},
                                                              {"X-GitHub-Delivery", delivery}};
        if (!sig.empty()) h.emplace_back("X-Hub-Signature-256", sig);
        return c->request("POST", "/api/v1/webhooks/github/", body, h);
    };
    auto r = gh_post(R"({"zen":"hi"})", "d-ping", signed_github(R"({"zen":"hi"})"), "ping");
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "pong");
    r = gh_post(push, "d-1", "");
    CHECK(r.status == 401);
    CHECK(r.json()["code"] == "missing_signature");
    r = gh_post(push, "d-1", signed_github(push, "wrong"));
    CHECK(r.status == 401);
    CHECK(r.json()["code"] == "invalid_signature");
    // A forged delivery did not claim the id: the real one is still accepted.
    r = gh_post(push, "d-1", signed_github(push));
    CHECK(r.status == 202);
    CHECK(r.json()["status"] == "processed");
    REQUIRE(r.json()["deployments"].size() == 1);
    std::string did = r.json()["deployments"][0];
    auto dep = c->call("GET", "deployments/" + did + "/", token).json();
    CHECK(dep["service_id"] == gh);
    CHECK(dep["trigger_source"] == "webhook:github");
    CHECK(dep["commit_hash"] == "0123456789abcdef0123456789abcdef01234567");
    r = gh_post(push, "d-1", signed_github(push));
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "ignored");
    // Another delivery while one is in flight is remembered for when it ends (#15).
    r = gh_post(push, "d-2", signed_github(push));
    INFO(r.body);
    CHECK(r.status == 202);
    CHECK(r.json()["status"] == "queued_after");
    CHECK(r.json()["queued_after"][0]["queued_after"] == did);
    std::string other_branch = R"({"ref":"refs/heads/feature","after":"abc1234",
        "repository":{"clone_url":"https://github.com/org/app.git"}})";
    r = gh_post(other_branch, "d-3", signed_github(other_branch));
    CHECK(r.json()["status"] == "no_match");

    std::string gl_push = R"({"object_kind":"push","ref":"refs/heads/dev","checkout_sha":"abcdef1",
        "project":{"git_http_url":"https://gitlab.com/g/p.git"}})";
    r = c->request("POST", "/api/v1/webhooks/gitlab/", gl_push,
                   {{"X-Gitlab-Event", "Push Hook"},
                    {"X-Gitlab-Event-UUID", "u-1"},
                    {"X-Gitlab-Token", "nope"}});
    CHECK(r.status == 401);
    r = c->request("POST", "/api/v1/webhooks/gitlab/", gl_push,
                   {{"X-Gitlab-Event", "Push Hook"},
                    {"X-Gitlab-Event-UUID", "u-1"},
                    {"X-Gitlab-Token", "gl-secret"}});
    CHECK(r.status == 202);
    CHECK(r.json()["deployments"].size() == 1);

    std::string bb_push = R"({"repository":{"full_name":"t/r"},"push":{"changes":[
        {"new":{"type":"branch","name":"main","target":{"hash":"fedcba9"}}}]}})";
    r = c->request(
        "POST", "/api/v1/webhooks/bitbucket/", bb_push,
        {{"X-Event-Key", "repo:push"},
         {"X-Request-UUID", "b-1"},
         {"X-Hub-Signature", "sha256=" + berth::control::hmac_sha256_hex("bb-secret", bb_push)}});
    CHECK(r.status == 202);
    CHECK(r.json()["deployments"].size() == 1);
    r = c->request(
        "POST", "/api/v1/webhooks/bitbucket/", "{bad",
        {{"X-Event-Key", "repo:push"},
         {"X-Request-UUID", "b-2"},
         {"X-Hub-Signature", "sha256=" + berth::control::hmac_sha256_hex("bb-secret", "{bad")}});
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "invalid_payload");
    CHECK(c->request("POST", "/api/v1/webhooks/gitea/", "{}").status == 404);

    pqxx::connection db(env.pg.url());
    pqxx::work w(db);
    CHECK(
        w.exec1("SELECT count(*) FROM webhook_deliveries WHERE status = 'rejected'")[0].as<int>() ==
        4);
    CHECK(
        w.exec1("SELECT count(*) FROM webhook_deliveries WHERE status = 'ignored'")[0].as<int>() ==
        1);
    CHECK(w.exec1("SELECT count(*) FROM webhook_deliveries WHERE status = 'processed'")[0]
              .as<int>() == 3);
    env.stop_server();
}

TEST_CASE("20 concurrent duplicate webhook deliveries create one deployment",
          "[control][api][webhooks]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice", true);
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "dup",
                                     {{"repo_url", "https://github.com/org/dup"}})["id"];
    std::string push =
        R"({"ref":"refs/heads/main","after":"abc1234","repository":{"html_url":"https://github.com/org/dup"}})";
    auto responses = concurrently(env.port(), 20, [&](HttpClient &mine) {
        return mine.request("POST", "/api/v1/webhooks/github/", push,
                            {{"X-GitHub-Event", "push"},
                             {"X-GitHub-Delivery", "same-delivery"},
                             {"X-Hub-Signature-256", signed_github(push)}});
    });
    int processed = 0, ignored = 0, other = 0;
    for (const auto &r : responses) {
        std::string s = r.json().value("status", "");
        if (s == "processed")
            ++processed;
        else if (s == "ignored")
            ++ignored;
        else
            ++other;
    }
    CHECK(processed == 1);
    CHECK(ignored == 19);
    CHECK(other == 0);
    CHECK(c->call("GET", "deployments/?service_id=" + sid, token).json()["count"] == 1);
    env.stop_server();
}

TEST_CASE("PostgreSQL stopped mid-run: 503 database_unavailable, then recovery",
          "[control][api][resilience]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string pid = create_project(*c, token, "p")["id"];
    REQUIRE(c->call("GET", "projects/", token).status == 200);
    env.pg.stop();
    auto r = c->call("GET", "projects/", token);
    CHECK(r.status == 503);
    CHECK(r.json()["code"] == "database_unavailable");
    CHECK(c->call("POST", "projects/", token, {{"name", "q"}}).status == 503);
    env.pg.start();
    r = c->call("GET", "projects/", token);
    CHECK(r.status == 200);
    CHECK(r.json()["count"] == 1);
    CHECK(c->call("POST", "projects/", token, {{"name", "q"}}).status == 201);
    env.stop_server();
}

// Before #15: one push deployed every service with that repository URL, whoever owned it,
// with the one installation-wide secret.
TEST_CASE("webhooks per service: a push deploys only services whose secret verified it",
          "[control][api][webhooks]")
{
    ControlEnv env(api_only());
    env.start_server();
    auto c = env.client();
    std::string alice = env.create_token("alice"), bob = env.create_token("bob");
    const std::string repo = "https://github.com/shared/site.git";
    json a = create_service(*c, alice, create_project(*c, alice, "pa")["id"], "alices",
                            {{"repo_url", repo}});
    json b =
        create_service(*c, bob, create_project(*c, bob, "pb")["id"], "bobs", {{"repo_url", repo}});
    std::string a_secret = a["webhook_secret"], b_secret = b["webhook_secret"];
    CHECK(a_secret.rfind("whsec_", 0) == 0);
    CHECK(a_secret != b_secret);
    CHECK(a["webhook_urls"]["github"] ==
          "/api/v1/webhooks/github/" + a["id"].get<std::string>() + "/");
    CHECK_FALSE(c->call("GET", "services/" + a["id"].get<std::string>() + "/", alice)
                    .json()
                    .contains("webhook_secret_sealed"));
    std::string push = R"({"ref":"refs/heads/main","after":"abc1234",
        "repository":{"clone_url":"https://github.com/shared/site.git"}})";
    int n = 0;
    auto post = [&](const std::string &path, const std::string &secret) {
        return c->request(
            "POST", "/api/v1/webhooks/" + path, push,
            {{"X-GitHub-Event", "push"},
             {"X-GitHub-Delivery", "d-" + std::to_string(++n)},
             {"X-Hub-Signature-256", "sha256=" + berth::control::hmac_sha256_hex(secret, push)}});
    };
    // The service of the response's deployment as `token` sees it ("" when not theirs: 404).
    auto service_of = [&](const Response &r, const std::string &token) {
        std::string id = r.json()["deployments"][0];
        return c->call("GET", "deployments/" + id + "/", token).json().value("service_id", "");
    };
    // Bob's secret on the shared URL: only bob's service deploys (alice sees none of it).
    auto r = post("github/", b_secret);
    INFO(r.body);
    REQUIRE(r.status == 202);
    REQUIRE(r.json()["deployments"].size() == 1);
    CHECK(service_of(r, bob) == b["id"]);
    CHECK(service_of(r, alice) == "");
    // The installation-wide secret deploys administrators' services only: none here.
    r = post("github/", "gh-secret");
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "no_match");
    // Alice's own URL with bob's secret: refused; with hers: her service only.
    std::string a_url = "github/" + a["id"].get<std::string>() + "/";
    CHECK(post(a_url, b_secret).status == 401);
    r = post(a_url, a_secret);
    REQUIRE(r.status == 202);
    REQUIRE(r.json()["deployments"].size() == 1);
    CHECK(service_of(r, alice) == a["id"]);
    // Rotation: the old secret stops verifying at once, the new one is shown once.
    auto rot =
        c->call("POST", "services/" + a["id"].get<std::string>() + "/webhook-secret/", alice);
    REQUIRE(rot.status == 200);
    std::string fresh = rot.json()["webhook_secret"];
    CHECK(fresh != a_secret);
    CHECK(post(a_url, a_secret).status == 401);
    CHECK(c->call("POST", "services/" + a["id"].get<std::string>() + "/webhook-secret/", bob)
              .status == 404);
    // On the shared URL a service's own secret also verifies what deploys nothing: a ping,
    // a push to another branch (answered, not refused as unsigned); another repository's
    // delivery is not its to verify.
    auto signed_post = [&](const std::string &event, const std::string &body,
                           const std::string &secret) {
        return c->request(
            "POST", "/api/v1/webhooks/github/", body,
            {{"X-GitHub-Event", event},
             {"X-GitHub-Delivery", "d-" + std::to_string(++n)},
             {"X-Hub-Signature-256", "sha256=" + berth::control::hmac_sha256_hex(secret, body)}});
    };
    std::string other_branch = R"({"ref":"refs/heads/feature","after":"abc1234",
        "repository":{"clone_url":"https://github.com/shared/site.git"}})";
    r = signed_post("push", other_branch, b_secret);
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "no_match");
    r = signed_post("ping",
                    R"({"zen":"hi","repository":{"clone_url":)"
                    R"("https://github.com/shared/site.git"}})",
                    b_secret);
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "pong");
    std::string elsewhere = R"({"ref":"refs/heads/main","after":"abc1234",
        "repository":{"clone_url":"https://github.com/someone/else.git"}})";
    CHECK(signed_post("push", elsewhere, b_secret).status == 401);
    env.stop_server();
}

TEST_CASE("a repository URL that cannot be cloned is refused when the service is saved",
          "[control][api]")
{
    ApiAlice a;
    auto &c = a.c;
    const std::string &token = a.token, &pid = a.project;
    for (const char *bad : {"ftp://github.com/x/y.git", "not a url", "https:///x.git"}) {
        Response r = create_service_response(*c, token, pid, "s", {{"repo_url", bad}});
        INFO(bad << " -> " << r.body);
        CHECK(r.status == 400);
        CHECK(r.json()["field"] == "repo_url");
    }
    json svc = create_service(*c, token, pid, "s", {{"repo_url", "https://github.com/x/y.git"}});
    auto r = c->call("PATCH", "services/" + svc["id"].get<std::string>() + "/", token,
                     {{"repo_url", "gopher://x"}});
    CHECK(r.status == 400);
    CHECK(r.json()["error"].get<std::string>().find("https://, git:// or file://") !=
          std::string::npos);
    a.env.stop_server();
}
