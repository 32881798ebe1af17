// A whole control plane for e2e tests: throwaway PostgreSQL and Redis, a config file, the
// real berth-control binary (migrate, token create, serve on 127.0.0.1:0), HTTP clients.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "tests/support/http_client.h"
#include "tests/support/pg_instance.h"
#include "tests/support/redis_instance.h"

namespace berth::test
{

struct CommandResult {
    int exit_code = -1;
    std::string out, err;
};

struct ControlOptions {
    int trigger_per_minute = 1000; // tests of the throttle itself lower these
    int trigger_per_hour = 100000;
    int workers = 1; // 0: no pipeline (the API alone)
    int visibility_timeout_s = 300;
    int recover_queued_after_s = 30;
    int idle_timeout_ms = 60000;
    int keep_deployments = 5;
    int max_streams = 16;          // [api] max_streams
    uint64_t max_upload_bytes = 0; // [api] max_upload_bytes; 0: the default
    std::string extra_toml;        // appended to the config
    std::string security_toml;     // extra lines of [security]
    std::string redis_toml;        // extra lines of [redis]
    std::string builds_toml;       // extra lines of [builds] (cache_dir and uid_base are set)
    // [builds] uid_base; 0: 1000000 + 1000 * the PostgreSQL port, so that control planes of
    // tests running at once never share a build uid (each kills every process of its uids).
    int64_t build_uid_base = 0;
};

class ControlEnv
{
public:
    explicit ControlEnv(ControlOptions opts = {});
    ~ControlEnv();

    PgInstance pg;
    RedisInstance redis;
    std::string dir; // temp dir: config, deployments, builds
    std::string config_path;

    // Runs `berth-control --config <config> args...` to completion.
    CommandResult run(const std::vector<std::string> &args) const;
    std::string create_token(const std::string &user, bool admin = false) const;

    ControlOptions &options() noexcept { return opts_; }
    void write_config() const; // (re)writes config_path from options()

    void start_server(); // serve; waits for "listening on" and reads the port
    void stop_server();  // SIGTERM by PID; waits for exit (REQUIREs a clean exit code 0)
    int port() const noexcept { return port_; }
    pid_t server_pid() const noexcept { return server_pid_; }
    int64_t build_uid_base() const;
    std::unique_ptr<HttpClient> client() const { return std::make_unique<HttpClient>(port_); }
    std::string server_log() const;

    std::string deployments_root() const { return dir + "/deployments"; }

private:
    ControlOptions opts_;
    pid_t server_pid_ = -1;
    int port_ = 0;
    std::string log_path_;
};

// Runs fn on n threads, each with its own connection, released together; the responses in
// thread order.
std::vector<Response> concurrently(int port, int n,
                                   const std::function<Response(HttpClient &)> &fn);

// Polls cond every 20 ms until it holds or timeout_ms passes; returns whether it held.
bool wait_until(const std::function<bool()> &cond, int timeout_ms = 20000);

std::string berth_control_binary();

// The whole file ("" when it cannot be read).
std::string slurp(const std::string &path);

// True when something accepts TCP connections on 127.0.0.1:port.
bool loopback_port_accepts(int port);

// POST projects/ and services/ as `token`; REQUIRE 201 and return the body.
nlohmann::json create_project(HttpClient &c, const std::string &token, const std::string &name);
// The POST services/ answer itself, whatever its status.
Response create_service_response(HttpClient &c, const std::string &token,
                                 const std::string &project_id, const std::string &name,
                                 const nlohmann::json &extra = nlohmann::json::object());
nlohmann::json create_service(HttpClient &c, const std::string &token,
                              const std::string &project_id, const std::string &name,
                              const nlohmann::json &extra = nlohmann::json::object());

// POST deployments/trigger/ for the service; throws std::runtime_error unless 201. The new
// deployment's id.
std::string trigger_deployment(HttpClient &c, const std::string &token,
                               const std::string &service_id);

// GET deployments/{id}/ every 20 ms until its status is ACTIVE, FAILED or CANCELLED or
// timeout_ms passed; the last answer (callers check its status).
nlohmann::json wait_deployment(HttpClient &c, const std::string &token, const std::string &id,
                               int timeout_ms = 60000);

// A git repository at dir with files (path → content) committed on `branch`; returns the
// commit id. Uses the git CLI with a fixed identity.
std::string make_git_repo(const std::string &dir,
                          const std::vector<std::pair<std::string, std::string>> &files,
                          const std::string &branch = "main");

} // namespace berth::test
