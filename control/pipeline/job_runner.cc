// The pipeline (#3). Each stage is a guarded transition (store/deployments_store.cc), so a
// cancel from the API between stages wins and the runner stops at the next step.
#include "control/pipeline/job_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>
#include <unistd.h>

#include "control/edges/edge_sync.h"
#include "control/pipeline/build_inputs.h"
#include "control/pipeline/build_step.h"
#include "control/pipeline/git_checkout.h"
#include "control/pipeline/publish.h"
#include "control/pipeline/repo_url.h"
#include "control/pipeline/static_health.h"
#include "control/pipeline/upload_source.h"
#include "control/queue/job_queue.h"
#include "control/queue/redis_conn.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "control/store/deployments_store.h"

namespace berth::control
{

namespace fs = std::filesystem;
using S = DeployStatus;

int64_t wall_clock_ms()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The columns of a deployment and its service that a run needs.
struct JobRow {
    std::string service_id, service_name, repo_url, branch, commit, root_directory, buildpack,
        artifact_path;
    bool require_approval = false, approved = false;
    std::string health_path; // "/" unless health_check_path was set explicitly (#16)
};

namespace
{

constexpr const char *kActor = "pipeline";

JobRow load_row(Db &db, const std::string &id)
{
    JobRow row = db.transact([&](pqxx::work &w) {
        auto r = w.exec_params1(
            "SELECT d.service_id, s.name, s.repo_url, d.branch, d.commit_hash, s.root_directory,"
            " s.buildpack, COALESCE(d.artifact_path, ''), s.require_approval, d.approved,"
            " CASE WHEN s.health_check_path_configured THEN s.health_check_path ELSE '/' END"
            " FROM deployments d JOIN services s ON s.id = d.service_id WHERE d.id = $1",
            id);
        return JobRow{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                      r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                      r[6].as<std::string>(), r[7].as<std::string>(), r[8].as<bool>(),
                      r[9].as<bool>(),        r[10].as<std::string>()};
    });
    // "/dist" and "dist" both mean the repository's dist/ (the seed's default is "/").
    row.root_directory.erase(0, row.root_directory.find_first_not_of('/'));
    return row;
}

// "vite (static): npm ci → npm run build → dist/" for the analyze stage and the log.
std::string plan_line(const BuildPlan &plan, const std::string &buildpack)
{
    std::string line = std::string(framework_name(plan.framework)) + " (" +
                       std::string(build_kind_name(plan.kind)) + ", buildpack " + buildpack + "): ";
    std::string steps;
    for (const std::string *c : {&plan.install_command, &plan.build_command})
        if (!c->empty()) steps += (steps.empty() ? "" : " → ") + *c;
    if (plan.kind == BuildKind::kService)
        steps += (steps.empty() ? "" : " → ") + std::string("start ") + plan.start_command;
    else
        steps += (steps.empty() ? "publish " : " → publish ") +
                 (plan.output_directory == "." ? std::string("/") : plan.output_directory);
    return line + steps;
}

} // namespace

BuildInputs JobRunner::build_inputs(const std::string &id, const JobRow &row, const fs::path &root)
{
    BuildInputsRequest req;
    req.service_id = row.service_id;
    req.service_name = row.service_name;
    req.deployment_id = id;
    req.commit = row.commit;
    req.branch = row.branch;
    req.buildpack = row.buildpack;
    req.public_url = "http://" + row.service_name + "." + config_.base_domain;
    req.root = root;
    return tx([&](pqxx::work &w) { return load_build_inputs(w, secrets_, req); });
}

void JobRunner::log(const std::string &id, const std::string &line)
{
    if (heartbeat_) heartbeat_();
    tx([&](pqxx::work &w) {
        append_build_log(w, id, line);
        return 0;
    });
}

bool JobRunner::step(const std::string &id, int from, int to)
{
    if (heartbeat_) heartbeat_();
    return tx([&](pqxx::work &w) { return transition(w, id, S(from), S(to), kActor); });
}

std::string JobRunner::interrupted(const std::string &stage) const
{
    return "interrupted: the worker running it stopped (no heartbeat for " +
           std::to_string(config_.visibility_timeout_s) + " s) during " + stage +
           "; trigger it again";
}

void JobRunner::fail(const std::string &id, const std::string &message, bool phase)
{
    // X → <PHASE>_FAILED (the error names the phase, as the seed's "BUILD_FAILED: exit 137")
    // → clean up → FAILED (#16): the row shows which phase failed while its routes are handed
    // back, and the in-flight index keeps another deploy out until that is done. Without a
    // phase (an interrupted worker, a rollback) it goes straight to FAILED after the cleanup.
    std::string recorded = message;
    try {
        tx([&](pqxx::work &w) {
            recorded = message;
            for (int i = 0; i < 4; ++i) {
                auto st = current_status(w, id);
                if (!st || is_terminal(*st) || is_phase_failure(*st)) break;
                auto failed_phase = phase ? phase_failure(*st) : std::nullopt;
                if (!failed_phase) break;
                recorded = std::string(status_name(*failed_phase)) + ": " + message;
                if (transition(w, id, *st, *failed_phase, kActor, recorded)) break;
            }
            if (!recorded.empty()) append_build_log(w, id, "error: " + recorded);
            return 0;
        });
    } catch (const std::exception &e) {
        std::fprintf(stderr, "berth-control: cannot record the failure of %s: %s\n", id.c_str(),
                     e.what());
    }
    // Every terminal status removes its build directory (#15).
    std::error_code ec;
    fs::remove_all(fs::path(config_.builds_dir) / id, ec);
    try {
        revert_live(id);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "berth-control: %s: cannot hand routes back: %s\n", id.c_str(),
                     e.what());
    }
    try {
        tx([&](pqxx::work &w) {
            for (int i = 0; i < 4; ++i) {
                auto st = current_status(w, id);
                if (!st || is_terminal(*st)) return 0;
                if (transition(w, id, *st, S::kFailed, kActor, recorded)) {
                    resume_after_failed_rollback(w, id);
                    return 0;
                }
            }
            return 0;
        });
    } catch (const std::exception &e) {
        std::fprintf(stderr, "berth-control: cannot mark %s FAILED: %s\n", id.c_str(), e.what());
    }
}

