// Routing order: exact host, then wildcard (longest suffix), then quick mode's NAME.<base>.
#include "edge/route/router.h"

#include <cstring>

namespace berth::edge
{

using shared::route::RouteType;

bool is_deployment_label(std::string_view label) noexcept
{
    if (label.empty() || label.size() > 63 || label == "www") return false;
    if (label.front() == '-' || label.front() == '_') return false;
    for (char c : label)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    return true;
}

std::string_view Router::quick_name(std::string_view host) const noexcept
{
    if (base_domain_.empty() || host.size() <= base_domain_.size() + 1) return {};
    if (!host.ends_with(base_domain_) || host[host.size() - base_domain_.size() - 1] != '.')
        return {};
    std::string_view label = host.substr(0, host.size() - base_domain_.size() - 1);
    return is_deployment_label(label) ? label : std::string_view();
}

RouteTarget Router::route(const shared::route::RouteTable *table, std::string_view host,
                          char *scratch, size_t cap) const noexcept
{
    RouteTarget t;
    if (table) {
        auto m = table->match(host);
        if (m.route) {
            const auto &r = *m.route;
            t.route = m.route;
            switch (r.type) {
            case RouteType::kRedirect:
                t.kind = RouteTarget::Kind::kRedirect;
                return t;
            case RouteType::kProxy:
                t.kind = RouteTarget::Kind::kProxy;
                t.header_rules = &r.header_rules;
                return t;
            case RouteType::kStatic:
                break;
            }
            t.spa = r.spa;
            t.header_rules = &r.header_rules;
            if (!r.root_from_label) {
                t.kind = RouteTarget::Kind::kStatic;
                t.site_dir = r.root;
                return t;
            }
            // "*.preview.example.test" with root_from_label: the matched label names the dir.
            if (!is_deployment_label(m.label)) return RouteTarget{};
            size_t need = r.root.size() + 1 + m.label.size();
            if (r.root.empty()) {
                t.site_dir = m.label;
            } else if (need <= cap) {
                std::memcpy(scratch, r.root.data(), r.root.size());
                scratch[r.root.size()] = '/';
                std::memcpy(scratch + r.root.size() + 1, m.label.data(), m.label.size());
                t.site_dir = std::string_view(scratch, need);
            } else {
                return RouteTarget{};
            }
            t.kind = RouteTarget::Kind::kStatic;
            return t;
        }
    }
    std::string_view name = quick_name(host);
    if (name.empty()) return t;
    t.kind = RouteTarget::Kind::kStatic;
    t.site_dir = name;
    t.spa = quick_spa_;
    return t;
}

} // namespace berth::edge
