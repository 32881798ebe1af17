// Every status change happens here, in SQL guarded by the expected old status (#3).
#include "control/store/deployments_store.h"

#include "control/store/audit_log.h"

namespace berth::control
{

namespace
{
// pipeline_stages: the phase records (#16), oldest first; outcome and ended_at are null while
// a phase runs.
constexpr const char *kDeploymentJson =
    "SELECT row_to_json(d)::text FROM (SELECT id, service_id, status,"
    " (SELECT COALESCE(json_agg(json_build_object('name', st.name, 'started_at', st.started_at,"
    "   'ended_at', st.ended_at, 'outcome', st.outcome, 'detail', st.detail) ORDER BY st.id),"
    "   '[]') FROM deployment_stages st WHERE st.deployment_id = deployments.id)"
    " AS pipeline_stages, status_history, commit_hash,"
    " branch, is_rollback, rollback_of, queued_min_replicas, review_summary, error_message,"
    " artifact_path, edges_pending, build_environment, trigger_source, triggered_by, created_at, "
    "updated_at,"
    " started_at, finished_at"
    " FROM deployments WHERE ";

std::string statuses_sql(bool (*keep)(DeployStatus))
{
    std::string out = "(";
    for (int i = 0; i < kDeployStatusCount; ++i)
        if (keep(DeployStatus(i)))
            out += (out.size() > 1 ? ",'" : "'") + std::string(status_name(DeployStatus(i))) + "'";
    return out + ")";
}

void open_stage(pqxx::transaction_base &w, const std::string &id, DeployStatus s)
{
    std::string_view stage = stage_of(s);
    if (!stage.empty())
        w.exec_params("INSERT INTO deployment_stages(deployment_id, name) VALUES ($1, $2)", id,
                      std::string(stage));
}

} // namespace

const std::string &in_flight_statuses_sql()
{
    static const std::string sql = statuses_sql([](DeployStatus s) { return !is_terminal(s); });
    return sql;
}

const std::string &running_statuses_sql()
{
    static const std::string sql = statuses_sql([](DeployStatus s) {
        return !is_terminal(s) && s != DeployStatus::kQueued &&
               s != DeployStatus::kAwaitingApproval && s != DeployStatus::kRollingBack;
    });
    return sql;
}

std::optional<Json> load_deployment(pqxx::transaction_base &w, const std::string &id)
{
    auto r = w.exec_params(std::string(kDeploymentJson) + "id = $1) d", id);
    if (r.empty()) return std::nullopt;
    return Json::parse(r[0][0].as<std::string>());
}

std::optional<Json> load_deployment_owned(pqxx::transaction_base &w, const std::string &id,
                                          const std::string &owner_id)
{
    auto r =
        w.exec_params(std::string(kDeploymentJson) +
                          "id = $1 AND service_id IN (SELECT s.id FROM services s JOIN projects p"
                          " ON p.id = s.project_id WHERE p.owner_id = $2)) d",
                      id, owner_id);
    if (r.empty()) return std::nullopt;
    return Json::parse(r[0][0].as<std::string>());
}

std::optional<Json> find_in_flight(pqxx::transaction_base &w, const std::string &service_id)
{
    auto r = w.exec_params(std::string(kDeploymentJson) + "service_id = $1 AND status IN " +
                               in_flight_statuses_sql() + ") d",
                           service_id);
    if (r.empty()) return std::nullopt;
    return Json::parse(r[0][0].as<std::string>());
}

Json insert_deployment(pqxx::transaction_base &w, const NewDeployment &d)
{
    std::string status(status_name(d.status));
    auto r = w.exec_params1(
        "INSERT INTO deployments(id, service_id, status, status_history, commit_hash, branch,"
        " is_rollback, rollback_of, queued_min_replicas, trigger_source, triggered_by, "
        "artifact_path)"
        " SELECT COALESCE(NULLIF($10, '')::uuid, gen_random_uuid()), s.id, $2, "
        "jsonb_build_array(jsonb_build_object('status', $2::text, 'at', now())),"
        " $3, CASE WHEN $4 = '' THEN s.branch ELSE $4 END, $5, NULLIF($6, '')::uuid,"
        " s.min_replicas, $7, NULLIF($8, '')::uuid, NULLIF($9, '')"
        " FROM services s WHERE s.id = $1"
        " RETURNING id, (to_jsonb(deployments.*) - 'approved')::text",
        d.service_id, status, d.commit_hash, d.branch, d.is_rollback, d.rollback_of,
        d.trigger_source, d.triggered_by, d.artifact_path, d.id);
    std::string id = r[0].as<std::string>();
    Json row = Json::parse(r[1].c_str());
    open_stage(w, id, d.status); // a rollback starts in its deploy stage
    row["pipeline_stages"] = Json::array();
    Json details = {{"service_id", d.service_id}, {"status", status}, {"source", d.trigger_source}};
    if (!d.commit_hash.empty()) details["commit_hash"] = d.commit_hash;
    if (d.is_rollback) details["rollback_of"] = d.rollback_of;
    audit_append(w, {d.actor, d.audit_action, "deployment", id, details});
    return row;
}

bool transition(pqxx::transaction_base &w, const std::string &id, DeployStatus from,
                DeployStatus to, const std::string &actor, const std::string &error_message)
{
    if (!can_transition(from, to)) return false;
    std::string to_name(status_name(to));
    auto r =
        w.exec_params("UPDATE deployments SET status = $3, updated_at = now(),"
                      " status_history = status_history || jsonb_build_array(jsonb_build_object("
                      "   'status', $3::text, 'at', now())),"
                      " error_message = COALESCE(NULLIF($4, ''), error_message),"
                      " started_at = CASE WHEN $2 = 'QUEUED' THEN now() ELSE started_at END,"
                      " finished_at = CASE WHEN $3 IN ('ACTIVE','FAILED','CANCELLED') THEN now() "
                      "ELSE finished_at END"
                      " WHERE id = $1 AND status = $2 RETURNING service_id",
                      id, std::string(status_name(from)), to_name, error_message);
    if (r.empty()) return false;
    if (stage_of(from) != stage_of(to)) {
        const char *outcome = to == DeployStatus::kCancelled                        ? "cancelled"
                              : to == DeployStatus::kFailed || is_phase_failure(to) ? "failed"
                                                                                    : "ok";
        // A failed stage's detail is its error (shortened); an ok one keeps its stage_note.
        w.exec_params("UPDATE deployment_stages SET ended_at = clock_timestamp(), outcome = $2,"
                      " detail = CASE WHEN $3 <> '' THEN left($3, 300) ELSE detail END"
                      " WHERE deployment_id = $1 AND ended_at IS NULL",
                      id, std::string(outcome),
                      std::string(outcome) == "ok" ? std::string() : error_message);
        open_stage(w, id, to);
    }
    Json details = {
        {"from", status_name(from)}, {"to", to_name}, {"service_id", r[0][0].as<std::string>()}};
    if (!error_message.empty()) details["error_message"] = error_message;
    const char *action = to == DeployStatus::kCancelled ? "DEPLOYMENT_CANCEL" : "DEPLOYMENT_STATUS";
    audit_append(w, {actor, action, "deployment", id, details});
    return true;
}

std::optional<DeployStatus> current_status(pqxx::transaction_base &w, const std::string &id)
{
    auto r = w.exec_params("SELECT status FROM deployments WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return parse_status(r[0][0].as<std::string>());
}

void stage_note(pqxx::transaction_base &w, const std::string &id, const std::string &detail)
{
    w.exec_params("UPDATE deployment_stages SET detail = left($2, 300) WHERE deployment_id = $1"
                  " AND ended_at IS NULL",
                  id, detail);
}

void stage_skipped(pqxx::transaction_base &w, const std::string &id, std::string_view name,
                   const std::string &detail)
{
    w.exec_params("UPDATE deployment_stages SET ended_at = clock_timestamp(), outcome = 'ok'"
                  " WHERE deployment_id = $1 AND ended_at IS NULL",
                  id);
    w.exec_params("INSERT INTO deployment_stages(deployment_id, name, ended_at, outcome, detail)"
                  " VALUES ($1, $2, clock_timestamp(), 'skipped', $3)",
                  id, std::string(name), detail);
}

void append_build_log(pqxx::transaction_base &w, const std::string &deployment_id,
                      const std::string &line, const std::string &stream)
{
    w.exec_params("INSERT INTO build_logs(deployment_id, stream, line) VALUES ($1, $2, $3)",
                  deployment_id, stream, line);
}

int build_uid_number(pqxx::transaction_base &w, const std::string &service_id)
{
    // Under the UPDATE's row lock, so two first builds of one service get one number.
    w.exec_params("UPDATE services SET build_uid = nextval('service_build_uid_seq')"
                  " WHERE id = $1 AND build_uid IS NULL",
                  service_id);
    return w.exec_params1("SELECT build_uid FROM services WHERE id = $1", service_id)[0].as<int>();
}

} // namespace berth::control
