// Route table JSON parsing with field-precise errors; refuses roots that escape the deployments
// root.
#include "shared/route/route_table_json.h"

#include <algorithm>
#include <charconv>
#include <span>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "shared/http/header_token.h"

namespace berth::shared::route
{

using nlohmann::json;

namespace
{

struct Invalid {
    std::string message;
};

[[noreturn]] void invalid(const std::string &where, const std::string &what)
{
    throw Invalid{where + ": " + what};
}

const json *field(const json &obj, const char *key)
{
    return obj.contains(key) ? &obj.at(key) : nullptr;
}

// Refuses any key of `obj` not in `known`: a misspelt key ("wieght") would otherwise be
// ignored and its default silently used.
void known_keys(const json &obj, const std::string &where,
                std::initializer_list<std::string_view> known)
{
    for (auto &[key, value] : obj.items())
        if (std::find(known.begin(), known.end(), key) == known.end())
            invalid(where, "unknown key \"" + key + "\"");
}

// The keys of a route beyond "host", "type", "https_redirect" and "geo", by type: a key that
// belongs to another type is named as such.
constexpr std::string_view kStaticKeys[] = {"root", "root_from_label", "spa", "headers"};
constexpr std::string_view kProxyKeys[] = {
    "upstreams",   "websocket",      "timeouts", "balance", "retries", "retry_idempotent",
    "host_header", "max_body_bytes", "pool",     "health",  "headers"};
constexpr std::string_view kRedirectKeys[] = {"to", "code"};

bool listed(std::span<const std::string_view> keys, std::string_view key)
{
    return std::find(keys.begin(), keys.end(), key) != keys.end();
}

void route_keys(const json &r, const std::string &where, std::string_view type)
{
    constexpr std::pair<const char *, std::span<const std::string_view>> kTypes[] = {
        {"static", kStaticKeys}, {"proxy", kProxyKeys}, {"redirect", kRedirectKeys}};
    std::span<const std::string_view> own;
    for (const auto &[name, keys] : kTypes)
        if (type == name) own = keys;
    for (auto &[key, value] : r.items()) {
        if (key == "host" || key == "type" || key == "https_redirect" || key == "geo" ||
            listed(own, key))
            continue;
        for (const auto &[name, keys] : kTypes)
            if (listed(keys, key))
                invalid(where, "\"" + key + "\" belongs to " + name + " routes, not to a " +
                                   std::string(type) + " route");
        invalid(where, "unknown key \"" + key + "\"");
    }
}

std::string get_string(const json &obj, const char *key, const std::string &where, bool required)
{
    const json *v = field(obj, key);
    if (!v) {
        if (required) invalid(where, std::string("missing \"") + key + "\"");
        return {};
    }
    if (!v->is_string()) invalid(where + "." + key, "must be a string");
    return v->get<std::string>();
}

bool get_bool(const json &obj, const char *key, const std::string &where)
{
    const json *v = field(obj, key);
    if (!v) return false;
    if (!v->is_boolean()) invalid(where + "." + key, "must be true or false");
    return v->get<bool>();
}

uint64_t get_uint(const json &obj, const char *key, const std::string &where, uint64_t dflt,
                  uint64_t max)
{
    const json *v = field(obj, key);
    if (!v) return dflt;
    if (!v->is_number_unsigned()) invalid(where + "." + key, "must be a non-negative integer");
    uint64_t n = v->get<uint64_t>();
    if (n > max) invalid(where + "." + key, "must be at most " + std::to_string(max));
    return n;
}

std::string normalize_route_host(std::string host, const std::string &where)
{
    if (host.empty()) invalid(where, "must not be empty");
    for (char &c : host) {
        if (c >= 'A' && c <= 'Z') c = char(c | 0x20);
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                  c == '_' || c == '*';
        if (!ok) invalid(where, "invalid character in host \"" + host + "\"");
    }
    if (!host.empty() && host.back() == '.') host.pop_back(); // one root dot: "a.test."
    size_t star = host.find('*');
    if (star != std::string::npos &&
        (star != 0 || host.size() < 3 || host[1] != '.' || host.find('*', 1) != std::string::npos))
        invalid(where, "a wildcard must be a whole first label, as in \"*.example.test\"");
    if (host.empty() || host.find("..") != std::string::npos || host.front() == '.' ||
        host.back() == '.') // "a.test.." (found by route_table_fuzz: re-parsing moved it)
        invalid(where, "empty label in host \"" + host + "\"");
    return host;
}

void parse_header_rules(const json &r, Route &route, const std::string &where);

void parse_static(const json &r, Route &route, const std::string &where)
{
    route.root = get_string(r, "root", where, false);
    route.root_from_label = get_bool(r, "root_from_label", where);
    route.spa = get_bool(r, "spa", where);
    if (route.root.empty() && !route.root_from_label)
        invalid(where, "static route needs \"root\" or \"root_from_label\": true");
    if (!route.root.empty() && !root_is_contained(route.root))
        invalid(where + ".root", "\"" + route.root + "\" escapes the deployments root");
    if (route.root_from_label && route.host.rfind("*.", 0) != 0)
        invalid(where + ".root_from_label", "needs a wildcard host");
    parse_header_rules(r, route, where);
}

// Response header rules: static answers and proxied ones alike (#14).
void parse_header_rules(const json &r, Route &route, const std::string &where)
{
    if (const json *headers = field(r, "headers")) {
        if (!headers->is_object()) invalid(where + ".headers", "must be an object");
        for (auto &[pattern, values] : headers->items()) {
            std::string w = where + ".headers[\"" + pattern + "\"]";
            if (pattern.empty() || pattern[0] != '/') invalid(w, "pattern must start with '/'");
            if (!values.is_object()) invalid(w, "must be an object of header: value");
            HeaderRule rule;
            rule.prefix = pattern.back() == '*';
            rule.pattern = rule.prefix ? pattern.substr(0, pattern.size() - 1) : pattern;
            if (rule.pattern.find('*') != std::string::npos)
                invalid(w, "'*' is only allowed at the end of a pattern");
            for (auto &[name, value] : values.items()) {
                if (name.empty() || !std::all_of(name.begin(), name.end(), shared::http::is_tchar))
                    invalid(w, "invalid header name \"" + name + "\"");
                if (const char *why = refused_rule_header(name))
                    invalid(w, "header \"" + name + "\" cannot be set by a rule (" + why + ")");
                for (const auto &have : rule.headers)
                    if (shared::http::iequals(have.first, name))
                        invalid(w, "header \"" + name + "\" is given twice (as \"" + have.first +
                                       "\")");
                if (!value.is_string()) invalid(w + "." + name, "must be a string");
                std::string v = value.get<std::string>();
                if (v.find_first_of("\r\n") != std::string::npos ||
                    v.find('\0') != std::string::npos)
                    invalid(w + "." + name, "must not contain CR, LF or NUL");
                rule.headers.emplace_back(name, std::move(v));
            }
            route.header_rules.push_back(std::move(rule));
        }
    }
}

void parse_proxy(const json &r, Route &route, const std::string &where)
{
    const json *ups = field(r, "upstreams");
    if (!ups || !ups->is_array() || ups->empty())
        invalid(where + ".upstreams", "must be a non-empty array");
    for (size_t i = 0; i < ups->size(); ++i) {
        const json &u = (*ups)[i];
        std::string w = where + ".upstreams[" + std::to_string(i) + "]";
        if (!u.is_object()) invalid(w, "must be an object");
        known_keys(u, w, {"addr", "weight"});
        Upstream up;
        up.addr = get_string(u, "addr", w, true);
        size_t colon = up.addr.rfind(':');
        if (colon == std::string::npos || colon == 0) invalid(w + ".addr", "must be host:port");
        up.host = up.addr.substr(0, colon);
        if (up.host.size() > 2 && up.host.front() == '[' && up.host.back() == ']')
            up.host = up.host.substr(1, up.host.size() - 2);
        unsigned port = 0;
        std::string_view p = std::string_view(up.addr).substr(colon + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
        if (ec != std::errc() || end != p.data() + p.size() || port == 0 || port > 65535)
            invalid(w + ".addr", "invalid port in \"" + up.addr + "\"");
        up.port = uint16_t(port);
        up.weight = uint32_t(get_uint(u, "weight", w, 1, 1000000));
        route.upstreams.push_back(std::move(up));
    }
    route.websocket = get_bool(r, "websocket", where);
    if (const json *t = field(r, "timeouts")) {
        if (!t->is_object()) invalid(where + ".timeouts", "must be an object");
        std::string w = where + ".timeouts";
        known_keys(*t, w, {"connect_ms", "response_header_ms", "idle_ms", "total_ms"});
        route.timeouts.connect_ms = uint32_t(get_uint(*t, "connect_ms", w, 2000, 3600000));
        route.timeouts.response_header_ms =
            uint32_t(get_uint(*t, "response_header_ms", w, 30000, 3600000));
        route.timeouts.idle_ms = uint32_t(get_uint(*t, "idle_ms", w, 60000, 86400000));
        route.timeouts.total_ms = uint32_t(get_uint(*t, "total_ms", w, 0, 86400000));
        for (const char *k : {"connect_ms", "response_header_ms", "idle_ms"})
            if (const json *v = field(*t, k);
                v && v->is_number_unsigned() && v->get<uint64_t>() == 0)
                invalid(w + "." + k, "must be at least 1");
    }
    std::string balance = get_string(r, "balance", where, false);
    if (balance.empty() || balance == "round_robin")
        route.balance = Balance::kRoundRobin;
    else if (balance == "least_outstanding")
        route.balance = Balance::kLeastOutstanding;
    else
        invalid(where + ".balance", "must be \"round_robin\" or \"least_outstanding\"");
    route.retries = uint32_t(get_uint(r, "retries", where, 1, 10));
    if (const json *v = field(r, "retry_idempotent")) {
        if (!v->is_boolean()) invalid(where + ".retry_idempotent", "must be true or false");
        route.retry_idempotent = v->get<bool>();
    }
    route.host_header = get_string(r, "host_header", where, false);
    for (char c : route.host_header)
        if (!(c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_' ||
              (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            invalid(where + ".host_header", "must be a host name or host:port");
    if (field(r, "max_body_bytes"))
        route.max_body_bytes = get_uint(r, "max_body_bytes", where, 0, uint64_t(1) << 50);
    if (const json *p = field(r, "pool")) {
        if (!p->is_object()) invalid(where + ".pool", "must be an object");
        std::string w = where + ".pool";
        known_keys(*p, w, {"max_idle", "idle_timeout_ms", "max_conns", "resolve_ms"});
        route.pool.max_idle = uint32_t(get_uint(*p, "max_idle", w, 32, 100000));
        route.pool.idle_timeout_ms = uint32_t(get_uint(*p, "idle_timeout_ms", w, 30000, 86400000));
        route.pool.max_conns = uint32_t(get_uint(*p, "max_conns", w, 0, 1000000));
        route.pool.resolve_ms = uint32_t(get_uint(*p, "resolve_ms", w, 30000, 86400000));
        if (route.pool.resolve_ms < 100) invalid(w + ".resolve_ms", "must be at least 100");
    }
    if (const json *h = field(r, "health")) {
        if (!h->is_object()) invalid(where + ".health", "must be an object");
        std::string w = where + ".health";
        known_keys(*h, w, {"max_fails", "eject_ms", "max_eject_ms"});
        route.health.max_fails = uint32_t(get_uint(*h, "max_fails", w, 3, 1000));
        route.health.eject_ms = uint32_t(get_uint(*h, "eject_ms", w, 1000, 3600000));
        route.health.max_eject_ms = uint32_t(get_uint(*h, "max_eject_ms", w, 30000, 86400000));
        if (route.health.max_fails == 0) invalid(w + ".max_fails", "must be at least 1");
    }
    parse_header_rules(r, route, where);
}

void parse_geo(const json &r, Route &route, const std::string &where)
{
    if (const json *g = field(r, "geo")) {
        if (!g->is_object()) invalid(where + ".geo", "must be an object");
        known_keys(*g, where + ".geo", {"deny_countries", "allow_countries"});
        for (const char *key : {"deny_countries", "allow_countries"}) {
            const json *list = field(*g, key);
            if (!list) continue;
            std::string w = where + ".geo." + key;
            if (!list->is_array()) invalid(w, "must be an array of ISO country codes");
            auto &out = std::string_view(key) == "deny_countries" ? route.deny_countries
                                                                  : route.allow_countries;
            for (const json &c : *list) {
                if (!c.is_string() || c.get<std::string>().size() != 2)
                    invalid(w, "entries must be two-letter country codes");
                std::string code = c.get<std::string>();
                for (char &ch : code)
                    if (ch >= 'a' && ch <= 'z') ch = char(ch - 32);
                out.push_back(code);
            }
        }
    }
}

void parse_redirect(const json &r, Route &route, const std::string &where)
{
    route.to = get_string(r, "to", where, true);
    if (route.to.rfind("http://", 0) != 0 && route.to.rfind("https://", 0) != 0)
        invalid(where + ".to", "must be an absolute http:// or https:// URL");
    if (route.to.find_first_of("\r\n\t ") != std::string::npos)
        invalid(where + ".to", "must not contain whitespace");
    route.code = int(get_uint(r, "code", where, 308, 999));
    if (route.code != 301 && route.code != 302 && route.code != 303 && route.code != 307 &&
        route.code != 308)
        invalid(where + ".code", "must be 301, 302, 303, 307 or 308");
}

} // namespace

bool root_is_contained(std::string_view root) noexcept
{
    if (root.empty() || root.front() == '/' || root.find('\0') != std::string_view::npos ||
        root.find('\\') != std::string_view::npos)
        return false;
    size_t start = 0;
    while (start <= root.size()) {
        size_t slash = root.find('/', start);
        std::string_view seg =
            root.substr(start, slash == std::string_view::npos ? root.npos : slash - start);
        if (seg == "..") return false;
        if (!seg.empty() && seg.front() == '.' && seg != ".") return false; // hidden folders
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return true;
}

std::optional<RouteTable> route_table_from_json(const json &doc, std::string &error)
{
    try {
        if (!doc.is_object()) invalid("table", "must be a JSON object");
        known_keys(doc, "table", {"version", "routes"});
        const json *version = field(doc, "version");
        if (!version || !version->is_number_unsigned())
            invalid("version", "must be a non-negative integer");
        const json *routes = field(doc, "routes");
        if (!routes || !routes->is_array()) invalid("routes", "must be an array");
        std::vector<Route> out;
        std::unordered_set<std::string> seen;
        for (size_t i = 0; i < routes->size(); ++i) {
            const json &r = (*routes)[i];
            std::string where = "routes[" + std::to_string(i) + "]";
            if (!r.is_object()) invalid(where, "must be an object");
            Route route;
            route.host = normalize_route_host(get_string(r, "host", where, true), where + ".host");
            if (!seen.insert(route.host).second)
                invalid(where + ".host", "duplicate host \"" + route.host + "\"");
            if (const json *https = field(r, "https_redirect")) {
                if (!https->is_boolean())
                    invalid(where + ".https_redirect", "must be true or false");
                route.https_redirect = https->get<bool>();
            }
            std::string type = get_string(r, "type", where, true);
            if (type == "static" || type == "proxy" || type == "redirect")
                route_keys(r, where, type);
            if (type == "static") {
                route.type = RouteType::kStatic;
                parse_static(r, route, where);
            } else if (type == "proxy") {
                route.type = RouteType::kProxy;
                parse_proxy(r, route, where);
            } else if (type == "redirect") {
                route.type = RouteType::kRedirect;
                parse_redirect(r, route, where);
            } else {
                invalid(where + ".type",
                        "must be \"static\", \"proxy\" or \"redirect\", not \"" + type + "\"");
            }
            parse_geo(r, route, where);
            out.push_back(std::move(route));
        }
        return RouteTable(version->get<uint64_t>(), std::move(out));
    } catch (const Invalid &e) {
        error = e.message;
    } catch (const json::exception &e) {
        error = e.what();
    }
    return std::nullopt;
}

std::optional<json> parse_json_refusing_duplicates(std::string_view text, std::string &error)
{
    // nlohmann keeps the last of two equal keys without a word: the parser's callback sees
    // every key, so each object's keys are remembered while it is open, with its place in the
    // document for the message ("routes[0].upstreams[1]: duplicate key \"weight\"").
    struct Frame {
        bool array = false;
        size_t index = 0;
        std::string where, key;
        std::unordered_set<std::string> keys;
    };
    std::vector<Frame> stack;
    std::string duplicate;
    auto child = [&]() -> std::string {
        if (stack.empty()) return "table";
        Frame &top = stack.back();
        if (top.array) return top.where + "[" + std::to_string(top.index++) + "]";
        bool plain = !top.key.empty() && std::all_of(top.key.begin(), top.key.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        });
        if (stack.size() == 1 && plain) return top.key;
        return plain ? top.where + "." + top.key : top.where + "[\"" + top.key + "\"]";
    };
    auto callback = [&](int, json::parse_event_t event, json &parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
            stack.push_back({event == json::parse_event_t::array_start, 0, child(), {}, {}});
            break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            if (!stack.empty()) stack.pop_back();
            break;
        case json::parse_event_t::key:
            if (!stack.empty()) {
                Frame &top = stack.back();
                top.key = parsed.get<std::string>();
                if (!top.keys.insert(top.key).second && duplicate.empty())
                    duplicate = top.where + ": duplicate key \"" + top.key + "\"";
            }
            break;
        case json::parse_event_t::value:
            if (!stack.empty() && stack.back().array) ++stack.back().index;
            break;
        }
        return true;
    };
    json doc;
    try {
        doc = json::parse(text, callback);
    } catch (const json::exception &e) { // parse_error, and out_of_range for huge numbers
        error = std::string("invalid JSON: ") + e.what();
        return std::nullopt;
    }
    if (!duplicate.empty()) {
        error = duplicate;
        return std::nullopt;
    }
    return doc;
}

std::optional<RouteTable> parse_route_table(std::string_view text, std::string &error)
{
    auto doc = parse_json_refusing_duplicates(text, error);
    if (!doc) return std::nullopt;
    return route_table_from_json(*doc, error);
}

namespace
{
void header_rules_to_json(const Route &r, json &j)
{
    if (r.header_rules.empty()) return;
    json headers = json::object();
    for (const HeaderRule &rule : r.header_rules) {
        json values = json::object();
        for (const auto &[n, v] : rule.headers)
            values[n] = v;
        headers[rule.pattern + (rule.prefix ? "*" : "")] = values;
    }
    j["headers"] = headers;
}
} // namespace

json route_table_to_json(const RouteTable &table)
{
    json routes = json::array();
    for (const Route &r : table.routes()) {
        json j{{"host", r.host}};
        if (r.https_redirect) j["https_redirect"] = *r.https_redirect;
        switch (r.type) {
        case RouteType::kStatic: {
            j["type"] = "static";
            if (!r.root.empty()) j["root"] = r.root;
            if (r.root_from_label) j["root_from_label"] = true;
            j["spa"] = r.spa;
            header_rules_to_json(r, j);
            break;
        }
        case RouteType::kProxy: {
            j["type"] = "proxy";
            json ups = json::array();
            for (const Upstream &u : r.upstreams)
                ups.push_back({{"addr", u.addr}, {"weight", u.weight}});
            j["upstreams"] = ups;
            j["websocket"] = r.websocket;
            j["timeouts"] = {{"connect_ms", r.timeouts.connect_ms},
                             {"response_header_ms", r.timeouts.response_header_ms},
                             {"idle_ms", r.timeouts.idle_ms}};
            if (r.timeouts.total_ms) j["timeouts"]["total_ms"] = r.timeouts.total_ms;
            j["balance"] =
                r.balance == Balance::kLeastOutstanding ? "least_outstanding" : "round_robin";
            j["retries"] = r.retries;
            j["retry_idempotent"] = r.retry_idempotent;
            if (!r.host_header.empty()) j["host_header"] = r.host_header;
            if (r.max_body_bytes) j["max_body_bytes"] = *r.max_body_bytes;
            j["pool"] = {{"max_idle", r.pool.max_idle},
                         {"idle_timeout_ms", r.pool.idle_timeout_ms},
                         {"max_conns", r.pool.max_conns},
                         {"resolve_ms", r.pool.resolve_ms}};
            j["health"] = {{"max_fails", r.health.max_fails},
                           {"eject_ms", r.health.eject_ms},
                           {"max_eject_ms", r.health.max_eject_ms}};
            header_rules_to_json(r, j);
            break;
        }
        case RouteType::kRedirect:
            j["type"] = "redirect";
            j["to"] = r.to;
            j["code"] = unsigned(r.code); // unsigned, as the parser wants it back
            break;
        }
        if (!r.deny_countries.empty() || !r.allow_countries.empty()) {
            json geo = json::object();
            if (!r.deny_countries.empty()) geo["deny_countries"] = r.deny_countries;
            if (!r.allow_countries.empty()) geo["allow_countries"] = r.allow_countries;
            j["geo"] = geo;
        }
        routes.push_back(std::move(j));
    }
    return json{{"version", table.version()}, {"routes", routes}};
}

} // namespace berth::shared::route
