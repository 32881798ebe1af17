// llhttp in response mode, for upstream replies: bytes → ResponseHead views and body pieces,
// strict (no obs-fold, no bare CR/LF/NUL in fields, no Content-Length with Transfer-Encoding,
// no repeated or conflicting Content-Length, bounded head), so what the edge relays is always
// a message it understood (#14).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <llhttp.h>

#include "shared/http/request_head.h"

namespace berth::shared::http
{

struct ResponseHead {
    int status = 0;
    std::string_view reason;
    uint8_t version_major = 1;
    uint8_t version_minor = 1;
    bool keep_alive = true; // the upstream keeps the connection after this message
    bool has_content_length = false;
    uint64_t content_length = 0;
    bool chunked = false;
    bool upgrade = false; // 101 with Upgrade: the rest of the stream is a tunnel
    uint16_t header_count = 0;
    std::array<Header, kMaxHeaderCount> headers;

    std::string_view get(std::string_view name) const noexcept
    {
        for (uint16_t i = 0; i < header_count; ++i)
            if (iequals(headers[i].name, name)) return headers[i].value;
        return {};
    }
};

enum class ResponseEvent : uint8_t {
    kNeedMore,        // all bytes consumed, nothing to report
    kHeadComplete,    // head() is complete (1xx interim heads too); feed on for the body
    kBody,            // body() holds the next piece of the body (de-chunked)
    kMessageComplete, // the message ended; reset_message() before feeding the next one
    kError,           // error_reason() tells why; the upstream connection must be dropped
};

struct ResponseParse {
    ResponseEvent event;
    size_t consumed;
};

class ResponseParser
{
public:
    explicit ResponseParser(size_t max_head_bytes = 16 * 1024) noexcept;
    ResponseParser(const ResponseParser &) = delete;
    ResponseParser &operator=(const ResponseParser &) = delete;

    // The request this response answers was a HEAD: no body whatever the head says.
    void set_head_request(bool head) noexcept { head_request_ = head; }

    // Parses [data, data + len); the head's bytes must stay in place until reset_message().
    ResponseParse feed(const char *data, size_t len) noexcept;
    // The upstream closed: completes a close-delimited body (kMessageComplete), or kError
    // when the message was cut short, or kNeedMore when no message had begun.
    ResponseEvent finish() noexcept;
    // Ready for the next message on the same connection (after kMessageComplete).
    void reset_message() noexcept;
    // A fresh parser (another connection).
    void reset() noexcept;
    // The caller moved the buffer holding the head by delta bytes.
    void rebase(std::ptrdiff_t delta) noexcept;

    const ResponseHead &head() const noexcept { return head_; }
    std::string_view body() const noexcept { return body_; }
    bool in_message() const noexcept { return in_message_; }
    bool head_complete() const noexcept { return head_complete_; }
    // The body runs until the upstream closes (neither Content-Length nor chunked).
    bool close_delimited() const noexcept { return close_delimited_; }
    const char *error_reason() const noexcept { return error_reason_; }

private:
    static int on_message_begin(llhttp_t *);
    static int on_status(llhttp_t *, const char *, size_t);
    static int on_header_field(llhttp_t *, const char *, size_t);
    static int on_header_value(llhttp_t *, const char *, size_t);
    static int on_header_value_complete(llhttp_t *);
    static int on_headers_complete(llhttp_t *);
    static int on_body(llhttp_t *, const char *, size_t);
    static int on_message_complete(llhttp_t *);
    static int on_chunk_extension(llhttp_t *, const char *, size_t);
    int fail(const char *reason) noexcept;

    llhttp_t parser_;
    llhttp_settings_t settings_;
    size_t max_head_bytes_;
    ResponseHead head_;
    std::string_view body_;
    size_t head_bytes_ = 0;
    int content_length_count_ = 0;
    const char *error_reason_ = "";
    bool failed_ = false;
    bool head_request_ = false;
    bool in_message_ = false;
    bool head_complete_ = false;
    bool message_complete_ = false;
    bool close_delimited_ = false;
    bool value_open_ = false;
    bool pause_head_ = false;
};

} // namespace berth::shared::http
