// conf/control.toml → ControlConfig through the shared TOML reader (shared/config, #12). A key
// that is accepted also takes effect: values this build cannot honour fail here, naming the key.
#include "control/config/control_config.h"

#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "control/net/ip_address.h"
#include "shared/base/host_name.h"
#include "shared/config/redis_url.h"
#include "shared/config/toml_reader.h"
#include "shared/fleet/signature.h"

namespace berth::control
{

namespace
{

using shared::config::fail;
using shared::config::Reader;
namespace fs = std::filesystem;

void check_listen(const Reader &r, const std::string &addr)
{
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size())
        r.fail_key("listen", "must be HOST:PORT, got \"" + addr + "\"");
    for (size_t i = colon + 1; i < addr.size(); ++i)
        if (addr[i] < '0' || addr[i] > '9')
            r.fail_key("listen", "port must be a number, got \"" + addr + "\"");
    if (colon + 1 + 5 < addr.size() || std::stol(addr.substr(colon + 1)) > 65535)
        r.fail_key("listen", "port must be at most 65535");
}

// A query would be dropped by the connection, so it is refused here (#12: nothing ignored).
void check_redis_url(const Reader &r, const std::string &url)
{
    try {
        shared::config::parse_redis_url(url);
    } catch (const std::invalid_argument &e) {
        r.fail_key("url", e.what());
    }
}

// The URL with the password read from `file` (its first line; scripts/services.sh writes it).
std::string with_redis_password(const Reader &r, const std::string &url, const std::string &file)
{
    try {
        return shared::config::redis_url_with_password_file(url, file);
    } catch (const std::invalid_argument &e) {
        r.fail_key("password_file", e.what());
    }
}

void read_api(const Reader &r, ControlConfig &c)
{
    shared::config::check_keys(c.path, r.t, "api",
                               {"listen", "threads", "trigger_per_minute", "trigger_per_hour",
                                "page_size_default", "page_size_max", "idle_timeout_ms",
                                "max_body_bytes", "max_upload_bytes", "max_streams"});
    if (r.string("listen", c.api_listen)) check_listen(r, c.api_listen);
    r.integer("threads", c.api_threads, 1, 128);
    r.integer("trigger_per_minute", c.trigger_per_minute, 1, 1000000);
    r.integer("trigger_per_hour", c.trigger_per_hour, 1, 1000000);
    r.integer("page_size_default", c.page_size_default, 1, 1000);
    r.integer("page_size_max", c.page_size_max, 1, 1000);
    r.integer("idle_timeout_ms", c.idle_timeout_ms, 100, 3600000);
    r.integer("max_body_bytes", c.max_body_bytes, 1024, 64 << 20);
    r.integer("max_upload_bytes", c.max_upload_bytes, 1024, uint64_t(1) << 30);
    r.integer("max_streams", c.max_streams, 0, 1024);
    if (c.page_size_default > c.page_size_max)
        r.fail_key("page_size_default", "must not exceed api.page_size_max");
}

void read_builds(const Reader &r, ControlConfig &c)
{
    shared::config::check_keys(c.path, r.t, "builds",
                               {"user", "uid_base", "cache_dir", "timeout_s", "memory_mb", "cpu_s",
                                "processes", "open_files", "file_size_mb", "log_max_lines",
                                "log_max_kib"});
    // Builds no longer share one user (one service's build could read another's environment).
    std::string user;
    if (r.string("user", user))
        r.fail_key("user", "is gone: each service's builds run as a uid of their own, uid_base + "
                           "n (remove the key; set uid_base to move the range)");
    // base + n stays a valid uid (below 2^32 - 1) for every n the integer sequence can give.
    r.integer("uid_base", c.build_uid_base, 1000, (int64_t(1) << 31) - 1);
    r.string("cache_dir", c.cache_dir);
    r.integer("timeout_s", c.build_timeout_s, 1, 86400);
    r.integer("memory_mb", c.build_memory_mb, 64, 1 << 20);
    r.integer("cpu_s", c.build_cpu_s, 1, 86400);
    r.integer("processes", c.build_processes, 16, 1 << 20);
    r.integer("open_files", c.build_open_files, 64, 1 << 20);
    r.integer("file_size_mb", c.build_file_size_mb, 1, 1 << 24);
    r.integer("log_max_lines", c.build_log_max_lines, 10, 10000000);
    r.integer("log_max_kib", c.build_log_max_kib, 1, 1 << 22);
}

// "<parent of builds_dir>/uploads": where an installation keeps its scratch space.
std::string uploads_next_to(const std::string &builds_dir)
{
    fs::path p = fs::path(builds_dir).lexically_normal();
    if (!p.has_filename()) p = p.parent_path(); // "x/builds/"
    return (p.parent_path() / "uploads").string();
}

void read_deploy(const Reader &r, ControlConfig &c)
{
    shared::config::check_keys(c.path, r.t, "deploy",
                               {"deployments_root", "base_domain", "builds_dir", "uploads_dir",
                                "keep_deployments", "workers", "visibility_timeout_s",
                                "recover_queued_after_s"});
    r.string("deployments_root", c.deployments_root);
    if (r.string("base_domain", c.base_domain) && !shared::is_host_name(c.base_domain))
        r.fail_key("base_domain",
                   "must be a host name such as \"localhost\" or \"apps.example.com\"");
    r.string("builds_dir", c.builds_dir);
    if (!r.string("uploads_dir", c.uploads_dir)) c.uploads_dir = uploads_next_to(c.builds_dir);
    r.integer("keep_deployments", c.keep_deployments, 1, 1000);
    r.integer("workers", c.workers, 0, 64);
    r.integer("visibility_timeout_s", c.visibility_timeout_s, 1, 86400);
    r.integer("recover_queued_after_s", c.recover_queued_after_s, 1, 86400);
    if (c.deployments_root.empty()) r.fail_key("deployments_root", "must not be empty");
    if (c.builds_dir.empty()) r.fail_key("builds_dir", "must not be empty");
    // The build-directory sweep removes whatever in builds_dir is not a running build.
    auto same = [](const std::string &a, const std::string &b) {
        return fs::path(a).lexically_normal() / "" == fs::path(b).lexically_normal() / "";
    };
    if (c.uploads_dir.empty() || same(c.uploads_dir, c.builds_dir) ||
        same(c.uploads_dir, c.deployments_root))
        r.fail_key("uploads_dir", "must be a directory of its own (not builds_dir or "
                                  "deployments_root)");
}

// "127.0.0.1:8080", "[::1]:8080": the health check connects to it without resolving names.
bool is_ip_port(const std::string &a)
{
    size_t colon = a.rfind(':');
    if (colon == std::string::npos) return false;
    std::string host = a.substr(0, colon), port = a.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    else if (host.find(':') != std::string::npos)
        return false; // IPv6 needs its brackets
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos)
        return false;
    int p = std::atoi(port.c_str());
    return p >= 1 && p <= 65535 && parse_ip(host).has_value();
}

