#include "shared/archive/tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace berth::shared
{

namespace
{

namespace fs = std::filesystem;

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

enum class Kind { kFile, kDir, kSymlink, kHardlink };

// One entry as the walk hands it on: its tree path (normalised, relative) and what it is.
struct Entry {
    std::string path;
    Kind kind;
    std::string link; // symlink target as written, or hard link target (normalised)
    uint64_t size = 0;
    bool executable = false;
};

// An archive in memory, or in a file (file set) when it may be too large for memory.
struct Source {
    std::string_view data;
    const fs::path *file = nullptr;
    int fd = -1; // read from its start, each time it is opened
};

ArchivePtr open_archive(const Source &src)
{
    ArchivePtr a(archive_read_new(), archive_read_free);
    if (!a) throw std::runtime_error("out of memory");
    archive_read_support_filter_gzip(a.get());
    archive_read_support_format_tar(a.get());
    int rc;
    if (src.fd >= 0) {
        if (::lseek(src.fd, 0, SEEK_SET) != 0)
            throw std::runtime_error(std::string("cannot read the archive: ") + strerror(errno));
        rc = archive_read_open_fd(a.get(), src.fd, 256 << 10);
    } else if (src.file) {
        rc = archive_read_open_filename(a.get(), src.file->c_str(), 256 << 10);
    } else {
        rc = archive_read_open_memory(a.get(), src.data.data(), src.data.size());
    }
    if (rc != ARCHIVE_OK)
        throw std::runtime_error(
            std::string("not a tar or gzip'd tar archive: ") +
            (archive_error_string(a.get()) ? archive_error_string(a.get()) : "unreadable"));
    return a;
}

// Splits a path into components, dropping "." and empty ones; sets `why` for what the tree
// cannot hold.
std::vector<std::string> components(std::string_view raw, std::string &why)
{
    std::vector<std::string> out;
    if (!raw.empty() && raw.front() == '/') why = "absolute path";
    size_t at = 0;
    while (at <= raw.size()) {
        size_t slash = raw.find('/', at);
        if (slash == std::string_view::npos) slash = raw.size();
        std::string_view part = raw.substr(at, slash - at);
        if (part == "..")
            why = "'..' in the path";
        else if (!part.empty() && part != ".")
            out.emplace_back(part);
        at = slash + 1;
    }
    return out;
}

std::string join(const std::vector<std::string> &parts, size_t n)
{
    std::string out;
    for (size_t i = 0; i < n; ++i)
        out += (i ? "/" : "") + parts[i];
    return out;
}

// The archive's symlinks: path -> (the directory it sits in, its target as written).
using Links = std::map<std::string, std::pair<std::vector<std::string>, std::string>>;

// Walks `target` from the directory `at` as the kernel would, following the archive's own
// symlinks met on the way (a link `d/up -> ..` makes `d/up/..` the tree's parent, which a
// lexical walk would miss); `at` ends where the target lands. False when the walk leaves the
// tree, is absolute, or loops.
bool walk_target(const Links &links, std::vector<std::string> &at, std::string_view target,
                 int depth = 0)
{
    if (target.empty() || target.front() == '/' || depth > 40) return false;
    size_t pos = 0;
    while (pos <= target.size()) {
        size_t slash = target.find('/', pos);
        if (slash == std::string_view::npos) slash = target.size();
        std::string_view part = target.substr(pos, slash - pos);
        pos = slash + 1;
        if (part == "..") {
            if (at.empty()) return false;
            at.pop_back();
            continue;
        }
        if (part.empty() || part == ".") continue;
        at.emplace_back(part);
        if (links.empty()) continue;
        auto link = links.find(join(at, at.size()));
        if (link == links.end()) continue;
        // Through a symlink of the archive: on to where it lands, then the rest.
        at = link->second.first;
        if (!walk_target(links, at, link->second.second, depth + 1)) return false;
    }
    return true;
}
// Reads every header; for each entry either refuses it (into `check`) or hands it to `accept`
// with the archive positioned at its data. Stops at the first unreadable header.
void walk(archive *a, const TarballLimits &limits, TarballCheck &check,
          const std::function<void(const Entry &)> &accept)
{
    std::map<std::string, Kind> seen;
    Links links;
    bool over_size = false;
    for (;;) {
        archive_entry *e = nullptr;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) {
            // Each symlink again, now through the others: together they may leave the tree
            // although each alone stays inside.
            for (const auto &[path, link] : links) {
                std::vector<std::string> at = link.first;
                if (!walk_target(links, at, link.second))
                    check.refused.push_back(
                        {path, "symlink to " + link.second +
                                   " leaves the tree through the archive's other symlinks"});
            }
            return;
        }
        if (r < ARCHIVE_WARN) {
            const char *why = archive_error_string(a);
            check.error = std::string("unreadable archive after ") + std::to_string(check.entries) +
                          " entries: " + (why ? why : "corrupt header");
            return;
        }
        if (++check.entries > limits.max_entries) {
            check.refused.push_back(
                {"", "more than " + std::to_string(limits.max_entries) + " entries"});
            return;
        }
        const char *name = archive_entry_pathname(e);
        std::string raw = name ? name : "";
        auto refuse = [&](std::string reason) {
            check.refused.push_back({raw, std::move(reason)});
        };
        if (!name) {
            refuse("unreadable path");
            continue;
        }
        if (raw.size() > limits.max_path_bytes) {
            refuse("path longer than " + std::to_string(limits.max_path_bytes) + " bytes");
            continue;
        }
        bool control = false;
        for (unsigned char c : raw)
            control |= c < 0x20 || c == 0x7f;
        if (control) {
            refuse("control character in the path");
            continue;
        }
        std::string why;
        std::vector<std::string> parts = components(raw, why);
        if (!why.empty()) {
            refuse(why);
            continue;
        }
        Entry entry;
        entry.path = join(parts, parts.size());
        const char *hardlink = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        if (hardlink) {
            entry.kind = Kind::kHardlink;
            std::string link_why;
            std::vector<std::string> target_parts = components(hardlink, link_why);
            entry.link = join(target_parts, target_parts.size());
            if (!link_why.empty()) {
                refuse("hard link leaves the tree");
                continue;
            }
            auto target = seen.find(entry.link);
            if (target == seen.end() || target->second != Kind::kFile) {
                refuse("hard link to " + std::string(hardlink) +
                       ", which is not a file earlier in the archive");
                continue;
            }
        } else if (type == AE_IFREG) {
            entry.kind = Kind::kFile;
            entry.size = uint64_t(std::max<la_int64_t>(0, archive_entry_size(e)));
            entry.executable = archive_entry_perm(e) & 0111;
        } else if (type == AE_IFDIR) {
            entry.kind = Kind::kDir;
        } else if (type == AE_IFLNK) {
            entry.kind = Kind::kSymlink;
            const char *target = archive_entry_symlink(e);
            entry.link = target ? target : "";
            std::vector<std::string> at(parts.begin(), parts.end() - (parts.empty() ? 0 : 1));
            if (!walk_target({}, at, entry.link)) { // lexically; through other links at the end
                refuse("symlink to " + entry.link + " leaves the tree");
                continue;
            }
        } else {
            refuse(type == AE_IFCHR || type == AE_IFBLK ? "device file"
                   : type == AE_IFIFO                   ? "FIFO"
                   : type == AE_IFSOCK                  ? "socket"
                                                        : "unsupported entry type");
            continue;
        }
        if (parts.empty()) {
            if (entry.kind == Kind::kDir) continue; // "./": the tree itself
            refuse("empty path");
            continue;
        }
        // Nothing may be written through a symlink or below a file of the archive.
        std::string through;
        for (size_t i = 1; i < parts.size() && through.empty(); ++i) {
            auto parent = seen.find(join(parts, i));
            if (parent != seen.end() && parent->second != Kind::kDir) through = parent->first;
        }
        if (!through.empty()) {
            refuse("path goes through " + through + ", which is not a directory");
            continue;
        }
        auto [it, fresh] = seen.emplace(entry.path, entry.kind);
        if (!fresh && !(entry.kind == Kind::kDir && it->second == Kind::kDir)) {
            refuse("appears twice in the archive");
            continue;
        }
        if (entry.kind == Kind::kSymlink)
            links[entry.path] = {std::vector<std::string>(parts.begin(), parts.end() - 1),
                                 entry.link};
        check.unpacked_bytes += entry.size;
        if (check.unpacked_bytes > limits.max_unpacked_bytes) {
            if (!over_size)
                refuse("unpacks past the limit of " + std::to_string(limits.max_unpacked_bytes) +
                       " bytes");
            over_size = true;
            continue;
        }
        accept(entry);
    }
}

struct Fd {
    int fd;
    ~Fd()
    {
        if (fd >= 0) ::close(fd);
    }
};

void write_file(archive *a, const Entry &entry, const fs::path &path)
{
    Fd out{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  entry.executable ? 0755 : 0644)};
    if (out.fd < 0) throw std::runtime_error(entry.path + ": cannot create: " + strerror(errno));
    const void *buf;
    size_t len;
    la_int64_t offset;
    uint64_t written = 0;
    for (;;) {
        int r = archive_read_data_block(a, &buf, &len, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN)
            throw std::runtime_error(
                entry.path + ": " +
                (archive_error_string(a) ? archive_error_string(a) : "unreadable data"));
        const char *p = static_cast<const char *>(buf);
        while (len > 0) {
            ssize_t n = ::pwrite(out.fd, p, len, off_t(offset));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw std::runtime_error(entry.path + ": write: " + strerror(errno));
            p += n;
            len -= size_t(n);
            offset += n;
            written += uint64_t(n);
        }
    }
    if (written > entry.size)
        throw std::runtime_error(entry.path + ": more data than its header says");
    if (::ftruncate(out.fd, off_t(entry.size)) != 0) // sparse tails
        throw std::runtime_error(entry.path + ": " + strerror(errno));
}

