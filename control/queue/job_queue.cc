// Lease bookkeeping lives in a hash beside the processing list; the requeue sweep is one Lua
// script so two sweepers never requeue the same job twice (#3).
#include "control/queue/job_queue.h"

#include "control/queue/redis_conn.h"

namespace berth::control
{

namespace
{

// KEYS: processing, pending, leases. ARGV: now, visibility.
constexpr const char *kRequeueScript = R"lua(
local now = tonumber(ARGV[1])
local moved = 0
for _, job in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local lease = redis.call('HGET', KEYS[3], job)
  if not lease then
    redis.call('HSET', KEYS[3], job, now + tonumber(ARGV[2]))
  elseif tonumber(lease) <= now then
    redis.call('LREM', KEYS[1], 1, job)
    redis.call('HDEL', KEYS[3], job)
    redis.call('RPUSH', KEYS[2], job)
    moved = moved + 1
  end
end
return moved
)lua";

void check(const RedisReply &r, const char *what)
{
    if (r->type == REDIS_REPLY_ERROR) throw RedisUnavailable(std::string(what) + ": " + r->str);
}

} // namespace

JobQueue::JobQueue(RedisConn &redis, std::string prefix, int visibility_timeout_ms)
    : redis_(redis), prefix_(std::move(prefix)), visibility_ms_(visibility_timeout_ms)
{
}

void JobQueue::push(const std::string &job)
{
    check(redis_.command({"LPUSH", pending_key(), job}), "LPUSH");
}

std::optional<std::string> JobQueue::take(int wait_ms, int64_t now_ms)
{
    // BLMOVE's timeout is in seconds (fractions allowed since Redis 6).
    std::string timeout = std::to_string(double(wait_ms) / 1000.0);
    auto r = redis_.command({"BLMOVE", pending_key(), processing_key(), "RIGHT", "LEFT", timeout},
                            wait_ms);
    check(r, "BLMOVE");
    if (r->type != REDIS_REPLY_STRING) return std::nullopt;
    std::string job(r->str, r->len);
    heartbeat(job, now_ms);
    return job;
}

void JobQueue::heartbeat(const std::string &job, int64_t now_ms)
{
    check(redis_.command({"HSET", leases_key(), job, std::to_string(now_ms + visibility_ms_)}),
          "HSET");
}

void JobQueue::ack(const std::string &job)
{
    check(redis_.command({"LREM", processing_key(), "1", job}), "LREM");
    check(redis_.command({"HDEL", leases_key(), job}), "HDEL");
}

int JobQueue::requeue_expired(int64_t now_ms)
{
    auto r = redis_.command({"EVAL", kRequeueScript, "3", processing_key(), pending_key(),
                             leases_key(), std::to_string(now_ms), std::to_string(visibility_ms_)});
    check(r, "requeue script");
    return r->type == REDIS_REPLY_INTEGER ? int(r->integer) : 0;
}

bool JobQueue::contains(const std::string &job)
{
    for (const auto &key : {pending_key(), processing_key()}) {
        auto r = redis_.command({"LPOS", key, job});
        check(r, "LPOS");
        if (r->type == REDIS_REPLY_INTEGER) return true;
    }
    return false;
}

} // namespace berth::control
