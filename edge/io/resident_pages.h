// Whether a file's bytes are in the page cache, so reading or sending them on a loop thread
// does not wait on the disk (cachestat(2), Linux 6.5).
#pragma once

#include <cstdint>

namespace berth::edge
{

// Every page of [offset, offset + len) is in the page cache. True as well when the kernel
// cannot tell (no cachestat): callers then behave as they did without the check.
bool pages_resident(int fd, uint64_t offset, uint64_t len) noexcept;

} // namespace berth::edge
