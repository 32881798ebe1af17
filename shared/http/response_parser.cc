// llhttp callbacks fill ResponseHead with views into the caller's buffer; each event (head,
// body piece, end) is reported on its own, so the caller can relay with backpressure.
#include "shared/http/response_parser.h"
#include "shared/http/request_parser.h"

namespace berth::shared::http
{

namespace
{

ResponseParser &self(llhttp_t *p)
{
    return *static_cast<ResponseParser *>(p->data);
}

} // namespace

ResponseParser::ResponseParser(size_t max_head_bytes) noexcept : max_head_bytes_(max_head_bytes)
{
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = on_message_begin;
    settings_.on_status = on_status;
    settings_.on_header_field = on_header_field;
    settings_.on_header_value = on_header_value;
    settings_.on_header_value_complete = on_header_value_complete;
    settings_.on_headers_complete = on_headers_complete;
    settings_.on_body = on_body;
    settings_.on_message_complete = on_message_complete;
    settings_.on_chunk_extension_name = on_chunk_extension;
    settings_.on_chunk_extension_value = on_chunk_extension;
    reset();
}

void ResponseParser::reset() noexcept
{
    llhttp_init(&parser_, HTTP_RESPONSE, &settings_);
    parser_.data = this;
    failed_ = false;
    error_reason_ = "";
    head_request_ = false;
    reset_message();
}

void ResponseParser::reset_message() noexcept
{
    head_.status = 0;
    head_.reason = {};
    head_.keep_alive = true;
    head_.has_content_length = head_.chunked = head_.upgrade = false;
    head_.content_length = 0;
    head_.header_count = 0;
    head_.headers[0] = Header{};
    body_ = {};
    head_bytes_ = 0;
    content_length_count_ = 0;
    in_message_ = head_complete_ = message_complete_ = close_delimited_ = value_open_ = false;
    pause_head_ = false;
}

int ResponseParser::fail(const char *reason) noexcept
{
    failed_ = true;
    error_reason_ = reason;
    llhttp_set_error_reason(&parser_, reason);
    return -1;
}

void ResponseParser::rebase(std::ptrdiff_t delta) noexcept
{
    auto move = [delta](std::string_view &v) {
        if (v.data()) v = std::string_view(v.data() + delta, v.size());
    };
    move(head_.reason);
    for (uint16_t i = 0; i < head_.header_count && i < kMaxHeaderCount; ++i) {
        move(head_.headers[i].name);
        move(head_.headers[i].value);
    }
    if (head_.header_count < kMaxHeaderCount) {
        move(head_.headers[head_.header_count].name);
        move(head_.headers[head_.header_count].value);
    }
}

ResponseParse ResponseParser::feed(const char *data, size_t len) noexcept
{
    if (failed_) return {ResponseEvent::kError, 0};
    // Events found in one llhttp run are reported one at a time: the head, then a body piece
    // that came with it, then the end.
    if (pause_head_) {
        pause_head_ = false;
        if (!body_.empty()) return {ResponseEvent::kBody, 0};
        if (message_complete_) return {ResponseEvent::kMessageComplete, 0};
    }
    body_ = {};
    if (message_complete_) return {ResponseEvent::kMessageComplete, 0};
    llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    size_t consumed = len;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        consumed = size_t(llhttp_get_error_pos(&parser_) - data);
        if (err == HPE_PAUSED) llhttp_resume(&parser_);
    } else if (err != HPE_OK) {
        if (!failed_) {
            failed_ = true;
            error_reason_ = llhttp_get_error_reason(&parser_);
            if (!error_reason_) error_reason_ = llhttp_errno_name(err);
        }
        return {ResponseEvent::kError, size_t(llhttp_get_error_pos(&parser_) - data)};
    }
    if (!head_complete_ && in_message_ && head_bytes_ > max_head_bytes_)
        return {(fail("upstream response head too large"), ResponseEvent::kError), consumed};
    if (pause_head_) return {ResponseEvent::kHeadComplete, consumed};
    if (!body_.empty()) return {ResponseEvent::kBody, consumed};
    if (message_complete_) return {ResponseEvent::kMessageComplete, consumed};
    return {ResponseEvent::kNeedMore, consumed};
}

ResponseEvent ResponseParser::finish() noexcept
{
    if (failed_) return ResponseEvent::kError;
    if (!in_message_) return ResponseEvent::kNeedMore;
    if (message_complete_) return ResponseEvent::kMessageComplete;
    if (!head_complete_ || !close_delimited_) {
        fail("upstream closed the connection mid-response");
        return ResponseEvent::kError;
    }
    llhttp_finish(&parser_);
    message_complete_ = true;
    return ResponseEvent::kMessageComplete;
}

int ResponseParser::on_message_begin(llhttp_t *p)
{
    ResponseParser &s = self(p);
    s.reset_message();
    s.in_message_ = true;
    return 0;
}

