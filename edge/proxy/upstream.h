// Upstreams as one worker sees them (#14): an address with its keep-alive connections, its
// passive health and its counters; the operator's health marks (admin `upstream.health`),
// shared by every worker; and the statistics the admin `stats` reports.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <utility>
#include <vector>

#include <uv.h>

#include "edge/io/io_loop.h"
#include "edge/io/wake_list.h"
#include "shared/base/counter.h"
#include "shared/route/route_table.h"

namespace berth::edge
{

// Why an attempt at an upstream failed: the access log's word and a stats counter each.
enum class UpstreamFailure : uint8_t {
    kConnectRefused,
    kConnectTimeout,
    kConnectError,
    kReset,         // closed or reset before the response was complete
    kHeaderTimeout, // no response head within response_header_ms
    kIdleTimeout,   // no byte either way within idle_ms
    kBadResponse,   // a response the parser refused
    kCount,
};
inline constexpr size_t kUpstreamFailures = size_t(UpstreamFailure::kCount);
const char *failure_name(UpstreamFailure f) noexcept;

// One worker's counters for one upstream address; written by that worker only, read by the
// admin thread (relaxed). Entries live as long as the process (a registry, never erased).
struct UpstreamStats {
    std::string addr;
    int worker = 0;
    shared::Counter requests;
    shared::Counter status[5]; // 1xx .. 5xx answers relayed
    shared::Counter failures[kUpstreamFailures];
    shared::Counter retries;
    std::atomic<uint32_t> open{0}; // connections open now (gauges, stored by the worker)
    std::atomic<uint32_t> idle{0};
    std::atomic<uint32_t> in_flight{0};
    std::atomic<bool> ejected{false};   // passive health has it out right now
    std::atomic<int> resolve_status{0}; // 0, or the libuv error of the name's last resolution
};

// Process-wide: the operator's marks and every worker's counters.
class UpstreamRegistry
{
public:
    // (route host, addr) marked healthy or not; replaces an earlier mark.
    void mark(const std::string &host, const std::string &addr, bool healthy);
    // Marked down by the operator (any thread; takes the lock: call when generation moved).
    bool marked_down(const std::string &host, const std::string &addr) const;
    uint64_t marks_generation() const noexcept
    {
        return generation_.load(std::memory_order_acquire);
    }
    std::map<std::pair<std::string, std::string>, bool> marks() const;

    // A new counters entry for a worker's upstream (once per worker and address).
    UpstreamStats *stats_for(int worker, const std::string &addr);
    // Calls f(const UpstreamStats&) for each entry, under the lock.
    template <typename F> void for_each_stats(F &&f) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const UpstreamStats &s : stats_)
            f(s);
    }

private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, std::string>, bool> marks_;
    std::atomic<uint64_t> generation_{0};
    std::deque<UpstreamStats> stats_; // stable addresses
};

class UpstreamConn;

// One upstream address on one worker: resolution, keep-alive pool, passive health.
struct UpstreamTarget {
    std::string addr; // "host:port" as the route gives it
    std::string host;
    uint16_t port = 0;
    sockaddr_storage sa{}; // where connects go: addrs[addr_at] for a name
    socklen_t sa_len = 0;
    // Every address a name resolved to, in the resolver's order ("localhost" is often ::1
    // first and an app may listen on 127.0.0.1 only); a refused connect moves on to the next,
    // which then stays in use.
    struct Address {
        sockaddr_storage sa;
        socklen_t len;
    };
    std::vector<Address> addrs;
    size_t addr_at = 0;
    // Moves connects on to the next resolved address; false when there is no other.
    bool next_address() noexcept
    {
        if (addrs.size() < 2) return false;
        addr_at = (addr_at + 1) % addrs.size();
        sa = addrs[addr_at].sa;
        sa_len = addrs[addr_at].len;
        return true;
    }
    enum class Resolve : uint8_t { kPending, kDone, kFailed } resolve = Resolve::kPending;
    WakeRef resolving;      // requests waiting for the name to resolve
    uv_getaddrinfo_t gai{}; // in flight while resolve == kPending
    std::string resolve_error;
    uint64_t resolve_failed_ms = 0; // a failed name is tried again kResolveRetryMs after
    uint64_t resolved_ms = 0;       // when the name last resolved (refreshes are spaced)
    bool gai_busy = false;          // a getaddrinfo for this target is in flight
    // Moves when a resolution changes the address set: connections made before are not
    // pooled again (they may reach an address the name no longer has).
    uint32_t addrs_generation = 0;

