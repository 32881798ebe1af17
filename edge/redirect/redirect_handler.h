// Redirect step: a redirect route → its code and a Location that keeps the request path.
#pragma once

#include "edge/http/handler.h"

namespace berth::edge
{

// "to": "https://example.test" + request "/a?b" → Location: https://example.test/a?b.
// A "to" with its own path ("https://example.test/new") is used as it is.
class RedirectHandler final : public Handler
{
public:
    void serve(Exchange &ex) override;
};

} // namespace berth::edge
