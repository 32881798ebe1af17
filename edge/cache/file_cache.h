// Per-worker cache of file metadata, validators, pre-built headers and small bodies.
//
// Deployment directories are immutable once published (DESIGN.md), so an entry lives for the
// life of the route table without re-checking the disk; a cheap fstatat() at most every
// `revalidate_ms` (on the threadpool, like every fill) protects quick mode, where an operator
// may still edit a directory by hand.
// Each worker owns its own cache: no locks on the request path.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <unordered_map>
#include <vector>

#include <uv.h>

#include "edge/cache/background_hasher.h"
#include "edge/cache/body_memory.h"
#include "edge/cache/digest_memo.h"
#include "edge/io/wake_list.h"
#include "shared/route/route_table.h"

namespace berth::edge
{

struct CacheLimits {
    uint64_t small_body_bytes = 256 * 1024; // bodies up to this size are kept in memory
    uint64_t memory_bytes = 32 << 20;       // while all the worker's bodies fit in this
    size_t max_entries_per_site = 20000;    // past this a site's entries are dropped and rebuilt
    uint64_t revalidate_ms = 1000;          // 0: never re-check (immutable deployments)
    // Larger files are hashed for their ETag on the threadpool, not on the loop thread.
    uint64_t inline_hash_bytes = 1024 * 1024;
};

// One representation of a file: the identity bytes or a precompressed sibling.
struct FileBody {
    FileBody() = default;
    FileBody(const FileBody &) = delete;
    FileBody &operator=(const FileBody &) = delete;
    ~FileBody();

    uint64_t size = 0;
    std::string etag;          // quoted, from the content; empty while hashed in background
    std::string data;          // the whole body when size <= small_body_bytes (and it fits)
    BodyCharge charge;         // data's bytes, counted against memory_bytes
    int fd = -1;               // otherwise an open descriptor, sent with sendfile
    bool cold = false;         // not all in the page cache when loaded: hashed off the loop
    std::string headers;       // pre-built 200 header lines (type, length, validators, encoding)
    std::string_view encoding; // "", "br" or "gzip"
    // When a file of up to one send window was last found whole in the page cache (the
    // OutputQueue's check; loop thread only, like the rest of the worker's cache).
    mutable uint64_t resident_checked_ms = 0;
    bool in_memory() const noexcept { return fd < 0; }
};

struct FileEntry {
    enum class Kind : uint8_t { kMissing, kFile, kDirectory };
    Kind kind = Kind::kMissing;
    std::string_view content_type;
    bool html = false;
    bool hashed_name = false;  // content-hashed asset name: cache forever
    bool has_variants = false; // a .br or .gz sibling exists: responses carry Vary
    std::time_t mtime = 0;
    std::string last_modified; // IMF-fixdate of mtime
    FileBody identity;
    std::unique_ptr<FileBody> br;
    std::unique_ptr<FileBody> gzip;

    // For revalidation.
    mutable uint64_t checked_ms = 0; // refreshed on revalidation by the owning worker only
    dev_t dev = 0;
    ino_t ino = 0;
    off_t stat_size = 0;
    std::time_t stat_mtime_ns = 0;
};

using FileEntryRef = std::shared_ptr<const FileEntry>;

// A cache fill under way on the libuv threadpool (open, stat, small body, ETag), so that a
// worker loop never waits on the disk for a file it has not seen. Requests that need the
// file wait on it and look it up again once it is in the cache.
using FileLoad = WakeList;
using FileLoadRef = WakeRef;
// Looks under way, by path or directory: requests that need the same one share it.
using PendingLooks =
    std::unordered_map<std::string, FileLoadRef, shared::route::StringHash, std::equal_to<>>;

// A directory descriptor shared with the threadpool jobs that use it, closed by the last.
struct DirFd;

// The files of one deployment directory.
class Site
{
public:
    // hasher may be null: every ETag is then computed inline. digests may be null: large
    // files are then hashed by this site alone. loop may be null: files are then loaded
    // inline by lookup().
    Site(std::string dir, int dir_fd, std::shared_ptr<BodyMemory> memory, BackgroundHasher *hasher,
         DigestMemo *digests = nullptr, uv_loop_t *loop = nullptr);
    Site(const Site &) = delete;
    Site &operator=(const Site &) = delete;
    ~Site();

    // `path` is a normalised request path ("/", "/a/b.js"). Symlinks that lead outside the
    // directory count as missing. A file not in the cache is loaded on the threadpool when
    // the site has a loop and the caller passes `pending`: lookup() then returns null and
    // *pending is the load to wait for. Otherwise it loads the file here and never returns
    // null.
    FileEntryRef lookup(std::string_view path, uint64_t now_ms, const CacheLimits &limits,
                        FileLoadRef *pending = nullptr);

