// libgit2 RAII: clone one branch (optionally one commit) into a build directory.
#pragma once

#include <filesystem>
#include <string>

#include "control/config/control_config.h"

namespace berth::control
{

// Holds libgit2's global state for the process (init in the constructor, shutdown in the
// destructor). Create one before any clone, in main.
class GitLibrary
{
public:
    GitLibrary();
    ~GitLibrary();
    GitLibrary(const GitLibrary &) = delete;
    GitLibrary &operator=(const GitLibrary &) = delete;
};

// The repository URL policy (the seed's SSRF rule, reduced): https:// and git:// only (plus
// file:// when [security] allow_file_urls), the host must be in allowed_repo_hosts when that
// list is set, and loopback, link-local and unspecified hosts are refused. Throws
// std::runtime_error with the reason.
void check_repo_url(const std::string &url, const ControlConfig &config);

// Clones url's `branch` into dir (which must not exist) and checks out `commit` when given.
// Returns the checked-out commit id (40 hex). Throws std::runtime_error with libgit2's message.
std::string clone_checkout(const std::string &url, const std::string &branch,
                           const std::string &commit, const std::filesystem::path &dir);

} // namespace berth::control
