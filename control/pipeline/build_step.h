// The build phase's one seam (#16): a checked-out tree in, a directory of files to publish
// out. Today only STATIC, which runs nothing; the sandboxed build (install and build commands
// as limited child processes) replaces the body of build_step() and nothing around it.
#pragma once

#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

namespace berth::control
{

// The build failed; what() is the detail after "BUILD_FAILED: " (e.g. "exit 137 (killed: out
// of memory)", "buildpack NIXPACKS is not supported ...").
struct BuildError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct BuildInput {
    std::string deployment_id;
    std::string service_name;
    std::filesystem::path checkout; // builds_dir/<deployment id>, removed after the build
    std::string root_directory;     // relative to checkout, without a leading '/'
    std::string buildpack;          // STATIC | NIXPACKS | DOCKER
    // Appends one line to the deployment's build log; stream is "build" for Berth's own lines,
    // "stdout"/"stderr" for a command's. Blocks while PostgreSQL is briefly away.
    std::function<void(const std::string &stream, const std::string &line)> log;
    // True once the deployment left BUILDING (cancelled from the API): stop and return.
    std::function<bool()> cancelled;
};

struct BuildOutput {
    std::filesystem::path output_dir; // inside checkout: what publish_static() copies
    std::string detail;               // the build stage's detail ("STATIC: no build command")
};

// Runs the build of `in` on the calling (pipeline worker) thread. Throws BuildError for a
// failure of the build itself; other exceptions are Berth's own errors.
BuildOutput build_step(const BuildInput &in);

} // namespace berth::control
