// services/ CRUD, the container health webhook, recheck-health and route-recheck (#3).
#include <filesystem>

#include "control/api/api_router.h"
#include "control/api/request_body.h"
#include "control/edges/edge_sync.h"
#include "control/pipeline/repo_url.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "control/store/deployments_store.h"

namespace berth::control
{

namespace
{

constexpr const char *kServiceJson = "SELECT (to_jsonb(s) - 'health_webhook_token_hash' - "
                                     "'webhook_secret_sealed')::text FROM services s WHERE ";

// "a, b, c" and "r.a, r.b, r.c" for the validated (whitelisted) column names.
std::pair<std::string, std::string> column_lists(const Json &fields)
{
    std::string cols, vals;
    for (auto it = fields.begin(); it != fields.end(); ++it) {
        cols += (cols.empty() ? "" : ", ") + it.key();
        vals += (vals.empty() ? "r." : ", r.") + it.key();
    }
    return {cols, vals};
}

// The driver's text stays in the server (#15): it names indexes and values.
[[noreturn]] void rethrow_service_conflict()
{
    throw ApiError(409, "service_name_taken",
                   "a service with this name exists (names are global: they are host labels)");
}

Json webhook_urls(const std::string &id)
{
    Json urls = Json::object();
    for (const char *p : {"github", "gitlab", "bitbucket"})
        urls[p] = std::string("/api/v1/webhooks/") + p + "/" + id + "/";
    return urls;
}

// A fresh per-service webhook secret, stored sealed; returned to be shown once.
std::string new_webhook_secret(pqxx::transaction_base &w, const ApiContext &api,
                               const std::string &id)
{
    std::string secret = "whsec_" + random_hex(24);
    w.exec_params("UPDATE services SET webhook_secret_sealed = $2 WHERE id = $1", id,
                  api.secrets.seal(secret, id + "/webhook"));
    return secret;
}

} // namespace

// A new webhook secret for the service (the old one stops verifying at once), shown once.
ApiResponse services_rotate_webhook_secret(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        std::string secret = new_webhook_secret(w, ctx.api, ctx.params[0]);
        audit_append(w, {ctx.actor(), "SERVICE_WEBHOOK_SECRET_ROTATE", "service", ctx.params[0],
                         Json::object()});
        return json_response(200, Json{{"service_id", ctx.params[0]},
                                       {"webhook_secret", secret},
                                       {"webhook_urls", webhook_urls(ctx.params[0])}});
    });
}

ApiResponse services_list(RequestCtx &ctx)
{
    Page page = page_from(ctx);
    std::string project = ctx.query_param("project_id");
    if (!project.empty() && !is_uuid(project))
        throw ApiError(400, "invalid_query", "project_id must be a UUID");
    return ctx.api.db.transact([&](pqxx::work &w) {
        const char *where = " FROM services s JOIN projects p ON p.id = s.project_id"
                            " WHERE p.owner_id = $1 AND ($2 = '' OR s.project_id::text = $2)";
        int64_t count =
            w.exec_params1(std::string("SELECT count(*)") + where, ctx.user->id, project)[0]
                .as<int64_t>();
        Json rows = json_rows(w,
                              std::string("SELECT (to_jsonb(s) - 'health_webhook_token_hash' - "
                                          "'webhook_secret_sealed')::text") +
                                  where + " ORDER BY s.created_at, s.id LIMIT $3 OFFSET $4",
                              ctx.user->id, project, page.size, page.offset());
        return json_response(200, page_body(page, count, std::move(rows)));
    });
}

// A health_check_path given by the caller is "configured": the static health check requests
// it instead of "/" (the column's default '/health' is the seed's, for app services; #16).
namespace
{
void mark_health_path(Json &fields)
{
    if (fields.contains("health_check_path")) fields["health_check_path_configured"] = true;
}

// What the audit log keeps of a service's fields: administrators read it, so neither the
// health token's hash nor credentials in repo_url.
Json audit_fields(Json fields)
{
    fields.erase("health_webhook_token_hash");
    if (fields.contains("repo_url"))
        fields["repo_url"] = redacted_repo_url(fields["repo_url"].get<std::string>());
    return fields;
}
} // namespace

