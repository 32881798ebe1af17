// Route table, Token auth and the exception boundary of every request (#3).
#include "control/api/api_router.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>

#include "control/api/request_body.h"
#include "control/edges/edge_sync.h"
#include "control/pipeline/publish.h"
#include "control/queue/job_queue.h"
#include "control/queue/redis_conn.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "control/store/deployments_store.h"
#include "control/upload/upload_store.h"
#include "shared/base/percent_coding.h"

namespace berth::control
{

using shared::percent_decode;
using shared::percent_encode;
using shared::http::Method;

namespace
{

using Handler = ApiResponse (*)(RequestCtx &);

struct Route {
    Method method;
    const char *pattern; // segments after /api/v1/; "*" captures one segment
    Handler handler;
    bool auth = true;
};

const Route kRoutes[] = {
    {Method::kGet, "projects", projects_list},
    {Method::kPost, "projects", projects_create},
    {Method::kGet, "projects/*", projects_get},
    {Method::kPatch, "projects/*", projects_patch},
    {Method::kDelete, "projects/*", projects_delete},
    {Method::kGet, "services", services_list},
    {Method::kPost, "services", services_create},
    {Method::kGet, "services/*", services_get},
    {Method::kPatch, "services/*", services_patch},
    {Method::kDelete, "services/*", services_delete},
    {Method::kPost, "services/*/instant-rollback", services_instant_rollback},
    {Method::kPost, "services/*/auto-deploy/resume", services_auto_deploy_resume},
    {Method::kPost, "services/*/health/webhook", services_health_webhook, false},
    {Method::kPost, "services/*/recheck-health", services_recheck_health},
    {Method::kGet, "services/*/domains", domains_list},
    {Method::kPost, "services/*/domains", domains_create},
    {Method::kDelete, "services/*/domains/*", domains_delete},
    {Method::kPost, "services/*/domains/*/verify", domains_verify},
    {Method::kGet, "services/*/env-vars", env_vars_list},
    {Method::kPost, "services/*/env-vars", env_vars_create},
    {Method::kGet, "services/*/env-vars/*", env_vars_get},
    {Method::kPatch, "services/*/env-vars/*", env_vars_patch},
    {Method::kDelete, "services/*/env-vars/*", env_vars_delete},
    {Method::kGet, "deployments", deployments_list},
    {Method::kPost, "deployments/trigger", deployments_trigger},
    {Method::kPost, "deployments/upload", deployments_upload},
    {Method::kGet, "deployments/*", deployments_get},
    {Method::kGet, "deployments/*/build-logs", deployments_build_logs},
    {Method::kPost, "deployments/*/cancel", deployments_cancel},
    {Method::kPost, "deployments/*/approve", deployments_approve},
    {Method::kPost, "deployments/*/rollback", deployments_rollback},
    {Method::kPost, "system/route-recheck", system_route_recheck},
    {Method::kGet, "system/audit", system_audit_list},
    {Method::kGet, "system/edges", system_edges_list},
    {Method::kPost, "webhooks/*", webhooks_receive, false},
    {Method::kPost, "webhooks/*/*", webhooks_receive, false},
    {Method::kPost, "services/*/webhook-secret", services_rotate_webhook_secret},
};

std::vector<std::string> split_path(std::string_view p)
{
    std::vector<std::string> out;
    while (!p.empty()) {
        size_t slash = p.find('/');
        std::string_view seg = p.substr(0, slash);
        if (!seg.empty()) out.emplace_back(seg);
        if (slash == std::string_view::npos) break;
        p.remove_prefix(slash + 1);
    }
    return out;
}

bool match(const char *pattern, const std::vector<std::string> &segs,
           std::vector<std::string> &params)
{
    auto pat = split_path(pattern);
    if (pat.size() != segs.size()) return false;
    std::vector<std::string> caught;
    for (size_t i = 0; i < pat.size(); ++i) {
        if (pat[i] == "*")
            caught.push_back(segs[i]);
        else if (pat[i] != segs[i])
            return false;
    }
    params = std::move(caught);
    return true;
}

const char *method_name(Method m)
{
    switch (m) {
    case Method::kGet:
        return "GET";
    case Method::kPost:
        return "POST";
    case Method::kPatch:
        return "PATCH";
    case Method::kDelete:
        return "DELETE";
    case Method::kPut:
        return "PUT";
    default:
        return "";
    }
}

ApiResponse error_response(int status, const std::string &code, const std::string &message,
                           const Json &extra = Json::object())
{
    Json body = {{"code", code}, {"error", message}};
    for (auto it = extra.begin(); it != extra.end(); ++it)
        body[it.key()] = it.value();
    ApiResponse r = json_response(status, body);
    if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Token");
    if (status == 429 && extra.contains("retry_after"))
        r.headers.emplace_back("Retry-After", std::to_string(extra["retry_after"].get<int64_t>()));
    return r;
}

// The decoded (name, value) pairs of a raw query string in their order; "a" alone is ("a", "").
std::vector<std::pair<std::string, std::string>> query_pairs(std::string_view q)
{
    std::vector<std::pair<std::string, std::string>> out;
    while (!q.empty()) {
        size_t amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        if (!pair.empty()) {
            size_t eq = pair.find('=');
            out.emplace_back(percent_decode(pair.substr(0, eq), true),
                             eq == std::string_view::npos
                                 ? std::string()
                                 : percent_decode(pair.substr(eq + 1), true));
        }
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
    }
    return out;
}

// A Host header worth echoing into a link: a name or address with an optional port.
bool usable_host(std::string_view host)
{
    if (host.empty() || host.size() > 255) return false;
    return std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
    });
}

