// Handlers: what answers an exchange, registered per route type in one table. The worker
// fills the table (static files, redirects, later the proxy); the connection looks the
// routed request's type up and calls serve() (the contract is in exchange.h).
#pragma once

#include <array>

#include "edge/http/exchange.h"
#include "edge/route/router.h"

namespace berth::edge
{

class Handler
{
public:
    virtual ~Handler() = default;
    virtual void serve(Exchange &ex) = 0;
    // A new route table is installed: what the handler keeps per route or directory of the
    // old table is stale (loop thread, between requests).
    virtual void routes_changed() {}
};

class HandlerTable
{
public:
    void set(RouteTarget::Kind kind, Handler *h) noexcept { table_[size_t(kind)] = h; }
    // Null when this build serves no such route.
    Handler *find(RouteTarget::Kind kind) const noexcept { return table_[size_t(kind)]; }
    template <typename F> void for_each(F &&f) const
    {
        for (Handler *h : table_)
            if (h) f(*h);
    }

private:
    std::array<Handler *, RouteTarget::kKinds> table_{};
};

} // namespace berth::edge