void JobRunner::resume_after_failed_rollback(pqxx::work &w, const std::string &id)
{
    // The rollback paused pushes so they would not bring back the version it rolled away
    // from; it never went live, so that version still is: the pause it set goes again.
    auto r = w.exec_params(
        "UPDATE services s SET auto_deploy_paused = false, auto_deploy_paused_reason = NULL"
        " FROM deployments d WHERE d.id = $1 AND d.is_rollback AND s.id = d.service_id AND"
        " s.auto_deploy_paused AND starts_with(s.auto_deploy_paused_reason,"
        " 'paused after rollback to ' || d.rollback_of || ' ') RETURNING s.id",
        id);
    if (!r.empty())
        audit_append(w, {kActor, "SERVICE_AUTO_DEPLOY_RESUME", "service", r[0][0].as<std::string>(),
                         Json{{"reason", "the rollback " + id + " failed"}}});
}

void JobRunner::run(const std::string &id)
{
    auto [status, stale] = tx([&](pqxx::work &w) {
        auto r = w.exec_params(
            "SELECT status, COALESCE(heartbeat_at, updated_at) < now() - make_interval(secs =>"
            " $2) FROM deployments WHERE id = $1",
            id, config_.visibility_timeout_s);
        if (r.empty()) return std::pair<std::string, bool>{"", false};
        return std::pair<std::string, bool>{r[0][0].as<std::string>(), r[0][1].as<bool>()};
    });
    auto st = parse_status(status);
    if (!st) return; // deleted
    try {
        switch (*st) {
        case S::kQueued:
            run_from_queued(id);
            break;
        case S::kBuilding: {
            // Only an approval's job resumes a build, and only once: the claim clears the flag
            // so a duplicate job cannot build the same deployment twice.
            bool claimed = tx([&](pqxx::work &w) {
                return !w.exec_params("UPDATE deployments SET approved = false WHERE id = $1 AND"
                                      " status = 'BUILDING' AND approved RETURNING id",
                                      id)
                            .empty();
            });
            if (claimed)
                run_build(id);
            else if (stale)
                fail(id, interrupted("BUILDING"), false);
            break;
        }
        case S::kRollingBack:
            run_rollback(id);
            break;
        default:
            // A phase failure whose worker died before FAILED: finish it, keeping its error.
            if (is_phase_failure(*st) && stale) fail(id, "", false);
            // Requeued after its worker died (lease expired) in a running stage: the stage's
            // side effects are unknown, so fail clearly rather than guess. A fresh row is
            // another live worker's; terminal and waiting rows need nothing.
            else if (!is_terminal(*st) && *st != S::kAwaitingApproval && stale)
                fail(id, interrupted(status), false);
            break;
        }
    } catch (const DbUnavailable &) {
        throw;
    } catch (const pqxx::failure &e) {
        // The driver's text names tables and values: it goes to the log, not to the row.
        std::fprintf(stderr, "berth-control: deployment %s: database error: %s\n", id.c_str(),
                     e.what());
        fail(id, "internal error: a database statement of the pipeline failed (see the "
                 "berth-control log)");
    } catch (const std::exception &e) {
        fail(id, e.what());
    }
}

