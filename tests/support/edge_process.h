// Test support: the real berth-edge binary on 127.0.0.1:0, its port read from stdout,
// stopped by PID (SIGTERM, then SIGKILL only if it hangs).
#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace berth::test
{

class EdgeProcess
{
public:
    // Starts build/bin/berth-edge with args and waits for its "listening on" line.
    // launcher: a command line that runs the edge as its last words ("unshare -m sh -c
    // '... exec \"$0\" \"$@\"'"), for a test that changes the edge's view of the machine.
    explicit EdgeProcess(std::vector<std::string> args, bool expect_listen = true,
                         std::vector<std::string> launcher = {});
    EdgeProcess(const EdgeProcess &) = delete;
    EdgeProcess &operator=(const EdgeProcess &) = delete;
    ~EdgeProcess();

    int port() const { return port_; }
    // The port of the first listener with this scheme ("http" or "https").
    int port(std::string_view scheme) const;
    // The port of GET /metrics (--metrics-listen), 0 without it.
    int metrics_port() const { return metrics_port_; }
    pid_t pid() const { return pid_; }
    // Sends SIGTERM and waits up to timeout_ms; returns the exit status (-1 on timeout).
    int stop(int timeout_ms = 10000);
    // Waits for exit without signalling (for startup failures); returns the exit status.
    int wait_exit(int timeout_ms = 10000);
    // Everything the process wrote to stderr so far (after it exited: all of it).
    std::string stderr_text();
    // Waits until stderr holds `needle` (inotify on the file, no polling loop); false on timeout.
    bool wait_for_stderr(const std::string &needle, int timeout_ms = 10000);

private:
    pid_t pid_ = -1;
    int port_ = 0;
    int metrics_port_ = 0;
    std::vector<std::pair<std::string, int>> listeners_; // scheme, port, in listen order
    int out_fd_ = -1;
    std::string err_path_;
    int status_ = -1;
    bool exited_ = false;
};

// Runs berth-edge to completion (for config errors) and returns {exit status, stderr}.
std::pair<int, std::string> run_edge(std::vector<std::string> args, int timeout_ms = 10000);

std::string edge_binary();

// A process's peak resident memory so far (VmHWM), in KiB; -1 when it cannot be read.
long peak_rss_kb(pid_t pid);

} // namespace berth::test
