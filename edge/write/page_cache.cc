#include "edge/write/page_cache.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
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
constexpr size_t kScratch = 128 * 1024;

struct WarmJob {
    uv_work_t req;
    int fd;
    uint64_t offset;
    uint64_t len;
    FileEntryRef keep;
    std::shared_ptr<WarmTicket> ticket;
};

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

bool PageCacheWarmer::warm(int fd, uint64_t offset, uint64_t len, FileEntryRef keep,
                           std::shared_ptr<WarmTicket> ticket)
{
    if (!loop_) return false;
    auto *job = new WarmJob{{}, fd, offset, len, std::move(keep), std::move(ticket)};
    job->req.data = job;
    int rc = uv_queue_work(
        loop_, &job->req,
        [](uv_work_t *req) { // threadpool
            auto *j = static_cast<WarmJob *>(req->data);
            // readahead() only starts the reads; reading the bytes waits until they are in.
            readahead(j->fd, off64_t(j->offset), size_t(j->len));
            thread_local std::unique_ptr<char[]> scratch(new char[kScratch]);
            uint64_t done = 0;
            while (done < j->len) {
                size_t want = size_t(std::min<uint64_t>(kScratch, j->len - done));
                ssize_t n = pread(j->fd, scratch.get(), want, off_t(j->offset + done));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break; // the send reports the error, on the loop thread
                done += uint64_t(n);
            }
        },
        [](uv_work_t *req, int) { // loop thread
            std::unique_ptr<WarmJob> j(static_cast<WarmJob *>(req->data));
            if (WarmTicket::Waiter *w = j->ticket->waiting) {
                j->ticket->waiting = nullptr;
                w->on_warm();
            }
        });
    if (rc != 0) {
        delete job;
        return false;
    }
    return true;
}

} // namespace berth::edge
