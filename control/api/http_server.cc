// Connection state machine: read → parse (shared RequestParser) → hand a copied request to the
// threadpool → write (shared ResponseWriter) → keep-alive. One request in flight per
// connection keeps responses in order without a queue (#3).
#include "control/api/http_server.h"

#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "shared/http/http_date.h"
#include "shared/http/response_writer.h"

namespace berth::control
{

using shared::http::ParseEvent;

std::string_view ApiRequest::header(std::string_view name) const noexcept
{
    for (const auto &[k, v] : headers)
        if (shared::http::iequals(k, name)) return v;
    return {};
}

struct HttpServer::Connection {
    HttpServer *server;
    std::list<std::unique_ptr<Connection>>::iterator self;
    uv_tcp_t tcp{};
    uv_timer_t idle{}; // closes a connection that sends nothing for idle_timeout_ms
    int open_handles = 2;
    uv_work_t work{};
    uv_write_t write_req{};
    shared::http::RequestParser parser;
    // The head buffer: fixed capacity, never reallocated, so the parser's views stay valid.
    std::unique_ptr<char[]> buf;
    size_t cap, len = 0, pos = 0, head_end = 0;
    std::string body;
    ApiRequest request;
    ApiResponse response;
    std::string out;
    bool busy = false; // a request is on the threadpool or its response is being written
    bool work_pending = false;
    bool closing = false;
    bool closed = false; // on_closed ran
    bool close_after_write = false;
    bool keep_alive = true;
    bool http10 = false;
    bool head_only = false;
    // A head check (set_head_check) is on the threadpool; its answer, if it refused.
    bool checking_head = false;
    std::optional<ApiResponse> head_verdict;
    // A streaming response (#16): the producer's stream, null once it ended or was cancelled.
    ResponseStream *stream = nullptr;
    bool streaming = false;

    Connection(HttpServer *s, const shared::http::ParserLimits &limits)
        : server(s), parser(limits), cap(limits.max_head_bytes + 16 * 1024)
    {
        buf.reset(new char[cap]);
        parser.set_body_sink(&body);
        if (server->body_limit_) parser.set_body_limit_fn(&Connection::body_limit, this);
        tcp.data = this;
        idle.data = this;
        work.data = this;
        write_req.data = this;
    }

    static uint64_t body_limit(void *self, const shared::http::RequestHead &head) noexcept
    {
        auto *c = static_cast<Connection *>(self);
        try {
            return c->server->body_limit_(head);
        } catch (...) {
            return c->server->limits_.max_body_bytes;
        }
    }

    void start()
    {
        uv_read_start(reinterpret_cast<uv_stream_t *>(&tcp), on_alloc, on_read);
        arm_idle();
    }

    // Idle while waiting for request bytes (a slow or silent client); not while a request runs.
    void arm_idle() { uv_timer_start(&idle, on_idle, server->idle_timeout_ms_, 0); }
    static void on_idle(uv_timer_t *t) { static_cast<Connection *>(t->data)->close(); }

    void close()
    {
        if (closing) return;
        closing = true;
        if (stream) {
            stream->cancel(); // the producer stops; the stream frees itself
            stream = nullptr;
        }
        uv_close(reinterpret_cast<uv_handle_t *>(&tcp), on_closed);
        uv_close(reinterpret_cast<uv_handle_t *>(&idle), on_closed);
    }

    static void on_alloc(uv_handle_t *h, size_t, uv_buf_t *out)
    {
        auto *c = static_cast<Connection *>(h->data);
        *out = uv_buf_init(c->buf.get() + c->len, unsigned(c->cap - c->len));
    }

    static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *)
    {
        auto *c = static_cast<Connection *>(s->data);
        if (n < 0) {
            c->close(); // EOF, reset, or ENOBUFS (head larger than the buffer)
            return;
        }
        if (c->streaming) {
            // Read only to notice the client leaving; the connection closes after the stream.
            c->len = 0;
            return;
        }
        c->len += size_t(n);
        c->arm_idle();
        c->process();
    }