void read_edges(const Reader &r, ControlConfig &c)
{
    shared::config::check_keys(c.path, r.t, "edges",
                               {"admin_sockets", "redis_edges", "timeout_ms", "sync_interval_ms",
                                "ack_timeout_s", "http_addresses", "health_timeout_ms",
                                "health_attempts", "distribute_files", "distribute_max_bytes"});
    c.edge_admin_sockets.clear();
    r.strings("admin_sockets", c.edge_admin_sockets);
    c.edge_redis_names.clear();
    r.strings("redis_edges", c.edge_redis_names);
    for (size_t i = 0; i < c.edge_redis_names.size(); ++i) {
        const std::string &n = c.edge_redis_names[i];
        if (!shared::config::is_fleet_edge_name(n)) // the edge's own rule for [redis] name
            r.fail_key("redis_edges", "entries must be edge names of 1 to 200 characters without"
                                      " spaces, ':' or glob characters, got \"" +
                                          n + "\"");
        for (size_t j = 0; j < i; ++j)
            if (c.edge_redis_names[j] == n) r.fail_key("redis_edges", "names \"" + n + "\" twice");
    }
    c.distribute_files = !c.edge_redis_names.empty();
    r.boolean("distribute_files", c.distribute_files);
    r.integer("distribute_max_bytes", c.distribute_max_bytes, 1024, uint64_t(4) << 30);
    r.integer("timeout_ms", c.edge_timeout_ms, 50, 60000);
    r.integer("sync_interval_ms", c.edge_sync_interval_ms, 100, 3600000);
    r.integer("ack_timeout_s", c.edge_ack_timeout_s, 1, 3600);
    c.edge_http_addresses.clear();
    r.strings("http_addresses", c.edge_http_addresses);
    r.integer("health_timeout_ms", c.health_timeout_ms, 50, 60000);
    r.integer("health_attempts", c.health_attempts, 1, 100);
    for (const auto &a : c.edge_http_addresses)
        if (!is_ip_port(a))
            r.fail_key("http_addresses",
                       "entries must be IP:PORT or [IPv6]:PORT (numeric), got \"" + a + "\"");
    for (const auto &s : c.edge_admin_sockets)
        if (s.empty() || s.size() >= sizeof(sockaddr_un{}.sun_path))
            r.fail_key("admin_sockets", "entries must be socket paths of 1 to " +
                                            std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                                            " bytes, got \"" + s + "\"");
}

void read_security(const Reader &r, ControlConfig &c)
{
    shared::config::check_keys(
        c.path, r.t, "security",
        {"encryption_key_env", "encryption_key_file", "allowed_repo_hosts", "allow_file_urls"});
    r.string("encryption_key_env", c.encryption_key_env);
    r.string("encryption_key_file", c.encryption_key_file);
    c.allowed_repo_hosts.clear();
    r.strings("allowed_repo_hosts", c.allowed_repo_hosts);
    for (const auto &h : c.allowed_repo_hosts) {
        std::string error = check_allowed_repo_host(h);
        if (!error.empty()) r.fail_key("allowed_repo_hosts", error);
    }
    r.boolean("allow_file_urls", c.allow_file_urls);
}

} // namespace