std::optional<User> authenticate(const ApiContext &api, const ApiRequest &req)
{
    std::string_view auth = req.header("Authorization");
    if (auth.empty())
        throw ApiError(401, "not_authenticated", "Authorization: Token <token> is required");
    constexpr std::string_view scheme = "Token ";
    if (auth.size() <= scheme.size() ||
        !shared::http::iequals(auth.substr(0, scheme.size()), scheme))
        throw ApiError(401, "invalid_token", "Authorization must use the Token scheme");
    std::string token(auth.substr(scheme.size()));
    auto user =
        api.db.read([&](pqxx::transaction_base &w) { return authenticate_token(w, token); });
    if (!user) throw ApiError(401, "invalid_token", "invalid or revoked token");
    return user;
}

} // namespace

Json RequestCtx::body() const
{
    return parse_body_object(req.body);
}

std::string RequestCtx::query_param(std::string_view name) const
{
    for (auto &[k, v] : query_pairs(req.query))
        if (k == name) return std::move(v);
    return {};
}

std::string request_url(const ApiRequest &req)
{
    std::string_view host = req.header("Host");
    return usable_host(host) ? "http://" + std::string(host) + req.path : req.path;
}

std::string
url_with_query(const std::string &url, std::string_view query,
               const std::vector<std::pair<std::string, std::optional<std::string>>> &set)
{
    auto pairs = query_pairs(query);
    std::erase_if(pairs, [&](const auto &p) {
        return std::any_of(set.begin(), set.end(),
                           [&](const auto &s) { return s.first == p.first; });
    });
    for (const auto &[k, v] : set)
        if (v) pairs.emplace_back(k, *v);
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto &a, const auto &b) { return a.first < b.first; });
    std::string out = url;
    for (size_t i = 0; i < pairs.size(); ++i)
        out += (i == 0 ? "?" : "&") + percent_encode(pairs[i].first, true, true) + "=" +
               percent_encode(pairs[i].second, true, true);
    return out;
}

ApiResponse json_response(int status, const Json &body)
{
    ApiResponse r;
    r.status = status;
    r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
    return r;
}

ApiResponse empty_response(int status)
{
    ApiResponse r;
    r.status = status;
    return r;
}

