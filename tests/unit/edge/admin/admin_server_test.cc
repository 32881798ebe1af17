// AdminServer: a 0600 unix socket, one reply line per request line and in order (even when
// lines arrive split or several in one read), precise errors for bad lines, a handler's
// exception turned into an error reply, and a stale socket file replaced.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <uv.h>

#include "edge/admin/admin_server.h"
#include "tests/support/temp_tree.h"

using namespace berth::edge;
using berth::test::TempTree;
using nlohmann::json;

namespace
{

// The server on its own loop thread, stopped through an async handle.
struct Running {
    uv_loop_t loop;
    uv_async_t stop;
    std::unique_ptr<AdminServer> server;
    std::thread thread;
    std::atomic<int> handled{0};

    explicit Running(const std::string &path)
    {
        uv_loop_init(&loop);
        server = std::make_unique<AdminServer>(&loop, [this](const auto &cmd) {
            ++handled;
            if (cmd.cmd == "stats") throw std::runtime_error("boom");
            return berth::shared::admin::ok_reply({{"echo", cmd.cmd}});
        });
        server->listen(path);
        stop.data = this;
        uv_async_init(&loop, &stop, [](uv_async_t *a) {
            auto *self = static_cast<Running *>(a->data);
            self->server->close();
            uv_close(reinterpret_cast<uv_handle_t *>(&self->stop), nullptr);
        });
        thread = std::thread([this] { uv_run(&loop, UV_RUN_DEFAULT); });
    }
    ~Running()
    {
        uv_async_send(&stop);
        thread.join();
        server.reset();
        uv_loop_close(&loop);
    }
};

int connect_to(const std::string &path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

// Reads until `lines` newline-terminated lines have arrived.
std::vector<json> read_lines(int fd, size_t lines)
{
    std::string buf;
    std::vector<json> out;
    char chunk[4096];
    while (out.size() < lines) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        REQUIRE(n > 0);
        buf.append(chunk, size_t(n));
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
            out.push_back(json::parse(buf.substr(0, nl)));
            buf.erase(0, nl + 1);
        }
    }
    return out;
}

// The inode of the file at `path`, 0 when there is none.
ino_t inode_of(const std::string &path)
{
    struct stat st;
    return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A ping on a fresh connection to `path` gets an ok reply.
bool answers_ping(const std::string &path)
{
    int fd = connect_to(path);
    bool ok = ::write(fd, "{\"cmd\":\"ping\"}\n", 15) == 15 && read_lines(fd, 1)[0]["ok"] == true;
    ::close(fd);
    return ok;
}

} // namespace

TEST_CASE("admin socket answers each line in order, split or batched", "[admin]")
{
    TempTree t;
    std::string path = t.path("admin.sock");
    Running r(path);
    struct stat st;
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    int fd = connect_to(path);
    std::string two = "{\"cmd\":\"ping\"}\n{\"cmd\":\"drain\"}\n{\"cmd\":\"rou";
    REQUIRE(::write(fd, two.data(), two.size()) == ssize_t(two.size()));
    std::string rest = "tes.get\"}\n";
    REQUIRE(::write(fd, rest.data(), rest.size()) == ssize_t(rest.size()));
    auto replies = read_lines(fd, 3);
    CHECK(replies[0]["echo"] == "ping");
    CHECK(replies[1]["echo"] == "drain");
    CHECK(replies[2]["echo"] == "routes.get");
    for (auto &reply : replies)
        CHECK(reply["ok"] == true);
    ::close(fd);
}

TEST_CASE("admin socket refuses bad lines precisely and survives a throwing handler", "[admin]")
{
    TempTree t;
    std::string path = t.path("admin.sock");
    Running r(path);
    int fd = connect_to(path);
    std::string lines =
        "not json\n{\"cmd\":\"nope\"}\n[1]\n{\"cmd\":\"stats\"}\n{\"cmd\":\"ping\"}\n";
    REQUIRE(::write(fd, lines.data(), lines.size()) == ssize_t(lines.size()));
    auto replies = read_lines(fd, 5);
    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        CHECK(replies[size_t(i)]["ok"] == false);
        CHECK_FALSE(replies[size_t(i)]["error"].get<std::string>().empty());
    }
    CHECK(replies[3]["error"].get<std::string>().find("boom") != std::string::npos);
    CHECK(replies[4]["ok"] == true);
    CHECK(r.handled == 2); // the bad lines never reached the handler
    ::close(fd);
}

TEST_CASE("admin socket replaces a stale socket file but not another file", "[admin]")
{
    TempTree t;
    std::string path = t.path("admin.sock");
    {
        Running first(path);
    }
    // A socket file left behind (a crash) is replaced.
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    REQUIRE(bind(stale, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
    ::close(stale);
    {
        Running second(path);
        CHECK(answers_ping(path));
    }
    // A regular file at the path is an operator's mistake: refused, not deleted.
    t.write("admin.sock", "keep me");
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        AdminServer s(&loop, [](const auto &) { return std::string(); });
        CHECK_THROWS_WITH(s.listen(path), Catch::Contains("exists and is not a socket"));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    struct stat st;
    CHECK(stat(path.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
}

TEST_CASE("admin socket refuses a path another server still answers on", "[admin]")
{
    TempTree t;
    std::string path = t.path("admin.sock");
    Running first(path);
    ino_t before = inode_of(path);
    REQUIRE(before != 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        AdminServer second(&loop, [](const auto &) { return std::string(); });
        CHECK_THROWS_WITH(second.listen(path),
                          "admin socket " + path + " is in use by a running edge");
        second.close();
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    // The first server's socket is the same file and still answers.
    CHECK(inode_of(path) == before);
    CHECK(answers_ping(path));
}

TEST_CASE("admin socket removes its file on close only while the file is still its own", "[admin]")
{
    TempTree t;
    std::string path = t.path("admin.sock");
    auto first = std::make_unique<Running>(path);
    // Someone removed the first server's file and a second server bound the path.
    REQUIRE(unlink(path.c_str()) == 0);
    Running second(path);
    ino_t seconds = inode_of(path);
    REQUIRE(seconds != 0);
    first.reset(); // closes the first server: the file is the second's, and stays
    CHECK(inode_of(path) == seconds);
    CHECK(answers_ping(path));
}

TEST_CASE("admin socket removes its own file on close", "[admin]")
{
    TempTree t;
    std::string path = t.path("admin.sock");
    {
        Running r(path);
    }
    CHECK(inode_of(path) == 0);
}
