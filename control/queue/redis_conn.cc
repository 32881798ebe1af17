// Connection handling for hiredis' blocking API; errors never leave a half-read reply behind.
#include "control/queue/redis_conn.h"

#include <string_view>
#include <sys/time.h>

#include "shared/config/redis_url.h"

namespace berth::control
{

namespace
{

timeval to_tv(int ms)
{
    return timeval{ms / 1000, (ms % 1000) * 1000};
}

} // namespace

RedisConn::RedisConn(std::string url, int io_timeout_ms) : io_timeout_ms_(io_timeout_ms)
{
    // The config reader has checked the URL; a malformed one still throws here, not later.
    shared::config::RedisUrl u = shared::config::parse_redis_url(url);
    user_ = std::move(u.user);
    password_ = std::move(u.password);
    host_ = std::move(u.host);
    port_ = u.port;
    db_ = u.db;
}

RedisConn::~RedisConn()
{
    drop();
}

void RedisConn::drop() noexcept
{
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
}

void RedisConn::connect()
{
    ctx_ = redisConnectWithTimeout(host_.c_str(), port_, to_tv(io_timeout_ms_));
    if (!ctx_ || ctx_->err) {
        std::string why = ctx_ ? ctx_->errstr : "out of memory";
        drop();
        throw RedisUnavailable("redis unavailable at " + host_ + ":" + std::to_string(port_) +
                               ": " + why);
    }
    redisSetTimeout(ctx_, to_tv(io_timeout_ms_));
    if (!password_.empty()) {
        RedisReply r(static_cast<redisReply *>(
            user_.empty() ? redisCommand(ctx_, "AUTH %s", password_.c_str())
                          : redisCommand(ctx_, "AUTH %s %s", user_.c_str(), password_.c_str())));
        if (!r || r->type == REDIS_REPLY_ERROR) {
            std::string why = r ? std::string(r->str, r->len) : "no reply";
            drop();
            throw RedisUnavailable("redis at " + host_ + ":" + std::to_string(port_) +
                                   " refused AUTH: " + why);
        }
    }
    if (db_ != 0) {
        RedisReply r(static_cast<redisReply *>(redisCommand(ctx_, "SELECT %d", db_)));
        if (!r || r->type == REDIS_REPLY_ERROR) {
            drop();
            throw RedisUnavailable("redis SELECT failed");
        }
    }
}

RedisReply RedisConn::command(const std::vector<std::string> &argv, int block_ms)
{
    if (!ctx_) connect();
    std::vector<const char *> args;
    std::vector<size_t> lens;
    args.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto &a : argv) {
        args.push_back(a.data());
        lens.push_back(a.size());
    }
    if (block_ms > 0) redisSetTimeout(ctx_, to_tv(block_ms + io_timeout_ms_));
    RedisReply reply(static_cast<redisReply *>(
        redisCommandArgv(ctx_, int(args.size()), args.data(), lens.data())));
    if (block_ms > 0 && ctx_ && !ctx_->err) redisSetTimeout(ctx_, to_tv(io_timeout_ms_));
    if (!reply || ctx_->err) {
        std::string why = ctx_->err ? ctx_->errstr : "no reply";
        drop();
        throw RedisUnavailable("redis unavailable: " + why);
    }
    return reply;
}

} // namespace berth::control
