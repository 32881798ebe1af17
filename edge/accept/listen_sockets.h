// Listening sockets: one SO_REUSEPORT socket per worker and configured address, so each
// worker accepts on its own queue and nothing is shared per connection.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <vector>

#include "edge/config/edge_config.h"

namespace berth::edge
{

struct ListenError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ListenSocket {
    int fd = -1;
    bool tls = false;
};

// "127.0.0.1:8080" or "[::1]:8443".
std::string format_addr(const sockaddr_storage &ss);

struct ListenSockets {
    // per_worker[w]: worker w's own socket for each configured address, in order.
    std::vector<std::vector<ListenSocket>> per_worker;
    // "127.0.0.1:8080" per configured address, as bound (port 0 resolved), and its port.
    std::vector<std::string> bound;
    std::vector<uint16_t> ports;
};

// Binds every address for every worker. An address already served by another process is
// refused ("address already in use"), although SO_REUSEPORT would let it be shared. Throws
// ListenError; sockets bound before the failure are closed.
ListenSockets open_listen_sockets(const std::vector<ListenAddr> &addrs, unsigned workers);

} // namespace berth::edge
