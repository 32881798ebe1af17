// Deployment rows: creation, guarded status transitions (state machine + audit), build logs.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

#include "control/base/json_util.h"
#include "control/model/state_machine.h"

namespace berth::control
{

// The non-terminal statuses as an SQL list "('QUEUED',...)", built from is_terminal() in
// state_machine.cc; the partial unique index of 0005_stages.sql lists the same ones (a store
// test compares them).
const std::string &in_flight_statuses_sql();

// The statuses in which a worker is running a stage (non-terminal, and not waiting for a job
// or an approval: not QUEUED, AWAITING_APPROVAL or ROLLING_BACK), as an SQL list. A row in one
// of them whose heartbeat stopped was left by a dead worker.
const std::string &running_statuses_sql();

// The deployment as the API returns it, or nullopt.
std::optional<Json> load_deployment(pqxx::transaction_base &w, const std::string &id);

struct NewDeployment {
    std::string id; // empty: a new random one (an upload names its stored archive first)
    std::string service_id;
    std::string branch;
    std::string commit_hash;
    std::string trigger_source = "api"; // api | webhook:<provider> | rollback
    std::string triggered_by;           // user id, may be empty
    std::string actor;                  // for the audit row
    std::string audit_action = "DEPLOYMENT_TRIGGER";
    bool is_rollback = false;
    std::string rollback_of;
    std::string artifact_path; // rollbacks reuse the target's directory
    DeployStatus status = DeployStatus::kQueued;
};

// Inserts the row and its audit entry. Throws pqxx::unique_violation when the service already
// has a deployment in flight (the partial unique index); the caller's transaction is then
// aborted, so it answers 409 from a fresh one (find_in_flight).
Json insert_deployment(pqxx::transaction_base &w, const NewDeployment &d);

// The deployment if its service's project belongs to owner_id (one query), else nullopt.
std::optional<Json> load_deployment_owned(pqxx::transaction_base &w, const std::string &id,
                                          const std::string &owner_id);

// The service's non-terminal deployment, if any.
std::optional<Json> find_in_flight(pqxx::transaction_base &w, const std::string &service_id);

// Moves the deployment from `from` to `to` if and only if the state machine allows it and the
// row is still in `from` (another actor may have cancelled it). Appends `to` to
// status_history, writes an audit row, and sets error_message when given. When `to` belongs
// to another stage than `from` (stage_of()), the open deployment_stages row is closed (outcome
// cancelled for CANCELLED, failed with the error as its detail for FAILED and the phase
// failures, else ok) and one is opened for `to`'s stage. Returns false (changing nothing) when
// the row is not in `from`.
bool transition(pqxx::transaction_base &w, const std::string &id, DeployStatus from,
                DeployStatus to, const std::string &actor, const std::string &error_message = {});

// The current status of a deployment, or nullopt if it does not exist.
std::optional<DeployStatus> current_status(pqxx::transaction_base &w, const std::string &id);

// Sets the detail of the deployment's open stage (what it did: "checked out abc1234",
// "GET / via 127.0.0.1:8080: 200"); kept when the stage closes ok.
void stage_note(pqxx::transaction_base &w, const std::string &id, const std::string &detail);

// Records a stage the deployment did not need (outcome skipped), e.g. approval when the
// service does not require one. Closes the open stage (ok) first, so the records stay in
// time order; call it right before the transition into the next stage, in its transaction.
void stage_skipped(pqxx::transaction_base &w, const std::string &id, std::string_view name,
                   const std::string &detail);

void append_build_log(pqxx::transaction_base &w, const std::string &deployment_id,
                      const std::string &line, const std::string &stream = "build");

// The service's build uid number (0009_build_uids.sql): assigned from service_build_uid_seq on
// the first call, the same number on every later one, never another service's. Builds run as
// uid [builds] uid_base + this number when control is root.
int build_uid_number(pqxx::transaction_base &w, const std::string &service_id);

} // namespace berth::control