void JobRunner::run_from_queued(const std::string &id)
{
    if (!step(id, int(S::kQueued), int(S::kCloning))) return;
    JobRow row = load_row(db_, id);
    fs::path build = fs::path(config_.builds_dir) / id;
    if (is_upload(db_, id)) {
        std::string note = unpack_upload(config_, id, build, row.commit);
        tx([&](pqxx::work &w) {
            stage_note(w, id, note);
            return 0;
        });
        log(id, note);
    } else {
        log(id, "cloning " + redacted_repo_url(row.repo_url) + " branch " + row.branch +
                    (row.commit.empty() ? "" : " at " + row.commit));
        ScreenedRepo repo = screen_repo_url(row.repo_url, config_);
        fs::remove_all(build);
        fs::create_directories(build.parent_path());
        std::string commit = clone_checkout(repo, row.branch, row.commit, build);
        tx([&](pqxx::work &w) {
            w.exec_params("UPDATE deployments SET commit_hash = $2 WHERE id = $1", id, commit);
            stage_note(w, id, "checked out " + commit.substr(0, 12) + " of " + row.branch);
            return 0;
        });
        log(id, "checked out " + commit);
    }
    if (!step(id, int(S::kCloning), int(S::kScanning))) {
        fs::remove_all(build);
        return;
    }
    fs::path root = build / row.root_directory;
    if (!fs::is_directory(root))
        throw std::runtime_error("root_directory " + row.root_directory + " not found");
    BuildInputs inputs;
    try {
        inputs = build_inputs(id, row, root);
    } catch (const AnalyzeError &e) {
        // The seed's Analyze phase refuses the tree: no build phase was reached.
        return fail(id, std::string("REVIEW: ") + e.what(), false);
    }
    Json summary = inputs.summary();
    summary["buildpack"] = row.buildpack;
    tx([&](pqxx::work &w) {
        w.exec_params("UPDATE deployments SET review_summary = $2::jsonb, build_environment ="
                      " $3::jsonb WHERE id = $1",
                      id, summary.dump(), inputs.env.to_json().dump());
        stage_note(w, id, plan_line(inputs.plan, row.buildpack));
        return 0;
    });
    log(id, "analyze: " + plan_line(inputs.plan, row.buildpack));
    for (const auto &why : inputs.plan.reasons)
        log(id, "analyze: " + why);
    if (!step(id, int(S::kScanning), int(S::kReview))) {
        fs::remove_all(build);
        return;
    }
    if (!inputs.refusal.empty()) {
        fs::remove_all(build);
        return fail(id, "REVIEW: " + inputs.refusal, false);
    }
    if (row.require_approval && !row.approved) {
        if (step(id, int(S::kReview), int(S::kAwaitingApproval)))
            log(id, "waiting for approval: POST /api/v1/deployments/" + id + "/approve/");
        return; // the checkout stays for the build after approval
    }
    struct Moved {
    }; // rolls the skipped-approval record back with the refused transition
    bool building = true;
    try {
        tx([&](pqxx::work &w) {
            stage_skipped(w, id, "approval", "the service does not require approval");
            if (!transition(w, id, S::kReview, S::kBuilding, kActor)) throw Moved{};
            return 0;
        });
    } catch (const Moved &) {
        building = false;
    }
    if (!building) {
        fs::remove_all(build);
        return;
    }
    run_build(id);
}

