// Proxy step (#14): a proxy route's requests go to its upstream pool on the worker's own loop.
// One ProxyHandler per worker owns the upstream addresses (keep-alive pools, passive health),
// each route's balancer, and the per-request ProxyTasks that relay both ways with
// backpressure (proxy_task.h). Nothing is handed to another thread; names are resolved on
// the libuv threadpool when a route table is first used, never per request.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <uv.h>

#include "edge/http/handler.h"
#include "edge/io/io_loop.h"
#include "edge/io/object_pool.h"
#include "edge/proxy/upstream.h"
#include "shared/base/intrusive_list.h"

namespace berth::edge
{

class ProxyTask;

// What a proxy route's requests need, copied from the route when its table is first used, so
// requests in flight outlive a table swap (a tunnel stays open across reloads).
struct RouteState {
    std::string host;
    std::vector<UpstreamTarget *> targets;
    std::vector<uint32_t> weights;
    std::vector<int64_t> current; // smooth weighted round robin
    std::vector<bool> marked_down;
    uint64_t marks_generation = UINT64_MAX;
    shared::route::Balance balance = shared::route::Balance::kRoundRobin;
    shared::route::ProxyTimeouts timeouts;
    uint32_t retries = 1;
    bool retry_idempotent = true;
    bool websocket = false;
    std::string host_header;
    std::vector<shared::route::HeaderRule> header_rules;
};

struct ProxyOptions {
    int worker = 0;
    UpstreamRegistry *registry = nullptr; // marks and stats; required
};

class ProxyHandler final : public Handler, public UpstreamConnOwner
{
public:
    ProxyHandler(uv_loop_t *loop, IoLoop &io, ProxyOptions options);
    ProxyHandler(const ProxyHandler &) = delete;
    ProxyHandler &operator=(const ProxyHandler &) = delete;
    ~ProxyHandler() override;

    void serve(Exchange &ex) override;
    void routes_changed() override;

    // After each loop round: frees the tasks and connections that ended in it.
    void reap() noexcept;
    // The worker is stopping: idle connections close, the timer stops (requests in flight
    // end with their client connections).
    void stop() noexcept;

    void on_idle_event(UpstreamConn &c) override;

    // For tasks.
    uv_loop_t *loop() const noexcept { return loop_; }
    IoLoop &io() noexcept { return io_; }
    uint64_t now_ms() const noexcept { return uv_now(loop_); }
    // Picks an upstream of the route not in `tried` (a retry goes elsewhere); null when
    // none is available (503). Counts the request as in flight on it.
    UpstreamTarget *pick(RouteState &rs, const std::vector<UpstreamTarget *> &tried);
    // A connection to the target: a pooled one (reused) or a new one connecting; null and
    // `error` (-errno) when the socket could not even be started.
    UpstreamConn *connection(UpstreamTarget &t, int &error);
    // The request is done with the connection: back to the pool when reusable, else closed.
    void release(UpstreamConn *c, bool reusable) noexcept;
    // Passive health.
    void succeeded(UpstreamTarget &t) noexcept;
    void failed(UpstreamTarget &t, UpstreamFailure why) noexcept;
    // Every address of a name refused: resolve it again (its answer may have changed).
    void refresh_name(UpstreamTarget &t);
    void task_ended(ProxyTask &task) noexcept;
    void generate_request_id(char out[17]) noexcept;

private:
    std::shared_ptr<RouteState> state_for(const shared::route::Route &route);
    UpstreamTarget &target_for(const shared::route::Upstream &u);
    void resolve(UpstreamTarget &t);
    // Resolution failed (status: a libuv error): 503s until a retry succeeds.
    static void resolve_failed(UpstreamTarget &t, int status, uint64_t now) noexcept;
    static constexpr uint64_t kResolveRetryMs = 2000;
    void refresh_marks(RouteState &rs);
    bool available(const RouteState &rs, size_t i, uint64_t now,
                   const std::vector<UpstreamTarget *> &tried) const noexcept;
    void close_conn(UpstreamConn *c) noexcept;
    void arm_timer();
    void on_timer();

    uv_loop_t *loop_;
    IoLoop &io_;
    ProxyOptions options_;
    uv_timer_t timer_;
    bool timer_running_ = false;
    bool stopped_ = false;
    std::unordered_map<std::string, std::unique_ptr<UpstreamTarget>> targets_;
    std::unordered_map<const shared::route::Route *, std::shared_ptr<RouteState>> routes_;
    std::vector<std::unique_ptr<ProxyTask>> spare_tasks_; // reused: buffers keep capacity
    ObjectPool<UpstreamConn> conn_memory_{256};
    std::vector<ProxyTask *> sweep_; // the timer's scratch list
    char early_id_[17] = {};         // the request id of an answer given without a task
    std::vector<ProxyTask *> dead_tasks_;
    std::vector<UpstreamConn *> dead_conns_;
    shared::IntrusiveList<ProxyTask> active_;
    std::mt19937_64 rng_;
    uint64_t id_counter_ = 0;
    uint64_t id_salt_ = 0;
};

} // namespace berth::edge
