// Byte buffers lent to transports while they hold data (TLS records on their way out) and
// given back when empty, so an idle connection holds none and a busy one allocates nothing
// once the pool is warm.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace berth::edge
{

class BufferPool
{
public:
    static constexpr size_t kKeepCapacity = 128 * 1024; // larger buffers are freed

    explicit BufferPool(size_t max_spare) : max_spare_(max_spare) { spare_.reserve(max_spare); }

    std::string *take()
    {
        if (spare_.empty()) return new std::string();
        std::string *b = spare_.back().release();
        spare_.pop_back();
        return b;
    }
    void give(std::string *b) noexcept
    {
        if (!b) return;
        b->clear();
        if (b->capacity() <= kKeepCapacity && spare_.size() < max_spare_)
            spare_.emplace_back(b);
        else
            delete b;
    }

private:
    size_t max_spare_;
    std::vector<std::unique_ptr<std::string>> spare_;
};

} // namespace berth::edge
