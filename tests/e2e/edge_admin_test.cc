// End-to-end: the operator admin socket (NDJSON) and the `berth-edge admin` client.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/e2e/edge_fixture.h"
#include "tests/support/admin_client.h"
#include "tests/support/shell_command.h"

using namespace berth::test;
using nlohmann::json;

namespace
{

struct AdminSite {
    TempTree tree;
    std::unique_ptr<EdgeProcess> edge;
    std::string socket;
    AdminSite()
    {
        tree.write("deployments/app/d-1/index.html", "<h1>d-1</h1>\n");
        tree.write("deployments/app/d-2/index.html", "<h1>d-2</h1>\n");
        socket = tree.path("run/admin.sock");
        start();
    }
    void start()
    {
        edge = std::make_unique<EdgeProcess>(std::vector<std::string>{
            "--listen", "127.0.0.1:0", "--deployments", tree.path("deployments"), "--workers", "2",
            "--admin-socket", socket, "--state-dir", tree.path("state")});
    }
};

std::string table(int version, const std::string &root)
{
    return R"({"version":)" + std::to_string(version) +
           R"(,"routes":[{"host":"app.example.test","type":"static","root":")" + root +
           R"(","spa":true}]})";
}

// Runs `berth-edge admin ...` and returns {exit code, stdout}.
std::pair<int, std::string> admin_cli(const std::string &args)
{
    ShellResult r = run_shell(edge_binary() + " admin " + args + " 2>&1");
    return {r.exit_code, r.out};
}

} // namespace

