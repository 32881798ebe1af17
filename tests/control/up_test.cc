// scripts/up.sh as a new user runs it (#15): the whole platform from one command, a local
// repository deployed through the API and served by the edge at <service>.localhost with no
// config edits, the demo deployment answering, and Ctrl-C stopping everything.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/control/support/control_env.h"
#include "tests/support/http_client.h"

using namespace berth::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

// up.sh in its own process group, like a shell job: Ctrl-C is SIGINT to that group.
struct UpScript {
    std::string state, log;
    int pg = free_loopback_port(), redis = free_loopback_port(), api = free_loopback_port(),
        edge = free_loopback_port();
    pid_t pid = -1;
    int status = -1;

    UpScript()
    {
        state = make_temp_dir("berth-up");
        chmod(state.c_str(), 0711); // PostgreSQL runs as the postgres user under root
        log = state + "/up.log";
        pid = fork();
        if (pid == 0) {
            setpgid(0, 0);
            int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 1);
            dup2(fd, 2);
            setenv("BERTH_STATE_DIR", (state + "/.berth").c_str(), 1);
            setenv("BERTH_PG_PORT", std::to_string(pg).c_str(), 1);
            setenv("BERTH_REDIS_PORT", std::to_string(redis).c_str(), 1);
            setenv("BERTH_API_LISTEN", ("127.0.0.1:" + std::to_string(api)).c_str(), 1);
            setenv("BERTH_EDGE_LISTEN", ("127.0.0.1:" + std::to_string(edge)).c_str(), 1);
            setenv("BERTH_BUILD_DIR", BERTH_BINARY_DIR, 1);
            std::string script = std::string(BERTH_SOURCE_DIR) + "/scripts/up.sh";
            execl("/bin/bash", "bash", script.c_str(), static_cast<char *>(nullptr));
            _exit(127);
        }
        setpgid(pid, pid);
    }
    // Ctrl-C; true when up.sh exited within the deadline.
    bool interrupt(int timeout_ms = 60000)
    {
        kill(-pid, SIGINT);
        return wait_until(
            [&] {
                int st = 0;
                if (waitpid(pid, &st, WNOHANG) != pid) return false;
                status = st;
                pid = -1;
                return true;
            },
            timeout_ms);
    }
    ~UpScript()
    {
        if (pid > 0 && !interrupt()) {
            kill(-pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        remove_tree(state);
    }
};

} // namespace

TEST_CASE("scripts/up.sh runs the platform: a local repository deploys and is served",
          "[control][up]")
{
    UpScript up;
    bool ready = wait_until(
        [&] {
            std::string text = slurp(up.log);
            return text.find("[control] berth-control: listening on") != std::string::npos &&
                   text.find("[edge] ") != std::string::npos && loopback_port_accepts(up.edge);
        },
        90000);
    INFO(slurp(up.log));
    REQUIRE(ready);

    // The README's walkthrough: a token, a project, a service on a local repository, a deploy.
    std::string config = up.state + "/.berth/control.toml";
    std::string out = up.state + "/token.out";
    REQUIRE(std::system((std::string(BERTH_BINARY_DIR) + "/bin/berth-control --config " + config +
                         " token create --user alice > " + out)
                            .c_str()) == 0);
    std::string token = slurp(out);
    while (!token.empty() && token.back() == '\n')
        token.pop_back();
    token = token.substr(token.rfind('\n') + 1);
    std::string repo = up.state + "/mysite";
    make_git_repo(repo, {{"index.html", "my first site\n"}});
    HttpClient c(up.api);
    std::string project = create_project(c, token, "first")["id"];
    std::string sid =
        create_service(c, token, project, "mysite", {{"repo_url", "file://" + repo}})["id"];
    json dep = wait_deployment(c, token, trigger_deployment(c, token, sid));
    INFO(dep.dump());
    REQUIRE(dep["status"] == "ACTIVE");
    // ACTIVE only after a real request through the edge of the shipped configs (#16).
    CHECK(dep["pipeline_stages"].back()["detail"] ==
          "GET / via 127.0.0.1:" + std::to_string(up.edge) + ": 200");
    auto r = get(up.edge, "mysite.localhost", "/");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "my first site\n");
    auto demo = get(up.edge, "demo.localhost", "/");
    REQUIRE(demo);
    CHECK(demo->status == 200);

    // Builds run users' code with network access: the platform's PostgreSQL and Redis let no
    // one in on loopback without the passwords services.sh made (0600, in the state dir).
    std::string pg = std::to_string(up.pg), redis = std::to_string(up.redis);
    CHECK(std::system(("PGPASSFILE=/dev/null psql -w -h 127.0.0.1 -p " + pg +
                       " -U berth -d berth -c 'SELECT 1' >/dev/null 2>&1")
                          .c_str()) != 0);
    CHECK(std::system(("PGPASSFILE=/dev/null psql -w -h " + up.state + "/.berth/pg -p " + pg +
                       " -U berth -d berth -c 'SELECT 1' >/dev/null 2>&1")
                          .c_str()) != 0);
    std::string noauth = up.state + "/redis.out";
    std::system(("redis-cli -p " + redis + " get x > " + noauth + " 2>&1").c_str());
    CHECK(slurp(noauth).find("NOAUTH") != std::string::npos);
    CHECK((fs::status(up.state + "/.berth/pg.password").permissions() & fs::perms::others_read) ==
          fs::perms::none);

    REQUIRE(up.interrupt());
    CHECK(slurp(up.log).find("up.sh: stopped") != std::string::npos);
    for (int port : {up.api, up.edge, up.pg, up.redis}) {
        INFO("port " << port);
        CHECK_FALSE(loopback_port_accepts(port));
    }
}
