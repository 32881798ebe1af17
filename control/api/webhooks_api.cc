// POST webhooks/{github,gitlab,bitbucket}/: signature first, then exactly-once on the
// provider's delivery id (a partial unique index), then one deployment per matching service.
#include "control/api/api_router.h"
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
    std::string secret = webhook_secret(api.config, std::string(provider_name(p)));

    switch (verify_webhook_signature(p, secret, ctx.req.header(names.signature), ctx.req.body)) {
    case SignatureCheck::kValid:
        break;
    case SignatureCheck::kNotConfigured:
        throw ApiError(503, "webhook_not_configured",
                       "no webhook secret is configured for " + std::string(provider_name(p)) +
                           " (see [webhooks] in conf/control.toml)");
    case SignatureCheck::kMissing:
        record_unindexed(api, p, delivery, event, "rejected", "missing signature");
        throw ApiError(401, "missing_signature", std::string(names.signature) + " is required");
    case SignatureCheck::kInvalid:
        record_unindexed(api, p, delivery, event, "rejected", "invalid signature");
        throw ApiError(401, "invalid_signature", std::string(names.signature) + " does not verify");
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

        Json skipped = Json::array();
        for (const PushEvent &push : ev.pushes) {
            auto candidates = w.exec_params("SELECT id, repo_url FROM services WHERE branch = $1 "
                                            "AND auto_deploy AND deploy_type = 'GIT'"
                                            " AND repo_url <> ''",
                                            push.branch);
            for (const auto &svc : candidates) {
                std::string norm = normalize_repo_url(svc[1].as<std::string>());
                if (std::find(push.repo_urls.begin(), push.repo_urls.end(), norm) ==
                    push.repo_urls.end())
                    continue;
                NewDeployment d;
                d.service_id = svc[0].as<std::string>();
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
                    w.exec("ROLLBACK TO SAVEPOINT webhook_deploy");
                    skipped.push_back(
                        {{"service_id", d.service_id}, {"reason", "deployment in progress"}});
                }
            }
        }
        std::string status = !created.empty()  ? "processed"
                             : skipped.empty() ? "no_match"
                                               : "skipped";
        std::string ids = "{";
        for (size_t i = 0; i < created.size(); ++i)
            ids += (i ? "," : "") + created[i];
        ids += "}";
        w.exec_params("UPDATE webhook_deliveries SET status = $2, deployment_ids = $3::uuid[],"
                      " reason = $4 WHERE id = $1",
                      row_id, status, ids,
                      status == "no_match"
                          ? std::string("no service matches this repository and branch")
                          : std::string());
        return Json{{"status", status},
                    {"delivery_id", delivery},
                    {"deployments", created},
                    {"skipped", skipped}};
    });
    for (const auto &id : created)
        enqueue_after_commit(api, id);
    int code = result["status"] == "processed" ? 202 : 200;
    return json_response(code, result);
}

} // namespace berth::control
