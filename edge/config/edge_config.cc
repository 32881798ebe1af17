// TOML → EdgeConfig with file:line errors for unknown keys and wrong types.
#include "edge/config/edge_config.h"

#include <arpa/inet.h>
#include <charconv>
#include <thread>

#include "shared/config/redis_url.h"
#include "shared/config/toml_reader.h"
#include "shared/fleet/signature.h"

namespace berth::edge
{

namespace
{

using shared::config::at;
using shared::config::check_keys;
using shared::config::fail;
using shared::config::section;

// "10.0.0.0/8", "::1", "192.168.1.7/32": an address, optionally with a prefix length.
bool valid_ip_range(const std::string &spec)
{
    size_t slash = spec.find('/');
    std::string addr = spec.substr(0, slash);
    unsigned char buf[16];
    bool v4 = inet_pton(AF_INET, addr.c_str(), buf) == 1;
    if (!v4 && inet_pton(AF_INET6, addr.c_str(), buf) != 1) return false;
    if (slash == std::string::npos) return true;
    std::string_view p = std::string_view(spec).substr(slash + 1);
    unsigned prefix = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    return !p.empty() && ec == std::errc() && end == p.data() + p.size() &&
           prefix <= (v4 ? 32u : 128u);
}

struct Reader : shared::config::Reader {
    void auto_switch(const char *key, AutoSwitch &out) const
    {
        shared::config::Reader::auto_switch(key, out, AutoSwitch::kOn, AutoSwitch::kOff,
                                            AutoSwitch::kAuto);
    }
};

} // namespace

ListenAddr parse_listen_addr(const std::string &spec, const std::string &where)
{
    ListenAddr a;
    std::string_view s = spec;
    std::string_view host, port;
    if (!s.empty() && s.front() == '[') {
        size_t close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
            fail(where, "listen address \"" + spec + "\" must look like [::1]:8080");
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
    } else {
        size_t colon = s.rfind(':');
        if (colon == std::string_view::npos)
            fail(where, "listen address \"" + spec + "\" needs a port, as in 127.0.0.1:8080");
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p > 65535)
        fail(where, "invalid port in listen address \"" + spec + "\"");
    a.host = host.empty() ? "0.0.0.0" : std::string(host);
    a.port = uint16_t(p);
    return a;
}

EdgeConfig load_edge_config(const std::string &path)
{
    toml::table root = shared::config::parse_file(path);
    EdgeConfig c;
    c.source = path;
    check_keys(path, root, "top level",
               {"edge", "listen", "tls", "limits", "cache", "admin", "log", "redis", "geoip"});

    if (auto *t = section(path, root, "edge")) {
        check_keys(path, *t, "edge",
                   {"workers", "deployments_root", "base_domain", "state_dir", "routes_file", "spa",
                    "defer_accept", "defer_accept_rate", "io_uring"});
        Reader r{{path, *t}};
        r.integer("workers", c.workers, 0, 256);
        r.string("deployments_root", c.deployments_root);
        r.string("base_domain", c.base_domain);
        r.string("state_dir", c.state_dir);
        r.string("routes_file", c.routes_file);
        r.boolean("spa", c.quick_spa);
        r.auto_switch("defer_accept", c.defer_accept);
        r.integer("defer_accept_rate", c.defer_accept_rate, 1, 10'000'000);
        r.auto_switch("io_uring", c.io_uring);
    }
    if (const toml::node *n = root.get("listen")) {
        const toml::array *arr = n->as_array();
        if (!arr) fail(at(path, *n), "listen must be an array of tables: [[listen]]");
        for (const toml::node &e : *arr) {
            const toml::table *t = e.as_table();
            if (!t) fail(at(path, e), "each [[listen]] must be a table");
            check_keys(path, *t, "listen", {"addr", "tls"});
            Reader r{{path, *t}};
            std::string addr;
            if (!r.string("addr", addr)) fail(at(path, e), "[[listen]] needs addr");
            ListenAddr a = parse_listen_addr(addr, at(path, e));
            r.boolean("tls", a.tls);
            c.listen.push_back(a);
        }
    }
    if (auto *t = section(path, root, "tls")) {
        check_keys(path, *t, "tls",
                   {"certs_dir", "default_cert", "hsts", "hsts_max_age", "hsts_include_subdomains",
                    "redirect_http", "handshake_timeout_ms", "ticket_key_rotation_s",
                    "session_cache_size"});
        Reader r{{path, *t}};
        r.string("certs_dir", c.certs_dir);
        r.string("default_cert", c.default_cert);
        r.boolean("hsts", c.hsts);
        r.integer("hsts_max_age", c.hsts_max_age, 0, 2 * 31536000);
        r.boolean("hsts_include_subdomains", c.hsts_include_subdomains);
        r.boolean("redirect_http", c.redirect_http);
        r.integer("handshake_timeout_ms", c.handshake_timeout_ms, 100, 600000);
        r.integer("ticket_key_rotation_s", c.ticket_key_rotation_s, 1, 7 * 86400);
        r.integer("session_cache_size", c.session_cache_size, 0, 10000000);
    }
    if (auto *t = section(path, root, "limits")) {
        check_keys(path, *t, "limits",
                   {"header_timeout_ms", "idle_timeout_ms", "send_timeout_ms", "drain_timeout_ms",
                    "max_header_bytes", "max_url_bytes", "max_header_count", "max_connections",
                    "max_body_bytes"});
        Reader r{{path, *t}};
        r.integer("header_timeout_ms", c.header_timeout_ms, 1, 3600000);
        r.integer("idle_timeout_ms", c.idle_timeout_ms, 1, 86400000);
        r.integer("send_timeout_ms", c.send_timeout_ms, 1, 86400000);
        r.integer("drain_timeout_ms", c.drain_timeout_ms, 1, 3600000);
        r.integer("max_header_bytes", c.max_header_bytes, 1024, 1 << 20);
        r.integer("max_url_bytes", c.max_url_bytes, 256, 1 << 20);
        r.integer("max_header_count", c.max_header_count, 8, 100);
        r.integer("max_connections", c.max_connections, 1, 10000000);
        r.integer("max_body_bytes", c.max_body_bytes, 0, int64_t(1) << 40);
    }
    if (auto *t = section(path, root, "cache")) {
        check_keys(path, *t, "cache", {"small_file_bytes", "memory_bytes", "revalidate_ms"});
        Reader r{{path, *t}};
        r.integer("small_file_bytes", c.small_file_bytes, 0, 64 << 20);
        r.integer("memory_bytes", c.memory_bytes, 0, int64_t(1) << 40);
        r.integer("revalidate_ms", c.revalidate_ms, 0, 86400000);
    }
    if (auto *t = section(path, root, "admin")) {
        check_keys(path, *t, "admin", {"socket", "metrics_listen"});
        Reader r{{path, *t}};
        r.string("socket", c.admin_socket);
        r.string("metrics_listen", c.metrics_listen);
        if (!c.metrics_listen.empty())
            parse_listen_addr(c.metrics_listen,
                              at(path, *t->get("metrics_listen")) + ": [admin] metrics_listen");
    }
    if (auto *t = section(path, root, "log")) {
        check_keys(path, *t, "log", {"access", "format", "level"});
        Reader r{{path, *t}};
        r.string("access", c.access_log);
        std::string format;
        if (r.string("format", format)) {
            if (format == "combined")
                c.log_format = LogFormat::kCombined;
            else if (format == "json")
                c.log_format = LogFormat::kJson;
            else
                fail(at(path, *t->get("format")), "format must be \"combined\" or \"json\"");
        }
        std::string level;
        if (r.string("level", level)) {
            auto parsed = shared::parse_log_level(level);
            if (!parsed)
                fail(at(path, *t->get("level")),
                     "level must be \"error\", \"warn\", \"info\" or \"debug\"");
            c.log_level = *parsed;
        }
    }
    if (auto *t = section(path, root, "redis")) {
        check_keys(path, *t, "redis",
                   {"url", "password_file", "prefix", "name", "heartbeat_ms", "fetch_files",
                    "keep_fetched_ms", "signing_key_file"});
        Reader r{{path, *t}};
        if (r.string("url", c.redis_url) && !c.redis_url.empty()) {
            try {
                shared::config::parse_redis_url(c.redis_url);
            } catch (const std::invalid_argument &e) {
                fail(at(path, *t->get("url")), std::string("[redis] url ") + e.what());
            }
        }
        std::string password_file;
        if (r.string("password_file", password_file) && !password_file.empty()) {
            if (c.redis_url.empty())
                fail(at(path, *t->get("password_file")), "[redis] password_file needs a url");
            try {
                c.redis_url =
                    shared::config::redis_url_with_password_file(c.redis_url, password_file);
            } catch (const std::invalid_argument &e) {
                fail(at(path, *t->get("password_file")),
                     std::string("[redis] password_file ") + e.what());
            }
        }
        if (r.string("prefix", c.redis_prefix) &&
            (c.redis_prefix.empty() ||
             c.redis_prefix.find_first_of(" \t\r\n*?[") != std::string::npos))
            fail(at(path, *t->get("prefix")),
                 "[redis] prefix must be a non-empty key prefix without spaces or glob characters");
        if (r.string("name", c.redis_name) && !c.redis_name.empty() &&
            !shared::config::is_fleet_edge_name(c.redis_name))
            fail(at(path, *t->get("name")), "[redis] name must be at most 200 characters without "
                                            "spaces, ':' or glob characters");
        r.integer("heartbeat_ms", c.redis_heartbeat_ms, 100, 60000);
        std::string key_file;
        if (r.string("signing_key_file", key_file) && !key_file.empty()) {
            try {
                c.redis_signing_key = shared::fleet::read_signing_key(key_file);
            } catch (const std::runtime_error &e) {
                fail(at(path, *t->get("signing_key_file")),
                     std::string("[redis] signing_key_file ") + e.what());
            }
        }
        r.boolean("fetch_files", c.redis_fetch_files);
        r.integer("keep_fetched_ms", c.redis_keep_fetched_ms, 0, 86400000);
    }
    if (auto *t = section(path, root, "geoip")) {
        check_keys(path, *t, "geoip", {"database", "trusted_proxies"});
        Reader r{{path, *t}};
        r.string("database", c.geoip_database);
        r.strings("trusted_proxies", c.trusted_proxies);
        for (const std::string &p : c.trusted_proxies)
            if (!valid_ip_range(p))
                fail(at(path, *t->get("trusted_proxies")),
                     "[geoip] trusted_proxies: \"" + p +
                         "\" is not an IP address or address/prefix (10.0.0.0/8, ::1)");
    }
    return c;
}

void validate_edge_config(EdgeConfig &c)
{
    std::string where = c.source.empty() ? "command line" : c.source;
    if (c.listen.empty()) c.listen.push_back(ListenAddr{"127.0.0.1", 8080, false});
    if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
    if (c.deployments_root.empty() && c.routes_file.empty() && c.state_dir.empty())
        fail(where, "nothing to serve: set --deployments (with --base-domain) or --routes");
    if (!c.base_domain.empty() && c.deployments_root.empty())
        fail(where, "--base-domain needs --deployments");
    if (c.tls_certs.size() != c.tls_keys.size())
        fail(where, "--tls-cert and --tls-key must come in pairs");
    bool tls_listener = false;
    for (const ListenAddr &a : c.listen)
        tls_listener |= a.tls;
    if (tls_listener && c.default_cert.empty() && c.certs_dir.empty() && c.tls_certs.empty())
        fail(where, "a TLS listener needs certificates: [tls] default_cert or certs_dir, or "
                    "--tls-cert with --tls-key");
    for (char &ch : c.base_domain)
        if (ch >= 'A' && ch <= 'Z') ch = char(ch | 0x20);
    while (!c.base_domain.empty() && c.base_domain.back() == '.')
        c.base_domain.pop_back();
    // Labels of letters, digits and '-' ("localhost", "apps.example.com"): it is matched
    // against Host headers, where nothing else can appear.
    bool label_start = true;
    for (char ch : c.base_domain) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  (ch == '-' && !label_start) || (ch == '.' && !label_start);
        if (!ok)
            fail(where, "base_domain must be a host name such as apps.example.com, got \"" +
                            c.base_domain + "\"");
        label_start = ch == '.';
    }
    if (c.max_url_bytes > c.max_header_bytes) c.max_url_bytes = c.max_header_bytes;
}

} // namespace berth::edge
