// Upstream choice, keep-alive pools and passive health for one worker (#14).
#include "edge/proxy/proxy_handler.h"

#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include "edge/proxy/proxy_headers.h"
#include "edge/proxy/proxy_task.h"
#include "shared/base/log.h"

namespace berth::edge
{

using shared::log_message;
using shared::LogLevel;

namespace
{
constexpr uint64_t kTickMs = 20;

uint64_t splitmix(uint64_t x) noexcept
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Where x is in list, or list.size().
size_t index_of(const std::vector<UpstreamTarget::Address> &list,
                const UpstreamTarget::Address &x) noexcept
{
    for (size_t i = 0; i < list.size(); ++i)
        if (list[i].len == x.len && std::memcmp(&list[i].sa, &x.sa, x.len) == 0) return i;
    return list.size();
}
} // namespace

ProxyHandler::ProxyHandler(uv_loop_t *loop, IoLoop &io, ProxyOptions options)
    : loop_(loop), io_(io), options_(options)
{
    std::random_device rd;
    id_salt_ = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(options.worker) << 56;
    rng_.seed(id_salt_);
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t *>(&timer_)); // never what keeps a loop alive
    sweep_.reserve(256);
}

ProxyHandler::~ProxyHandler()
{
    for (auto &[addr, t] : targets_)
        for (UpstreamConn *c : t->idle)
            c->close();
    reap();
}

void ProxyHandler::stop() noexcept
{
    if (stopped_) return;
    stopped_ = true;
    for (auto &[addr, t] : targets_) {
        std::vector<UpstreamConn *> idle;
        idle.swap(t->idle);
        for (UpstreamConn *c : idle)
            close_conn(c);
    }
    if (!uv_is_closing(reinterpret_cast<uv_handle_t *>(&timer_)))
        uv_close(reinterpret_cast<uv_handle_t *>(&timer_), nullptr);
    timer_running_ = false;
}

void ProxyHandler::generate_request_id(char out[17]) noexcept
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = splitmix(id_salt_ + ++id_counter_);
    for (int i = 15; i >= 0; --i) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
    out[16] = '\0';
}

void ProxyHandler::serve(Exchange &ex)
{
    const shared::route::Route *route = ex.target.route;
    if (!route) {
        send_error(ex, 502, "Bad Gateway", "This proxy route has no upstreams.");
        return;
    }
    std::shared_ptr<RouteState> rs = state_for(*route);
    for (UpstreamTarget *t : rs->targets) {
        if (t->resolve == UpstreamTarget::Resolve::kFailed &&
            now_ms() - t->resolve_failed_ms >= kResolveRetryMs)
            resolve(*t); // the name may exist by now (a container that started late)
        else if (!t->addrs.empty() && t->resolve == UpstreamTarget::Resolve::kDone &&
                 now_ms() - t->resolved_ms >= t->limits.resolve_ms)
            resolve(*t); // in the background: the known addresses serve meanwhile
        if (t->resolve == UpstreamTarget::Resolve::kPending) { // first use of a host name
            ex.pending = t->resolving;
            return;
        }
    }
    ProxyTask *task;
    if (spare_tasks_.empty()) {
        task = new ProxyTask(*this);
    } else {
        task = spare_tasks_.back().release();
        spare_tasks_.pop_back();
    }
    task->reset();
    bool websocket = rs->websocket && wants_websocket(ex.req);
    if (!task->start(ex, rs, websocket)) {
        task->reset();
        spare_tasks_.emplace_back(task);
        generate_request_id(early_id_);
        char extra[40];
        int n = std::snprintf(extra, sizeof extra, "X-Request-Id: %s\r\n", early_id_);
        ex.notes.request_id = std::string_view(early_id_, 16);
        ex.notes.error = "no_upstream_available";
        send_error(ex, 503, "Service Unavailable", "No upstream server is available for this site.",
                   std::string_view(extra, size_t(n)));
        return;
    }
    active_.push_front(*task);
    arm_timer();
    ex.task = task;
    ex.task_reads_body = ex.req.has_body;
}

