#include "edge/fleet/archive_download.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <stdexcept>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <hiredis/hiredis.h>

#include "shared/archive/tarball.h"
#include "shared/fleet/archive_chunks.h"
#include "shared/fleet/signature.h"

namespace berth::edge
{

namespace fs = std::filesystem;

namespace
{

// Deployments are whole static sites: larger than an upload, still bounded against a hostile
// archive in Redis.
shared::TarballLimits fleet_limits()
{
    shared::TarballLimits limits;
    limits.max_unpacked_bytes = 4ull << 30;
    limits.max_entries = 500000;
    return limits;
}
constexpr uint64_t kMaxArchiveBytes = 4ull << 30; // gzip'd: never more than what it unpacks to

bool is_dir(const fs::path &p)
{
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool parse_count(const redisReply *r, uint64_t &out)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 19) return false;
    out = 0;
    for (size_t i = 0; i < r->len; ++i) {
        if (r->str[i] < '0' || r->str[i] > '9') return false;
        out = out * 10 + uint64_t(r->str[i] - '0');
    }
    return true;
}

constexpr size_t kStageIdChars = 16;

// "<name>.partial-<16 hex>": a stage beside the root `name`, and nothing else.
bool is_stage_of(const std::string &entry, const std::string &name)
{
    std::string prefix = name + ".partial-";
    if (entry.size() != prefix.size() + kStageIdChars || entry.compare(0, prefix.size(), prefix))
        return false;
    for (size_t i = prefix.size(); i < entry.size(); ++i)
        if (!std::isxdigit(static_cast<unsigned char>(entry[i]))) return false;
    return true;
}

// Stages beside `dest` that nobody holds: left by a process that stopped mid-download. A live
// download holds an flock on its stage, whichever process (or pid namespace) it runs in, so
// edges sharing a deployments_root never take each other's stages for stale ones.
void remove_stale_stages(const fs::path &dest)
{
    std::error_code ec;
    std::string name = dest.filename().string();
    for (const auto &entry : fs::directory_iterator(dest.parent_path(), ec)) {
        if (!is_stage_of(entry.path().filename().string(), name)) continue;
        int dir = ::open(entry.path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0) continue;
        std::error_code rm;
        if (::flock(dir, LOCK_EX | LOCK_NB) == 0) fs::remove_all(entry.path(), rm);
        ::close(dir);
    }
}

std::string random_hex(size_t chars)
{
    static const char kHex[] = "0123456789abcdef";
    std::random_device rd;
    std::string out;
    while (out.size() < chars) {
        uint32_t v = rd();
        for (int i = 0; i < 8 && out.size() < chars; ++i, v >>= 4)
            out.push_back(kHex[v & 15]);
    }
    return out;
}

} // namespace

struct ArchiveDownload::State {
    uv_loop_t *loop;
    fs::path dest;
    // "<dest>.partial-<random>": ours alone (a download abandoned a moment ago, or another
    // edge sharing deployments_root, has its own), flock'ed while in use. It holds the archive
    // as it arrives (archive.tgz) and the tree unpacked from it (tree/, renamed to dest).
    fs::path stage;
    uint64_t size = 0, chunks = 0;
    std::string signature;
    shared::fleet::ArchiveSigner signer;
    // Loop side.
    uint64_t next = 0, received = 0;
    bool job_out = false;
    bool abandoned = false;
    // Threadpool side (one job at a time; the loop reads `ended` and `installed` only between
    // jobs).
    int stage_fd = -1; // holds the flock
    int fd = -1;       // archive.tgz
    bool ended = false;
    bool installed = false;     // this download's rename put dest in place
    std::vector<fs::path> made; // parents created for this root: they go again if it fails
    fs::path base;              // deployments_root
    fs::path root;              // relative to it

    State(uv_loop_t *l, const fs::path &deployments_root, std::string_view rel,
          std::string_view key)
        : loop(l), dest(deployments_root / rel), signer(key, rel), base(deployments_root), root(rel)
    {
        stage = dest;
        stage += ".partial-" + random_hex(kStageIdChars);
    }
    ~State()
    {
        if (fd >= 0) ::close(fd);
        if (stage_fd >= 0) ::close(stage_fd);
    }

