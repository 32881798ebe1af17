#include "tests/support/upstream_process.h"

#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace berth::test
{

UpstreamProcess::UpstreamProcess(const std::string &name, const std::string &log_path, int port,
                                 const std::string &ip)
    : ip_(ip), log_(log_path)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::string bin = std::string(BERTH_BINARY_DIR) + "/bin/berth_test_upstream";
    std::string port_arg = std::to_string(port);
    pid_ = fork();
    if (pid_ == 0) {
        dup2(out[1], STDOUT_FILENO);
        execl(bin.c_str(), bin.c_str(), name.c_str(), log_path.c_str(), port_arg.c_str(),
              ip.c_str(), static_cast<char *>(nullptr));
        _exit(127);
    }
    ::close(out[1]);
    std::string text;
    while (text.find('\n') == std::string::npos) {
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) break;
        char buf[128];
        ssize_t n = read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, size_t(n));
    }
    ::close(out[0]);
    size_t at = text.find("listening on ");
    if (at == std::string::npos) {
        kill();
        throw std::runtime_error("test upstream did not start");
    }
    port_ = std::atoi(text.c_str() + at + 13);
}

UpstreamProcess::~UpstreamProcess()
{
    kill();
}

void UpstreamProcess::kill()
{
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::vector<nlohmann::json> UpstreamProcess::requests() const
{
    std::vector<nlohmann::json> out;
    std::ifstream in(log_);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

int closed_port()
{
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bind(s, reinterpret_cast<sockaddr *>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, reinterpret_cast<sockaddr *>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

BlackholePort::BlackholePort()
{
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t len = sizeof a;
    if (bind(listener_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        listen(listener_, 0) != 0 || getsockname(listener_, reinterpret_cast<sockaddr *>(&a), &len))
        throw std::runtime_error("blackhole listener");
    port_ = ntohs(a.sin_port);
    // A backlog of 0 holds one connection; with it queued, the queue counts as full.
    filler_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (connect(filler_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
        throw std::runtime_error("blackhole filler");
}

BlackholePort::~BlackholePort()
{
    ::close(filler_);
    ::close(listener_);
}

} // namespace berth::test
