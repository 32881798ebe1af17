// Logs an edge's state only when it changes ("in sync at 12", "unreachable: ..."), so a
// long outage is one line, not one per pass.
#include "control/edges/edge_reconciler.h"

#include <chrono>
#include <cstdio>

#include "control/edges/edge_sync.h"
#include "control/store/db.h"

namespace berth::control
{

void EdgeReconciler::start()
{
    if (!config_.has_edges() || thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { loop(); });
}

void EdgeReconciler::stop()
{
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void EdgeReconciler::loop()
{
    EdgeSync sync(config_, db_);
    while (!stopping_) {
        bool settled = true;
        try {
            for (const EdgeResult &r : sync.sync_all()) {
                settled &= r.in_sync;
                std::string state = r.in_sync
                                        ? "in sync at version " + std::to_string(r.version)
                                        : (r.reachable ? "behind: " : "unreachable: ") + r.error;
                if (last_state_[r.socket] != state)
                    std::fprintf(stderr, "berth-control: edge %s %s\n", r.socket.c_str(),
                                 state.c_str());
                last_state_[r.socket] = state;
            }
        } catch (const std::exception &e) {
            settled = false;
            std::fprintf(stderr, "berth-control: edge reconciler: %s\n", e.what());
        }
        int wait_ms =
            settled ? config_.edge_sync_interval_ms : std::min(config_.edge_sync_interval_ms, 250);
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stopping_.load(); });
    }
}

} // namespace berth::control
