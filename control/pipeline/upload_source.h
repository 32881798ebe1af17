// UPLOAD deploys in the pipeline (#16): the stored archive stands in for the clone, and goes
// away once its deployment has ended.
#pragma once

#include <filesystem>
#include <string>

#include "control/config/control_config.h"

namespace berth::control
{

class Db;

// Whether deployment `deployment_id` is of an UPLOAD service (its source is the stored archive).
bool is_upload(Db &db, const std::string &deployment_id);

// Unpacks deployment `deployment_id`'s stored archive into `dest` (replaced if present), after
// checking that it is still the archive the API accepted (its SHA-256 is the row's
// commit_hash). Returns the stage note, "unpacked upload 1a2b3c4d5e6f (3 entries, 1234
// bytes)". Throws std::runtime_error when the archive is gone, changed or cannot be unpacked.
std::string unpack_upload(const ControlConfig &config, const std::string &deployment_id,
                          const std::filesystem::path &dest, const std::string &expected_sha256);

// The pipeline sweep's share (#16): removes the archives whose deployment ended (ACTIVE,
// FAILED, CANCELLED...), and, after an hour, archives without a row (a crash or a lost
// connection between the write and the commit; a deleted service) and unfinished writes.
void collect_uploads(const ControlConfig &config, Db &db);

} // namespace berth::control
