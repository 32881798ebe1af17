// berth-control and the real berth-edge together: a deploy goes live on the edge through the
// admin socket's routes.put, and a rollback swaps it back without a rebuild (#3).
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/control/support/control_env.h"
#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"

using namespace berth::test;
using nlohmann::json;

namespace
{

json wait_active(HttpClient &c, const std::string &token, const std::string &id)
{
    json dep;
    bool done = wait_until([&] {
        dep = c.call("GET", "deployments/" + id + "/", token).json();
        std::string s = dep.value("status", "");
        return s == "ACTIVE" || s == "FAILED";
    });
    INFO(dep.dump());
    REQUIRE(done);
    REQUIRE(dep["status"] == "ACTIVE");
    return dep;
}

std::string edge_body(int port)
{
    auto r = berth::test::get(port, "site.localhost", "/");
    return r && r->status == 200 ? r->body : "status " + std::to_string(r ? r->status : 0);
}

} // namespace

TEST_CASE("a deploy goes live on berth-edge and instant-rollback swaps it back", "[control][edge]")
{
    ControlEnv env;
    std::filesystem::create_directories(env.deployments_root());
    std::string sock = env.dir + "/edge-admin.sock";
    berth::test::EdgeProcess edge({"--listen", "127.0.0.1:0", "--deployments",
                                   env.deployments_root(), "--base-domain", "localhost",
                                   "--admin-socket", sock, "--state-dir", env.dir + "/edge-state"});
    env.options().extra_toml = "[edges]\nadmin_sockets = [\"" + sock + "\"]\n";
    env.write_config();
    std::string repo = env.dir + "/repo";
    make_git_repo(repo, {{"index.html", "version one\n"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid = create_service(*c, token, create_project(*c, token, "p")["id"], "site",
                                     {{"repo_url", "file://" + repo}})["id"];

    auto trigger = [&] {
        auto r = c->call("POST", "deployments/trigger/", token, {{"service_id", sid}});
        REQUIRE(r.status == 201);
        return wait_active(*c, token, r.json()["id"]);
    };
    trigger();
    CHECK(wait_until([&] { return edge_body(edge.port()) == "version one\n"; }, 10000));

    make_git_repo(repo, {{"index.html", "version two\n"}});
    trigger();
    CHECK(wait_until([&] { return edge_body(edge.port()) == "version two\n"; }, 10000));

    auto r = c->call("POST", "services/" + sid + "/instant-rollback/", token);
    REQUIRE(r.status == 201);
    wait_active(*c, token, r.json()["id"]);
    CHECK(wait_until([&] { return edge_body(edge.port()) == "version one\n"; }, 10000));
    env.stop_server();
    CHECK(edge.stop() == 0);
}
