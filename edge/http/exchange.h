// One request/response exchange as handlers see it: the parsed head in, the output queue out.
#pragma once

#include <cstdint>
#include <string_view>

#include "edge/core/worker.h"
#include "edge/static/file_cache.h"
#include "edge/write/output_queue.h"
#include "shared/http/request_head.h"
#include "shared/http/response_writer.h"

namespace berth::edge
{

struct Exchange {
    const shared::http::RequestHead &req;
    OutputQueue &out;
    Worker &worker;
    int status = 0;
    uint64_t body_bytes = 0; // for the access log
    bool close = false;      // answer with "Connection: close" and close after the write
    bool head_only = false;  // HEAD: headers as for GET, no body
    // Set by a handler that needs a file or directory the cache is still loading or opening:
    // it wrote nothing, and the request is handled again once that is done.
    FileLoadRef pending;

    shared::http::ResponseWriter writer() { return shared::http::ResponseWriter(out.buffer()); }

    // Status line, Date and Server.
    void begin(int code)
    {
        status = code;
        auto w = writer();
        w.status_line(code, req.is_http10());
        w.raw(worker.date_header());
        w.raw("Server: berth\r\n");
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
    }
};

// A small HTML page that says what went wrong; `extra` are header lines ending in CRLF.
// title and detail must be string literals (static storage): pages are cached by address.
void send_error(Exchange &ex, int status, std::string_view title, std::string_view detail,
                std::string_view extra = {});

// "GET, HEAD, OPTIONS": what static sites answer to.
inline constexpr std::string_view kStaticAllow = "GET, HEAD, OPTIONS";

} // namespace berth::edge