    const std::string &dir() const noexcept { return dir_; }

private:
    struct LoadJob;

    // Queues the load of path on the threadpool, or with `current` its revalidation (a new
    // load only if the file changed); false if it cannot be queued.
    bool start_load(std::string_view path, uint64_t now_ms, const CacheLimits &limits,
                    FileLoadRef load, FileEntryRef current = nullptr);
    // Loop thread: ETags the threadpool left to the background hasher, then into the cache.
    void install(std::string_view path, const std::shared_ptr<FileEntry> &entry,
                 const CacheLimits &limits);
    // Loop thread: a revalidated entry found unchanged, good for another revalidate_ms.
    void keep(std::string_view path, const FileEntryRef &entry, uint64_t checked_ms,
              const CacheLimits &limits);
    // A path not in the cache yet; past max_entries_per_site the site starts over.
    void add(std::string_view path, FileEntryRef entry, const CacheLimits &limits);
    // Hands a body without an ETag to the background hasher (or hashes it here without one).
    void hash_later(const std::shared_ptr<FileEntry> &entry, FileBody &body);

    std::string dir_;
    std::shared_ptr<const DirFd> dir_fd_; // held by loads in flight too
    std::shared_ptr<BodyMemory> memory_;
    BackgroundHasher *hasher_;
    DigestMemo *digests_;
    uv_loop_t *loop_;
    std::shared_ptr<Site *> self_; // loads in flight find the site here, null once it is gone
    std::unordered_map<std::string, FileEntryRef, shared::route::StringHash, std::equal_to<>>
        files_;
    PendingLooks loading_;
};

// All sites a worker has seen, by directory relative to the deployments root.
class FileCache
{
public:
    // With a loop, files are loaded and large files hashed on its threadpool; without,
    // inline. With digests, a large file hashed once (by any worker, under any route table)
    // is not hashed again.
    FileCache(std::string deployments_root, CacheLimits limits, uv_loop_t *loop = nullptr,
              DigestMemo *digests = nullptr);
    FileCache(const FileCache &) = delete;
    FileCache &operator=(const FileCache &) = delete;
    ~FileCache();

    // `rel_dir` is relative to the deployments root ("myapp/d-17", "demo"). Returns null when
    // the directory does not exist (re-checked after revalidate_ms) or escapes the root. With
    // a loop and `pending`, a directory not looked at yet (or due for another look) is opened
    // on the threadpool: site() then returns null and *pending is the open to wait for.
    Site *site(std::string_view rel_dir, uint64_t now_ms, FileLoadRef *pending = nullptr);

    // Called when a new route table is installed: every entry may be stale.
    void clear();
    // The worker is draining: background hashes in flight stop early.
    void stop_background() noexcept { hasher_.stop(); }

    const CacheLimits &limits() const noexcept { return limits_; }
    size_t site_count() const noexcept { return sites_.size(); }

private:
    struct SiteSlot {
        std::unique_ptr<Site> site; // null: directory missing
        uint64_t checked_ms = 0;
    };
    struct OpenJob;
    // Queues the open of rel_dir on the threadpool; false if it cannot be queued.
    bool start_open(std::string_view rel_dir, uint64_t now_ms, FileLoadRef load);
    // The directory's descriptor (-1: missing) becomes its site, or the memory of its absence.
    Site *install_site(std::string_view rel_dir, int fd, uint64_t now_ms);
    void open_root() noexcept;
    // The root's descriptor, opened again (at most once per revalidate_ms) while it is missing.
    bool root_open(uint64_t now_ms);

    std::string root_;
    std::shared_ptr<const DirFd> root_fd_; // null while the root is missing
    uint64_t root_checked_ms_ = 0;         // while the root is missing: when it was last looked for
    CacheLimits limits_;
    std::shared_ptr<BodyMemory> memory_; // shared with the bodies, which may outlive the cache
    uv_loop_t *loop_;
    BackgroundHasher hasher_;
    DigestMemo *digests_;
    std::unordered_map<std::string, SiteSlot, shared::route::StringHash, std::equal_to<>> sites_;
    PendingLooks opening_;
    uint64_t generation_ = 0; // bumped by clear(): opens started before it are not installed
    std::shared_ptr<FileCache *> self_; // opens in flight find the cache here, null once gone
};

// True for names like "app.3f9a1b2c.js", "index-BqRt3x_Z.css", "chunk.a1b2c3d4e5f6.mjs".
bool is_content_hashed_name(std::string_view path) noexcept;

// Opens `rel` beneath dir_fd; symlinks may not leave dir_fd (openat2 RESOLVE_BENEATH).
int open_beneath(int dir_fd, const char *rel, int flags) noexcept;

} // namespace berth::edge
