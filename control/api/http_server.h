// The /api/v1 HTTP/1.1 server: libuv on one loop thread, the shared RequestParser and
// ResponseWriter for the wire, and handlers run on libuv's threadpool so the loop never waits
// on PostgreSQL or Redis.
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <uv.h>

#include "control/api/response_stream.h"
#include "shared/http/request_parser.h"

namespace berth::control
{

// One request, copied out of the connection buffer (handlers run on another thread, and the
// buffer is reused for the next request meanwhile).
struct ApiRequest {
    shared::http::Method method = shared::http::Method::kOther;
    std::string method_name;
    std::string path;  // percent-encoded, without the query
    std::string query; // without '?'
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // First value of a header (case-insensitive name), empty if absent.
    std::string_view header(std::string_view name) const noexcept;
};

struct ApiResponse {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers; // extra, e.g. Retry-After
    // When set, `body` is ignored: the head goes out with Transfer-Encoding: chunked and the
    // body is what `stream` writes, from a thread of its own; the connection closes after it
    // (response_stream.h). Over max_streams open streams the client gets 503 instead.
    BodyProducer stream;
};

// Called on a threadpool thread; must not throw (the router catches at its boundary).
using ApiHandler = std::function<ApiResponse(const ApiRequest &)>;

class HttpServer
{
public:
    // idle_timeout_ms: a connection that sends nothing for this long while no request of its
    // runs is closed (keep-alive idle and slow clients alike).
    // max_streams: streaming responses open at once (each holds a thread); more answer 503
    // `too_many_streams`.
    HttpServer(uv_loop_t *loop, ApiHandler handler, shared::http::ParserLimits limits,
               uint64_t idle_timeout_ms = 60000, int max_streams = 16);
    ~HttpServer();
    HttpServer(const HttpServer &) = delete;
    HttpServer &operator=(const HttpServer &) = delete;

    // Decides each request's body limit from its head, before the body is read (413 past it,
    // at once when Content-Length says so); unset: limits.max_body_bytes for every request.
    // Runs on the loop thread.
    using BodyLimit = std::function<uint64_t(const shared::http::RequestHead &)>;
    void set_body_limit(BodyLimit fn) { body_limit_ = std::move(fn); }

    // Runs on the threadpool after the head of a request whose body may exceed
    // limits.max_body_bytes (an upload), before any of its body is read or 100 Continue is
    // sent. An answer goes out at once and the connection closes with the body unread;
    // nullopt reads the body and handles the request as usual.
    using HeadCheck = std::function<std::optional<ApiResponse>(const ApiRequest &)>;
    void set_head_check(HeadCheck fn) { head_check_ = std::move(fn); }

    // Binds and listens on host:port (port 0: any free port). Returns 0 or a libuv error code;
    // on error nothing is left open.
    int listen(const std::string &host, int port);
    int bound_port() const noexcept { return port_; }

    // Stops accepting and closes every connection; requests already running finish on the
    // threadpool and their connections are freed afterwards. The loop then runs dry.
    void close();

    size_t connection_count() const noexcept { return conns_.size(); }
    int stream_count() const noexcept { return streams_; }

private:
    struct Connection;
    static void on_connection(uv_stream_t *server, int status);
    void on_conn_closed(Connection *c);

    uv_loop_t *loop_;
    ApiHandler handler_;
    shared::http::ParserLimits limits_;
    BodyLimit body_limit_;
    HeadCheck head_check_;
    uint64_t idle_timeout_ms_;
    int max_streams_;
    int streams_ = 0; // open ResponseStreams (loop thread only)
    uv_tcp_t listener_{};
    bool listening_ = false;
    int port_ = 0;
    std::list<std::unique_ptr<Connection>> conns_;
};

} // namespace berth::control