    static void on_closed(uv_handle_t *h)
    {
        auto *c = static_cast<Connection *>(h->data);
        if (--c->open_handles > 0) return; // the tcp handle and the timer both close
        c->closed = true;
        // A request still on the threadpool frees the connection in on_work_done.
        if (!c->work_pending) c->server->on_conn_closed(c);
    }

    void process()
    {
        while (!busy && !closing && pos < len) {
            auto r = parser.feed(buf.get() + pos, len - pos);
            pos += r.consumed;
            switch (r.event) {
            case ParseEvent::kNeedMore:
                if (parser.head_complete()) {
                    // Body bytes were copied to `body`: drop them, keep the head in place.
                    std::memmove(buf.get() + head_end, buf.get() + pos, len - pos);
                    len -= pos - head_end;
                    pos = head_end;
                }
                return;
            case ParseEvent::kHeadComplete:
                head_end = pos;
                if (large_body_expected()) {
                    start_head_check();
                    return;
                }
                send_continue_if_expected();
                break;
            case ParseEvent::kMessageComplete:
                dispatch();
                return;
            case ParseEvent::kBody: // body spans are off here: the body goes to `body`
                break;
            case ParseEvent::kError:
                fail_parse();
                return;
            }
        }
    }

    void send_continue_if_expected()
    {
        if (!parser.head().expect_continue) return;
        static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        auto *req = new uv_write_t;
        uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
        if (uv_write(req, reinterpret_cast<uv_stream_t *>(&tcp), &b, 1,
                     [](uv_write_t *w, int) { delete w; }) != 0)
            delete req;
    }

    // A body past the ordinary limit is read only for a caller the head check lets in.
    bool large_body_expected()
    {
        const auto &h = parser.head();
        if (!server->head_check_ || !server->body_limit_) return false;
        if (!h.chunked && h.content_length <= server->limits_.max_body_bytes) return false;
        return body_limit(this, h) > server->limits_.max_body_bytes;
    }

    void copy_head()
    {
        const auto &h = parser.head();
        request.method = h.method;
        request.method_name.assign(h.method_name);
        request.path.assign(h.path);
        request.query.assign(h.query);
        request.headers.clear();
        for (uint16_t i = 0; i < h.header_count; ++i)
            request.headers.emplace_back(std::string(h.headers[i].name),
                                         std::string(h.headers[i].value));
    }

    // Reading stops while the check runs; on_work_done answers or reads the body on.
    void start_head_check()
    {
        copy_head();
        request.body.clear();
        checking_head = true;
        busy = true;
        work_pending = true;
        uv_read_stop(reinterpret_cast<uv_stream_t *>(&tcp));
        uv_timer_stop(&idle);
        uv_queue_work(server->loop_, &work, on_work, on_work_done);
    }

    void finish_head_check()
    {
        checking_head = false;
        if (head_verdict) {
            response = std::move(*head_verdict);
            head_verdict.reset();
            keep_alive = false;
            http10 = parser.head().is_http10();
            head_only = false;
            write_response(true); // the body stays unread: the connection cannot go on
            return;
        }
        busy = false;
        send_continue_if_expected();
        start();
        process(); // body bytes that came with the head
    }

    void dispatch()
    {
        copy_head();
        const auto &h = parser.head();
        request.body = std::move(body);
        body.clear();
        keep_alive = h.keep_alive;
        http10 = h.is_http10();
        head_only = h.method == shared::http::Method::kHead;
        // The request is copied: the buffer may now take the next pipelined request.
        std::memmove(buf.get(), buf.get() + pos, len - pos);
        len -= pos;
        pos = head_end = 0;
        parser.reset_message();

        busy = true;
        work_pending = true;
        uv_read_stop(reinterpret_cast<uv_stream_t *>(&tcp));
        uv_timer_stop(&idle);
        uv_queue_work(server->loop_, &work, on_work, on_work_done);
    }

