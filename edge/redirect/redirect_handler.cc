// Redirects carry the original path unless the route names a path of its own.
#include "edge/redirect/redirect_handler.h"

namespace berth::edge
{

void RedirectHandler::serve(Exchange &ex)
{
    const shared::route::Route &route = *ex.target.route;
    std::string_view to = route.to;
    size_t scheme = to.find("://");
    size_t path_at = to.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
    bool keep_path = path_at == std::string_view::npos || to.substr(path_at) == "/";
    ex.begin(route.code);
    std::string &b = ex.out.buffer();
    b.append("Location: ");
    if (keep_path) {
        b.append(to.substr(0, path_at));
        std::string_view target = ex.req.target;
        if (target == "*" || target.empty() || target.front() != '/') {
            b.append(ex.req.path.empty() ? std::string_view("/") : ex.req.path);
            if (!ex.req.query.empty()) b.append("?").append(ex.req.query);
        } else {
            b.append(target);
        }
    } else {
        b.append(to);
    }
    b.append("\r\nContent-Length: 0\r\nCache-Control: no-cache\r\n");
    ex.end_head();
}

} // namespace berth::edge
