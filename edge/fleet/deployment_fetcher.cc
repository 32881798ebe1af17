#include "edge/fleet/deployment_fetcher.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include <hiredis/hiredis.h>

#include "shared/base/log.h"
#include "shared/fleet/archive_chunks.h"

namespace berth::edge
{

using shared::log_message;
using shared::LogLevel;

namespace fs = std::filesystem;

namespace
{

// The route table validator lets only such roots through, and the fetched list is ours; but
// this file writes and deletes where they point, so it checks once more.
bool inside_deployments(const std::string &root)
{
    fs::path rel(root);
    if (root.empty() || rel.is_absolute()) return false;
    for (const auto &part : rel)
        if (part == ".." || part == ".") return false;
    return true;
}

// Fetched trees being deleted: "<deployments_root>/.berth-removing-<pid>-<n>".
constexpr const char *kRemovingPrefix = ".berth-removing-";

} // namespace

DeploymentFetcher::DeploymentFetcher(uv_loop_t *loop, std::string deployments_root,
                                     std::string state_dir, uint64_t keep_unserved_ms,
                                     std::string signing_key, std::string key_prefix,
                                     SendCommand send)
    : loop_(loop), deployments_root_(std::move(deployments_root)),
      fetched_list_(state_dir.empty() ? "" : state_dir + "/fetched-roots.json"),
      keep_unserved_ms_(keep_unserved_ms), signing_key_(std::move(signing_key)),
      key_prefix_(std::move(key_prefix)), send_(std::move(send))
{
    load_fetched();
    if (!deployments_root_.empty()) remove_leftovers();
}

void DeploymentFetcher::load_fetched()
{
    if (fetched_list_.empty()) return;
    std::ifstream in(fetched_list_);
    if (!in) return; // none yet
    nlohmann::json list = nlohmann::json::parse(in, nullptr, false);
    if (!list.is_array()) {
        log_message(LogLevel::kWarn, "fleet: %s is not a JSON list; fetched roots are forgotten",
                    fetched_list_.c_str());
        return;
    }
    for (const auto &root : list)
        if (root.is_string() && inside_deployments(root.get<std::string>()))
            fetched_roots_.emplace(root.get<std::string>(), 0);
}

void DeploymentFetcher::save_fetched()
{
    if (fetched_list_.empty()) return;
    nlohmann::json list = nlohmann::json::array();
    for (const auto &entry : fetched_roots_)
        list.push_back(entry.first);
    // Written aside and renamed: a crash leaves the old list or the new one.
    std::string tmp = fetched_list_ + ".tmp";
    std::ofstream(tmp) << list.dump() << "\n";
    std::error_code ec;
    fs::rename(tmp, fetched_list_, ec);
    if (ec)
        log_message(LogLevel::kWarn, "fleet: cannot write %s: %s", fetched_list_.c_str(),
                    ec.message().c_str());
}

void DeploymentFetcher::sweep(const std::vector<std::string> &served)
{
    uint64_t now = uv_now(loop_);
    std::unordered_set<std::string_view> named(served.begin(), served.end());
    std::vector<std::string> expired;
    for (auto &[root, unserved_since] : fetched_roots_) {
        if (named.count(root))
            unserved_since = 0;
        else if (unserved_since == 0)
            unserved_since = now; // the grace lets requests under way on the old table end
        else if (now - unserved_since >= keep_unserved_ms_ &&
                 !(busy_ && !queue_.empty() && queue_.front() == root))
            expired.push_back(root);
    }
    for (const std::string &root : expired) {
        fetched_roots_.erase(root);
        ++removed_;
        log_message(LogLevel::kInfo, "fleet: removing %s, fetched and no longer served",
                    root.c_str());
        remove_tree(root);
    }
    if (!expired.empty()) save_fetched();
}

void DeploymentFetcher::remove_tree(const std::string &root)
{
    // Out of its place at once, with one rename on this loop: a table naming the root again
    // (a rollback) finds it missing and fetches it anew, instead of installing it while the
    // threadpool still deletes it and then answering 404 with nothing left to fetch it.
    fs::path path = fs::path(deployments_root_) / root;
    fs::path doomed = fs::path(deployments_root_) / (kRemovingPrefix + std::to_string(getpid()) +
                                                     "-" + std::to_string(++removals_));
    std::error_code ec;
    fs::rename(path, doomed, ec);
    if (ec == std::errc::no_such_file_or_directory) return; // gone already
    if (ec) {
        log_message(LogLevel::kWarn, "fleet: cannot move %s aside (%s); deleting it in place",
                    root.c_str(), ec.message().c_str());
        doomed = path;
    }
    // The tree may be large: deleted on the threadpool.
    struct Removal {
        uv_work_t req;
        DeploymentFetcher *owner;
        std::shared_ptr<bool> alive;
        fs::path path;
    };
    auto *job = new Removal{{}, this, alive_, doomed};
    job->req.data = job;
    ++removing_;
    int rc = uv_queue_work(
        loop_, &job->req,
        [](uv_work_t *req) {
            std::error_code ignored; // what cannot be deleted stays where it was moved
            fs::remove_all(static_cast<Removal *>(req->data)->path, ignored);
        },
        [](uv_work_t *req, int) {
            std::unique_ptr<Removal> j(static_cast<Removal *>(req->data));
            if (*j->alive) --j->owner->removing_;
        });
    if (rc != 0) {
        --removing_;
        delete job;
    }
}

void DeploymentFetcher::remove_leftovers()
{
    // Trees a process on this host moved aside and did not get to delete (it stopped or
    // crashed meanwhile): ours by name, whether of a process gone or of an earlier one that
    // had our pid (an edge is pid 1 in every container it runs in).
    struct Sweep {
        uv_work_t req;
        fs::path root;
    };
    auto *job = new Sweep{{}, fs::path(deployments_root_)};
    job->req.data = job;
    int rc = uv_queue_work(
        loop_, &job->req,
        [](uv_work_t *req) {
            std::error_code ec;
            const std::string prefix = kRemovingPrefix;
            for (const auto &entry :
                 fs::directory_iterator(static_cast<Sweep *>(req->data)->root, ec)) {
                std::string name = entry.path().filename().string();
                if (name.rfind(prefix, 0) != 0) continue;
                long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
                bool gone = pid > 0 && kill(pid_t(pid), 0) != 0 && errno == ESRCH;
                std::error_code rm;
                if (pid == long(getpid()) || gone) fs::remove_all(entry.path(), rm);
            }
        },
        [](uv_work_t *req, int) { delete static_cast<Sweep *>(req->data); });
    if (rc != 0) delete job;
}

DeploymentFetcher::~DeploymentFetcher()
{
    *alive_ = false;
}

void DeploymentFetcher::fetch(std::vector<std::string> roots, std::function<void()> done)
{
    queue_.clear();
    for (std::string &root : roots)
        if (!refused_.count(root)) queue_.push_back(std::move(root));
    done_ = std::move(done);
    busy_ = true;
    waiting_reply_ = false;
    next();
}

void DeploymentFetcher::abort()
{
    queue_.clear();
    done_ = nullptr;
    busy_ = false;
    waiting_reply_ = false;
    download_.reset(); // its partial file goes once a write under way has ended
    unpacking_ = false;
}

void DeploymentFetcher::next()
{
    // One archive at a time, and one command or chunk write of it at a time: memory holds a
    // chunk, never a whole archive.
    if (!busy_ || waiting_reply_ || unpacking_) return;
    if (queue_.empty()) {
        busy_ = false;
        if (auto done = std::exchange(done_, nullptr)) done();
        return;
    }
    waiting_reply_ = true;
    send_({"HMGET", key_prefix_ + queue_.front(), "size", "chunks", "signature"});
}

void DeploymentFetcher::ask_chunk()
{
    // Its length first: a hostile value is refused before it is read into memory.
    waiting_reply_ = true;
    chunk_length_known_ = false;
    send_({"HSTRLEN", key_prefix_ + queue_.front(),
           shared::fleet::archive_chunk_field(download_->next_chunk())});
}

void DeploymentFetcher::skip()
{
    // Not in Redis (yet): control writes an archive before the table naming it, or not at all
    // when its [edges] distribute_files is off; or it is being written again. The heartbeat
    // asks again.
    download_.reset();
    queue_.erase(queue_.begin());
    next();
}

void DeploymentFetcher::answer(const redisReply *r)
{
    if (!busy_ || !waiting_reply_ || queue_.empty()) return; // abandoned batch
    waiting_reply_ = false;
    std::string root = queue_.front();
    if (r->type == REDIS_REPLY_ERROR) {
        // Redis's trouble (LOADING, BUSY, MISCONF), not the archive's: asked again next
        // heartbeat, not refused.
        std::string why = root + ": " + std::string(r->str, r->len);
        if (why != last_error_) // once, not every heartbeat
            log_message(LogLevel::kWarn, "fleet: files of %s: redis answered %.*s", root.c_str(),
                        int(r->len), r->str);
        last_error_ = std::move(why);
        skip();
        return;
    }
    if (!download_) {
        if (!inside_deployments(root)) {
            unpacked(root, "not a path under deployments_root", false);
            return;
        }
        std::string error;
        download_ = ArchiveDownload::start(loop_, deployments_root_, root, r, signing_key_, error);
        if (download_)
            ask_chunk();
        else if (error.empty())
            skip();
        else
            unpacked(root, error, false);
        return;
    }
    if (!chunk_length_known_) {
        switch (download_->chunk_length(r)) {
        case ArchiveDownload::ChunkLength::kAbsent:
            skip(); // control is writing it again
            return;
        case ArchiveDownload::ChunkLength::kInvalid:
            download_.reset();
            unpacked(root, "a chunk of the archive in redis is not valid", false);
            return;
        case ArchiveDownload::ChunkLength::kFine:
            chunk_length_known_ = true;
            waiting_reply_ = true;
            send_({"HGET", key_prefix_ + root,
                   shared::fleet::archive_chunk_field(download_->next_chunk())});
            return;
        }
    }
    if (r->type == REDIS_REPLY_STRING) fetched_bytes_ += r->len;
    unpacking_ = true;
    bool taken =
        download_->take(r, [this, root](const std::string &error) { chunk_written(root, error); });
    if (!taken) {
        unpacking_ = false;
        skip();
    }
}

void DeploymentFetcher::chunk_written(const std::string &root, const std::string &error)
{
    unpacking_ = false;
    if (!error.empty()) {
        download_.reset();
        unpacked(root, error, false);
        return;
    }
    if (!download_->all_received()) {
        ask_chunk();
        return;
    }
    unpacking_ = true;
    download_->finish([this, root](const std::string &why) {
        unpacking_ = false;
        bool installed = download_->installed();
        download_.reset();
        unpacked(root, why, installed);
    });
}

void DeploymentFetcher::unpacked(const std::string &root, const std::string &error, bool installed)
{
    if (error.empty()) {
        ++fetched_;
        // Only what this edge's own rename put in place is its to remove later: a copy that
        // arrived meanwhile, or another edge's (sharing deployments_root), is not.
        if (installed) {
            fetched_roots_.emplace(root, 0);
            save_fetched();
        }
        log_message(LogLevel::kInfo, "fleet: files of %s unpacked from redis", root.c_str());
    } else {
        refused_[root] = error;
        last_error_ = root + ": " + error;
        log_message(LogLevel::kError, "fleet: files of %s from redis refused: %s", root.c_str(),
                    error.c_str());
    }
    // A batch abandoned while this ran has moved on; the current one goes on.
    if (!queue_.empty() && queue_.front() == root && !waiting_reply_) queue_.erase(queue_.begin());
    next();
}

std::string DeploymentFetcher::refusals() const
{
    std::string out;
    for (const auto &[root, why] : refused_)
        out += (out.empty() ? "" : "; ") + root + ": " + why;
    return out;
}

nlohmann::json DeploymentFetcher::stats() const
{
    return {{"fetched", fetched_},
            {"fetched_bytes", fetched_bytes_},
            {"fetching", busy_ && !queue_.empty() ? nlohmann::json(queue_.front()) : nullptr},
            {"refused", refused_},
            {"kept", fetched_roots_.size()},
            {"removed", removed_},
            {"removing", removing_},
            {"last_error",
             last_error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_error_)}};
}

} // namespace berth::edge
