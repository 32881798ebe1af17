// End-to-end pipeline tests: trigger or push → clone (libgit2, file:// repo) → STATIC publish
// → ACTIVE, rollbacks as route swaps, approvals, failures, and queue recovery (#3).
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "control/base/crypto.h"
#include "tests/control/support/control_env.h"
#include "tests/control/support/pipeline_support.h"
#include "tests/support/admin_client.h"
#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"

using namespace berth::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

// The route table the real edge holds now (routes.get over its admin socket).
json edge_table(const std::string &socket)
{
    return berth::test::AdminConn(socket).call(R"({"cmd":"routes.get"})")["table"];
}

// A push of `commit` to main of the file:// repository, signed with the installation-wide
// GitHub secret of ControlEnv's config.
Response github_push(HttpClient &c, const std::string &repo, const std::string &commit,
                     const std::string &delivery)
{
    std::string body = json{{"ref", "refs/heads/main"},
                            {"after", commit},
                            {"repository", {{"clone_url", "file://" + repo}}}}
                           .dump();
    return c.request(
        "POST", "/api/v1/webhooks/github/", body,
        {{"X-GitHub-Event", "push"},
         {"X-GitHub-Delivery", delivery},
         {"X-Hub-Signature-256", "sha256=" + berth::control::hmac_sha256_hex("gh-secret", body)}});
}

} // namespace

