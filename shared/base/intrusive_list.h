// Intrusive doubly-linked list: an element unlinks itself in its destructor (seastar style).
#pragma once

#include <cstddef>

namespace berth::shared
{

template <typename T> class IntrusiveList;

template <typename T> class IntrusiveHook
{
public:
    IntrusiveHook() = default;
    IntrusiveHook(const IntrusiveHook &) = delete;
    IntrusiveHook &operator=(const IntrusiveHook &) = delete;
    ~IntrusiveHook() { unlink(); }

    void unlink() noexcept
    {
        if (!list_) return;
        if (prev_)
            prev_->next_ = next_;
        else
            list_->head_ = next_;
        if (next_) next_->prev_ = prev_;
        --list_->size_;
        list_ = nullptr;
        prev_ = next_ = nullptr;
    }
    bool linked() const noexcept { return list_ != nullptr; }

private:
    friend class IntrusiveList<T>;
    IntrusiveList<T> *list_ = nullptr;
    IntrusiveHook *prev_ = nullptr;
    IntrusiveHook *next_ = nullptr;
};

template <typename T> class IntrusiveList
{
public:
    void push_front(T &item) noexcept
    {
        IntrusiveHook<T> &h = item;
        h.unlink();
        h.list_ = this;
        h.next_ = head_;
        if (head_) head_->prev_ = &h;
        head_ = &h;
        ++size_;
    }
    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    // Calls f(T&) for each element; f may unlink the current element.
    template <typename F> void for_each(F &&f)
    {
        for (IntrusiveHook<T> *h = head_; h;) {
            IntrusiveHook<T> *next = h->next_;
            f(static_cast<T &>(*h));
            h = next;
        }
    }

private:
    friend class IntrusiveHook<T>;
    IntrusiveHook<T> *head_ = nullptr;
    size_t size_ = 0;
};

} // namespace berth::shared
