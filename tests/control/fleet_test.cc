// Edges as a fleet through Redis ([edges] redis_edges): berth-control publishes each route
// table in Redis, edges with [redis] url follow it from any host, and their acknowledgements
// count for ACTIVE like an admin socket's. Real PostgreSQL, Redis, git and berth-edges.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "tests/control/support/control_env.h"
#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_tree.h"

using namespace berth::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

// A berth-edge that knows control only through Redis: no admin socket control could reach.
struct RedisEdge {
    std::string name, config;
    std::unique_ptr<EdgeProcess> proc;

    // deployments_root: control's own unless the edge is to stand on another host; extra:
    // more lines of its [redis] section.
    RedisEdge(const ControlEnv &env, const std::string &edge_name,
              std::string deployments_root = "", const std::string &extra = "")
        : name(edge_name)
    {
        std::string dir = env.dir + "/" + name;
        fs::create_directories(dir);
        if (deployments_root.empty()) deployments_root = env.deployments_root();
        fs::create_directories(deployments_root);
        config = dir + "/edge.toml";
        std::ofstream(config) << "[edge]\nworkers = 1\ndeployments_root = \"" << deployments_root
                              << "\"\nstate_dir = \"" << dir
                              << "/state\"\n[[listen]]\naddr = \"127.0.0.1:0\"\n[redis]\nurl = \""
                              << env.redis.url() << "\"\nname = \"" << name
                              << "\"\nheartbeat_ms = 200\n"
                              << extra;
    }
    void start()
    {
        proc = std::make_unique<EdgeProcess>(std::vector<std::string>{"--config", config});
    }
    std::string body(const std::string &host) const
    {
        auto r = get(proc->port(), host, "/");
        return r && r->status == 200 ? r->body : "status " + std::to_string(r ? r->status : 0);
    }
};

// A user with a git-backed static service "site" whose index.html says `html`.
struct Site {
    std::string token, admin, id, repo;
};

Site make_site(ControlEnv &env, HttpClient &c, const std::string &html)
{
    Site s;
    s.token = env.create_token("alice");
    s.admin = env.create_token("root", true);
    std::string project = create_project(c, s.token, "p")["id"];
    s.repo = env.dir + "/repo";
    make_git_repo(s.repo, {{"index.html", html}});
    s.id = create_service(c, s.token, project, "site", {{"repo_url", "file://" + s.repo}})["id"];
    return s;
}

// Control serving with `edges` (lines of its [edges] section) and a 200 ms reconciler.
std::unique_ptr<HttpClient> start_control(ControlEnv &env, const std::string &edges)
{
    env.options().extra_toml = "[edges]\n" + edges + "sync_interval_ms = 200\n";
    env.write_config();
    env.start_server();
    return env.client();
}

// Control's host with edge-a, and edge-b (started) on a host of its own: its own
// deployments_root, which control's files reach only if something carries them.
struct TwoHosts {
    ControlEnv env;
    std::string remote_root = env.dir + "/remote-host/deployments";
    RedisEdge a, b;

    // extra: more lines of both edges' [redis] section.
    explicit TwoHosts(const std::string &extra = "")
        : a(env, "edge-a", "", extra), b(env, "edge-b", remote_root, extra)
    {
        a.start();
        b.start();
    }
};

constexpr const char *kTwoRedisEdges = "redis_edges = [\"edge-a\", \"edge-b\"]\n";

} // namespace

