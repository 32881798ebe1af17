// services/{id}/domains/: custom hostnames for a service. A domain enters route tables only
// once an administrator has verified it (there is no DNS challenge yet), so a user cannot
// point another party's hostname at their deployment (#3).
#include "control/api/api_router.h"
#include "control/api/request_body.h"
#include "control/edges/edge_sync.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"

namespace berth::control
{

namespace
{

constexpr const char *kDomainJson =
    "SELECT json_build_object('hostname', hostname, 'verified', verified,"
    " 'created_at', created_at)::text FROM domains WHERE ";

void require_domain(pqxx::transaction_base &w, const std::string &service_id,
                    const std::string &host)
{
    if (!is_hostname(host)) throw_not_found("domain");
    auto r = w.exec_params("SELECT 1 FROM domains WHERE service_id = $1 AND hostname = $2",
                           service_id, host);
    if (r.empty()) throw_not_found("domain");
}

} // namespace

ApiResponse domains_list(RequestCtx &ctx)
{
    Page page = page_from(ctx);
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        int64_t count =
            w.exec_params1("SELECT count(*) FROM domains WHERE service_id = $1", ctx.params[0])[0]
                .as<int64_t>();
        Json rows = json_rows(
            w, std::string(kDomainJson) + "service_id = $1 ORDER BY hostname LIMIT $2 OFFSET $3",
            ctx.params[0], page.size, page.offset());
        return json_response(200, page_body(page, count, std::move(rows)));
    });
}

ApiResponse domains_create(RequestCtx &ctx)
{
    std::string host = parse_domain(ctx.body());
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        claim_host(w, ctx.api, host, false);
        auto r = w.exec_params("INSERT INTO domains(service_id, hostname) VALUES ($1, $2)"
                               " ON CONFLICT (hostname) DO NOTHING RETURNING id",
                               ctx.params[0], host);
        if (r.empty())
            throw ApiError(409, "domain_taken", host + " is already attached to a service");
        audit_append(
            w, {ctx.actor(), "DOMAIN_ADD", "service", ctx.params[0], Json{{"hostname", host}}});
        return json_response(201, *json_row(w, std::string(kDomainJson) + "hostname = $1", host));
    });
}

ApiResponse domains_delete(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        require_domain(w, ctx.params[0], ctx.params[1]);
        w.exec_params("DELETE FROM domains WHERE hostname = $1", ctx.params[1]);
        audit_append(w, {ctx.actor(), "DOMAIN_REMOVE", "service", ctx.params[0],
                         Json{{"hostname", ctx.params[1]}}});
        refresh_expected(w, ctx.api.config);
        return empty_response(204);
    });
}

ApiResponse domains_verify(RequestCtx &ctx)
{
    if (!ctx.user->is_admin)
        throw ApiError(403, "admin_required", "domains are verified by an administrator");
    return ctx.api.db.transact([&](pqxx::work &w) {
        if (!is_uuid(ctx.params[0])) throw_not_found("service");
        require_domain(w, ctx.params[0], ctx.params[1]);
        w.exec_params("UPDATE domains SET verified = true WHERE hostname = $1", ctx.params[1]);
        audit_append(w, {ctx.actor(), "DOMAIN_VERIFY", "service", ctx.params[0],
                         Json{{"hostname", ctx.params[1]}}});
        refresh_expected(w, ctx.api.config);
        return json_response(
            200, *json_row(w, std::string(kDomainJson) + "hostname = $1", ctx.params[1]));
    });
}

} // namespace berth::control
