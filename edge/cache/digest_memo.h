// ETags of large files already hashed, shared by every worker and kept across route-table
// swaps. Each worker's FileCache starts empty after a swap (every deploy) and workers do not
// share caches, so without this a multi-gigabyte file would be read and hashed again by each
// worker after each deploy, unchanged. Consulted when a cache entry is built, never per request.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <unordered_map>

namespace berth::edge
{

class DigestMemo
{
public:
    // What identifies unchanged bytes: the inode, its size, and its mtime and ctime (a write
    // always moves ctime, which no one can set back).
    struct Key {
        dev_t dev = 0;
        ino_t ino = 0;
        off_t size = 0;
        int64_t mtime_ns = 0;
        int64_t ctime_ns = 0;
        bool operator==(const Key &) const = default;
    };
    static constexpr size_t kMaxEntries = 16384; // past this the memo starts over

    // The key of the open file fd; nullopt if fstat fails.
    static std::optional<Key> key_of(int fd) noexcept;

    std::optional<std::string> find(const Key &key) const;
    void put(const Key &key, std::string etag);
    size_t size() const;

private:
    struct KeyHash {
        size_t operator()(const Key &k) const noexcept;
    };
    mutable std::mutex mutex_; // workers fill entries at cache misses only
    std::unordered_map<Key, std::string, KeyHash> etags_;
};

} // namespace berth::edge
