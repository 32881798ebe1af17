#include "edge/write/page_cache.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace berth::edge
{

namespace
{

constexpr size_t kScratch = 128 * 1024;

struct WarmJob {
    uv_work_t req;
    int fd;
    uint64_t offset;
    uint64_t len;
    Keep keep;
    std::shared_ptr<WarmTicket> ticket;
};

} // namespace

bool PageCacheWarmer::warm(int fd, uint64_t offset, uint64_t len, Keep keep,
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
