// node_modules per lockfile hash, copied in and out of the build tree (#16).
#include "control/pipeline/dependency_cache.h"

#include <fstream>
#include <sstream>
#include <unistd.h>

#include "control/base/crypto.h"

namespace berth::control
{

namespace fs = std::filesystem;

namespace
{

constexpr const char *kModules = "node_modules";

void copy_tree(const fs::path &from, const fs::path &to)
{
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

} // namespace

DependencyCache::DependencyCache(fs::path service_root, const BuildPlan &plan, const fs::path &tree)
    : service_root_(std::move(service_root)), tree_(tree)
{
    if (plan.package_manager != "npm" || plan.lockfile.empty() || plan.install_command.empty())
        return;
    std::ifstream in(tree / plan.lockfile, std::ios::binary);
    if (!in) return;
    std::ostringstream text;
    text << in.rdbuf();
    key_ = sha256_hex(plan.install_command + '\n' + text.str()).substr(0, 16);
}

bool DependencyCache::restore() const
{
    if (!enabled()) return false;
    fs::path cached = service_root_ / key_ / kModules;
    std::error_code ec;
    if (!fs::is_directory(cached, ec)) return false;
    fs::remove_all(tree_ / kModules, ec);
    copy_tree(cached, tree_ / kModules);
    return true;
}

std::string DependencyCache::store() const
{
    if (!enabled()) return {};
    std::error_code ec;
    if (!fs::is_directory(tree_ / kModules, ec)) return {}; // nothing was installed
    fs::path tmp = service_root_ / (".tmp-" + key_ + "-" + std::to_string(::getpid()));
    try {
        fs::remove_all(tmp);
        fs::create_directories(tmp);
        // Builds never read the cache (control copies it in): no build uid may enter it, since
        // one service's modules can hold what its install fetched with its own credentials.
        fs::permissions(service_root_, fs::perms::owner_all);
        copy_tree(tree_ / kModules, tmp / kModules);
        fs::remove_all(service_root_ / key_);
        fs::rename(tmp, service_root_ / key_);
        for (const auto &e : fs::directory_iterator(service_root_))
            if (e.path().filename() != key_) fs::remove_all(e.path());
        return {};
    } catch (const fs::filesystem_error &e) {
        fs::remove_all(tmp, ec);
        return e.what();
    }
}

} // namespace berth::control