TEST_CASE(
    "trigger to ACTIVE: an immutable static directory, route pushes, rollbacks as swaps, audit",
    "[control][pipeline]")
{
    EdgedControl ec;
    auto &[env, edge_sock, made_root, edge, edge_http] = ec;
    std::string repo = env.dir + "/repo";
    std::string v1 =
        make_git_repo(repo, {{"site/index.html", "v1"}, {"site/app.js", "js"}, {"README", "r"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), admin = env.create_token("root", true);
    std::string sid =
        create_service(*c, token, create_project(*c, token, "p")["id"], "site",
                       {{"repo_url", "file://" + repo}, {"root_directory", "site"}})["id"];

    std::string d1 = trigger_deployment(*c, token, sid);
    json dep1 = wait_status(*c, token, d1, "ACTIVE");
    CHECK(dep1["commit_hash"] == v1);
    CHECK(dep1["artifact_path"] == "site/" + d1);
    CHECK(dep1["review_summary"]["framework"] == "static");
    fs::path dir1 = fs::path(env.deployments_root()) / "site" / d1;
    CHECK(slurp((dir1 / "index.html").string()) == "v1");
    CHECK_FALSE(fs::exists(dir1 / "README")); // only root_directory is published
    CHECK_FALSE(fs::exists(dir1 / ".git"));
    CHECK((fs::status(dir1 / "index.html").permissions() & fs::perms::owner_write) ==
          fs::perms::none);
    std::vector<std::string> seen;
    for (const auto &s : dep1["status_history"])
        seen.push_back(s["status"]);
    CHECK(seen == std::vector<std::string>{"QUEUED", "CLONING", "SCANNING", "REVIEW", "BUILDING",
                                           "DEPLOYING", "HEALTH_CHECK", "ACTIVE"});
    // One record per phase, in order, each closed with its outcome (#16).
    json stages = dep1["pipeline_stages"];
    std::vector<std::string> names, outcomes;
    std::string last_end;
    for (const auto &s : stages) {
        INFO(s.dump());
        names.push_back(s["name"]);
        outcomes.push_back(s["outcome"]);
        REQUIRE(s["started_at"].is_string());
        REQUIRE(s["ended_at"].is_string());
        CHECK(s["started_at"].get<std::string>() >= last_end); // same-offset ISO strings
        CHECK(s["ended_at"].get<std::string>() >= s["started_at"].get<std::string>());
        last_end = s["ended_at"];
    }
    CHECK(names == std::vector<std::string>{"clone", "analyze", "approval", "build", "deploy",
                                            "health_check"});
    CHECK(outcomes == std::vector<std::string>{"ok", "ok", "skipped", "ok", "ok", "ok"});
    CHECK(stages[0]["detail"].get<std::string>().rfind("checked out " + v1.substr(0, 12), 0) == 0);
    CHECK(stages[4]["detail"] == "route table acknowledged by 1 of 1 edge(s)");
    // A real request through the edge, answered by the new deployment (#16).
    CHECK(stages[5]["detail"] == "GET / via " + edge_http + ": 200");
    auto logs = c->call("GET", "deployments/" + d1 + "/build-logs/", token).json()["lines"];
    REQUIRE(logs.size() >= 3);
    CHECK(logs[0]["line"].get<std::string>().rfind("cloning file://", 0) == 0);
    // ACTIVE means the edge already holds a table with the new deployment's root.
    json held = edge_table(edge_sock);
    REQUIRE(held["routes"].size() == 1);
    CHECK(held["routes"][0]["host"] == "site.localhost");
    CHECK(held["routes"][0]["root"] == "site/" + d1);
    CHECK(dep1["edges_pending"] == json::array());
    CHECK(berth::test::must(berth::test::get(edge.port(), "site.localhost", "/")).body == "v1");

    std::string v2 = make_git_repo(repo, {{"site/index.html", "v2"}});
    std::string d2 = trigger_deployment(*c, token, sid);
    CHECK(wait_status(*c, token, d2, "ACTIVE")["commit_hash"] == v2);
    CHECK(c->call("GET", "deployments/" + d1 + "/", token).json()["status"] == "INACTIVE");
    CHECK(slurp((dir1 / "index.html").string()) ==
          "v1"); // untouched: a new deploy is a new directory
    CHECK(c->call("POST", "services/" + sid + "/recheck-health/", token).json()["health_status"] ==
          "healthy");

    auto r = c->call("POST", "services/" + sid + "/instant-rollback/", token,
                     {{"message", "5xx spike"}});
    REQUIRE(r.status == 201);
    CHECK(r.json()["status"] == "ROLLING_BACK");
    CHECK(r.json()["is_rollback"] == true);
    CHECK(r.json()["rollback_of"] == d1);
    std::string d3 = r.json()["id"];
    CHECK(wait_status(*c, token, d3, "ACTIVE")["artifact_path"] == "site/" + d1);
    CHECK(c->call("GET", "deployments/" + d2 + "/", token).json()["status"] == "ROLLED_BACK");
    r = c->call("POST", "deployments/" + d2 + "/rollback/", token, {{"confirm", "true"}});
    REQUIRE(r.status == 201);
    wait_status(*c, token, r.json()["id"], "ACTIVE");
    CHECK(edge_table(edge_sock)["routes"][0]["root"] == "site/" + d2);
    r = c->call("POST", "system/route-recheck/", admin);
    CHECK(r.json()["routes"] == 1);
    CHECK(r.json()["edges"][0]["ok"] == true);

    // The audit chain verifies, and a row changed behind the trigger's back is found.
    auto ok = env.run({"audit", "verify"});
    CHECK(ok.exit_code == 0);
    int64_t victim;
    {
        pqxx::connection db(env.pg.url());
        pqxx::work w(db);
        victim =
            w.exec1(
                 "SELECT id FROM audit_log WHERE action = 'DEPLOYMENT_TRIGGER' ORDER BY id LIMIT 1")
                [0]
                    .as<int64_t>();
        w.exec("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete");
        w.exec("UPDATE audit_log SET actor = 'user:mallory' WHERE id = " + std::to_string(victim));
        w.exec("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete");
        w.commit();
    }
    auto bad = env.run({"audit", "verify"});
    CHECK(bad.exit_code == 1);
    CHECK(bad.out.find("BROKEN at row " + std::to_string(victim) + ":") != std::string::npos);
    env.stop_server();
}

TEST_CASE("pipeline failures end FAILED with an error_message", "[control][pipeline]")
{
    ControlEnv env;
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "x"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string pid = create_project(*c, token, "p")["id"];
    std::string url = "file://" + repo;

    std::string s1 =
        create_service(*c, token, pid, "nobranch", {{"repo_url", url}, {"branch", "nope"}})["id"];
    json f1 = wait_status(*c, token, trigger_deployment(*c, token, s1), "FAILED");
    CHECK(f1["error_message"].get<std::string>().find("clone") != std::string::npos);

    // Analyze refuses the tree: FAILED from the analyze phase, no build phase reached (#16).
    std::string s2 =
        create_service(*c, token, pid, "dock", {{"repo_url", url}, {"buildpack", "DOCKER"}})["id"];
    json f2 = wait_status(*c, token, trigger_deployment(*c, token, s2), "FAILED");
    CHECK(f2["error_message"] == "REVIEW: buildpack DOCKER: no Dockerfile at the root of the tree");
    json hist = f2["status_history"];
    REQUIRE(hist.size() >= 2);
    CHECK(hist[hist.size() - 2]["status"] == "SCANNING");
    CHECK(hist.back()["status"] == "FAILED");
    json analyze_stage = f2["pipeline_stages"].back();
    CHECK(analyze_stage["name"] == "analyze");
    CHECK(analyze_stage["outcome"] == "failed");

    std::string s3 =
        create_service(*c, token, pid, "ssrf", {{"repo_url", "https://127.0.0.1/x.git"}})["id"];
    json f3 = wait_status(*c, token, trigger_deployment(*c, token, s3), "FAILED");
    CHECK(f3["error_message"].get<std::string>().find("repository URL refused") !=
          std::string::npos);

    std::string s4 = create_service(*c, token, pid, "noroot",
                                    {{"repo_url", url}, {"root_directory", "dist"}})["id"];
    json f4 = wait_status(*c, token, trigger_deployment(*c, token, s4), "FAILED");
    CHECK(f4["error_message"].get<std::string>().find("dist") != std::string::npos);
    auto logs =
        c->call("GET", "deployments/" + f4["id"].get<std::string>() + "/build-logs/", token).json();
    CHECK(logs["lines"].back()["line"].get<std::string>().rfind("error: ", 0) == 0);
    env.stop_server();
}

TEST_CASE("require_approval pauses at AWAITING_APPROVAL, approve builds, cancel stops",
          "[control][pipeline]")
{
    ControlEnv env;
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "ok"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid =
        create_service(*c, token, create_project(*c, token, "p")["id"], "gated",
                       {{"repo_url", "file://" + repo}, {"require_approval", true}})["id"];
    std::string d1 = trigger_deployment(*c, token, sid);
    wait_status(*c, token, d1, "AWAITING_APPROVAL");
    auto r = c->call("POST", "deployments/" + d1 + "/approve/", token);
    CHECK(r.status == 200);
    wait_status(*c, token, d1, "ACTIVE");
    CHECK(slurp((fs::path(env.deployments_root()) / "gated" / d1 / "index.html").string()) == "ok");

    std::string d2 = trigger_deployment(*c, token, sid);
    wait_status(*c, token, d2, "AWAITING_APPROVAL");
    r = c->call("POST", "deployments/" + d2 + "/cancel/", token);
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "CANCELLED");
    CHECK(c->call("POST", "deployments/" + d2 + "/approve/", token).status == 409);
    CHECK(c->call("GET", "deployments/" + d1 + "/", token).json()["status"] == "ACTIVE");
    env.stop_server();
}

TEST_CASE("a renamed service keeps its files when another takes its old name and is deleted",
          "[control][pipeline]")
{
    ControlEnv env;
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "uma's"}});
    env.start_server();
    auto c = env.client();
    std::string uma = env.create_token("uma"), tom = env.create_token("tom");
    std::string sid =
        create_service(*c, uma, create_project(*c, uma, "pu")["id"], "vic",
                       {{"repo_url", "file://" + repo}, {"require_approval", true}})["id"];
    std::string d1 = trigger_deployment(*c, uma, sid);
    wait_status(*c, uma, d1, "AWAITING_APPROVAL");
    // While a deployment is under way (it publishes and checks under the old name): 409.
    auto r = c->call("PATCH", "services/" + sid + "/", uma, {{"name", "vic-renamed"}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "deployment_in_progress");
    CHECK(c->call("POST", "deployments/" + d1 + "/approve/", uma).status == 200);
    wait_status(*c, uma, d1, "ACTIVE");
    fs::path published = fs::path(env.deployments_root()) / "vic" / d1;
    REQUIRE(fs::is_directory(published));
    CHECK(c->call("PATCH", "services/" + sid + "/", uma, {{"name", "vic-renamed"}}).status == 200);
    // Tom takes the free name and deletes his service: uma's files are not his.
    std::string tom_sid = create_service(*c, tom, create_project(*c, tom, "pt")["id"], "vic",
                                         {{"repo_url", "file://" + repo}})["id"];
    CHECK(c->call("DELETE", "services/" + tom_sid + "/", tom).status == 204);
    CHECK(slurp((published / "index.html").string()) == "uma's");
    auto health = c->call("POST", "services/" + sid + "/recheck-health/", uma).json();
    CHECK(health["health_status"] == "healthy");
    // Uma's delete takes her deployment's directory, and the name's once it is empty.
    CHECK(c->call("DELETE", "services/" + sid + "/", uma).status == 204);
    CHECK_FALSE(fs::exists(published));
    CHECK_FALSE(fs::exists(published.parent_path()));
    env.stop_server();
}

