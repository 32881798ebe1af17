// Hash-chained audit rows: append inside the caller's transaction; verify the whole chain.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "control/base/json_util.h"

namespace berth::control
{

struct AuditEntry {
    std::string actor;       // "user:<name>", "webhook:github", "system"
    std::string action;      // DEPLOYMENT_TRIGGER, DEPLOYMENT_STATUS, PROJECT_CREATE, ...
    std::string target_type; // deployment | service | project | env_var | token
    std::string target_id;
    Json details = Json::object();
};

// Appends one row in transaction w. Takes a transaction-scoped advisory lock so rows are
// chained in id order even under concurrent writers; the lock is released at commit.
void audit_append(pqxx::transaction_base &w, const AuditEntry &entry);

// The canonical JSON a row's hash covers (every column except the two hashes).
std::string audit_canonical(int64_t id, const std::string &created_at, const std::string &actor,
                            const std::string &action, const std::string &target_type,
                            const std::string &target_id, const std::string &details);

struct AuditVerifyResult {
    int64_t rows = 0;
    std::optional<int64_t> broken_id; // the first row whose link or hash does not verify
    std::string reason;
};

// Walks the table in id order, recomputing each hash and checking each prev_hash link.
AuditVerifyResult audit_verify(pqxx::transaction_base &w);

} // namespace berth::control
