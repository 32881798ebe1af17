// Host matching over an immutable table: one hash lookup, then wildcard suffixes longest first.
#include "shared/route/route_table.h"

#include <algorithm>

namespace berth::shared::route
{

RouteTable::RouteTable(uint64_t version, std::vector<Route> routes)
    : version_(version), routes_(std::move(routes))
{
    for (size_t i = 0; i < routes_.size(); ++i) {
        const std::string &h = routes_[i].host;
        if (h.size() > 2 && h[0] == '*' && h[1] == '.')
            wildcards_.emplace_back(h.substr(1), i);
        else
            exact_.emplace(h, i);
    }
    std::stable_sort(wildcards_.begin(), wildcards_.end(),
                     [](auto &a, auto &b) { return a.first.size() > b.first.size(); });
}

RouteTable::Match RouteTable::match(std::string_view host) const noexcept
{
    if (auto it = exact_.find(host); it != exact_.end()) return {&routes_[it->second], {}};
    for (const auto &[suffix, index] : wildcards_) {
        if (host.size() > suffix.size() && host.ends_with(suffix))
            return {&routes_[index], host.substr(0, host.size() - suffix.size())};
    }
    return {};
}

} // namespace berth::shared::route
