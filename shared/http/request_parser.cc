// llhttp callbacks fill RequestHead with views; limits turn into 414/431/413 before any copy.
#include "shared/http/request_parser.h"

#include <array>
#include <charconv>

#include "shared/http/header_token.h"

namespace berth::shared::http
{

namespace
{

RequestParser &self(llhttp_t *p)
{
    return *static_cast<RequestParser *>(p->data);
}

Method method_of(uint8_t m)
{
    switch (m) {
    case HTTP_GET:
        return Method::kGet;
    case HTTP_HEAD:
        return Method::kHead;
    case HTTP_POST:
        return Method::kPost;
    case HTTP_PUT:
        return Method::kPut;
    case HTTP_PATCH:
        return Method::kPatch;
    case HTTP_DELETE:
        return Method::kDelete;
    case HTTP_OPTIONS:
        return Method::kOptions;
    default:
        return Method::kOther;
    }
}

// The rest of a method (from where llhttp stopped matching) is token characters and a space.
bool is_token_then_space(std::string_view rest) noexcept
{
    size_t n = 0;
    while (n < rest.size() && is_tchar(rest[n]))
        ++n;
    return n > 0 && n < rest.size() && rest[n] == ' ';
}

// A Host value never holds whitespace, ',', '/', '@' or '\\' (plain compares: no memchr per byte).
bool host_chars_ok(std::string_view host)
{
    for (char c : host)
        if (c == ' ' || c == '\t' || c == ',' || c == '/' || c == '@' || c == '\\') return false;
    return true;
}

bool has_token(std::string_view list, std::string_view token)
{
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = trim_ows(list.substr(0, comma));
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

} // namespace

RequestParser::RequestParser(const ParserLimits &limits) noexcept : limits_(limits)
{
    llhttp_settings_init(&settings_);
    settings_.on_message_begin = on_message_begin;
    settings_.on_method = on_method;
    settings_.on_url = on_url;
    settings_.on_header_field = on_header_field;
    settings_.on_header_value = on_header_value;
    settings_.on_header_value_complete = on_header_value_complete;
    settings_.on_headers_complete = on_headers_complete;
    settings_.on_body = on_body;
    settings_.on_message_complete = on_message_complete;
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
    if (limits_.max_header_count > kMaxHeaderCount) limits_.max_header_count = kMaxHeaderCount;
}

int RequestParser::fail(int status, const char *reason) noexcept
{
    error_status_ = status;
    error_reason_ = reason;
    llhttp_set_error_reason(&parser_, reason);
    return -1;
}

ParseResult RequestParser::feed(const char *data, size_t len) noexcept
{
    body_ = {};
    if (error_status_) return {ParseEvent::kError, 0};
    if (message_complete_) return {ParseEvent::kMessageComplete, 0};
    llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    if (err == HPE_OK) {
        if (!head_complete_ && in_message_ && head_bytes_ > limits_.max_head_bytes)
            return {(fail(431, "request header fields too large"), ParseEvent::kError), len};
        return {ParseEvent::kNeedMore, len};
    }
    size_t consumed = size_t(llhttp_get_error_pos(&parser_) - data);
    if (err == HPE_PAUSED) {
        llhttp_resume(&parser_);
        if (!body_.empty()) return {ParseEvent::kBody, consumed};
        return {message_complete_ ? ParseEvent::kMessageComplete : ParseEvent::kHeadComplete,
                consumed};
    }
    if (!error_status_) {
        // llhttp's own errors: unsupported transfer coding or method → 501, the rest 400.
        int status = 400;
        if (err == HPE_INVALID_TRANSFER_ENCODING) status = 501;
        // A well-formed method llhttp does not know ("BREW /x HTTP/1.1") is not a syntax
        // error but a method we do not implement (RFC 9110 15.6.2).
        if (err == HPE_INVALID_METHOD &&
            is_token_then_space(std::string_view(data + consumed, len - consumed)))
            status = 501;
        error_status_ = status;
        error_reason_ = llhttp_get_error_reason(&parser_);
        if (!error_reason_) error_reason_ = llhttp_errno_name(err);
    }
    return {ParseEvent::kError, consumed};
}

void RequestParser::reset() noexcept
{
    llhttp_init(&parser_, HTTP_REQUEST, &settings_);
    parser_.data = this;
    reset_message();
    error_status_ = 0;
    error_reason_ = "";
    body_ = {};
}

void RequestParser::reset_message() noexcept
{
    head_.header_count = 0;
    head_.target = head_.path = head_.query = head_.host = head_.method_name = {};
    head_.has_body = head_.chunked = head_.expect_continue = false;
    head_.content_length = 0;
    head_bytes_ = 0;
    trailer_bytes_ = 0;
    body_bytes_ = 0;
    host_count_ = 0;
    in_message_ = head_complete_ = message_complete_ = value_open_ = false;
}

void RequestParser::rebase(std::ptrdiff_t delta) noexcept
{
    auto move = [delta](std::string_view &v) {
        if (v.data()) v = std::string_view(v.data() + delta, v.size());
    };
    move(head_.method_name);
    move(head_.target);
    move(head_.path);
    move(head_.query);
    move(head_.host);
    for (uint16_t i = 0; i < head_.header_count; ++i) {
        move(head_.headers[i].name);
        move(head_.headers[i].value);
    }
    if (value_open_ || head_.header_count < kMaxHeaderCount) {
        move(head_.headers[head_.header_count].name);
        move(head_.headers[head_.header_count].value);
    }
}

bool RequestParser::finish() noexcept
{
    if (!in_message_ || message_complete_) return true;
    return llhttp_finish(&parser_) == HPE_OK && message_complete_;
}

int RequestParser::on_message_begin(llhttp_t *p)
{
    RequestParser &s = self(p);
    s.reset_message();
    s.in_message_ = true;
    s.head_.headers[0] = Header{};
    return 0;
}

int RequestParser::on_method(llhttp_t *p, const char *at, size_t len)
{
    RequestParser &s = self(p);
    extend_view(s.head_.method_name, at, len);
    s.head_bytes_ += len;
    return 0;
}

int RequestParser::on_url(llhttp_t *p, const char *at, size_t len)
{
    RequestParser &s = self(p);
    extend_view(s.head_.target, at, len);
    s.head_bytes_ += len;
    if (s.head_.target.size() > s.limits_.max_target_bytes) return s.fail(414, "URI too long");
    return 0;
}

int RequestParser::on_header_field(llhttp_t *p, const char *at, size_t len)
{
    RequestParser &s = self(p);
    if (s.head_complete_) return s.count_trailer(len);
    if (s.head_.header_count >= s.limits_.max_header_count)
        return s.fail(431, "too many header fields");
    extend_view(s.head_.headers[s.head_.header_count].name, at, len);
    s.head_bytes_ += len + 4; // ": " and CRLF
    if (s.head_bytes_ > s.limits_.max_head_bytes)
        return s.fail(431, "request header fields too large");
    return 0;
}

int RequestParser::on_header_value(llhttp_t *p, const char *at, size_t len)
{
    RequestParser &s = self(p);
    if (s.head_complete_) return s.count_trailer(len);
    Header &h = s.head_.headers[s.head_.header_count];
    if (!s.value_open_) {
        h.value = std::string_view(at, len);
        s.value_open_ = true;
    } else {
        extend_view(h.value, at, len);
    }
    s.head_bytes_ += len;
    if (s.head_bytes_ > s.limits_.max_head_bytes)
        return s.fail(431, "request header fields too large");
    return 0;
}

int RequestParser::on_header_value_complete(llhttp_t *p)
{
    RequestParser &s = self(p);
    if (s.head_complete_) return 0; // a trailer field: never merged into the head
    Header &h = s.head_.headers[s.head_.header_count];
    if (!s.value_open_) h.value = std::string_view(h.name.data() + h.name.size(), 0);
    h.value = trim_ows(h.value);
    // Field names are tokens (RFC 9110 5.1); obs-fold and bare CR/LF in values are refused
    // (RFC 9112 5.2), which this llhttp build would otherwise let through.
    if (h.name.empty()) return s.fail(400, "empty header field name");
    for (char c : h.name)
        if (!is_tchar(c)) return s.fail(400, "invalid character in header field name");
    for (char c : h.value)
        if (c == '\r' || c == '\n' || c == '\0')
            return s.fail(400, "obsolete line folding or control character in header value");
    h.token = header_token(h.name);
    if (h.token == HeaderToken::kHost) ++s.host_count_;
    s.value_open_ = false;
    if (++s.head_.header_count < kMaxHeaderCount) s.head_.headers[s.head_.header_count] = Header{};
    return 0;
}

// Chunked trailers are read and dropped: merged into the head they could add a second Host
// or an Authorization after the head was checked. They still count against the head limit.
int RequestParser::count_trailer(size_t len) noexcept
{
    trailer_bytes_ += len;
    return trailer_bytes_ > limits_.max_head_bytes ? fail(431, "request trailer fields too large")
                                                   : 0;
}

int RequestParser::finish_head() noexcept
{
    RequestHead &h = head_;
    h.method = method_of(parser_.method);
    h.version_major = parser_.http_major;
    h.version_minor = parser_.http_minor;
    h.keep_alive = llhttp_should_keep_alive(&parser_);
    if (h.version_major != 1) return fail(505, "HTTP version not supported");
    // Not a forward proxy. llhttp would also take whatever follows a CONNECT head, a declared
    // body included, as tunnel bytes: refuse it before anything is read past the head.
    if (parser_.method == HTTP_CONNECT) return fail(501, "CONNECT is not supported");
    // Nothing here switches protocols, so "Upgrade" (curl --http2 sends h2c) is ignored as
    // RFC 9110 7.8 allows: the request is answered as HTTP/1.1 and the connection stays
    // HTTP/1.1. Left set, llhttp would take every later byte, the next request too, as
    // tunnel data.
    parser_.upgrade = 0;

    // Split target into path and query; absolute-form carries the authority (RFC 9112 3.2.2).
    std::string_view t = h.target;
    if (t.size() > 7 &&
        (t.substr(0, 7) == "http://" || t.substr(0, 8) == "https://" ||
         iequals(t.substr(0, 7), "http://") || iequals(t.substr(0, 8), "https://"))) {
        size_t scheme_end = t.find("://") + 3;
        size_t path_start = t.find_first_of("/?", scheme_end);
        h.host = t.substr(scheme_end,
                          path_start == std::string_view::npos ? t.npos : path_start - scheme_end);
        if (h.host.empty()) return fail(400, "absolute-form target without host");
        t = path_start == std::string_view::npos ? std::string_view("/") : t.substr(path_start);
        if (t.front() == '?') return fail(400, "absolute-form target without path");
    } else if (t == "*") {
        if (h.method != Method::kOptions) return fail(400, "asterisk-form is only for OPTIONS");
    } else if (t.empty() || t.front() != '/') {
        // authority-form (CONNECT) and anything else: not served here.
        return fail(400, "request target must be origin-form or absolute-form");
    }
    size_t q = t.find('?');
    h.path = t.substr(0, q);
    h.query = q == std::string_view::npos ? std::string_view() : t.substr(q + 1);

    // Exactly one Host on HTTP/1.1 (RFC 9112 3.2); at most one on 1.0.
    if (host_count_ > 1) return fail(400, "duplicate Host header");
    if (host_count_ == 0 && h.version_minor >= 1) return fail(400, "missing Host header");
    if (h.host.empty()) h.host = h.get(HeaderToken::kHost);
    if (!host_chars_ok(h.host)) return fail(400, "invalid Host header");

    h.chunked = (parser_.flags & F_CHUNKED) != 0;
    if (parser_.flags & F_TRANSFER_ENCODING) {
        // Only "chunked" alone: a body under another coding ("gzip, chunked") would reach an
        // upstream re-framed without it (#14), and two fields may be read two ways.
        int te = 0;
        bool plain = true;
        for (uint16_t i = 0; i < h.header_count; ++i)
            if (h.headers[i].token == HeaderToken::kTransferEncoding) {
                ++te;
                plain &= iequals(h.headers[i].value, "chunked");
            }
        if (te > 1 || !plain) return fail(501, "transfer coding other than chunked");
    }
    if (parser_.flags & F_CONTENT_LENGTH) h.content_length = parser_.content_length;
    h.has_body = h.chunked || h.content_length > 0;
    body_limit_ = limits_.max_body_bytes;
    if (h.has_body && body_limit_fn_) body_limit_ = body_limit_fn_(body_limit_ctx_, h);
    if (!h.chunked && h.content_length > body_limit_) return fail(413, "request body too large");
    std::string_view expect = h.get(HeaderToken::kExpect);
    if (!expect.empty()) {
        if (!iequals(expect, "100-continue")) return fail(417, "unsupported expectation");
        h.expect_continue = h.version_minor >= 1;
    }
    if (has_token(h.get(HeaderToken::kConnection), "close")) h.keep_alive = false;
    return 0;
}

int RequestParser::on_headers_complete(llhttp_t *p)
{
    RequestParser &s = self(p);
    if (int rc = s.finish_head(); rc != 0) return rc;
    s.head_complete_ = true;
    // Pause only when a body follows, so the caller can answer 100-continue or refuse it.
    return s.head_.has_body ? HPE_PAUSED : 0;
}

int RequestParser::on_body(llhttp_t *p, const char *at, size_t len)
{
    RequestParser &s = self(p);
    s.body_bytes_ += len;
    if (s.body_bytes_ > s.body_limit_) return s.fail(413, "request body too large");
    if (s.body_sink_) s.body_sink_->append(at, len);
    if (!s.body_spans_ || len == 0) return 0;
    s.body_ = std::string_view(at, len);
    return HPE_PAUSED; // feed() returns kBody, ending just after this piece
}

int RequestParser::on_message_complete(llhttp_t *p)
{
    RequestParser &s = self(p);
    s.message_complete_ = true;
    return HPE_PAUSED;
}

} // namespace berth::shared::http
