// Runs one deployment job through the state machine: clone → scan → review → (approval) →
// build → deploy → health check → ACTIVE, or FAILED with error_message. Also the worker
// threads that feed it from the Redis queue.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/base/crypto.h"
#include "control/config/control_config.h"
#include "control/model/state_machine.h"
#include "control/pipeline/secret_scan.h"
#include "control/store/db.h"

namespace berth::control
{

struct JobRow;
struct BuildInputs;

class JobRunner
{
public:
    // secrets: opens the service's secret env vars for the publish scan (null: none checked).
    JobRunner(const ControlConfig &config, Db &db, const SecretBox *secrets = nullptr)
        : config_(config), db_(db), secrets_(secrets)
    {
    }

    // Advances deployment `id` as far as it goes now. Reads the row first: a job whose row is
    // no longer in a runnable status (cancelled, already done) is a no-op. Any error except
    // DbUnavailable ends in FAILED with error_message; DbUnavailable propagates so the caller
    // requeues the job.
    void run(const std::string &id);

    // Called at every log line and stage change of a run, so the queue lease is extended while
    // a long clone or build makes progress (otherwise it would be requeued under the worker).
    void set_heartbeat(std::function<void()> fn) { heartbeat_ = std::move(fn); }

private:
    void run_from_queued(const std::string &id);
    void run_build(const std::string &id);
    void run_rollback(const std::string &id);
    void prune(const std::string &service_id);
    // Makes `id` its service's live deployment and waits until an edge serves it (the
    // deploy stage); nullopt when the row left `from` meanwhile. Returns the edges still
    // pending. Throws when no edge acknowledges within [edges] ack_timeout_s.
    std::optional<std::vector<std::string>> make_live(const std::string &id, const JobRow &row,
                                                      DeployStatus from);
    // The health_check stage: throws with the reason when the new deployment is not healthy.
    void check_health(const std::string &id, const JobRow &row, const std::string &artifact);
    // from → ACTIVE, demoting the previous ACTIVE one to demote_to, in one transaction.
    void activate(const std::string &id, const JobRow &row, DeployStatus from,
                  DeployStatus demote_to, const std::vector<std::string> &pending);
    void revert_live(const std::string &id);
    std::string interrupted(const std::string &stage) const;

    // fn(), retried with back-off while PostgreSQL is unavailable, for at most kDbRetryMs
    // (a restart or failover), heartbeating the lease meanwhile; then DbUnavailable
    // propagates and the worker requeues the job (#15).
    template <class F> auto retrying(F &&fn)
    {
        auto start = std::chrono::steady_clock::now();
        int backoff_ms = 100;
        for (;;) {
            try {
                return fn();
            } catch (const DbUnavailable &e) {
                if (std::chrono::steady_clock::now() - start >
                    std::chrono::milliseconds(kDbRetryMs))
                    throw;
                if (backoff_ms == 100)
                    std::fprintf(
                        stderr,
                        "berth-control: pipeline: PostgreSQL unavailable (%s); retrying for up to "
                        "%d s\n",
                        e.what(), kDbRetryMs / 1000);
            }
            if (heartbeat_) heartbeat_();
            std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
            backoff_ms = std::min(backoff_ms * 2, 2000);
        }
    }
    template <class F> auto tx(F &&fn)
    {
        return retrying([&] { return db_.transact(fn); });
    }
    static constexpr int kDbRetryMs = 60000;
    std::vector<NamedSecret> secret_values(const JobRow &row);
    // Analyze's plan and the build environment of `id` over the checked-out `root`.
    BuildInputs build_inputs(const std::string &id, const JobRow &row,
                             const std::filesystem::path &root);
    // Ends the deployment FAILED with error_message; through the current status's phase
    // failure first (BUILD_FAILED: ...) when `phase`. An empty message keeps the row's error.
    void fail(const std::string &id, const std::string &message, bool phase = true);
    // A rollback that ended FAILED lifts the push pause it set (it never went live).
    static void resume_after_failed_rollback(pqxx::work &w, const std::string &id);
    void log(const std::string &id, const std::string &line);
    bool step(const std::string &id, int from, int to);

    const ControlConfig &config_;
    Db &db_;
    const SecretBox *secrets_;
    std::function<void()> heartbeat_;
};

// N threads: take a job (BLMOVE with a 1 s wait so stop() is prompt), run it, ack it. Worker 0
// also sweeps every 2 s: requeues jobs whose lease expired and re-enqueues deployments still
// waiting for a job (QUEUED, ROLLING_BACK, approved BUILDING) after recover_queued_after_s that
// are in neither list (a lost queue entry).
class PipelineWorkers
{
public:
    PipelineWorkers(const ControlConfig &config, Db &db, const SecretBox *secrets = nullptr);
    ~PipelineWorkers();
    void start(int n);
    void stop(); // joins; a running job finishes its current stage first

private:
    class Heartbeat
    {
    public:
        Heartbeat(PipelineWorkers &owner, std::string id);
        ~Heartbeat();

    private:
        PipelineWorkers &owner_;
        std::string id_;
        std::mutex mu_;
        std::condition_variable cv_;
        bool done_ = false;
        std::thread thread_;
    };
    void collect_build_dirs();
    void loop(int index);
    void sweep(class JobQueue &queue);
    void pause_ms(int ms);

    const ControlConfig &config_;
    Db &db_;
    const SecretBox *secrets_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::condition_variable cv_;
};

int64_t wall_clock_ms();

} // namespace berth::control