int ResponseParser::on_status(llhttp_t *p, const char *at, size_t len)
{
    ResponseParser &s = self(p);
    extend_view(s.head_.reason, at, len);
    s.head_bytes_ += len + 16;
    for (size_t i = 0; i < len; ++i)
        if (at[i] == '\r' || at[i] == '\n' || at[i] == '\0')
            return s.fail("control character in upstream status line");
    return 0;
}

int ResponseParser::on_header_field(llhttp_t *p, const char *at, size_t len)
{
    ResponseParser &s = self(p);
    if (s.head_complete_) { // a trailer: read and dropped, bounded like the head
        s.head_bytes_ += len;
        return s.head_bytes_ > 2 * s.max_head_bytes_ ? s.fail("upstream trailer too large") : 0;
    }
    if (s.head_.header_count >= kMaxHeaderCount) return s.fail("too many upstream header fields");
    extend_view(s.head_.headers[s.head_.header_count].name, at, len);
    s.head_bytes_ += len + 4;
    if (s.head_bytes_ > s.max_head_bytes_) return s.fail("upstream response head too large");
    return 0;
}

int ResponseParser::on_header_value(llhttp_t *p, const char *at, size_t len)
{
    ResponseParser &s = self(p);
    s.head_bytes_ += len;
    if (s.head_complete_)
        return s.head_bytes_ > 2 * s.max_head_bytes_ ? s.fail("upstream trailer too large") : 0;
    if (s.head_bytes_ > s.max_head_bytes_) return s.fail("upstream response head too large");
    Header &h = s.head_.headers[s.head_.header_count];
    if (!s.value_open_) {
        h.value = std::string_view(at, len);
        s.value_open_ = true;
    } else {
        extend_view(h.value, at, len);
    }
    return 0;
}

int ResponseParser::on_header_value_complete(llhttp_t *p)
{
    ResponseParser &s = self(p);
    if (s.head_complete_) return 0;
    Header &h = s.head_.headers[s.head_.header_count];
    if (!s.value_open_) h.value = std::string_view(h.name.data() + h.name.size(), 0);
    h.value = trim_ows(h.value);
    if (h.name.empty()) return s.fail("empty upstream header field name");
    for (char c : h.name)
        if (!is_tchar(c)) return s.fail("invalid character in upstream header field name");
    for (char c : h.value)
        if (c == '\r' || c == '\n' || c == '\0')
            return s.fail("obsolete line folding or control character in upstream header value");
    h.token = header_token(h.name);
    if (h.token == HeaderToken::kContentLength) ++s.content_length_count_;
    s.value_open_ = false;
    if (++s.head_.header_count < kMaxHeaderCount) s.head_.headers[s.head_.header_count] = Header{};
    return 0;
}

int ResponseParser::on_headers_complete(llhttp_t *p)
{
    ResponseParser &s = self(p);
    ResponseHead &h = s.head_;
    h.status = p->status_code;
    h.version_major = p->http_major;
    h.version_minor = p->http_minor;
    if (h.version_major != 1) return s.fail("upstream answered in an HTTP version other than 1.x");
    if (h.status < 100 || h.status > 599) return s.fail("invalid upstream status code");
    if (s.content_length_count_ > 1) return s.fail("repeated Content-Length from the upstream");
    h.chunked = (p->flags & F_CHUNKED) != 0;
    h.has_content_length = (p->flags & F_CONTENT_LENGTH) != 0;
    if (h.chunked && h.has_content_length)
        return s.fail("upstream sent both Content-Length and Transfer-Encoding");
    if ((p->flags & F_TRANSFER_ENCODING) && !h.chunked)
        return s.fail("upstream transfer coding other than chunked");
    h.content_length = h.has_content_length ? p->content_length : 0;
    h.keep_alive = llhttp_should_keep_alive(p);
    h.upgrade = h.status == 101;
    s.head_complete_ = true;
    s.pause_head_ = true;
    bool no_body = s.head_request_ || h.status < 200 || h.status == 204 || h.status == 304;
    s.close_delimited_ = !no_body && !h.chunked && !h.has_content_length;
    if (s.close_delimited_) h.keep_alive = false;
    return no_body ? 1 : 0;
}

int ResponseParser::on_body(llhttp_t *p, const char *at, size_t len)
{
    ResponseParser &s = self(p);
    if (len == 0) return 0;
    s.body_ = std::string_view(at, len);
    return HPE_PAUSED;
}

int ResponseParser::on_message_complete(llhttp_t *p)
{
    ResponseParser &s = self(p);
    s.message_complete_ = true;
    return HPE_PAUSED;
}

int ResponseParser::on_chunk_extension(llhttp_t *p, const char *, size_t len)
{
    // Extensions are allowed by the grammar (llhttp checks it) and dropped: the edge
    // re-frames the body. Bounded so a stream of them cannot grow without end.
    ResponseParser &s = self(p);
    s.head_bytes_ += len;
    return s.head_bytes_ > 2 * s.max_head_bytes_ ? s.fail("upstream chunk extensions too large")
                                                 : 0;
}

} // namespace berth::shared::http
