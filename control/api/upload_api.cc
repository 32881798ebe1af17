// POST deployments/upload/?service_id=<id> (#16): a tar.gz body is checked entry by entry,
// stored durably under [deploy] uploads_dir, and deployed like a trigger from then on. The
// body's size limit ([api] max_upload_bytes) is applied by the HTTP server before it is read.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <system_error>

#include "control/api/deployment_start.h"
#include "control/api/request_body.h"
#include "control/base/crypto.h"
#include "control/store/db.h"
#include "control/upload/upload_store.h"
#include "shared/archive/tarball.h"

namespace berth::control
{

using shared::check_tarball;
using shared::RefusedEntry;
using shared::TarballCheck;

namespace
{

void require_query_uuid(const std::string &service_id)
{
    if (service_id.empty())
        throw ApiError(400, "invalid_query",
                       "service_id is required: POST deployments/upload/?service_id=<id>");
    if (!is_uuid(service_id)) throw ApiError(400, "invalid_query", "service_id must be a UUID");
}

// A JSON or form body here is a client that forgot to send the archive as it is.
void require_archive_type(std::string_view content_type)
{
    std::string type(content_type.substr(0, content_type.find(';')));
    type.erase(std::remove_if(type.begin(), type.end(), [](unsigned char c) { return c == ' '; }),
               type.end());
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    for (const char *ok : {"", "application/gzip", "application/x-gzip", "application/x-tar",
                           "application/octet-stream"})
        if (type == ok) return;
    throw ApiError(415, "unsupported_media_type",
                   "the body must be the tar.gz archive itself (Content-Type: application/gzip "
                   "or application/octet-stream), not " +
                       type);
}

void require_upload_service(const Json &service)
{
    if (service["deploy_type"] != "UPLOAD")
        throw ApiError(400, "not_deployable",
                       "only services with deploy_type UPLOAD take uploads; this one is " +
                           service["deploy_type"].get<std::string>() +
                           " (deploy it with POST deployments/trigger/)");
}

[[noreturn]] void refuse_archive(const TarballCheck &check)
{
    Json refused = Json::array();
    for (const RefusedEntry &r : check.refused)
        refused.push_back({{"path", r.path}, {"reason", r.reason}});
    std::string message =
        !check.error.empty()
            ? check.error
            : std::to_string(check.refused.size()) + " archive entr" +
                  (check.refused.size() == 1 ? "y" : "ies") +
                  " cannot be unpacked into a build directory; nothing was deployed";
    throw ApiError(400, "invalid_tarball", message, Json{{"refused", std::move(refused)}});
}

} // namespace

ApiResponse deployments_upload(RequestCtx &ctx)
{
    std::string service_id = ctx.query_param("service_id");
    require_query_uuid(service_id);
    require_archive_type(ctx.req.header("Content-Type"));
    // The service first: no archive is read for a service the caller cannot upload to.
    ctx.api.db.read([&](pqxx::transaction_base &w) {
        require_upload_service(require_service(w, ctx, service_id));
        return 0;
    });
    const std::string &body = ctx.req.body;
    if (body.empty())
        throw ApiError(400, "invalid_tarball", "the body is empty: send the tar.gz archive",
                       Json{{"refused", Json::array()}});
    TarballCheck check = check_tarball(body);
    if (!check.ok()) refuse_archive(check);

    NewDeployment d;
    d.id = random_uuid(); // the archive is named, and on disk, before the row exists
    d.service_id = service_id;
    d.commit_hash = sha256_hex(body); // what was deployed, as a commit names a Git deploy
    d.trigger_source = "upload";
    d.triggered_by = ctx.user->id;
    d.actor = ctx.actor();
    const std::string &dir = ctx.api.config.uploads_dir;
    bool stored = false;
    auto store = [&] {
        try {
            store_upload(dir, d.id, body);
            stored = true;
        } catch (const std::system_error &e) {
            std::fprintf(stderr, "berth-control: upload: %s\n", e.what());
            throw ApiError(507, "upload_not_stored",
                           std::string("the archive could not be stored (") + e.code().message() +
                               "); nothing was deployed");
        }
    };
    try {
        return start_deployment(ctx, d, require_upload_service, store);
    } catch (const DbUnavailable &) {
        throw; // the commit may have happened: an archive without its row is the sweep's
    } catch (...) {
        if (stored) remove_upload(dir, d.id);
        throw;
    }
}

} // namespace berth::control
