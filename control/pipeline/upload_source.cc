// UPLOAD sources (#16): unpacking a stored archive into a build directory, and the sweep that
// removes archives nobody will read again.
#include "control/pipeline/upload_source.h"

#include <chrono>
#include <stdexcept>
#include <system_error>

#include "control/base/crypto.h"
#include "control/base/json_util.h"
#include "control/store/db.h"
#include "control/store/deployments_store.h"
#include "control/upload/upload_store.h"
#include "shared/archive/tarball.h"

namespace berth::control
{

using shared::check_tarball;
using shared::extract_tarball;
using shared::TarballCheck;

namespace fs = std::filesystem;

namespace
{

// Long enough for any write and commit to finish; an archive this old without a row has none.
constexpr std::chrono::seconds kOrphanAge{3600};

} // namespace

bool is_upload(Db &db, const std::string &deployment_id)
{
    return db.read([&](pqxx::transaction_base &w) {
        return !w.exec_params("SELECT 1 FROM deployments d JOIN services s ON s.id = d.service_id"
                              " WHERE d.id = $1 AND s.deploy_type = 'UPLOAD'",
                              deployment_id)
                    .empty();
    });
}

std::string unpack_upload(const ControlConfig &config, const std::string &deployment_id,
                          const fs::path &dest, const std::string &expected_sha256)
{
    std::string data = read_upload(config.uploads_dir, deployment_id);
    std::string sha = sha256_hex(data);
    if (sha != expected_sha256)
        throw std::runtime_error("the stored upload changed since it was accepted (sha256 " +
                                 sha.substr(0, 12) + ", expected " + expected_sha256.substr(0, 12) +
                                 ")");
    fs::remove_all(dest);
    fs::create_directories(dest);
    TarballCheck check = check_tarball(data);
    extract_tarball(data, dest); // checks the entries again: the rules are the unpacker's
    return "unpacked upload " + sha.substr(0, 12) + " (" + std::to_string(check.entries) +
           " entries, " + std::to_string(check.unpacked_bytes) + " bytes)";
}

void collect_uploads(const ControlConfig &config, Db &db)
{
    std::vector<StoredUpload> stored = list_uploads(config.uploads_dir);
    std::vector<std::string> ids;
    for (const StoredUpload &s : stored) {
        if (s.deployment_id.empty()) {
            std::error_code ec;
            if (s.age > kOrphanAge) fs::remove(s.path, ec);
        } else {
            ids.push_back(s.deployment_id);
        }
    }
    if (ids.empty()) return;
    // Per archive: does its row exist, and is it still in flight?
    auto rows = db.transact([&](pqxx::work &w) {
        std::vector<std::pair<bool, bool>> out;
        for (const auto &r : w.exec_params(
                 "SELECT d.id IS NOT NULL, COALESCE(d.status IN " + in_flight_statuses_sql() +
                     ", false) FROM unnest($1::text[]) WITH ORDINALITY n(id, i)"
                     " LEFT JOIN deployments d ON d.id::text = n.id ORDER BY n.i",
                 pg_text_array(ids)))
            out.emplace_back(r[0].as<bool>(), r[1].as<bool>());
        return out;
    });
    size_t i = 0;
    for (const StoredUpload &s : stored) {
        if (s.deployment_id.empty()) continue;
        auto [exists, in_flight] = rows.at(i++);
        if (!in_flight && (exists || s.age > kOrphanAge))
            remove_upload(config.uploads_dir, s.deployment_id);
    }
}

} // namespace berth::control