std::string check_allowed_repo_host(const std::string &entry)
{
    // An address range ("10.0.0.0/8", "fd00::/8", "192.0.2.7") or a host name; both are
    // matched against every resolved address or the URL's host (control/pipeline/repo_url).
    if (parse_cidr(entry) ||
        (entry.find_first_of("/:") == std::string::npos && shared::is_host_name(entry)))
        return {};
    return "entry \"" + entry + "\" must be a host name or an address range such as 10.0.0.0/8";
}

ControlConfig load_control_config(const std::string &path)
{
    {
        std::ifstream probe(path);
        if (!probe) throw ConfigError(path + ":0: cannot open config file");
    }
    toml::table root = shared::config::parse_file(path);
    ControlConfig c;
    c.path = path;
    shared::config::check_keys(
        path, root, "top level",
        {"api", "database", "redis", "deploy", "builds", "edges", "security", "webhooks"});
    using shared::config::section;
    if (auto *t = section(path, root, "api")) read_api(Reader{path, *t, "api"}, c);
    if (auto *t = section(path, root, "database")) {
        shared::config::check_keys(path, *t, "database", {"url", "pool"});
        Reader r{path, *t, "database"};
        r.string("url", c.database_url);
        r.integer("pool", c.database_pool, 1, 256);
    }
    if (auto *t = section(path, root, "redis")) {
        shared::config::check_keys(path, *t, "redis",
                                   {"url", "prefix", "password_file", "signing_key_file"});
        Reader r{path, *t, "redis"};
        if (r.string("url", c.redis_url)) check_redis_url(r, c.redis_url);
        r.string("prefix", c.redis_prefix);
        std::string password_file;
        if (r.string("password_file", password_file) && !password_file.empty())
            c.redis_url = with_redis_password(r, c.redis_url, password_file);
        std::string key_file;
        if (r.string("signing_key_file", key_file) && !key_file.empty()) {
            try {
                c.redis_signing_key = shared::fleet::read_signing_key(key_file);
            } catch (const std::exception &e) {
                r.fail_key("signing_key_file", e.what());
            }
        }
    }
    if (auto *t = section(path, root, "deploy")) read_deploy(Reader{path, *t, "deploy"}, c);
    if (auto *t = section(path, root, "builds")) read_builds(Reader{path, *t, "builds"}, c);
    if (auto *t = section(path, root, "edges")) read_edges(Reader{path, *t, "edges"}, c);
    if (auto *t = section(path, root, "security")) read_security(Reader{path, *t, "security"}, c);
    if (auto *t = section(path, root, "webhooks")) {
        shared::config::check_keys(path, *t, "webhooks",
                                   {"github_secret_env", "gitlab_secret_env",
                                    "bitbucket_secret_env", "github_secret", "gitlab_secret",
                                    "bitbucket_secret"});
        Reader r{path, *t, "webhooks"};
        r.string("github_secret_env", c.github_secret_env);
        r.string("gitlab_secret_env", c.gitlab_secret_env);
        r.string("bitbucket_secret_env", c.bitbucket_secret_env);
        r.string("github_secret", c.github_secret);
        r.string("gitlab_secret", c.gitlab_secret);
        r.string("bitbucket_secret", c.bitbucket_secret);
    }
    return c;
}

std::string webhook_secret(const ControlConfig &c, const std::string &provider)
{
    const std::string *env = nullptr, *inline_value = nullptr;
    if (provider == "github")
        env = &c.github_secret_env, inline_value = &c.github_secret;
    else if (provider == "gitlab")
        env = &c.gitlab_secret_env, inline_value = &c.gitlab_secret;
    else if (provider == "bitbucket")
        env = &c.bitbucket_secret_env, inline_value = &c.bitbucket_secret;
    else
        return {};
    if (!env->empty())
        if (const char *v = std::getenv(env->c_str()); v && *v) return v;
    return *inline_value;
}

std::string encryption_key_hex(const ControlConfig &c)
{
    auto valid = [](const std::string &k) {
        if (k.size() != 64) return false;
        for (char ch : k)
            if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
        return true;
    };
    if (!c.encryption_key_env.empty())
        if (const char *v = std::getenv(c.encryption_key_env.c_str()); v && *v) {
            if (!valid(v))
                throw ConfigError(c.path + ":0: $" + c.encryption_key_env +
                                  " must be 64 hex digits (a 256-bit key)");
            return v;
        }
    if (!c.encryption_key_file.empty()) {
        std::ifstream in(c.encryption_key_file);
        std::string k;
        if (in >> k && valid(k)) return k;
        throw ConfigError(c.path + ":0: security.encryption_key_file " + c.encryption_key_file +
                          " must hold 64 hex digits");
    }
    throw ConfigError(c.path + ":0: no encryption key: set $" + c.encryption_key_env +
                      " or security.encryption_key_file");
}

} // namespace berth::control
