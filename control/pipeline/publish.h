// Publishing: immutable deployment directories (route tables live in control/edges).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "control/pipeline/secret_scan.h"

namespace berth::control
{

// Thrown when the tree holds secrets; what() names the files and rules, never the values.
struct SecretsFound : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Copies `source` (a checked-out tree) to deployments_root/<service>/<deployment_id>/ through
// a temporary sibling and a rename, so the edge never sees a half-written directory. Dotfiles
// and dot-directories (.git, .env, .npmrc, ...) and symlinks are never copied. Every file
// copied is scanned first (scan_text with `secrets`): any finding throws SecretsFound and
// nothing is published. Published files are 0444 and directories 0555, so nothing but
// berth-control (which makes them writable again to remove them) changes them. Returns the
// path relative to deployments_root ("<service>/<deployment_id>"). Throws std::runtime_error /
// filesystem_error; the temporary directory is removed on failure.
std::string publish_static(const std::filesystem::path &source, const std::string &deployments_root,
                           const std::string &service, const std::string &deployment_id,
                           const std::vector<NamedSecret> &secrets = {});

// Removes a published tree (read-only directories included). Missing is not an error.
void remove_published(const std::filesystem::path &dir);

} // namespace berth::control
