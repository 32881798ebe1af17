// A worker's transports: made for each accepted socket, their memory reused when the
// connection on them is gone (no allocation per connection in the steady state).
#pragma once

#include "edge/io/object_pool.h"
#include "edge/transport/plain_transport.h"

namespace berth::edge
{

class TransportPool
{
public:
    TransportPool(IoLoop &io, size_t max_spare) : io_(io), plain_(max_spare) {}

    // Takes ownership of the accepted, non-blocking socket.
    Transport *plain(int fd) { return plain_.make(io_, fd); }
    // The transport's connection is gone: closes it (if still open) and keeps its memory.
    void recycle(Transport *t) noexcept
    {
        if (!t) return;
        switch (t->kind()) {
        case TransportKind::kPlain:
            plain_.destroy(static_cast<PlainTransport *>(t));
            return;
        case TransportKind::kTls:
        case TransportKind::kOther:
            delete t;
            return;
        }
    }

private:
    IoLoop &io_;
    ObjectPool<PlainTransport> plain_;
};

} // namespace berth::edge
