#include "edge/static/background_hasher.h"

#include "edge/static/file_etag.h"

namespace berth::edge
{

struct BackgroundHasher::Job {
    uv_work_t req;
    int fd;
    Done done;
    std::shared_ptr<std::atomic<bool>> stopped; // outlives the hasher if the job does
    std::string etag;
};

BackgroundHasher::BackgroundHasher(uv_loop_t *loop) noexcept
    : loop_(loop), stopped_(std::make_shared<std::atomic<bool>>(false))
{
}

BackgroundHasher::~BackgroundHasher()
{
    stop();
}

bool BackgroundHasher::submit(int fd, Done done)
{
    if (!loop_ || stopped_->load()) return false;
    auto *job = new Job{{}, fd, std::move(done), stopped_, {}};
    job->req.data = job;
    int rc = uv_queue_work(
        loop_, &job->req,
        [](uv_work_t *req) { // threadpool: only the descriptor and the job's own string
            auto *j = static_cast<Job *>(req->data);
            j->etag = etag_of_file(j->fd, j->stopped.get());
        },
        [](uv_work_t *req, int status) { // loop thread
            std::unique_ptr<Job> j(static_cast<Job *>(req->data));
            if (status == 0 && !j->stopped->load() && !j->etag.empty()) j->done(std::move(j->etag));
        });
    if (rc != 0) {
        delete job;
        return false;
    }
    return true;
}

void BackgroundHasher::stop() noexcept
{
    stopped_->store(true);
}

} // namespace berth::edge
