#include "edge/http/https_policy.h"

#include <string>

namespace berth::edge
{

bool HttpsPolicy::redirects(const Exchange &ex) const noexcept
{
    const shared::route::Route *route = ex.target.route;
    bool wanted = route && route->https_redirect ? *route->https_redirect : redirect_by_default_;
    if (!wanted || ex.host.empty()) return false;
    return !ex.req.path.starts_with("/.well-known/acme-challenge/");
}

void HttpsPolicy::redirect(Exchange &ex) const
{
    if (ex.req.has_body) ex.close = true; // do not read a body the HTTPS request will carry
    ex.begin(308);
    std::string &b = ex.out.buffer();
    b.append("Location: https://").append(ex.host);
    if (https_port_ != 443) b.append(":").append(std::to_string(https_port_));
    std::string_view target = ex.req.target;
    if (!target.empty() && target.front() == '/') {
        b.append(target);
    } else { // absolute-form: its path and query
        b.append(ex.req.path.empty() ? std::string_view("/") : ex.req.path);
        if (!ex.req.query.empty()) b.append("?").append(ex.req.query);
    }
    b.append("\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n");
    ex.end_head();
}

} // namespace berth::edge
