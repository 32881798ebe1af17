// The route table: a whole, versioned, immutable snapshot of host → static | proxy | redirect.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace berth::shared::route
{

enum class RouteType : uint8_t { kStatic, kProxy, kRedirect };

// Extra response headers for request paths matching `pattern`: an exact path, or a prefix
// when the pattern ends in '*' ("/assets/*").
struct HeaderRule {
    std::string pattern;
    bool prefix = false;
    std::vector<std::pair<std::string, std::string>> headers;

    bool matches(std::string_view path) const noexcept
    {
        return prefix ? path.substr(0, pattern.size()) == pattern : path == pattern;
    }
};

// Which of two patterns matching the same path is more specific: an exact path before any
// prefix, a longer prefix before a shorter one ("/assets/*" before "/*").
bool more_specific(const HeaderRule &a, const HeaderRule &b) noexcept;

// The value the rules give header `name` (any case) on `path`: that of the most specific
// matching pattern that sets it (among equals, the first), or null when none does. A rule's
// header replaces the one the edge or the upstream would have sent under that name.
const std::string *rule_header(const std::vector<HeaderRule> &rules, std::string_view path,
                               std::string_view name) noexcept;

// Some rule matches `path` (and sets at least one header).
bool any_rule_matches(const std::vector<HeaderRule> &rules, std::string_view path) noexcept;

// Calls f(name, value) once per header name the rules set on `path`, with the winning value
// (rule_header): overlapping patterns never send a name twice.
template <typename F>
void for_each_rule_header(const std::vector<HeaderRule> &rules, std::string_view path, F &&f)
{
    for (const HeaderRule &rule : rules) {
        if (!rule.matches(path)) continue;
        for (const auto &[name, value] : rule.headers)
            if (rule_header(rules, path, name) == &value) f(name, value);
    }
}

// Why a rule may not set response header `name`, or null when it may: the edge frames every
// body and manages every connection itself (Content-Length, Transfer-Encoding, Connection,
// Keep-Alive, TE, Trailer, Upgrade, Proxy-*, Content-Range, Content-Encoding, Date).
const char *refused_rule_header(std::string_view name) noexcept;

struct Upstream {
    std::string addr; // "host:port" as given
    std::string host;
    uint16_t port = 0;
    uint32_t weight = 1;
};

struct ProxyTimeouts {
    uint32_t connect_ms = 2000;
    uint32_t response_header_ms = 30000;
    uint32_t idle_ms = 60000;
    uint32_t total_ms = 0; // retries stop once this much has passed since the request; 0: none
};

// How a proxy route picks an upstream (#14).
enum class Balance : uint8_t {
    kRoundRobin,       // smooth weighted round robin (blue/green and canary are weights)
    kLeastOutstanding, // power of two random choices by requests in flight, weighted
};

// Keep-alive connections to each upstream, per worker.
struct UpstreamPoolLimits {
    uint32_t max_idle = 32;           // idle connections kept per upstream
    uint32_t idle_timeout_ms = 30000; // an idle connection older than this is closed
    uint32_t max_conns = 0;           // open connections per upstream; 0: no cap
    // A named upstream ("app:3000") is resolved again this often while requests come, so a
    // container that got a new address is followed even when its old one still accepts.
    uint32_t resolve_ms = 30000;
};

// Passive health: consecutive failures eject an upstream for a back-off that doubles.
struct PassiveHealth {
    uint32_t max_fails = 3;
    uint32_t eject_ms = 1000;      // first ejection
    uint32_t max_eject_ms = 30000; // longest
};

struct Route {
    std::string host; // lower-case; "*.suffix" for a wildcard
    RouteType type = RouteType::kStatic;
    // Plain HTTP to this host answers 308 to its https:// URL (ACME challenges excepted).
    // Unset: the edge's [tls] redirect_http decides.
    std::optional<bool> https_redirect;

    // static
    std::string root; // relative to the deployments root
    bool root_from_label = false;
    bool spa = false;
    std::vector<HeaderRule> header_rules;

    // proxy
    std::vector<Upstream> upstreams;
    bool websocket = false;
    ProxyTimeouts timeouts;
    Balance balance = Balance::kRoundRobin;
    uint32_t retries = 1;         // further attempts after the first (never reached, or below)
    bool retry_idempotent = true; // also retry a sent idempotent request without a body
    std::string host_header;      // sent as Host instead of the client's; empty: pass through
    UpstreamPoolLimits pool;
    PassiveHealth health;
    std::optional<uint64_t> max_body_bytes; // request body limit; unset: [limits] max_body_bytes

    // any type (#14): GeoIP rules
    std::vector<std::string> deny_countries;
    std::vector<std::string> allow_countries;

    // redirect
    std::string to;
    int code = 308;
};

// Transparent hashing so lookups take a string_view without building a std::string.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept
    {
        return std::hash<std::string_view>{}(s);
    }
};

class RouteTable
{
public:
    RouteTable() = default;
    RouteTable(uint64_t version, std::vector<Route> routes);

    uint64_t version() const noexcept { return version_; }
    const std::vector<Route> &routes() const noexcept { return routes_; }

    struct Match {
        const Route *route = nullptr;
        std::string_view label; // the part of the host a wildcard matched
    };
    // host must already be normalised (lower-case, no port, no trailing dot).
    // Exact matches win over wildcards; among wildcards the longest suffix wins.
    Match match(std::string_view host) const noexcept;

private:
    uint64_t version_ = 0;
    std::vector<Route> routes_;
    std::unordered_map<std::string, size_t, StringHash, std::equal_to<>> exact_;
    std::vector<std::pair<std::string, size_t>> wildcards_; // ".suffix", longest first
};

} // namespace berth::shared::route
