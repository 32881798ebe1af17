// Issue 15, "ACTIVE means served": deployments against real berth-edge processes. Each case
// fails on the code before the issue (noted per case).
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>

#include <pqxx/pqxx>

#include "tests/control/support/control_env.h"
#include "tests/support/admin_client.h"
#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"

using namespace berth::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

// One berth-edge serving the control plane's deployments root through route tables only (no
// quick mode), with its own admin socket and state dir (the table persists across restarts).
struct Edge {
    std::string socket, state_dir, root;
    std::unique_ptr<EdgeProcess> proc;

    Edge(const std::string &dir, const std::string &name, const std::string &deployments_root)
        : socket(dir + "/" + name + ".sock"), state_dir(dir + "/" + name + "-state"),
          root(deployments_root)
    {
    }
    void start()
    {
        fs::create_directories(root);
        proc = std::make_unique<EdgeProcess>(std::vector<std::string>{
            "--listen", "127.0.0.1:0", "--deployments", root, "--admin-socket", socket,
            "--state-dir", state_dir, "--workers", "1"});
    }
    void stop()
    {
        REQUIRE(proc->stop() == 0);
        proc.reset();
    }
    // The body for host, or "status N".
    std::string body(const std::string &host, const std::string &path = "/") const
    {
        auto r = get(proc->port(), host, path);
        return r && r->status == 200 ? r->body : "status " + std::to_string(r ? r->status : 0);
    }
};

std::string edges_toml(const std::vector<const Edge *> &edges, const std::string &extra = "")
{
    std::string list;
    for (const Edge *e : edges)
        list += (list.empty() ? "\"" : ", \"") + e->socket + "\"";
    return "[edges]\nadmin_sockets = [" + list + "]\nsync_interval_ms = 200\n" + extra;
}

bool log_has(HttpClient &c, const std::string &token, const std::string &id,
             const std::string &needle)
{
    json logs = c.call("GET", "deployments/" + id + "/build-logs/", token).json();
    for (const auto &l : logs["lines"])
        if (l["line"].get<std::string>().find(needle) != std::string::npos) return true;
    return false;
}

struct Setup {
    ControlEnv env;
    std::unique_ptr<HttpClient> c;
    std::string token, admin, repo, project;
    std::unique_ptr<Edge> edge; // from with_one_edge()

    Setup() : env(ControlOptions{}) {}
    // One edge, started, and the control plane pushing to it.
    Edge &with_one_edge(const std::string &extra = "")
    {
        edge = std::make_unique<Edge>(env.dir, "edge", env.deployments_root());
        edge->start();
        start(edges_toml({edge.get()}, extra));
        return *edge;
    }
    void start(const std::string &edges_config)
    {
        env.options().extra_toml = edges_config;
        env.write_config();
        repo = env.dir + "/repo";
        env.start_server();
        c = env.client();
        token = env.create_token("alice");
        admin = env.create_token("root", true);
        project = create_project(*c, token, "p")["id"];
    }
    std::string service(const std::string &name, const std::string &repo_dir)
    {
        return create_service(*c, token, project, name, {{"repo_url", "file://" + repo_dir}})["id"];
    }
};

} // namespace

// Before #15: the deploy went ACTIVE while the edge was down, and the restarted edge served
// its persisted old table until an admin ran route-recheck.
TEST_CASE("an edge restarted while a deployment goes ACTIVE serves it with no admin action",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge("ack_timeout_s = 120\n");
    make_git_repo(s.repo, {{"index.html", "one"}});
    std::string sid = s.service("site", s.repo);
    CHECK(wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid))["status"] ==
          "ACTIVE");
    CHECK(edge.body("site.localhost") == "one");

    edge.stop();
    make_git_repo(s.repo, {{"index.html", "two"}});
    std::string d2 = trigger_deployment(*s.c, s.token, sid);
    // The deployment waits for an edge instead of reporting ACTIVE to nobody.
    bool waiting =
        wait_until([&] { return log_has(*s.c, s.token, d2, "waiting for an edge"); }, 60000);
    INFO(s.c->call("GET", "deployments/" + d2 + "/build-logs/", s.token).body);
    INFO(s.c->call("GET", "deployments/" + d2 + "/", s.token).body);
    REQUIRE(waiting);
    // The route push and its acknowledgement are the deploy phase (#16).
    CHECK(s.c->call("GET", "deployments/" + d2 + "/", s.token).json()["status"] == "DEPLOYING");
    edge.start(); // comes back with its persisted (old) table
    json dep = wait_deployment(*s.c, s.token, d2);
    CHECK(dep["status"] == "ACTIVE");
    CHECK(dep["edges_pending"] == json::array());
    CHECK(edge.body("site.localhost") == "two");
}

