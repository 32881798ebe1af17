// projects/ and projects/{id}/: a user sees and changes only their own projects (#3).
#include "control/api/api_router.h"
#include "control/api/request_body.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"

namespace berth::control
{

namespace
{
constexpr const char *kProjectCols = "SELECT row_to_json(p)::text FROM (SELECT id, owner_id, name,"
                                     " created_at, updated_at FROM projects WHERE ";
}

ApiResponse projects_list(RequestCtx &ctx)
{
    Page page = page_from(ctx);
    return ctx.api.db.transact([&](pqxx::work &w) {
        int64_t count =
            w.exec_params1("SELECT count(*) FROM projects WHERE owner_id = $1", ctx.user->id)[0]
                .as<int64_t>();
        Json rows = json_rows(w,
                              std::string(kProjectCols) +
                                  "owner_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3) p",
                              ctx.user->id, page.size, page.offset());
        return json_response(200, page_body(page, count, std::move(rows)));
    });
}

ApiResponse projects_create(RequestCtx &ctx)
{
    Json fields = validate_project(ctx.body(), true);
    return ctx.api.db.transact([&](pqxx::work &w) {
        auto r = w.exec_params("INSERT INTO projects(owner_id, name) VALUES ($1, $2)"
                               " ON CONFLICT (owner_id, name) DO NOTHING RETURNING id",
                               ctx.user->id, fields["name"].get<std::string>());
        if (r.empty())
            throw ApiError(409, "project_exists", "you already have a project with this name");
        std::string id = r[0][0].as<std::string>();
        audit_append(w, {ctx.actor(), "PROJECT_CREATE", "project", id, fields});
        return json_response(201, *json_row(w, std::string(kProjectCols) + "id = $1) p", id));
    });
}

ApiResponse projects_get(RequestCtx &ctx)
{
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_project(w, ctx, ctx.params[0]);
        return json_response(200,
                             *json_row(w, std::string(kProjectCols) + "id = $1) p", ctx.params[0]));
    });
}

ApiResponse projects_patch(RequestCtx &ctx)
{
    Json fields = validate_project(ctx.body(), false);
    return ctx.api.db.transact([&](pqxx::work &w) {
        require_project(w, ctx, ctx.params[0]);
        if (fields.contains("name")) {
            try {
                pqxx::subtransaction sub(w, "rename");
                sub.exec_params("UPDATE projects SET name = $2, updated_at = now() WHERE id = $1",
                                ctx.params[0], fields["name"].get<std::string>());
                sub.commit();
            } catch (const pqxx::unique_violation &) {
                throw ApiError(409, "project_exists", "you already have a project with this name");
            }
            audit_append(w, {ctx.actor(), "PROJECT_UPDATE", "project", ctx.params[0], fields});
        }
        return json_response(200,
                             *json_row(w, std::string(kProjectCols) + "id = $1) p", ctx.params[0]));
    });
}

ApiResponse projects_delete(RequestCtx &ctx)
{
    return delete_and_unpublish(ctx, "project", ctx.params[0]);
}

} // namespace berth::control
