// File cache fills: open beneath the deployment root, hash the content for the ETag, pre-build
// the header lines, on the libuv threadpool. This is the cold path; the hot path is one
// hash-map lookup.
#include "edge/cache/file_cache.h"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <optional>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "edge/cache/file_etag.h"
#include "edge/cache/mime_types.h"
#include "edge/io/resident_pages.h"
#include "shared/http/http_date.h"
#include "shared/http/response_writer.h"

namespace berth::edge
{

namespace
{

// "/a/b" → "a/b", "/" → "." (NUL-terminated in buf); false when it does not fit.
bool relative_path(std::string_view path, char (&buf)[PATH_MAX])
{
    std::string_view rel = path.substr(path.find_first_not_of('/') == std::string_view::npos
                                           ? path.size()
                                           : path.find_first_not_of('/'));
    if (rel.empty()) rel = ".";
    if (rel.size() >= sizeof buf) return false;
    std::memcpy(buf, rel.data(), rel.size());
    buf[rel.size()] = '\0';
    return true;
}

// What a cache fill works with, and where it runs.
struct Fill {
    const CacheLimits &limits;
    const std::shared_ptr<BodyMemory> &memory;
    DigestMemo *digests;
    // On the threadpool a fill may wait for the disk: the request waits off the loop anyway.
    // Inline on a loop thread it may not: cold files are left to the threadpool then.
    bool may_wait_for_disk;
};

// Reads a regular file into body (small, and while the worker's memory_bytes allow) or keeps
// its descriptor. Takes fd.
bool fill_body(FileBody &body, int fd, uint64_t size, const Fill &fill)
{
    body.size = size;
    // Up to a few hundred KiB one copy into the socket costs less CPU than sendfile's page
    // splicing (100 KiB: 22.4k → 25.9k requests per CPU second, #2). A file not in the page
    // cache is read only where waiting for the disk is allowed; elsewhere it stays a
    // descriptor, whose windows the OutputQueue reads in on the threadpool before sending.
    body.cold = !pages_resident(fd, 0, size);
    if (size <= fill.limits.small_body_bytes && (!body.cold || fill.may_wait_for_disk) &&
        (body.charge = BodyCharge::take(fill.memory, size))) {
        body.cold = false; // read in below
        body.data.resize(size);
        size_t got = 0;
        while (got < size) {
            ssize_t n = pread(fd, body.data.data() + got, size - got, off_t(got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += size_t(n);
        }
        close(fd);
        if (got != size) return false;
    } else {
        body.fd = fd;
        // Start reading the file into the page cache now, asynchronously, so later sendfile()
        // calls on the loop thread find its pages there instead of waiting on the disk.
        posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    }
    return true;
}

void build_headers(FileBody &body, const FileEntry &entry, bool has_variants)
{
    shared::http::ResponseWriter w(body.headers);
    w.header("Content-Type", entry.content_type);
    w.header("Content-Length", body.size);
    w.header("Last-Modified", entry.last_modified);
    if (!body.etag.empty()) w.header("ETag", body.etag);
    w.raw("Accept-Ranges: bytes\r\n");
    if (!body.encoding.empty()) w.header("Content-Encoding", body.encoding);
    if (has_variants) w.raw("Vary: Accept-Encoding\r\n");
    w.raw("X-Content-Type-Options: nosniff\r\n");
}

// A precompressed sibling ("app.js.br"), when it is a regular file beneath the root.
std::unique_ptr<FileBody> load_variant(int dir_fd, const char *rel, const char *suffix,
                                       std::string_view encoding, const Fill &fill)
{
    char name[PATH_MAX];
    if (std::snprintf(name, sizeof name, "%s%s", rel, suffix) >= int(sizeof name)) return nullptr;
    int fd = open_beneath(dir_fd, name, O_RDONLY | O_NOCTTY);
    if (fd < 0) return nullptr;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nullptr;
    }
    auto body = std::make_unique<FileBody>();
    body->encoding = encoding;
    if (!fill_body(*body, fd, uint64_t(st.st_size), fill)) return nullptr;
    return body;
}

int open_fallback(int dir_fd, const char *rel, int flags)
{
    // Kernels without openat2: open, then check where the descriptor really points.
    int fd = openat(dir_fd, rel, flags | O_CLOEXEC);
    if (fd < 0) return fd;
    char link[64], dir_path[PATH_MAX], file_path[PATH_MAX];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", dir_fd);
    ssize_t dn = readlink(link, dir_path, sizeof dir_path - 1);
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t fn = readlink(link, file_path, sizeof file_path - 1);
    if (dn <= 0 || fn <= 0) {
        close(fd);
        errno = EACCES;
        return -1;
    }
    std::string_view d(dir_path, size_t(dn)), f(file_path, size_t(fn));
    if (!(f == d || (f.starts_with(d) && (d == "/" || f[d.size()] == '/')))) {
        close(fd);
        errno = EXDEV;
        return -1;
    }
    return fd;
}

// The ETag now when it is cheap: a body in memory, a digest already known, or a file up to
// inline_hash_bytes that is warm or may be waited for. Larger files (and cold ones inline)
// keep theirs empty for the background hasher.
void etag_if_cheap(FileBody &body, const FileEntry &entry, const Fill &fill)
{
    if (body.in_memory()) {
        body.etag = etag_of_bytes(body.data.data(), body.data.size());
    } else {
        DigestMemo *digests = fill.digests;
        std::optional<DigestMemo::Key> key = digests ? DigestMemo::key_of(body.fd) : std::nullopt;
        if (key)
            if (std::optional<std::string> known = digests->find(*key)) body.etag = *known;
        if (body.etag.empty() && body.size <= fill.limits.inline_hash_bytes &&
            (!body.cold || fill.may_wait_for_disk)) {
            body.etag = etag_of_file(body.fd);
            if (key && !body.etag.empty()) digests->put(*key, body.etag);
        }
    }
    build_headers(body, entry, entry.has_variants);
}

// Everything a cache fill needs from the disk. Runs on the threadpool (or inline without a
// loop): it touches only its own entry, the thread-safe memory budget and digest memo.
std::shared_ptr<FileEntry> read_entry(int dir_fd, std::string_view path, uint64_t now_ms,
                                      const Fill &fill)
{
    auto entry = std::make_shared<FileEntry>();
    entry->checked_ms = now_ms;
    char rel[PATH_MAX];
    if (!relative_path(path, rel)) return entry;
    int fd = open_beneath(dir_fd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return entry;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return entry;
    }
    entry->dev = st.st_dev;
    entry->ino = st.st_ino;
    entry->stat_size = st.st_size;
    entry->stat_mtime_ns = st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        entry->kind = FileEntry::Kind::kDirectory;
        return entry;
    }
    if (!S_ISREG(st.st_mode)) { // fifos, devices, sockets: never served
        close(fd);
        return entry;
    }
    // Regular-file reads never block on O_NONBLOCK, but clear it for clarity of intent.
    fcntl(fd, F_SETFL, 0);
    entry->kind = FileEntry::Kind::kFile;
    entry->content_type = content_type_for(path_extension(path));
    entry->html = is_html_type(entry->content_type);
    entry->hashed_name = is_content_hashed_name(path);
    entry->mtime = st.st_mtim.tv_sec;
    char date[shared::http::kHttpDateLength];
    shared::http::format_http_date(entry->mtime, date);
    entry->last_modified.assign(date, sizeof date);
    if (!fill_body(entry->identity, fd, uint64_t(st.st_size), fill)) {
        entry->kind = FileEntry::Kind::kMissing;
        return entry;
    }
    entry->br = load_variant(dir_fd, rel, ".br", "br", fill);
    entry->gzip = load_variant(dir_fd, rel, ".gz", "gzip", fill);
    entry->has_variants = entry->br || entry->gzip;
    etag_if_cheap(entry->identity, *entry, fill);
    if (entry->br) etag_if_cheap(*entry->br, *entry, fill);
    if (entry->gzip) etag_if_cheap(*entry->gzip, *entry, fill);
    return entry;
}

// The look at `key` a request waits for: the one under way, or a new one `start` queues.
// Null when the threadpool refused it: the caller does the work inline.
template <class Start>
FileLoadRef join_or_start(PendingLooks &looks, std::string_view key, Start start)
{
    auto [slot, first] = looks.try_emplace(std::string(key));
    if (!first) return slot->second;
    slot->second = std::make_shared<FileLoad>();
    if (start(slot->second)) return slot->second;
    looks.erase(slot);
    return nullptr;
}

// Whether something checked at `checked_ms` is due for another look. A time at or before the
// check never is: a request that waited for a look uses its answer, however long it took.
bool due(uint64_t now_ms, uint64_t checked_ms, uint64_t interval_ms)
{
    return now_ms > checked_ms && now_ms - checked_ms >= interval_ms;
}

// Whether the file behind a cached entry is still the one it describes (quick mode, where a
// directory may be edited by hand). Reads only the entry's stat identity, which never changes
// once the entry is built: safe on the threadpool.
bool unchanged_on_disk(int dir_fd, const FileEntry &e, std::string_view path)
{
    char rel[PATH_MAX];
    if (!relative_path(path, rel)) return true;
    struct stat st;
    if (fstatat(dir_fd, rel, &st, 0) != 0) return e.kind == FileEntry::Kind::kMissing;
    if (e.kind == FileEntry::Kind::kMissing) return false;
    return e.dev == st.st_dev && e.ino == st.st_ino && e.stat_size == st.st_size &&
           e.stat_mtime_ns == st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

} // namespace

int open_beneath(int dir_fd, const char *rel, int flags) noexcept
{
    static std::atomic<bool> have_openat2{true}; // loads run on threadpool threads too
    if (have_openat2.load(std::memory_order_relaxed)) {
        struct open_how how {
        };
        how.flags = uint64_t(flags | O_CLOEXEC);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        long fd = syscall(SYS_openat2, dir_fd, rel, &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS) return int(fd);
        have_openat2.store(false, std::memory_order_relaxed);
    }
    return open_fallback(dir_fd, rel, flags);
}

bool is_content_hashed_name(std::string_view path) noexcept
{
    size_t slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    size_t ext = name.rfind('.');
    if (ext == std::string_view::npos || ext == 0) return false;
    std::string_view stem = name.substr(0, ext);
    // The last '.' or '-' separated token of the stem is the hash: 8+ chars, with a digit.
    size_t sep = stem.find_last_of(".-");
    if (sep == std::string_view::npos) return false;
    std::string_view token = stem.substr(sep + 1);
    if (token.size() < 8 || token.size() > 64) return false;
    bool digit = false;
    for (char c : token) {
        bool alnum =
            (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alnum) return false;
        digit |= (c >= '0' && c <= '9');
    }
    return digit;
}

FileBody::~FileBody()
{
    if (fd >= 0) close(fd);
}

struct DirFd {
    explicit DirFd(int f) noexcept : fd(f) {}
    DirFd(const DirFd &) = delete;
    DirFd &operator=(const DirFd &) = delete;
    ~DirFd()
    {
        if (fd >= 0) close(fd);
    }
    int fd;
};

// A look at the disk on the threadpool that requests wait for (a FileLoad): beneath which
// directory, at which path, started when on the caller's clock and on the loop's.
struct DiskLook {
    DiskLook(uv_loop_t *loop, std::shared_ptr<const DirFd> d, std::string_view p, uint64_t now,
             FileLoadRef l)
        : dir(std::move(d)), path(p), now_ms(now), started_loop_ms(uv_now(loop)), load(std::move(l))
    {
    }
    // When the look counts as done on the caller's clock: its start plus the time the loop saw
    // pass, so the requests it wakes (handled again at once) find it current.
    uint64_t finished_ms(uv_loop_t *loop) const
    {
        return now_ms + (uv_now(loop) - started_loop_ms);
    }