TEST_CASE("edges on Redis: ACTIVE once one acknowledged, the absent one pending until it "
          "comes and catches up",
          "[control][fleet]")
{
    ControlEnv env;
    RedisEdge a(env, "edge-a"), b(env, "edge-b");
    a.start();
    auto c = start_control(env, kTwoRedisEdges);
    Site site = make_site(env, *c, "hello fleet");
    const std::string &token = site.token, &admin = site.admin, &sid = site.id, &repo = site.repo;

    std::string d1 = trigger_deployment(*c, token, sid);
    json dep = wait_deployment(*c, token, d1);
    REQUIRE(dep["status"] == "ACTIVE");
    CHECK(dep["edges_pending"] == json::array({"redis:edge-b"}));
    CHECK(a.body("site.localhost") == "hello fleet");

    json edges = c->call("GET", "system/edges/", admin).json();
    INFO(edges.dump());
    REQUIRE(edges["edges"].size() == 2);
    CHECK(edges["edges"][0]["socket"] == "redis:edge-a");
    CHECK(edges["edges"][0]["via"] == "redis");
    CHECK(edges["edges"][0]["in_sync"] == true);
    CHECK(edges["edges"][0]["hash"] == edges["expected"]["hash"]);
    CHECK(edges["edges"][1]["reachable"] == false);
    CHECK(edges["edges"][1]["last_error"].get<std::string>().find("no acknowledgement") !=
          std::string::npos);

    // The absent edge comes up: it reads the published table itself and acknowledges it.
    b.start();
    CHECK(wait_until([&] { return b.body("site.localhost") == "hello fleet"; }));
    CHECK(wait_until([&] {
        return c->call("GET", "deployments/" + d1 + "/", token).json()["edges_pending"] ==
               json::array();
    }));

    // A second deploy reaches both, with nothing pending.
    make_git_repo(repo, {{"index.html", "second"}});
    std::string d2 = trigger_deployment(*c, token, sid);
    dep = wait_deployment(*c, token, d2);
    REQUIRE(dep["status"] == "ACTIVE");
    CHECK(dep["edges_pending"] == json::array());
    CHECK(a.body("site.localhost") == "second");
    CHECK(b.body("site.localhost") == "second");

    // Redis restarts empty: the reconciler publishes the table again, and an edge restarted
    // meanwhile still gets it.
    env.redis.stop();
    env.redis.start();
    CHECK(a.proc->stop() == 0);
    fs::remove_all(env.dir + "/edge-a/state"); // as a brand-new edge host would be
    a.start();
    CHECK(wait_until([&] { return a.body("site.localhost") == "second"; }));
    CHECK(wait_until([&] {
        json e = c->call("GET", "system/edges/", admin).json();
        return e["edges"][0]["in_sync"] == true && e["edges"][1]["in_sync"] == true;
    }));
}

TEST_CASE("an edge control does not list still follows the tables control publishes in Redis",
          "[control][fleet]")
{
    ControlEnv env; // no edge listed: deployments go ACTIVE without waiting for one
    auto c = start_control(env, "");
    RedisEdge edge(env, "unlisted");
    edge.start();
    Site site = make_site(env, *c, "followed");
    const std::string &token = site.token, &admin = site.admin, &sid = site.id;
    json dep = wait_deployment(*c, token, trigger_deployment(*c, token, sid));
    REQUIRE(dep["status"] == "ACTIVE");
    CHECK(dep["edges_pending"] == json::array());
    CHECK(wait_until([&] { return edge.body("site.localhost") == "followed"; }));
    json edges = c->call("GET", "system/edges/", admin).json();
    INFO(edges.dump());
    CHECK(edges["edges"] == json::array());
    // Not waited for, but visible: system/edges/ lists the edges following Redis unlisted.
    REQUIRE(edges["followers"].size() == 1);
    CHECK(edges["followers"][0]["name"] == "unlisted");
    CHECK(edges["followers"][0]["in_sync"] == true);
    CHECK(edges["followers"][0]["version"] == edges["expected"]["version"]);
    CHECK(edges["followers"][0]["missing_roots"] == json::array());
    // Without redis_edges, files are not distributed unless asked: this edge shares the host.
    CHECK(env.redis.call({"EXISTS", "berth:files"}) == "0");
    CHECK_FALSE(edges.contains("files"));

    // A Redis restarted empty gets the table back from the reconciler: a new edge host
    // (no saved table) is served without another deploy.
    env.redis.stop();
    env.redis.start();
    CHECK(edge.proc->stop() == 0);
    fs::remove_all(env.dir + "/unlisted/state");
    edge.start();
    CHECK(wait_until([&] { return edge.body("site.localhost") == "followed"; }));

    // Deleting the service takes its route off that edge too.
    REQUIRE(c->call("DELETE", "services/" + sid + "/", token).status == 204);
    CHECK(wait_until([&] { return edge.body("site.localhost") == "status 404"; }));

    // An edge that stops leaves the list once its acknowledgement expires.
    CHECK(edge.proc->stop() == 0);
    CHECK(wait_until([&] {
        return c->call("GET", "system/edges/", admin).json()["followers"] == json::array();
    }));
}

