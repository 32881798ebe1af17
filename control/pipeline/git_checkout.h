// libgit2 RAII: screen a repository URL, then clone one branch (optionally one commit) into a
// build directory, connecting only to the address the screen approved.
#pragma once

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include "control/config/control_config.h"
#include "control/net/ip_address.h"
#include "control/pipeline/repo_url.h"

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

// The one message of every refusal by address: the same whether the target exists, listens,
// or is closed, so a caller cannot probe the inside of the network with it.
inline constexpr const char *kRepoRefused =
    "repository URL refused: berth-control clones only from public addresses or hosts in "
    "[security] allowed_repo_hosts";

// A URL that passed the screen, and where its clone may connect.
struct ScreenedRepo {
    RepoUrl url;
    std::optional<IpAddr> address; // the checked address (none for file://)
};

// The repository URL policy (#15, the Grid seed's SSRF rules): https:// and git:// (file://
// only with [security] allow_file_urls). The host is resolved once and every address it
// resolves to is checked (IPv4, IPv6, v4-mapped, and every numeric spelling, since what is
// checked is the resolver's answer): loopback, link-local, multicast, reserved, unspecified,
// private and shared ranges are refused unless [security] allowed_repo_hosts lists a range
// that holds them (a listed host name admits its private addresses only). When that list is
// set, the host must be in it. Throws std::runtime_error: kRepoRefused for every refusal by
// address or list, other texts for a malformed URL or a host that does not resolve.
ScreenedRepo screen_repo_url(const std::string &url, const ControlConfig &config);

// Clones `repo`'s `branch` into dir (which must not exist) and checks out `commit` when given.
// https:// goes through a ConnectProxy pinned to repo.address; git:// connects to the address
// literal. Returns the checked-out commit id (40 hex). Throws std::runtime_error.
std::string clone_checkout(const ScreenedRepo &repo, const std::string &branch,
                           const std::string &commit, const std::filesystem::path &dir);

} // namespace berth::control
