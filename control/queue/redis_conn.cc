// Connection handling for hiredis' blocking API; errors never leave a half-read reply behind.
#include "control/queue/redis_conn.h"

#include <string_view>
#include <sys/time.h>

#include "control/base/percent_coding.h"

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
    std::string rest = url.rfind("redis://", 0) == 0 ? url.substr(8) : url;
    if (size_t at = rest.rfind('@'); at != std::string::npos) {
        std::string_view credentials = std::string_view(rest).substr(0, at);
        size_t colon = credentials.find(':');
        user_ = percent_decode(credentials.substr(0, colon), false);
        if (colon != std::string_view::npos)
            password_ = percent_decode(credentials.substr(colon + 1), false);
        rest.erase(0, at + 1);
    }
    if (size_t slash = rest.find('/'); slash != std::string::npos) {
        db_ = std::atoi(rest.c_str() + slash + 1);
        rest.resize(slash);
    }
    if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
        port_ = std::atoi(rest.c_str() + colon + 1);
        rest.resize(colon);
    }
    host_ = rest.empty() ? "127.0.0.1" : rest;
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