    void open_stage()
    {
        // Every directory on the way is a directory, not a symlink some tree put there: what
        // is written below deployments_root stays below it.
        fs::path p = base;
        for (const fs::path &part : root.parent_path()) {
            p /= part;
            struct stat st;
            if (::lstat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
                throw std::runtime_error(p.string() + " is not a directory");
        }
        for (fs::path q = dest.parent_path(); !q.empty() && !is_dir(q); q = q.parent_path())
            made.push_back(q);
        fs::create_directories(dest.parent_path());
        remove_stale_stages(dest);
        if (::mkdir(stage.c_str(), 0700) != 0)
            throw std::runtime_error(stage.string() + ": " + strerror(errno));
        stage_fd = ::open(stage.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (stage_fd < 0 || ::flock(stage_fd, LOCK_EX | LOCK_NB) != 0)
            throw std::runtime_error(stage.string() + ": " + strerror(errno));
        // Another edge's stale-stage sweep may have taken it in the moment before the lock.
        struct stat st;
        if (::fstat(stage_fd, &st) != 0 || st.st_nlink == 0)
            throw std::runtime_error(stage.string() + ": removed while it was being made");
        fd = ::openat(stage_fd, "archive.tgz", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0600);
        if (fd < 0) throw std::runtime_error(stage.string() + "/archive.tgz: " + strerror(errno));
    }

    void write(const std::string &chunk)
    {
        if (fd < 0) open_stage();
        for (size_t done = 0; done < chunk.size();) {
            ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error(stage.string() + ": " + strerror(errno));
            done += size_t(n);
        }
        signer.update(chunk);
    }

    // Unpacks in the stage, then one rename: the edge never serves half a deployment. Of edges
    // sharing a deployments_root, whichever renames first installs it; the others find it.
    std::string unpack()
    {
        if (received != size) return "the archive is shorter than its announced size";
        std::string problem = signer.problem(signature);
        if (!problem.empty()) return problem;
        if (is_dir(dest)) return ""; // arrived meanwhile (copied by hand, shared storage)
        fs::path tree = stage / "tree";
        try {
            fs::create_directory(tree);
            // From the file just written and signed, not from its path.
            shared::extract_tarball_fd(fd, tree, fleet_limits());
        } catch (const std::exception &e) {
            return is_dir(dest) ? "" : e.what();
        }
        if (::rename(tree.c_str(), dest.c_str()) == 0) {
            installed = true;
            return "";
        }
        if (is_dir(dest)) return ""; // another edge renamed first
        return dest.string() + ": " + strerror(errno);
    }

    // The end, whatever it was: the stage goes (the lock with it), and on failure the
    // parents made for it.
    void clean_up(bool failed)
    {
        ended = true;
        if (fd >= 0) ::close(fd);
        fd = -1;
        std::error_code ec;
        if (stage_fd >= 0) fs::remove_all(stage, ec);
        if (stage_fd >= 0) ::close(stage_fd);
        stage_fd = -1;
        if (failed && !is_dir(dest))
            for (const fs::path &p : made)
                fs::remove(p, ec); // only while empty
    }
};

std::unique_ptr<ArchiveDownload>
ArchiveDownload::start(uv_loop_t *loop, const fs::path &deployments_root, std::string_view root,
                       const redisReply *head, std::string_view signing_key, std::string &error)
{
    error.clear();
    if (head->type != REDIS_REPLY_ARRAY || head->elements != 3) {
        error = "not an archive hash in redis";
        return nullptr;
    }
    // No size yet: not published (control writes it last), or not at all when its [edges]
    // distribute_files is off. The heartbeat asks again.
    if (head->element[0]->type == REDIS_REPLY_NIL) return nullptr;
    auto state = std::make_shared<State>(loop, deployments_root, root, signing_key);
    if (!parse_count(head->element[0], state->size) ||
        !parse_count(head->element[1], state->chunks) || state->size == 0 || state->chunks == 0 ||
        state->chunks > state->size || state->size > kMaxArchiveBytes ||
        state->size > state->chunks * uint64_t(shared::fleet::kMaxArchiveChunkBytes)) {
        error = "the archive's size or chunk count in redis is not valid";
        return nullptr;
    }
    if (head->element[2]->type == REDIS_REPLY_STRING)
        state->signature.assign(head->element[2]->str, head->element[2]->len);
    return std::unique_ptr<ArchiveDownload>(new ArchiveDownload(std::move(state)));
}

ArchiveDownload::ArchiveDownload(std::shared_ptr<State> state) : state_(std::move(state)) {}

uint64_t ArchiveDownload::next_chunk() const
{
    return state_->next;
}

bool ArchiveDownload::all_received() const
{
    return state_->next == state_->chunks;
}

bool ArchiveDownload::installed() const
{
    return state_->installed;
}

ArchiveDownload::ChunkLength ArchiveDownload::chunk_length(const redisReply *r) const
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) return ChunkLength::kInvalid;
    if (r->integer == 0) return ChunkLength::kAbsent; // HSTRLEN of a missing field
    return chunk_fits(uint64_t(r->integer)) ? ChunkLength::kFine : ChunkLength::kInvalid;
}

