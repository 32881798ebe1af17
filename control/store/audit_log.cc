// Audit chain (#3): hash = sha256(prev_hash || canonical_json(row)); UPDATE/DELETE are refused
// by a trigger (0002_audit_log.sql), so tampering needs superuser and is found by verify.
#include "control/store/audit_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "control/base/crypto.h"

namespace berth::control
{

namespace
{

constexpr const char *kGenesis = "0000000000000000000000000000000000000000000000000000000000000000";
constexpr const char *kAuditLockKey = "7302";

std::string utc_now_micros()
{
    using namespace std::chrono;
    auto now = system_clock::now();
    auto us = duration_cast<microseconds>(now.time_since_epoch()).count();
    std::time_t secs = std::time_t(us / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    // The API's timestamp format (PostgreSQL's JSON one in UTC). Rows written before kept "Z";
    // the text is what was hashed, so each row keeps its own.
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, int(us % 1000000));
    return buf;
}

} // namespace

std::string audit_canonical(int64_t id, const std::string &created_at, const std::string &actor,
                            const std::string &action, const std::string &target_type,
                            const std::string &target_id, const std::string &details)
{
    Json parsed = parse_json_or_discarded(details);
    Json row = {{"id", id},
                {"created_at", created_at},
                {"actor", actor},
                {"action", action},
                {"target_type", target_type},
                {"target_id", target_id},
                {"details", parsed.is_discarded() ? Json(details) : parsed}};
    return canonical_json(row);
}

void audit_append(pqxx::transaction_base &w, const AuditEntry &e)
{
    w.exec("SELECT pg_advisory_xact_lock(" + std::string(kAuditLockKey) + ")");
    // A new statement after the lock: its snapshot sees the previous writer's committed row.
    auto head = w.exec1("SELECT (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1),"
                        " nextval('audit_log_id_seq')");
    std::string prev = head[0].is_null() ? kGenesis : head[0].as<std::string>();
    int64_t id = head[1].as<int64_t>();
    std::string created_at = utc_now_micros();
    std::string details = canonical_json(e.details);
    std::string hash = sha256_hex(prev + audit_canonical(id, created_at, e.actor, e.action,
                                                         e.target_type, e.target_id, details));
    w.exec_params("INSERT INTO audit_log(id, created_at, actor, action, target_type, target_id,"
                  " details, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                  id, created_at, e.actor, e.action, e.target_type, e.target_id, details, prev,
                  hash);
}

AuditVerifyResult audit_verify(pqxx::transaction_base &w)
{
    AuditVerifyResult out;
    std::string prev = kGenesis;
    // Streamed in id order; a cursor keeps memory flat on long logs.
    pqxx::icursorstream cur(w,
                            "SELECT id, created_at, actor, action, target_type, target_id, details,"
                            " prev_hash, hash FROM audit_log ORDER BY id",
                            "audit_verify", 1000);
    pqxx::result batch;
    while (cur >> batch) {
        for (const auto &row : batch) {
            ++out.rows;
            int64_t id = row[0].as<int64_t>();
            std::string stored_prev = row[7].as<std::string>();
            std::string stored_hash = row[8].as<std::string>();
            if (stored_prev != prev) {
                out.broken_id = id;
                out.reason = "prev_hash does not match the previous row's hash (a row was removed "
                             "or reordered before this one)";
                return out;
            }
            std::string expect = sha256_hex(
                prev + audit_canonical(id, row[1].as<std::string>(), row[2].as<std::string>(),
                                       row[3].as<std::string>(), row[4].as<std::string>(),
                                       row[5].as<std::string>(), row[6].as<std::string>()));
            if (expect != stored_hash) {
                out.broken_id = id;
                out.reason = "hash does not match the row's contents (the row was modified)";
                return out;
            }
            prev = stored_hash;
        }
    }
    return out;
}

} // namespace berth::control
