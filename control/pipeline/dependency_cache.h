// Per-service dependency caches (#16): node_modules kept per lockfile hash, so a second build
// of the same lockfile skips the install command (and its downloads) entirely.
#pragma once

#include <filesystem>
#include <string>

#include "control/analyze/framework_detect.h"

namespace berth::control
{

class DependencyCache
{
public:
    // `service_root` is cache_dir/<service id>; `tree` the directory the install runs in.
    // Applies to npm installs pinned by a lockfile; otherwise enabled() is false and the
    // other calls do nothing.
    DependencyCache(std::filesystem::path service_root, const BuildPlan &plan,
                    const std::filesystem::path &tree);

    bool enabled() const noexcept { return !key_.empty(); }
    // sha256 over the lockfile and the install command (16 hex digits shown in logs).
    const std::string &key() const noexcept { return key_; }

    // Copies a cached node_modules into the tree; false on a miss. A copy, not links: a build
    // may write into node_modules, and the cache must not change under the next build.
    bool restore() const;
    // After a successful install: keeps the tree's node_modules under this key (through a
    // temporary sibling and a rename) and drops the service's other keys, so one lockfile's
    // modules are kept per service. Errors are returned as text (a cache that cannot be
    // written does not fail the build); "" on success.
    std::string store() const;

private:
    std::filesystem::path service_root_;
    std::filesystem::path tree_;
    std::string key_;
};

} // namespace berth::control
