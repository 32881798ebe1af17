// Route step: normalised Host → what serves it (static site, redirect, proxy) from a snapshot.
#pragma once

#include <string_view>
#include <vector>

#include "shared/route/route_table.h"

namespace berth::edge
{

struct RouteTarget {
    enum class Kind : unsigned char { kUnknownHost, kStatic, kRedirect, kProxy };
    static constexpr size_t kKinds = 4;
    Kind kind = Kind::kUnknownHost;
    const shared::route::Route *route = nullptr; // null in quick mode
    std::string_view site_dir;                   // static: relative to the deployments root
    bool spa = false;
    const std::vector<shared::route::HeaderRule> *header_rules = nullptr;
};

class Router
{
public:
    // base_domain empty: quick mode off.
    Router(std::string base_domain, bool quick_spa)
        : base_domain_(std::move(base_domain)), quick_spa_(quick_spa)
    {
    }

    // `host` must be normalised. site_dir may be written into scratch (root + "/" + label).
    RouteTarget route(const shared::route::RouteTable *table, std::string_view host, char *scratch,
                      size_t cap) const noexcept;

    // Quick mode: "NAME.<base>" → "NAME", empty when the host is not a deployment name.
    std::string_view quick_name(std::string_view host) const noexcept;

private:
    std::string base_domain_;
    bool quick_spa_;
};

// A deployment name is one DNS label of [a-z0-9_-], not "www".
bool is_deployment_label(std::string_view label) noexcept;

} // namespace berth::edge
