// Content hashes of large files, computed on the libuv threadpool so that the first request
// for a multi-gigabyte file never stalls its worker loop (#2: large files go out "without
// blocking the loop"). The caller serves the file meanwhile without an ETag (Last-Modified
// still validates) and fills the ETag in when `done` runs, back on the loop thread.
//
// A file is hashed in slices, each its own threadpool job queued behind whatever came in
// meanwhile: the pool (4 threads, shared by every worker) is where first sights of files are
// loaded too, and a few huge files hashed whole would make those wait for seconds.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <uv.h>

namespace berth::edge
{

class BackgroundHasher
{
public:
    // Receives the quoted ETag on the loop thread. Not called after stop() or on failure.
    using Done = std::function<void(std::string etag)>;

    static constexpr size_t kSliceBytes = 8 << 20; // ~10 ms of hashing from the page cache

    // loop may be null: submit() then refuses and the caller hashes inline (unit tests).
    explicit BackgroundHasher(uv_loop_t *loop, size_t slice_bytes = kSliceBytes) noexcept;
    BackgroundHasher(const BackgroundHasher &) = delete;
    BackgroundHasher &operator=(const BackgroundHasher &) = delete;
    ~BackgroundHasher();

    // Hashes the file behind fd on the threadpool. `done` must keep fd open (it holds the
    // cache entry that owns it) until it is destroyed. False when there is no loop.
    bool submit(int fd, Done done);
    // Jobs in flight end at their next chunk and their results are dropped. Irreversible:
    // used when the worker drains, so a huge file's hash does not hold up a graceful stop.
    void stop() noexcept;

private:
    struct Job;
    // Queues the job's next slice; false if the threadpool refused it.
    static bool queue(Job *job);

    uv_loop_t *loop_;
    size_t slice_bytes_;
    std::shared_ptr<std::atomic<bool>> stopped_;
};

} // namespace berth::edge
