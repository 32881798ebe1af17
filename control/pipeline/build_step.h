// The build phase's one seam (#16): a checked-out tree and Analyze's plan in, a directory of
// files to publish out. Install and build commands run as sandboxed child processes
// (control/sandbox) with the build environment; their output is masked and capped on its way
// to the deployment's build log.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "control/analyze/framework_detect.h"
#include "control/sandbox/build_log.h"
#include "control/sandbox/build_sandbox.h"

namespace berth::control
{

// The build failed; what() is the detail after "BUILD_FAILED: " (e.g. "exit 137 (killed: out
// of memory) in `npm run build`").
struct BuildError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct BuildInput {
    std::string deployment_id;
    std::filesystem::path checkout; // builds_dir/<deployment id>, removed after the build
    std::string root_directory;     // relative to checkout, without a leading '/'
    BuildPlan plan;                 // what Analyze decided (with the service's overrides)
    std::vector<std::pair<std::string, std::string>> env; // the build environment
    std::vector<std::string> secret_values;               // masked in every stored line
    SandboxLimits limits;
    // As root, the service's own uid (dedicated: every process of it is killed when a command
    // ends); the checkout is given to it with mode 0700.
    SandboxUser user;
    BuildLogCap log_cap;
    std::filesystem::path cache_dir; // cache_dir/<service id>; empty: no dependency cache
    // Stores one line of the deployment's build log (already masked). Blocks while
    // PostgreSQL is briefly away.
    std::function<void(const LogLine &)> log;
    // True once the deployment left BUILDING (cancelled from the API). Polled from a thread of
    // its own while a command runs, which then kills the command's process group.
    std::function<bool()> cancelled;
};

// One command of the build, for the stage detail and the benchmark.
struct CommandRun {
    std::string phase;   // "install" | "build"
    std::string command; // as run by /bin/sh -c
    std::chrono::milliseconds wall{0};
    bool from_cache = false; // install skipped: node_modules restored from the cache
};

struct BuildOutput {
    std::filesystem::path output_dir; // inside checkout: what publish_static() copies
    std::string detail;               // the build stage's detail
    std::vector<CommandRun> commands;
};

// Runs the build of `in` on the calling (pipeline worker) thread. Throws BuildError for a
// failure of the build itself (a command failed, was cancelled, timed out; the output
// directory is missing); other exceptions are Berth's own errors.
BuildOutput build_step(const BuildInput &in);

} // namespace berth::control
