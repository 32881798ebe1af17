// Redirect step: a redirect route → its code and a Location that keeps the request path.
#pragma once

#include "edge/http/exchange.h"
#include "shared/route/route_table.h"

namespace berth::edge
{

// "to": "https://example.test" + request "/a?b" → Location: https://example.test/a?b.
// A "to" with its own path ("https://example.test/new") is used as it is.
void serve_redirect(Exchange &ex, const shared::route::Route &route);

} // namespace berth::edge
