// Metrics over HTTP: the request is parsed by the same llhttp wrapper as client requests
// (shared/http/request_parser), answered once, and the connection closed after the write.
#include "edge/admin/metrics_server.h"

#include <stdexcept>

#include "edge/accept/listen_sockets.h"
#include "shared/http/request_parser.h"
#include "shared/http/response_writer.h"

namespace berth::edge
{

namespace
{

constexpr size_t kMaxRequestBytes = 8192;
constexpr uint64_t kRequestTimeoutMs = 10000; // a scraper that says nothing is dropped

shared::http::ParserLimits metrics_limits()
{
    shared::http::ParserLimits l;
    l.max_head_bytes = kMaxRequestBytes;
    l.max_target_bytes = 1024;
    l.max_body_bytes = 0;
    return l;
}

} // namespace

struct MetricsServer::Client {
    explicit Client(MetricsServer *s) : server(s), parser(metrics_limits()) {}
    MetricsServer *server;
    uv_tcp_t tcp{};
    char in[kMaxRequestBytes];
    size_t len = 0;    // bytes read
    size_t parsed = 0; // of them, fed to the parser
    shared::http::RequestParser parser;
    uint64_t since_ms = 0;
    bool answered = false; // a reply is being written: later bytes are ignored
    bool closing = false;
    std::string out;
    uv_write_t write{};
};

MetricsServer::MetricsServer(uv_loop_t *loop, Render render)
    : loop_(loop), render_(std::move(render))
{
}

MetricsServer::~MetricsServer()
{
    close();
}

std::string MetricsServer::listen(const ListenAddr &addr)
{
    sockaddr_storage ss{};
    int rc = addr.host.find(':') != std::string::npos
                 ? uv_ip6_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in6 *>(&ss))
                 : uv_ip4_addr(addr.host.empty() ? "0.0.0.0" : addr.host.c_str(), addr.port,
                               reinterpret_cast<sockaddr_in *>(&ss));
    if (rc == 0) rc = uv_tcp_init(loop_, &listener_);
    if (rc != 0) throw std::runtime_error("metrics_listen: " + std::string(uv_strerror(rc)));
    listener_.data = this;
    listening_ = true;
    rc = uv_tcp_bind(&listener_, reinterpret_cast<sockaddr *>(&ss), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t *>(&listener_), 64, on_connection);
    if (rc != 0) {
        close();
        throw std::runtime_error("cannot listen for metrics on " + addr.host + ":" +
                                 std::to_string(addr.port) + ": " + uv_strerror(rc));
    }
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr *>(&bound), &len);
    return format_addr(bound);
}

void MetricsServer::close()
{
    if (listening_) {
        uv_close(reinterpret_cast<uv_handle_t *>(&listener_), nullptr);
        listening_ = false;
    }
    for (Client *c : std::vector<Client *>(clients_))
        drop(*c);
}

void MetricsServer::drop(Client &c)
{
    if (c.closing) return;
    c.closing = true;
    for (auto it = clients_.begin(); it != clients_.end(); ++it)
        if (*it == &c) {
            clients_.erase(it);
            break;
        }
    uv_close(reinterpret_cast<uv_handle_t *>(&c.tcp),
             [](uv_handle_t *h) { delete static_cast<Client *>(h->data); });
}

void MetricsServer::on_connection(uv_stream_t *server, int status)
{
    auto *self = static_cast<MetricsServer *>(server->data);
    if (status < 0) return;
    auto *c = new Client(self);
    uv_tcp_init(self->loop_, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, reinterpret_cast<uv_stream_t *>(&c->tcp)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t *>(&c->tcp),
                 [](uv_handle_t *h) { delete static_cast<Client *>(h->data); });
        return;
    }
    c->since_ms = uv_now(self->loop_);
    // Drop scrapers that never finish their request (checked as new ones arrive).
    for (Client *old : std::vector<Client *>(self->clients_))
        if (!old->answered && c->since_ms - old->since_ms > kRequestTimeoutMs) self->drop(*old);
    self->clients_.push_back(c);
    uv_read_start(
        reinterpret_cast<uv_stream_t *>(&c->tcp),
        [](uv_handle_t *h, size_t, uv_buf_t *buf) {
            auto *client = static_cast<Client *>(h->data);
            // Reads land straight in the request buffer: the parser's views point into it.
            // It never fills up here: a full buffer without a whole head was answered 431.
            size_t room = sizeof client->in - client->len;
            *buf = uv_buf_init(client->in + client->len, unsigned(room));
        },
        [](uv_stream_t *stream, ssize_t n, const uv_buf_t *) {
            auto *client = static_cast<Client *>(stream->data);
            if (n < 0) {
                if (!client->answered) client->server->drop(*client);
                return;
            }
            if (n == 0 || client->answered) return;
            client->len += size_t(n);
            client->server->on_bytes(*client);
        });
}

void MetricsServer::on_bytes(Client &c)
{
    using shared::http::Method;
    using shared::http::ParseEvent;
    auto r = c.parser.feed(c.in + c.parsed, c.len - c.parsed);
    c.parsed += r.consumed;
    if (r.event == ParseEvent::kError) {
        answer(c, c.parser.error_status(), std::string(c.parser.error_reason()) + "\n");
        return;
    }
    if (r.event == ParseEvent::kNeedMore) {
        if (c.len == sizeof c.in) answer(c, 431, "request head too large\n");
        return;
    }
    const shared::http::RequestHead &head = c.parser.head();
    if (head.method != Method::kGet && head.method != Method::kHead) {
        answer(c, 405, "GET /metrics\n", "Allow: GET, HEAD\r\n");
        return;
    }
    if (head.path != "/metrics") {
        answer(c, 404, "metrics are at /metrics\n");
        return;
    }
    std::string body;
    try {
        body = render_();
    } catch (const std::exception &e) {
        answer(c, 500, std::string(e.what()) + "\n");
        return;
    }
    answer(c, 200, std::move(body));
}

void MetricsServer::answer(Client &c, int status, std::string body, const char *extra)
{
    c.answered = true;
    uv_read_stop(reinterpret_cast<uv_stream_t *>(&c.tcp));
    c.out = "HTTP/1.1 " + std::to_string(status) + " " +
            std::string(shared::http::reason_phrase(status)) +
            "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n" + extra + "Connection: close\r\n\r\n";
    if (c.parser.head().method != shared::http::Method::kHead) c.out += body;
    uv_buf_t b = uv_buf_init(c.out.data(), unsigned(c.out.size()));
    c.write.data = &c;
    int rc = uv_write(&c.write, reinterpret_cast<uv_stream_t *>(&c.tcp), &b, 1,
                      [](uv_write_t *req, int) {
                          auto *client = static_cast<Client *>(req->data);
                          client->server->drop(*client);
                      });
    if (rc != 0) drop(c);
}

} // namespace berth::edge
