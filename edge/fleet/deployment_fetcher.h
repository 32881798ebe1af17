// Brings a deployment's files to an edge on another host than control. Static roots are paths
// under deployments_root, so a fleet edge elsewhere would hold a table whose files it lacks;
// control leaves each live static deployment in Redis as a gzip'd tar in chunks
// (<prefix>:files:<root>, see shared/fleet/archive_chunks.h) and this fetches the missing ones,
// one at a time and a chunk at a time, over the route follower's connection; each becomes a
// file beside its root, is checked entry by entry and unpacked on the threadpool
// (edge/fleet/archive_download.h; never on a loop: an archive may hold hundreds of megabytes).
//
// A root lands whole or not at all: it is unpacked beside its final place and renamed there.
// An archive that is refused (a hostile entry, too large) is not fetched again until the next
// table; a root with no archive in Redis yet is asked for again by the follower's heartbeat.
//
// What this edge unpacked is its own to remove: the roots it fetched are listed in
// state_dir/fetched-roots.json, and one that no route of the served table has named for
// [redis] keep_fetched_ms (a minute) is deleted (a rollback to it fetches it again): moved aside
// to "<deployments_root>/.berth-removing-<pid>-<n>" at once, then deleted on the threadpool.
// Nothing else under deployments_root is ever touched.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <uv.h>

#include "edge/fleet/archive_download.h"

struct redisReply;

namespace berth::edge
{

class DeploymentFetcher
{
public:
    // Queues a command on the follower's command connection; its reply comes to answer().
    using SendCommand = std::function<void(std::initializer_list<std::string> argv)>;

    // state_dir: where the list of fetched roots is kept ("" = in memory only).
    DeploymentFetcher(uv_loop_t *loop, std::string deployments_root, std::string state_dir,
                      uint64_t keep_unserved_ms, std::string signing_key, std::string key_prefix,
                      SendCommand send);
    DeploymentFetcher(const DeploymentFetcher &) = delete;
    DeploymentFetcher &operator=(const DeploymentFetcher &) = delete;
    ~DeploymentFetcher();

    // Fetches and unpacks each of `roots` (skipping refused ones), then calls `done` on the
    // loop. One batch at a time: call only when !busy().
    void fetch(std::vector<std::string> roots, std::function<void()> done);
    void answer(const redisReply *reply); // the reply to the last command sent
    // The connection dropped: the batch is abandoned (`done` is not called); an unpack under
    // way still finishes on its thread.
    void abort();
    // A new table: archives refused before are worth another look (control may have fixed
    // what made them fail, e.g. the size limit).
    void forget_refusals() { refused_.clear(); }

    // Deletes fetched roots that `served` (the static roots of the table served now) has not
    // named for keep_unserved_ms; called by the follower's heartbeat.
    void sweep(const std::vector<std::string> &served);
    bool keeps_any() const { return !fetched_roots_.empty(); }

    bool busy() const { return busy_; }
    bool awaiting_archive() const { return waiting_reply_; } // an HMGET is out
    // "root: reason; ..." for the refused archives, "" for none (the fleet acknowledgement).
    std::string refusals() const;
    nlohmann::json stats() const;

private:
    void next();
    void ask_chunk();
    void skip(); // the front root has no archive in Redis now
    void chunk_written(const std::string &root, const std::string &error);
    void unpacked(const std::string &root, const std::string &error, bool installed);
    void load_fetched();
    void save_fetched();
    void remove_tree(const std::string &root);
    void remove_leftovers();

    uv_loop_t *loop_;
    std::string deployments_root_, fetched_list_;
    uint64_t keep_unserved_ms_;
    std::string signing_key_; // "": archives are taken unsigned
    std::string key_prefix_;
    SendCommand send_;
    std::vector<std::string> queue_; // roots still to fetch, the front one under way
    std::function<void()> done_;
    bool busy_ = false;
    bool waiting_reply_ = false;                // a GET is out
    bool unpacking_ = false;                    // a chunk write or the unpack is on the threadpool
    std::unique_ptr<ArchiveDownload> download_; // of queue_.front(), once its size is known
    bool chunk_length_known_ = false;           // the HSTRLEN of the next chunk is in: HGET it
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    // What stats says.
    uint64_t fetched_ = 0, fetched_bytes_ = 0;
    std::map<std::string, std::string> refused_; // root → why
    std::string last_error_;
    // Roots this edge unpacked → loop time since no served table names them (0: named now).
    std::map<std::string, uint64_t> fetched_roots_;
    uint64_t removed_ = 0;
    uint64_t removals_ = 0; // names the trees moved aside
    size_t removing_ = 0;   // trees being deleted on the threadpool
};

} // namespace berth::edge