ApiResponse services_create(RequestCtx &ctx)
{
    Json fields = validate_service(ctx.body(), true);
    mark_health_path(fields);
    std::string token = "hwt_" + random_hex(20);
    fields["health_webhook_token_hash"] = sha256_hex(token);
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_project(w, ctx, fields["project_id"].get<std::string>());
        claim_host(w, ctx.api, fields["name"].get<std::string>() + "." + ctx.api.config.base_domain,
                   true);
        auto [cols, vals] = column_lists(fields);
        std::string id;
        try {
            pqxx::subtransaction sub(w, "create_service");
            id = sub.exec_params1(
                        "INSERT INTO services (" + cols + ") SELECT " + vals +
                            " FROM jsonb_populate_record(NULL::services, $1::jsonb) r RETURNING id",
                        fields.dump())[0]
                     .as<std::string>();
            sub.commit();
        } catch (const pqxx::unique_violation &) {
            rethrow_service_conflict();
        }
        audit_append(w, {ctx.actor(), "SERVICE_CREATE", "service", id, audit_fields(fields)});
        std::string hook = new_webhook_secret(w, ctx.api, id);
        Json out = *json_row(w, std::string(kServiceJson) + "id = $1", id);
        // Shown once, like an API token: only its hash (or sealed form) is stored.
        out["health_webhook_token"] = token;
        out["webhook_secret"] = hook;
        out["webhook_urls"] = webhook_urls(id);
        return json_response(201, out);
    });
}

ApiResponse services_get(RequestCtx &ctx)
{
    return ctx.api.db.transact(
        [&](pqxx::work &w) { return json_response(200, require_service(w, ctx, ctx.params[0])); });
}

ApiResponse services_patch(RequestCtx &ctx)
{
    Json fields = validate_service(ctx.body(), false);
    mark_health_path(fields);
    // Turning auto-deploy on is a decision to take pushes again: it ends a rollback's pause.
    if (fields.value("auto_deploy", false)) {
        fields["auto_deploy_paused"] = false;
        fields["auto_deploy_paused_reason"] = nullptr;
    }
    return ctx.api.db.transact([&](pqxx::work &w) {
        Json current = require_service(w, ctx, ctx.params[0]);
        if (fields.contains("name") && fields["name"] != current["name"]) {
            // The deployment under way publishes and health-checks under the old name.
            auto busy = w.exec_params("SELECT id FROM deployments WHERE service_id = $1 AND"
                                      " status IN " +
                                          in_flight_statuses_sql() + " LIMIT 1",
                                      ctx.params[0]);
            if (!busy.empty())
                throw ApiError(409, "deployment_in_progress",
                               "a deployment of this service is in progress; rename it after "
                               "the deployment ends or cancel it first",
                               Json{{"deployment_id", busy[0][0].as<std::string>()}});
        }
        if (fields.contains("name"))
            claim_host(w, ctx.api,
                       fields["name"].get<std::string>() + "." + ctx.api.config.base_domain, true);
        if (!fields.empty()) {
            auto [cols, vals] = column_lists(fields);
            // Row syntax needs ROW() for a single column.
            std::string set = fields.size() == 1 ? cols + " = (SELECT " + vals
                                                 : "(" + cols + ") = (SELECT " + vals;
            try {
                pqxx::subtransaction sub(w, "patch_service");
                sub.exec_params("UPDATE services SET " + set +
                                    " FROM jsonb_populate_record(NULL::services, $2::jsonb) r),"
                                    " updated_at = now() WHERE id = $1",
                                ctx.params[0], fields.dump());
                sub.commit();
            } catch (const pqxx::unique_violation &) {
                rethrow_service_conflict();
            }
            audit_append(
                w, {ctx.actor(), "SERVICE_UPDATE", "service", ctx.params[0], audit_fields(fields)});
            // A rename moves its host: the expected table follows in the same transaction.
            if (fields.contains("name")) refresh_expected(w, ctx.api.config);
        }
        return json_response(200,
                             *json_row(w, std::string(kServiceJson) + "id = $1", ctx.params[0]));
    });
}