void JobRunner::run_build(const std::string &id)
{
    JobRow row = load_row(db_, id);
    fs::path build = fs::path(config_.builds_dir) / id;
    if (!fs::is_directory(build) && is_upload(db_, id)) {
        log(id, "checkout missing; " + unpack_upload(config_, id, build, row.commit));
    } else if (!fs::is_directory(build)) {
        log(id, "checkout missing; cloning again");
        clone_checkout(screen_repo_url(row.repo_url, config_), row.branch, row.commit, build);
    }
    struct Cleanup {
        fs::path p;
        ~Cleanup()
        {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } cleanup{build};
    BuildInputs inputs;
    try {
        inputs = build_inputs(id, row, build / row.root_directory);
    } catch (const AnalyzeError &e) {
        throw BuildError(e.what());
    }
    if (!inputs.refusal.empty()) throw BuildError(inputs.refusal);
    tx([&](pqxx::work &w) {
        w.exec_params("UPDATE deployments SET build_environment = $2::jsonb WHERE id = $1", id,
                      inputs.env.to_json().dump());
        return 0;
    });
    BuildInput in;
    in.deployment_id = id;
    in.checkout = build;
    in.root_directory = row.root_directory;
    in.plan = inputs.plan;
    in.env.assign(inputs.env.env.begin(), inputs.env.env.end());
    in.secret_values = berth::control::secret_values(inputs.env);
    in.limits.memory_bytes = uint64_t(config_.build_memory_mb) << 20;
    in.limits.cpu_seconds = uint64_t(config_.build_cpu_s);
    in.limits.open_files = uint64_t(config_.build_open_files);
    in.limits.file_size_bytes = uint64_t(config_.build_file_size_mb) << 20;
    in.limits.processes = uint64_t(config_.build_processes);
    in.limits.wall_timeout = std::chrono::seconds(config_.build_timeout_s);
    if (geteuid() == 0) {
        // The service's own uid and gid: its build cannot read another build's environment or
        // signal its processes, and every process of the uid can be ended with the build.
        int n = tx([&](pqxx::work &w) { return build_uid_number(w, row.service_id); });
        int64_t uid = config_.build_uid_base + n;
        if (uid >= int64_t(uid_t(-1)))
            throw std::runtime_error("build uid " + std::to_string(uid) +
                                     " is past the largest uid; lower [builds] uid_base");
        in.user.uid = uid_t(uid);
        in.user.gid = gid_t(uid);
        in.user.dedicated = true;
    }
    in.log_cap = {size_t(config_.build_log_max_lines), size_t(config_.build_log_max_kib) << 10};
    in.cache_dir = fs::path(config_.cache_dir) / row.service_id;
    in.log = [&](const LogLine &line) {
        if (heartbeat_) heartbeat_();
        std::string_view stream =
            line.stream == LogStream::kSystem ? "build" : stream_name(line.stream);
        tx([&](pqxx::work &w) {
            append_build_log(w, id, line.text, std::string(stream));
            return 0;
        });
    };
    // From the cancel watch's own thread: a plain read, no retry or heartbeat (those belong to
    // the worker thread); a database hiccup just means "not cancelled yet".
    in.cancelled = [this, &id] {
        try {
            return db_.read(
                [&](pqxx::nontransaction &w) { return current_status(w, id) != S::kBuilding; });
        } catch (const std::exception &) {
            return false;
        }
    };
    BuildOutput out;
    try {
        out = build_step(in);
    } catch (const BuildError &) {
        if (in.cancelled()) return log(id, "build stopped: the deployment left BUILDING");
        throw;
    }
    std::vector<NamedSecret> scan = inputs.secrets();
    for (auto &s : secret_values(row))
        scan.push_back(std::move(s));
    std::string artifact =
        publish_static(out.output_dir, config_.deployments_root, row.service_name, id, scan);
    // The checkout is done with once published: gone before the deployment can end (#15).
    std::error_code ec;
    fs::remove_all(build, ec);
    tx([&](pqxx::work &w) {
        w.exec_params("UPDATE deployments SET artifact_path = $2 WHERE id = $1", id, artifact);
        stage_note(w, id, out.detail);
        return 0;
    });
    auto unpublish = [&] { remove_published(fs::path(config_.deployments_root) / artifact); };
    if (!step(id, int(S::kBuilding), int(S::kDeploying))) return unpublish();
    auto pending = make_live(id, row, S::kDeploying);
    if (!pending) return;
    if (!step(id, int(S::kDeploying), int(S::kHealthCheck))) return;
    check_health(id, row, artifact);
    activate(id, row, S::kHealthCheck, S::kInactive, *pending);
    prune(row.service_id);
}

void JobRunner::check_health(const std::string &id, const JobRow &row, const std::string &artifact)
{
    std::string detail;
    if (config_.edge_http_addresses.empty() || !config_.has_edges()) {
        // Nothing to request the site through: the check of the published files is all
        // that can be said, and the log says so.
        fs::path dir = fs::path(config_.deployments_root) / artifact;
        if (fs::is_empty(dir)) throw std::runtime_error("the published directory is empty");
        detail = std::string("no [edges] ") +
                 (!config_.has_edges() ? "admin_sockets or redis_edges" : "http_addresses") +
                 ": checked the published directory only (" +
                 (fs::exists(dir / "index.html") ? "index.html present" : "files present") + ")";
    } else {
        // The edges acknowledged a table in which this deployment is live (make_live), so
        // the request reaches the new version before it is ACTIVE.
        StaticHealthTarget t;
        t.edge_addresses = config_.edge_http_addresses;
        t.host = row.service_name + "." + config_.base_domain;
        t.path = row.health_path;
        t.deployment_id = id;
        t.timeout_ms = config_.health_timeout_ms;
        t.attempts = config_.health_attempts;
        log(id, "health check: GET " + t.path + " with Host " + t.host + " through " +
                    std::to_string(t.edge_addresses.size()) + " edge address(es)");
        StaticHealthVerdict v =
            check_static_health(t, [&](const std::string &line) { log(id, line); });
        if (!v.healthy) throw std::runtime_error(v.detail);
        detail = v.detail;
    }
    log(id, "health check: " + detail);
    tx([&](pqxx::work &w) {
        stage_note(w, id, detail);
        return 0;
    });
}

// The values of the service's secret env vars, for the publish scan. A value that no longer
// decrypts (the key changed) cannot be looked for: that fails the deploy rather than skip it.
std::vector<NamedSecret> JobRunner::secret_values(const JobRow &row)
{
    if (!secrets_) return {};
    auto sealed = tx([&](pqxx::work &w) {
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto &r : w.exec_params("SELECT key, value_sealed FROM env_vars"
                                           " WHERE service_id = $1 AND is_secret",
                                           row.service_id))
            out.emplace_back(r[0].as<std::string>(), r[1].as<std::string>());
        return out;
    });
    std::vector<NamedSecret> out;
    for (const auto &[key, value] : sealed) {
        auto plain = secrets_->open(value, row.service_id + "/" + key);
        if (!plain)
            throw std::runtime_error("secret env var " + key +
                                     " cannot be decrypted with the current key; it cannot be "
                                     "checked for in the published files");
        out.push_back({key, *plain});
    }
    return out;
}