void ProxyHandler::routes_changed()
{
    routes_.clear(); // requests in flight keep theirs
    for (auto &[addr, t] : targets_)
        if (t->resolve == UpstreamTarget::Resolve::kFailed) resolve(*t);
}

std::shared_ptr<RouteState> ProxyHandler::state_for(const shared::route::Route &route)
{
    auto it = routes_.find(&route);
    if (it != routes_.end()) return it->second;
    auto rs = std::make_shared<RouteState>();
    rs->host = route.host;
    for (const shared::route::Upstream &u : route.upstreams) {
        UpstreamTarget &t = target_for(u);
        t.limits = route.pool;
        t.health = route.health;
        rs->targets.push_back(&t);
        rs->weights.push_back(u.weight);
    }
    rs->current.assign(rs->targets.size(), 0);
    rs->marked_down.assign(rs->targets.size(), false);
    rs->balance = route.balance;
    rs->timeouts = route.timeouts;
    rs->retries = route.retries;
    rs->retry_idempotent = route.retry_idempotent;
    rs->websocket = route.websocket;
    rs->host_header = route.host_header;
    rs->header_rules = route.header_rules;
    routes_.emplace(&route, rs);
    return rs;
}

UpstreamTarget &ProxyHandler::target_for(const shared::route::Upstream &u)
{
    auto it = targets_.find(u.addr);
    if (it != targets_.end()) return *it->second;
    auto t = std::make_unique<UpstreamTarget>();
    t->addr = u.addr;
    t->host = u.host;
    t->port = u.port;
    t->stats = options_.registry->stats_for(options_.worker, u.addr);
    t->idle.reserve(32);
    UpstreamTarget &ref = *t;
    targets_.emplace(u.addr, std::move(t));
    resolve(ref);
    return ref;
}

void ProxyHandler::resolve(UpstreamTarget &t)
{
    // A numeric address needs no lookup (and keeps no address list: never looked up again).
    sockaddr_storage numeric{};
    if (uv_ip4_addr(t.host.c_str(), t.port, reinterpret_cast<sockaddr_in *>(&numeric)) == 0 ||
        uv_ip6_addr(t.host.c_str(), t.port, reinterpret_cast<sockaddr_in6 *>(&numeric)) == 0) {
        t.sa = numeric;
        t.sa_len = numeric.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
        t.resolve = UpstreamTarget::Resolve::kDone;
        return;
    }
    // A name: resolved on the threadpool (getaddrinfo blocks). The first time and after a
    // failure requests wait for it; a refresh (refresh_name) keeps the known addresses in use.
    if (t.gai_busy) return;
    if (t.resolve != UpstreamTarget::Resolve::kDone) t.resolve = UpstreamTarget::Resolve::kPending;
    if (!t.resolving) t.resolving = std::make_shared<WakeList>();
    t.gai.data = &t;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    std::string port = std::to_string(t.port);
    int rc = uv_getaddrinfo(
        loop_, &t.gai,
        [](uv_getaddrinfo_t *req, int status, addrinfo *res) {
            auto &target = *static_cast<UpstreamTarget *>(req->data);
            target.gai_busy = false;
            std::vector<UpstreamTarget::Address> found;
            for (addrinfo *a = status == 0 ? res : nullptr; a; a = a->ai_next) {
                if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
                UpstreamTarget::Address x{};
                std::memcpy(&x.sa, a->ai_addr, a->ai_addrlen);
                x.len = socklen_t(a->ai_addrlen);
                if (index_of(found, x) == found.size()) found.push_back(x);
            }
            if (!found.empty()) {
                target.resolved_ms = uv_now(req->loop);
                // The same addresses (maybe rotated, as round-robin DNS does): the one in use
                // stays, and so do pooled connections. Others: start over at the first.
                size_t at = target.addrs.empty() ? found.size()
                                                 : index_of(found, target.addrs[target.addr_at]);
                bool same = at < found.size() && found.size() == target.addrs.size();
                for (size_t i = 0; same && i < found.size(); ++i)
                    same = index_of(target.addrs, found[i]) < target.addrs.size();
                if (!same) {
                    if (!target.addrs.empty())
                        log_message(LogLevel::kInfo, "upstream %s: addresses changed",
                                    target.addr.c_str());
                    ++target.addrs_generation;
                    at = 0;
                }
                target.addrs = std::move(found);
                target.addr_at = at;
                target.sa = target.addrs[at].sa;
                target.sa_len = target.addrs[at].len;
                target.resolve = UpstreamTarget::Resolve::kDone;
                if (target.stats->resolve_status.exchange(0) != 0)
                    log_message(LogLevel::kInfo, "upstream %s: resolved again",
                                target.addr.c_str());
            } else if (target.resolve != UpstreamTarget::Resolve::kDone) {
                resolve_failed(target, status == 0 ? UV_EAI_NONAME : status, uv_now(req->loop));
            } // else a refresh failed: the addresses known so far stay in use
            uv_freeaddrinfo(res);
            WakeRef waiting = target.resolving;
            if (waiting) waiting->wake();
        },
        t.host.c_str(), port.c_str(), &hints);
    if (rc == 0)
        t.gai_busy = true;
    else if (t.resolve != UpstreamTarget::Resolve::kDone)
        resolve_failed(t, rc, now_ms());
}

