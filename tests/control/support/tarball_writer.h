// Test support (#16): gzip'd tars written with libarchive's writer, so that hostile entries
// (absolute paths, "..", links leaving the tree, devices, FIFOs) can be made at all.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace berth::test
{

// One entry to write: type (AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFIFO...), path,
// content or link target, mode.
struct TarItem {
    mode_t type;
    std::string path;
    std::string data; // file content, or symlink/hardlink target
    mode_t perm = 0644;
    bool hardlink = false;
};

// The archive (pax, gzip'd unless gzip is false); REQUIREs every libarchive call to succeed.
std::string make_tarball(const std::vector<TarItem> &items, bool gzip = true);

} // namespace berth::test