TEST_CASE("admin socket answers ping and stats, and is private to its owner", "[e2e][admin]")
{
    AdminSite s;
    struct stat st;
    REQUIRE(stat(s.socket.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    AdminConn admin(s.socket);
    CHECK(admin.call(R"({"cmd":"ping"})")["ok"] == true);
    REQUIRE(get(s.edge->port(), "nothing.test", "/"));
    json stats = admin.call(R"({"cmd":"stats"})");
    CHECK(stats["ok"] == true);
    CHECK(stats["workers"] == 2);
    CHECK(stats["requests"].get<uint64_t>() >= 1);
}

TEST_CASE("admin routes.put swaps the table atomically and refuses old versions", "[e2e][admin]")
{
    AdminSite s;
    AdminConn admin(s.socket);
    CHECK(get(s.edge->port(), "app.example.test", "/")->status == 404);
    json put = admin.call(R"({"cmd":"routes.put","table":)" + table(5, "app/d-1") + "}");
    CHECK(put["ok"] == true);
    // The reply comes once every worker serves the table: no connection sees the old one.
    for (int i = 0; i < 20; ++i)
        CHECK(get(s.edge->port(), "app.example.test", "/")->body == "<h1>d-1</h1>\n");
    json same = admin.call(R"({"cmd":"routes.put","table":)" + table(5, "app/d-2") + "}");
    CHECK(same["ok"] == false);
    CHECK(same["error"].get<std::string>().find("not above") != std::string::npos);
    CHECK(get(s.edge->port(), "app.example.test", "/")->body == "<h1>d-1</h1>\n");
    json escape = admin.call(R"({"cmd":"routes.put","table":)" + table(6, "../etc") + "}");
    CHECK(escape["ok"] == false);
    CHECK(escape["error"].get<std::string>().find("escapes") != std::string::npos);
    // Rollback is a route swap: a newer version pointing at another directory.
    CHECK(admin.call(R"({"cmd":"routes.put","table":)" + table(7, "app/d-2") + "}")["ok"] == true);
    CHECK(get(s.edge->port(), "app.example.test", "/deep/link")->body == "<h1>d-2</h1>\n");
    json got = admin.call(R"({"cmd":"routes.get"})");
    CHECK(got["version"] == 7);
    CHECK(got["table"]["routes"][0]["root"] == "app/d-2");
}

TEST_CASE("a pushed table survives a restart through state_dir", "[e2e][admin]")
{
    AdminSite s;
    {
        AdminConn admin(s.socket);
        REQUIRE(admin.call(R"({"cmd":"routes.put","table":)" + table(9, "app/d-2") + "}")["ok"] ==
                true);
    }
    CHECK(s.edge->stop() == 0);
    s.start();
    CHECK(get(s.edge->port(), "app.example.test", "/")->body == "<h1>d-2</h1>\n");
    AdminConn admin(s.socket);
    CHECK(admin.call(R"({"cmd":"routes.get"})")["version"] == 9);
}

TEST_CASE("a damaged saved table is set aside and the routes file served", "[e2e][admin]")
{
    TempTree tree;
    tree.write("deployments/app/d-1/index.html", "<h1>d-1</h1>\n");
    tree.write("deployments/app/d-2/index.html", "<h1>d-2</h1>\n");
    tree.write("routes.json", table(3, "app/d-1"));
    tree.write("state/routes.json", R"({"version": 99, "routes": [)"); // cut short by a crash
    EdgeProcess edge({"--listen", "127.0.0.1:0", "--deployments", tree.path("deployments"),
                      "--workers", "1", "--routes", tree.path("routes.json"), "--admin-socket",
                      tree.path("admin.sock"), "--state-dir", tree.path("state")});
    CHECK(must(get(edge.port(), "app.example.test", "/")).body == "<h1>d-1</h1>\n");
    CHECK(std::filesystem::exists(tree.path("state/routes.json.invalid")));
    // The next push is taken (the damaged version 99 no longer stands) and saved again.
    AdminConn admin(tree.path("admin.sock"));
    CHECK(admin.call(R"({"cmd":"routes.put","table":)" + table(4, "app/d-2") + "}")["ok"] == true);
    CHECK(must(get(edge.port(), "app.example.test", "/")).body == "<h1>d-2</h1>\n");
    CHECK(edge.stop() == 0);
    CHECK(json::parse(read_file(tree.path("state/routes.json")))["version"] == 4);
}

TEST_CASE("admin errors are precise and keep the connection usable", "[e2e][admin]")
{
    AdminSite s;
    AdminConn admin(s.socket);
    CHECK(admin.call("not json")["error"] == "request is not valid JSON");
    CHECK(admin.call("[1,2]")["ok"] == false);
    CHECK(admin.call(R"({"cmd":"fly"})")["error"] == "unknown command \"fly\"");
    CHECK(admin.call(R"({"cmd":"routes.put"})")["error"].get<std::string>().find("table") !=
          std::string::npos);
    CHECK(admin.call(R"({"cmd":"upstream.health","host":"a"})")["ok"] == false);
    CHECK(admin.call(R"({"cmd":"ping"})")["ok"] == true);
}

TEST_CASE("admin drain stops the edge gracefully with exit 0", "[e2e][admin]")
{
    AdminSite s;
    AdminConn admin(s.socket);
    CHECK(admin.call(R"({"cmd":"drain"})")["ok"] == true);
    CHECK(s.edge->wait_exit(10000) == 0);
    CHECK_FALSE(std::filesystem::exists(s.socket));
}

TEST_CASE("admin logs.reopen starts a new access log file after rotation", "[e2e][admin]")
{
    TempTree t;
    t.write("deployments/demo/index.html", "hi\n");
    std::string log = t.path("access.log");
    std::string conf = write_config(t, "edge.toml",
                                    "[log]\naccess = \"" + log + "\"\n[admin]\nsocket = \"" +
                                        t.path("a.sock") + "\"\n");
    EdgeProcess edge({"--config", conf, "--listen", "127.0.0.1:0", "--deployments",
                      t.path("deployments"), "--base-domain", "localhost", "--workers", "1"});
    REQUIRE(get(edge.port(), "demo.localhost", "/first"));
    std::filesystem::rename(log, log + ".1");
    AdminConn admin(t.path("a.sock"));
    CHECK(admin.call(R"({"cmd":"logs.reopen"})")["reopened"] == true);
    REQUIRE(get(edge.port(), "demo.localhost", "/second"));
    CHECK(edge.stop() == 0);
    std::ifstream fresh(log);
    std::string text((std::istreambuf_iterator<char>(fresh)), std::istreambuf_iterator<char>());
    // Lines still buffered at the rotation may land in either file; new requests go to the new one.
    CHECK(text.find("/second") != std::string::npos);
    CHECK(std::filesystem::exists(log + ".1"));
}

TEST_CASE("berth-edge admin client prints the reply and exits by its ok field", "[e2e][admin]")
{
    AdminSite s;
    auto [rc, out] = admin_cli("--socket " + s.socket + " ping");
    CHECK(rc == 0);
    CHECK(out.find("\"ok\":true") != std::string::npos);
    s.tree.write("table.json", table(11, "app/d-1"));
    auto [rc2, out2] =
        admin_cli("--socket " + s.socket + " routes.put @" + s.tree.path("table.json"));
    CHECK(rc2 == 0);
    CHECK(get(s.edge->port(), "app.example.test", "/")->body == "<h1>d-1</h1>\n");
    auto [rc3, out3] =
        admin_cli("--socket " + s.socket + " routes.put '" + table(11, "app/d-2") + "'");
    CHECK(rc3 == 1);
    // The request line itself, as the socket takes it.
    auto [rc5, out5] = admin_cli("--socket " + s.socket + " '{\"cmd\":\"stats\"}'");
    CHECK(rc5 == 0);
    CHECK(out5.find("\"routes_version\":11") != std::string::npos);
    auto [rc6, out6] = admin_cli("--socket " + s.socket + " '{\"command\":\"stats\"}'");
    CHECK(rc6 == 2);
    CHECK(out6.find("with a \"cmd\" string") != std::string::npos);
    auto [rc4, out4] = admin_cli("--socket " + s.tree.path("nope.sock") + " ping");
    CHECK(rc4 == 2);
    CHECK(out4.find("cannot connect") != std::string::npos);
    // Help without a running edge; a flag without its value is an error, not the default.
    for (const char *help : {"--help", "help", "-h"}) {
        auto [rc7, out7] = admin_cli("--socket " + s.tree.path("nope.sock") + " " + help);
        CHECK(rc7 == 0);
        CHECK(out7.find("usage: berth-edge admin") != std::string::npos);
    }
    auto [rc8, out8] = admin_cli("ping --socket");
    CHECK(rc8 == 2);
    CHECK(out8.find("--socket needs a value") != std::string::npos);
    auto [rc9, out9] = admin_cli("--socket " + s.socket);
    CHECK(rc9 == 2);
    CHECK(out9.find("no command given") != std::string::npos);
}

TEST_CASE("SIGHUP re-reads the routes file and reopens the access log, a bad file changes nothing",
          "[e2e][admin]")
{
    TempTree t;
    t.write("deployments/app/d-1/index.html", "<h1>d-1</h1>\n");
    t.write("deployments/app/d-2/index.html", "<h1>d-2</h1>\n");
    t.write("routes.json", table(1, "app/d-1"));
    std::string log = t.path("access.log");
    std::string conf = write_config(t, "edge.toml", "[log]\naccess = \"" + log + "\"\n");
    EdgeProcess edge({"--config", conf, "--listen", "127.0.0.1:0", "--deployments",
                      t.path("deployments"), "--routes", t.path("routes.json"), "--workers", "2"});
    CHECK(get(edge.port(), "app.example.test", "/")->body == "<h1>d-1</h1>\n");

    // logrotate's move-then-HUP, and a deploy that rewrote the routes file.
    std::filesystem::rename(log, log + ".1");
    t.write("routes.json", table(2, "app/d-2"));
    REQUIRE(kill(edge.pid(), SIGHUP) == 0);
    REQUIRE(edge.wait_for_stderr("route table version 2 from"));
    CHECK(edge.stderr_text().find("access log " + log + " reopened") != std::string::npos);
    for (int i = 0; i < 10; ++i) // both workers serve it
        CHECK(get(edge.port(), "app.example.test", "/after-hup")->body == "<h1>d-2</h1>\n");

    t.write("routes.json", table(3, "../outside"));
    REQUIRE(kill(edge.pid(), SIGHUP) == 0);
    REQUIRE(edge.wait_for_stderr("escapes"));
    CHECK(get(edge.port(), "app.example.test", "/")->body == "<h1>d-2</h1>\n");

    t.write("routes.json", table(2, "app/d-1"));
    REQUIRE(kill(edge.pid(), SIGHUP) == 0);
    REQUIRE(edge.wait_for_stderr("version 2 is not above the current version 2"));
    CHECK(edge.stderr_text().find("the current route table stays") != std::string::npos);
    CHECK(get(edge.port(), "app.example.test", "/")->body == "<h1>d-2</h1>\n");

    CHECK(edge.stop() == 0);
    std::ifstream fresh(log);
    std::string text((std::istreambuf_iterator<char>(fresh)), std::istreambuf_iterator<char>());
    CHECK(text.find("/after-hup") != std::string::npos);
}

TEST_CASE("SIGHUP in quick mode is harmless: the edge says so and keeps serving", "[e2e][admin]")
{
    AdminSite s;
    REQUIRE(kill(s.edge->pid(), SIGHUP) == 0);
    REQUIRE(s.edge->wait_for_stderr("no access log file or routes file to reload"));
    AdminConn admin(s.socket);
    CHECK(admin.call(R"({"cmd":"ping"})")["ok"] == true);
    CHECK(s.edge->stop() == 0);
}

TEST_CASE("responses leave in io_uring send batches, or one sendmsg each with io_uring = false",
          "[e2e][admin]")
{
    for (std::string mode : {"auto", "false"}) {
        INFO("--io-uring " << mode);
        TempTree t;
        t.write("deployments/app/index.html", "<h1>batched</h1>\n");
        std::string big(300 * 1024, 'b'); // above small_file_bytes: sendfile
        t.write("deployments/app/big.bin", big);
        std::string mid(200 * 1024, 'm'); // in memory, sent in pieces
        t.write("deployments/app/mid.bin", mid);
        std::string socket = t.path("run/admin.sock");
        EdgeProcess edge({"--listen", "127.0.0.1:0", "--deployments", t.path("deployments"),
                          "--base-domain", "test", "--workers", "1", "--admin-socket", socket,
                          "--io-uring", mode});
        RawClient c(edge.port());
        c.send("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"
               "GET /mid.bin HTTP/1.1\r\nHost: app.test\r\n\r\n"
               "GET /big.bin HTTP/1.1\r\nHost: app.test\r\n\r\n"
               "GET /gone.js HTTP/1.1\r\nHost: app.test\r\n\r\n"
               "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");
        CHECK(must(c.read_response()).body == "<h1>batched</h1>\n");
        CHECK(must(c.read_response()).body == mid);
        CHECK(must(c.read_response()).body == big);
        CHECK(must(c.read_response()).status == 404);
        CHECK(must(c.read_response()).body == "<h1>batched</h1>\n");
        CHECK(c.wait_closed());
        for (int i = 0; i < 3; ++i)
            CHECK(must(get(edge.port(), "app.test", "/")).body == "<h1>batched</h1>\n");
        // A send is counted once it has left, a moment after the client may have read it:
        // one more answer from the worker (one thread) means the three before are counted.
        CHECK(must(get(edge.port(), "app.test", "/")).status == 200);

        json stats = AdminConn(socket).call(R"({"cmd":"stats"})");
        std::string path = stats["send_path"].get<std::string>();
        uint64_t batched = stats["batched_sends"].get<uint64_t>();
        if (mode == "false") {
            CHECK(path == "sendmsg (io_uring = false)");
            CHECK(batched == 0);
        } else if (path == "io_uring") {
            // The pipelined five: the memory bodies in 32 KiB pieces up to the file (7), the
            // rest follows its sendfile directly; then one per single request (3).
            CHECK(batched >= 10);
        } else {
            WARN("io_uring is refused on this machine: " << path);
            CHECK(edge.stderr_text().find("berth-edge: sending with sendmsg") != std::string::npos);
        }
    }
}

TEST_CASE("io_uring takes true, false or auto, true fails at startup where it is refused",
          "[e2e][config]")
{
    auto [rc, err] = run_edge({"--listen", "127.0.0.1:0", "--io-uring", "sometimes"});
    CHECK(rc == 2);
    CHECK(err.find("--io-uring must be auto, true or false") != std::string::npos);

    TempTree t;
    t.write("edge.toml", "[edge]\nworkers = 1\nio_uring = 1\n");
    auto [rc2, err2] = run_edge({"--config", t.path("edge.toml"), "--listen", "127.0.0.1:0"});
    CHECK(rc2 == 2);
    CHECK(err2.find("edge.toml:3: io_uring must be true, false or \"auto\"") != std::string::npos);

    t.write("deployments/app/index.html", "ok\n");
    EdgeProcess probe({"--listen", "127.0.0.1:0", "--deployments", t.path("deployments"),
                       "--base-domain", "test", "--workers", "1"});
    bool refused = probe.stderr_text().find("sending with sendmsg") != std::string::npos;
    probe.stop();
    EdgeProcess forced({"--listen", "127.0.0.1:0", "--deployments", t.path("deployments"),
                        "--base-domain", "test", "--workers", "1", "--io-uring", "true"},
                       !refused);
    if (refused) {
        CHECK(forced.wait_exit() == 1);
        CHECK(forced.stderr_text().find("io_uring = true, but sendmsg (io_uring unavailable") !=
              std::string::npos);
    } else {
        auto r = get(forced.port(), "app.test", "/");
        REQUIRE(r);
        CHECK(r->body == "ok\n");
    }
}

TEST_CASE("a second edge on the admin socket of a running one refuses to start and leaves it be",
          "[e2e][admin]")
{
    AdminSite s;
    struct stat before;
    REQUIRE(stat(s.socket.c_str(), &before) == 0);
    auto [rc, err] = run_edge({"--listen", "127.0.0.1:0", "--deployments",
                               s.tree.path("deployments"), "--workers", "1", "--admin-socket",
                               s.socket, "--state-dir", s.tree.path("state2")});
    CHECK(err.find("admin socket " + s.socket + " is in use by a running edge") !=
          std::string::npos);
    // The socket file is still the first edge's, and it still takes route tables.
    struct stat after;
    REQUIRE(stat(s.socket.c_str(), &after) == 0);
    CHECK(after.st_ino == before.st_ino);
    AdminConn admin(s.socket);
    CHECK(admin.call(R"({"cmd":"routes.put","table":)" + table(3, "app/d-2") + "}")["ok"] == true);
    CHECK(must(get(s.edge->port(), "app.example.test", "/")).body == "<h1>d-2</h1>\n");
    // Like every startup error: exit 1, and no "listening on" line.
    CHECK(rc == 1);
    CHECK(err.find("listening on") == std::string::npos);
}
