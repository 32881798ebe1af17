// Test support: a berth_test_upstream process (tests/support/test_upstream.cc) on a free
// loopback port, its requests logged as JSON lines the test can read back (#14).
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::test
{

class UpstreamProcess
{
public:
    // Starts the upstream named `name`, logging to log_path, on ip:port (port 0: a free one);
    // waits for its port.
    UpstreamProcess(const std::string &name, const std::string &log_path, int port = 0,
                    const std::string &ip = "127.0.0.1");
    UpstreamProcess(const UpstreamProcess &) = delete;
    UpstreamProcess &operator=(const UpstreamProcess &) = delete;
    ~UpstreamProcess();

    int port() const { return port_; }
    std::string addr() const { return ip_ + ":" + std::to_string(port_); }
    // Every request logged so far.
    std::vector<nlohmann::json> requests() const;
    // SIGKILL and wait.
    void kill();

private:
    pid_t pid_ = -1;
    int port_ = 0;
    std::string ip_;
    std::string log_;
};

// A loopback port nothing listens on (bound, then closed).
int closed_port();

// A loopback port whose connects hang: it listens but never accepts, and its accept queue is
// held full by one connection, so the kernel drops every further SYN (connect timeouts).
class BlackholePort
{
public:
    BlackholePort();
    BlackholePort(const BlackholePort &) = delete;
    BlackholePort &operator=(const BlackholePort &) = delete;
    ~BlackholePort();
    int port() const { return port_; }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int listener_ = -1;
    int filler_ = -1;
    int port_ = 0;
};

} // namespace berth::test
