// /api/v1 routing, authentication and the error boundary; the handlers live in *_api.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "control/api/api_error.h"
#include "control/api/http_server.h"
#include "control/base/crypto.h"
#include "control/base/json_util.h"
#include "control/config/control_config.h"
#include "control/store/tokens.h"

namespace berth::control
{

class Db;
class RedisPool;

// Everything a handler may use. Shared by all threadpool threads: each member is thread-safe.
struct ApiContext {
    const ControlConfig &config;
    Db &db;
    RedisPool &redis;
    SecretBox secrets;
    std::function<int64_t()> now_ms; // wall clock in ms (throttle windows, queue leases)
};

struct RequestCtx {
    const ApiContext &api;
    const ApiRequest &req;
    std::optional<User> user;        // set on authenticated routes
    std::vector<std::string> params; // path parameters in order ({id}, {key}, {provider})
    Json body() const;               // parse_body_object(req.body)
    std::string query_param(std::string_view name) const; // percent-decoded, "" if absent
    std::string actor() const { return user ? "user:" + user->name : "anonymous"; }
};

// Routes one request and never throws: ApiError → its status and {"code","error",...};
// DbUnavailable → 503 database_unavailable; RedisUnavailable → 503 queue_unavailable; any
// other exception → 500 internal_error (logged to stderr).
ApiResponse handle_api_request(const ApiContext &api, const ApiRequest &req);

// Before a large body is read (an upload): the checks its head alone decides, so a caller
// without a valid token is answered at once (401) instead of after 100 MiB. nullopt: read the
// body and handle the request. Never throws, like handle_api_request.
std::optional<ApiResponse> check_api_request_head(const ApiContext &api, const ApiRequest &req);

// The body limit of a request, from its head (asked before the body is read): [api]
// max_upload_bytes for POST deployments/upload/, max_body_bytes for everything else.
uint64_t request_body_limit(const ControlConfig &config,
                            const shared::http::RequestHead &head) noexcept;

ApiResponse json_response(int status, const Json &body);
ApiResponse empty_response(int status);

// The request's own URL without its query, absolute as DRF's build_absolute_uri makes it:
// "http://<Host header><path>" (the path alone when the request has no usable Host).
std::string request_url(const ApiRequest &req);

// url + "?" + `query` (a raw query string) with each key of `set` replaced by its value, or
// removed when the value is nullopt; the other parameters are kept. As DRF's
// replace_query_param: parameters sorted by name (a name's values in their order), each
// re-encoded (a space as '+'); no "?" when nothing is left.
std::string
url_with_query(const std::string &url, std::string_view query,
               const std::vector<std::pair<std::string, std::optional<std::string>>> &set);

// Pagination from ?page=N&page_size=M (defaults and maximum from [api]).
struct Page {
    int64_t page = 1, size = 20;
    int64_t offset() const { return (page - 1) * size; }
    std::string url, query; // the request's (request_url and raw query), for the links
};
Page page_from(const RequestCtx &ctx);
// {"count","page","page_size","next","previous","results"}; next/previous are the absolute
// URLs of the neighbouring pages with every other parameter of the request (its filters and
// page_size) kept, or null; as DRF, the link to page 1 carries no page parameter.
Json page_body(const Page &p, int64_t count, Json results);

// Rows of `sql` whose first column is JSON text, as one array.
template <class... Args>
Json json_rows(pqxx::transaction_base &w, const std::string &sql, Args &&...args)
{
    Json out = Json::array();
    for (const auto &row : w.exec_params(sql, std::forward<Args>(args)...))
        out.push_back(Json::parse(row[0].c_str()));
    return out;
}
template <class... Args>
std::optional<Json> json_row(pqxx::transaction_base &w, const std::string &sql, Args &&...args)
{
    auto r = w.exec_params(sql, std::forward<Args>(args)...);
    if (r.empty()) return std::nullopt;
    return Json::parse(r[0][0].c_str());
}

[[noreturn]] void throw_not_found(const std::string &what);

// Ownership checks: throw 404 `not_found` when the row does not exist or belongs to another
// user (404 rather than 403, so ids of other users' resources are not confirmed to exist).
void require_project(pqxx::transaction_base &w, const RequestCtx &ctx,
                     const std::string &project_id);
Json require_service(pqxx::transaction_base &w, const RequestCtx &ctx,
                     const std::string &service_id);
Json require_deployment(pqxx::transaction_base &w, const RequestCtx &ctx,
                        const std::string &deployment_id);

// Deletes project or service `id` (kind "project" | "service", ownership checked) with an
// audit row, unless one of its deployments is in flight (409 `deployment_in_progress`); then
// takes its routes off every edge, and only then removes its deployment directories and build
// artefacts. Answers 204.
ApiResponse delete_and_unpublish(const RequestCtx &ctx, const std::string &kind,
                                 const std::string &id);

// Hosts are one namespace (#15): <service name>.<base_domain> and every custom domain. Throws
// 409 `domain_taken` when `host` is a custom domain, or (unless for_service: the host of a
// service being created or renamed) the host of a service. Takes the advisory lock that
// serialises these checks with the inserts that follow, until the transaction ends.
void claim_host(pqxx::transaction_base &w, const ApiContext &api, const std::string &host,
                bool for_service);

// Handlers (one file per resource).
ApiResponse projects_list(RequestCtx &ctx);
ApiResponse projects_create(RequestCtx &ctx);
ApiResponse projects_get(RequestCtx &ctx);
ApiResponse projects_patch(RequestCtx &ctx);
ApiResponse projects_delete(RequestCtx &ctx);
ApiResponse services_list(RequestCtx &ctx);
ApiResponse services_create(RequestCtx &ctx);
ApiResponse services_get(RequestCtx &ctx);
ApiResponse services_patch(RequestCtx &ctx);
ApiResponse services_delete(RequestCtx &ctx);
ApiResponse services_auto_deploy_resume(RequestCtx &ctx);
ApiResponse services_health_webhook(RequestCtx &ctx);
ApiResponse services_recheck_health(RequestCtx &ctx);
ApiResponse system_route_recheck(RequestCtx &ctx);
ApiResponse system_audit_list(RequestCtx &ctx);
ApiResponse system_edges_list(RequestCtx &ctx);
ApiResponse domains_list(RequestCtx &ctx);
ApiResponse domains_create(RequestCtx &ctx);
ApiResponse domains_delete(RequestCtx &ctx);
ApiResponse domains_verify(RequestCtx &ctx);
ApiResponse env_vars_list(RequestCtx &ctx);
ApiResponse env_vars_create(RequestCtx &ctx);
ApiResponse env_vars_get(RequestCtx &ctx);
ApiResponse env_vars_patch(RequestCtx &ctx);
ApiResponse env_vars_delete(RequestCtx &ctx);
ApiResponse deployments_list(RequestCtx &ctx);
ApiResponse deployments_trigger(RequestCtx &ctx);
ApiResponse deployments_upload(RequestCtx &ctx);
ApiResponse deployments_get(RequestCtx &ctx);
ApiResponse deployments_build_logs(RequestCtx &ctx);
ApiResponse deployments_cancel(RequestCtx &ctx);
ApiResponse deployments_approve(RequestCtx &ctx);
ApiResponse deployments_rollback(RequestCtx &ctx);
ApiResponse services_instant_rollback(RequestCtx &ctx);
ApiResponse services_rotate_webhook_secret(RequestCtx &ctx);
ApiResponse webhooks_receive(RequestCtx &ctx);

// Enqueues a deployment job; a Redis failure is logged, not thrown: the row stays QUEUED and
// the worker's recovery sweep enqueues it again (the row is the truth, #3).
void enqueue_after_commit(const ApiContext &api, const std::string &deployment_id);

} // namespace berth::control
