// Why a thread per stream and an async handle: the producer blocks (PostgreSQL, waits) and
// libuv handles may only be touched on the loop thread; uv_async_send is the one call that
// is safe from another thread (#16).
#include "control/api/response_stream.h"

#include <chrono>
#include <cstdio>

namespace berth::control
{

ResponseStream::ResponseStream(uv_loop_t *loop, Callbacks callbacks, int *active)
    : callbacks_(std::move(callbacks)), active_(active)
{
    uv_async_init(loop, &async_, on_async);
    async_.data = this;
    ++*active_;
}

ResponseStream *ResponseStream::start(uv_loop_t *loop, BodyProducer producer, Callbacks callbacks,
                                      int *active)
{
    auto *s = new ResponseStream(loop, std::move(callbacks), active);
    s->thread_ = std::thread([s, producer = std::move(producer)] {
        bool complete = true;
        try {
            producer(*s);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "berth-control: streaming response: %s\n", e.what());
            complete = false;
        }
        {
            std::lock_guard lock(s->mu_);
            s->finished_ = true;
            s->complete_ = complete;
        }
        // The last touch of the stream by this thread; the loop joins it before freeing.
        uv_async_send(&s->async_);
    });
    return s;
}

bool ResponseStream::write(const std::string &data)
{
    if (data.empty()) return true; // an empty chunk would end the body
    char size[32];
    int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string framed;
    framed.reserve(size_t(n) + data.size() + 2);
    framed.append(size, size_t(n)).append(data).append("\r\n");
    {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return cancelled_ || queued_ < kStreamHighWater; });
        if (cancelled_) return false;
        queued_ += framed.size();
        chunks_.push_back(std::move(framed));
    }
    uv_async_send(&async_);
    return true;
}

bool ResponseStream::wait(int ms)
{
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return cancelled_; });
}

void ResponseStream::written(size_t n)
{
    std::lock_guard lock(mu_);
    queued_ -= n;
    cv_.notify_all();
}

void ResponseStream::cancel()
{
    // Not callbacks_ = {}: cancel() may run inside on_data (a failed write closes the
    // connection), and that would destroy the function being called.
    detached_ = true;
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
}

void ResponseStream::on_async(uv_async_t *a)
{
    auto *s = static_cast<ResponseStream *>(a->data);
    std::deque<std::string> chunks;
    bool finished, complete;
    {
        std::lock_guard lock(s->mu_);
        chunks.swap(s->chunks_);
        finished = s->finished_;
        complete = s->complete_;
        if (s->detached_) s->queued_ = 0; // nothing will be written any more
    }
    for (auto &c : chunks)
        if (!s->detached_) s->callbacks_.on_data(std::move(c));
    if (!finished) return;
    s->thread_.join(); // it has at most its last uv_async_send left to return from
    if (!s->detached_) s->callbacks_.on_end(complete);
    uv_close(reinterpret_cast<uv_handle_t *>(&s->async_), [](uv_handle_t *h) {
        auto *self = static_cast<ResponseStream *>(h->data);
        --*self->active_;
        delete self;
    });
}

} // namespace berth::control
