// Publishing: immutable deployment directories, and route tables pushed to edge admin sockets.
#pragma once

#include <filesystem>
#include <string>

#include <pqxx/pqxx>

#include "control/base/json_util.h"
#include "control/config/control_config.h"

namespace berth::control
{

// Copies `source` (a checked-out tree, without .git) to
// deployments_root/<service>/<deployment_id>/ through a temporary sibling and a rename, so
// the edge never sees a half-written directory, then makes every file read-only. Returns the
// path relative to deployments_root ("<service>/<deployment_id>"). Throws
// std::runtime_error / filesystem_error; the temporary directory is removed on failure.
std::string publish_static(const std::filesystem::path &source, const std::string &deployments_root,
                           const std::string &service, const std::string &deployment_id);

// The whole route table for every ACTIVE deployment, with a new version from the
// route_table_version sequence (snapshots only ever increase).
Json build_route_table(pqxx::transaction_base &w, const ControlConfig &config);

// Sends {"cmd":"routes.put","table":...} to each [edges] admin socket and collects the replies:
// [{"socket","ok","error"?}]. Never throws; an unreachable edge keeps serving its last table.
Json push_route_table(const ControlConfig &config, const Json &table);

} // namespace berth::control
