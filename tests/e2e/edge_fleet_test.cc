// Edges as a fleet: berth-edge with [redis] url follows the route tables published in a real
// Redis (edge/fleet/route_follower.h), acknowledges them there, and keeps serving through
// Redis outages. Driven from outside: the test writes Redis keys as berth-control does.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include <archive_entry.h>

#include "shared/archive/pack_directory.h"
#include "shared/fleet/archive_chunks.h"
#include "shared/fleet/signature.h"
#include "shared/route/route_table_hash.h"
#include "shared/route/route_table_json.h"
#include "tests/control/support/control_env.h"
#include "tests/control/support/tarball_writer.h"
#include "tests/support/admin_client.h"
#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"
#include "tests/support/redis_instance.h"
#include "tests/support/shell_command.h"
#include "tests/support/temp_tree.h"
#include "tests/support/test_certs.h"

using namespace berth::test;
using berth::shared::fleet::archive_chunk_field;
using berth::shared::fleet::sign_archive;
using berth::shared::fleet::sign_table;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

// The test's side of Redis: commands on a fresh connection each (Redis restarts in these
// tests), and what berth-control would write.
class Redis
{
public:
    explicit Redis(const RedisInstance &instance) : instance_(instance) {}

    std::string call(const std::vector<std::string> &argv) { return instance_.call(argv); }
    std::map<std::string, std::string> hash(const std::string &key) { return instance_.hash(key); }
    // What berth-control does: the whole table in one HSET (signed with `key` when given),
    // then the version on the channel.
    void publish(const json &table, const std::string &key = "")
    {
        std::string version = std::to_string(table["version"].get<uint64_t>());
        std::string text = table.dump();
        std::string signature = key.empty() ? "" : sign_table(key, version, text);
        REQUIRE(call({"HSET", "berth:routes", "version", version, "table", text, "signature",
                      signature}) != "");
        call({"PUBLISH", "berth:routes", version});
    }
    // A deployment's archive as control leaves it (shared/fleet/archive_chunks.h), in chunks of
    // `chunk` bytes (small here, so every test fetches several); size and count last.
    void put_archive(const std::string &root, const std::string &archive,
                     const std::string &signature = "", size_t chunk = 4096)
    {
        std::string key = "berth:files:" + root;
        call({"DEL", key});
        size_t chunks = 0;
        for (size_t at = 0; at < archive.size(); at += chunk, ++chunks)
            call({"HSET", key, archive_chunk_field(chunks), archive.substr(at, chunk)});
        call({"HSET", key, "size", std::to_string(archive.size()), "chunks", std::to_string(chunks),
              "signature", signature});
    }

private:
    const RedisInstance &instance_;
};

json static_table(uint64_t version, const std::string &host, const std::string &root)
{
    return {{"version", version},
            {"routes", json::array({{{"host", host}, {"type", "static"}, {"root", root}}})}};
}

std::string hash_of(const json &table)
{
    std::string error;
    auto t = berth::shared::route::route_table_from_json(table, error);
    REQUIRE(t);
    return berth::shared::route::route_table_hash(*t);
}

struct FleetEdge {
    TempTree tree;
    std::string config;
    std::unique_ptr<EdgeProcess> proc;

    FleetEdge(const RedisInstance &redis, const std::string &password, const std::string &name)
    {
        tree.write("deployments/site/v1/index.html", "one");
        tree.write("deployments/site/v2/index.html", "two");
        tree.write("redis.password", password + "\n");
        config = tree.path("edge.toml");
        tree.write("edge.toml",
                   "[edge]\nworkers = 1\ndeployments_root = \"" + tree.path("deployments") +
                       "\"\nstate_dir = \"" + tree.path("state") +
                       "\"\n[[listen]]\naddr = \"127.0.0.1:0\"\n[admin]\nsocket = \"" +
                       tree.path("admin.sock") +
                       "\"\n[redis]\nurl = \"redis://127.0.0.1:" + std::to_string(redis.port()) +
                       "\"\npassword_file = \"" + tree.path("redis.password") + "\"\nname = \"" +
                       name + "\"\nheartbeat_ms = 200\n");
    }
    void start()
    {
        proc = std::make_unique<EdgeProcess>(std::vector<std::string>{"--config", config});
    }
    std::string body(const std::string &host)
    {
        auto r = get(proc->port(), host, "/");
        return r && r->status == 200 ? r->body : "status " + std::to_string(r ? r->status : 0);
    }
    json fleet_stats()
    {
        AdminConn admin(tree.path("admin.sock"));
        return admin.call(R"({"cmd":"stats"})")["fleet"];
    }
};

