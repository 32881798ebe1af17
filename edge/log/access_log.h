// Log step: one line per finished request into a per-worker buffer, written by the libuv
// threadpool (uv_fs_write), so the loop never blocks on the log file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>

#include <uv.h>

#include "edge/core/edge_config.h"
#include "shared/http/request_head.h"

namespace berth::edge
{

struct AccessRecord {
    const sockaddr_storage *peer = nullptr;
    const shared::http::RequestHead *req = nullptr;
    std::string_view host;
    int status = 0;
    uint64_t bytes = 0;
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