void ProxyHandler::refresh_name(UpstreamTarget &t)
{
    // Only names (numeric targets keep no address list), at most once per kResolveRetryMs:
    // a container restarted with a new address is found without a new route table.
    if (t.addrs.empty() || t.resolve != UpstreamTarget::Resolve::kDone) return;
    if (now_ms() - t.resolved_ms < kResolveRetryMs) return;
    resolve(t);
}

void ProxyHandler::resolve_failed(UpstreamTarget &t, int status, uint64_t now) noexcept
{
    t.resolve = UpstreamTarget::Resolve::kFailed;
    t.resolve_error = uv_strerror(status);
    t.resolve_failed_ms = now;
    // Said once per failure, not per request: stats keep showing it ("unresolved").
    if (t.stats->resolve_status.exchange(status) == 0)
        log_message(LogLevel::kWarn,
                    "upstream %s: cannot resolve %s: %s (its routes answer 503; tried again "
                    "every %u s while requests come)",
                    t.addr.c_str(), t.host.c_str(), t.resolve_error.c_str(),
                    unsigned(kResolveRetryMs / 1000));
}

void ProxyHandler::refresh_marks(RouteState &rs)
{
    uint64_t g = options_.registry->marks_generation();
    if (g == rs.marks_generation) return;
    for (size_t i = 0; i < rs.targets.size(); ++i)
        rs.marked_down[i] = options_.registry->marked_down(rs.host, rs.targets[i]->addr);
    rs.marks_generation = g;
}

bool ProxyHandler::available(const RouteState &rs, size_t i, uint64_t now,
                             const std::vector<UpstreamTarget *> &tried) const noexcept
{
    const UpstreamTarget &t = *rs.targets[i];
    if (rs.marked_down[i] || rs.weights[i] == 0) return false;
    if (t.resolve != UpstreamTarget::Resolve::kDone || t.ejected(now)) return false;
    if (t.limits.max_conns && t.open >= t.limits.max_conns && t.idle.empty()) return false;
    for (const UpstreamTarget *x : tried)
        if (x == &t) return false;
    return true;
}