std::optional<std::vector<std::string>> JobRunner::make_live(const std::string &id,
                                                             const JobRow &row, DeployStatus from)
{
    const bool edges = config_.has_edges();
    bool mine = tx([&](pqxx::work &w) {
        if (current_status(w, id) != from) return false;
        w.exec_params("UPDATE services SET live_deployment_id = $2 WHERE id = $1", row.service_id,
                      id);
        refresh_expected(w, config_);
        return true;
    });
    if (!mine) return std::nullopt; // moved meanwhile (cancelled): nothing was made live
    std::vector<std::string> pending;
    std::string published = "published in redis " + config_.redis_prefix + ":routes";
    if (!edges) {
        // No edge to wait for: publish once for any edge following Redis, and go on.
        try {
            EdgeSync sync(config_, db_);
            sync.sync_all();
            if (!sync.publish_error().empty())
                published = "not published in redis: " + sync.publish_error();
        } catch (const std::exception &e) {
            published = std::string("not published in redis: ") + e.what();
        }
    } else {
        EdgeSync sync(config_, db_);
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::seconds(config_.edge_ack_timeout_s);
        bool waiting_logged = false;
        std::optional<std::chrono::steady_clock::time_point> first_ack;
        for (;;) {
            ExpectedTable table;
            std::vector<EdgeResult> results = retrying([&] { return sync.sync_all(&table); });
            if (!table.serves(id)) {
                // Its route was left out (an edge would refuse it): say why, never push less.
                std::string why = tx([&](pqxx::work &w) {
                    auto r = w.exec_params("SELECT COALESCE(route_error, '') FROM services"
                                           " WHERE id = $1",
                                           row.service_id);
                    return r.empty() ? std::string() : r[0][0].as<std::string>();
                });
                throw std::runtime_error(why.empty() ? "the route table does not serve it" : why);
            }
            pending.clear();
            std::string errors;
            bool following = false; // a live Redis edge that has not fetched the table yet
            for (const EdgeResult &r : results) {
                if (r.serves(id) && r.version == table.version) continue;
                pending.push_back(r.socket);
                errors += (errors.empty() ? "" : "; ") + r.socket + ": " + r.error;
                following |= r.fetching;
            }
            auto now = std::chrono::steady_clock::now();
            if (pending.size() < results.size() && !first_ack) first_ack = now;
            // Redis edges fetch a published table on their own, milliseconds apart: give the
            // live ones a moment to catch up rather than list them pending for one pass.
            if (first_ack && (!following || now - *first_ack >= std::chrono::seconds(3))) {
                log(id, "route table " + std::to_string(table.version) + " acknowledged by " +
                            std::to_string(results.size() - pending.size()) + " of " +
                            std::to_string(results.size()) + " edge(s)" +
                            (pending.empty() ? "" : "; pending: " + errors));
                break;
            }
            if (!first_ack && now >= deadline)
                throw std::runtime_error("no edge acknowledged a route table serving it within " +
                                         std::to_string(config_.edge_ack_timeout_s) +
                                         " s: " + errors);
            if (!waiting_logged && !first_ack)
                log(id, "waiting for an edge to acknowledge the route table: " + errors);
            waiting_logged |= !first_ack;
            // Redis edges acknowledge on their own time: look again sooner.
            std::this_thread::sleep_for(
                std::chrono::milliseconds(config_.edge_redis_names.empty() ? 250 : 100));
        }
    }
    tx([&](pqxx::work &w) {
        stage_note(w, id,
                   edges ? "route table acknowledged by " +
                               std::to_string(config_.edge_ids().size() - pending.size()) + " of " +
                               std::to_string(config_.edge_ids().size()) + " edge(s)"
                         : "no [edges] admin_sockets or redis_edges to wait for; route table " +
                               published);
        return 0;
    });
    return pending;
}

