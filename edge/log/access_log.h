// Log step: one line per finished exchange (its last byte handed to the socket, or the
// connection gone) into a per-worker buffer, written by the libuv threadpool (uv_fs_write),
// so the loop never blocks on the log file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>

#include <uv.h>

#include "edge/config/edge_config.h"

namespace berth::edge
{

// What a proxied (or geo-checked) exchange adds to its line: the upstream that answered or
// was last tried, its time, why it failed, the request id and the client's country (#14).
struct ExchangeNotes {
    std::string_view upstream;   // "127.0.0.1:9001"
    std::string_view error;      // "connect_refused", "header_timeout", ... or empty
    std::string_view request_id; // X-Request-Id
    std::string_view country;    // ISO code from GeoIP, or empty
    int64_t upstream_us = -1;    // from the first upstream attempt to its last byte; -1: none
};

struct AccessRecord {
    const sockaddr_storage *peer = nullptr;
    std::string_view host; // normalised
    std::string_view method;
    std::string_view target;
    std::string_view referer;
    std::string_view user_agent;
    bool http10 = false;
    int status = 0;
    uint64_t bytes = 0;           // body bytes that reached the socket
    uint64_t duration_us = 0;     // head parsed → last byte handed to the socket
    std::string_view tls_version; // "TLSv1.3"; empty on plain HTTP
    bool tls_resumed = false;
    ExchangeNotes notes;
};

class AccessLog
{
public:
    // fd is shared by workers and opened with O_APPEND, so whole-line writes never interleave.
    AccessLog(uv_loop_t *loop, int fd, LogFormat format);
    AccessLog(const AccessLog &) = delete;
    AccessLog &operator=(const AccessLog &) = delete;
    ~AccessLog();

    void log(const AccessRecord &r);
    // Hands the buffer to the threadpool if nothing is being written. Call on a timer.
    void flush();
    // At exit, after the loop stopped: write what is left, blocking.
    void flush_blocking();
    bool idle() const noexcept { return !writing_; }
    uint64_t dropped() const noexcept { return dropped_; }

private:
    static void on_written(uv_fs_t *req);
    void format_time();

    uv_loop_t *loop_;
    int fd_;
    LogFormat format_;
    std::string buf_;
    std::string inflight_;
    uv_fs_t req_;
    bool writing_ = false;
    uint64_t dropped_ = 0;
    time_t time_second_ = 0;
    char time_buf_[40];
    size_t time_len_ = 0;
};

// Appends `s` JSON-escaped (without quotes).
void append_json_escaped(std::string &out, std::string_view s);

} // namespace berth::edge
