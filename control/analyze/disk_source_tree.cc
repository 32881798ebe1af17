// DiskSourceTree: a repository's files are hostile input (#16), so a "package.json" that is a
// symlink to /etc/shadow or to a FIFO must read as absent, never as the target's contents.
#include "control/analyze/disk_source_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

namespace berth::control
{

namespace fs = std::filesystem;

DiskSourceTree::DiskSourceTree(const std::string &root)
{
    std::error_code ec;
    fs::path canonical = fs::canonical(root, ec);
    if (!ec && fs::is_directory(canonical, ec) && !ec) root_ = canonical.string();
}

std::string DiskSourceTree::resolve(std::string_view rel_path) const
{
    if (root_.empty() || !is_safe_relative_path(rel_path)) return {};
    // Resolving every symlink first and then checking the prefix is enough here: nothing else
    // writes to the tree while it is analysed (no build command has run yet).
    std::error_code ec;
    fs::path canonical = fs::canonical(fs::path(root_) / fs::path(rel_path), ec);
    if (ec) return {};
    std::string resolved = canonical.string();
    bool inside = resolved.size() > root_.size() && resolved.compare(0, root_.size(), root_) == 0 &&
                  (root_ == "/" || resolved[root_.size()] == '/');
    return inside ? resolved : std::string();
}

std::optional<std::string> DiskSourceTree::read(std::string_view rel_path, size_t max_bytes) const
{
    std::string path = resolve(rel_path);
    if (path.empty()) return std::nullopt;
    // O_NONBLOCK: opening a FIFO swapped in after resolve() must not hang the worker.
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return std::nullopt;
    struct stat st {
    };
    std::optional<std::string> out;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && size_t(st.st_size) <= max_bytes) {
        std::string data;
        data.resize(size_t(st.st_size));
        size_t got = 0;
        // Read at most max_bytes + 1 so a file growing under us is still caught as too large.
        char extra;
        while (true) {
            ssize_t n = got < data.size() ? ::read(fd, data.data() + got, data.size() - got)
                                          : ::read(fd, &extra, 1);
            if (n < 0) break;
            if (n == 0) {
                data.resize(got);
                out = std::move(data);
                break;
            }
            if (got == data.size()) break; // grew past its stat size
            got += size_t(n);
        }
    }
    ::close(fd);
    return out;
}

bool DiskSourceTree::exists(std::string_view rel_path) const
{
    std::string path = resolve(rel_path);
    if (path.empty()) return false;
    struct stat st {
    };
    return ::stat(path.c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
}

} // namespace berth::control
