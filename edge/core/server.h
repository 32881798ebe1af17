// The edge process: listening sockets (one per worker, SO_REUSEPORT), route table loading,
// worker threads, and signals (SIGTERM/SIGINT: graceful stop, exit 0).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "edge/core/edge_config.h"
#include "edge/core/worker.h"

namespace berth::edge {

class Server {
public:
    explicit Server(EdgeConfig config);
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;
    ~Server();

    // Binds, starts the workers and blocks until a stop signal drained them. Returns the exit
    // code. Startup errors (bind, routes file) are printed and give exit code 1 (2 for config).
    int run();

private:
    void open_listeners();
    std::shared_ptr<const shared::route::RouteTable> initial_routes();

    EdgeConfig config_;
    ServerShared shared_;
    // listen_fds_[worker][i]: each worker's own socket for each configured address.
    std::vector<std::vector<int>> listen_fds_;
    std::vector<std::unique_ptr<Worker>> workers_;
};

} // namespace berth::edge
