// ControlEnv: each e2e test case gets fresh instances, so cases are independent and can run
// in parallel under ctest -j.
#include "tests/control/support/control_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace berth::test
{

std::string slurp(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool loopback_port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool open = fd >= 0 && connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
    if (fd >= 0) close(fd);
    return open;
}

namespace
{

std::string shell_quote(const std::string &s)
{
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

} // namespace

std::string berth_control_binary()
{
    return std::string(BERTH_BINARY_DIR) + "/bin/berth-control";
}

bool wait_until(const std::function<bool()> &cond, int timeout_ms)
{
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        if (cond()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

std::vector<Response> concurrently(int port, int n, const std::function<Response(HttpClient &)> &fn)
{
    std::vector<Response> out(static_cast<size_t>(n));
    std::vector<std::thread> threads;
    std::atomic<int> ready{0};
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            HttpClient mine(port);
            ++ready;
            while (ready.load() < n)
                std::this_thread::yield();
            out[size_t(i)] = fn(mine);
        });
    for (auto &t : threads)
        t.join();
    return out;
}

ControlEnv::ControlEnv(ControlOptions opts) : opts_(std::move(opts))
{
    dir = make_temp_dir("berth-control");
    // Builds run as an unprivileged user when the tests run as root (#16): it must be able to
    // reach the build directories below this one.
    std::filesystem::permissions(dir, std::filesystem::perms(0755));
    config_path = dir + "/control.toml";
    {
        std::ofstream key(dir + "/encryption.key");
        key << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
    }
    write_config();
    CommandResult m = run({"migrate"});
    if (m.exit_code != 0) throw std::runtime_error("migrate failed: " + m.err);
}

void ControlEnv::write_config() const
{
    std::ofstream c(config_path);
    c << "[api]\nlisten = \"127.0.0.1:0\"\nthreads = 8\nidle_timeout_ms = " << opts_.idle_timeout_ms
      << "\n"
      << "trigger_per_minute = " << opts_.trigger_per_minute << "\n"
      << "trigger_per_hour = " << opts_.trigger_per_hour << "\n"
      << "max_streams = " << opts_.max_streams << "\n"
      << (opts_.max_upload_bytes
              ? "max_upload_bytes = " + std::to_string(opts_.max_upload_bytes) + "\n"
              : "")
      << "[database]\nurl = \"" << pg.url() << "\"\npool = 16\n"
      << "[redis]\nurl = \"" << redis.url() << "\"\n"
      << opts_.redis_toml << "[deploy]\ndeployments_root = \"" << dir
      << "/deployments\"\nbuilds_dir = \"" << dir << "/builds\"\n"
      << "base_domain = \"localhost\"\nworkers = " << opts_.workers << "\n"
      << "visibility_timeout_s = " << opts_.visibility_timeout_s << "\n"
      << "recover_queued_after_s = " << opts_.recover_queued_after_s << "\n"
      << "keep_deployments = " << opts_.keep_deployments << "\n"
      << "[builds]\ncache_dir = \"" << dir << "/cache\"\n"
      << "uid_base = " << build_uid_base() << "\n"
      << opts_.builds_toml
      << "[security]\nencryption_key_env = \"BERTH_TEST_NO_SUCH_ENV\"\nencryption_key_file = \""
      << dir << "/encryption.key\"\nallow_file_urls = true\n"
      << opts_.security_toml
      << "[webhooks]\ngithub_secret_env = \"\"\ngitlab_secret_env = \"\"\nbitbucket_secret_env = "
         "\"\"\n"
      << "github_secret = \"gh-secret\"\ngitlab_secret = \"gl-secret\"\nbitbucket_secret = "
         "\"bb-secret\"\n"
      << opts_.extra_toml;
}

int64_t ControlEnv::build_uid_base() const
{
    return opts_.build_uid_base ? opts_.build_uid_base : 1000000 + 1000 * int64_t(pg.port());
}

ControlEnv::~ControlEnv()
{
    if (server_pid_ > 0) {
        kill(server_pid_, SIGTERM);
        int st = 0;
        waitpid(server_pid_, &st, 0);
    }
    if (std::getenv("BERTH_TEST_KEEP"))
        std::fprintf(stderr, "kept %s\n", dir.c_str());
    else
        remove_tree(dir);
}

CommandResult ControlEnv::run(const std::vector<std::string> &args) const
{
    static std::atomic<int> seq{0};
    std::string base = dir + "/cmd" + std::to_string(++seq);
    std::string cmd = shell_quote(berth_control_binary()) + " --config " + shell_quote(config_path);
    for (const auto &a : args)
        cmd += " " + shell_quote(a);
    cmd += " >" + base + ".out 2>" + base + ".err";
    int st = std::system(cmd.c_str());
    CommandResult r;
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(base + ".out");
    r.err = slurp(base + ".err");
    return r;
}

std::string ControlEnv::create_token(const std::string &user, bool admin) const
{
    std::vector<std::string> args = {"token", "create", "--user", user};
    if (admin) args.push_back("--admin");
    CommandResult r = run(args);
    if (r.exit_code != 0) throw std::runtime_error("token create failed: " + r.err);
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n')
        out.pop_back();
    return out.substr(out.rfind('\n') + 1);
}

void ControlEnv::start_server()
{
    log_path_ = dir + "/serve.log";
    std::string out_path = dir + "/serve.out";
    std::remove(out_path.c_str());
    server_pid_ = fork();
    if (server_pid_ == 0) {
        int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(o, 1);
        dup2(e, 2);
        std::string bin = berth_control_binary();
        execl(bin.c_str(), bin.c_str(), "--config", config_path.c_str(), "serve",
              static_cast<char *>(nullptr));
        _exit(127);
    }
    bool up = wait_until([&] {
        std::string out = slurp(out_path);
        size_t at = out.find("listening on 127.0.0.1:");
        if (at == std::string::npos || out.find('\n', at) == std::string::npos) return false;
        port_ = std::stoi(out.substr(at + 23));
        return true;
    });
    if (!up) throw std::runtime_error("berth-control serve did not start: " + server_log());
}

void ControlEnv::stop_server()
{
    if (server_pid_ <= 0) return;
    kill(server_pid_, SIGTERM);
    int st = 0;
    waitpid(server_pid_, &st, 0);
    server_pid_ = -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        throw std::runtime_error("berth-control serve exited badly: " + server_log());
}

std::string ControlEnv::server_log() const
{
    return slurp(log_path_);
}

nlohmann::json create_project(HttpClient &c, const std::string &token, const std::string &name)
{
    Response r = c.call("POST", "projects/", token, {{"name", name}});
    if (r.status != 201)
        throw std::runtime_error("create project: " + std::to_string(r.status) + " " + r.body);
    return r.json();
}

Response create_service_response(HttpClient &c, const std::string &token,
                                 const std::string &project_id, const std::string &name,
                                 const nlohmann::json &extra)
{
    nlohmann::json body = {{"project_id", project_id},
                           {"name", name},
                           {"deploy_type", "GIT"},
                           {"buildpack", "STATIC"},
                           {"repo_url", "https://git.example.test/" + name + ".git"},
                           {"branch", "main"}};
    for (auto it = extra.begin(); it != extra.end(); ++it)
        body[it.key()] = it.value();
    return c.call("POST", "services/", token, body);
}

nlohmann::json create_service(HttpClient &c, const std::string &token,
                              const std::string &project_id, const std::string &name,
                              const nlohmann::json &extra)
{
    Response r = create_service_response(c, token, project_id, name, extra);
    if (r.status != 201)
        throw std::runtime_error("create service: " + std::to_string(r.status) + " " + r.body);
    return r.json();
}

std::string trigger_deployment(HttpClient &c, const std::string &token,
                               const std::string &service_id)
{
    Response r = c.call("POST", "deployments/trigger/", token, {{"service_id", service_id}});
    if (r.status != 201)
        throw std::runtime_error("trigger: " + std::to_string(r.status) + " " + r.body);
    return r.json()["id"];
}

nlohmann::json wait_deployment(HttpClient &c, const std::string &token, const std::string &id,
                               int timeout_ms)
{
    nlohmann::json dep;
    wait_until(
        [&] {
            dep = c.call("GET", "deployments/" + id + "/", token).json();
            std::string s = dep.value("status", "");
            return s == "ACTIVE" || s == "FAILED" || s == "CANCELLED";
        },
        timeout_ms);
    return dep;
}

std::string make_git_repo(const std::string &dir,
                          const std::vector<std::pair<std::string, std::string>> &files,
                          const std::string &branch)
{
    std::string q = shell_quote(dir);
    std::string git = "git -C " + q +
                      " -c user.name=berth-test -c user.email=test@berth.invalid"
                      " -c commit.gpgsign=false ";
    std::system(("mkdir -p " + q + " && { [ -d " + q + "/.git ] || git init -q -b " +
                 shell_quote(branch) + " " + q + "; }")
                    .c_str());
    for (const auto &[path, content] : files) {
        std::string full = dir + "/" + path;
        std::system(("mkdir -p " + shell_quote(full.substr(0, full.rfind('/')))).c_str());
        std::ofstream(full) << content;
    }
    std::system((git + "add -A && " + git + "commit -q -m test").c_str());
    std::string out = dir + "/../head-" + std::to_string(getpid());
    std::system((git + "rev-parse HEAD > " + shell_quote(out)).c_str());
    std::string head = slurp(out);
    std::remove(out.c_str());
    while (!head.empty() && (head.back() == '\n'))
        head.pop_back();
    return head;
}

} // namespace berth::test
