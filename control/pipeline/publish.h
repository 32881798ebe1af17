// Publishing: immutable deployment directories (route tables live in control/edges).
#pragma once

#include <filesystem>
#include <string>


namespace berth::control
{

// Copies `source` (a checked-out tree, without .git) to
// deployments_root/<service>/<deployment_id>/ through a temporary sibling and a rename, so
// the edge never sees a half-written directory, then makes every file read-only. Returns the
// path relative to deployments_root ("<service>/<deployment_id>"). Throws
// std::runtime_error / filesystem_error; the temporary directory is removed on failure.
std::string publish_static(const std::filesystem::path &source, const std::string &deployments_root,
                           const std::string &service, const std::string &deployment_id);

} // namespace berth::control
