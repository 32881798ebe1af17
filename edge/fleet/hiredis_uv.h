// Runs a hiredis asynchronous connection on a libuv loop. hiredis ships such an adapter, but
// its poll callback drops error events: a refused connect was then noticed only by our own
// connect timeout, seconds later. Here an error event is handed to hiredis as readiness, so it
// reads the socket error itself and reports it through its connect/disconnect callbacks.
#pragma once

#include <uv.h>

struct redisAsyncContext;

namespace berth::edge
{

// Watches the context's socket on `loop`; the watcher is freed when hiredis frees the
// context (its cleanup hook). Returns false when the watcher cannot be set up.
bool attach_to_loop(redisAsyncContext *ctx, uv_loop_t *loop);

} // namespace berth::edge
