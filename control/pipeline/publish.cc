// Publish step (#3): a deployment directory is immutable once renamed into place.
#include "control/pipeline/publish.h"

#include <stdexcept>

namespace berth::control
{

namespace fs = std::filesystem;

std::string publish_static(const fs::path &source, const std::string &deployments_root,
                           const std::string &service, const std::string &deployment_id)
{
    fs::path service_dir = fs::path(deployments_root) / service;
    fs::create_directories(service_dir);
    fs::path final_dir = service_dir / deployment_id;
    fs::path tmp = service_dir / ("." + deployment_id + ".tmp");
    if (fs::exists(final_dir))
        throw std::runtime_error("deployment directory already exists: " + final_dir.string());
    fs::remove_all(tmp);
    try {
        fs::create_directory(tmp);
        for (auto it = fs::recursive_directory_iterator(source);
             it != fs::recursive_directory_iterator(); ++it) {
            const fs::path rel = fs::relative(it->path(), source);
            if (rel.begin()->string() == ".git") {
                if (it->is_directory()) it.disable_recursion_pending();
                continue;
            }
            fs::path dst = tmp / rel;
            if (it->is_symlink()) {
                // A link could point outside the deployment; static sites do not need them.
                continue;
            } else if (it->is_directory()) {
                fs::create_directory(dst);
            } else if (it->is_regular_file()) {
                fs::copy_file(it->path(), dst);
                fs::permissions(dst, fs::perms::owner_read | fs::perms::group_read |
                                         fs::perms::others_read);
            }
        }
        fs::rename(tmp, final_dir);
    } catch (...) {
        std::error_code ec;
        fs::remove_all(tmp, ec);
        throw;
    }
    return service + "/" + deployment_id;
}

} // namespace berth::control