// Ends the pause a rollback set (#16): pushes deploy again. 200 with the service, paused or
// not before (idempotent).
ApiResponse services_auto_deploy_resume(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        Json svc = require_service(w, ctx, ctx.params[0]);
        if (svc.value("auto_deploy_paused", false)) {
            w.exec_params("UPDATE services SET auto_deploy_paused = false,"
                          " auto_deploy_paused_reason = NULL, updated_at = now() WHERE id = $1",
                          ctx.params[0]);
            audit_append(w, {ctx.actor(), "SERVICE_AUTO_DEPLOY_RESUME", "service", ctx.params[0],
                             Json{{"was", svc["auto_deploy_paused_reason"]}}});
        }
        return json_response(200,
                             *json_row(w, std::string(kServiceJson) + "id = $1", ctx.params[0]));
    });
}

ApiResponse services_delete(RequestCtx &ctx)
{
    return delete_and_unpublish(ctx, "service", ctx.params[0]);
}

// Called by the app's own container with X-Health-Webhook-Token; no user token. 401 when the
// header is missing, 403 when it does not match (the caller is identified but not allowed).
ApiResponse services_health_webhook(RequestCtx &ctx)
{
    std::string_view token = ctx.req.header("X-Health-Webhook-Token");
    if (token.empty())
        throw ApiError(401, "missing_health_token", "X-Health-Webhook-Token is required");
    if (!is_uuid(ctx.params[0])) throw_not_found("service");
    return ctx.api.db.transact([&](pqxx::work &w) {
        auto r = w.exec_params(
            "SELECT health_webhook_token_hash, health_status FROM services WHERE id = $1",
            ctx.params[0]);
        if (r.empty()) throw_not_found("service");
        if (!constant_time_equal(sha256_hex(token), r[0][0].as<std::string>()))
            throw ApiError(403, "invalid_health_token", "X-Health-Webhook-Token does not match");
        // The body is read only from an authenticated caller.
        HealthReport report = parse_health_report(ctx.body());
        std::string before = r[0][1].as<std::string>();
        w.exec_params("UPDATE services SET health_status = $2, health_details = $3::jsonb,"
                      " health_updated_at = now() WHERE id = $1",
                      ctx.params[0], report.status, report.details.dump());
        if (before != report.status)
            audit_append(w, {"health-webhook", "SERVICE_HEALTH", "service", ctx.params[0],
                             Json{{"from", before}, {"to", report.status}}});
        return json_response(200,
                             Json{{"service_id", ctx.params[0]}, {"health_status", report.status}});
    });
}

// Static services are healthy when their ACTIVE deployment directory is in place; other
// runtimes have no prober yet and report "unknown".
ApiResponse services_recheck_health(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        Json svc = require_service(w, ctx, ctx.params[0]);
        auto r = w.exec_params("SELECT id, artifact_path FROM deployments WHERE service_id = $1"
                               " AND status = 'ACTIVE'",
                               ctx.params[0]);
        std::string status = "unknown", reason = "no ACTIVE deployment";
        Json details = Json::object();
        if (!r.empty()) {
            details["deployment_id"] = r[0][0].as<std::string>();
            if (svc["buildpack"] == "STATIC" && !r[0][1].is_null()) {
                std::filesystem::path dir = std::filesystem::path(ctx.api.config.deployments_root) /
                                            r[0][1].as<std::string>();
                std::error_code ec;
                bool ok =
                    std::filesystem::is_directory(dir, ec) && !std::filesystem::is_empty(dir, ec);
                status = ok ? "healthy" : "unhealthy";
                reason =
                    ok ? "deployment directory present" : "deployment directory missing or empty";
            } else {
                reason = "no prober for buildpack " + svc["buildpack"].get<std::string>();
            }
        }
        details["reason"] = reason;
        w.exec_params("UPDATE services SET health_status = $2, health_details = $3::jsonb,"
                      " health_updated_at = now() WHERE id = $1",
                      ctx.params[0], status, details.dump());
        if (svc["health_status"] != status)
            audit_append(w, {ctx.actor(), "SERVICE_HEALTH", "service", ctx.params[0],
                             Json{{"from", svc["health_status"]}, {"to", status}}});
        return json_response(200, Json{{"service_id", ctx.params[0]},
                                       {"health_status", status},
                                       {"health_details", details}});
    });
}