    static void on_work(uv_work_t *w)
    {
        auto *c = static_cast<Connection *>(w->data);
        if (c->checking_head)
            c->head_verdict = c->server->head_check_(c->request);
        else
            c->response = c->server->handler_(c->request);
    }

    static void on_work_done(uv_work_t *w, int)
    {
        auto *c = static_cast<Connection *>(w->data);
        c->work_pending = false;
        if (c->closing) {
            // Closed while the handler ran; if on_closed already fired, free it now.
            if (c->closed) c->server->on_conn_closed(c);
            return;
        }
        if (c->checking_head)
            c->finish_head_check();
        else if (c->response.stream)
            c->start_stream();
        else
            c->write_response(!c->keep_alive);
    }

    // A write of bytes owned by the request itself (stream chunks may queue up several).
    struct OwnedWrite {
        uv_write_t req;
        Connection *conn;
        std::string data;
        bool from_stream;
    };

    void write_owned(std::string data, bool from_stream, bool close_after)
    {
        auto *w = new OwnedWrite{{}, this, std::move(data), from_stream};
        w->req.data = w;
        uv_buf_t b = uv_buf_init(w->data.data(), unsigned(w->data.size()));
        uv_write_cb cb = close_after ? on_owned_written_close : on_owned_written;
        if (uv_write(&w->req, reinterpret_cast<uv_stream_t *>(&tcp), &b, 1, cb) != 0) {
            if (from_stream && stream) stream->written(w->data.size());
            delete w;
            close();
        }
    }

    static void owned_done(uv_write_t *req, int status, bool close_after)
    {
        auto *w = static_cast<OwnedWrite *>(req->data);
        Connection *c = w->conn;
        if (w->from_stream && c->stream) c->stream->written(w->data.size());
        delete w;
        if (status < 0 || close_after) c->close();
    }
    static void on_owned_written(uv_write_t *req, int status) { owned_done(req, status, false); }
    static void on_owned_written_close(uv_write_t *req, int status)
    {
        owned_done(req, status, true);
    }

    // The head now, the body as the producer writes it; reads resume only to see EOF (#16).
    void start_stream()
    {
        if (server->streams_ >= server->max_streams_) {
            nlohmann::json err = {
                {"code", "too_many_streams"},
                {"error", "too many streaming responses are open; retry later or poll"}};
            response = ApiResponse{503, err.dump(), "application/json", {{"Retry-After", "1"}}, {}};
            write_response(true);
            return;
        }
        std::string head;
        shared::http::ResponseWriter wr(head);
        begin_head(wr);
        wr.header("Transfer-Encoding", "chunked");
        wr.header("Cache-Control", "no-cache");
        for (const auto &[k, v] : response.headers)
            wr.header(k, v);
        wr.header("Connection", "close");
        wr.end_head();
        len = pos = head_end = 0; // pipelined requests are dropped: the connection will close
        if (head_only) {
            // HEAD: the head GET would get, and no producer (it would only write a body).
            response.stream = nullptr;
            write_owned(std::move(head), false, true);
            return;
        }
        streaming = true;
        write_owned(std::move(head), false, false);
        if (closing) return;
        ResponseStream::Callbacks cbs;
        cbs.on_data = [this](std::string framed) { write_owned(std::move(framed), true, false); };
        cbs.on_end = [this](bool complete) {
            stream = nullptr;
            // A producer that failed ends without the last chunk: the body is visibly cut.
            if (complete)
                write_owned("0\r\n\r\n", false, true);
            else
                close();
        };
        stream = ResponseStream::start(server->loop_, std::move(response.stream), std::move(cbs),
                                       &server->streams_);
        response.stream = nullptr;
        uv_read_start(reinterpret_cast<uv_stream_t *>(&tcp), on_alloc, on_read);
    }

