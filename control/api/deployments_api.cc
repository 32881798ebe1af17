// Deployment endpoints: trigger (throttled, 409 while one is in flight; the start shared with
// upload_api.cc), cancel, approve, rollback, instant-rollback, get, list and build logs (#3).
#include <algorithm>

#include "control/api/api_router.h"
#include "control/api/build_log_follow.h"
#include "control/api/deployment_start.h"
#include "control/api/request_body.h"
#include "control/queue/redis_conn.h"
#include "control/queue/throttle.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "control/store/deployments_store.h"

namespace berth::control
{

namespace
{

[[noreturn]] void conflict_in_flight(const ApiContext &api, const std::string &service_id)
{
    // The inserting transaction is aborted; read the winner in a fresh one.
    auto existing = api.db.transact([&](pqxx::work &w) { return find_in_flight(w, service_id); });
    std::string status = existing ? (*existing)["status"].get<std::string>() : "unknown";
    throw ApiError(409, "deployment_in_progress",
                   "Deployment already in progress (status: " + status + ")",
                   Json{{"existing_deployment", existing ? *existing : Json(nullptr)}});
}

void throttle(const RequestCtx &ctx)
{
    ThrottleLimits limits{ctx.api.config.trigger_per_minute, ctx.api.config.trigger_per_hour};
    ThrottleDecision d = ctx.api.redis.with([&](RedisConn &r) {
        return throttle_trigger(r, ctx.api.config.redis_prefix, ctx.user->id, limits,
                                ctx.api.now_ms());
    });
    if (!d.allowed)
        throw ApiError(429, "throttled",
                       "too many deployment triggers; limits are " +
                           std::to_string(limits.per_minute) + "/minute and " +
                           std::to_string(limits.per_hour) + "/hour per user",
                       Json{{"retry_after", d.retry_after_s()}});
}

// A rollback pauses the service's pushes (#16): the next push would otherwise bring the
// version just rolled away from straight back. Pushes held for it are dropped with it.
void pause_auto_deploy(pqxx::transaction_base &w, const RequestCtx &ctx,
                       const std::string &service_id, const std::string &target_id)
{
    auto r =
        w.exec_params1("UPDATE services SET auto_deploy_paused = true, auto_deploy_paused_reason ="
                       " 'paused after rollback to ' || $2 || ' at ' ||"
                       " to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                       " WHERE id = $1 RETURNING auto_deploy_paused_reason",
                       service_id, target_id);
    w.exec_params("DELETE FROM pending_pushes WHERE service_id = $1", service_id);
    audit_append(w, {ctx.actor(), "SERVICE_AUTO_DEPLOY_PAUSE", "service", service_id,
                     Json{{"reason", r[0].as<std::string>()}}});
}

// Creates a rollback row (ROLLING_BACK) that republishes `target`'s directory: a route swap,
// never a rebuild.
ApiResponse start_rollback(RequestCtx &ctx, const Json &target, const char *action, const Json &why)
{
    std::string service_id = target["service_id"];
    NewDeployment d;
    d.service_id = service_id;
    d.branch = target["branch"];
    d.commit_hash = target["commit_hash"];
    d.trigger_source = "rollback";
    d.triggered_by = ctx.user->id;
    d.actor = ctx.actor();
    d.audit_action = action;
    d.is_rollback = true;
    d.rollback_of = target["id"];
    d.artifact_path = target["artifact_path"];
    d.status = DeployStatus::kRollingBack;
    Json row;
    try {
        row = ctx.api.db.transact([&](pqxx::work &w) {
            Json r = insert_deployment(w, d);
            pause_auto_deploy(w, ctx, service_id, target["id"]);
            if (!why.empty())
                audit_append(w, {ctx.actor(), "DEPLOYMENT_ROLLBACK_NOTE", "deployment",
                                 r["id"].get<std::string>(), why});
            return r;
        });
    } catch (const pqxx::unique_violation &) {
        conflict_in_flight(ctx.api, service_id);
    }
    enqueue_after_commit(ctx.api, row["id"]);
    return json_response(201, row);
}

void check_rollback_target(const Json &target)
{
    const std::string status = target["status"];
    if (status == "ACTIVE")
        throw ApiError(409, "already_active", "this deployment is already ACTIVE");
    if (target["artifact_path"].is_null() && (status == "INACTIVE" || status == "ROLLED_BACK"))
        throw ApiError(409, "not_rollbackable",
                       "this deployment's files were pruned ([deploy] keep_deployments keeps "
                       "the newest ones); deploy its commit again instead");
    if (target["artifact_path"].is_null() || (status != "INACTIVE" && status != "ROLLED_BACK"))
        throw ApiError(409, "not_rollbackable",
                       "only a deployment that was ACTIVE (now INACTIVE or ROLLED_BACK) can be "
                       "rolled back to; this one is " +
                           status);
}

} // namespace

ApiResponse start_deployment(RequestCtx &ctx, const NewDeployment &d,
                             const std::function<void(const Json &service)> &check_service,
                             const std::function<void()> &prepare)
{
    throttle(ctx); // Redis first: if it is down, nothing is created (503)
    if (prepare) prepare();
    Json row;
    try {
        row = ctx.api.db.transact([&](pqxx::work &w) {
            check_service(require_service(w, ctx, d.service_id));
            return insert_deployment(w, d);
        });
    } catch (const pqxx::unique_violation &) {
        conflict_in_flight(ctx.api, d.service_id);
    }
    enqueue_after_commit(ctx.api, row["id"]);
    return json_response(201, row);
}

ApiResponse deployments_trigger(RequestCtx &ctx)
{
    TriggerRequest t = parse_trigger(ctx.body());
    NewDeployment d;
    d.service_id = t.service_id;
    d.branch = t.branch;
    d.commit_hash = t.commit_hash;
    d.triggered_by = ctx.user->id;
    d.actor = ctx.actor();
    return start_deployment(ctx, d, [](const Json &svc) {
        if (svc["deploy_type"] == "UPLOAD")
            throw ApiError(400, "not_deployable",
                           "UPLOAD services are deployed with POST deployments/upload/"
                           "?service_id=<id> and a tar.gz body");
        if (svc["deploy_type"] != "GIT" || svc["repo_url"].get<std::string>().empty())
            throw ApiError(400, "not_deployable",
                           "only GIT services with a repo_url can be triggered here");
    });
}

ApiResponse deployments_get(RequestCtx &ctx)
{
    return ctx.api.db.read([&](pqxx::transaction_base &w) {
        return json_response(200, require_deployment(w, ctx, ctx.params[0]));
    });
}

ApiResponse deployments_list(RequestCtx &ctx)
{
    Page page = page_from(ctx);
    std::string service = ctx.query_param("service_id");
    if (!service.empty() && !is_uuid(service))
        throw ApiError(400, "invalid_query", "service_id must be a UUID");
    return ctx.api.db.transact([&](pqxx::work &w) {
        const char *where = " FROM deployments d JOIN services s ON s.id = d.service_id"
                            " JOIN projects p ON p.id = s.project_id"
                            " WHERE p.owner_id = $1 AND ($2 = '' OR d.service_id::text = $2)";
        int64_t count =
            w.exec_params1(std::string("SELECT count(*)") + where, ctx.user->id, service)[0]
                .as<int64_t>();
        Json rows = json_rows(w,
                              std::string("SELECT (to_jsonb(d) - 'approved')::text") + where +
                                  " ORDER BY d.created_at DESC, d.id LIMIT $3 OFFSET $4",
                              ctx.user->id, service, page.size, page.offset());
        return json_response(200, page_body(page, count, std::move(rows)));
    });
}

namespace
{

// Lines of a build log after `after_id`, oldest first: at most `limit` from the start, or with
// `tail` the last `limit` of them.
Json build_log_lines(pqxx::transaction_base &w, const std::string &id, int64_t after_id,
                     int64_t limit, bool tail)
{
    return json_rows(w,
                     std::string("SELECT line FROM (SELECT id, json_build_object('id', id,"
                                 " 'stream', stream, 'line', line, 'at', created_at)::text AS line"
                                 " FROM build_logs WHERE deployment_id = $1 AND id > $2"
                                 " ORDER BY id ") +
                         (tail ? "DESC" : "") + " LIMIT $3) l ORDER BY id",
                     id, after_id, limit);
}

} // namespace

ApiResponse deployments_build_logs(RequestCtx &ctx)
{
    auto line_id = [&](const char *name, const char *what) {
        std::string s = ctx.query_param(name);
        if (!s.empty() && (s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos))
            throw ApiError(400, "invalid_query", std::string(name) + " must be " + what);
        return s.empty() ? int64_t(-1) : int64_t(std::stoll(s));
    };
    int64_t after_id = std::max(line_id("after", "a log line id"), int64_t(0));
    int64_t tail = line_id("tail", "a positive number of lines");
    if (tail == 0) throw ApiError(400, "invalid_query", "tail must be a positive number of lines");
    std::string follow = ctx.query_param("follow");
    if (!follow.empty() && follow != "0" && follow != "1")
        throw ApiError(400, "invalid_query", "follow must be 0 or 1");
    // One answer holds at most this many lines; `tail` asks for the last N of them.
    const int64_t limit = ctx.api.config.page_size_max * 10;
    if (tail > limit) tail = limit;
    if (follow == "1") {
        // Ownership now, on the request thread; the lines from the stream's own thread.
        ctx.api.db.read([&](pqxx::transaction_base &w) {
            require_deployment(w, ctx, ctx.params[0]);
            // tail -f: start after the line before the last `tail` ones.
            if (tail > 0) {
                auto r = w.exec_params("SELECT id FROM build_logs WHERE deployment_id = $1 AND"
                                       " id > $2 ORDER BY id DESC LIMIT 1 OFFSET $3",
                                       ctx.params[0], after_id, tail);
                if (!r.empty()) after_id = r[0][0].as<int64_t>();
            }
            return 0;
        });
        ApiResponse r;
        r.content_type = "application/x-ndjson";
        r.stream = follow_build_logs(ctx.api, ctx.params[0], after_id);
        return r;
    }
    return ctx.api.db.transact([&](pqxx::work &w) {
        Json dep = require_deployment(w, ctx, ctx.params[0]);
        // One line past the limit tells whether more follow.
        Json lines =
            build_log_lines(w, ctx.params[0], after_id, tail > 0 ? tail : limit + 1, tail > 0);
        bool more = tail <= 0 && int64_t(lines.size()) > limit;
        if (more) lines.erase(lines.end() - 1);
        int64_t count = w.exec_params1("SELECT count(*) FROM build_logs WHERE deployment_id = $1",
                                       ctx.params[0])[0]
                            .as<int64_t>();
        // The cursor to read on from: the last line given (or `after` when none was).
        int64_t last = lines.empty() ? after_id : lines.back()["id"].get<int64_t>();
        Json next = nullptr;
        if (more)
            next = url_with_query(request_url(ctx.req), ctx.req.query,
                                  {{"after", std::to_string(last)}, {"tail", std::nullopt}});
        return json_response(200, Json{{"deployment_id", ctx.params[0]},
                                       {"status", dep["status"]},
                                       {"lines", std::move(lines)},
                                       {"count", count},
                                       {"has_more", more},
                                       {"last_id", last},
                                       {"next", std::move(next)}});
    });
}

ApiResponse deployments_cancel(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        Json dep = require_deployment(w, ctx, ctx.params[0]);
        // The worker may move the row between our read and our update; retry on the new status.
        auto status = parse_status(dep["status"].get<std::string>());
        for (int i = 0; i < 16; ++i, status = current_status(w, ctx.params[0])) {
            if (!is_cancellable(*status))
                throw ApiError(409, "cannot_cancel",
                               "Cannot cancel deployment in " + std::string(status_name(*status)) +
                                   " status; cancel is allowed in QUEUED, REVIEW, BUILDING and "
                                   "AWAITING_APPROVAL");
            if (transition(w, ctx.params[0], *status, DeployStatus::kCancelled, ctx.actor()))
                return json_response(200, *load_deployment(w, ctx.params[0]));
        }
        throw ApiError(409, "cannot_cancel", "the deployment kept changing status; retry");
    });
}

