// STATIC builds: the output is the repository's root_directory as it is (#16).
#include "control/pipeline/build_step.h"

namespace berth::control
{

namespace fs = std::filesystem;

BuildOutput build_step(const BuildInput &in)
{
    if (in.buildpack != "STATIC")
        throw BuildError("buildpack " + in.buildpack +
                         " is not supported by this build agent yet (only STATIC)");
    // weakly_canonical resolves ".." and symlinks: the output must stay inside the checkout.
    fs::path root = fs::weakly_canonical(in.checkout / in.root_directory);
    if (root.string().rfind(fs::weakly_canonical(in.checkout).string(), 0) != 0 ||
        !fs::is_directory(root))
        throw BuildError("root_directory " + in.root_directory +
                         " is not a directory in the repository");
    std::string shown = in.root_directory.empty() ? std::string("/") : in.root_directory;
    if (in.log) in.log("build", "STATIC: no build command; publishing " + shown);
    return {root, "STATIC: no build command; published " + shown};
}

} // namespace berth::control
