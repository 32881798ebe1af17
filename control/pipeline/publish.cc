// Publish step (#3, #15): a deployment directory is immutable once renamed into place, and
// nothing that looks like a secret is ever put where the edge serves it.
#include "control/pipeline/publish.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace berth::control
{

namespace fs = std::filesystem;

namespace
{

constexpr auto kFilePerms = fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
constexpr auto kDirPerms =
    kFilePerms | fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;

bool hidden(const fs::path &rel)
{
    for (const auto &part : rel)
        if (part.string().size() > 1 && part.string()[0] == '.' && part != "..") return true;
    return false;
}

// Rules a file triggers; read in 1 MiB chunks overlapping by kMaxRuleMatch, so a match that
// straddles two chunks is still seen whole.
std::vector<std::string> scan_file(const fs::path &p, const std::vector<NamedSecret> &secrets)
{
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot read " + p.filename().string() + " to scan it");
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    std::vector<std::string> found;
    std::string buf;
    constexpr size_t kChunk = 1 << 20;
    for (;;) {
        size_t keep = buf.size();
        buf.resize(keep + kChunk);
        ssize_t n = ::read(fd, buf.data() + keep, kChunk);
        if (n < 0) throw std::runtime_error("cannot read " + p.filename().string() + " to scan it");
        buf.resize(keep + size_t(n));
        for (auto &rule : scan_text(buf, secrets))
            if (std::find(found.begin(), found.end(), rule) == found.end())
                found.push_back(std::move(rule));
        if (n == 0) break;
        if (buf.size() > kMaxRuleMatch) buf.erase(0, buf.size() - kMaxRuleMatch);
    }
    return found;
}

// Calls fn(entry, relative path) for every entry of `source` that is published: dotfiles and
// dot-directories are skipped (and not descended into), symlinks are passed (fn skips them).
template <class F> void for_each_published(const fs::path &source, F fn)
{
    for (auto it = fs::recursive_directory_iterator(source);
         it != fs::recursive_directory_iterator(); ++it) {
        const fs::path rel = fs::relative(it->path(), source);
        if (hidden(rel)) {
            if (it->is_directory() && !it->is_symlink()) it.disable_recursion_pending();
            continue;
        }
        fn(*it, rel);
    }
}

} // namespace

std::string publish_static(const fs::path &source, const std::string &deployments_root,
                           const std::string &service, const std::string &deployment_id,
                           const std::vector<NamedSecret> &secrets)
{
    // Scan before anything is written: a tree with secrets leaves no trace in the root.
    std::vector<std::string> findings;
    for_each_published(source, [&](const fs::directory_entry &e, const fs::path &rel) {
        if (e.is_symlink() || !e.is_regular_file()) return;
        auto rules = scan_file(e.path(), secrets);
        if (rules.empty()) return;
        std::string joined;
        for (const auto &r : rules)
            joined += (joined.empty() ? "" : ", ") + r;
        findings.push_back(rel.string() + " (" + joined + ")");
    });
    if (!findings.empty()) {
        std::sort(findings.begin(), findings.end());
        std::string list;
        for (const auto &f : findings)
            list += (list.empty() ? "" : "; ") + f;
        throw SecretsFound("secrets found, nothing was published: " + list);
    }

    fs::path service_dir = fs::path(deployments_root) / service;
    fs::create_directories(service_dir);
    fs::path final_dir = service_dir / deployment_id;
    fs::path tmp = service_dir / ("." + deployment_id + ".tmp");
    if (fs::exists(final_dir))
        throw std::runtime_error("deployment directory already exists: " + final_dir.string());
    remove_published(tmp);
    try {
        fs::create_directory(tmp);
        std::vector<fs::path> dirs;
        for_each_published(source, [&](const fs::directory_entry &e, const fs::path &rel) {
            fs::path dst = tmp / rel;
            if (e.is_symlink()) return; // could point outside the deployment; sites need none
            if (e.is_directory()) {
                fs::create_directory(dst);
                dirs.push_back(dst);
            } else if (e.is_regular_file()) {
                fs::copy_file(e.path(), dst);
                fs::permissions(dst, kFilePerms);
            }
        });
        // Deepest first, so each directory is still writable while its children are done.
        for (auto d = dirs.rbegin(); d != dirs.rend(); ++d)
            fs::permissions(*d, kDirPerms);
        fs::permissions(tmp, kDirPerms);
        fs::rename(tmp, final_dir);
    } catch (...) {
        remove_published(tmp);
        throw;
    }
    return service + "/" + deployment_id;
}

void remove_published(const fs::path &dir)
{
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(dir, ec))) return;
    if (fs::is_directory(fs::symlink_status(dir, ec))) {
        fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
        for (auto it = fs::recursive_directory_iterator(dir, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            if (it->is_directory() && !it->is_symlink())
                fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(dir, ec);
}

} // namespace berth::control
