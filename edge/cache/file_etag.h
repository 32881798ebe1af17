// Content-derived ETags: a digest of the bytes, so an unchanged file keeps its ETag across
// redeploys and clients keep getting 304s.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <sys/types.h>

#include "shared/base/content_hash.h"

namespace berth::edge
{

// The quoted ETag of a body held in memory.
std::string etag_of_bytes(const char *data, size_t len);

// The digest of a file read from start to end in steps of any size, so a huge file can be
// hashed in slices (each its own threadpool job) instead of holding a thread for its length.
class FileDigest
{
public:
    enum class Step { kMore, kDone, kFailed };
    // Reads (with pread: the descriptor may be shared) and hashes up to max_bytes more.
    Step advance(int fd, size_t max_bytes);
    // The quoted ETag, once advance() said kDone.
    std::string etag() const;

private:
    shared::ContentHash hash_;
    off_t offset_ = 0;
};

// The quoted ETag of the whole file behind fd. Empty when reading fails, or when *stop turns
// true part-way (shutdown).
std::string etag_of_file(int fd, const std::atomic<bool> *stop = nullptr);

} // namespace berth::edge