    // Status line, Date and Content-Type of `response`: what every answer starts with.
    void begin_head(shared::http::ResponseWriter &wr)
    {
        wr.status_line(response.status, http10);
        char date[shared::http::kHttpDateLength];
        shared::http::format_http_date(std::time(nullptr), date);
        wr.header("Date", std::string_view(date, sizeof date));
        wr.header("Content-Type", response.content_type);
    }

    void write_response(bool close_conn)
    {
        out.clear();
        shared::http::ResponseWriter wr(out);
        begin_head(wr);
        wr.header("Content-Length", uint64_t(response.body.size()));
        for (const auto &[k, v] : response.headers)
            wr.header(k, v);
        if (close_conn)
            wr.header("Connection", "close");
        else if (http10)
            wr.header("Connection", "keep-alive");
        wr.end_head();
        if (!head_only) wr.body(response.body);
        close_after_write = close_conn;
        busy = true;
        uv_buf_t b = uv_buf_init(out.data(), unsigned(out.size()));
        if (uv_write(&write_req, reinterpret_cast<uv_stream_t *>(&tcp), &b, 1, on_written) != 0)
            close();
    }

    static void on_written(uv_write_t *w, int status)
    {
        auto *c = static_cast<Connection *>(w->data);
        c->busy = false;
        if (status < 0 || c->close_after_write) {
            c->close();
            return;
        }
        if (c->closing) return;
        c->start();
        c->process(); // a pipelined request may already be buffered
    }

    void fail_parse()
    {
        int status = parser.error_status() ? parser.error_status() : 400;
        nlohmann::json err = {{"code", status == 413 ? "body_too_large" : "bad_request"},
                              {"error", std::string(parser.error_reason())}};
        response = ApiResponse{status, err.dump(), "application/json", {}};
        head_only = false;
        http10 = false;
        uv_read_stop(reinterpret_cast<uv_stream_t *>(&tcp));
        write_response(true);
    }
};

HttpServer::HttpServer(uv_loop_t *loop, ApiHandler handler, shared::http::ParserLimits limits,
                       uint64_t idle_timeout_ms, int max_streams)
    : loop_(loop), handler_(std::move(handler)), limits_(limits), idle_timeout_ms_(idle_timeout_ms),
      max_streams_(max_streams)
{
}

HttpServer::~HttpServer() = default;

int HttpServer::listen(const std::string &host, int port)
{
    sockaddr_storage addr{};
    int rc = host.find(':') != std::string::npos
                 ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6 *>(&addr))
                 : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in *>(&addr));
    if (rc != 0) return rc;
    uv_tcp_init(loop_, &listener_);
    listener_.data = this;
    listening_ = true;
    rc = uv_tcp_bind(&listener_, reinterpret_cast<sockaddr *>(&addr), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t *>(&listener_), 512, on_connection);
    if (rc != 0) {
        close();
        return rc;
    }
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr *>(&bound), &len);
    port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
    return 0;
}

void HttpServer::on_connection(uv_stream_t *server, int status)
{
    auto *self = static_cast<HttpServer *>(server->data);
    if (status < 0) return;
    auto conn = std::make_unique<Connection>(self, self->limits_);
    Connection *c = conn.get();
    uv_tcp_init(self->loop_, &c->tcp);
    uv_timer_init(self->loop_, &c->idle);
    self->conns_.push_front(std::move(conn));
    c->self = self->conns_.begin();
    if (uv_accept(server, reinterpret_cast<uv_stream_t *>(&c->tcp)) != 0) {
        c->close();
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->start();
}

void HttpServer::on_conn_closed(Connection *c)
{
    conns_.erase(c->self);
}

void HttpServer::close()
{
    if (listening_) {
        listening_ = false;
        uv_close(reinterpret_cast<uv_handle_t *>(&listener_), nullptr);
    }
    for (auto &c : conns_)
        c->close();
}

} // namespace berth::control
