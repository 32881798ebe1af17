// Host matching over an immutable table: one hash lookup, then wildcard suffixes longest first.
#include "shared/route/route_table.h"

#include <algorithm>

#include "shared/http/header_token.h"

namespace berth::shared::route
{

using shared::http::iequals;

bool more_specific(const HeaderRule &a, const HeaderRule &b) noexcept
{
    if (a.prefix != b.prefix) return !a.prefix;
    return a.pattern.size() > b.pattern.size();
}

const std::string *rule_header(const std::vector<HeaderRule> &rules, std::string_view path,
                               std::string_view name) noexcept
{
    const HeaderRule *best = nullptr;
    const std::string *value = nullptr;
    for (const HeaderRule &rule : rules) {
        if ((best && !more_specific(rule, *best)) || !rule.matches(path)) continue;
        for (const auto &[n, v] : rule.headers)
            if (iequals(n, name)) {
                best = &rule;
                value = &v;
                break;
            }
    }
    return value;
}

bool any_rule_matches(const std::vector<HeaderRule> &rules, std::string_view path) noexcept
{
    return std::any_of(rules.begin(), rules.end(),
                       [&](const HeaderRule &r) { return !r.headers.empty() && r.matches(path); });
}

const char *refused_rule_header(std::string_view name) noexcept
{
    static constexpr const char *kFraming = "the edge frames every body it sends itself";
    static constexpr const char *kHop = "hop-by-hop: the edge manages every connection itself";
    for (const char *n :
         {"content-length", "transfer-encoding", "content-range", "content-encoding"})
        if (iequals(name, n)) return kFraming;
    for (const char *n : {"connection", "keep-alive", "te", "trailer", "upgrade"})
        if (iequals(name, n)) return kHop;
    if (name.size() >= 6 && iequals(name.substr(0, 6), "proxy-")) return kHop;
    if (iequals(name, "date")) return "the edge dates every answer itself";
    return nullptr;
}

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