bool ArchiveDownload::chunk_fits(uint64_t n) const
{
    return n > 0 && n <= shared::fleet::kMaxArchiveChunkBytes &&
           state_->received + n <= state_->size;
}

bool ArchiveDownload::take(const redisReply *chunk, Done done)
{
    if (chunk->type == REDIS_REPLY_NIL) return false;
    State &s = *state_;
    if (chunk->type != REDIS_REPLY_STRING || !chunk_fits(chunk->len)) {
        done("a chunk of the archive in redis is not valid");
        return true;
    }
    ++s.next;
    s.received += chunk->len;
    run(std::string(chunk->str, chunk->len), false, std::move(done));
    return true;
}

void ArchiveDownload::finish(Done done)
{
    run({}, true, std::move(done));
}

namespace
{

struct Job {
    uv_work_t req;
    std::shared_ptr<ArchiveDownload::State> state;
    std::string chunk;
    bool finishing;
    ArchiveDownload::Done done;
    std::string error;
};

} // namespace

void ArchiveDownload::run(std::string chunk, bool finishing, Done done)
{
    auto *job = new Job{{}, state_, std::move(chunk), finishing, std::move(done), {}};
    job->req.data = job;
    state_->job_out = true;
    int rc = uv_queue_work(
        state_->loop, &job->req,
        [](uv_work_t *req) {
            auto *j = static_cast<Job *>(req->data);
            State &st = *j->state;
            try {
                if (j->finishing)
                    j->error = st.unpack();
                else
                    st.write(j->chunk);
            } catch (const std::exception &e) {
                j->error = e.what();
            }
            std::string().swap(j->chunk);
            if (j->finishing || !j->error.empty()) st.clean_up(!j->error.empty());
        },
        [](uv_work_t *req, int status) {
            std::unique_ptr<Job> j(static_cast<Job *>(req->data));
            State &st = *j->state;
            st.job_out = false;
            if (st.abandoned) {
                clean_up_later(j->state);
                return;
            }
            if (status != 0 && j->error.empty()) j->error = uv_strerror(status);
            j->done(j->error); // may end this download
        });
    if (rc != 0) {
        state_->job_out = false;
        Done failed = std::move(job->done);
        delete job;
        failed(uv_strerror(rc));
    }
}

void ArchiveDownload::clean_up_later(const std::shared_ptr<State> &state)
{
    if (state->ended || state->job_out) return; // done already, or the job under way will
    struct Cleanup {
        uv_work_t req;
        std::shared_ptr<State> state;
    };
    auto *job = new Cleanup{{}, state};
    job->req.data = job;
    state->job_out = true;
    int rc = uv_queue_work(
        state->loop, &job->req,
        [](uv_work_t *req) { static_cast<Cleanup *>(req->data)->state->clean_up(true); },
        [](uv_work_t *req, int) { delete static_cast<Cleanup *>(req->data); });
    if (rc != 0) delete job; // unlocked, the stage goes with the next download of this root
}

ArchiveDownload::~ArchiveDownload()
{
    state_->abandoned = true;
    clean_up_later(state_);
}

} // namespace berth::edge
