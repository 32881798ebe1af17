// Gzip'd tars from outside, checked entry by entry before anything is written, then unpacked:
// UPLOAD deploys (#16, an archive from the API into a build directory) and fleet edges (a
// deployment's files from Redis into their deployments root). libarchive reads the formats (ustar,
// pax, GNU); the rules of what may land in a build directory are ours.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace berth::shared
{

struct TarballLimits {
    uint64_t max_unpacked_bytes = 512ull << 20; // sum of the files' sizes
    size_t max_entries = 20000;
    size_t max_path_bytes = 1024;
};

struct RefusedEntry {
    std::string path;   // as written in the archive
    std::string reason; // e.g. "absolute path", "symlink leaves the tree"
};

struct TarballCheck {
    std::string error;                 // the archive itself is unreadable (empty: readable)
    std::vector<RefusedEntry> refused; // every entry that would be refused, in archive order
    size_t entries = 0;
    uint64_t unpacked_bytes = 0;

    bool ok() const { return error.empty() && refused.empty(); }
};

// Reads every entry header of `data` (gzip'd tar, or a plain tar) and lists what would be
// refused: absolute paths, "..", paths through a symlink of the archive, symlinks or hard links
// leaving the tree, devices, FIFOs and sockets, duplicates, over-long paths, and the limits.
// Reads no file data and touches no disk, so it is safe on anything (fuzzed).
TarballCheck check_tarball(std::string_view data, const TarballLimits &limits = {});

// Unpacks `data` into `dest` (an existing, empty directory). Call only after check_tarball
// found nothing to refuse; files get mode 0644 or 0755 (no set-id bits), directories 0755.
// Throws std::runtime_error naming the entry on any I/O error or when the check fails.
void extract_tarball(std::string_view data, const std::filesystem::path &dest,
                     const TarballLimits &limits = {});

// The same for an archive in a file (too large to hold in memory); read twice, check first.
void extract_tarball_file(const std::filesystem::path &file, const std::filesystem::path &dest,
                          const TarballLimits &limits = {});
// The same from an open file (read from its start, twice; the file checked is the file read).
void extract_tarball_fd(int fd, const std::filesystem::path &dest,
                        const TarballLimits &limits = {});

} // namespace berth::shared