    uv_work_t req{};
    std::shared_ptr<const DirFd> dir;
    std::string path;
    uint64_t now_ms;
    uint64_t started_loop_ms;
    FileLoadRef load;
};

struct Site::LoadJob : DiskLook {
    using DiskLook::DiskLook;
    CacheLimits limits;
    std::shared_ptr<BodyMemory> memory;
    DigestMemo *digests = nullptr;
    std::shared_ptr<Site *> site;
    FileEntryRef current; // a revalidation: the entry to check against the disk
    // The threadpool's result: current still describes the file, or a new entry.
    bool unchanged = false;
    std::shared_ptr<FileEntry> entry;
};

Site::Site(std::string dir, int dir_fd, std::shared_ptr<BodyMemory> memory,
           BackgroundHasher *hasher, DigestMemo *digests, uv_loop_t *loop)
    : dir_(std::move(dir)), dir_fd_(std::make_shared<const DirFd>(dir_fd)),
      memory_(std::move(memory)), hasher_(hasher), digests_(digests), loop_(loop),
      self_(std::make_shared<Site *>(this))
{
}

Site::~Site()
{
    *self_ = nullptr; // loads still in flight wake their waiters and drop their entries
}

FileEntryRef Site::lookup(std::string_view path, uint64_t now_ms, const CacheLimits &limits,
                          FileLoadRef *pending)
{
    FileEntryRef stale; // due for a look at the disk
    auto it = files_.find(path);
    if (it != files_.end()) {
        const FileEntry &e = *it->second;
        // A small file kept as a descriptor because it was not in the page cache is loaded
        // into memory once the OutputQueue has found its pages in (it checks before sending).
        const FileBody &b = e.identity;
        bool warmed = b.cold && b.resident_checked_ms != 0 && b.size <= limits.small_body_bytes;
        if (!warmed) {
            if (limits.revalidate_ms == 0 || !due(now_ms, e.checked_ms, limits.revalidate_ms))
                return it->second;
            stale = it->second;
        }
    }
    if (pending && loop_) {
        // A revalidation's fstatat goes to the threadpool too: the request waits for it
        // (and for the new content if the file changed), the loop does not.
        *pending = join_or_start(loading_, path, [&](const FileLoadRef &load) {
            return start_load(path, now_ms, limits, load, stale);
        });
        if (*pending) return nullptr;
    }
    if (stale && unchanged_on_disk(dir_fd_->fd, *stale, path)) {
        stale->checked_ms = now_ms;
        return stale;
    }
    std::shared_ptr<FileEntry> fresh =
        read_entry(dir_fd_->fd, path, now_ms, Fill{limits, memory_, digests_, !loop_});
    install(path, fresh, limits);
    return fresh;
}

bool Site::start_load(std::string_view path, uint64_t now_ms, const CacheLimits &limits,
                      FileLoadRef load, FileEntryRef current)
{
    auto *job = new LoadJob(loop_, dir_fd_, path, now_ms, std::move(load));
    job->limits = limits;
    job->memory = memory_;
    job->digests = digests_;
    job->site = self_;
    job->current = std::move(current);
    job->req.data = job;
    int rc = uv_queue_work(
        loop_, &job->req,
        [](uv_work_t *req) { // threadpool
            auto *j = static_cast<LoadJob *>(req->data);
            j->unchanged = j->current && unchanged_on_disk(j->dir->fd, *j->current, j->path);
            if (!j->unchanged)
                j->entry = read_entry(j->dir->fd, j->path, j->now_ms,
                                      Fill{j->limits, j->memory, j->digests, true});
        },
        [](uv_work_t *req, int) { // loop thread
            std::unique_ptr<LoadJob> j(static_cast<LoadJob *>(req->data));
            if (Site *site = *j->site) {
                site->loading_.erase(j->path);
                uint64_t checked = j->finished_ms(site->loop_);
                if (j->unchanged) {
                    site->keep(j->path, j->current, checked, j->limits);
                } else if (j->entry) {
                    j->entry->checked_ms = checked;
                    site->install(j->path, j->entry, j->limits);
                }
            }
            j->load->wake();
        });
    if (rc != 0) {
        delete job;
        return false;
    }
    return true;
}

void Site::install(std::string_view path, const std::shared_ptr<FileEntry> &entry,
                   const CacheLimits &limits)
{
    hash_later(entry, entry->identity);
    if (entry->br) hash_later(entry, *entry->br);
    if (entry->gzip) hash_later(entry, *entry->gzip);
    auto it = files_.find(path);
    if (it != files_.end())
        it->second = entry;
    else
        add(path, entry, limits);
}

void Site::keep(std::string_view path, const FileEntryRef &entry, uint64_t checked_ms,
                const CacheLimits &limits)
{
    entry->checked_ms = checked_ms;
    if (files_.find(path) == files_.end()) add(path, entry, limits); // else there, or replaced
}

void Site::add(std::string_view path, FileEntryRef entry, const CacheLimits &limits)
{
    if (files_.size() >= limits.max_entries_per_site) files_.clear();
    files_.emplace(std::string(path), std::move(entry));
}

void Site::hash_later(const std::shared_ptr<FileEntry> &entry, FileBody &body)
{
    if (entry->kind != FileEntry::Kind::kFile || !body.etag.empty() || body.in_memory()) return;
    std::optional<DigestMemo::Key> key;
    if (digests_) key = DigestMemo::key_of(body.fd);
    // The done callback holds the entry, and with it the descriptor being hashed. It runs
    // on this loop's thread, between requests: nothing reads the strings it rewrites.
    if (hasher_ &&
        hasher_->submit(body.fd, [entry, b = &body, digests = digests_, key](std::string etag) {
            if (digests && key) digests->put(*key, etag);
            b->etag = std::move(etag);
            b->headers.clear();
            build_headers(*b, *entry, entry->has_variants);
        }))
        return;
    body.etag = etag_of_file(body.fd); // no threadpool (unit tests)
    if (key && !body.etag.empty()) digests_->put(*key, body.etag);
    body.headers.clear();
    build_headers(body, *entry, entry->has_variants);
}

FileCache::FileCache(std::string deployments_root, CacheLimits limits, uv_loop_t *loop,
                     DigestMemo *digests)
    : root_(std::move(deployments_root)), limits_(limits),
      memory_(std::make_shared<BodyMemory>(limits.memory_bytes)), loop_(loop), hasher_(loop),
      digests_(digests), self_(std::make_shared<FileCache *>(this))
{
    open_root();
}

void FileCache::open_root() noexcept
{
    int fd = open(root_.empty() ? "." : root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) root_fd_ = std::make_shared<const DirFd>(fd);
}

bool FileCache::root_open(uint64_t now_ms)
{
    if (root_fd_) return true;
    // Missing at startup (created or mounted later): look again at most once per interval.
    uint64_t interval = limits_.revalidate_ms ? limits_.revalidate_ms : 1000;
    if (now_ms - root_checked_ms_ < interval) return false;
    root_checked_ms_ = now_ms;
    open_root();
    return root_fd_ != nullptr;
}

FileCache::~FileCache()
{
    *self_ = nullptr; // opens still in flight wake their waiters and close what they opened
}

void FileCache::clear()
{
    sites_.clear();
    opening_.clear();
    ++generation_;
}

Site *FileCache::site(std::string_view rel_dir, uint64_t now_ms, FileLoadRef *pending)
{
    auto it = sites_.find(rel_dir);
    if (it != sites_.end()) {
        SiteSlot &slot = it->second;
        if (slot.site) return slot.site.get();
        // With revalidate_ms = 0 a missing directory is looked for again at every new
        // millisecond, but a request woken by a look uses its answer.
        if (!due(now_ms, slot.checked_ms, limits_.revalidate_ms)) return nullptr;
    }
    if (!root_open(now_ms) || rel_dir.empty() || rel_dir.size() >= PATH_MAX) return nullptr;
    if (pending && loop_) {
        *pending = join_or_start(opening_, rel_dir, [&](const FileLoadRef &load) {
            return start_open(rel_dir, now_ms, load);
        });
        if (*pending) return nullptr;
    }
    std::string rel(rel_dir);
    return install_site(rel_dir, open_beneath(root_fd_->fd, rel.c_str(), O_PATH | O_DIRECTORY),
                        now_ms);
}

struct FileCache::OpenJob : DiskLook {
    using DiskLook::DiskLook;
    uint64_t generation = 0;
    std::shared_ptr<FileCache *> cache;
    int fd = -1; // the threadpool's result
};

bool FileCache::start_open(std::string_view rel_dir, uint64_t now_ms, FileLoadRef load)
{
    auto *job = new OpenJob(loop_, root_fd_, rel_dir, now_ms, std::move(load));
    job->generation = generation_;
    job->cache = self_;
    job->req.data = job;
    int rc = uv_queue_work(
        loop_, &job->req,
        [](uv_work_t *req) { // threadpool
            auto *j = static_cast<OpenJob *>(req->data);
            j->fd = open_beneath(j->dir->fd, j->path.c_str(), O_PATH | O_DIRECTORY);
        },
        [](uv_work_t *req, int) { // loop thread
            std::unique_ptr<OpenJob> j(static_cast<OpenJob *>(req->data));
            FileCache *cache = *j->cache;
            if (cache) {
                auto it = cache->opening_.find(j->path);
                if (it != cache->opening_.end() && it->second == j->load) cache->opening_.erase(it);
            }
            if (cache && cache->generation_ == j->generation)
                cache->install_site(j->path, j->fd, j->finished_ms(cache->loop_));
            else if (j->fd >= 0) // the cache is gone or was cleared: the next request looks again
                close(j->fd);
            j->load->wake();
        });
    if (rc != 0) {
        delete job;
        return false;
    }
    return true;
}

Site *FileCache::install_site(std::string_view rel_dir, int fd, uint64_t now_ms)
{
    SiteSlot slot;
    slot.checked_ms = now_ms;
    if (fd >= 0)
        slot.site = std::make_unique<Site>(root_ + "/" + std::string(rel_dir), fd, memory_,
                                           &hasher_, digests_, loop_);
    if (sites_.size() >= 4096) sites_.clear(); // unknown names must not grow memory forever
    Site *result = slot.site.get();
    sites_.insert_or_assign(std::string(rel_dir), std::move(slot));
    return result;
}

} // namespace berth::edge