TEST_CASE("a rollback that fails lifts the push pause it set", "[control][pipeline]")
{
    ControlEnv env;
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "1"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "rb",
                                     {{"repo_url", "file://" + repo}})["id"];
    std::string d1 = trigger_deployment(*c, token, sid);
    wait_status(*c, token, d1, "ACTIVE");
    make_git_repo(repo, {{"index.html", "2"}});
    wait_status(*c, token, trigger_deployment(*c, token, sid), "ACTIVE");
    // The target's files vanish behind control's back: the rollback cannot go live.
    fs::remove_all(fs::path(env.deployments_root()) / "rb" / d1);
    auto r = c->call("POST", "services/" + sid + "/instant-rollback/", token);
    REQUIRE(r.status == 201);
    json failed = wait_status(*c, token, r.json()["id"], "FAILED");
    CHECK(failed["error_message"].get<std::string>().find("is gone") != std::string::npos);
    json svc = c->call("GET", "services/" + sid + "/", token).json();
    CHECK(svc["auto_deploy_paused"] == false);
    CHECK(svc["auto_deploy_paused_reason"].is_null());
    env.stop_server();
}

TEST_CASE("directories beyond keep_deployments are pruned, the rest stay rollback targets",
          "[control][pipeline]")
{
    ControlOptions o;
    o.keep_deployments = 2;
    ControlEnv env(o);
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"dist/index.html", "1"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid =
        create_service(*c, token, create_project(*c, token, "p")["id"], "pruned",
                       {{"repo_url", "file://" + repo}, {"root_directory", "/dist"}})["id"];
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        if (i) make_git_repo(repo, {{"dist/index.html", std::to_string(i + 1)}});
        ids.push_back(trigger_deployment(*c, token, sid));
        wait_status(*c, token, ids.back(), "ACTIVE");
    }
    fs::path root = fs::path(env.deployments_root()) / "pruned";
    // Pruning follows activation: wait for it.
    CHECK(wait_until([&] { return !fs::exists(root / ids[0]); }));
    CHECK(c->call("GET", "deployments/" + ids[0] + "/", token).json()["artifact_path"].is_null());
    CHECK(slurp((root / ids[1] / "index.html").string()) == "2");
    CHECK(slurp((root / ids[2] / "index.html").string()) == "3");
    auto r = c->call("POST", "deployments/" + ids[0] + "/rollback/", token, {{"confirm", "true"}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "not_rollbackable");
    r = c->call("POST", "services/" + sid + "/instant-rollback/", token);
    REQUIRE(r.status == 201);
    CHECK(r.json()["rollback_of"] == ids[1]);
    wait_status(*c, token, r.json()["id"], "ACTIVE");
    env.stop_server();
}

