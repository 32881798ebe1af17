// A statistics counter written by one thread (a worker loop) and read by another (the admin
// path): a relaxed load and store, no lock and no locked instruction on the request path.
#pragma once

#include <atomic>
#include <cstdint>

namespace berth::shared
{

struct Counter {
    std::atomic<uint64_t> value{0};
    void add(uint64_t n) noexcept
    {
        value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

} // namespace berth::shared
