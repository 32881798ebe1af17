// The shared admin client against real unix sockets: replies in order, clear errors, and a
// total timeout when the other side stays silent (#12).
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "shared/admin/admin_client.h"
#include "tests/support/temp_tree.h"

using berth::shared::admin::AdminClient;
using berth::shared::admin::AdminError;

namespace
{

// A one-connection server on a unix socket: reads lines and answers with reply(line); an
// empty answer means "stay silent".
class LineServer
{
public:
    LineServer(std::string path, std::function<std::string(const std::string &)> reply)
        : path_(std::move(path)), reply_(std::move(reply))
    {
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
        REQUIRE(bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
        REQUIRE(listen(fd_, 4) == 0);
        thread_ = std::thread([this] {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::string buf;
            char tmp[4096];
            ssize_t n;
            while ((n = read(c, tmp, sizeof tmp)) > 0) {
                buf.append(tmp, size_t(n));
                size_t nl;
                while ((nl = buf.find('\n')) != std::string::npos) {
                    std::string out = reply_(buf.substr(0, nl));
                    buf.erase(0, nl + 1);
                    if (out == "close") {
                        close(c);
                        return;
                    }
                    if (!out.empty()) (void)!write(c, out.data(), out.size());
                }
            }
            close(c);
        });
    }
    ~LineServer()
    {
        shutdown(fd_, SHUT_RDWR);
        close(fd_);
        thread_.join();
    }

private:
    std::string path_;
    std::function<std::string(const std::string &)> reply_;
    int fd_ = -1;
    std::thread thread_;
};

std::string error_of(const std::function<void()> &fn)
{
    try {
        fn();
    } catch (const AdminError &e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("admin client sends lines and reads one reply per request", "[shared][admin]")
{
    berth::test::TempTree tree;
    std::string sock = tree.path("a.sock");
    LineServer server(sock, [](const std::string &line) {
        return line == R"({"cmd":"ping"})" ? std::string("{\"ok\":true,\"pong\":true}\n")
                                           : std::string("{\"ok\":false,\"error\":\"no\"}\n");
    });
    AdminClient c(sock, 5000);
    CHECK(c.call({{"cmd", "ping"}})["pong"] == true);
    CHECK(c.call_line(R"({"cmd":"x"})") == R"({"ok":false,"error":"no"})");
    CHECK(c.call({{"cmd", "ping"}})["ok"] == true); // the connection is reused
    CHECK(error_of([&] { c.call_line("two\nlines"); }).find("must be one line") !=
          std::string::npos);
}

TEST_CASE("admin client errors name the socket and the cause", "[shared][admin]")
{
    berth::test::TempTree tree;
    std::string missing = tree.path("missing.sock");
    CHECK(error_of([&] { AdminClient(missing, 1000); }) ==
          "admin socket " + missing +
              ": cannot connect: No such file or directory (is the edge running?)");
    CHECK(error_of([&] {
              AdminClient("/" + std::string(200, 'x'), 1000);
          }).find("the path must be 1 to") != std::string::npos);

    std::string silent = tree.path("silent.sock");
    LineServer server(silent, [](const std::string &) { return std::string(); });
    AdminClient c(silent, 300);
    CHECK(error_of([&] { c.call_line(R"({"cmd":"ping"})"); }) ==
          "admin socket " + silent + ": timed out after 300 ms waiting for a reply");
    // After an error the connection is closed for good.
    CHECK(error_of([&] { c.call_line(R"({"cmd":"ping"})"); }).find("the connection is closed") !=
          std::string::npos);
}

TEST_CASE("admin client reports a closed connection and a reply that is not JSON",
          "[shared][admin]")
{
    berth::test::TempTree tree;
    std::string sock = tree.path("b.sock");
    LineServer server(sock, [](const std::string &line) {
        return line == "\"bad\"" ? std::string("not json\n") : std::string("close");
    });
    AdminClient c(sock, 5000);
    CHECK(error_of([&] { c.call(nlohmann::json("bad")); }) ==
          "admin socket " + sock + ": the reply is not a JSON object");
    CHECK(error_of([&] { c.call_line("x"); }) ==
          "admin socket " + sock + ": the edge closed the connection before replying");
}
