// hiredis RAII: one blocking connection, reconnected on the next command after an error.
#pragma once

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

namespace berth::control
{

// Redis cannot be reached or the connection broke. Triggers answer 503 `queue_unavailable`.
struct RedisUnavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ReplyFree {
    void operator()(redisReply *r) const { freeReplyObject(r); }
};
using RedisReply = std::unique_ptr<redisReply, ReplyFree>;

class RedisConn
{
public:
    // url: redis://[[USER]:PASSWORD@]HOST:PORT[/DB] (user and password percent-encoded; sent
    // with AUTH on each connect). Connects lazily. io_timeout_ms bounds every command
    // (blocking commands pass a longer one per call).
    explicit RedisConn(std::string url, int io_timeout_ms = 2000);
    ~RedisConn();
    RedisConn(const RedisConn &) = delete;
    RedisConn &operator=(const RedisConn &) = delete;

    // Sends one command (argv form, binary-safe). Returns the reply (which may be a Redis error
    // reply: check type). Throws RedisUnavailable when the connection fails; the broken
    // context is dropped and the next call reconnects. block_ms > 0 raises the socket timeout
    // for a blocking command for this call.
    RedisReply command(const std::vector<std::string> &argv, int block_ms = 0);

private:
    void connect();
    void drop() noexcept;

    std::string user_, password_;
    std::string host_;
    int port_ = 6379;
    int db_ = 0;
    int io_timeout_ms_;
    redisContext *ctx_ = nullptr;
};

// Idle RedisConns shared by API worker threads.
class RedisPool
{
public:
    explicit RedisPool(std::string url) : url_(std::move(url)) {}
    template <class F> auto with(F &&fn)
    {
        std::unique_ptr<RedisConn> c;
        {
            std::lock_guard lock(mu_);
            if (!idle_.empty()) {
                c = std::move(idle_.back());
                idle_.pop_back();
            }
        }
        if (!c) c = std::make_unique<RedisConn>(url_);
        auto result = fn(*c); // on throw, c is dropped with its possibly broken context
        std::lock_guard lock(mu_);
        if (idle_.size() < 16) idle_.push_back(std::move(c));
        return result;
    }
    const std::string &url() const noexcept { return url_; }

private:
    std::string url_;
    std::mutex mu_;
    std::vector<std::unique_ptr<RedisConn>> idle_;
};

} // namespace berth::control