// Before #15: an unreachable edge was a build-log line; the deployment reported ACTIVE and
// nothing said which edges served it, and nothing brought the stopped edge up to date.
TEST_CASE("3 edges, one stopped: ACTIVE with that edge pending, the reconciler catches it up",
          "[control][served]")
{
    Setup s;
    std::string root = s.env.deployments_root();
    Edge a(s.env.dir, "a", root), b(s.env.dir, "b", root), down(s.env.dir, "c", root);
    a.start();
    b.start();
    s.start(edges_toml({&a, &b, &down}));
    make_git_repo(s.repo, {{"index.html", "hello"}});
    std::string sid = s.service("site", s.repo);
    std::string d1 = trigger_deployment(*s.c, s.token, sid);
    json dep = wait_deployment(*s.c, s.token, d1);
    REQUIRE(dep["status"] == "ACTIVE");
    CHECK(dep["edges_pending"] == json::array({down.socket}));
    CHECK(a.body("site.localhost") == "hello");
    CHECK(b.body("site.localhost") == "hello");

    json edges = s.c->call("GET", "system/edges/", s.admin).json();
    INFO(edges.dump());
    REQUIRE(edges["edges"].size() == 3);
    CHECK(edges["edges"][0]["socket"] == a.socket);
    CHECK(edges["edges"][0]["reachable"] == true);
    CHECK(edges["edges"][0]["in_sync"] == true);
    CHECK(edges["edges"][0]["version"] == edges["expected"]["version"]);
    CHECK(edges["edges"][0]["hash"] == edges["expected"]["hash"]);
    CHECK(edges["edges"][2]["reachable"] == false);
    CHECK(edges["edges"][2]["last_error"].get<std::string>().find("cannot connect") !=
          std::string::npos);
    CHECK(s.c->call("GET", "system/edges/", s.token).status == 403);

    down.start();
    CHECK(wait_until([&] { return down.body("site.localhost") == "hello"; }, 20000));
    CHECK(wait_until([&] {
        return s.c->call("GET", "deployments/" + d1 + "/", s.token).json()["edges_pending"] ==
               json::array();
    }));
    CHECK(wait_until([&] {
        return s.c->call("GET", "system/edges/", s.admin).json()["edges"][2]["in_sync"] == true;
    }));
}

// A table pushed by hand (a higher version the control plane never made) is drift: the
// reconciler puts the expected routes back with a version above the edge's.
TEST_CASE("the reconciler repairs an edge whose table was changed behind its back",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge();
    make_git_repo(s.repo, {{"index.html", "mine"}});
    std::string sid = s.service("site", s.repo);
    REQUIRE(wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid))["status"] ==
            "ACTIVE");
    json put =
        AdminConn(edge.socket).call(R"({"cmd":"routes.put","table":{"version":999,"routes":[]}})");
    REQUIRE(put["ok"] == true);
    CHECK(wait_until([&] { return edge.body("site.localhost") == "mine"; }, 20000));
    CHECK(AdminConn(edge.socket).call(R"({"cmd":"routes.get"})")["version"] > 999);
}

// With no edge at all the deployment cannot be served: FAILED, the previous one stays live.
TEST_CASE("a deployment no edge acknowledges fails and the previous one stays live",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge("ack_timeout_s = 1\n");
    make_git_repo(s.repo, {{"index.html", "one"}});
    std::string sid = s.service("site", s.repo);
    std::string d1 = trigger_deployment(*s.c, s.token, sid);
    REQUIRE(wait_deployment(*s.c, s.token, d1)["status"] == "ACTIVE");
    edge.stop();
    make_git_repo(s.repo, {{"index.html", "two"}});
    json dep = wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid));
    CHECK(dep["status"] == "FAILED");
    CHECK(dep["error_message"].get<std::string>().find("no edge acknowledged") !=
          std::string::npos);
    CHECK(s.c->call("GET", "deployments/" + d1 + "/", s.token).json()["status"] == "ACTIVE");
    edge.start();
    CHECK(edge.body("site.localhost") == "one");
}

