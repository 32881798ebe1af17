// Every status change happens here, in SQL guarded by the expected old status (#3).
#include "control/store/deployments_store.h"

#include "control/store/audit_log.h"

namespace berth::control
{

namespace
{
constexpr const char *kDeploymentJson =
    "SELECT row_to_json(d)::text FROM (SELECT id, service_id, status, pipeline_stages, commit_hash,"
    " branch, is_rollback, rollback_of, queued_min_replicas, review_summary, error_message,"
    " artifact_path, edges_pending, trigger_source, triggered_by, created_at, updated_at,"
    " started_at, finished_at"
    " FROM deployments WHERE ";
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
                               kInFlightStatusesSql + ") d",
                           service_id);
    if (r.empty()) return std::nullopt;
    return Json::parse(r[0][0].as<std::string>());
}

Json insert_deployment(pqxx::transaction_base &w, const NewDeployment &d)
{
    std::string status(status_name(d.status));
    auto r = w.exec_params1(
        "INSERT INTO deployments(service_id, status, pipeline_stages, commit_hash, branch,"
        " is_rollback, rollback_of, queued_min_replicas, trigger_source, triggered_by, "
        "artifact_path)"
        " SELECT s.id, $2, jsonb_build_array(jsonb_build_object('status', $2::text, 'at', now())),"
        " $3, CASE WHEN $4 = '' THEN s.branch ELSE $4 END, $5, NULLIF($6, '')::uuid,"
        " s.min_replicas, $7, NULLIF($8, '')::uuid, NULLIF($9, '')"
        " FROM services s WHERE s.id = $1"
        " RETURNING id, (to_jsonb(deployments.*) - 'approved')::text",
        d.service_id, status, d.commit_hash, d.branch, d.is_rollback, d.rollback_of,
        d.trigger_source, d.triggered_by, d.artifact_path);
    std::string id = r[0].as<std::string>();
    Json row = Json::parse(r[1].c_str());
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
                      " pipeline_stages = pipeline_stages || jsonb_build_array(jsonb_build_object("
                      "   'status', $3::text, 'at', now())),"
                      " error_message = COALESCE(NULLIF($4, ''), error_message),"
                      " started_at = CASE WHEN $2 = 'QUEUED' THEN now() ELSE started_at END,"
                      " finished_at = CASE WHEN $3 IN ('ACTIVE','FAILED','CANCELLED') THEN now() "
                      "ELSE finished_at END"
                      " WHERE id = $1 AND status = $2 RETURNING service_id",
                      id, std::string(status_name(from)), to_name, error_message);
    if (r.empty()) return false;
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

void append_build_log(pqxx::transaction_base &w, const std::string &deployment_id,
                      const std::string &line, const std::string &stream)
{
    w.exec_params("INSERT INTO build_logs(deployment_id, stream, line) VALUES ($1, $2, $3)",
                  deployment_id, stream, line);
}

} // namespace berth::control