// Rebuilds the expected route table and brings every edge to it at once (the reconciler would
// within [edges] sync_interval_ms). Admin only: it affects every user's routes (403 otherwise).
ApiResponse system_route_recheck(RequestCtx &ctx)
{
    if (!ctx.user->is_admin)
        throw ApiError(403, "admin_required", "route-recheck is for administrators");
    ExpectedTable table = ctx.api.db.transact([&](pqxx::work &w) {
        ExpectedTable t = refresh_expected(w, ctx.api.config);
        audit_append(w, {ctx.actor(), "ROUTE_RECHECK", "system", "routes",
                         Json{{"version", t.version}, {"routes", t.body["routes"].size()}}});
        return t;
    });
    Json edges = Json::array();
    for (const EdgeResult &r : EdgeSync(ctx.api.config, ctx.api.db).sync_all(&table)) {
        Json e = {{"socket", r.socket}, {"ok", r.in_sync}};
        if (!r.in_sync) e["error"] = r.error;
        edges.push_back(std::move(e));
    }
    return json_response(200, Json{{"version", table.version},
                                   {"routes", table.body["routes"].size()},
                                   {"edges", edges}});
}

// Each configured edge as the reconciler last saw it, and the table it should hold. Admin
// only: socket paths and every user's route versions are installation details.
ApiResponse system_edges_list(RequestCtx &ctx)
{
    if (!ctx.user->is_admin)
        throw ApiError(403, "admin_required", "the edge list is for administrators");
    Json report =
        ctx.api.db.read([&](pqxx::transaction_base &w) { return edges_report(w, ctx.api.config); });
    // Edges following Redis unlisted: served, not waited for; shown so the fleet is visible.
    ExpectedTable expected;
    if (report["expected"].is_object()) {
        expected.version = report["expected"]["version"].get<uint64_t>();
        expected.hash = report["expected"]["hash"].get<std::string>();
    }
    Json followers = Json::array();
    EdgeSync sync(ctx.api.config, ctx.api.db);
    try {
        for (const EdgeResult &r : sync.unlisted_followers(expected))
            followers.push_back({{"name", r.socket.substr(6)}, // "redis:<name>"
                                 {"version", r.version},
                                 {"hash", r.hash},
                                 {"in_sync", r.in_sync},
                                 {"missing_roots", r.missing_roots},
                                 {"error", r.error.empty() ? Json(nullptr) : Json(r.error)}});
    } catch (const RedisUnavailable &e) {
        report["followers_error"] = e.what();
    }
    report["followers"] = std::move(followers);
    // What edges on other hosts can fetch: archives kept in Redis and the deployments control
    // could not pack (too large, gone), with why.
    if (ctx.api.config.distribute_files) {
        try {
            report["files"] = sync.files_report();
        } catch (const RedisUnavailable &e) {
            report["files"] = {{"error", e.what()}};
        }
    }
    return json_response(200, report);
}

} // namespace berth::control

namespace berth::control
{

// The audit log, newest first, for administrators (it spans every user). ?target_id= filters.
ApiResponse system_audit_list(RequestCtx &ctx)
{
    if (!ctx.user->is_admin)
        throw ApiError(403, "admin_required", "the audit log is for administrators");
    Page page = page_from(ctx);
    std::string target = ctx.query_param("target_id");
    return ctx.api.db.read([&](pqxx::transaction_base &w) {
        int64_t count =
            w.exec_params1("SELECT count(*) FROM audit_log WHERE $1 = '' OR target_id = $1",
                           target)[0]
                .as<int64_t>();
        Json rows =
            json_rows(w,
                      "SELECT json_build_object('id', id, 'created_at', created_at::timestamptz, "
                      "'actor', actor,"
                      " 'action', action, 'target_type', target_type, 'target_id', target_id,"
                      " 'details', details::json, 'prev_hash', prev_hash, 'hash', hash)::text"
                      " FROM audit_log WHERE $1 = '' OR target_id = $1 ORDER BY id DESC"
                      " LIMIT $2 OFFSET $3",
                      target, page.size, page.offset());
        return json_response(200, page_body(page, count, std::move(rows)));
    });
}

} // namespace berth::control
