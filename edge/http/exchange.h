// One request/response exchange as a handler sees it: the parsed head and its route in, the
// output queue out, the clock — and nothing else of the worker.
//
// The handler contract (handler.h): serve() either
//   - writes the whole answer into `out` and returns (static files, redirects, errors);
//   - sets `pending` to something to wait for, having written nothing: the connection pauses
//     (no parsing, no reading; output already queued keeps going) and calls serve() again
//     once it wakes (a file load; an upstream connect);
//   - or sets `task`: an ExchangeTask that streams the answer (the write side pulls from it
//     as the output has room) and, if it asks for it, reads the request body as a stream.
#pragma once

#include <cstdint>
#include <string_view>
#include <sys/socket.h>

#include "edge/io/wake_list.h"
#include "edge/log/access_log.h"
#include "edge/route/router.h"
#include "edge/write/output_queue.h"
#include "shared/http/request_head.h"
#include "shared/http/response_writer.h"

namespace berth::edge
{

// What a streaming exchange uses to tell its connection that things changed (loop thread).
class ExchangeStream
{
public:
    // The task has more of the answer to give (after pull() said kWait).
    virtual void resume_output() = 0;
    // The task takes request body bytes again (after on_body() took fewer than offered).
    virtual void resume_body() = 0;
    // The answer switched protocols (a 101 is queued; #14, WebSocket): from now on every byte
    // the client sends goes to on_body() as it is, unparsed (the client's end of stream is
    // on_body_end()), and the connection closes once the task ends.
    virtual void upgrade() = 0;

protected:
    ~ExchangeStream() = default;
};

// An answer that is produced over time, with backpressure both ways.
class ExchangeTask
{
public:
    enum class Pull : uint8_t {
        kMore,      // appended something; call again when the output has room
        kWait,      // nothing now: the task calls ExchangeStream::resume_output() when it has
        kDone,      // the answer is complete
        kDoneClose, // complete, and the connection closes after it (close-delimited answers)
        kAbort,     // the answer cannot be completed: the connection closes after what was queued
    };
    // The output has room: append the next part of the answer (head first, then body).
    virtual Pull pull(OutputQueue &out) = 0;
    // Request body bytes, in order (only when the exchange asked for the body). Returns how
    // many it took; fewer means: hold the rest until ExchangeStream::resume_body().
    virtual size_t on_body(const char *data, size_t len) = 0;
    // The request body is complete (after its last on_body; at once when there is none).
    virtual void on_body_end() = 0;
    // For the access log, asked once the task is done: the answer's status, and where its
    // head ended in the output stream (OutputQueue::queued_total() after the head).
    virtual int status() const noexcept = 0;
    virtual uint64_t head_end() const noexcept = 0;
    // For the access log, asked with status(): the upstream, its time, why it failed.
    virtual ExchangeNotes notes() const noexcept { return {}; }
    // Called exactly once, when the connection is done with the task: after pull() said kDone
    // (completed = true), after kAbort, or when the connection goes away first (client gone,
    // timeout). The task must not call the ExchangeStream after this; its owner may free it.
    virtual void end(bool completed) = 0;

protected:
    ~ExchangeTask() = default;
};

struct Exchange {
    const shared::http::RequestHead &req;
    std::string_view host; // normalised
    const RouteTarget &target;
    OutputQueue &out;
    std::string_view date; // "Date: <IMF-fixdate>\r\n"
    uint64_t now_ms = 0;   // the loop's clock
    ExchangeStream *stream = nullptr;

    const sockaddr_storage *peer = nullptr; // the client's address (the TCP peer)
    std::string_view country;  // the client's ISO country when GeoIP knows it, else empty
    bool peer_trusted = false; // the peer is one of [geoip] trusted_proxies
    ExchangeNotes notes;       // for the access log (request id, upstream of an early answer)

    bool secure = false;   // came over TLS
    std::string_view hsts; // "Strict-Transport-Security: ...\r\n" on HTTPS answers, or empty

    int status = 0;
    bool close = false;     // answer with "Connection: close" and close after the write
    bool head_only = false; // HEAD: headers as for GET, no body
    uint64_t head_end = 0;  // out.queued_total() where the head ended (end_head())

    // Outcomes other than an answer written whole (see above).
    WakeRef pending;
    ExchangeTask *task = nullptr;
    bool task_reads_body = false;

    shared::http::ResponseWriter writer() { return shared::http::ResponseWriter(out.buffer()); }

    // Status line, Date and Server.
    void begin(int code)
    {
        status = code;
        auto w = writer();
        w.status_line(code, req.is_http10());
        w.raw(date);
        w.raw("Server: berth\r\n");
        if (!hsts.empty()) w.raw(hsts);
    }

    // Connection handling and the blank line that ends the head.
    void end_head()
    {
        std::string &b = out.buffer();
        if (close)
            b.append("Connection: close\r\n\r\n");
        else if (req.is_http10())
            b.append("Connection: keep-alive\r\n\r\n");
        else
            b.append("\r\n");
        head_end = out.queued_total();
    }
};

// A small HTML page that says what went wrong; `extra` are header lines ending in CRLF.
// title and detail must be string literals (static storage): pages are cached by address.
void send_error(Exchange &ex, int status, std::string_view title, std::string_view detail,
                std::string_view extra = {});

// "GET, HEAD, OPTIONS": what static sites answer to.
inline constexpr std::string_view kStaticAllow = "GET, HEAD, OPTIONS";

} // namespace berth::edge