// A Redis with a password and one fleet edge following it, started; `extra` ends [redis].
struct FleetRig {
    RedisInstance redis{"fleet-pw"};
    Redis r{redis};
    FleetEdge edge;

    explicit FleetRig(const std::string &name, const std::string &extra = "")
        : edge(redis, "fleet-pw", name)
    {
        edge.tree.write("edge.toml", read_file(edge.config) + extra);
        edge.start();
    }
};

} // namespace

TEST_CASE("an edge with [redis] url installs published tables and acknowledges them, "
          "refusing a bad one",
          "[e2e][fleet]")
{
    FleetRig rig("edge-a");
    auto &[redis, r, edge] = rig;

    json v3 = static_table(3, "site.example.test", "site/v1");
    r.publish(v3);
    CHECK(wait_until([&] { return edge.body("site.example.test") == "one"; }));
    // The acknowledgement names the version and the same content hash control computes.
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-a")["version"] == "3"; }));
    auto ack = r.hash("berth:edge:edge-a");
    CHECK(ack["hash"] == hash_of(v3));
    CHECK(ack["error"].empty());
    CHECK(std::stoi(ack["pid"]) == edge.proc->pid());
    CHECK(r.call({"SISMEMBER", "berth:edges", "edge-a"}) == "1");
    // It expires unless refreshed: a dead edge disappears by itself.
    int64_t ttl = std::stoll(r.call({"PTTL", "berth:edge:edge-a"}));
    CHECK(ttl > 0);
    CHECK(ttl <= 600);

    // A table the edge's parser refuses: the old one stays, the refusal is in the ack.
    r.publish({{"version", 4}, {"routes", json::array({{{"host", "x"}, {"type", "bogus"}}})}});
    CHECK(wait_until([&] {
        return r.hash("berth:edge:edge-a")["error"].find("invalid route table") !=
               std::string::npos;
    }));
    CHECK(r.hash("berth:edge:edge-a")["version"] == "3");
    CHECK(edge.body("site.example.test") == "one");
    CHECK(edge.fleet_stats()["install_error"].get<std::string>().find("version 4") == 0);
    CHECK(edge.proc->wait_for_stderr("version 4 from redis refused"));

    // The next good table is taken and clears the error.
    json v5 = static_table(5, "site.example.test", "site/v2");
    r.publish(v5);
    CHECK(wait_until([&] { return edge.body("site.example.test") == "two"; }));
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-a")["error"].empty(); }));
    json stats = edge.fleet_stats();
    CHECK(stats["connected"] == true);
    CHECK(stats["subscribed"] == true);
    CHECK(stats["name"] == "edge-a");
    CHECK(stats["published_version"] == 5);

    // A table older than the one served is never installed (versions only go up).
    r.publish(static_table(4, "site.example.test", "site/v1"));
    CHECK(wait_until([&] { return edge.fleet_stats()["published_version"] == 4; }));
    CHECK(edge.body("site.example.test") == "two");

    // A table pushed over the admin socket is acknowledged in Redis at once, too.
    {
        AdminConn admin(edge.tree.path("admin.sock"));
        json put = admin.call(json({{"cmd", "routes.put"},
                                    {"table", static_table(9, "site.example.test", "site/v1")}})
                                  .dump());
        REQUIRE(put["ok"] == true);
    }
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-a")["version"] == "9"; }));
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("a table whose files are not on the edge's host says so until they arrive",
          "[e2e][fleet]")
{
    FleetRig rig("edge-m");
    auto &[redis, r, edge] = rig;
    json table = {
        {"version", 3},
        {"routes",
         json::array({{{"host", "site.example.test"}, {"type", "static"}, {"root", "site/v1"}},
                      {{"host", "late.example.test"}, {"type", "static"}, {"root", "late/v1"}},
                      {{"host", "*.preview.example.test"},
                       {"type", "static"},
                       {"root_from_label", true}}})}};
    r.publish(table);
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-m")["version"] == "3"; }));
    CHECK(json::parse(r.hash("berth:edge:edge-m")["missing_roots"]) == json::array({"late/v1"}));
    CHECK(edge.proc->wait_for_stderr("1 static root(s) are not directories"));
    AdminConn admin(edge.tree.path("admin.sock"));
    json got = admin.call(R"({"cmd":"routes.get"})");
    CHECK(got["missing_roots"] == json::array({"late/v1"}));
    CHECK(edge.body("late.example.test") == "status 404");
    CHECK(edge.body("site.example.test") == "one");

    // The files arrive (copied by whatever syncs deployments): the next heartbeat says so, and
    // the host is served without another table.
    edge.tree.write("deployments/late/v1/index.html", "late");
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-m")["missing_roots"] == "[]"; }));
    CHECK(admin.call(R"({"cmd":"stats"})")["missing_roots"] == json::array());
    CHECK(edge.proc->wait_for_stderr("every static root is present now"));
    CHECK(wait_until([&] { return edge.body("late.example.test") == "late"; }));

    // routes.put says it at once as well.
    json put = admin.call(
        json({{"cmd", "routes.put"}, {"table", static_table(4, "x.example.test", "nope/v9")}})
            .dump());
    REQUIRE(put["ok"] == true);
    CHECK(put["missing_roots"] == json::array({"nope/v9"}));
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("a fleet edge unpacks a deployment's files from Redis before it installs the table "
          "naming them",
          "[e2e][fleet]")
{
    FleetRig rig("edge-f", "keep_fetched_ms = 300\n");
    auto &[redis, r, edge] = rig;
    r.publish(static_table(3, "site.example.test", "site/v1"));
    CHECK(wait_until([&] { return edge.body("site.example.test") == "one"; }));

    // The next deployment exists only as control's archive in Redis.
    TempTree control_host;
    control_host.write("remote/v2/index.html", "fetched");
    control_host.write("remote/v2/assets/app.js", std::string(200000, 'j'));
    r.put_archive("remote/v2",
                  berth::shared::pack_directory(control_host.path("remote/v2"), 1 << 20));
    r.publish(static_table(4, "site.example.test", "remote/v2"));
    // Never a 404 in between: the old table serves until the files are in place.
    bool old_or_new = true;
    CHECK(wait_until([&] {
        std::string b = edge.body("site.example.test");
        old_or_new &= b == "one" || b == "fetched";
        return r.hash("berth:edge:edge-f")["version"] == "4";
    }));
    CHECK(old_or_new);
    CHECK(edge.body("site.example.test") == "fetched");
    auto js = get(edge.proc->port(), "site.example.test", "/assets/app.js");
    REQUIRE(js);
    CHECK(js->body == std::string(200000, 'j'));
    CHECK(r.hash("berth:edge:edge-f")["missing_roots"] == "[]");
    CHECK(fs::exists(edge.tree.path("deployments/remote/v2/index.html")));
    for (const auto &e : fs::directory_iterator(edge.tree.path("deployments/remote")))
        CHECK(e.path().filename() == "v2"); // no stage left beside it
    json files = edge.fleet_stats()["files"];
    CHECK(files["fetched"] == 1);
    CHECK(files["refused"] == json::object());
    CHECK(edge.proc->wait_for_stderr("files of remote/v2 unpacked from redis"));

    // A hostile archive is refused whole: nothing lands, the ack and stats say why, the table
    // goes in without that root (other hosts are served).
    r.put_archive("bad/v1", make_tarball({{AE_IFREG, "index.html", "ok"},
                                          {AE_IFREG, "../escape.txt", "evil"}}));
    r.publish(
        {{"version", 5},
         {"routes",
          json::array({{{"host", "site.example.test"}, {"type", "static"}, {"root", "remote/v2"}},
                       {{"host", "bad.example.test"}, {"type", "static"}, {"root", "bad/v1"}}})}});
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-f")["version"] == "5"; }));
    auto ack = r.hash("berth:edge:edge-f");
    CHECK(ack["missing_roots"] == R"(["bad/v1"])");
    CHECK(ack["files_error"].find("bad/v1: ") == 0);
    CHECK(ack["files_error"].find("escape.txt") != std::string::npos);
    CHECK_FALSE(fs::exists(edge.tree.path("deployments/bad")));
    CHECK_FALSE(fs::exists(edge.tree.path("deployments/escape.txt")));
    CHECK_FALSE(fs::exists(edge.tree.path("escape.txt")));
    CHECK(edge.body("bad.example.test") == "status 404");
    CHECK(edge.body("site.example.test") == "fetched");
    CHECK(edge.fleet_stats()["files"]["refused"].contains("bad/v1"));

    // A root whose archive is not in Redis yet: installed without it, then fetched by a
    // heartbeat once control leaves it there.
    r.publish(static_table(6, "late.example.test", "late/v1"));
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-f")["version"] == "6"; }));
    CHECK(r.hash("berth:edge:edge-f")["missing_roots"] == R"(["late/v1"])");
    CHECK(r.hash("berth:edge:edge-f")["files_error"].empty()); // a new table: refusals forgotten
    control_host.write("late/v1/index.html", "late");
    r.put_archive("late/v1", berth::shared::pack_directory(control_host.path("late/v1"), 1 << 20));
    CHECK(wait_until([&] { return edge.body("late.example.test") == "late"; }));
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-f")["missing_roots"] == "[]"; }));

    // What it fetched and no table serves any more goes after keep_fetched_ms; what it did
    // not fetch (site/v1, put there by someone else) is never touched.
    CHECK(wait_until([&] { return !fs::exists(edge.tree.path("deployments/remote/v2")); }));
    CHECK(edge.proc->wait_for_stderr("removing remote/v2, fetched and no longer served"));
    CHECK(fs::exists(edge.tree.path("deployments/late/v1/index.html")));
    CHECK(edge.fleet_stats()["files"]["removed"] == 1);
    // The list of fetched roots outlives a restart; a path in it leading out of
    // deployments_root (a hand-edited list) is ignored, never deleted.
    CHECK(edge.proc->stop() == 0);
    CHECK(read_file(edge.tree.path("state/fetched-roots.json")) == "[\"late/v1\"]\n");
    edge.tree.write("outside/keep.txt", "mine");
    edge.tree.write("elsewhere/keep.txt", "mine too");
    edge.tree.write("state/fetched-roots.json",
                    json({"late/v1", "../outside", edge.tree.path("elsewhere")}).dump());
    edge.start();
    r.publish(static_table(7, "site.example.test", "site/v1"));
    CHECK(wait_until([&] { return !fs::exists(edge.tree.path("deployments/late/v1")); }));
    CHECK(edge.body("site.example.test") == "one");
    CHECK(fs::exists(edge.tree.path("deployments/site/v1/index.html")));
    CHECK(fs::exists(edge.tree.path("deployments/site/v2/index.html")));
    CHECK(read_file(edge.tree.path("state/fetched-roots.json")) == "[]\n");
    CHECK(read_file(edge.tree.path("outside/keep.txt")) == "mine");
    CHECK(read_file(edge.tree.path("elsewhere/keep.txt")) == "mine too");
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("a fleet edge with a signing key takes only tables and archives signed with it",
          "[e2e][fleet]")
{
    const std::string key = "0123456789abcdef0123456789abcdef-fleet";
    TempTree keys;
    keys.write("fleet.key", key + "\n");
    FleetRig rig("edge-s", "signing_key_file = \"" + keys.path("fleet.key") + "\"\n");
    auto &[redis, r, edge] = rig;
    auto error = [&] { return r.hash("berth:edge:edge-s")["error"]; };

    // Unsigned, or signed with another key: refused, said in the ack, nothing installed.
    r.publish(static_table(3, "site.example.test", "site/v1"));
    CHECK(wait_until([&] { return error().find("version 3: unsigned") == 0; }));
    r.publish(static_table(4, "site.example.test", "site/v1"),
              "another key, just as long as the real one");
    CHECK(wait_until([&] { return error().find("version 4: its signature does not match") == 0; }));
    CHECK(edge.body("site.example.test") == "status 404");
    // A signature is bound to its version: version 4's, moved to 5, does not match.
    json v5 = static_table(5, "site.example.test", "site/v1");
    REQUIRE(r.call({"HSET", "berth:routes", "version", "5", "table", v5.dump(), "signature",
                    sign_table(key, "4", v5.dump())}) != "");
    r.call({"PUBLISH", "berth:routes", "5"});
    CHECK(wait_until([&] { return error().find("version 5: its signature") == 0; }));

    r.publish(static_table(6, "site.example.test", "site/v1"), key);
    CHECK(wait_until([&] { return edge.body("site.example.test") == "one"; }));
    CHECK(wait_until([&] { return error().empty(); }));

    // Archives likewise, and a signature made for another root does not fit this one.
    TempTree control_host;
    control_host.write("app/v1/index.html", "signed files");
    std::string tgz = berth::shared::pack_directory(control_host.path("app/v1"), 1 << 20);
    r.put_archive("app/v1", tgz, sign_archive(key, "other/v1", tgz));
    r.publish(static_table(7, "app.example.test", "app/v1"), key);
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-s")["version"] == "7"; }));
    CHECK(r.hash("berth:edge:edge-s")["files_error"].find("app/v1: its signature does not match") ==
          0);
    CHECK_FALSE(fs::exists(edge.tree.path("deployments/app/v1")));
    r.put_archive("app/v1", tgz, sign_archive(key, "app/v1", tgz));
    r.publish(static_table(8, "app.example.test", "app/v1"), key); // refusals are per table
    CHECK(wait_until([&] { return edge.body("app.example.test") == "signed files"; }));
    CHECK(r.hash("berth:edge:edge-s")["files_error"].empty());
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("two edges on one host sharing a deployments_root fetch the same files side by side",
          "[e2e][fleet]")
{
    FleetRig rig("edge-1");
    auto &[redis, r, one] = rig;
    FleetEdge two(redis, "fleet-pw", "edge-2");
    std::string shared_root = one.tree.path("deployments");
    std::string config = read_file(two.config);
    config.replace(config.find(two.tree.path("deployments")), two.tree.path("deployments").size(),
                   shared_root);
    two.tree.write("edge.toml", config);
    two.start();
    TempTree control_host;
    for (int i = 0; i < 200; ++i) // enough entries that both unpack at once
        control_host.write("big/v1/f" + std::to_string(i) + ".txt",
                           std::string(5000, 'a' + i % 26));
    control_host.write("big/v1/index.html", "shared");
    r.put_archive("big/v1", berth::shared::pack_directory(control_host.path("big/v1"), 1 << 24));
    r.publish(static_table(3, "big.example.test", "big/v1"));
    for (const char *name : {"edge-1", "edge-2"})
        CHECK(wait_until([&] {
            auto ack = r.hash(std::string("berth:edge:") + name);
            return ack["version"] == "3" && ack["missing_roots"] == "[]";
        }));
    CHECK(one.body("big.example.test") == "shared");
    CHECK(two.body("big.example.test") == "shared");
    CHECK(read_file(shared_root + "/big/v1/f7.txt") == std::string(5000, 'h'));
    // Only the finished root is left: no stage of either edge.
    std::vector<std::string> left;
    for (const auto &e : fs::directory_iterator(shared_root + "/big"))
        left.push_back(e.path().filename().string());
    CHECK(left == std::vector<std::string>{"v1"});
    // One edge's rename put it there: only that one counts it as its own to remove later.
    CHECK(one.fleet_stats()["files"]["kept"].get<int>() +
              two.fleet_stats()["files"]["kept"].get<int>() ==
          1);
    CHECK(two.proc->stop() == 0);
    CHECK(one.proc->stop() == 0);
}

TEST_CASE("a fleet edge refuses an archive whose chunks do not add up and waits for one being "
          "written",
          "[e2e][fleet]")
{
    FleetRig rig("edge-c");
    auto &[redis, r, edge] = rig;
    TempTree control_host;
    std::mt19937 random(11);
    std::string data;
    for (int i = 0; i < 30000; ++i)
        data += char('a' + random() % 26);
    control_host.write("x/v1/index.html", "chunked");
    control_host.write("x/v1/data.txt", data);
    std::string tgz = berth::shared::pack_directory(control_host.path("x/v1"), 1 << 20);
    REQUIRE(tgz.size() > 3 * 4096); // several chunks
    r.put_archive("short/v1", tgz);
    r.call({"HSET", "berth:files:short/v1", "size", std::to_string(tgz.size() + 1)});
    r.put_archive("count/v1", tgz);
    r.call({"HSET", "berth:files:count/v1", "chunks", "0"});
    r.put_archive("long/v1", tgz); // its last chunk is longer than the size leaves room for
    r.call({"HSET", "berth:files:long/v1", "size", std::to_string(tgz.size() - 1)});
    r.put_archive("gap/v1", tgz); // control writing it again: a chunk is not there yet
    r.call({"HDEL", "berth:files:gap/v1", archive_chunk_field(1)});
    r.call({"SET", "berth:files:odd/v1", "not a hash"}); // Redis answers an error: asked again
    // A directory on the way that is a symlink (to outside deployments_root): never written
    // through.
    fs::create_directories(edge.tree.path("outside"));
    fs::create_symlink(edge.tree.path("outside"), edge.tree.path("deployments/link"));
    r.put_archive("link/v1", tgz);
    json table = {{"version", 3}, {"routes", json::array()}};
    for (std::string name : {"short", "count", "long", "gap", "odd", "link"})
        table["routes"].push_back(
            {{"host", name + ".example.test"}, {"type", "static"}, {"root", name + "/v1"}});
    r.publish(table);
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-c")["version"] == "3"; }));
    auto ack = r.hash("berth:edge:edge-c");
    INFO(ack["files_error"]);
    CHECK(ack["missing_roots"] ==
          R"(["short/v1","count/v1","long/v1","gap/v1","odd/v1","link/v1"])");
    CHECK(ack["files_error"].find("short/v1: the archive is shorter than its announced size") !=
          std::string::npos);
    CHECK(ack["files_error"].find("count/v1: the archive's size or chunk count") !=
          std::string::npos);
    CHECK(ack["files_error"].find("long/v1: a chunk of the archive in redis is not valid") !=
          std::string::npos);
    CHECK(ack["files_error"].find("link/v1: " + edge.tree.path("deployments/link") +
                                  " is not a directory") != std::string::npos);
    CHECK(ack["files_error"].find("gap/v1") == std::string::npos);
    CHECK(ack["files_error"].find("odd/v1") == std::string::npos);
    CHECK(edge.proc->wait_for_stderr("files of odd/v1: redis answered WRONGTYPE"));
    CHECK(fs::is_empty(edge.tree.path("outside")));
    // Nothing of the refused ones is left: no root, no stage, no parent made for them.
    for (std::string name : {"short", "count", "long"})
        CHECK_FALSE(fs::exists(edge.tree.path("deployments/" + name)));
    // Once the archive is whole, a heartbeat fetches it.
    r.put_archive("gap/v1", tgz);
    CHECK(wait_until([&] { return edge.body("gap.example.test") == "chunked"; }));
    CHECK(read_file(edge.tree.path("deployments/gap/v1/data.txt")) == data);
    // The stages of the tries that found a chunk missing are gone too.
    CHECK(wait_until([&] {
        std::vector<std::string> names;
        for (const auto &e : fs::directory_iterator(edge.tree.path("deployments/gap")))
            names.push_back(e.path().filename().string());
        return names == std::vector<std::string>{"v1"};
    }));
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("a fleet edge fetches a large archive a chunk at a time with bounded memory",
          "[e2e][fleet]")
{
    FleetRig rig("edge-l");
    auto &[redis, r, edge] = rig;
    TempTree control_host;
    std::mt19937_64 random(5);
    std::string noise(48u << 20, '\0'); // does not compress: the archive is as large
    for (size_t i = 0; i + 8 <= noise.size(); i += 8) {
        uint64_t v = random();
        std::memcpy(&noise[i], &v, 8);
    }
    control_host.write("large/v1/noise.bin", noise);
    control_host.write("large/v1/index.html", "large");
    std::string tgz = berth::shared::pack_directory(control_host.path("large/v1"), 1ull << 30);
    REQUIRE(tgz.size() > noise.size());
    r.put_archive("large/v1", tgz, "", berth::shared::fleet::kArchiveChunkBytes);
    tgz.clear();
    r.publish(static_table(3, "site.example.test", "site/v1"));
    CHECK(wait_until([&] { return edge.body("site.example.test") == "one"; }));
    long before = peak_rss_kb(edge.proc->pid());
    r.publish(static_table(4, "large.example.test", "large/v1"));
    CHECK(wait_until([&] {
        auto ack = r.hash("berth:edge:edge-l");
        return ack["version"] == "4" && ack["missing_roots"] == "[]";
    }));
    long after = peak_rss_kb(edge.proc->pid());
    INFO("edge peak RSS " << before << " KiB -> " << after << " KiB for a " << (noise.size() >> 20)
                          << " MiB archive");
    if (kSanitized)
        WARN("peak RSS growth not checked in a sanitizer build: " << after - before << " KiB");
    else
        CHECK(after - before < 24 * 1024); // a whole archive in memory would be 48 MiB and more
    CHECK(edge.body("large.example.test") == "large");
    CHECK(read_file(edge.tree.path("deployments/large/v1/noise.bin")) == noise);
    CHECK(edge.fleet_stats()["files"]["fetched_bytes"].get<uint64_t>() > noise.size());
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("a rollback to a fetched root that is being removed fetches it again", "[e2e][fleet]")
{
    FleetRig rig("edge-r", "keep_fetched_ms = 100\n");
    auto &[redis, r, edge] = rig;
    TempTree control_host;
    for (int i = 0; i < 3000; ++i) // enough files that deleting them takes a while
        control_host.write("roll/v1/f" + std::to_string(i) + ".txt", "x");
    control_host.write("roll/v1/index.html", "rolled");
    r.put_archive("roll/v1", berth::shared::pack_directory(control_host.path("roll/v1"), 1 << 24));
    r.publish(static_table(3, "roll.example.test", "roll/v1"));
    CHECK(wait_until([&] { return edge.body("roll.example.test") == "rolled"; }));
    r.publish(static_table(4, "roll.example.test", "site/v1"));
    CHECK(wait_until([&] { return edge.body("roll.example.test") == "one"; }));
    // The sweep takes roll/v1 away; the table naming it comes back at once, while the
    // threadpool may still be deleting it. It must be found missing and fetched again, not
    // installed over a tree that is about to vanish.
    CHECK(wait_until([&] { return edge.fleet_stats()["files"]["removed"] == 1; }, 20000));
    r.publish(static_table(5, "roll.example.test", "roll/v1"));
    CHECK(wait_until([&] {
        auto ack = r.hash("berth:edge:edge-r");
        return ack["version"] == "5" && ack["missing_roots"] == "[]";
    }));
    CHECK(wait_until([&] { return edge.fleet_stats()["files"]["removing"] == 0; }));
    CHECK(edge.body("roll.example.test") == "rolled");
    CHECK(edge.fleet_stats()["files"]["fetched"] == 2);
    CHECK(fs::exists(edge.tree.path("deployments/roll/v1/f2999.txt")));
    auto moved_aside = [&] {
        std::vector<std::string> names;
        for (const auto &e : fs::directory_iterator(edge.tree.path("deployments")))
            if (e.path().filename().string().rfind(".berth-removing-", 0) == 0)
                names.push_back(e.path().filename().string());
        return names;
    };
    CHECK(moved_aside().empty());

    // Trees a stopped process moved aside and did not get to delete go at the next start;
    // one of a process still running is its own to delete.
    CHECK(edge.proc->stop() == 0);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    REQUIRE(dead > 0);
    waitpid(dead, nullptr, 0);
    std::string mine = ".berth-removing-" + std::to_string(getpid()) + "-1";
    edge.tree.write("deployments/.berth-removing-" + std::to_string(dead) + "-7/a/b.txt", "x");
    edge.tree.write("deployments/" + mine + "/c.txt", "x");
    edge.start();
    CHECK(wait_until([&] { return moved_aside() == std::vector<std::string>{mine}; }));
    CHECK(edge.body("roll.example.test") == "rolled");
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("an edge with fetch_files off leaves missing roots to the operator", "[e2e][fleet]")
{
    FleetRig rig("edge-n", "fetch_files = false\n");
    auto &[redis, r, edge] = rig;
    TempTree control_host;
    control_host.write("remote/v2/index.html", "fetched");
    r.put_archive("remote/v2",
                  berth::shared::pack_directory(control_host.path("remote/v2"), 1 << 20));
    r.publish(static_table(4, "site.example.test", "remote/v2"));
    CHECK(wait_until([&] { return r.hash("berth:edge:edge-n")["version"] == "4"; }));
    CHECK(r.hash("berth:edge:edge-n")["missing_roots"] == R"(["remote/v2"])");
    CHECK(edge.fleet_stats()["files"] == nullptr);
    CHECK_FALSE(fs::exists(edge.tree.path("deployments/remote")));
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("the flags --redis and --redis-name join a quick-mode edge to the fleet, bad ones "
          "exit 2",
          "[e2e][fleet]")
{
    RedisInstance redis("fleet-pw");
    Redis r(redis);
    TempTree tree;
    tree.write("deployments/site/v1/index.html", "one");
    EdgeProcess edge({"--listen", "127.0.0.1:0", "--deployments", tree.path("deployments"),
                      "--workers", "1", "--state-dir", tree.path("state"), "--redis",
                      "redis://:fleet-pw@127.0.0.1:" + std::to_string(redis.port()), "--redis-name",
                      "flagged"});
    r.publish(static_table(7, "site.example.test", "site/v1"));
    CHECK(wait_until([&] { return r.hash("berth:edge:flagged")["version"] == "7"; }));
    auto got = get(edge.port(), "site.example.test", "/");
    REQUIRE(got);
    CHECK(got->body == "one");
    CHECK(edge.stop() == 0);

    for (const std::string &bad :
         {std::string("--redis http://127.0.0.1:1"), std::string("--redis-name a:b")}) {
        ShellResult res = run_shell(edge_binary() + " --listen 127.0.0.1:0 --deployments " +
                                    tree.path("deployments") + " " + bad + " 2>&1");
        INFO(bad << ": " << res.out);
        CHECK(res.exit_code == 2);
        CHECK(res.out.find(bad.substr(0, bad.find(' '))) != std::string::npos);
    }
}

TEST_CASE("two edges given the same fleet name both say so", "[e2e][fleet]")
{
    RedisInstance redis("fleet-pw");
    Redis r(redis);
    FleetEdge one(redis, "fleet-pw", "twin"), two(redis, "fleet-pw", "twin");
    one.start();
    CHECK(wait_until([&] { return !r.hash("berth:edge:twin")["instance"].empty(); }));
    CHECK(one.fleet_stats()["name_clash"] == false);
    two.start();
    CHECK(wait_until([&] {
        return one.fleet_stats()["name_clash"] == true && two.fleet_stats()["name_clash"] == true;
    }));
    CHECK(one.proc->wait_for_stderr("another edge acknowledges as \"twin\" too"));
}

TEST_CASE("a fleet edge keeps serving while Redis is away and follows again when it returns",
          "[e2e][fleet]")
{
    RedisInstance redis("fleet-pw");
    Redis r(redis);
    FleetEdge edge(redis, "fleet-pw", "edge-b");
    redis.stop(); // down before the edge even starts
    edge.start(); // starts anyway: the edge never waits on the control plane
    CHECK(edge.body("site.example.test") == "status 404");
    CHECK(wait_until([&] { return !edge.fleet_stats()["last_error"].is_null(); }));
    CHECK(edge.fleet_stats()["connected"] == false);

    redis.start();
    r.publish(static_table(2, "site.example.test", "site/v1"));
    CHECK(wait_until([&] { return edge.body("site.example.test") == "one"; }));
    CHECK(edge.proc->wait_for_stderr("reachable again"));

    // Redis restarts empty (no persistence): the edge reconnects, serves what it has, and
    // takes the next table published.
    redis.stop();
    CHECK(wait_until([&] { return edge.fleet_stats()["connected"] == false; }));
    CHECK(edge.body("site.example.test") == "one");
    redis.start();
    CHECK(wait_until([&] { return edge.fleet_stats()["connected"] == true; }));
    r.publish(static_table(3, "site.example.test", "site/v2"));
    CHECK(wait_until([&] { return edge.body("site.example.test") == "two"; }));

    // Restarted, it serves its saved table at once, before Redis says anything.
    CHECK(edge.proc->stop() == 0);
    redis.stop();
    edge.start();
    CHECK(edge.body("site.example.test") == "two");
    CHECK(edge.proc->stop() == 0);
}

TEST_CASE("a fleet edge with the wrong Redis password says so and serves on", "[e2e][fleet]")
{
    RedisInstance redis("right-pw");
    FleetEdge edge(redis, "wrong-pw", "edge-c");
    edge.start();
    CHECK(edge.proc->wait_for_stderr("refused AUTH"));
    CHECK(edge.fleet_stats()["last_error"].get<std::string>().find("refused AUTH") !=
          std::string::npos);
    CHECK(edge.body("site.example.test") == "status 404");
    CHECK(edge.proc->stop() == 0);
}
