// Static step: a request on a static route → file, directory index, SPA fallback or 404.
#pragma once

#include "edge/http/exchange.h"
#include "edge/route/router.h"

namespace berth::edge
{

// Writes the whole response for ex.req into ex.out. Never blocks once the file is cached.
// Method rules: GET/HEAD served, OPTIONS answered with Allow, anything else 405.
void serve_static(Exchange &ex, const RouteTarget &target);

// Accept-Encoding allows `coding` (q > 0, or a "*" with q > 0 when it is not listed)?
bool accepts_encoding(std::string_view accept_encoding, std::string_view coding) noexcept;

} // namespace berth::edge