// Before #15: a verified custom domain equal to another user's <service>.<base domain> made
// a table with a duplicate host that every edge refused, while deploys kept reporting ACTIVE.
TEST_CASE("hosts are one namespace: no custom domain can take a service's host",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge();
    std::string bob = s.env.create_token("bob");
    std::string bob_project = create_project(*s.c, bob, "bp")["id"];
    make_git_repo(s.repo, {{"index.html", "alice"}});
    std::string bob_repo = s.env.dir + "/bob-repo";
    make_git_repo(bob_repo, {{"index.html", "bob's blog"}});
    std::string site = s.service("site", s.repo);
    std::string blog =
        create_service(*s.c, bob, bob_project, "blog", {{"repo_url", "file://" + bob_repo}})["id"];

    auto add_domain = [&](const std::string &sid, const std::string &host) {
        return s.c->call("POST", "services/" + sid + "/domains/", s.token, {{"hostname", host}});
    };
    auto r = add_domain(site, "blog.localhost");
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "domain_taken");
    REQUIRE(add_domain(site, "shop.localhost").status == 201);
    r = create_service_response(*s.c, bob, bob_project, "shop");
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "domain_taken");
    r = s.c->call("PATCH", "services/" + blog + "/", bob, {{"name", "shop"}});
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "domain_taken");

    // A clash already in the database (made before these checks): the table leaves out the
    // custom domain, says so on its service and in the audit log, and serves everything else.
    {
        pqxx::connection db(s.env.pg.url());
        pqxx::work w(db);
        w.exec_params("INSERT INTO domains(service_id, hostname, verified) VALUES ($1,"
                      " 'blog.localhost', true)",
                      site);
        w.commit();
    }
    REQUIRE(wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, site))["status"] ==
            "ACTIVE");
    REQUIRE(wait_deployment(*s.c, bob, trigger_deployment(*s.c, bob, blog))["status"] == "ACTIVE");
    CHECK(edge.body("site.localhost") == "alice");
    CHECK(edge.body("blog.localhost") == "bob's blog");
    json svc = s.c->call("GET", "services/" + site + "/", s.token).json();
    CHECK(svc["route_error"].get<std::string>().find("duplicate host \"blog.localhost\"") !=
          std::string::npos);
    json audit = s.c->call("GET", "system/audit/?target_id=" + site, s.admin).json();
    bool dropped = false;
    for (const auto &row : audit["results"])
        dropped |= row["action"] == "ROUTE_DROPPED";
    CHECK(dropped);
}

// Before #15: the service row went, its routes stayed on the edges and its files on disk.
TEST_CASE("deleting a service takes its routes off the edges, then removes its files",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge();
    make_git_repo(s.repo, {{"index.html", "here"}});
    std::string sid = s.service("site", s.repo);
    std::string other = s.service("other", s.repo);
    REQUIRE(wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid))["status"] ==
            "ACTIVE");
    REQUIRE(wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, other))["status"] ==
            "ACTIVE");
    REQUIRE(edge.body("site.localhost") == "here");
    fs::path dir = fs::path(s.env.deployments_root()) / "site";
    REQUIRE(fs::exists(dir));

    REQUIRE(s.c->call("DELETE", "services/" + sid + "/", s.token).status == 204);
    // Answered after the edge acknowledged the table without it.
    CHECK(edge.body("site.localhost") == "status 404");
    CHECK_FALSE(fs::exists(dir));
    CHECK(edge.body("other.localhost") == "here");
    for (const auto &e : fs::directory_iterator(s.env.dir + "/builds"))
        FAIL("build directory left behind: " << e.path());

    std::string project = s.project;
    REQUIRE(s.c->call("DELETE", "projects/" + project + "/", s.token).status == 204);
    CHECK(edge.body("other.localhost") == "status 404");
    CHECK_FALSE(fs::exists(fs::path(s.env.deployments_root()) / "other"));
}

// Before #15: the second instant-rollback went to A again (the newest INACTIVE row), a 201
// that changed nothing.
TEST_CASE("instant-rollback walks back one deployment at a time, then says there is none",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge();
    std::string sid = s.service("site", s.repo);
    for (const char *v : {"A", "B", "C"}) {
        make_git_repo(s.repo, {{"index.html", v}});
        REQUIRE(wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid))["status"] ==
                "ACTIVE");
    }
    REQUIRE(edge.body("site.localhost") == "C");
    for (const char *want : {"B", "A"}) {
        auto r = s.c->call("POST", "services/" + sid + "/instant-rollback/", s.token);
        REQUIRE(r.status == 201);
        REQUIRE(wait_deployment(*s.c, s.token, r.json()["id"])["status"] == "ACTIVE");
        CHECK(edge.body("site.localhost") == want);
    }
    auto r = s.c->call("POST", "services/" + sid + "/instant-rollback/", s.token);
    CHECK(r.status == 409);
    CHECK(r.json()["code"] == "no_previous_deployment");
    CHECK(edge.body("site.localhost") == "A");
}

