// A deployment directory as a gzip'd tar, for fleet edges on other hosts: control packs each
// live static deployment once and leaves it in Redis; an edge that lacks the files unpacks it
// with extract_tarball (tarball.h), whose checks the archive always passes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace berth::shared
{

// The tree under `dir` (regular files, directories, symlinks; entries relative to `dir`, in a
// stable order, without owners or times so the same tree packs the same way). Throws
// std::runtime_error naming the path on an I/O error, on any other kind of file, or when the
// archive would exceed `max_bytes`.
std::string pack_directory(const std::filesystem::path &dir, uint64_t max_bytes);

// The same archive written to `fd` (an open file, from its current offset), never held in
// memory; returns its size. Throws as pack_directory does, and when the file cannot be written.
uint64_t pack_directory_to_fd(const std::filesystem::path &dir, int fd, uint64_t max_bytes);

} // namespace berth::shared
