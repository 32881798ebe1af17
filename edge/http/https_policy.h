// Plain HTTP → HTTPS: a 308 to the same host, path and query on the edge's HTTPS port, for
// routes that ask for it ("https_redirect": true) or for every route with
// [tls] redirect_http = true (a route's "https_redirect": false opts out). ACME HTTP-01
// challenges (/.well-known/acme-challenge/) are never redirected: a certificate authority
// must reach them over plain HTTP.
#pragma once

#include <cstdint>

#include "edge/http/exchange.h"

namespace berth::edge
{

class HttpsPolicy
{
public:
    // https_port: where the edge serves TLS (443 is left out of the Location).
    HttpsPolicy(bool redirect_by_default, uint16_t https_port) noexcept
        : redirect_by_default_(redirect_by_default), https_port_(https_port)
    {
    }

    // ex came over plain HTTP: should it be sent to HTTPS?
    bool redirects(const Exchange &ex) const noexcept;
    // The 308 (keep-alive unless the request carried a body we will not read).
    void redirect(Exchange &ex) const;

private:
    bool redirect_by_default_;
    uint16_t https_port_;
};

} // namespace berth::edge
