// A one-target HTTP CONNECT proxy on 127.0.0.1 for one clone (#15). libgit2's proxy option
// points at it, so every connection of an https:// clone goes to the one address that passed
// the repository screen, whatever DNS answers by then and wherever a redirect points.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/net/ip_address.h"

namespace berth::control
{

class ConnectProxy
{
public:
    // Tunnels "CONNECT <authority>" (compared without case) to address:port; any other request
    // gets 403 and counts in refused(). Throws std::runtime_error when it cannot listen.
    ConnectProxy(std::string authority, IpAddr address, uint16_t port,
                 int connect_timeout_ms = 10000);
    // Stops accepting, closes every tunnel and joins its threads.
    ~ConnectProxy();
    ConnectProxy(const ConnectProxy &) = delete;
    ConnectProxy &operator=(const ConnectProxy &) = delete;

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    int refused() const { return refused_.load(); }
    int tunnels() const { return tunnels_.load(); }

private:
    void accept_loop();
    void serve(int client);

    std::string authority_;
    IpAddr address_;
    uint16_t target_port_;
    int connect_timeout_ms_;
    int listen_fd_ = -1;
    int stop_fd_ = -1; // eventfd: readable once the proxy stops
    uint16_t port_ = 0;
    std::atomic<int> refused_{0}, tunnels_{0};
    std::mutex mu_;
    std::vector<std::thread> workers_;
    std::thread acceptor_;
};

} // namespace berth::control
