#include "edge/cache/file_etag.h"

#include <cerrno>
#include <unistd.h>

namespace berth::edge
{

namespace
{
std::string quoted(const shared::ContentHash &hash)
{
    return "\"" + hash.hex() + "\"";
}
} // namespace

std::string etag_of_bytes(const char *data, size_t len)
{
    shared::ContentHash hash;
    hash.update(data, len);
    return quoted(hash);
}

FileDigest::Step FileDigest::advance(int fd, size_t max_bytes)
{
    char buf[64 * 1024];
    size_t done = 0;
    while (done < max_bytes) {
        size_t want = max_bytes - done < sizeof buf ? max_bytes - done : sizeof buf;
        ssize_t n = pread(fd, buf, want, offset_);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Step::kFailed;
        if (n == 0) return Step::kDone;
        hash_.update(buf, size_t(n));
        offset_ += n;
        done += size_t(n);
    }
    return Step::kMore;
}

std::string FileDigest::etag() const
{
    return quoted(hash_);
}

std::string etag_of_file(int fd, const std::atomic<bool> *stop)
{
    FileDigest digest;
    while (true) {
        if (stop && stop->load(std::memory_order_relaxed)) return {};
        switch (digest.advance(fd, 1 << 20)) {
        case FileDigest::Step::kMore:
            continue;
        case FileDigest::Step::kDone:
            return digest.etag();
        case FileDigest::Step::kFailed:
            return {};
        }
    }
}

} // namespace berth::edge
