// POST webhooks/{github,gitlab,bitbucket}/: signature first, then exactly-once on the
// provider's delivery id (a partial unique index), then one deployment per matching service.
#include "control/api/api_router.h"

#include <algorithm>

#include "control/api/request_body.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "control/store/deployments_store.h"
#include "control/webhooks/webhook_payload.h"

namespace berth::control
{

namespace
{

// Rows outside the unique index (ignored duplicates, rejected signatures) are plain inserts.
void record_unindexed(const ApiContext &api, Provider p, const std::string &delivery_id,
                      const std::string &event, const char *status, const std::string &reason)
{
    api.db.transact([&](pqxx::work &w) {
        w.exec_params("INSERT INTO webhook_deliveries(provider, delivery_id, event, status, reason)"
                      " VALUES ($1, $2, $3, $4, $5)",
                      std::string(provider_name(p)), delivery_id, event, std::string(status),
                      reason);
        return 0;
    });
}

std::string header_string(const ApiRequest &req, std::string_view name)
{
    return std::string(req.header(name).substr(0, 200));
}

// A service on the push's repository and branch, and whether it takes pushes now.
struct PushTarget {
    std::string id;
    bool owner_admin = false;
    std::string skip_reason; // non-empty: auto_deploy off or paused after a rollback (#16)
};

// Services on `push`'s branch with a repository URL equal to one of the push's (normalised),
// auto-deploy or not (those that do not take pushes are reported as skipped).
std::vector<PushTarget> matching_services(pqxx::transaction_base &w, const PushEvent &push)
{
    std::vector<PushTarget> out;
    for (const auto &svc : w.exec_params(
             "SELECT s.id, s.repo_url, u.is_admin, s.auto_deploy, s.auto_deploy_paused,"
             " COALESCE(s.auto_deploy_paused_reason, '') FROM services s JOIN projects p ON"
             " p.id = s.project_id JOIN users u ON u.id = p.owner_id WHERE s.branch = $1 AND"
             " s.deploy_type = 'GIT' AND s.repo_url <> ''",
             push.branch)) {
        std::string norm = normalize_repo_url(svc[1].as<std::string>());
        if (std::find(push.repo_urls.begin(), push.repo_urls.end(), norm) == push.repo_urls.end())
            continue;
        PushTarget t{svc[0].as<std::string>(), svc[2].as<bool>(), {}};
        if (!svc[3].as<bool>())
            t.skip_reason = "auto_deploy is off for this service";
        else if (svc[4].as<bool>())
            t.skip_reason = "auto-deploy " + svc[5].as<std::string>() + "; POST services/" + t.id +
                            "/auto-deploy/resume/ to resume";
        out.push_back(std::move(t));
    }
    return out;
}

// GIT services on one of `repo_urls` (normalised), whatever their branch: whose own secret
// may have signed a delivery about that repository.
std::vector<std::string> services_on_repository(const ApiContext &api,
                                                const std::vector<std::string> &repo_urls)
{
    return api.db.read([&](pqxx::transaction_base &w) {
        std::vector<std::string> ids;
        for (const auto &svc : w.exec("SELECT id, repo_url FROM services WHERE"
                                      " deploy_type = 'GIT' AND repo_url <> ''")) {
            std::string norm = normalize_repo_url(svc[1].as<std::string>());
            if (std::find(repo_urls.begin(), repo_urls.end(), norm) != repo_urls.end())
                ids.push_back(svc[0].as<std::string>());
        }
        return ids;
    });
}

// The service's own webhook secret, or "" (nothing verifies) when it has none. 404 when the
// service does not exist, so a scoped URL names a real service or nothing.
std::string service_webhook_secret(const ApiContext &api, const std::string &service_id)
{
    auto sealed = api.db.read([&](pqxx::transaction_base &w) {
        auto r = w.exec_params("SELECT COALESCE(webhook_secret_sealed, '') FROM services"
                               " WHERE id = $1",
                               service_id);
        if (r.empty()) throw_not_found("service");
        return r[0][0].as<std::string>();
    });
    if (sealed.empty()) return {};
    return api.secrets.open(sealed, service_id + "/webhook").value_or("");
}

} // namespace

ApiResponse webhooks_receive(RequestCtx &ctx)
{
    auto provider = parse_provider(ctx.params[0]);
    if (!provider) throw_not_found("webhook provider");
    Provider p = *provider;
    const ApiContext &api = ctx.api;
    WebhookHeaderNames names = webhook_header_names(p);
    std::string event = header_string(ctx.req, names.event);
    std::string delivery = header_string(ctx.req, names.delivery_id);
    std::string_view signature = ctx.req.header(names.signature);

    // Who may deploy what (#15): a service's own secret deploys that service; the
    // installation-wide secret of [webhooks] deploys services of administrators only.
    bool scoped = ctx.params.size() == 2;
    bool admin_scope = false;
    std::vector<std::string> allowed; // services whose own secret verified the delivery
    auto reject = [&](SignatureCheck why) {
        bool missing = why == SignatureCheck::kMissing || signature.empty();
        record_unindexed(api, p, delivery, event, "rejected",
                         missing ? "missing signature" : "invalid signature");
        if (missing)
            throw ApiError(401, "missing_signature", std::string(names.signature) + " is required");
        throw ApiError(401, "invalid_signature", std::string(names.signature) + " does not verify");
    };
    if (scoped) {
        if (!is_uuid(ctx.params[1])) throw_not_found("service");
        std::string secret = service_webhook_secret(api, ctx.params[1]);
        SignatureCheck c = verify_webhook_signature(p, secret, signature, ctx.req.body);
        if (c != SignatureCheck::kValid) reject(c);
        allowed.push_back(ctx.params[1]);
    } else {
        std::string global = webhook_secret(api.config, std::string(provider_name(p)));
        SignatureCheck c = verify_webhook_signature(p, global, signature, ctx.req.body);
        admin_scope = c == SignatureCheck::kValid;
        if (!admin_scope) {
            // Not the installation's secret: perhaps the own secret of a service on this
            // repository (any branch: a ping, a tag or another branch's push is answered, not
            // refused, when it is signed by one of them).
            WebhookEvent probe = parse_webhook_event(p, event, ctx.req.body);
            for (const auto &sid : services_on_repository(api, probe.repo_urls)) {
                std::string secret = service_webhook_secret(api, sid);
                if (verify_webhook_signature(p, secret, signature, ctx.req.body) ==
                    SignatureCheck::kValid)
                    allowed.push_back(sid);
            }
            if (allowed.empty()) reject(c);
        }
    }
    if (delivery.empty())
        throw ApiError(400, "missing_delivery_id", std::string(names.delivery_id) + " is required");

    WebhookEvent ev = parse_webhook_event(p, event, ctx.req.body);
    if (ev.kind == WebhookEvent::Kind::kMalformed) {
        record_unindexed(api, p, delivery, event, "rejected", ev.reason);
        throw ApiError(400, "invalid_payload", ev.reason);
    }

    std::string actor = "webhook:" + std::string(provider_name(p));
    std::vector<std::string> created;
    Json result = api.db.transact([&](pqxx::work &w) {
        created.clear();
        const char *first_status = ev.kind == WebhookEvent::Kind::kPing ? "ping" : "no_match";
        // Concurrent duplicates wait here on the first one's index entry, then do nothing.
        auto ins = w.exec_params(
            "INSERT INTO webhook_deliveries(provider, delivery_id, event, status, reason)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, delivery_id)"
            " WHERE status NOT IN ('ignored', 'rejected') DO NOTHING RETURNING id",
            std::string(provider_name(p)), delivery, event, std::string(first_status), ev.reason);
        if (ins.empty()) {
            w.exec_params(
                "INSERT INTO webhook_deliveries(provider, delivery_id, event, status, reason)"
                " VALUES ($1, $2, $3, 'ignored', 'duplicate delivery')",
                std::string(provider_name(p)), delivery, event);
            return Json{
                {"status", "ignored"}, {"reason", "duplicate delivery"}, {"delivery_id", delivery}};
        }
        int64_t row_id = ins[0][0].as<int64_t>();
        if (ev.kind == WebhookEvent::Kind::kPing)
            return Json{{"status", "pong"}, {"delivery_id", delivery}};
        if (ev.kind == WebhookEvent::Kind::kIgnored)
            return Json{{"status", "no_match"}, {"reason", ev.reason}, {"delivery_id", delivery}};

        Json queued = Json::array(), skipped = Json::array();
        std::string skip_reasons;
        for (const PushEvent &push : ev.pushes) {
            for (const PushTarget &target : matching_services(w, push)) {
                const std::string &service_id = target.id;
                bool mine = admin_scope ? target.owner_admin
                                        : std::find(allowed.begin(), allowed.end(), service_id) !=
                                              allowed.end();
                if (!mine) continue;
                if (!target.skip_reason.empty()) {
                    // Recorded, not held for later: a paused service must not get this
                    // commit when it resumes (#16).
                    skipped.push_back({{"service_id", service_id}, {"reason", target.skip_reason}});
                    skip_reasons +=
                        (skip_reasons.empty() ? "" : "; ") + service_id + ": " + target.skip_reason;
                    continue;
                }
                NewDeployment d;
                d.service_id = service_id;
                d.branch = push.branch;
                d.commit_hash =
                    push.commit.size() >= 7 && push.commit.size() <= 40 ? push.commit : "";
                d.trigger_source = actor;
                d.actor = actor;
                // A savepoint, so a service with a deployment in flight does not abort the rest.
                w.exec("SAVEPOINT webhook_deploy");
                try {
                    Json row = insert_deployment(w, d);
                    w.exec("RELEASE SAVEPOINT webhook_deploy");
                    created.push_back(row["id"]);
                } catch (const pqxx::unique_violation &) {
                    // One is in flight: remember this push (the newest per service and
                    // branch) for when it ends, instead of dropping it (#15).
                    w.exec("ROLLBACK TO SAVEPOINT webhook_deploy");
                    auto busy = find_in_flight(w, d.service_id);
                    w.exec_params(
                        "INSERT INTO pending_pushes(service_id, branch, commit_hash, provider,"
                        " delivery_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service_id,"
                        " branch) DO UPDATE SET commit_hash = EXCLUDED.commit_hash,"
                        " provider = EXCLUDED.provider, delivery_id = EXCLUDED.delivery_id,"
                        " received_at = now()",
                        d.service_id, d.branch, d.commit_hash, std::string(provider_name(p)),
                        delivery);
                    queued.push_back({{"service_id", d.service_id},
                                      {"queued_after", busy ? (*busy)["id"] : Json(nullptr)}});
                }
            }
        }
        std::string status = !created.empty()   ? "processed"
                             : !queued.empty()  ? "queued_after"
                             : !skipped.empty() ? "skipped"
                                                : "no_match";
        std::string ids = "{";
        for (size_t i = 0; i < created.size(); ++i)
            ids += (i ? "," : "") + created[i];
        ids += "}";
        w.exec_params("UPDATE webhook_deliveries SET status = $2, deployment_ids = $3::uuid[],"
                      " reason = $4 WHERE id = $1",
                      row_id, status, ids,
                      status == "no_match"
                          ? std::string("no service matches this repository and branch")
                          : skip_reasons);
        Json out = {{"status", status},
                    {"delivery_id", delivery},
                    {"deployments", created},
                    {"queued_after", queued},
                    {"skipped", skipped}};
        if (status == "skipped") out["reason"] = skip_reasons;
        return out;
    });
    for (const auto &id : created)
        enqueue_after_commit(api, id);
    int code = result["status"] == "processed" || result["status"] == "queued_after" ? 202 : 200;
    return json_response(code, result);
}

} // namespace berth::control
