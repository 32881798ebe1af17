// Control and edges converge (#15): the expected route table is stored once (route_state);
// each edge's routes.get version and hash are compared with it and the table is pushed on
// drift; what each edge holds is recorded (edge_status) for GET system/edges/.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "control/base/json_util.h"
#include "control/config/control_config.h"
#include "control/queue/redis_conn.h"

namespace berth::control
{

class Db;

// The stored expected table.
struct ExpectedTable {
    uint64_t version = 0;
    std::string hash;
    Json body;                       // the table as pushed
    std::vector<std::string> served; // deployment ids whose routes it carries
    bool serves(const std::string &deployment_id) const;
};

// Rebuilds the expected table from the services' live deployments (a new version), stores it,
// and records route problems: services.route_error and one ROUTE_DROPPED audit row when a
// service's error changes. Runs inside the caller's transaction, under an advisory lock so
// stored versions only increase.
ExpectedTable refresh_expected(pqxx::transaction_base &w, const ControlConfig &config);

// The stored expected table; built first if there is none yet.
ExpectedTable load_expected(pqxx::transaction_base &w, const ControlConfig &config);

// One edge after a sync.
struct EdgeResult {
    std::string socket; // its id: the admin socket path, or "redis:<name>"
    bool reachable = false;
    bool in_sync = false; // holds `version` of the expected table (and its routes)
    uint64_t version = 0; // what the edge reported (or accepted)
    std::string hash;
    std::string error;
    // Static roots of its table whose files are not on the edge's host (it said so), and the
    // deployments those leave unserved there: such an edge does not count as serving them.
    std::vector<std::string> missing_roots;
    std::vector<std::string> unserved;
    bool fetching = false; // a live Redis edge, behind, that has refused nothing: catching up
    // Why missing roots have not reached a Redis edge: archives control could not pack, or
    // that the edge refused ("" when they are merely on their way).
    std::string files_error;
    bool serves(const std::string &deployment_id) const;
};

class EdgeSync
{
public:
    EdgeSync(const ControlConfig &config, Db &db) : config_(config), db_(db) {}

    // Brings every configured edge to the stored expected table: routes.get, and routes.put
    // when its version or hash differs. An edge ahead of the expected version (its table came
    // from elsewhere) gets a rebuilt table with a version above its own. Records each edge in
    // edge_status, clears edges_pending for the deployments the table serves on edges now in
    // sync, and returns the edges in configuration order with the table they were synced to.
    // The table is also published in Redis every time, for any edge that follows it.
    std::vector<EdgeResult> sync_all(ExpectedTable *synced_to = nullptr);
    // Edges following Redis that [edges] redis_edges does not list (names from the set
    // <prefix>:edges), each as a listed one would be reported; a name whose acknowledgement
    // has expired is taken out of the set. Throws RedisUnavailable.
    std::vector<EdgeResult> unlisted_followers(const ExpectedTable &expected);
    // The deployment archives in Redis for edges on other hosts (deployment_files.h).
    // Throws RedisUnavailable.
    Json files_report();
    // Why the last sync_all could not publish in Redis; "" when it did.
    const std::string &publish_error() const { return publish_error_; }
    // What the last sync_all could not distribute to fleet edges ([edges] distribute_files).
    const std::string &files_error() const { return files_error_; }

    // routes.get on one edge, compared with `expected`; pushes when needed.
    EdgeResult sync_edge(const std::string &socket, const ExpectedTable &expected);

private:
    void record(const EdgeResult &r);
    // Redis edges: the expected table is published in Redis (a hash and a message on the
    // channel, see edge/fleet/route_follower.h) and each [edges] redis_edges edge's own
    // acknowledgement is read back. publish() returns "" or why Redis could not be used;
    // a Redis holding a newer table than expected (another control, a reset database) is
    // reported through *ahead.
    std::string publish(const ExpectedTable &expected, uint64_t *ahead);
    EdgeResult read_redis_edge(const std::string &name, const ExpectedTable &expected);
    RedisConn &redis();

    const ControlConfig &config_;
    Db &db_;
    std::optional<RedisConn> redis_;
    std::string publish_error_;
    std::string files_error_;
};

// Edges as GET system/edges/ shows them: [{socket, via, reachable, version, hash, in_sync,
// last_sync, last_error, checked_at}] for each configured edge (socket is "redis:<name>" for
// a Redis edge, via "admin_socket" or "redis"), plus the expected table.
Json edges_report(pqxx::transaction_base &w, const ControlConfig &config);

} // namespace berth::control
