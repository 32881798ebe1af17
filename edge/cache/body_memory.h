// The bytes of file bodies one worker keeps in memory, held to [cache] memory_bytes.
//
// A body keeps its charge until the last reference to it lets go (the cache, or a response
// still being written), so the count is what is really held. A file that does not fit any
// more is sent from its descriptor instead (sendfile): the limit costs speed, never bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace berth::edge
{

struct BodyMemory {
    explicit BodyMemory(uint64_t limit_bytes) noexcept : limit(limit_bytes) {}
    const uint64_t limit;
    // Atomic: the last reference to a body may be dropped off the loop thread (the hasher).
    std::atomic<uint64_t> used{0};
};

class BodyCharge
{
public:
    BodyCharge() = default;
    // `bytes` charged to pool, or an empty charge when they do not fit.
    static BodyCharge take(const std::shared_ptr<BodyMemory> &pool, uint64_t bytes) noexcept
    {
        BodyCharge c;
        uint64_t used = pool->used.load(std::memory_order_relaxed);
        do {
            if (used + bytes > pool->limit) return c;
        } while (!pool->used.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
        c.pool_ = pool;
        c.bytes_ = bytes;
        return c;
    }
    BodyCharge(BodyCharge &&o) noexcept : pool_(std::move(o.pool_)), bytes_(o.bytes_) {}
    BodyCharge &operator=(BodyCharge &&o) noexcept
    {
        release();
        pool_ = std::move(o.pool_);
        bytes_ = o.bytes_;
        return *this;
    }
    BodyCharge(const BodyCharge &) = delete;
    BodyCharge &operator=(const BodyCharge &) = delete;
    ~BodyCharge() { release(); }

    explicit operator bool() const noexcept { return pool_ != nullptr; }

private:
    void release() noexcept
    {
        if (pool_) pool_->used.fetch_sub(bytes_, std::memory_order_relaxed);
        pool_.reset();
    }
    std::shared_ptr<BodyMemory> pool_;
    uint64_t bytes_ = 0;
};

} // namespace berth::edge
