// Throwaway PostgreSQL for control-plane tests: fsync off (the data is discarded), a unix
// socket in the instance directory, TCP on loopback only.
#include "tests/support/pg_instance.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

namespace berth::test
{

namespace
{

struct RunAs {
    uid_t uid = 0;
    gid_t gid = 0;
    bool drop = false;
};

RunAs run_as()
{
    RunAs r;
    if (geteuid() != 0) return r;
    passwd *pw = getpwnam("postgres");
    if (!pw) pw = getpwnam("nobody");
    if (!pw)
        throw std::runtime_error("running as root and no postgres/nobody user to run PostgreSQL");
    r.uid = pw->pw_uid;
    r.gid = pw->pw_gid;
    r.drop = true;
    return r;
}

// fork + exec with stdout/stderr to log; returns the pid. The child drops root if needed.
pid_t spawn(const std::vector<std::string> &argv, const std::string &log, const RunAs &as)
{
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        if (as.drop && (setgroups(0, nullptr) != 0 || setgid(as.gid) != 0 || setuid(as.uid) != 0))
            _exit(126);
        std::vector<char *> args;
        for (const auto &a : argv)
            args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    return pid;
}

std::string slurp(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

int free_loopback_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
        close(fd);
        throw std::runtime_error("cannot bind a loopback port");
    }
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

void start_on_free_port(int &port, const std::function<void()> &start, const std::string &dir)
{
    for (int attempt = 1;; ++attempt) {
        port = free_loopback_port();
        try {
            start();
            return;
        } catch (...) {
            if (attempt == 3) {
                remove_tree(dir);
                throw;
            }
        }
    }
}

std::string make_temp_dir(const char *prefix)
{
    std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

void remove_tree(const std::string &dir)
{
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

PgInstance::PgInstance()
{
    const char *bin = std::getenv("BERTH_PG_BIN");
    bin_ = bin ? bin : "/usr/lib/postgresql/15/bin";
    dir_ = make_temp_dir("berth-pg");
    RunAs as = run_as();
    if (as.drop && chown(dir_.c_str(), as.uid, as.gid) != 0)
        throw std::runtime_error("chown failed");
    std::string log = dir_ + "/initdb.log";
    pid_t pid = spawn({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "berth", "-A", "trust", "-E",
                       "UTF8", "--no-sync", "--no-instructions"},
                      log, as);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string text = slurp(log);
        remove_tree(dir_);
        throw std::runtime_error("initdb failed: " + text);
    }
    start_on_free_port(
        port_, [this] { start(); }, dir_);
}

PgInstance::~PgInstance()
{
    stop();
    remove_tree(dir_);
}

std::string PgInstance::url() const
{
    return "postgresql://berth@127.0.0.1:" + std::to_string(port_) + "/postgres?connect_timeout=3";
}

void PgInstance::start()
{
    if (pid_ > 0) return;
    RunAs as = run_as();
    std::string log = dir_ + "/postgres.log";
    pid_ = spawn({bin_ + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_,
                  "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                  "synchronous_commit=off", "-c", "full_page_writes=off", "-c",
                  "max_connections=200", "-c", "shared_buffers=32MB"},
                 log, as);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("postgres exited: " + slurp(log));
        }
        try {
            pqxx::connection c(url());
            return;
        } catch (const std::exception &) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50)); // bounded poll on readiness
        }
    }
    stop();
    throw std::runtime_error("postgres did not become ready: " + slurp(log));
}

void PgInstance::stop()
{
    if (pid_ <= 0) return;
    kill(pid_, SIGINT); // fast shutdown: disconnects clients, no waiting for them
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

} // namespace berth::test
