#include "edge/io/io_loop.h"

#include <cerrno>
#include <unistd.h>

#include "edge/io/nocancel.h"

namespace berth::edge
{

namespace
{
// epoll data for libuv's own descriptor; watchers are never null.
constexpr IoWatcher *kLibuv = nullptr;

bool add(int epfd, int fd, uint32_t events, IoWatcher *w) noexcept
{
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = w;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
}
} // namespace

IoLoop::IoLoop(uv_loop_t *uv, bool use_io_uring) : uv_(uv), sends_(use_io_uring)
{
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ >= 0 && !add(epfd_, uv_backend_fd(uv_), EPOLLIN, kLibuv)) {
        ::close(epfd_);
        epfd_ = -1;
    }
}

IoLoop::~IoLoop()
{
    if (epfd_ >= 0) ::close(epfd_);
}

bool IoLoop::watch(int fd, IoWatcher *w) noexcept
{
    return add(epfd_, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, w);
}

bool IoLoop::watch_level(int fd, IoWatcher *w) noexcept
{
    return add(epfd_, fd, EPOLLIN, w);
}

void IoLoop::unwatch(int fd) noexcept
{
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

void IoLoop::run_once(int max_wait_ms)
{
    sends_.submit(); // queued outside a round (a connection adopted and answered at once)
    // libuv's own timeout: 0 when it has callbacks pending, -1 when it has no timer.
    uv_update_time(uv_);
    int timeout = uv_backend_timeout(uv_);
    if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms)) timeout = max_wait_ms;

    epoll_event events[256];
    int n = epoll_wait_nocancel(epfd_, events, 256, timeout);
    if (n < 0 && errno != EINTR) n = 0;
    ++rounds_;
    uv_update_time(uv_); // connections read the loop's clock for their deadlines
    bool libuv_ready = false;
    for (int i = 0; i < n; ++i) {
        auto *w = static_cast<IoWatcher *>(events[i].data.ptr);
        if (w == kLibuv)
            libuv_ready = true;
        else
            w->on_io(events[i].events);
    }
    sends_.submit();
    // Timers due, threadpool work done, handles closing, or an async wake-up.
    if (libuv_ready || uv_backend_timeout(uv_) == 0) {
        uv_run(uv_, UV_RUN_NOWAIT);
        sends_.submit();
    }
}

} // namespace berth::edge
