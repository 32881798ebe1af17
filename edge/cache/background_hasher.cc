#include "edge/cache/background_hasher.h"

#include "edge/cache/file_etag.h"

namespace berth::edge
{

struct BackgroundHasher::Job {
    uv_work_t req;
    uv_loop_t *loop;
    int fd;
    size_t slice_bytes;
    Done done;
    std::shared_ptr<std::atomic<bool>> stopped; // outlives the hasher if the job does
    FileDigest digest;                          // threadpool only, one slice at a time
    FileDigest::Step step = FileDigest::Step::kMore;
};

BackgroundHasher::BackgroundHasher(uv_loop_t *loop, size_t slice_bytes) noexcept
    : loop_(loop), slice_bytes_(slice_bytes), stopped_(std::make_shared<std::atomic<bool>>(false))
{
}

BackgroundHasher::~BackgroundHasher()
{
    stop();
}

bool BackgroundHasher::submit(int fd, Done done)
{
    if (!loop_ || stopped_->load()) return false;
    auto *job = new Job{{}, loop_, fd, slice_bytes_, std::move(done), stopped_, {}};
    job->req.data = job;
    if (queue(job)) return true;
    delete job;
    return false;
}

bool BackgroundHasher::queue(Job *job)
{
    return uv_queue_work(
               job->loop, &job->req,
               [](uv_work_t *req) { // threadpool: only the descriptor and the job's own digest
                   auto *j = static_cast<Job *>(req->data);
                   if (!j->stopped->load(std::memory_order_relaxed))
                       j->step = j->digest.advance(j->fd, j->slice_bytes);
               },
               [](uv_work_t *req, int status) { // loop thread
                   std::unique_ptr<Job> j(static_cast<Job *>(req->data));
                   if (status != 0 || j->stopped->load()) return;
                   if (j->step == FileDigest::Step::kMore) {
                       // The next slice queues behind the jobs that came in meanwhile.
                       if (queue(j.get())) j.release();
                       return;
                   }
                   if (j->step == FileDigest::Step::kDone) j->done(j->digest.etag());
               }) == 0;
}

void BackgroundHasher::stop() noexcept
{
    stopped_->store(true);
}

} // namespace berth::edge
