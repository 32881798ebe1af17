// Sliding-window log per user (a sorted set per window). A fixed window would let 2x the
// limit through around a boundary; the log gives the exact Retry-After (#3).
#include "control/queue/throttle.h"

#include <random>

#include "control/queue/redis_conn.h"

namespace berth::control
{

namespace
{

// KEYS: minute set, hour set. ARGV: now, limit1, window1, limit2, window2, member.
// For a full window, the entry that must expire before a slot frees is the
// (count - limit)-th oldest; its score + window - now is the wait.
constexpr const char *kScript = R"lua(
local now = tonumber(ARGV[1])
local wait = 0
for i = 1, 2 do
  local key = KEYS[i]
  local limit = tonumber(ARGV[i * 2])
  local window = tonumber(ARGV[i * 2 + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local e = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local w = tonumber(e[2]) + window - now
    if w < 1 then w = 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now, ARGV[6])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[i * 2 + 1]))
end
return 0
)lua";

} // namespace

ThrottleDecision throttle_trigger(RedisConn &redis, const std::string &prefix,
                                  const std::string &user_id, const ThrottleLimits &limits,
                                  int64_t now_ms)
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::string member = std::to_string(now_ms) + "-" + std::to_string(rng());
    std::string base = prefix + ":throttle:trigger:" + user_id;
    auto reply = redis.command({"EVAL", kScript, "2", base + ":m", base + ":h",
                                std::to_string(now_ms), std::to_string(limits.per_minute), "60000",
                                std::to_string(limits.per_hour), "3600000", member});
    if (reply->type == REDIS_REPLY_ERROR)
        throw RedisUnavailable(std::string("redis throttle script failed: ") + reply->str);
    ThrottleDecision d;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        d.allowed = false;
        d.retry_after_ms = reply->integer;
    }
    return d;
}

} // namespace berth::control
