// services/{id}/env-vars/: values are sealed with AES-256-GCM (AAD = service id + key);
// secret values are never returned in clear, only "value": null and a mask (#3).
#include "control/api/api_router.h"
#include "control/api/request_body.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"

namespace berth::control
{

namespace
{

std::string aad(const std::string &service_id, const std::string &key)
{
    return service_id + "/" + key;
}

Json present(const ApiContext &api, const pqxx::row &r)
{
    std::string service_id = r["service_id"].as<std::string>();
    std::string key = r["key"].as<std::string>();
    bool secret = r["is_secret"].as<bool>();
    Json out = {{"key", key},
                {"is_secret", secret},
                {"is_locked", r["is_locked"].as<bool>()},
                {"source", r["source"].as<std::string>()},
                {"created_at", r["created_at"].as<std::string>()},
                {"updated_at", r["updated_at"].as<std::string>()}};
    if (secret) {
        out["value"] = nullptr;
        out["value_masked"] = "********";
    } else {
        auto plain = api.secrets.open(r["value_sealed"].as<std::string>(), aad(service_id, key));
        if (!plain) throw std::runtime_error("env var " + key + " does not decrypt (wrong key?)");
        out["value"] = *plain;
    }
    return out;
}

// Timestamps as JSON writes them (ISO 8601, "T", "+00:00"), like every other row of the API.
constexpr const char *kSelect =
    "SELECT service_id, key, value_sealed, is_secret, is_locked, source,"
    " to_json(created_at) #>> '{}' AS created_at, to_json(updated_at) #>> '{}' AS updated_at"
    " FROM env_vars WHERE service_id = $1";

pqxx::row require_env_var(pqxx::work &w, const std::string &service_id, const std::string &key)
{
    if (!is_env_key(key)) throw_not_found("env var");
    auto r = w.exec_params(std::string(kSelect) + " AND key = $2", service_id, key);
    if (r.empty()) throw_not_found("env var");
    return r[0];
}

} // namespace

ApiResponse env_vars_list(RequestCtx &ctx)
{
    Page page = page_from(ctx);
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        int64_t count =
            w.exec_params1("SELECT count(*) FROM env_vars WHERE service_id = $1", ctx.params[0])[0]
                .as<int64_t>();
        Json results = Json::array();
        for (const auto &r :
             w.exec_params(std::string(kSelect) + " ORDER BY key LIMIT $2 OFFSET $3", ctx.params[0],
                           page.size, page.offset()))
            results.push_back(present(ctx.api, r));
        return json_response(200, page_body(page, count, std::move(results)));
    });
}

ApiResponse env_vars_create(RequestCtx &ctx)
{
    EnvVarInput in = parse_env_var(ctx.body(), true);
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        std::string sealed = ctx.api.secrets.seal(in.value, aad(ctx.params[0], in.key));
        auto r = w.exec_params(
            "INSERT INTO env_vars(service_id, key, value_sealed, is_secret, is_locked,"
            " source) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (service_id, key) DO NOTHING RETURNING id",
            ctx.params[0], in.key, sealed, in.is_secret, in.is_locked, in.source);
        if (r.empty()) throw ApiError(409, "env_var_exists", "this service already has " + in.key);
        audit_append(w, {ctx.actor(), "ENV_VAR_CREATE", "service", ctx.params[0],
                         Json{{"key", in.key}, {"is_secret", in.is_secret}}});
        return json_response(201, present(ctx.api, require_env_var(w, ctx.params[0], in.key)));
    });
}

ApiResponse env_vars_get(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        return json_response(200,
                             present(ctx.api, require_env_var(w, ctx.params[0], ctx.params[1])));
    });
}

ApiResponse env_vars_patch(RequestCtx &ctx)
{
    EnvVarInput in = parse_env_var(ctx.body(), false);
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        pqxx::row cur = require_env_var(w, ctx.params[0], ctx.params[1]);
        const std::string &key = ctx.params[1];
        // A secret stays secret: turning is_secret off would reveal the value.
        if (cur["is_secret"].as<bool>() && in.has_is_secret && !in.is_secret)
            throw ApiError(400, "invalid_field",
                           "is_secret: a secret cannot be made public; "
                           "delete it and create a new variable",
                           Json{{"field", "is_secret"}});
        std::string sealed = in.has_value ? ctx.api.secrets.seal(in.value, aad(ctx.params[0], key))
                                          : cur["value_sealed"].as<std::string>();
        bool secret = in.has_is_secret ? in.is_secret : cur["is_secret"].as<bool>();
        bool locked = in.has_is_locked ? in.is_locked : cur["is_locked"].as<bool>();
        std::string source =
            ctx.body().contains("source") ? in.source : cur["source"].as<std::string>();
        w.exec_params(
            "UPDATE env_vars SET value_sealed = $3, is_secret = $4, is_locked = $5, source = $6,"
            " updated_at = now() WHERE service_id = $1 AND key = $2",
            ctx.params[0], key, sealed, secret, locked, source);
        audit_append(w, {ctx.actor(), "ENV_VAR_UPDATE", "service", ctx.params[0],
                         Json{{"key", key}, {"value_changed", in.has_value}}});
        return json_response(200, present(ctx.api, require_env_var(w, ctx.params[0], key)));
    });
}

ApiResponse env_vars_delete(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_service(w, ctx, ctx.params[0]);
        require_env_var(w, ctx.params[0], ctx.params[1]);
        w.exec_params("DELETE FROM env_vars WHERE service_id = $1 AND key = $2", ctx.params[0],
                      ctx.params[1]);
        audit_append(w, {ctx.actor(), "ENV_VAR_DELETE", "service", ctx.params[0],
                         Json{{"key", ctx.params[1]}}});
        return empty_response(204);
    });
}

} // namespace berth::control