Page page_from(const RequestCtx &ctx)
{
    Page p;
    p.size = ctx.api.config.page_size_default;
    auto number = [](const std::string &s, const char *name) -> int64_t {
        if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos ||
            std::stoll(s) < 1)
            throw ApiError(400, "invalid_query", std::string(name) + " must be a positive integer");
        return std::stoll(s);
    };
    if (auto s = ctx.query_param("page"); !s.empty()) p.page = number(s, "page");
    if (auto s = ctx.query_param("page_size"); !s.empty()) p.size = number(s, "page_size");
    if (p.size > ctx.api.config.page_size_max) p.size = ctx.api.config.page_size_max;
    p.url = request_url(ctx.req);
    p.query = ctx.req.query;
    return p;
}

Json page_body(const Page &p, int64_t count, Json results)
{
    auto link = [&](int64_t page) {
        return url_with_query(
            p.url, p.query,
            {{"page", page == 1 ? std::nullopt : std::optional(std::to_string(page))}});
    };
    return {{"count", count},
            {"page", p.page},
            {"page_size", p.size},
            {"next", p.offset() + p.size < count ? Json(link(p.page + 1)) : Json(nullptr)},
            {"previous", p.page > 1 ? Json(link(p.page - 1)) : Json(nullptr)},
            {"results", std::move(results)}};
}

void throw_not_found(const std::string &what)
{
    throw ApiError(404, "not_found", what + " not found");
}

void require_project(pqxx::transaction_base &w, const RequestCtx &ctx,
                     const std::string &project_id)
{
    if (!is_uuid(project_id)) throw_not_found("project");
    auto r = w.exec_params("SELECT 1 FROM projects WHERE id = $1 AND owner_id = $2", project_id,
                           ctx.user->id);
    if (r.empty()) throw_not_found("project");
}

Json require_service(pqxx::transaction_base &w, const RequestCtx &ctx,
                     const std::string &service_id)
{
    if (!is_uuid(service_id)) throw_not_found("service");
    auto row =
        json_row(w,
                 "SELECT (to_jsonb(s) - 'health_webhook_token_hash' - "
                 "'webhook_secret_sealed')::text FROM services s"
                 " JOIN projects p ON p.id = s.project_id WHERE s.id = $1 AND p.owner_id = $2",
                 service_id, ctx.user->id);
    if (!row) throw_not_found("service");
    return *row;
}

Json require_deployment(pqxx::transaction_base &w, const RequestCtx &ctx,
                        const std::string &deployment_id)
{
    if (!is_uuid(deployment_id)) throw_not_found("deployment");
    auto dep = load_deployment_owned(w, deployment_id, ctx.user->id);
    if (!dep) throw_not_found("deployment");
    return *dep;
}

