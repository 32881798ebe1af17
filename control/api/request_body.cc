// Body validation is table-driven so PATCH and POST share one definition of each column (#3).
#include "control/api/request_body.h"

#include <array>

#include "control/pipeline/repo_url.h"

namespace berth::control
{

namespace
{

enum class Kind { kString, kInt, kBool, kEnum };

struct FieldSpec {
    std::string_view name;
    Kind kind;
    int64_t lo = 0, hi = 0;                    // kString: length; kInt: value
    std::array<std::string_view, 5> choices{}; // kEnum
    bool nullable = false;
};

constexpr std::array<FieldSpec, 23> kServiceFields = {{
    {"project_id", Kind::kString, 36, 36},
    {"name", Kind::kString, 1, 63},
    {"deploy_type", Kind::kEnum, 0, 0, {"GIT", "DOCKER", "UPLOAD", "TEMPLATE", "FUNCTION"}},
    {"buildpack", Kind::kEnum, 0, 0, {"NIXPACKS", "DOCKER", "STATIC"}},
    {"repo_url", Kind::kString, 0, 2048},
    {"branch", Kind::kString, 1, 255},
    {"root_directory", Kind::kString, 0, 1024},
    {"install_command", Kind::kString, 0, 4096, {}, true},
    {"build_command", Kind::kString, 0, 4096, {}, true},
    {"output_directory", Kind::kString, 1, 1024, {}, true},
    {"start_command", Kind::kString, 0, 4096, {}, true},
    {"framework", Kind::kString, 0, 64, {}, true},
    {"health_check_path", Kind::kString, 1, 1024},
    {"health_check_port", Kind::kInt, 1, 65535, {}, true},
    {"health_check_interval", Kind::kInt, 1, 86400},
    {"health_check_timeout", Kind::kInt, 1, 86400},
    {"health_check_retries", Kind::kInt, 0, 10000},
    {"auto_restart", Kind::kBool},
    {"restart_policy", Kind::kEnum, 0, 0, {"always", "unless-stopped", "on-failure", "no"}},
    {"min_replicas", Kind::kInt, 0, 1000},
    {"strategy", Kind::kEnum, 0, 0, {"ROLLING", "BLUE_GREEN", "CANARY"}},
    {"auto_deploy", Kind::kBool},
    {"require_approval", Kind::kBool},
}};

[[noreturn]] void bad(const std::string &field, const std::string &message)
{
    throw ApiError(400, "invalid_field", field + ": " + message, Json{{"field", field}});
}

std::string expect_string(const Json &body, const char *field, size_t lo, size_t hi)
{
    auto it = body.find(field);
    if (it == body.end()) bad(field, "is required");
    if (!it->is_string()) bad(field, "must be a string");
    const auto &s = it->get_ref<const std::string &>();
    if (s.size() < lo || s.size() > hi)
        bad(field, "length must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return s;
}

void check_field(const FieldSpec &f, const Json &v)
{
    std::string name(f.name);
    if (v.is_null()) {
        if (!f.nullable) bad(name, "must not be null");
        return;
    }
    switch (f.kind) {
    case Kind::kString: {
        if (!v.is_string()) bad(name, "must be a string");
        size_t n = v.get_ref<const std::string &>().size();
        if (int64_t(n) < f.lo || int64_t(n) > f.hi)
            bad(name,
                "length must be between " + std::to_string(f.lo) + " and " + std::to_string(f.hi));
        break;
    }
    case Kind::kInt: {
        if (!v.is_number_integer()) bad(name, "must be an integer");
        int64_t n = v.get<int64_t>();
        if (n < f.lo || n > f.hi)
            bad(name, "must be between " + std::to_string(f.lo) + " and " + std::to_string(f.hi));
        break;
    }
    case Kind::kBool:
        if (!v.is_boolean()) bad(name, "must be true or false");
        break;
    case Kind::kEnum: {
        if (!v.is_string()) bad(name, "must be a string");
        const auto &s = v.get_ref<const std::string &>();
        for (auto c : f.choices)
            if (!c.empty() && c == s) return;
        std::string allowed;
        for (auto c : f.choices)
            if (!c.empty()) allowed += (allowed.empty() ? "" : ", ") + std::string(c);
        bad(name, "must be one of " + allowed);
    }
    }
}

} // namespace

Json parse_body_object(std::string_view body)
{
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
    Json j = parse_json_or_discarded(body);
    if (j.is_discarded())
        throw ApiError(400, "invalid_json",
                       "request body is not valid JSON (or nests deeper than 64 levels)");
    if (!j.is_object()) throw ApiError(400, "invalid_body", "request body must be a JSON object");
    return j;
}

bool is_uuid(std::string_view s) noexcept
{
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

bool is_service_name(std::string_view s) noexcept
{
    if (s.empty() || s.size() > 63 || s == "www" || s.front() == '-' || s.back() == '-')
        return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return true;
}

bool is_env_key(std::string_view s) noexcept
{
    if (s.empty() || s.size() > 255 || (s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

bool is_commit_hash(std::string_view s) noexcept
{
    if (s.size() < 7 || s.size() > 40) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    return true;
}

bool is_branch_name(std::string_view s) noexcept
{
    if (s.empty() || s.size() > 255 || s.front() == '/' || s.back() == '/' || s.front() == '-' ||
        s.find("..") != s.npos || s.find("//") != s.npos || s.find("@{") != s.npos ||
        s.ends_with(".lock") || s.ends_with("."))
        return false;
    for (unsigned char c : s)
        if (c < 0x21 || c == 0x7f || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' ||
            c == '[' || c == '\\')
            return false;
    return true;
}

bool is_hostname(std::string_view s) noexcept
{
    if (s.empty() || s.size() > 253 || s.find('.') == std::string_view::npos) return false;
    while (!s.empty()) {
        size_t dot = s.find('.');
        std::string_view label = s.substr(0, dot);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label)
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
        if (dot == std::string_view::npos) break;
        s.remove_prefix(dot + 1);
        if (s.empty()) return false; // trailing dot
    }
    return true;
}

std::string parse_domain(const Json &body)
{
    for (auto it = body.begin(); it != body.end(); ++it)
        if (it.key() != "hostname")
            throw ApiError(400, "unknown_field", "unknown field " + it.key(),
                           Json{{"field", it.key()}});
    std::string host = expect_string(body, "hostname", 1, 253);
    for (char &c : host)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (!is_hostname(host)) bad("hostname", "must be a DNS name such as www.example.com");
    return host;
}

Json validate_project(const Json &body, bool create)
{
    Json out = Json::object();
    for (auto it = body.begin(); it != body.end(); ++it)
        if (it.key() != "name")
            throw ApiError(400, "unknown_field", "unknown field " + it.key(),
                           Json{{"field", it.key()}});
    if (create || body.contains("name")) out["name"] = expect_string(body, "name", 1, 100);
    return out;
}

Json validate_service(const Json &body, bool create)
{
    Json out = Json::object();
    for (auto it = body.begin(); it != body.end(); ++it) {
        const FieldSpec *spec = nullptr;
        for (const auto &f : kServiceFields)
            if (f.name == it.key()) spec = &f;
        if (!spec)
            throw ApiError(400, "unknown_field", "unknown field " + it.key(),
                           Json{{"field", it.key()}});
        if (!create && it.key() == "project_id")
            bad("project_id", "cannot be changed; create a new service instead");
        check_field(*spec, it.value());
        out[it.key()] = it.value();
    }
    if (create) {
        if (!out.contains("project_id")) bad("project_id", "is required");
        if (!out.contains("name")) bad("name", "is required");
    }
    if (out.contains("project_id") && !is_uuid(out["project_id"].get<std::string>()))
        bad("project_id", "must be a UUID");
    if (out.contains("name") && !is_service_name(out["name"].get<std::string>()))
        bad("name", "must be a DNS label: a-z, 0-9 and '-', at most 63, not \"www\"");
    if (out.contains("repo_url") && !out["repo_url"].get_ref<const std::string &>().empty()) {
        // The clone's own parser, so what is saved is what can be cloned (whether the host is
        // allowed is decided at the clone, against [security] of the running control).
        std::string error;
        if (!parse_repo_url(out["repo_url"].get_ref<const std::string &>(), error))
            bad("repo_url", error);
    }
    if (out.contains("branch") && !is_branch_name(out["branch"].get<std::string>()))
        bad("branch", "is not a valid branch name");
    if (out.contains("root_directory")) {
        const auto &r = out["root_directory"].get_ref<const std::string &>();
        if (r.find("..") != std::string::npos || r.find('\0') != std::string::npos)
            bad("root_directory", "must stay inside the repository");
    }
    if (out.contains("output_directory") && out["output_directory"].is_string()) {
        const auto &o = out["output_directory"].get_ref<const std::string &>();
        if (o.front() == '/' || o.find("..") != std::string::npos ||
            o.find('\0') != std::string::npos)
            bad("output_directory", "must be a relative path inside the repository");
    }
    if (out.contains("health_check_path")) {
        const auto &p = out["health_check_path"].get_ref<const std::string &>();
        if (p.front() != '/') bad("health_check_path", "must start with /");
    }
    return out;
}

TriggerRequest parse_trigger(const Json &body)
{
    TriggerRequest t;
    for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string &k = it.key();
        if (k != "service_id" && k != "commit_hash" && k != "branch" && k != "provider_id")
            throw ApiError(400, "unknown_field", "unknown field " + k, Json{{"field", k}});
    }
    t.service_id = expect_string(body, "service_id", 36, 36);
    if (!is_uuid(t.service_id)) bad("service_id", "must be a UUID");
    if (auto it = body.find("commit_hash"); it != body.end() && !it->is_null()) {
        t.commit_hash = expect_string(body, "commit_hash", 7, 40);
        if (!is_commit_hash(t.commit_hash)) bad("commit_hash", "must be 7-40 hex digits");
    }
    if (auto it = body.find("branch"); it != body.end() && !it->is_null()) {
        t.branch = expect_string(body, "branch", 1, 255);
        if (!is_branch_name(t.branch)) bad("branch", "is not a valid branch name");
    }
    return t;
}

EnvVarInput parse_env_var(const Json &body, bool create)
{
    EnvVarInput e;
    for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string &k = it.key();
        if (k != "key" && k != "value" && k != "is_secret" && k != "is_locked" && k != "source")
            throw ApiError(400, "unknown_field", "unknown field " + k, Json{{"field", k}});
    }
    if (create) {
        e.key = expect_string(body, "key", 1, 255);
        if (!is_env_key(e.key)) bad("key", "must match [A-Za-z_][A-Za-z0-9_]*");
    } else if (body.contains("key")) {
        bad("key", "cannot be changed; delete and create instead");
    }
    if (body.contains("value") || create) {
        e.value = expect_string(body, "value", 0, 32 * 1024);
        e.has_value = true;
    }
    auto flag = [&](const char *name, bool &v, bool &has) {
        if (auto it = body.find(name); it != body.end()) {
            if (!it->is_boolean()) bad(name, "must be true or false");
            v = it->get<bool>();
            has = true;
        }
    };
    flag("is_secret", e.is_secret, e.has_is_secret);
    flag("is_locked", e.is_locked, e.has_is_locked);
    if (body.contains("source")) {
        e.source = expect_string(body, "source", 1, 16);
        // SYSTEM values (DEPLOYMENT_ID, COMMIT_HASH, BRANCH, SERVICE_NAME) are Berth's own: a
        // row claiming that source would pass for one in the recorded build environment.
        if (e.source == "SYSTEM")
            bad("source", "SYSTEM variables are set by Berth itself; use USER, ADDON or SHORTCODE");
        if (e.source != "USER" && e.source != "ADDON" && e.source != "SHORTCODE")
            bad("source", "must be one of USER, ADDON, SHORTCODE");
    }
    return e;
}

HealthReport parse_health_report(const Json &body)
{
    HealthReport h;
    h.status = expect_string(body, "status", 1, 64);
    if (h.status != "healthy" && h.status != "unhealthy" && h.status != "starting" &&
        h.status != "needs_manual_intervention")
        bad("status", "must be one of healthy, unhealthy, starting, needs_manual_intervention");
    if (auto it = body.find("details"); it != body.end()) {
        if (!it->is_object()) bad("details", "must be an object");
        if (it->dump().size() > 16 * 1024) bad("details", "must be at most 16 KiB");
        h.details = *it;
    }
    return h;
}

bool rollback_confirmed(const Json &body) noexcept
{
    auto it = body.find("confirm");
    if (it == body.end()) return false;
    return (it->is_string() && it->get_ref<const std::string &>() == "true") ||
           (it->is_boolean() && it->get<bool>());
}

} // namespace berth::control
