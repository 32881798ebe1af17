// Issue 15, SSRF "for real": the repository host is resolved once, every address is checked,
// and the clone connects only to the checked address. Real loopback listeners, a real git
// daemon, libgit2 and the real berth-control binary.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "control/pipeline/connect_proxy.h"
#include "control/pipeline/git_checkout.h"
#include "control/pipeline/repo_url.h"
#include "tests/control/support/control_env.h"

using namespace berth::test;
using namespace berth::control;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

// Accepts on a loopback port (IPv4, and IPv6 when the host has it), counts connections and
// keeps the first bytes of each; answers nothing.
class Listener
{
public:
    Listener()
    {
        fds_[0] = bind_on(AF_INET, 0);
        fds_[1] = bind_on(AF_INET6, port_);
        thread_ = std::thread([this] { run(); });
    }
    ~Listener()
    {
        stop_ = true;
        thread_.join();
        for (int fd : fds_)
            if (fd >= 0) close(fd);
    }
    int port() const { return port_; }
    bool has_v6() const { return fds_[1] >= 0; }
    int connections() const { return count_.load(); }
    std::string first_bytes()
    {
        std::lock_guard lock(mu_);
        return first_;
    }

private:
    int bind_on(int family, int port)
    {
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_storage ss{};
        socklen_t len;
        if (family == AF_INET) {
            auto *a = reinterpret_cast<sockaddr_in *>(&ss);
            a->sin_family = AF_INET;
            a->sin_port = htons(uint16_t(port));
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            len = sizeof *a;
        } else {
            auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(uint16_t(port));
            a->sin6_addr = in6addr_loopback;
            int one = 1;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            len = sizeof *a;
        }
        if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0 ||
            listen(fd, 16) != 0) {
            if (fd >= 0) close(fd);
            return -1;
        }
        getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len);
        if (family == AF_INET) port_ = ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
        return fd;
    }
    void run()
    {
        while (!stop_) {
            pollfd p[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
            if (poll(p, 2, 50) <= 0) continue;
            for (auto &pf : p) {
                if (!(pf.revents & POLLIN)) continue;
                int c = accept(pf.fd, nullptr, nullptr);
                if (c < 0) continue;
                ++count_;
                pollfd r{c, POLLIN, 0};
                char buf[64];
                ssize_t n = poll(&r, 1, 2000) == 1 ? recv(c, buf, sizeof buf, 0) : 0;
                if (n > 0) {
                    std::lock_guard lock(mu_);
                    if (first_.empty()) first_.assign(buf, size_t(n));
                }
                close(c);
            }
        }
    }
    int fds_[2] = {-1, -1};
    int port_ = 0;
    std::atomic<int> count_{0};
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::string first_;
    std::thread thread_;
};

json deploy(HttpClient &c, const std::string &token, const std::string &project,
            const std::string &name, const std::string &url)
{
    std::string sid = create_service(c, token, project, name, {{"repo_url", url}})["id"];
    return wait_deployment(c, token, trigger_deployment(c, token, sid));
}

} // namespace

TEST_CASE("repository URLs parse into scheme, host and port, nothing interpreted",
          "[control][ssrf]")
{
    std::string e;
    auto u = parse_repo_url("https://user:tok@Git.Example.com:8443/org/app.git", e);
    REQUIRE(u);
    CHECK(u->scheme == "https");
    CHECK(u->userinfo == "user:tok");
    CHECK(u->host == "git.example.com");
    CHECK(u->port == 8443);
    CHECK(u->rest == "/org/app.git");
    CHECK(u->authority() == "git.example.com:8443");
    u = parse_repo_url("git://[::1]:9418/x.git", e);
    REQUIRE(u);
    CHECK(u->host == "::1");
    CHECK(u->ipv6_literal);
    CHECK(u->authority() == "[::1]:9418");
    CHECK(u->with_host("127.0.0.1", false) == "git://127.0.0.1:9418/x.git");
    CHECK(parse_repo_url("https://2130706433/", e)->host == "2130706433"); // for the resolver
    CHECK(parse_repo_url("https://h/x", e)->port == 443);
    CHECK(parse_repo_url("git://h/x", e)->port == 9418);
    CHECK(!parse_repo_url("http://h/x", e));
    CHECK(!parse_repo_url("ssh://h/x", e));
    CHECK(!parse_repo_url("https://h:0/x", e));
    CHECK(!parse_repo_url("https://h:99999/x", e));
    CHECK(!parse_repo_url("https://[::1/x", e));
    CHECK(!parse_repo_url("https://h o/x", e));
    CHECK(!parse_repo_url("https:///x", e));
    CHECK(!parse_repo_url("https://a%2fb/x", e));
}