TEST_CASE("an edge without the deployment's files stays pending until they reach its host",
          "[control][fleet]")
{
    TwoHosts hosts;
    auto &[env, remote_root, a, b] = hosts;
    // Archives an earlier configuration left in Redis, with distribution on.
    env.redis.call({"HSET", "berth:files:old/v1", "data", "x", "signature", ""});
    env.redis.call({"SADD", "berth:files", "old/v1"});
    env.redis.call({"HSET", "berth:files-refused", "huge/v1", "larger than distribute_max_bytes"});
    // Files travel by the operator's means here (shared storage, rsync), not through Redis.
    auto c = start_control(env, std::string(kTwoRedisEdges) + "distribute_files = false\n");
    Site site = make_site(env, *c, "shipped");
    std::string d = trigger_deployment(*c, site.token, site.id);
    json dep = wait_deployment(*c, site.token, d);
    REQUIRE(dep["status"] == "ACTIVE");
    // edge-b holds the table but not the files: it does not count as serving it.
    CHECK(dep["edges_pending"] == json::array({"redis:edge-b"}));
    CHECK(a.body("site.localhost") == "shipped");
    CHECK(b.body("site.localhost") == "status 404");
    json edges = c->call("GET", "system/edges/", site.admin).json();
    INFO(edges.dump());
    CHECK(edges["edges"][1]["in_sync"] == true);
    CHECK(edges["edges"][1]["last_error"].get<std::string>().find("not on its host") !=
          std::string::npos);
    CHECK(edges["edges"][1]["last_error"].get<std::string>().find("distribute_files is off") !=
          std::string::npos);
    // The leftovers are gone: nothing else would ever free that memory.
    CHECK(env.redis.call({"EXISTS", "berth:files", "berth:files:old/v1", "berth:files-refused"}) ==
          "0");

    // The files reach edge-b's host (rsync, shared storage): it serves them and stops pending.
    fs::copy(env.deployments_root(), remote_root, fs::copy_options::recursive);
    CHECK(wait_until([&] { return b.body("site.localhost") == "shipped"; }));
    CHECK(wait_until([&] {
        return c->call("GET", "deployments/" + d + "/", site.token).json()["edges_pending"] ==
               json::array();
    }));
    CHECK(wait_until([&] {
        return c->call("GET", "system/edges/", site.admin).json()["edges"][1]["last_error"] ==
               nullptr;
    }));
}

