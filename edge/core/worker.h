// One worker thread: its own uv loop, SO_REUSEPORT listeners, connections, route snapshot,
// file cache and access-log buffer. Nothing on the request path is shared with other workers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include <uv.h>

#include "edge/core/defer_accept_policy.h"
#include "edge/core/edge_config.h"
#include "edge/core/io_loop.h"
#include "edge/route/router.h"
#include "edge/static/file_cache.h"
#include "edge/write/page_cache.h"
#include "shared/base/intrusive_list.h"
#include "shared/route/route_table.h"

namespace berth::edge
{

class Connection;
class AccessLog;

// State shared by all workers; touched per connection (not per request) or by the admin path.
struct ServerShared {
    const EdgeConfig *config = nullptr;
    std::atomic<uint32_t> connections{0};
    int access_log_fd = -1;
    uv_async_t *worker_finished = nullptr; // wakes the main loop when a worker has drained
    DigestMemo digests;                    // ETags of large files, filled at cache misses
};

// Written by one worker thread, read by the admin thread: a relaxed load and store, no lock
// and no locked instruction on the request path.
struct Counter {
    std::atomic<uint64_t> value{0};
    void add(uint64_t n) noexcept
    {
        value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

struct WorkerStats {
    Counter requests;
    Counter accepted;
    Counter rejected_over_cap;
    Counter bytes_out;
    Counter cold_file_reads; // file windows read into the page cache off the loop first
    Counter batched_sends;   // sendmsg calls that left in an io_uring batch (send_batch.h)
};

class Worker
{
public:
    Worker(int id, ServerShared &shared, std::vector<int> listen_fds,
           std::shared_ptr<const shared::route::RouteTable> routes);
    Worker(const Worker &) = delete;
    Worker &operator=(const Worker &) = delete;
    ~Worker();

    void start(); // spawns the thread
    void join();
    void request_stop(); // any thread: drain and exit the loop
    // Any thread: install a newer table; the worker swaps it between requests.
    void install_routes(std::shared_ptr<const shared::route::RouteTable> routes);
    // Any thread: waits until the worker serves `version` (or newer); false on timeout.
    bool wait_installed(uint64_t version, int timeout_ms);

    // Loop-thread accessors for connections.
    uv_loop_t *loop() noexcept { return &loop_; }
    IoLoop &io() noexcept { return *io_; }
    const EdgeConfig &config() const noexcept { return *shared_.config; }
    ServerShared &shared() noexcept { return shared_; }
    uint64_t now_ms() const noexcept { return uv_now(const_cast<uv_loop_t *>(&loop_)); }
    // "Date: <IMF-fixdate>\r\n", refreshed when the second changes.
    std::string_view date_header() noexcept;
    const shared::route::RouteTable *routes() const noexcept { return routes_.get(); }
    const Router &router() const noexcept { return router_; }
    FileCache &cache() noexcept { return cache_; }
    PageCacheWarmer &warmer() noexcept { return warmer_; }
    AccessLog *access_log() noexcept { return access_log_.get(); }
    WorkerStats &stats() noexcept { return stats_; }
    const WorkerStats &stats() const noexcept { return stats_; }
    bool draining() const noexcept { return draining_; }
    // Loop thread: the listeners hold new connections until their first bytes arrive, so a
    // fresh connection has its request waiting. Any thread may ask deferring_accept_now().
    bool deferring_accept() const noexcept { return defer_policy_.deferring(); }
    bool deferring_accept_now() const noexcept
    {
        return deferring_.load(std::memory_order_relaxed);
    }
    // Any thread: the worker has drained and its loop is ending.
    bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }

    void on_connection_closed(Connection &c) noexcept;
    // Response head buffers outlive their connections with the capacity they grew to, so a
    // new connection writes its first response without growing a string (no allocation per
    // connection in the steady state; see also spare_connections_).
    std::string take_head_buffer();
    void give_back_head_buffer(std::string buffer) noexcept;
    // Serves an accepted, non-blocking socket on this worker's loop (loop thread only; the
    // connection-level fuzz target uses it with a socketpair and drives the loop itself).
    void adopt(int fd, const sockaddr_storage &peer);
    size_t connection_count() const noexcept { return connections_.size(); }
    // Deletes c after the current loop round (c closed itself on its own stack, and later
    // events of the same round may still name it).
    void defer_delete(Connection *c);
    // One loop round on the calling thread (the connection fuzz target drives it this way).
    void run_once(int max_wait_ms);

private:
    struct Listener final : IoWatcher {
        Worker *worker = nullptr;
        int fd = -1;
        bool paused = false;      // out of descriptors: not watched until the next tick
        uint64_t ready_round = 0; // the IoLoop round that last reported it ready
        void on_io(uint32_t) override { worker->accept_ready(*this); }
    };
    void run();
    static constexpr int kAcceptBurst = 16;
    void accept_ready(Listener &l);
    // Takes one connection off the listener's queue; false when there is none to take.
    bool accept_one(Listener &l);
    void on_tick();
    void on_async();
    void begin_drain();
    void maybe_finish();
    void reap(); // deletes the connections closed during the round
    void observe_accept_rate(uint64_t now);
    void apply_defer_accept();

    int id_;
    ServerShared &shared_;
    uv_loop_t loop_;
    uv_timer_t tick_;
    uv_async_t async_;
    std::unique_ptr<IoLoop> io_; // sockets; libuv (timers, async, threadpool) nests inside
    std::vector<Connection *> doomed_;
    static constexpr size_t kSpareConnections = 256; // memory of closed connections, reused
    std::vector<void *> spare_connections_;
    static constexpr size_t kInitialHeadBytes = 512;     // a typical response head
    static constexpr size_t kSpareHeadBytes = 16 * 1024; // larger head buffers are freed
    std::vector<std::string> spare_heads_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    shared::IntrusiveList<Connection> connections_;
    std::shared_ptr<const shared::route::RouteTable> routes_;
    Router router_;
    FileCache cache_;
    PageCacheWarmer warmer_;
    std::unique_ptr<AccessLog> access_log_;
    WorkerStats stats_;
    std::thread thread_;
    bool draining_ = false;
    bool accept_paused_ = false; // out of descriptors: listeners rest until the next tick
    DeferAcceptPolicy defer_policy_;
    std::atomic<bool> deferring_{false}; // defer_policy_.deferring(), for the admin thread
    uint64_t accepted_seen_ = 0;         // stats_.accepted at the last observation
    uint64_t observed_ms_ = 0;
    std::atomic<bool> finished_{false};
    uint64_t drain_deadline_ = 0;
    std::atomic<bool> stop_requested_{false};
    std::mutex pending_mutex_; // guards pending_routes_ only (admin path, not per request)
    std::shared_ptr<const shared::route::RouteTable> pending_routes_;
    std::condition_variable installed_cv_;
    uint64_t installed_version_ = 0; // guarded by pending_mutex_

    time_t date_second_ = 0;
    char date_buf_[64];
    size_t date_len_ = 0;
};

} // namespace berth::edge