// Before #15: every one of these reached the loopback listener (the check compared strings and
// never resolved), and its different error texts told which ports answered.
TEST_CASE("loopback in any spelling is refused with one message and never connected to",
          "[control][ssrf]")
{
    Listener listener;
    int closed = free_loopback_port();
    ControlEnv env;
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("mallory");
    std::string project = create_project(*c, token, "p")["id"];
    std::string p = std::to_string(listener.port());
    std::vector<std::string> urls = {"https://2130706433:" + p + "/x.git",
                                     "https://0x7f.1:" + p + "/x.git",
                                     "https://127.1:" + p + "/x.git",
                                     "https://[::ffff:127.0.0.1]:" + p + "/x.git",
                                     "https://localhost:" + p + "/x.git",
                                     "https://127.0.0.1:" + p + "/x.git",
                                     "https://127.0.0.1:" + std::to_string(closed) + "/x.git",
                                     "https://169.254.169.254/latest/x.git",
                                     "https://10.1.2.3/x.git",
                                     "https://0.0.0.0:" + p + "/x.git"};
    if (listener.has_v6()) {
        urls.push_back("https://[::1]:" + p + "/x.git");
        urls.push_back("git://[::1]:" + p + "/x.git");
    }
    int i = 0;
    for (const auto &url : urls) {
        INFO(url);
        json dep = deploy(*c, token, project, "s" + std::to_string(i++), url);
        CHECK(dep["status"] == "FAILED");
        CHECK(dep["error_message"] == std::string("BUILD_FAILED: ") + kRepoRefused);
    }
    CHECK(listener.connections() == 0);
}

TEST_CASE("an allowed range admits a clone, pinned to the checked address", "[control][ssrf]")
{
    // A real git daemon on loopback; the range 127.0.0.0/8 is allow-listed.
    ControlEnv env;
    std::string base = env.dir + "/git";
    make_git_repo(base + "/site", {{"index.html", "over git://"}});
    int port = free_loopback_port();
    pid_t daemon = fork();
    if (daemon == 0) {
        execlp("git", "git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
               ("--port=" + std::to_string(port)).c_str(), ("--base-path=" + base).c_str(),
               base.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    struct Reap {
        pid_t pid;
        ~Reap()
        {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    } reap{daemon};
    REQUIRE(wait_until([&] { return loopback_port_accepts(port); }));
    env.options().security_toml = "allowed_repo_hosts = [\"127.0.0.0/8\"]\n";
    env.write_config();
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string project = create_project(*c, token, "p")["id"];
    std::string p = std::to_string(port);
    CHECK(deploy(*c, token, project, "plain", "git://127.0.0.1:" + p + "/site")["status"] ==
          "ACTIVE");
    // The numeric spelling resolves into the allowed range, and is what gets connected to.
    json dep = deploy(*c, token, project, "numeric", "git://2130706433:" + p + "/site");
    CHECK(dep["status"] == "ACTIVE");
    CHECK(std::ifstream(env.deployments_root() + "/numeric/" + dep["id"].get<std::string>() +
                        "/index.html")
              .good());
}

TEST_CASE("repository URLs in logs hide their credentials", "[control][ssrf]")
{
    CHECK(redacted_repo_url("https://user:tok@github.com/o/r.git") ==
          "https://user:***@github.com/o/r.git");
    CHECK(redacted_repo_url("https://ghp_token@github.com/o/r.git") ==
          "https://***@github.com/o/r.git");
    CHECK(redacted_repo_url("https://a:b@c@host:8443") == "https://a:***@host:8443");
    CHECK(redacted_repo_url("https://github.com/o/r@v1.git") == "https://github.com/o/r@v1.git");
    CHECK(redacted_repo_url("file:///srv/repo") == "file:///srv/repo");
    CHECK(redacted_repo_url("not a url") == "not a url");
}

TEST_CASE("the clone proxy tunnels only to the checked address", "[control][ssrf]")
{
    Listener target;
    IpAddr loopback = *parse_ip("127.0.0.1");
    ConnectProxy proxy("git.example.test:443", loopback, uint16_t(target.port()));
    auto exchange = [&](const std::string &request) {
        RawClient c(std::stoi(proxy.url().substr(proxy.url().rfind(':') + 1)));
        c.send(request);
        auto r = c.read_response(true);
        if (r && r->status == 200) c.send("hello through the tunnel");
        return r ? r->status : 0;
    };
    CHECK(exchange("CONNECT internal.example.test:443 HTTP/1.1\r\n\r\n") == 403);
    CHECK(exchange("GET http://git.example.test/ HTTP/1.1\r\n\r\n") == 403);
    CHECK(proxy.refused() == 2);
    CHECK(target.connections() == 0);
    // The name is never resolved: the tunnel goes to the address the screen checked.
    CHECK(exchange("CONNECT Git.Example.Test:443 HTTP/1.1\r\nHost: x\r\n\r\n") == 200);
    CHECK(wait_until([&] { return target.first_bytes() == "hello through the tunnel"; }, 5000));
    CHECK(proxy.tunnels() == 1);
}

TEST_CASE("an https clone connects through the pinned proxy, never by the name", "[control][ssrf]")
{
    GitLibrary git;
    Listener target;
    std::string e;
    // A name that cannot resolve: reaching the listener at all means libgit2 went through the
    // proxy, which connects to the screened address.
    ScreenedRepo repo{
        *parse_repo_url("https://pinned.invalid:" + std::to_string(target.port()) + "/x.git", e),
        *parse_ip("127.0.0.1")};
    std::string dir = make_temp_dir("berth-clone");
    fs::remove_all(dir);
    CHECK_THROWS(clone_checkout(repo, "main", "", dir)); // the listener speaks no TLS
    CHECK(target.connections() >= 1);
    CHECK(!target.first_bytes().empty());
    CHECK(target.first_bytes()[0] == '\x16'); // a TLS ClientHello, through the tunnel
    remove_tree(dir);
}
