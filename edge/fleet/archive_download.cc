#include "edge/fleet/archive_download.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
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

// Stages of processes that are gone (a crash mid-download or mid-unpack) beside `dest`:
// "<name>.partial-<pid>" and "<name>.partial-<pid>-<n>.tgz".
void remove_stale_stages(const fs::path &dest)
{
    std::error_code ec;
    std::string prefix = dest.filename().string() + ".partial-";
    for (const auto &entry : fs::directory_iterator(dest.parent_path(), ec)) {
        std::string name = entry.path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
        std::error_code rm;
        if (pid > 0 && pid != long(getpid()) && kill(pid_t(pid), 0) != 0 && errno == ESRCH)
            fs::remove_all(entry.path(), rm);
    }
}

} // namespace

struct ArchiveDownload::State {
    uv_loop_t *loop;
    fs::path dest, file;
    uint64_t size = 0, chunks = 0;
    std::string signature;
    shared::fleet::ArchiveSigner signer;
    // Loop side.
    uint64_t next = 0, received = 0;
    bool job_out = false;
    bool abandoned = false;
    // Threadpool side (one job at a time; the loop reads `ended` only between jobs).
    int fd = -1;
    bool ended = false;
    std::vector<fs::path> made; // parents created for this root: they go again if it fails

    State(uv_loop_t *l, fs::path d, std::string_view root, std::string_view key)
        : loop(l), dest(std::move(d)), signer(key, root)
    {
        // A download of the same root abandoned a moment ago may still be ending on the
        // threadpool: each has a file of its own.
        static std::atomic<uint64_t> serial{0};
        file = dest;
        file += ".partial-" + std::to_string(getpid()) + "-" + std::to_string(++serial) + ".tgz";
    }
    ~State()
    {
        if (fd >= 0) ::close(fd);
    }

    void write(const std::string &chunk)
    {
        if (fd < 0) {
            for (fs::path p = dest.parent_path(); !p.empty() && !is_dir(p); p = p.parent_path())
                made.push_back(p);
            fs::create_directories(dest.parent_path());
            remove_stale_stages(dest);
            fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0) throw std::runtime_error(file.string() + ": " + strerror(errno));
        }
        for (size_t done = 0; done < chunk.size();) {
            ssize_t n = ::write(fd, chunk.data() + done, chunk.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error(file.string() + ": " + strerror(errno));
            done += size_t(n);
        }
        signer.update(chunk);
    }

    // Unpacks beside the final place, then one rename. The stage is named after this process,
    // so edges sharing a deployments_root (several on one host) never unpack into one
    // another's; whichever renames first wins, the others find it.
    std::string unpack()
    {
        if (received != size) return "the archive is shorter than its announced size";
        std::string problem = signer.problem(signature);
        if (!problem.empty()) return problem;
        if (is_dir(dest)) return ""; // arrived meanwhile (copied by hand, shared storage)
        fs::path stage = dest;
        stage += ".partial-" + std::to_string(getpid());
        std::error_code ec;
        try {
            fs::remove_all(stage, ec);
            fs::create_directories(stage);
            shared::extract_tarball_file(file, stage, fleet_limits());
            fs::rename(stage, dest);
            return "";
        } catch (const std::exception &e) {
            fs::remove_all(stage, ec);
            if (is_dir(dest)) return "";
            return e.what();
        }
    }

    // The end, whatever it was: the file goes, and on failure the parents made for it.
    void clean_up(bool failed)
    {
        ended = true;
        if (fd >= 0) ::close(fd);
        fd = -1;
        ::unlink(file.c_str());
        std::error_code ec;
        if (failed && !is_dir(dest))
            for (const fs::path &p : made)
                fs::remove(p, ec); // only while empty
    }
};

std::unique_ptr<ArchiveDownload>
ArchiveDownload::start(uv_loop_t *loop, fs::path dest, std::string_view root,
                       const redisReply *head, std::string_view signing_key, std::string &error)
{
    error.clear();
    if (head->type == REDIS_REPLY_ERROR) {
        error = std::string(head->str, head->len);
        return nullptr;
    }
    if (head->type != REDIS_REPLY_ARRAY || head->elements != 3) {
        error = "not an archive hash in redis";
        return nullptr;
    }
    // No size yet: not published (control writes it last), or not at all when its [edges]
    // distribute_files is off. The heartbeat asks again.
    if (head->element[0]->type == REDIS_REPLY_NIL) return nullptr;
    auto state = std::make_shared<State>(loop, std::move(dest), root, signing_key);
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

uint64_t ArchiveDownload::size() const
{
    return state_->size;
}

bool ArchiveDownload::take(const redisReply *chunk, Done done)
{
    if (chunk->type == REDIS_REPLY_NIL) return false;
    State &s = *state_;
    if (chunk->type != REDIS_REPLY_STRING || chunk->len == 0 ||
        chunk->len > shared::fleet::kMaxArchiveChunkBytes || s.received + chunk->len > s.size) {
        done(chunk->type == REDIS_REPLY_ERROR ? std::string(chunk->str, chunk->len)
                                              : "a chunk of the archive in redis is not valid");
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
    if (rc != 0) delete job; // the next download of this root truncates the file
}

ArchiveDownload::~ArchiveDownload()
{
    state_->abandoned = true;
    clean_up_later(state_);
}

} // namespace berth::edge
