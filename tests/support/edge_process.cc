// Process control for end-to-end tests: fork/exec, a pipe for stdout, stderr to a temp file.
#include "tests/support/edge_process.h"
#include "tests/support/test_certs.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace berth::test
{

std::string edge_binary()
{
    return std::string(BERTH_BINARY_DIR) + "/bin/berth-edge";
}

namespace
{
// Waits on a pidfd, so the test wakes the moment the child exits.
bool wait_pid(pid_t pid, int timeout_ms, int &status)
{
    int pidfd = int(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        ::close(pidfd);
        if (r <= 0) return false;
    }
    return waitpid(pid, &status, 0) == pid;
}
} // namespace

EdgeProcess::EdgeProcess(std::vector<std::string> args, bool expect_listen,
                         std::vector<std::string> launcher)
{
    if (e2e_over_tls()) {
        // The same test over HTTPS: every listener speaks TLS, with the suite's certificate
        // (also the default, so clients need no SNI).
        bool tls_listener = false;
        for (std::string &a : args)
            if (a == "--listen") {
                a = "--listen-tls";
                tls_listener = true;
            }
        if (tls_listener) {
            const CertFiles &cert = shared_test_cert();
            args.insert(args.end(), {"--tls-cert", cert.cert, "--tls-key", cert.key});
        }
    }
    // ctest runs the e2e suite a second time with sends not batched (the fallback path);
    // a test that chooses --io-uring itself keeps its choice.
    const char *mode = std::getenv("BERTH_TEST_EDGE_IO_URING");
    bool chosen = std::find(args.begin(), args.end(), "--io-uring") != args.end();
    if (mode && !chosen && !(args.size() > 0 && args[0] == "admin")) {
        args.push_back("--io-uring");
        args.push_back(mode);
    }
    char tmpl[] = "/tmp/berth-edge-stderr.XXXXXX";
    int err_fd = mkstemp(tmpl);
    if (err_fd < 0) throw std::runtime_error("mkstemp failed");
    err_path_ = tmpl;
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        std::vector<char *> argv;
        std::string bin = edge_binary();
        for (auto &a : launcher)
            argv.push_back(a.data());
        argv.push_back(bin.data());
        for (auto &a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    ::close(out[1]);
    ::close(err_fd);
    out_fd_ = out[0];
    if (!expect_listen) return;
    // Read stdout until a "listening on http://HOST:PORT" (or https://) line per listen flag.
    size_t expected = std::max<size_t>(
        1, size_t(std::count_if(args.begin(), args.end(), [](const std::string &a) {
            return a == "--listen" || a == "--listen-tls";
        })));
    std::string text;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (listeners_.size() < expected) {
        int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                           deadline - std::chrono::steady_clock::now())
                           .count());
        if (left <= 0) break;
        pollfd p{out_fd_, POLLIN, 0};
        if (poll(&p, 1, left) <= 0) break;
        char buf[512];
        ssize_t n = read(out_fd_, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, size_t(n));
        size_t at, nl;
        // "metrics on http://127.0.0.1:PORT/metrics" comes before the listeners' lines.
        if ((at = text.find("metrics on http://")) != std::string::npos &&
            (nl = text.find("/metrics\n", at + 18)) != std::string::npos) {
            std::string addr = text.substr(at + 18, nl - at - 18);
            metrics_port_ = std::atoi(addr.substr(addr.rfind(':') + 1).c_str());
            text.erase(0, nl + 9);
        }
        while ((at = text.find("listening on ")) != std::string::npos &&
               (nl = text.find('\n', at)) != std::string::npos) {
            std::string line = text.substr(at + 13, nl - at - 13); // "https://127.0.0.1:8443"
            listeners_.emplace_back(line.substr(0, line.find(':')),
                                    std::atoi(line.substr(line.rfind(':') + 1).c_str()));
            text.erase(0, nl + 1);
        }
    }
    if (!listeners_.empty()) port_ = listeners_.front().second;
    if (port_ == 0) {
        stop(2000);
        throw std::runtime_error("berth-edge did not start: " + stderr_text());
    }
}

EdgeProcess::~EdgeProcess()
{
    if (!exited_) stop(5000);
    if (out_fd_ >= 0) ::close(out_fd_);
    if (!err_path_.empty()) unlink(err_path_.c_str());
}

int EdgeProcess::port(std::string_view scheme) const
{
    for (const auto &[s, p] : listeners_)
        if (s == scheme) return p;
    throw std::runtime_error("berth-edge has no " + std::string(scheme) + " listener");
}

int EdgeProcess::wait_exit(int timeout_ms)
{
    if (exited_) return status_;
    int status = 0;
    if (!wait_pid(pid_, timeout_ms, status)) return -1;
    exited_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
}

int EdgeProcess::stop(int timeout_ms)
{
    if (exited_) return status_;
    kill(pid_, SIGTERM);
    int rc = wait_exit(timeout_ms);
    if (rc == -1) {
        kill(pid_, SIGKILL);
        wait_exit(5000);
        return -1;
    }
    return rc;
}

std::string EdgeProcess::stderr_text()
{
    std::ifstream in(err_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool EdgeProcess::wait_for_stderr(const std::string &needle, int timeout_ms)
{
    int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (watch < 0) return false;
    inotify_add_watch(watch, err_path_.c_str(), IN_MODIFY);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool found = false;
    while (!(found = stderr_text().find(needle) != std::string::npos)) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) break;
        pollfd p{watch, POLLIN, 0};
        if (poll(&p, 1, int(left)) > 0) {
            char events[4096];
            while (read(watch, events, sizeof events) > 0) {
            }
        }
    }
    ::close(watch);
    return found;
}

std::pair<int, std::string> run_edge(std::vector<std::string> args, int timeout_ms)
{
    EdgeProcess p(std::move(args), false);
    int rc = p.wait_exit(timeout_ms);
    return {rc, p.stderr_text()};
}

long peak_rss_kb(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

} // namespace berth::test
