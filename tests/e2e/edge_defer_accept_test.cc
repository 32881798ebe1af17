// End-to-end: [edge] defer_accept = "auto" (defer_accept_policy.h). Under a storm of new
// connections the listener asks the kernel to hold a connection until its first bytes; on a
// quiet edge every connection is accepted at once. The kernel's own view of the server side
// tells which: a held connection stays SYN_RECV, an accepted-or-acceptable one ESTABLISHED.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>

#include "tests/e2e/edge_fixture.h"
#include "tests/support/admin_client.h"
#include "tests/support/test_certs.h"

using namespace berth::test;

namespace
{

constexpr const char *kEstablished = "01";
constexpr const char *kSynRecv = "03";

// The state of the server end of c's connection in /proc/net/tcp ("" when not listed).
std::string server_side_state(int server_port, const RawClient &c)
{
    sockaddr_in self{};
    socklen_t len = sizeof self;
    REQUIRE(getsockname(c.fd(), reinterpret_cast<sockaddr *>(&self), &len) == 0);
    char local[8], remote[8];
    std::snprintf(local, sizeof local, ":%04X", server_port);
    std::snprintf(remote, sizeof remote, ":%04X", unsigned(ntohs(self.sin_port)));
    auto ends_with = [](const std::string &s, const char *tail) {
        std::string t(tail);
        return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
    };
    std::ifstream in("/proc/net/tcp");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, loc, rem, state;
        fields >> slot >> loc >> rem >> state;
        if (ends_with(loc, local) && ends_with(rem, remote)) return state;
    }
    return "";
}

// Polls until the server end of c reaches `state` (the handshake's last ACK may still be in
// flight right after connect()).
bool server_side_reaches(int server_port, const RawClient &c, const char *state)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        if (server_side_state(server_port, c) == state) return true;
        std::this_thread::yield();
    }
    return false;
}

uint64_t deferring_workers(AdminConn &admin)
{
    auto stats = admin.call(R"({"cmd":"stats"})");
    REQUIRE(stats["ok"] == true);
    return stats["defer_accept_workers"].get<uint64_t>();
}

bool wait_deferring(AdminConn &admin, uint64_t want)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (deferring_workers(admin) == want) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // the edge's tick decides
    }
    return false;
}

constexpr const char *kGetRoot = "GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n";

} // namespace

TEST_CASE("defer_accept auto holds silent connections in the kernel only during a storm",
          "[e2e][limits]")
{
    if (e2e_over_tls()) {
        WARN("skipped over TLS: a TLS client is never silent: it sends its hello at once");
        return;
    }
    TempTree tree;
    tree.write("deployments/demo/index.html", "<h1>hi</h1>\n");
    std::string conf = write_config(tree, "edge.toml",
                                    "[edge]\ndefer_accept = \"auto\"\ndefer_accept_rate = 40\n"
                                    "[limits]\nheader_timeout_ms = 400\n");
    std::string socket = tree.path("admin.sock");
    EdgeProcess edge({"--config", conf, "--listen", "127.0.0.1:0", "--deployments",
                      tree.path("deployments"), "--base-domain", "localhost", "--workers", "1",
                      "--admin-socket", socket});
    AdminConn admin(socket);

    // Quiet: a silent connection is accepted (and counted) at once.
    CHECK(deferring_workers(admin) == 0);
    {
        RawClient quiet(edge.port());
        CHECK(server_side_reaches(edge.port(), quiet, kEstablished));
    }

    // A storm of new connections, each with a request, well above 40 per second.
    std::atomic<bool> stop{false};
    std::atomic<int> served{0};
    std::thread storm([&] {
        while (!stop.load()) {
            auto r = get(edge.port(), "demo.localhost", "/");
            if (r && r->status == 200) served.fetch_add(1);
        }
    });
    bool deferring = wait_deferring(admin, 1);
    CHECK(deferring);
    if (deferring) {
        // A silent connection now waits in the kernel, half-open from the server's side...
        RawClient held(edge.port());
        CHECK(server_side_state(edge.port(), held) == kSynRecv);
        // ...and its first bytes bring it to the edge, which answers it.
        held.send(kGetRoot);
        auto r = held.read_response();
        REQUIRE(r);
        CHECK(r->status == 200);
    }
    stop.store(true);
    storm.join();
    CHECK(served.load() > 0);

    // Quiet again: back to accepting at once.
    CHECK(wait_deferring(admin, 0));
    RawClient after(edge.port());
    CHECK(server_side_reaches(edge.port(), after, kEstablished));
    auto r = get(edge.port(), "demo.localhost", "/");
    REQUIRE(r);
    CHECK(r->status == 200);
}
