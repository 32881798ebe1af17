#include "edge/cache/digest_memo.h"

#include <functional>
#include <sys/stat.h>

namespace berth::edge
{

std::optional<DigestMemo::Key> DigestMemo::key_of(int fd) noexcept
{
    struct stat st;
    if (fstat(fd, &st) != 0) return std::nullopt;
    Key k;
    k.dev = st.st_dev;
    k.ino = st.st_ino;
    k.size = st.st_size;
    k.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    k.ctime_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return k;
}

size_t DigestMemo::KeyHash::operator()(const Key &k) const noexcept
{
    size_t h = std::hash<uint64_t>()(uint64_t(k.ino));
    for (uint64_t v :
         {uint64_t(k.dev), uint64_t(k.size), uint64_t(k.mtime_ns), uint64_t(k.ctime_ns)})
        h ^= std::hash<uint64_t>()(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

std::optional<std::string> DigestMemo::find(const Key &key) const
{
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = etags_.find(key);
    if (it == etags_.end()) return std::nullopt;
    return it->second;
}

void DigestMemo::put(const Key &key, std::string etag)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (etags_.size() >= kMaxEntries) etags_.clear();
    etags_.insert_or_assign(key, std::move(etag));
}

size_t DigestMemo::size() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return etags_.size();
}

} // namespace berth::edge