ApiResponse deployments_approve(RequestCtx &ctx)
{
    Json row = ctx.api.db.transact([&](pqxx::work &w) {
        Json dep = require_deployment(w, ctx, ctx.params[0]);
        if (dep["status"] != "AWAITING_APPROVAL")
            throw ApiError(409, "not_awaiting_approval",
                           "only a deployment in AWAITING_APPROVAL can be approved; this one is " +
                               dep["status"].get<std::string>());
        if (!transition(w, ctx.params[0], DeployStatus::kAwaitingApproval, DeployStatus::kBuilding,
                        ctx.actor()))
            throw ApiError(409, "not_awaiting_approval", "the deployment changed status; retry");
        w.exec_params("UPDATE deployments SET approved = true WHERE id = $1", ctx.params[0]);
        audit_append(
            w, {ctx.actor(), "DEPLOYMENT_APPROVE", "deployment", ctx.params[0], Json::object()});
        return *load_deployment(w, ctx.params[0]);
    });
    enqueue_after_commit(ctx.api, ctx.params[0]);
    return json_response(200, row);
}

ApiResponse deployments_rollback(RequestCtx &ctx)
{
    Json body = ctx.body();
    if (!rollback_confirmed(body))
        throw ApiError(400, "confirmation_required", "rollback needs {\"confirm\": \"true\"}");
    Json target = ctx.api.db.transact(
        [&](pqxx::work &w) { return require_deployment(w, ctx, ctx.params[0]); });
    check_rollback_target(target);
    return start_rollback(ctx, target, "DEPLOYMENT_ROLLBACK", Json::object());
}

