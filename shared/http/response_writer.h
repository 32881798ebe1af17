// Serialises a response head (status line, headers) and small bodies into a caller-owned buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::shared::http
{

// Reason phrase for a status code ("Unknown" for codes we never send).
std::string_view reason_phrase(int status) noexcept;

// Appends to `out`, which the caller reuses across requests so capacity is kept (no allocation
// in the steady state). Nothing is validated: callers pass only values they built or checked.
class ResponseWriter
{
public:
    explicit ResponseWriter(std::string &out) noexcept : out_(out) {}

    void status_line(int status, bool http10 = false);
    void header(std::string_view name, std::string_view value);
    void header(std::string_view name, uint64_t value);
    void raw(std::string_view bytes) { out_.append(bytes); } // pre-built header lines
    void end_head() { out_.append("\r\n"); }
    void body(std::string_view bytes) { out_.append(bytes); }

    // Chunked transfer coding framing (RFC 9112 7.1).
    void chunk(std::string_view bytes);
    void last_chunk() { out_.append("0\r\n\r\n"); }

    // A complete small response with a text body: status line, Content-Type, Content-Length,
    // optional extra header lines (each ending in CRLF) and the body (omitted for HEAD).
    void simple(int status, std::string_view content_type, std::string_view body,
                std::string_view extra_headers = {}, bool head_only = false, bool close = false);

    std::string &buffer() noexcept { return out_; }

private:
    std::string &out_;
};

} // namespace berth::shared::http