UpstreamTarget *ProxyHandler::pick(RouteState &rs, const std::vector<UpstreamTarget *> &tried)
{
    refresh_marks(rs);
    uint64_t now = now_ms();
    size_t n = rs.targets.size();
    long best = -1;
    if (rs.balance == shared::route::Balance::kRoundRobin) {
        // Smooth weighted round robin (nginx's): an even spread that keeps the weights.
        int64_t total = 0;
        for (size_t i = 0; i < n; ++i) {
            if (!available(rs, i, now, tried)) continue;
            rs.current[i] += rs.weights[i];
            total += rs.weights[i];
            if (best < 0 || rs.current[i] > rs.current[size_t(best)]) best = long(i);
        }
        if (best >= 0) rs.current[size_t(best)] -= total;
    } else {
        // Least outstanding requests by the power of two random choices (weighted draws).
        uint64_t total = 0;
        for (size_t i = 0; i < n; ++i)
            if (available(rs, i, now, tried)) total += rs.weights[i];
        // Two distinct upstreams, each drawn by weight (the second among the others).
        auto draw = [&](long except, uint64_t sum) -> long {
            if (sum == 0) return -1;
            uint64_t x = rng_() % sum;
            for (size_t i = 0; i < n; ++i) {
                if (long(i) == except || !available(rs, i, now, tried)) continue;
                if (x < rs.weights[i]) return long(i);
                x -= rs.weights[i];
            }
            return -1;
        };
        if (total > 0) {
            long a = draw(-1, total);
            long b = draw(a, total - rs.weights[size_t(a)]);
            best = a;
            if (b >= 0 && b != a) {
                // Fewer requests in flight per unit of weight wins.
                const UpstreamTarget &ta = *rs.targets[size_t(a)], &tb = *rs.targets[size_t(b)];
                uint64_t la = uint64_t(ta.in_flight) * rs.weights[size_t(b)];
                uint64_t lb = uint64_t(tb.in_flight) * rs.weights[size_t(a)];
                if (lb < la) best = b;
            }
        }
    }
    if (best < 0) {
        // Every upstream out by passive checks alone: the one that failed longest ago is
        // still tried rather than failing everything (operator marks are obeyed).
        for (size_t i = 0; i < n; ++i) {
            UpstreamTarget &t = *rs.targets[i];
            if (rs.marked_down[i] || rs.weights[i] == 0 ||
                t.resolve != UpstreamTarget::Resolve::kDone || !t.ejected(now))
                continue;
            bool was_tried = false;
            for (const UpstreamTarget *x : tried)
                was_tried |= x == &t;
            if (was_tried || (t.limits.max_conns && t.open >= t.limits.max_conns && t.idle.empty()))
                continue;
            if (best < 0 || t.last_failure_ms < rs.targets[size_t(best)]->last_failure_ms)
                best = long(i);
        }
    }
    if (best < 0) return nullptr;
    UpstreamTarget *t = rs.targets[size_t(best)];
    ++t->in_flight;
    return t;
}

UpstreamConn *ProxyHandler::connection(UpstreamTarget &t, int &error)
{
    uint64_t now = now_ms();
    while (!t.idle.empty()) {
        UpstreamConn *c = t.idle.back();
        t.idle.pop_back();
        if (c->closed() || now - c->idle_since_ms >= t.limits.idle_timeout_ms ||
            c->generation != t.addrs_generation) {
            close_conn(c);
            continue;
        }
        c->reused = true;
        t.sync_gauges();
        return c;
    }
    UpstreamConn *c = conn_memory_.make(io_, *this, t);
    int rc = c->connect();
    if (rc < 0) {
        error = rc;
        conn_memory_.destroy(c); // never joined the epoll set: nothing can name it
        return nullptr;
    }
    ++t.open;
    t.sync_gauges();
    return c;
}

