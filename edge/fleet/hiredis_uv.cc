#include "edge/fleet/hiredis_uv.h"

#include <hiredis/async.h>

namespace berth::edge
{

namespace
{

struct Watcher {
    uv_poll_t poll;
    redisAsyncContext *ctx;
    int events = 0;
};

void on_poll(uv_poll_t *handle, int status, int events)
{
    auto *w = static_cast<Watcher *>(handle->data);
    // An error (a refused connect, a reset) is readiness too: hiredis finds the cause itself.
    if (status < 0) events = w->events;
    if (w->ctx && (events & UV_READABLE)) redisAsyncHandleRead(w->ctx);
    if (w->ctx && (events & UV_WRITABLE)) redisAsyncHandleWrite(w->ctx);
}

void update(Watcher *w, int add, int remove)
{
    w->events = (w->events | add) & ~remove;
    if (w->events)
        uv_poll_start(&w->poll, w->events, on_poll);
    else
        uv_poll_stop(&w->poll);
}

} // namespace

bool attach_to_loop(redisAsyncContext *ctx, uv_loop_t *loop)
{
    if (ctx->ev.data) return false;
    auto *w = new Watcher{};
    if (uv_poll_init(loop, &w->poll, ctx->c.fd) != 0) {
        delete w;
        return false;
    }
    w->ctx = ctx;
    w->poll.data = w;
    ctx->ev.data = w;
    ctx->ev.addRead = [](void *p) { update(static_cast<Watcher *>(p), UV_READABLE, 0); };
    ctx->ev.delRead = [](void *p) { update(static_cast<Watcher *>(p), 0, UV_READABLE); };
    ctx->ev.addWrite = [](void *p) { update(static_cast<Watcher *>(p), UV_WRITABLE, 0); };
    ctx->ev.delWrite = [](void *p) { update(static_cast<Watcher *>(p), 0, UV_WRITABLE); };
    ctx->ev.cleanup = [](void *p) {
        // hiredis is freeing the context: stop touching it, free the watcher once closed.
        auto *watcher = static_cast<Watcher *>(p);
        watcher->ctx = nullptr;
        uv_close(reinterpret_cast<uv_handle_t *>(&watcher->poll),
                 [](uv_handle_t *h) { delete static_cast<Watcher *>(h->data); });
    };
    return true;
}

} // namespace berth::edge