    std::vector<UpstreamConn *> idle; // most recently used last
    uint32_t open = 0;                // connections open (idle or in use)
    uint32_t in_flight = 0;           // requests being served
    shared::route::UpstreamPoolLimits limits;
    shared::route::PassiveHealth health;

    uint32_t consecutive_failures = 0;
    uint64_t ejected_until_ms = 0;
    uint32_t eject_ms = 0; // the current back-off; doubles per ejection, reset on success
    uint64_t last_failure_ms = 0;

    UpstreamStats *stats = nullptr;

    bool ejected(uint64_t now_ms) const noexcept { return ejected_until_ms > now_ms; }
    void sync_gauges() noexcept
    {
        stats->open.store(open, std::memory_order_relaxed);
        stats->idle.store(uint32_t(idle.size()), std::memory_order_relaxed);
        stats->in_flight.store(in_flight, std::memory_order_relaxed);
    }
};

// Who an upstream connection reports to while it serves a request.
class UpstreamUser
{
public:
    virtual void on_upstream_io(uint32_t events) = 0;
    virtual void on_upstream_sent(ssize_t result) = 0;

protected:
    ~UpstreamUser() = default;
};

class UpstreamConnOwner
{
public:
    // An idle pooled connection heard something (the upstream closed it, or sent bytes
    // nobody asked for): it is dropped.
    virtual void on_idle_event(UpstreamConn &c) = 0;

protected:
    ~UpstreamConnOwner() = default;
};

// One TCP connection to an upstream, in the worker's epoll set for its whole life
// (edge-triggered). Its memory is freed only after the loop round that closed it, so events
// of that round still find it (closed() tells them apart).
class UpstreamConn final : public IoWatcher, public SendBatch::Sender
{
public:
    UpstreamConn(IoLoop &io, UpstreamConnOwner &owner, UpstreamTarget &target) noexcept
        : io_(io), owner_(owner), target_(target)
    {
    }
    ~UpstreamConn() { close(); }

    // Starts a non-blocking connect. Returns 0 or -errno (a connect that failed at once).
    int connect() noexcept;
    void close() noexcept;
    // Sends the gathered bytes: through the round's batch when it has room (the result comes
    // through UpstreamUser::on_upstream_sent, returns Transport::kQueued-like -1 with queued
    // set), else at once. Returns bytes or -errno, or kQueued.
    static constexpr ssize_t kQueued = -(ssize_t(1) << 30);
    ssize_t send(const iovec *iov, size_t n) noexcept;
    ssize_t recv(char *buf, size_t len) noexcept;
    // The socket's pending error (after a connect): 0 or an errno.
    int socket_error() noexcept;
    void shutdown_write() noexcept;

    void on_io(uint32_t events) override;
    void on_sent(ssize_t result) override;

    UpstreamTarget &target() noexcept { return target_; }
    int fd() const noexcept { return fd_; }
    bool closed() const noexcept { return fd_ < 0; }
    bool queued() const noexcept { return queued_; }
    // The upstream hung up (or the socket failed): never pooled again. Edge-triggered epoll
    // reports a hang-up once, maybe together with the answer's last bytes, so it is kept here.
    bool hung_up() const noexcept { return hung_up_; }

    UpstreamUser *user = nullptr; // null while idle in the pool
    bool connected = false;       // the connect has completed (a byte went or the socket said)
    bool reused = false;          // served an earlier request
    uint32_t generation = 0;      // the target's addrs_generation when it connected
    uint64_t idle_since_ms = 0;

private:
    IoLoop &io_;
    UpstreamConnOwner &owner_;
    UpstreamTarget &target_;
    int fd_ = -1;
    bool queued_ = false;
    bool hung_up_ = false;
};

} // namespace berth::edge
