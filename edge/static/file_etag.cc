#include "edge/static/file_etag.h"

#include <cerrno>
#include <unistd.h>

#include "shared/base/content_hash.h"

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

std::string etag_of_file(int fd, const std::atomic<bool> *stop)
{
    shared::ContentHash hash;
    char buf[64 * 1024];
    off_t off = 0;
    while (true) {
        if (stop && stop->load(std::memory_order_relaxed)) return {};
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return {};
        if (n == 0) break;
        hash.update(buf, size_t(n));
        off += n;
    }
    return quoted(hash);
}

} // namespace berth::edge