TEST_CASE("control distributes each live deployment's files through Redis to edges on other "
          "hosts",
          "[control][fleet]")
{
    // Signed both ways: the tables and archives in Redis carry control's signature.
    TempTree keys;
    keys.write("fleet.key", "0123456789abcdef0123456789abcdef-signing\n");
    std::string key_line = "signing_key_file = \"" + keys.path("fleet.key") + "\"\n";
    TwoHosts hosts(key_line);
    auto &[env, remote_root, a, b] = hosts;
    env.options().redis_toml = key_line;
    auto c = start_control(env, kTwoRedisEdges); // distribute_files: on with redis_edges
    Site site = make_site(env, *c, "shipped");
    std::string d1 = trigger_deployment(*c, site.token, site.id);
    json dep = wait_deployment(*c, site.token, d1);
    REQUIRE(dep["status"] == "ACTIVE");
    // edge-b, on a host without control's deployments_root, fetched the files first.
    CHECK(dep["edges_pending"] == json::array());
    CHECK(a.body("site.localhost") == "shipped");
    CHECK(b.body("site.localhost") == "shipped");
    std::string root1 = dep["artifact_path"];
    CHECK(fs::exists(remote_root + "/" + root1 + "/index.html"));
    CHECK(env.redis.call({"SISMEMBER", "berth:files", root1}) == "1");
    CHECK(env.redis.call({"HGET", "berth:routes", "signature"}).size() == 64);
    CHECK(env.redis.call({"HGET", "berth:files:" + root1, "signature"}).size() == 64);

    // A redeploy: the new files travel, the old archive leaves Redis once nothing serves it.
    make_git_repo(site.repo, {{"index.html", "second"}, {"big.bin", std::string(300000, 'x')}});
    std::string d2 = trigger_deployment(*c, site.token, site.id);
    dep = wait_deployment(*c, site.token, d2);
    REQUIRE(dep["status"] == "ACTIVE");
    CHECK(dep["edges_pending"] == json::array());
    CHECK(b.body("site.localhost") == "second");
    std::string root2 = dep["artifact_path"];
    CHECK(wait_until([&] { return env.redis.call({"EXISTS", "berth:files:" + root1}) == "0"; }));
    CHECK(env.redis.call({"SISMEMBER", "berth:files", root2}) == "1");

    // Redis loses the archives (restarted empty) and a brand-new edge host joins: control
    // packs what it reports missing again.
    env.redis.stop();
    env.redis.start();
    RedisEdge fresh(env, "edge-c", env.dir + "/third-host/deployments");
    fresh.start();
    CHECK(wait_until([&] { return fresh.body("site.localhost") == "second"; }));

    // A deployment larger than distribute_max_bytes is not distributed: ACTIVE on edge-a,
    // pending on edge-b, and system/edges/ says why.
    c.reset();
    env.stop_server();
    c = start_control(env, std::string(kTwoRedisEdges) + "distribute_max_bytes = 100000\n");
    std::mt19937 random(7);
    std::string noise; // letters at random: about 4.7 bits a byte even gzip'd
    for (int i = 0; i < 400000; ++i)
        noise += char('a' + random() % 26);
    make_git_repo(site.repo, {{"index.html", "third"}, {"noise.txt", noise}});
    std::string d3 = trigger_deployment(*c, site.token, site.id);
    dep = wait_deployment(*c, site.token, d3);
    REQUIRE(dep["status"] == "ACTIVE");
    CHECK(dep["edges_pending"] == json::array({"redis:edge-b"}));
    CHECK(a.body("site.localhost") == "third");
    CHECK(b.body("site.localhost") == "status 404");
    CHECK(wait_until([&] {
        json e = c->call("GET", "system/edges/", site.admin).json();
        return e["edges"][1]["last_error"].is_string() &&
               e["edges"][1]["last_error"].get<std::string>().find(
                   "control cannot distribute them") != std::string::npos &&
               e["edges"][1]["last_error"].get<std::string>().find("exceeds 100000 bytes") !=
                   std::string::npos;
    }));
    // GET system/edges/ shows what is kept for the fleet and what could not be packed: the
    // live deployment is too large, the one before it is served nowhere (archive removed).
    json files = c->call("GET", "system/edges/", site.admin).json()["files"];
    INFO(files.dump());
    std::string root3 = dep["artifact_path"];
    CHECK(files["archives"] == json::array());
    REQUIRE(files["refused"].contains(root3));
    CHECK(files["refused"][root3].get<std::string>().find("exceeds 100000 bytes") !=
          std::string::npos);
}

TEST_CASE("[edges] redis_edges names are checked at startup", "[control][fleet]")
{
    ControlEnv env;
    env.options().extra_toml = "[edges]\nredis_edges = [\"a:b\"]\n";
    env.write_config();
    CommandResult r = env.run({"migrate"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("redis_edges") != std::string::npos);
    env.options().extra_toml = "[edges]\nredis_edges = [\"a\", \"a\"]\n";
    env.write_config();
    r = env.run({"migrate"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("twice") != std::string::npos);
    TempTree keys;
    keys.write("short.key", "too short\n");
    env.options().redis_toml = "signing_key_file = \"" + keys.path("short.key") + "\"\n";
    env.write_config();
    r = env.run({"migrate"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("at least 32 characters") != std::string::npos);
    env.options().redis_toml.clear();
    for (const char *bad : {"distribute_files = 1\n", "distribute_max_bytes = 10\n"}) {
        env.options().extra_toml = std::string("[edges]\n") + bad;
        env.write_config();
        r = env.run({"migrate"});
        INFO(bad << r.err);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(std::string(bad).substr(0, 12)) != std::string::npos);
    }
}