// Before #15: the deploy went ACTIVE, /config.js with a live Stripe key was served and .env
// lay world-readable in the deployment directory.
TEST_CASE("secrets are never published: the deploy fails naming files and rules, not values",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge();
    std::string sid = s.service("site", s.repo);
    auto r =
        s.c->call("POST", "services/" + sid + "/env-vars/", s.token,
                  {{"key", "API_SECRET"}, {"value", "hunter2-very-secret"}, {"is_secret", true}});
    REQUIRE(r.status == 201);
    const std::string stripe = "sk_live_51HxAbCdEfGhIjKlMnOpQr";
    make_git_repo(s.repo, {{"index.html", "<script src=/config.js></script>"},
                           {".env", "API_SECRET=hunter2-very-secret\n"},
                           {"config.js", "const key = '" + stripe + "';\n"},
                           {"js/app.js", "fetch('/x', {headers: {k: 'hunter2-very-secret'}})\n"}});
    json dep = wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid));
    CHECK(dep["status"] == "FAILED");
    std::string msg = dep["error_message"];
    INFO(msg);
    CHECK(msg.find("config.js (stripe-live-key)") != std::string::npos);
    CHECK(msg.find("js/app.js (secret env var API_SECRET)") != std::string::npos);
    CHECK(msg.find(".env") == std::string::npos); // dotfiles are never published, so not scanned
    CHECK(msg.find(stripe) == std::string::npos);
    CHECK(msg.find("hunter2") == std::string::npos);
    CHECK_FALSE(
        fs::exists(fs::path(s.env.deployments_root()) / "site" / dep["id"].get<std::string>()));
    CHECK(edge.body("site.localhost", "/config.js") == "status 404");

    make_git_repo(s.repo,
                  {{"config.js", "const key = window.KEY;\n"}, {"js/app.js", "fetch('/x')\n"}});
    dep = wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid));
    REQUIRE(dep["status"] == "ACTIVE");
    fs::path dir = fs::path(s.env.deployments_root()) / dep["artifact_path"].get<std::string>();
    CHECK_FALSE(fs::exists(dir / ".env"));
    CHECK(fs::exists(dir / "config.js"));
    auto mode = [](const fs::path &p) { return fs::status(p).permissions() & fs::perms::all; };
    CHECK(mode(dir / "config.js") == fs::perms(0444));
    CHECK(mode(dir / "js") == fs::perms(0555));
    CHECK(mode(dir) == fs::perms(0555));
    CHECK(edge.body("site.localhost", "/config.js") == "const key = window.KEY;\n");
}

// Before #15: PostgreSQL restarted mid-deploy left the row in its stage for five minutes (409
// for the service), then FAILED "interrupted", with the build directory left behind.
TEST_CASE("a PostgreSQL restart during a deployment is survived and the deploy completes",
          "[control][served]")
{
    Setup s;
    Edge &edge = s.with_one_edge("ack_timeout_s = 120\n");
    make_git_repo(s.repo, {{"index.html", "one"}});
    std::string sid = s.service("site", s.repo);
    REQUIRE(wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, sid))["status"] ==
            "ACTIVE");
    edge.stop();
    make_git_repo(s.repo, {{"index.html", "two"}});
    std::string d2 = trigger_deployment(*s.c, s.token, sid);
    REQUIRE(wait_until([&] { return log_has(*s.c, s.token, d2, "waiting for an edge"); }, 60000));
    s.env.pg.stop();
    // The pipeline notices and keeps retrying its database work instead of giving up.
    REQUIRE(wait_until(
        [&] {
            return s.env.server_log().find("pipeline: PostgreSQL unavailable") != std::string::npos;
        },
        30000));
    edge.start();
    s.env.pg.start();
    json dep = wait_deployment(*s.c, s.token, d2);
    INFO(dep.dump());
    CHECK(dep["status"] == "ACTIVE");
    CHECK(edge.body("site.localhost") == "two");
    for (const auto &e : fs::directory_iterator(s.env.dir + "/builds"))
        FAIL("build directory left behind: " << e.path());
}

// Before #15: a FAILED deployment after its clone, and one cancelled in AWAITING_APPROVAL,
// left their checkouts in builds_dir for good.
TEST_CASE("every terminal status removes its build directory", "[control][served]")
{
    Setup s;
    s.start("");
    make_git_repo(s.repo, {{"index.html", "x"}});
    auto builds_empty = [&] { return fs::is_empty(s.env.dir + "/builds"); };
    std::string broken =
        create_service(*s.c, s.token, s.project, "broken",
                       {{"repo_url", "file://" + s.repo}, {"root_directory", "dist"}})["id"];
    json dep = wait_deployment(*s.c, s.token, trigger_deployment(*s.c, s.token, broken));
    REQUIRE(dep["status"] == "FAILED");
    CHECK(builds_empty());

    std::string held =
        create_service(*s.c, s.token, s.project, "held",
                       {{"repo_url", "file://" + s.repo}, {"require_approval", true}})["id"];
    std::string d = trigger_deployment(*s.c, s.token, held);
    REQUIRE(wait_until([&] {
        return s.c->call("GET", "deployments/" + d + "/", s.token).json()["status"] ==
               "AWAITING_APPROVAL";
    }));
    CHECK_FALSE(builds_empty()); // the checkout waits for the approval's build
    REQUIRE(s.c->call("POST", "deployments/" + d + "/cancel/", s.token).status == 200);
    CHECK(wait_until(builds_empty, 10000));
}