TarballCheck check_source(const Source &src, const TarballLimits &limits)
{
    TarballCheck check;
    try {
        ArchivePtr a = open_archive(src);
        walk(a.get(), limits, check, [](const Entry &) {});
    } catch (const std::exception &e) {
        check.error = e.what();
    }
    return check;
}

void extract_source(const Source &src, const fs::path &dest, const TarballLimits &limits)
{
    TarballCheck first = check_source(src, limits);
    if (!first.ok())
        throw std::runtime_error(first.error.empty() ? first.refused.front().path + ": " +
                                                           first.refused.front().reason
                                                     : first.error);
    ArchivePtr a = open_archive(src);
    TarballCheck again;
    walk(a.get(), limits, again, [&](const Entry &entry) {
        fs::path path = dest / entry.path;
        fs::create_directories(path.parent_path());
        switch (entry.kind) {
        case Kind::kDir:
            fs::create_directories(path);
            fs::permissions(path, fs::perms(0755));
            break;
        case Kind::kFile:
            write_file(a.get(), entry, path);
            break;
        case Kind::kSymlink:
            fs::create_symlink(entry.link, path);
            break;
        case Kind::kHardlink:
            fs::create_hard_link(dest / entry.link, path);
            break;
        }
    });
    if (!again.ok()) throw std::runtime_error("archive changed between reads: " + again.error);
}

} // namespace

TarballCheck check_tarball(std::string_view data, const TarballLimits &limits)
{
    return check_source({data}, limits);
}

void extract_tarball(std::string_view data, const fs::path &dest, const TarballLimits &limits)
{
    extract_source({data}, dest, limits);
}

void extract_tarball_file(const fs::path &file, const fs::path &dest, const TarballLimits &limits)
{
    extract_source({{}, &file}, dest, limits);
}

void extract_tarball_fd(int fd, const fs::path &dest, const TarballLimits &limits)
{
    extract_source({{}, nullptr, fd}, dest, limits);
}

} // namespace berth::shared
