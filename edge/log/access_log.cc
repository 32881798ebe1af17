// Access log formatting (combined, JSON lines) and double-buffered asynchronous writes.
#include "edge/log/access_log.h"

#include <charconv>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include "shared/base/ip_text.h"

namespace berth::edge
{

namespace
{
constexpr size_t kFlushAt = 64 * 1024;
constexpr size_t kMaxBuffered = 8 * 1024 * 1024; // beyond this (disk stuck) lines are dropped

void append_peer(std::string &out, const sockaddr_storage *peer)
{
    char ip[shared::kIpTextMax];
    size_t n = shared::ip_text(peer, ip);
    out.append(n ? std::string_view(ip, n) : std::string_view("-"));
}

void append_uint(std::string &out, uint64_t v)
{
    char d[24];
    auto [end, ec] = std::to_chars(d, d + sizeof d, v);
    out.append(d, size_t(end - d));
}

// Combined format escapes like nginx: '"', '\\' and non-printable bytes as \xHH.
void append_log_escaped(std::string &out, std::string_view s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7F) {
            out.append("\\x");
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(char(c));
        }
    }
}

void append_or_dash(std::string &out, std::string_view s)
{
    if (s.empty())
        out.push_back('-');
    else
        append_log_escaped(out, s);
}
void append_notes_combined(std::string &out, const ExchangeNotes &n)
{
    // key=value pairs after the combined fields (values never hold spaces: addresses, codes).
    auto pair = [&out](std::string_view key, std::string_view v) {
        if (v.empty()) return;
        out.append(" ").append(key).append("=");
        append_log_escaped(out, v);
    };
    pair("upstream", n.upstream);
    if (n.upstream_us >= 0) {
        out.append(" upstream_us=");
        append_uint(out, uint64_t(n.upstream_us));
    }
    pair("upstream_error", n.error);
    pair("country", n.country);
    pair("request_id", n.request_id);
}

void append_notes_json(std::string &out, const ExchangeNotes &n);

} // namespace

void append_json_escaped(std::string &out, std::string_view s)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned char c : s) {
        switch (c) {
        case '"':
            out.append("\\\"");
            break;
        case '\\':
            out.append("\\\\");
            break;
        case '\n':
            out.append("\\n");
            break;
        case '\r':
            out.append("\\r");
            break;
        case '\t':
            out.append("\\t");
            break;
        default:
            if (c < 0x20 || c >= 0x7F) { // keep the output ASCII and always valid JSON
                out.append("\\u00");
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 15]);
            } else {
                out.push_back(char(c));
            }
        }
    }
}

namespace
{
void append_notes_json(std::string &out, const ExchangeNotes &n)
{
    auto pair = [&out](std::string_view key, std::string_view v) {
        if (v.empty()) return;
        out.append(",\"").append(key).append("\":\"");
        append_json_escaped(out, v);
        out.push_back('"');
    };
    pair("upstream", n.upstream);
    if (n.upstream_us >= 0) {
        out.append(",\"upstream_us\":");
        append_uint(out, uint64_t(n.upstream_us));
    }
    pair("upstream_error", n.error);
    pair("country", n.country);
    pair("request_id", n.request_id);
}
} // namespace

AccessLog::AccessLog(uv_loop_t *loop, int fd, LogFormat format)
    : loop_(loop), fd_(fd), format_(format)
{
    buf_.reserve(kFlushAt * 2);
}

AccessLog::~AccessLog() = default;

void AccessLog::format_time()
{
    time_t now = time(nullptr);
    if (now == time_second_) return;
    time_second_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    time_len_ = format_ == LogFormat::kJson
                    ? strftime(time_buf_, sizeof time_buf_, "%Y-%m-%dT%H:%M:%SZ", &tm)
                    : strftime(time_buf_, sizeof time_buf_, "%d/%b/%Y:%H:%M:%S +0000", &tm);
}

void AccessLog::log(const AccessRecord &r)
{
    if (buf_.size() > kMaxBuffered) {
        ++dropped_;
        return;
    }
    format_time();
    std::string_view time(time_buf_, time_len_);
    std::string_view proto = r.http10 ? "HTTP/1.0" : "HTTP/1.1";
    if (format_ == LogFormat::kCombined) {
        append_peer(buf_, r.peer);
        buf_.append(" - - [").append(time).append("] \"");
        append_log_escaped(buf_, r.method);
        buf_.push_back(' ');
        append_log_escaped(buf_, r.target);
        buf_.push_back(' ');
        buf_.append(proto).append("\" ");
        append_uint(buf_, uint64_t(r.status));
        buf_.push_back(' ');
        append_uint(buf_, r.bytes);
        buf_.append(" \"");
        append_or_dash(buf_, r.referer);
        buf_.append("\" \"");
        append_or_dash(buf_, r.user_agent);
        buf_.push_back('"');
        if (!r.tls_version.empty()) // after the combined fields, so their parsers still work
            buf_.append(" tls=").append(r.tls_version).append(r.tls_resumed ? " resumed" : "");
        append_notes_combined(buf_, r.notes);
        buf_.push_back('\n');
    } else {
        buf_.append("{\"time\":\"").append(time).append("\",\"remote\":\"");
        append_peer(buf_, r.peer);
        buf_.append("\",\"host\":\"");
        append_json_escaped(buf_, r.host);
        buf_.append("\",\"method\":\"");
        append_json_escaped(buf_, r.method);
        buf_.append("\",\"target\":\"");
        append_json_escaped(buf_, r.target);
        buf_.append("\",\"proto\":\"").append(proto).append("\",\"status\":");
        append_uint(buf_, uint64_t(r.status));
        buf_.append(",\"bytes\":");
        append_uint(buf_, r.bytes);
        buf_.append(",\"duration_us\":");
        append_uint(buf_, r.duration_us);
        buf_.append(",\"referer\":\"");
        append_json_escaped(buf_, r.referer);
        buf_.append("\",\"user_agent\":\"");
        append_json_escaped(buf_, r.user_agent);
        buf_.push_back('"');
        if (!r.tls_version.empty()) {
            buf_.append(",\"tls\":\"").append(r.tls_version).append("\",\"tls_resumed\":");
            buf_.append(r.tls_resumed ? "true" : "false");
        }
        append_notes_json(buf_, r.notes);
        buf_.append("}\n");
    }
    if (buf_.size() >= kFlushAt) flush();
}

void AccessLog::flush()
{
    if (writing_ || buf_.empty() || fd_ < 0) return;
    inflight_.swap(buf_);
    buf_.clear();
    uv_buf_t b = uv_buf_init(inflight_.data(), unsigned(inflight_.size()));
    req_.data = this;
    if (uv_fs_write(loop_, &req_, fd_, &b, 1, -1, on_written) == 0) writing_ = true;
}

void AccessLog::on_written(uv_fs_t *req)
{
    auto *self = static_cast<AccessLog *>(req->data);
    uv_fs_req_cleanup(req);
    self->writing_ = false;
    self->inflight_.clear();
    if (self->buf_.size() >= kFlushAt) self->flush();
}

void AccessLog::flush_blocking()
{
    if (fd_ < 0) return;
    const char *p = buf_.data();
    size_t left = buf_.size();
    while (left > 0) {
        ssize_t n = ::write(fd_, p, left);
        if (n <= 0) break;
        p += n;
        left -= size_t(n);
    }
    buf_.clear();
}

} // namespace berth::edge
