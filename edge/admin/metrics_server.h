// `[admin] metrics_listen`: GET /metrics over plain HTTP for Prometheus-style scrapers, on the
// main thread's loop (never a worker's). One request per connection, then close: scrapes are
// rare and small, and the edge's request path stays untouched.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <uv.h>

#include "edge/config/edge_config.h"

namespace berth::edge
{

class MetricsServer
{
public:
    // render() returns the exposition text (it runs on the loop thread, once per scrape).
    using Render = std::function<std::string()>;

    MetricsServer(uv_loop_t *loop, Render render);
    MetricsServer(const MetricsServer &) = delete;
    MetricsServer &operator=(const MetricsServer &) = delete;
    ~MetricsServer();

    // Binds addr; returns "host:port" as bound (port 0 picks one). Throws std::runtime_error.
    std::string listen(const ListenAddr &addr);
    // Stops listening and closes client connections (their handles close on the loop).
    void close();

    struct Client; // one scraper connection

private:
    static void on_connection(uv_stream_t *server, int status);
    void on_bytes(Client &c);
    void answer(Client &c, int status, std::string body, const char *extra = "");
    void drop(Client &c);

    uv_loop_t *loop_;
    Render render_;
    uv_tcp_t listener_;
    bool listening_ = false;
    std::vector<Client *> clients_;
};

} // namespace berth::edge