void ProxyHandler::release(UpstreamConn *c, bool reusable) noexcept
{
    c->user = nullptr;
    UpstreamTarget &t = c->target();
    if (reusable && !stopped_ && !c->closed() && !c->hung_up() &&
        c->generation == t.addrs_generation && t.idle.size() < t.limits.max_idle) {
        c->idle_since_ms = now_ms();
        t.idle.push_back(c);
        t.sync_gauges();
        arm_timer();
        return;
    }
    close_conn(c);
}

void ProxyHandler::close_conn(UpstreamConn *c) noexcept
{
    UpstreamTarget &t = c->target();
    if (!c->closed()) {
        c->close();
        --t.open;
        dead_conns_.push_back(c); // freed after the round: its events may still be due
    }
    t.sync_gauges();
}

void ProxyHandler::on_idle_event(UpstreamConn &c)
{
    UpstreamTarget &t = c.target();
    for (size_t i = 0; i < t.idle.size(); ++i)
        if (t.idle[i] == &c) {
            t.idle.erase(t.idle.begin() + long(i));
            break;
        }
    close_conn(&c);
}

void ProxyHandler::succeeded(UpstreamTarget &t) noexcept
{
    t.consecutive_failures = 0;
    t.eject_ms = 0;
    t.stats->ejected.store(false, std::memory_order_relaxed);
}

void ProxyHandler::failed(UpstreamTarget &t, UpstreamFailure why) noexcept
{
    uint64_t now = now_ms();
    t.stats->failures[size_t(why)].add(1);
    t.last_failure_ms = now;
    // Requests that were already under way when it was ejected fail too: they neither
    // extend the ejection nor double the next one.
    if (t.ejected(now)) return;
    if (++t.consecutive_failures < t.health.max_fails) return;
    // Ejected for a back-off that doubles while it keeps failing; once it is over the
    // upstream is tried again, and one more failure ejects it again.
    t.eject_ms = t.eject_ms ? std::min(t.eject_ms * 2, t.health.max_eject_ms) : t.health.eject_ms;
    t.ejected_until_ms = now + t.eject_ms;
    t.consecutive_failures = t.health.max_fails - 1;
    t.stats->ejected.store(true, std::memory_order_relaxed);
}

void ProxyHandler::task_ended(ProxyTask &task) noexcept
{
    task.unlink();
    dead_tasks_.push_back(&task);
}

void ProxyHandler::reap() noexcept
{
    for (ProxyTask *t : dead_tasks_) {
        t->reset(); // drops its route state
        if (spare_tasks_.size() < 256)
            spare_tasks_.emplace_back(t);
        else
            delete t;
    }
    dead_tasks_.clear();
    for (UpstreamConn *c : dead_conns_)
        conn_memory_.destroy(c);
    dead_conns_.clear();
}

void ProxyHandler::arm_timer()
{
    if (timer_running_ || stopped_) return;
    timer_running_ = true;
    uv_timer_start(
        &timer_, [](uv_timer_t *t) { static_cast<ProxyHandler *>(t->data)->on_timer(); }, kTickMs,
        kTickMs);
}

void ProxyHandler::on_timer()
{
    uint64_t now = now_ms();
    sweep_.clear();
    active_.for_each([this](ProxyTask &t) { sweep_.push_back(&t); });
    for (ProxyTask *t : sweep_)
        t->check_deadline(now); // a task ended meanwhile is still in memory (reaped later)
    bool idle_left = false;
    for (auto &[addr, t] : targets_) {
        for (size_t i = 0; i < t->idle.size();) {
            UpstreamConn *c = t->idle[i];
            if (now - c->idle_since_ms >= t->limits.idle_timeout_ms) {
                t->idle.erase(t->idle.begin() + long(i));
                close_conn(c);
            } else {
                ++i;
            }
        }
        idle_left |= !t->idle.empty();
        t->stats->ejected.store(t->ejected(now), std::memory_order_relaxed);
    }
    if (active_.empty() && !idle_left) {
        uv_timer_stop(&timer_);
        timer_running_ = false;
    }
}

} // namespace berth::edge