ApiResponse delete_and_unpublish(const RequestCtx &ctx, const std::string &kind,
                                 const std::string &id)
{
    bool project = kind == "project";
    const ControlConfig &config = ctx.api.config;
    struct Gone {
        std::vector<std::string> names, services, deployments;
        // Each deployment's published directory, relative to deployments_root. By its own
        // path, never the service's name: a renamed service left files under its old name,
        // which another service may have taken since (#15 audit).
        std::vector<std::string> published;
    };
    Gone gone = ctx.api.db.transact([&](pqxx::work &w) {
        if (project)
            require_project(w, ctx, id);
        else
            require_service(w, ctx, id);
        const std::string which = project ? "s.project_id" : "s.id";
        auto busy = w.exec_params("SELECT d.id FROM deployments d JOIN services s ON"
                                  " s.id = d.service_id WHERE " +
                                      which + " = $1 AND d.status IN " + in_flight_statuses_sql() +
                                      " LIMIT 1",
                                  id);
        if (!busy.empty())
            throw ApiError(409, "deployment_in_progress",
                           "a deployment of this " + kind + " is in progress; cancel it first",
                           Json{{"deployment_id", busy[0][0].as<std::string>()}});
        Gone g;
        for (const auto &r :
             w.exec_params("SELECT name, id FROM services s WHERE " + which + " = $1", id)) {
            g.names.push_back(r[0].as<std::string>());
            g.services.push_back(r[1].as<std::string>());
        }
        // A deployment without an artifact_path published nothing, unless control died
        // between the publish and recording it: then it is under the service's name.
        for (const auto &r : w.exec_params("SELECT d.id, COALESCE(d.artifact_path, s.name || '/'"
                                           " || d.id) FROM deployments d JOIN services s ON"
                                           " s.id = d.service_id WHERE " +
                                               which + " = $1",
                                           id)) {
            g.deployments.push_back(r[0].as<std::string>());
            g.published.push_back(r[1].as<std::string>());
        }
        w.exec_params(std::string("DELETE FROM ") + (project ? "projects" : "services") +
                          " WHERE id = $1",
                      id);
        audit_append(w, {ctx.actor(), project ? "PROJECT_DELETE" : "SERVICE_DELETE", kind, id,
                         Json{{"services", g.names}}});
        // The new expected table no longer routes to it; committed with the delete.
        refresh_expected(w, config);
        return g;
    });
    // Routes first, files second (#15): every edge that answers is brought to the table
    // without the service before its directories go, so none serves a half-removed tree.
    if (!gone.names.empty()) EdgeSync(config, ctx.api.db).sync_all();
    namespace fs = std::filesystem;
    for (const auto &rel : gone.published) {
        fs::path relative(rel);
        int parts = 0;
        bool plain = !relative.is_absolute();
        for (const auto &part : relative) {
            ++parts;
            plain &= part != "." && part != ".." && !part.empty();
        }
        if (!plain || parts != 2) continue; // not <name>/<id>: not ours to remove
        fs::path dir = fs::path(config.deployments_root) / relative;
        remove_published(dir);
        std::error_code ec;
        fs::remove(dir.parent_path(), ec); // the name's directory, once empty
    }
    for (const auto &d : gone.deployments) {
        std::error_code ec;
        fs::remove_all(fs::path(config.builds_dir) / d, ec);
        remove_upload(config.uploads_dir, d);
    }
    for (const auto &sid : gone.services) { // the dependency cache (cache_dir/<service id>)
        std::error_code ec;
        if (!config.cache_dir.empty()) fs::remove_all(fs::path(config.cache_dir) / sid, ec);
    }
    return empty_response(204);
}

void claim_host(pqxx::transaction_base &w, const ApiContext &api, const std::string &host,
                bool for_service)
{
    w.exec("SELECT pg_advisory_xact_lock(7303)");
    if (!w.exec_params("SELECT 1 FROM domains WHERE hostname = $1", host).empty())
        throw ApiError(409, "domain_taken", host + " is already attached to a service",
                       Json{{"hostname", host}});
    // <label>.<base_domain> is the host of the service named <label>. (For a service's own
    // host, a name taken by another service is the unique index's 409 service_name_taken.)
    const std::string suffix = "." + api.config.base_domain;
    if (!for_service && host.size() > suffix.size() && host.ends_with(suffix)) {
        std::string label = host.substr(0, host.size() - suffix.size());
        if (label.find('.') == std::string::npos &&
            !w.exec_params("SELECT 1 FROM services WHERE name = $1", label).empty())
            throw ApiError(409, "domain_taken", host + " is the host of another service",
                           Json{{"hostname", host}});
    }
}

void enqueue_after_commit(const ApiContext &api, const std::string &deployment_id)
{
    try {
        api.redis.with([&](RedisConn &r) {
            JobQueue(r, api.config.redis_prefix, api.config.visibility_timeout_s * 1000)
                .push(deployment_id);
            return 0;
        });
    } catch (const std::exception &e) {
        std::fprintf(stderr,
                     "berth-control: enqueue %s failed (%s); the recovery sweep will retry\n",
                     deployment_id.c_str(), e.what());
    }
}

uint64_t request_body_limit(const ControlConfig &config,
                            const shared::http::RequestHead &head) noexcept
{
    constexpr std::string_view prefix = "/api/v1/";
    std::string_view path = head.path;
    if (head.method != Method::kPost || !path.starts_with(prefix)) return config.max_body_bytes;
    try {
        auto segs = split_path(path.substr(prefix.size()));
        std::vector<std::string> params;
        if (match("deployments/upload", segs, params)) return config.max_upload_bytes;
    } catch (const std::exception &) {
        // Out of memory splitting a path: the ordinary limit.
    }
    return config.max_body_bytes;
}

