// Memory for objects made and destroyed per connection (connections, transports), kept when
// they go and reused by the next one: no trip through malloc's large-chunk path per
// connection. One per worker loop; not thread-safe.
#pragma once

#include <cstddef>
#include <new>
#include <utility>
#include <vector>

namespace berth::edge
{

template <typename T> class ObjectPool
{
public:
    explicit ObjectPool(size_t max_spare) : max_spare_(max_spare) { spare_.reserve(max_spare); }
    ObjectPool(const ObjectPool &) = delete;
    ObjectPool &operator=(const ObjectPool &) = delete;
    ~ObjectPool()
    {
        for (void *mem : spare_)
            ::operator delete(mem);
    }

    template <typename... Args> T *make(Args &&...args)
    {
        void *mem;
        if (spare_.empty()) {
            mem = ::operator new(sizeof(T));
        } else {
            mem = spare_.back();
            spare_.pop_back();
        }
        try {
            return new (mem) T(std::forward<Args>(args)...);
        } catch (...) {
            give_back(mem);
            throw;
        }
    }

    void destroy(T *object) noexcept
    {
        if (!object) return;
        object->~T();
        give_back(object);
    }

    size_t spare() const noexcept { return spare_.size(); }

private:
    void give_back(void *mem) noexcept
    {
        if (spare_.size() < max_spare_)
            spare_.push_back(mem); // never grows: reserved up front
        else
            ::operator delete(mem);
    }

    size_t max_spare_;
    std::vector<void *> spare_;
};

} // namespace berth::edge