TEST_CASE("a deployment left in a running stage by a dead worker ends FAILED, not stuck",
          "[control][pipeline][resilience]")
{
    ControlOptions o;
    o.visibility_timeout_s = 1;
    ControlEnv env(o);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid =
        create_service(*c, token, create_project(*c, token, "p")["id"], "orphan")["id"];
    std::string id;
    {
        // As if a worker died mid-clone and its queue entry was lost with Redis.
        pqxx::connection db(env.pg.url());
        pqxx::work w(db);
        id = w.exec_params1("INSERT INTO deployments(service_id, status, updated_at) VALUES"
                            " ($1, 'CLONING', now() - interval '1 hour') RETURNING id",
                            sid)[0]
                 .as<std::string>();
        w.commit();
    }
    json dep = wait_status(*c, token, id, "FAILED");
    CHECK(dep["error_message"] == "interrupted: the worker running it stopped (no heartbeat for 1 "
                                  "s) during CLONING; trigger it again");
    // The service is free again.
    CHECK(c->call("POST", "deployments/trigger/", token, {{"service_id", sid}}).status == 201);
    env.stop_server();
}

TEST_CASE("a signed GitHub push deploys the pushed commit", "[control][pipeline][webhooks]")
{
    ControlEnv env;
    std::string repo = env.dir + "/repo";
    std::string head = make_git_repo(repo, {{"index.html", "hooked"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice", true); // [webhooks] secrets: admins' services
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "hooked",
                                     {{"repo_url", "file://" + repo + "/"}})["id"];
    json payload = {{"ref", "refs/heads/main"},
                    {"after", head},
                    {"repository", {{"clone_url", "file://" + repo + ".git"}}}};
    std::string body = payload.dump();
    auto r = c->request(
        "POST", "/api/v1/webhooks/github/", body,
        {{"X-GitHub-Event", "push"},
         {"X-GitHub-Delivery", "d-1"},
         {"X-Hub-Signature-256", "sha256=" + berth::control::hmac_sha256_hex("gh-secret", body)}});
    INFO(r.body);
    REQUIRE(r.status == 202);
    json dep = wait_status(*c, token, r.json()["deployments"][0], "ACTIVE");
    CHECK(dep["commit_hash"] == head);
    CHECK(dep["service_id"] == sid);
    env.stop_server();
}

TEST_CASE(
    "Redis down: triggers fail clearly and create nothing, a lost job is recovered from its row",
    "[control][pipeline][resilience]")
{
    ControlOptions o;
    o.workers = 0; // first no pipeline, so the job sits in Redis when Redis dies
    o.recover_queued_after_s = 1;
    ControlEnv env(o);
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "survivor"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string pid = create_project(*c, token, "p")["id"];
    std::string sa = create_service(*c, token, pid, "a", {{"repo_url", "file://" + repo}})["id"];
    std::string sb = create_service(*c, token, pid, "b", {{"repo_url", "file://" + repo}})["id"];
    std::string da = trigger_deployment(*c, token, sa);

    env.redis.stop(); // no persistence: da's queue entry is lost with it
    auto r = c->call("POST", "deployments/trigger/", token, {{"service_id", sb}});
    CHECK(r.status == 503);
    CHECK(r.json()["code"] == "queue_unavailable");
    CHECK(c->call("GET", "deployments/?service_id=" + sb, token).json()["count"] == 0);
    CHECK(c->call("GET", "deployments/" + da + "/", token).json()["status"] == "QUEUED");
    env.redis.start();

    env.stop_server();
    env.options().workers = 1;
    env.write_config();
    env.start_server();
    c = env.client();
    wait_status(*c, token, da, "ACTIVE"); // recovered from the QUEUED row by the sweep
    wait_status(*c, token, trigger_deployment(*c, token, sb), "ACTIVE");
    env.stop_server();
}

// Before #15: a push during an in-flight deployment answered "skipped", its redelivery
// "ignored", and that commit never deployed.
TEST_CASE("a push during an in-flight deployment is deployed when that one ends",
          "[control][pipeline][webhooks]")
{
    ControlEnv env;
    std::string repo = env.dir + "/repo";
    std::string first = make_git_repo(repo, {{"index.html", "one"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice", true); // [webhooks] secrets: admins' services
    std::string sid =
        create_service(*c, token, create_project(*c, token, "p")["id"], "held",
                       {{"repo_url", "file://" + repo}, {"require_approval", true}})["id"];
    auto push = [&](const std::string &commit, const std::string &delivery) {
        return github_push(*c, repo, commit, delivery);
    };
    auto r = push(first, "p-1");
    REQUIRE(r.status == 202);
    std::string d1 = r.json()["deployments"][0];
    wait_status(*c, token, d1, "AWAITING_APPROVAL");
    std::string second = make_git_repo(repo, {{"index.html", "two"}});
    r = push(second, "p-2");
    CHECK(r.status == 202);
    CHECK(r.json()["status"] == "queued_after");
    CHECK(r.json()["queued_after"][0]["queued_after"] == d1);
    CHECK(push(second, "p-2").json()["status"] == "ignored"); // a redelivery changes nothing
    std::string third = make_git_repo(repo, {{"index.html", "three"}});
    CHECK(push(third, "p-3").json()["status"] == "queued_after"); // the newest one wins

    REQUIRE(c->call("POST", "deployments/" + d1 + "/approve/", token).status == 200);
    wait_status(*c, token, d1, "ACTIVE");
    json next;
    REQUIRE(wait_until([&] {
        json list = c->call("GET", "deployments/?service_id=" + sid, token).json();
        for (const auto &d : list["results"])
            if (d["id"] != d1) next = d;
        return !next.is_null();
    }));
    CHECK(next["commit_hash"] == third);
    CHECK(next["trigger_source"] == "webhook:github");
    json dep = wait_status(*c, token, next["id"], "AWAITING_APPROVAL");
    json list = c->call("GET", "deployments/?service_id=" + sid, token).json();
    CHECK(list["count"] == 2); // coalesced: one deployment for the two held pushes
    env.stop_server();
}

// The health check requests the new version through the real edge before it is ACTIVE (#16).
TEST_CASE("a health check that fails through the edge ends HEALTH_FAILED, the old one serving",
          "[control][pipeline][health]")
{
    EdgedControl ec("health_attempts = 2\nhealth_timeout_ms = 1000\n");
    auto &[env, edge_sock, made_root, edge, edge_http] = ec;
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "good"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "site",
                                     {{"repo_url", "file://" + repo}})["id"];
    auto served = [&] {
        return berth::test::must(berth::test::get(edge.port(), "site.localhost", "/")).body;
    };
    std::string d1 = trigger_deployment(*c, token, sid);
    wait_status(*c, token, d1, "ACTIVE");
    CHECK(served() == "good");

    // A build that lost its index.html: "/" is a 404 even with the SPA fallback.
    std::system(("git -C " + repo + " rm -q index.html").c_str());
    make_git_repo(repo, {{"app.js", "console.log(1)"}});
    std::string d2 = trigger_deployment(*c, token, sid);
    json dep = wait_status(*c, token, d2, "FAILED");
    std::string err = dep["error_message"];
    CHECK(err.rfind("HEALTH_FAILED: GET / via " + edge_http + ": 404", 0) == 0);
    std::vector<std::string> hist;
    for (const auto &h : dep["status_history"])
        hist.push_back(h["status"]);
    REQUIRE(hist.size() >= 3);
    CHECK(std::vector<std::string>(hist.end() - 3, hist.end()) ==
          std::vector<std::string>{"HEALTH_CHECK", "HEALTH_FAILED", "FAILED"});
    json last = dep["pipeline_stages"].back();
    CHECK(last["name"] == "health_check");
    CHECK(last["outcome"] == "failed");
    CHECK(last["detail"] == err);
    // The previous deployment never stopped being ACTIVE and is what the edge serves again.
    CHECK(c->call("GET", "deployments/" + d1 + "/", token).json()["status"] == "ACTIVE");
    CHECK(c->call("GET", "services/" + sid + "/", token).json()["live_deployment_id"] == d1);
    CHECK(wait_until([&] { return served() == "good"; }, 10000));
    auto r = berth::test::must(berth::test::get(edge.port(), "site.localhost", "/"));
    CHECK(r.header("X-Berth-Deployment") == d1);
    // Both transitions are in the audit chain.
    {
        pqxx::connection db(env.pg.url());
        pqxx::work w(db);
        auto n = w.exec_params1("SELECT count(*) FROM audit_log WHERE target_id = $1 AND"
                                " action = 'DEPLOYMENT_STATUS' AND (details::jsonb->>'to' IN"
                                " ('HEALTH_FAILED', 'FAILED'))",
                                d2)[0]
                     .as<int>();
        CHECK(n == 2);
    }

    // A configured health path is what is requested (not "/"), and it must exist.
    make_git_repo(repo, {{"index.html", "three"}});
    REQUIRE(
        c->call("PATCH", "services/" + sid + "/", token, {{"health_check_path", "/status.json"}})
            .status == 200);
    json d3 = wait_status(*c, token, trigger_deployment(*c, token, sid), "FAILED");
    CHECK(d3["error_message"].get<std::string>().rfind(
              "HEALTH_FAILED: GET /status.json via " + edge_http + ": 404", 0) == 0);
    CHECK(served() == "good");
    make_git_repo(repo, {{"status.json", "{\"ok\":true}"}});
    json d4 = wait_status(*c, token, trigger_deployment(*c, token, sid), "ACTIVE");
    CHECK(d4["pipeline_stages"].back()["detail"] == "GET /status.json via " + edge_http + ": 200");
    CHECK(served() == "three");
    env.stop_server();
}

// Pushes honour auto_deploy, and a rollback pauses them until resumed (#16).
TEST_CASE("auto-deploy off skips pushes, a rollback pauses them until resumed",
          "[control][pipeline][webhooks]")
{
    ControlEnv env;
    std::string repo = env.dir + "/repo";
    std::string v1 = make_git_repo(repo, {{"index.html", "one"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice", true); // [webhooks] secrets: admins' services
    std::string pid = create_project(*c, token, "p")["id"];
    int delivery = 0;
    auto push = [&](const std::string &commit) {
        return github_push(*c, repo, commit, "ad-" + std::to_string(++delivery));
    };
    auto count = [&](const std::string &sid) {
        return c->call("GET", "deployments/?service_id=" + sid, token).json()["count"].get<int>();
    };

    // auto_deploy off: the push is recorded as skipped, with the reason, and deploys nothing.
    std::string off = create_service(
        *c, token, pid, "manual", {{"repo_url", "file://" + repo}, {"auto_deploy", false}})["id"];
    auto r = push(v1);
    INFO(r.body);
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "skipped");
    CHECK(r.json()["skipped"][0]["service_id"] == off);
    CHECK(r.json()["skipped"][0]["reason"] == "auto_deploy is off for this service");
    CHECK(count(off) == 0);
    {
        pqxx::connection db(env.pg.url());
        pqxx::work w(db);
        auto row = w.exec1("SELECT status, reason FROM webhook_deliveries WHERE delivery_id ="
                           " 'ad-1'");
        CHECK(row[0].as<std::string>() == "skipped");
        CHECK(row[1].as<std::string>().find("auto_deploy is off") != std::string::npos);
    }
    REQUIRE(c->call("DELETE", "services/" + off + "/", token).status == 204);

    std::string sid =
        create_service(*c, token, pid, "auto", {{"repo_url", "file://" + repo}})["id"];
    json svc = c->call("GET", "services/" + sid + "/", token).json();
    CHECK(svc["auto_deploy"] == true);
    CHECK(svc["auto_deploy_paused"] == false);
    CHECK(svc["auto_deploy_paused_reason"].is_null());
    r = push(v1);
    REQUIRE(r.status == 202);
    std::string d1 = r.json()["deployments"][0];
    wait_status(*c, token, d1, "ACTIVE");
    std::string v2 = make_git_repo(repo, {{"index.html", "two"}});
    r = push(v2);
    REQUIRE(r.status == 202);
    wait_status(*c, token, r.json()["deployments"][0], "ACTIVE");

    // Rolled back to d1: pushes pause, saying why.
    r = c->call("POST", "services/" + sid + "/instant-rollback/", token);
    REQUIRE(r.status == 201);
    wait_status(*c, token, r.json()["id"], "ACTIVE");
    svc = c->call("GET", "services/" + sid + "/", token).json();
    CHECK(svc["auto_deploy"] == true);
    CHECK(svc["auto_deploy_paused"] == true);
    std::string reason = svc["auto_deploy_paused_reason"];
    CHECK(reason.rfind("paused after rollback to " + d1 + " at 20", 0) == 0);
    CHECK(reason.back() == 'Z');
    std::string v3 = make_git_repo(repo, {{"index.html", "three"}});
    int before = count(sid);
    r = push(v3);
    CHECK(r.status == 200);
    CHECK(r.json()["status"] == "skipped");
    CHECK(r.json()["skipped"][0]["reason"].get<std::string>().find(reason) != std::string::npos);
    CHECK(count(sid) == before);

    // A manual trigger still deploys while paused, and leaves the pause in place.
    wait_status(*c, token, trigger_deployment(*c, token, sid), "ACTIVE");
    CHECK(c->call("GET", "services/" + sid + "/", token).json()["auto_deploy_paused"] == true);

    // Resumed: the next push deploys.
    r = c->call("POST", "services/" + sid + "/auto-deploy/resume/", token);
    REQUIRE(r.status == 200);
    CHECK(r.json()["auto_deploy_paused"] == false);
    CHECK(r.json()["auto_deploy_paused_reason"].is_null());
    std::string v4 = make_git_repo(repo, {{"index.html", "four"}});
    r = push(v4);
    REQUIRE(r.status == 202);
    CHECK(wait_status(*c, token, r.json()["deployments"][0], "ACTIVE")["commit_hash"] == v4);

    // PATCH auto_deploy=true ends a pause too.
    r = c->call("POST", "services/" + sid + "/instant-rollback/", token);
    REQUIRE(r.status == 201);
    wait_status(*c, token, r.json()["id"], "ACTIVE");
    CHECK(c->call("GET", "services/" + sid + "/", token).json()["auto_deploy_paused"] == true);
    r = c->call("PATCH", "services/" + sid + "/", token, {{"auto_deploy", true}});
    REQUIRE(r.status == 200);
    CHECK(r.json()["auto_deploy_paused"] == false);
    env.stop_server();
}

// Follow mode streams lines while the deployment runs and ends when it ends (#16).
TEST_CASE("build-logs follow=1 streams lines as they are written and ends with the deployment",
          "[control][pipeline][follow]")
{
    ControlEnv env;
    // An edge that never answers: the deploy phase waits ack_timeout_s, logging, then fails.
    env.options().extra_toml =
        "[edges]\nadmin_sockets = [\"" + env.dir + "/no-edge.sock\"]\nack_timeout_s = 3\n";
    env.write_config();
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "x"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string pid = create_project(*c, token, "p")["id"];
    std::string sid =
        create_service(*c, token, pid, "slow", {{"repo_url", "file://" + repo}})["id"];
    std::string id = trigger_deployment(*c, token, sid);

    LogFollower f(env.port(), token, id);
    auto has = [&](const std::string &text) {
        for (const auto &l : f.lines())
            if (l.value("line", "").find(text) != std::string::npos) return true;
        return false;
    };
    REQUIRE(f.pump_until([&] { return has("waiting for an edge"); }));
    CHECK(f.status() == 200);
    CHECK(f.head().find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(f.head().find("application/x-ndjson") != std::string::npos);
    // Lines arrived while the deployment was still running.
    CHECK(c->call("GET", "deployments/" + id + "/", token).json()["status"] == "DEPLOYING");
    CHECK_FALSE(f.ended());
    REQUIRE(f.pump_until([&] { return f.ended(); }));
    auto lines = f.lines();
    CHECK(lines.front()["line"].get<std::string>().rfind("cloning file://", 0) == 0);
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
        CHECK(lines[i]["stream"] == "build");
        CHECK(lines[i]["at"].is_string());
        if (i) CHECK(lines[i]["id"].get<int64_t>() > lines[i - 1]["id"].get<int64_t>());
    }
    CHECK(has("error: DEPLOY_FAILED: no edge acknowledged"));
    CHECK(lines.back() == json{{"end", true}, {"status", "FAILED"}});
    CHECK(f.closed());

    // A follower of an ended deployment gets what is there (after= skips) and the end at once.
    LogFollower again(env.port(), token, id, "follow=1&after=" + lines[0]["id"].dump());
    REQUIRE(again.pump_until([&] { return again.ended(); }, 5000));
    CHECK(again.lines().size() == lines.size() - 1);
    CHECK(c->call("GET", "deployments/" + id + "/build-logs/?follow=2", token).status == 400);
    CHECK(c->call("GET", "deployments/" + sid + "/build-logs/?follow=1", token).status == 404);

    // A deployment that waits for approval ends the stream there.
    std::string gated =
        create_service(*c, token, pid, "gated",
                       {{"repo_url", "file://" + repo}, {"require_approval", true}})["id"];
    LogFollower g(env.port(), token, trigger_deployment(*c, token, gated));
    REQUIRE(g.pump_until([&] { return g.ended(); }));
    CHECK(g.lines().back() == json{{"end", true}, {"status", "AWAITING_APPROVAL"}});
    env.stop_server();
}

// Followers hold threads: they are capped, and a client that leaves frees its slot (#16).
TEST_CASE("followers are capped and a disconnected follower stops", "[control][pipeline][follow]")
{
    ControlOptions o;
    o.workers = 0; // the deployment stays QUEUED: its followers would wait forever
    o.max_streams = 1;
    ControlEnv env(o);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid =
        create_service(*c, token, create_project(*c, token, "p")["id"], "waiting")["id"];
    std::string id = trigger_deployment(*c, token, sid);
    {
        LogFollower first(env.port(), token, id);
        REQUIRE(first.pump_until([&] { return first.status() != 0; }));
        CHECK(first.status() == 200);
        LogFollower second(env.port(), token, id);
        REQUIRE(second.pump_until([&] { return second.status() != 0; }));
        CHECK(second.status() == 503);
        CHECK(second.head().find("Retry-After: 1") != std::string::npos);
    } // both disconnect
    // The first follower's producer notices and ends, so the slot is free again.
    std::unique_ptr<LogFollower> last;
    bool accepted = wait_until([&] {
        last = std::make_unique<LogFollower>(env.port(), token, id);
        return last->pump_until([&] { return last->status() != 0; }, 2000) && last->status() == 200;
    });
    REQUIRE(accepted);
    // Shutting down with a follower attached ends it and exits cleanly.
    env.stop_server();
    CHECK(last->closed());
}
