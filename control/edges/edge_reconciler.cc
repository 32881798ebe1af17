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
    // Runs with no edge configured too: it keeps the table published in Redis (a flushed or
    // restarted Redis gets it back) for edges that follow it unlisted.
    if (thread_.joinable()) return;
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
                std::string state =
                    r.in_sync ? (r.error.empty() ? "in sync at version " + std::to_string(r.version)
                                                 : r.error)
                              : (r.reachable ? "behind: " : "unreachable: ") + r.error;
                if (last_state_[r.socket] != state)
                    std::fprintf(stderr, "berth-control: edge %s %s\n", r.socket.c_str(),
                                 state.c_str());
                last_state_[r.socket] = state;
            }
            const std::string &why = sync.publish_error();
            if (why != last_publish_error_)
                std::fprintf(stderr, "berth-control: route table %s redis %s:routes%s%s\n",
                             why.empty() ? "published in" : "not published in",
                             config_.redis_prefix.c_str(), why.empty() ? "" : ": ", why.c_str());
            last_publish_error_ = why;
            settled &= why.empty();
            // Not unsettling: a deployment too large to distribute stays so until it goes.
            const std::string &files = sync.files_error();
            if (files != last_files_error_)
                std::fprintf(stderr, "berth-control: deployment files %s%s\n",
                             files.empty() ? "distributed to fleet edges through redis"
                                           : "not distributed: ",
                             files.c_str());
            last_files_error_ = files;
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
