#include "edge/io/resident_pages.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace berth::edge
{

namespace
{

#ifndef __NR_cachestat
#define __NR_cachestat 451 // the same number on every architecture (Linux 6.5)
#endif

// The kernel's structures for cachestat(2); glibc 2.36 has no wrapper.
struct CachestatRange {
    uint64_t off;
    uint64_t len;
};
struct Cachestat {
    uint64_t nr_cache;
    uint64_t nr_dirty;
    uint64_t nr_writeback;
    uint64_t nr_evicted;
    uint64_t nr_recently_evicted;
};

constexpr uint64_t kPage = 4096;

} // namespace

bool pages_resident(int fd, uint64_t offset, uint64_t len) noexcept
{
    if (len == 0) return true;
    CachestatRange range{offset, len};
    Cachestat cs{};
    if (syscall(__NR_cachestat, fd, &range, &cs, 0) != 0) return true; // cannot tell
    uint64_t first = offset / kPage, last = (offset + len - 1) / kPage;
    return cs.nr_cache >= last - first + 1;
}

} // namespace berth::edge
