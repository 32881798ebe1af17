// llhttp wrapper: request bytes → RequestHead views, with size limits and precise error statuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <llhttp.h>

#include "shared/http/request_head.h"

namespace berth::shared::http
{

struct ParserLimits {
    size_t max_head_bytes = 16 * 1024;         // request line + all headers; above → 431 (or 414)
    size_t max_target_bytes = 8 * 1024;        // request target; above → 414
    size_t max_header_count = kMaxHeaderCount; // above → 431
    uint64_t max_body_bytes = 1 << 20;         // declared or received body above → 413
};

enum class ParseEvent : uint8_t {
    kNeedMore,        // all bytes consumed, message not complete
    kHeadComplete,    // head parsed and a body follows; inspect head(), then feed on
    kMessageComplete, // whole message parsed; handle it, then reset_message() and feed on
    kBody,            // with body spans on: body() holds the next piece of the body
    kError,           // error_status() and error_reason() tell why; the connection must close
};

struct ParseResult {
    ParseEvent event;
    size_t consumed; // bytes of the input consumed before stopping
};

class RequestParser
{
public:
    explicit RequestParser(const ParserLimits &limits) noexcept;
    RequestParser(const RequestParser &) = delete;
    RequestParser &operator=(const RequestParser &) = delete;

    // Parses [data, data + len). The bytes of the current message's head must stay at the same
    // address, contiguous with bytes fed later, until reset_message(): head() views them.
    // Stops at kHeadComplete (only when a body follows) and at kMessageComplete.
    ParseResult feed(const char *data, size_t len) noexcept;

    // Clears the head for the next pipelined request (call after kMessageComplete).
    void reset_message() noexcept;

    // The caller moved the buffer holding the current head by delta bytes (compaction).
    void rebase(std::ptrdiff_t delta) noexcept;

    // Body bytes go to *sink when set (control plane); otherwise they are dropped (edge),
    // unless body spans are on: then feed() stops at each piece of the body (kBody) and
    // body() views it in the caller's buffer (de-chunked), for a handler that streams it.
    void set_body_sink(std::string *sink) noexcept { body_sink_ = sink; }
    void set_body_spans(bool on) noexcept { body_spans_ = on; }

    // Decides the body limit of each request that has a body, from its head (a route may
    // allow more or less than ParserLimits::max_body_bytes); called before the declared
    // length is checked. Null: the ParserLimits value for every request.
    using BodyLimitFn = uint64_t (*)(void *ctx, const RequestHead &head) noexcept;
    void set_body_limit_fn(BodyLimitFn fn, void *ctx) noexcept
    {
        body_limit_fn_ = fn;
        body_limit_ctx_ = ctx;
    }
    std::string_view body() const noexcept { return body_; }

    // Back to a fresh parser (after an error, or for another connection).
    void reset() noexcept;

    // The connection closed: true if that ended a message cleanly (or none had begun).
    bool finish() noexcept;

    const RequestHead &head() const noexcept { return head_; }
    bool in_message() const noexcept { return in_message_; }
    bool head_complete() const noexcept { return head_complete_; }
    int error_status() const noexcept { return error_status_; }
    std::string_view error_reason() const noexcept { return error_reason_; }

private:
    static int on_message_begin(llhttp_t *);
    static int on_method(llhttp_t *, const char *, size_t);
    static int on_url(llhttp_t *, const char *, size_t);
    static int on_header_field(llhttp_t *, const char *, size_t);
    static int on_header_value(llhttp_t *, const char *, size_t);
    static int on_header_value_complete(llhttp_t *);
    static int on_headers_complete(llhttp_t *);
    static int on_body(llhttp_t *, const char *, size_t);
    static int on_message_complete(llhttp_t *);

    int fail(int status, const char *reason) noexcept;
    int finish_head() noexcept;
    int count_trailer(size_t len) noexcept;

    llhttp_t parser_;
    llhttp_settings_t settings_;
    ParserLimits limits_;
    RequestHead head_;
    std::string *body_sink_ = nullptr;
    std::string_view body_;
    bool body_spans_ = false;
    size_t head_bytes_ = 0;
    size_t trailer_bytes_ = 0;
    uint64_t body_bytes_ = 0;
    uint64_t body_limit_ = 0; // of the current message
    BodyLimitFn body_limit_fn_ = nullptr;
    void *body_limit_ctx_ = nullptr;
    int host_count_ = 0;
    int error_status_ = 0;
    const char *error_reason_ = "";
    bool in_message_ = false;
    bool head_complete_ = false;
    bool message_complete_ = false;
    bool value_open_ = false; // a header value has begun (llhttp may split it)
};

// Appends a view that llhttp delivered in pieces; pieces are contiguous in the head buffer.
inline void extend_view(std::string_view &v, const char *at, size_t len) noexcept
{
    v = v.empty() ? std::string_view(at, len)
                  : std::string_view(v.data(), size_t(at + len - v.data()));
}

} // namespace berth::shared::http
