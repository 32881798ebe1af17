// Reliable deployment job queue in Redis: pending list → processing list (atomic BLMOVE),
// leases with a visibility timeout, requeue of jobs whose worker died (#3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth::control
{

class RedisConn;

// The deployment row is the truth and the queue only the transport: a job is a deployment id,
// and a worker re-reads the row before acting, so a duplicate or stale job is harmless.
class JobQueue
{
public:
    JobQueue(RedisConn &redis, std::string prefix, int visibility_timeout_ms);

    void push(const std::string &job);

    // Waits up to wait_ms for a job; moves it to the processing list and leases it for the
    // visibility timeout. nullopt on timeout. Throws RedisUnavailable.
    std::optional<std::string> take(int wait_ms, int64_t now_ms);

    // Extends the lease of a job still being worked on.
    void heartbeat(const std::string &job, int64_t now_ms);

    // Removes a finished job from the processing list.
    void ack(const std::string &job);

    // Moves processing jobs whose lease expired back to the head of the pending list. A job
    // found without a lease (its worker died between BLMOVE and the lease write) gets one now,
    // so it too is requeued after one timeout. Returns how many were requeued.
    int requeue_expired(int64_t now_ms);

    // True when the job is in the pending or processing list.
    bool contains(const std::string &job);

    std::string pending_key() const { return prefix_ + ":queue:pending"; }
    std::string processing_key() const { return prefix_ + ":queue:processing"; }
    std::string leases_key() const { return prefix_ + ":queue:leases"; }

private:
    RedisConn &redis_;
    std::string prefix_;
    int visibility_ms_;
};

} // namespace berth::control