void JobRunner::activate(const std::string &id, const JobRow &row, DeployStatus from,
                         DeployStatus demote_to, const std::vector<std::string> &pending)
{
    tx([&](pqxx::work &w) {
        // Demote first: at most one ACTIVE per service is a unique index.
        auto prev =
            w.exec_params("SELECT id FROM deployments WHERE service_id = $1 AND status = 'ACTIVE'",
                          row.service_id);
        for (const auto &p : prev)
            transition(w, p[0].as<std::string>(), S::kActive, demote_to, kActor);
        if (!transition(w, id, from, S::kActive, kActor))
            throw std::runtime_error("deployment left " + std::string(status_name(from)) +
                                     " unexpectedly");
        w.exec_params("UPDATE deployments SET edges_pending = $2::text[] WHERE id = $1", id,
                      pg_text_array(pending));
        // In the same transaction as ACTIVE: a log follower that sees the end has every line.
        append_build_log(w, id, "ACTIVE at " + row.service_name + "." + config_.base_domain);
        return 0;
    });
}

// A failed deployment that had been made live hands its routes back to the ACTIVE one.
void JobRunner::revert_live(const std::string &id)
{
    bool reverted = tx([&](pqxx::work &w) {
        auto r = w.exec_params(
            "UPDATE services s SET live_deployment_id = (SELECT d.id FROM deployments d"
            " WHERE d.service_id = s.id AND d.status = 'ACTIVE') WHERE live_deployment_id = $1"
            " RETURNING s.id",
            id);
        if (r.empty()) return false;
        refresh_expected(w, config_);
        return true;
    });
    if (reverted) retrying([&] { return EdgeSync(config_, db_).sync_all(); });
}

void JobRunner::prune(const std::string &service_id)
{
    // Keeps the newest keep_deployments directories of formerly ACTIVE deployments; a pruned
    // one can no longer be rolled back to (its artifact_path is cleared, so the API says so).
    auto victims = tx([&](pqxx::work &w) {
        std::vector<std::string> paths;
        // RETURNING sees the new (NULL) value, so the old path comes from the CTE.
        for (const auto &r : w.exec_params(
                 "WITH old AS (SELECT id, artifact_path FROM deployments WHERE service_id = $1"
                 " AND status IN ('INACTIVE', 'ROLLED_BACK') AND NOT is_rollback"
                 " AND artifact_path IS NOT NULL AND artifact_path NOT IN (SELECT artifact_path"
                 " FROM deployments WHERE service_id = $1 AND status = 'ACTIVE'"
                 " AND artifact_path IS NOT NULL) ORDER BY updated_at DESC OFFSET $2)"
                 " UPDATE deployments d SET artifact_path = NULL FROM old WHERE d.id = old.id"
                 " RETURNING old.artifact_path",
                 service_id, config_.keep_deployments - 1))
            paths.push_back(r[0].as<std::string>());
        return paths;
    });
    for (const auto &p : victims)
        remove_published(fs::path(config_.deployments_root) / p);
}

void JobRunner::run_rollback(const std::string &id)
{
    JobRow row = load_row(db_, id);
    if (row.artifact_path.empty() ||
        !fs::is_directory(fs::path(config_.deployments_root) / row.artifact_path))
        throw std::runtime_error("rollback target directory " + row.artifact_path + " is gone");
    log(id, "rolling back to " + row.artifact_path + " (route swap, no rebuild)");
    // A known-good version coming back: no health check (the seed's rollback is a swap).
    if (auto pending = make_live(id, row, S::kRollingBack))
        activate(id, row, S::kRollingBack, S::kRolledBack, *pending);
}

