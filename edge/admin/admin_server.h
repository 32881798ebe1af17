// Operator admin socket: a unix stream socket (0600) speaking the NDJSON protocol of
// shared/admin/admin_protocol.h. Runs on the main thread's loop, never on a worker loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "shared/admin/admin_protocol.h"

namespace berth::edge
{

class AdminServer
{
public:
    // handle() returns the reply line for a valid command (it runs on the loop thread).
    using Handler = std::function<std::string(const shared::admin::AdminCommand &)>;

    AdminServer(uv_loop_t *loop, Handler handler);
    AdminServer(const AdminServer &) = delete;
    AdminServer &operator=(const AdminServer &) = delete;
    ~AdminServer();

    // Binds `path` with mode 0600. A stale socket file (nothing accepts on it) is replaced; a
    // socket something still answers on (another edge) is refused, as is any other file.
    // Throws std::runtime_error.
    void listen(const std::string &path);
    // Stops listening and closes client connections (their handles close on the loop). The
    // socket file is removed only while it is still the one this server bound.
    void close();

    struct Client; // one connected operator client

private:
    static void on_connection(uv_stream_t *server, int status);
    void on_line(Client &c, std::string_view line);
    void send_reply(Client &c, std::string reply);

    uv_loop_t *loop_;
    Handler handler_;
    uv_pipe_t listener_;
    bool listening_ = false;
    std::string path_;
    int bound_fd_ = -1; // O_PATH to the socket file we bound, to remove only that one
    std::vector<Client *> clients_;
};

} // namespace berth::edge
