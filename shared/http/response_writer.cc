// Response head serialisation; the only place status lines and header framing are written.
#include "shared/http/response_writer.h"

#include <charconv>

namespace berth::shared::http
{

std::string_view reason_phrase(int status) noexcept
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void ResponseWriter::status_line(int status, bool http10)
{
    char code[4] = {char('0' + status / 100 % 10), char('0' + status / 10 % 10),
                    char('0' + status % 10), ' '};
    out_.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    out_.append(code, 4);
    out_.append(reason_phrase(status));
    out_.append("\r\n");
}

void ResponseWriter::header(std::string_view name, std::string_view value)
{
    out_.append(name);
    out_.append(": ");
    out_.append(value);
    out_.append("\r\n");
}

void ResponseWriter::header(std::string_view name, uint64_t value)
{
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    header(name, std::string_view(digits, size_t(end - digits)));
}

void ResponseWriter::chunk(std::string_view bytes)
{
    if (bytes.empty()) return;
    char hex[20];
    auto [end, ec] = std::to_chars(hex, hex + sizeof hex, bytes.size(), 16);
    out_.append(hex, size_t(end - hex));
    out_.append("\r\n");
    out_.append(bytes);
    out_.append("\r\n");
}

void ResponseWriter::simple(int status, std::string_view content_type, std::string_view body,
                            std::string_view extra_headers, bool head_only, bool close)
{
    status_line(status);
    if (!content_type.empty()) header("Content-Type", content_type);
    header("Content-Length", uint64_t(body.size()));
    raw(extra_headers);
    if (close) out_.append("Connection: close\r\n");
    end_head();
    if (!head_only) out_.append(body);
}

} // namespace berth::shared::http