ApiResponse services_instant_rollback(RequestCtx &ctx)
{
    Json body = ctx.body();
    Json why = Json::object();
    if (auto it = body.find("message"); it != body.end()) {
        if (!it->is_string() || it->get_ref<const std::string &>().size() > 1000)
            throw ApiError(400, "invalid_field",
                           "message: must be a string of at most 1000 characters",
                           Json{{"field", "message"}});
        why["message"] = *it;
    }
    auto target = ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        // The deployment that was ACTIVE before the one serving now, walking the service's
        // own deploys back (#15): rollbacks reuse an original's directory, so the current
        // position is the original deploy whose artifact is live, and the target is the
        // newest earlier original that was ACTIVE and still has its directory. Repeated, this
        // walks further back; with nothing older there is nothing to roll back to.
        auto id = w.exec_params(
            "SELECT d.id FROM deployments d WHERE d.service_id = $1 AND NOT d.is_rollback"
            " AND d.status IN ('INACTIVE', 'ROLLED_BACK') AND d.artifact_path IS NOT NULL"
            " AND d.created_at < COALESCE((SELECT o.created_at FROM deployments a"
            "   JOIN deployments o ON o.service_id = a.service_id AND NOT o.is_rollback"
            "   AND o.artifact_path = a.artifact_path"
            "   WHERE a.service_id = $1 AND a.status = 'ACTIVE' LIMIT 1), 'infinity')"
            " ORDER BY d.created_at DESC LIMIT 1",
            ctx.params[0]);
        return id.empty() ? std::optional<Json>() : load_deployment(w, id[0][0].as<std::string>());
    });
    if (!target)
        throw ApiError(409, "no_previous_deployment",
                       "this service has no previously ACTIVE deployment to roll back to");
    return start_rollback(ctx, *target, "DEPLOYMENT_ROLLBACK_INSTANT", why);
}

} // namespace berth::control