PipelineWorkers::PipelineWorkers(const ControlConfig &config, Db &db, const SecretBox *secrets)
    : config_(config), db_(db), secrets_(secrets)
{
}

PipelineWorkers::~PipelineWorkers()
{
    stop();
}

void PipelineWorkers::start(int n)
{
    for (int i = 0; i < n; ++i)
        threads_.emplace_back([this, i] { loop(i); });
}

void PipelineWorkers::stop()
{
    stopping_ = true;
    cv_.notify_all();
    for (auto &t : threads_)
        t.join();
    threads_.clear();
}

void PipelineWorkers::pause_ms(int ms)
{
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_.load(); });
}

void PipelineWorkers::sweep(JobQueue &queue)
{
    int requeued = queue.requeue_expired(wall_clock_ms());
    if (requeued) std::fprintf(stderr, "berth-control: requeued %d expired job(s)\n", requeued);
    auto ids = db_.transact([&](pqxx::work &w) {
        std::vector<std::string> out;
        for (const auto &r :
             // Rows that wait for a job: new ones, rollbacks, and approved builds not yet
             // claimed (the claim clears `approved`); and rows stuck in a running stage past
             // the visibility timeout (their worker died), which the runner then fails
             // clearly. One whose job is in a list is skipped below.
             w.exec_params(
                 "SELECT id FROM deployments WHERE ((status IN ('QUEUED', 'ROLLING_BACK')"
                 " OR (status = 'BUILDING' AND approved)) AND"
                 " updated_at < now() - make_interval(secs => $1)) OR (status IN"
                 " ('CLONING', 'SCANNING', 'REVIEW', 'BUILDING', 'DEPLOYING', 'HEALTH_CHECK')"
                 " AND COALESCE(heartbeat_at, updated_at) < now() - make_interval(secs => $2))"
                 " LIMIT 1000",
                 config_.recover_queued_after_s, config_.visibility_timeout_s))
            out.push_back(r[0].as<std::string>());
        return out;
    });
    for (const auto &id : ids)
        if (!queue.contains(id)) {
            std::fprintf(stderr, "berth-control: recovering lost job %s\n", id.c_str());
            queue.push(id);
        }
    // Pushes that arrived while their service had a deployment in flight (#15): the newest
    // one per service and branch is deployed once nothing is in flight any more.
    auto started = db_.transact([&](pqxx::work &w) {
        std::vector<std::string> out;
        // A service that stopped taking pushes meanwhile (auto_deploy off, paused by a
        // rollback, #16) drops what was held for it.
        w.exec("DELETE FROM pending_pushes pp USING services s WHERE s.id = pp.service_id AND"
               " (NOT s.auto_deploy OR s.auto_deploy_paused)");
        for (const auto &r :
             w.exec("DELETE FROM pending_pushes pp WHERE NOT EXISTS (SELECT 1 FROM deployments d"
                    " WHERE d.service_id = pp.service_id AND d.status IN " +
                    in_flight_statuses_sql() +
                    ") RETURNING service_id, branch, commit_hash, provider, delivery_id")) {
            NewDeployment d;
            d.service_id = r[0].as<std::string>();
            d.branch = r[1].as<std::string>();
            d.commit_hash = r[2].as<std::string>();
            d.trigger_source = "webhook:" + r[3].as<std::string>();
            d.actor = d.trigger_source;
            w.exec("SAVEPOINT pending_push");
            try {
                out.push_back(insert_deployment(w, d)["id"]);
                w.exec("RELEASE SAVEPOINT pending_push");
            } catch (const pqxx::unique_violation &) {
                // Another trigger won the race: keep the push for the next sweep.
                w.exec("ROLLBACK TO SAVEPOINT pending_push");
                w.exec_params("INSERT INTO pending_pushes(service_id, branch, commit_hash,"
                              " provider, delivery_id) VALUES ($1, $2, $3, $4, $5)"
                              " ON CONFLICT DO NOTHING",
                              d.service_id, d.branch, d.commit_hash, r[3].as<std::string>(),
                              r[4].as<std::string>());
            }
        }
        return out;
    });
    for (const auto &id : started) {
        std::fprintf(stderr, "berth-control: deploying a queued push: %s\n", id.c_str());
        queue.push(id);
    }
    collect_build_dirs();
    collect_uploads(config_, db_);
}

