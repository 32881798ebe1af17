// TOML loading with precise positions: toml++ gives each node's source line (#3).
#include "control/config/control_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace berth::control
{

namespace
{

[[noreturn]] void fail(const std::string &file, const toml::source_region &where,
                       const std::string &message)
{
    throw ConfigError(file + ":" + std::to_string(where.begin.line) + ": " + message);
}

struct Reader {
    const std::string &file;

    void str(const toml::node &n, const std::string &key, std::string &out) const
    {
        if (!n.is_string()) fail(file, n.source(), key + " must be a string");
        out = *n.value<std::string>();
    }
    void integer(const toml::node &n, const std::string &key, int &out, int lo, int hi) const
    {
        if (!n.is_integer()) fail(file, n.source(), key + " must be an integer");
        int64_t v = *n.value<int64_t>();
        if (v < lo || v > hi)
            fail(file, n.source(),
                 key + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
        out = int(v);
    }
    void boolean(const toml::node &n, const std::string &key, bool &out) const
    {
        if (!n.is_boolean()) fail(file, n.source(), key + " must be true or false");
        out = *n.value<bool>();
    }
    void strings(const toml::node &n, const std::string &key, std::vector<std::string> &out) const
    {
        const toml::array *a = n.as_array();
        if (!a) fail(file, n.source(), key + " must be an array of strings");
        out.clear();
        for (const toml::node &e : *a) {
            if (!e.is_string()) fail(file, e.source(), key + " must be an array of strings");
            out.push_back(*e.value<std::string>());
        }
    }
};

void check_listen(const std::string &file, const toml::node &n, const std::string &addr)
{
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == addr.size())
        fail(file, n.source(), "api.listen must be HOST:PORT, got \"" + addr + "\"");
    for (size_t i = colon + 1; i < addr.size(); ++i)
        if (addr[i] < '0' || addr[i] > '9')
            fail(file, n.source(), "api.listen port must be a number, got \"" + addr + "\"");
    if (std::stol(addr.substr(colon + 1)) > 65535)
        fail(file, n.source(), "api.listen port must be at most 65535");
}

} // namespace

ControlConfig load_control_config(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path + ":0: cannot open config file");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();

    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error &e) {
        throw ConfigError(path + ":" + std::to_string(e.source().begin.line) + ": " +
                          std::string(e.description()));
    }

    ControlConfig c;
    c.path = path;
    Reader r{path};
    for (auto &&[section_key, section_node] : root) {
        std::string section(section_key.str());
        const toml::table *t = section_node.as_table();
        if (!t) fail(path, section_node.source(), "[" + section + "] must be a table");
        for (auto &&[k, n] : *t) {
            std::string key(k.str());
            std::string full = section + "." + key;
            if (section == "api") {
                if (key == "listen") {
                    r.str(n, full, c.api_listen);
                    check_listen(path, n, c.api_listen);
                } else if (key == "threads")
                    r.integer(n, full, c.api_threads, 1, 128);
                else if (key == "trigger_per_minute")
                    r.integer(n, full, c.trigger_per_minute, 1, 1000000);
                else if (key == "trigger_per_hour")
                    r.integer(n, full, c.trigger_per_hour, 1, 1000000);
                else if (key == "page_size_default")
                    r.integer(n, full, c.page_size_default, 1, 1000);
                else if (key == "idle_timeout_ms")
                    r.integer(n, full, c.idle_timeout_ms, 100, 3600000);
                else if (key == "page_size_max")
                    r.integer(n, full, c.page_size_max, 1, 1000);
                else if (key == "max_body_bytes") {
                    int v = 0;
                    r.integer(n, full, v, 1024, 64 << 20);
                    c.max_body_bytes = uint64_t(v);
                } else
                    fail(path, n.source(), "unknown key " + full);
            } else if (section == "database") {
                if (key == "url")
                    r.str(n, full, c.database_url);
                else if (key == "pool")
                    r.integer(n, full, c.database_pool, 1, 256);
                else
                    fail(path, n.source(), "unknown key " + full);
            } else if (section == "redis") {
                if (key == "url")
                    r.str(n, full, c.redis_url);
                else if (key == "prefix")
                    r.str(n, full, c.redis_prefix);
                else
                    fail(path, n.source(), "unknown key " + full);
                if (key == "url" && c.redis_url.rfind("redis://", 0) != 0)
                    fail(path, n.source(), "redis.url must start with redis://");
            } else if (section == "deploy") {
                if (key == "deployments_root")
                    r.str(n, full, c.deployments_root);
                else if (key == "base_domain")
                    r.str(n, full, c.base_domain);
                else if (key == "builds_dir")
                    r.str(n, full, c.builds_dir);
                else if (key == "keep_deployments")
                    r.integer(n, full, c.keep_deployments, 1, 1000);
                else if (key == "workers")
                    r.integer(n, full, c.workers, 0, 64);
                else if (key == "visibility_timeout_s")
                    r.integer(n, full, c.visibility_timeout_s, 1, 86400);
                else if (key == "recover_queued_after_s")
                    r.integer(n, full, c.recover_queued_after_s, 1, 86400);
                else
                    fail(path, n.source(), "unknown key " + full);
            } else if (section == "edges") {
                if (key == "admin_sockets")
                    r.strings(n, full, c.edge_admin_sockets);
                else
                    fail(path, n.source(), "unknown key " + full);
            } else if (section == "security") {
                if (key == "encryption_key_env")
                    r.str(n, full, c.encryption_key_env);
                else if (key == "encryption_key_file")
                    r.str(n, full, c.encryption_key_file);
                else if (key == "allowed_repo_hosts")
                    r.strings(n, full, c.allowed_repo_hosts);
                else if (key == "allow_file_urls")
                    r.boolean(n, full, c.allow_file_urls);
                else
                    fail(path, n.source(), "unknown key " + full);
            } else if (section == "webhooks") {
                if (key == "github_secret_env")
                    r.str(n, full, c.github_secret_env);
                else if (key == "gitlab_secret_env")
                    r.str(n, full, c.gitlab_secret_env);
                else if (key == "bitbucket_secret_env")
                    r.str(n, full, c.bitbucket_secret_env);
                else if (key == "github_secret")
                    r.str(n, full, c.github_secret);
                else if (key == "gitlab_secret")
                    r.str(n, full, c.gitlab_secret);
                else if (key == "bitbucket_secret")
                    r.str(n, full, c.bitbucket_secret);
                else
                    fail(path, n.source(), "unknown key " + full);
            } else {
                fail(path, section_node.source(), "unknown section [" + section + "]");
            }
        }
    }
    if (c.page_size_default > c.page_size_max)
        throw ConfigError(path + ":0: api.page_size_default must not exceed api.page_size_max");
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