namespace
{

// The route a request names, or null (then `allowed` lists the methods its path does take).
// HEAD takes the GET route (the server sends its head alone), and is allowed wherever GET is.
const Route *find_route(const ApiRequest &req, std::vector<std::string> &params,
                        std::string &allowed)
{
    const Method method = req.method == Method::kHead ? Method::kGet : req.method;
    constexpr std::string_view prefix = "/api/v1/";
    std::string_view path = req.path;
    if (path.substr(0, prefix.size()) != prefix && path != "/api/v1")
        throw ApiError(404, "not_found", "no such endpoint; the API is under /api/v1/");
    auto segs = split_path(path.substr(std::min(path.size(), prefix.size())));
    for (const Route &r : kRoutes) {
        if (!match(r.pattern, segs, params)) continue;
        if (r.method == method) return &r;
        allowed += (allowed.empty() ? "" : ", ") + std::string(method_name(r.method));
        if (r.method == Method::kGet) allowed += ", HEAD";
    }
    return nullptr;
}

// A 503 whose cause (the driver's message: host, port, socket path) goes to the log only.
ApiResponse unavailable(const ApiRequest &req, const char *code, const char *message,
                        const char *cause)
{
    std::fprintf(stderr, "berth-control: %s %s: %s: %s\n", req.method_name.c_str(),
                 req.path.c_str(), code, cause);
    return error_response(503, code, message);
}

// Runs `answer` and turns what it throws into the error answers handle_api_request promises.
template <class Answer> ApiResponse answer_or_error(const ApiRequest &req, Answer &&answer)
{
    constexpr const char *kNoDb = "the database is unavailable; retry later";
    try {
        return answer();
    } catch (const ApiError &e) {
        return error_response(e.status, e.code, e.what(), e.extra);
    } catch (const DbUnavailable &e) {
        return unavailable(req, "database_unavailable", kNoDb, e.what());
    } catch (const pqxx::broken_connection &e) {
        return unavailable(req, "database_unavailable", kNoDb, e.what());
    } catch (const RedisUnavailable &e) {
        return unavailable(req, "queue_unavailable",
                           "the job queue (Redis) is unavailable; nothing was created; retry later",
                           e.what());
    } catch (const std::exception &e) {
        std::fprintf(stderr, "berth-control: %s %s: internal error: %s\n", req.method_name.c_str(),
                     req.path.c_str(), e.what());
        return error_response(500, "internal_error", "internal error; see the server log");
    }
}

} // namespace

ApiResponse handle_api_request(const ApiContext &api, const ApiRequest &req)
{
    return answer_or_error(req, [&] {
        std::vector<std::string> params;
        std::string allowed;
        const Route *r = find_route(req, params, allowed);
        if (!r && !allowed.empty()) {
            ApiResponse resp =
                error_response(405, "method_not_allowed", req.method_name + " is not allowed here");
            resp.headers.emplace_back("Allow", allowed);
            return resp;
        }
        if (!r) throw ApiError(404, "not_found", "no such endpoint");
        RequestCtx ctx{api, req, std::nullopt, std::move(params)};
        if (r->auth) ctx.user = authenticate(api, req);
        return r->handler(ctx);
    });
}

std::optional<ApiResponse> check_api_request_head(const ApiContext &api, const ApiRequest &req)
{
    constexpr int kGoOn = 0;
    ApiResponse verdict = answer_or_error(req, [&] {
        std::vector<std::string> params;
        std::string allowed;
        const Route *r = find_route(req, params, allowed);
        if (r && r->auth) authenticate(api, req);
        return ApiResponse{kGoOn, {}, {}, {}, {}};
    });
    if (verdict.status == kGoOn) return std::nullopt;
    return verdict;
}

} // namespace berth::control