// Build directories whose deployment has ended (cancelled from AWAITING_APPROVAL, failed in a
// stage that could not clean up, deleted) are removed; an AWAITING_APPROVAL checkout stays for
// its build (#15).
void PipelineWorkers::collect_build_dirs()
{
    std::vector<std::string> names;
    std::error_code ec;
    for (auto it = fs::directory_iterator(config_.builds_dir, ec);
         !ec && it != fs::directory_iterator(); it.increment(ec))
        names.push_back(it->path().filename().string());
    if (names.empty()) return;
    auto done = db_.transact([&](pqxx::work &w) {
        std::vector<std::string> out;
        for (const auto &r : w.exec_params(
                 "SELECT n FROM unnest($1::text[]) n WHERE NOT EXISTS (SELECT 1 FROM deployments"
                 " d WHERE d.id::text = n AND d.status IN " +
                     in_flight_statuses_sql() + ")",
                 pg_text_array(names)))
            out.push_back(r[0].as<std::string>());
        return out;
    });
    for (const auto &n : done)
        fs::remove_all(fs::path(config_.builds_dir) / n, ec);
}

// While a job runs: every visibility_timeout_s / 5 its queue lease is extended and its row's
// heartbeat_at written, from a thread of its own, so a clone or a wait that makes no progress
// for a while is not taken for a dead worker, and a dead worker is found within the timeout.
PipelineWorkers::Heartbeat::Heartbeat(PipelineWorkers &owner, std::string id)
    : owner_(owner), id_(std::move(id))
{
    thread_ = std::thread([this] {
        int interval_ms = std::max(200, owner_.config_.visibility_timeout_s * 1000 / 5);
        std::optional<RedisConn> redis;
        while (true) {
            {
                std::unique_lock lock(mu_);
                if (cv_.wait_for(lock, std::chrono::milliseconds(interval_ms),
                                 [this] { return done_; }))
                    return;
            }
            try {
                if (!redis) redis.emplace(owner_.config_.redis_url);
                JobQueue(*redis, owner_.config_.redis_prefix,
                         owner_.config_.visibility_timeout_s * 1000)
                    .heartbeat(id_, wall_clock_ms());
            } catch (const std::exception &) {
                redis.reset(); // reconnect next time; the row's heartbeat still counts
            }
            try {
                owner_.db_.transact([&](pqxx::work &w) {
                    w.exec_params("UPDATE deployments SET heartbeat_at = now() WHERE id = $1", id_);
                    return 0;
                });
            } catch (const std::exception &) {
                // PostgreSQL is away: the runner is retrying too; nothing to record it in.
            }
        }
    });
}

PipelineWorkers::Heartbeat::~Heartbeat()
{
    {
        std::lock_guard lock(mu_);
        done_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void PipelineWorkers::loop(int index)
{
    RedisConn redis(config_.redis_url);
    JobQueue queue(redis, config_.redis_prefix, config_.visibility_timeout_s * 1000);
    JobRunner runner(config_, db_, secrets_);
    std::string current;
    runner.set_heartbeat([&] {
        try {
            queue.heartbeat(current, wall_clock_ms());
        } catch (const RedisUnavailable &) {
            // The lease may lapse; the job is then requeued and the row decides what is left.
        }
    });
    int64_t next_sweep = 0;
    while (!stopping_) {
        try {
            if (index == 0 && wall_clock_ms() >= next_sweep) {
                next_sweep = wall_clock_ms() + 2000;
                sweep(queue);
            }
            auto job = queue.take(1000, wall_clock_ms());
            if (!job) continue;
            current = *job;
            try {
                Heartbeat beat(*this, *job);
                runner.run(*job);
            } catch (const DbUnavailable &e) {
                // Put it back now rather than wait for the lease; back off while the DB is down.
                std::fprintf(stderr, "berth-control: job %s: %s; requeued\n", job->c_str(),
                             e.what());
                queue.push(*job);
                queue.ack(*job);
                pause_ms(1000);
                continue;
            }
            queue.ack(*job);
        } catch (const RedisUnavailable &e) {
            std::fprintf(stderr, "berth-control: worker %d: %s; retrying\n", index, e.what());
            pause_ms(1000);
        } catch (const DbUnavailable &e) {
            std::fprintf(stderr, "berth-control: worker %d: %s; retrying\n", index, e.what());
            pause_ms(1000);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "berth-control: worker %d: %s\n", index, e.what());
            pause_ms(1000);
        }
    }
}

} // namespace berth::control
