// Per-user trigger throttles in Redis: sliding windows of 1 minute and 1 hour (#3).
#pragma once

#include <cstdint>
#include <string>

namespace berth::control
{

class RedisConn;

struct ThrottleLimits {
    int per_minute = 3;
    int per_hour = 10;
};

struct ThrottleDecision {
    bool allowed = true;
    int64_t retry_after_ms = 0; // when refused: until the oldest counted request leaves its window
    // Retry-After in whole seconds, rounded up so a client that waits that long succeeds.
    int64_t retry_after_s() const noexcept { return (retry_after_ms + 999) / 1000; }
};

// Counts one attempt for `user_id` if both windows have room, atomically (one Lua script), and
// otherwise counts nothing and says how long to wait. now_ms is the caller's clock (tests pass
// a fixed one). Throws RedisUnavailable.
ThrottleDecision throttle_trigger(RedisConn &redis, const std::string &prefix,
                                  const std::string &user_id, const ThrottleLimits &limits,
                                  int64_t now_ms);

} // namespace berth::control
