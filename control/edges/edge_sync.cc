// The comparison uses the table's content hash as well as its version: a table pushed by hand
// with the same version but other routes is drift too. Hashes are computed here from the
// edge's reply (parsed with the shared route parser), so the edge protocol is unchanged.
#include "control/edges/edge_sync.h"

#include <algorithm>
#include <map>

#include "control/edges/deployment_files.h"
#include "control/edges/route_tables.h"
#include "control/store/audit_log.h"
#include "control/store/db.h"
#include "shared/admin/admin_client.h"
#include "shared/fleet/signature.h"
#include "shared/route/route_table_json.h"

namespace berth::control
{

namespace
{

constexpr const char *kRouteLock = "SELECT pg_advisory_xact_lock(7302)";

std::vector<std::string> parse_uuid_array(const pqxx::field &f)
{
    std::vector<std::string> out;
    auto arr = f.as_array();
    for (auto e = arr.get_next(); e.first != pqxx::array_parser::juncture::done; e = arr.get_next())
        if (e.first == pqxx::array_parser::juncture::string_value) out.push_back(e.second);
    return out;
}

// The strings of a JSON array (an edge's missing_roots); anything else reads as none.
std::vector<std::string> string_list(const Json &j)
{
    std::vector<std::string> out;
    if (j.is_array())
        for (const Json &e : j)
            if (e.is_string()) out.push_back(e.get<std::string>());
    return out;
}

// "holds version 12, but ..." for an edge in sync that lacks some deployments' files.
std::string missing_roots_error(const EdgeResult &r)
{
    std::string list;
    for (size_t i = 0; i < r.missing_roots.size() && i < 5; ++i)
        list += (i ? ", " : "") + r.missing_roots[i];
    if (r.missing_roots.size() > 5) list += ", ...";
    return "holds version " + std::to_string(r.version) + ", but the files of " +
           std::to_string(r.missing_roots.size()) +
           " static root(s) are not on its host (deployments_root): " + list +
           (r.files_error.empty() ? "" : " (" + r.files_error + ")");
}

} // namespace

bool ExpectedTable::serves(const std::string &deployment_id) const
{
    return std::find(served.begin(), served.end(), deployment_id) != served.end();
}

bool EdgeResult::serves(const std::string &deployment_id) const
{
    return in_sync && std::find(unserved.begin(), unserved.end(), deployment_id) == unserved.end();
}

ExpectedTable refresh_expected(pqxx::transaction_base &w, const ControlConfig &config)
{
    w.exec(kRouteLock);
    BuiltTable built = build_route_table(w, config);
    // Route problems live on the service; audited once per change, not once per rebuild.
    std::vector<std::string> broken;
    for (const DroppedRoute &d : built.dropped) {
        broken.push_back(d.service_id);
        std::string error = "route " + d.host + " left out of the route table: " + d.reason;
        auto r = w.exec_params("UPDATE services SET route_error = $2 WHERE id = $1 AND"
                               " route_error IS DISTINCT FROM $2 RETURNING id",
                               d.service_id, error);
        if (!r.empty()) audit_dropped_routes(w, {d});
    }
    w.exec_params("UPDATE services SET route_error = NULL WHERE route_error IS NOT NULL"
                  " AND NOT (id = ANY($1::uuid[]))",
                  pg_text_array(broken));
    ExpectedTable e;
    e.version = built.table.version();
    e.hash = built.hash();
    e.body = built.json();
    e.served = built.served;
    w.exec_params("INSERT INTO route_state(id, version, hash, body, served) VALUES"
                  " (1, $1, $2, $3, $4::uuid[]) ON CONFLICT (id) DO UPDATE SET"
                  " version = EXCLUDED.version, hash = EXCLUDED.hash, body = EXCLUDED.body,"
                  " served = EXCLUDED.served, updated_at = now()",
                  int64_t(e.version), e.hash, canonical_json(e.body), pg_text_array(e.served));
    return e;
}

ExpectedTable load_expected(pqxx::transaction_base &w, const ControlConfig &config)
{
    auto r = w.exec("SELECT version, hash, body, served FROM route_state WHERE id = 1");
    if (r.empty()) return refresh_expected(w, config);
    ExpectedTable e;
    e.version = r[0][0].as<uint64_t>();
    e.hash = r[0][1].as<std::string>();
    e.body = Json::parse(r[0][2].as<std::string>());
    e.served = parse_uuid_array(r[0][3]);
    return e;
}

EdgeResult EdgeSync::sync_edge(const std::string &socket, const ExpectedTable &expected)
{
    EdgeResult r;
    r.socket = socket;
    try {
        shared::admin::AdminClient client(socket, config_.edge_timeout_ms);
        Json got = client.call({{"cmd", "routes.get"}});
        if (!got.value("ok", false))
            throw shared::admin::AdminError("routes.get refused: " + got.value("error", ""));
        r.reachable = true;
        r.version = got.value("version", uint64_t(0));
        r.missing_roots = string_list(got.value("missing_roots", Json::array()));
        if (got.contains("table") && got["table"].is_object()) {
            std::string error;
            if (auto t = shared::route::route_table_from_json(got["table"], error))
                r.hash = table_hash(*t);
        }
        if (r.version == expected.version && r.hash == expected.hash) {
            r.in_sync = true;
            return r;
        }
        if (r.version >= expected.version) {
            r.error = "the edge holds version " + std::to_string(r.version) +
                      ", not below the expected " + std::to_string(expected.version);
            return r;
        }
        Json put = client.call({{"cmd", "routes.put"}, {"table", expected.body}});
        if (!put.value("ok", false)) {
            r.error = "routes.put refused: " + put.value("error", std::string("no reason given"));
            return r;
        }
        r.in_sync = true;
        r.version = expected.version;
        r.hash = expected.hash;
        r.missing_roots = string_list(put.value("missing_roots", Json::array()));
    } catch (const shared::admin::AdminError &e) {
        r.error = e.what();
    }
    return r;
}

void EdgeSync::record(const EdgeResult &r)
{
    db_.transact([&](pqxx::work &w) {
        w.exec_params(
            "INSERT INTO edge_status(socket, reachable, version, hash, in_sync, last_sync,"
            " last_error, checked_at) VALUES ($1, $2, NULLIF($3, -1), NULLIF($4, ''), $5,"
            " CASE WHEN $5 THEN now() END, NULLIF($6, ''), now())"
            " ON CONFLICT (socket) DO UPDATE SET reachable = EXCLUDED.reachable,"
            " version = COALESCE(EXCLUDED.version, edge_status.version),"
            " hash = COALESCE(EXCLUDED.hash, edge_status.hash), in_sync = EXCLUDED.in_sync,"
            " last_sync = COALESCE(EXCLUDED.last_sync, edge_status.last_sync),"
            " last_error = EXCLUDED.last_error, checked_at = now()",
            r.socket, r.reachable, r.reachable ? int64_t(r.version) : int64_t(-1), r.hash,
            r.in_sync, r.error);
        return 0;
    });
}

Json EdgeSync::files_report()
{
    return DeploymentFiles(config_, redis()).report();
}

RedisConn &EdgeSync::redis()
{
    if (!redis_) redis_.emplace(config_.redis_url, config_.edge_timeout_ms);
    return *redis_;
}

std::string EdgeSync::publish(const ExpectedTable &expected, uint64_t *ahead)
{
    const std::string key = config_.redis_prefix + ":routes";
    try {
        // The files before the table that names them: an edge fetches them before installing.
        // Archives of roots it no longer names go once it is the table in Redis; with
        // distribution off, all of them (an earlier configuration's would stay for good).
        DeploymentFiles files(config_, redis());
        files_error_ = config_.distribute_files ? files.upload_missing(expected.body) : "";
        auto drop_unserved = [&] {
            files.drop_unserved(config_.distribute_files ? expected.body : Json::object());
        };
        std::string version_text = std::to_string(expected.version);
        std::string table = canonical_json(expected.body);
        std::string signature =
            shared::fleet::sign_table(config_.redis_signing_key, version_text, table);
        RedisReply held = redis().command({"HMGET", key, "version", "hash", "signature"});
        auto field = [&](size_t i) {
            return held->type == REDIS_REPLY_ARRAY && held->elements > i &&
                           held->element[i]->type == REDIS_REPLY_STRING
                       ? std::string(held->element[i]->str, held->element[i]->len)
                       : std::string();
        };
        uint64_t version = field(0).empty() ? 0 : std::stoull(field(0));
        // A signing key added or changed re-signs the table in place.
        if (version == expected.version && field(1) == expected.hash && field(2) == signature) {
            drop_unserved();
            return "";
        }
        if (version > expected.version) { // a newer table may name what this one does not
            *ahead = version;
            return "";
        }
        // One HSET: a follower never reads a version with another version's table.
        RedisReply set = redis().command({"HSET", key, "version", version_text, "hash",
                                          expected.hash, "table", table, "signature", signature});
        if (set->type == REDIS_REPLY_ERROR)
            return "redis refused the table: " + std::string(set->str, set->len);
        redis().command({"PUBLISH", key, std::to_string(expected.version)});
        drop_unserved();
        return "";
    } catch (const RedisUnavailable &e) {
        return e.what();
    } catch (const std::exception &e) { // a version field that is not a number
        return std::string("redis holds an unreadable ") + key + ": " + e.what();
    }
}

EdgeResult EdgeSync::read_redis_edge(const std::string &name, const ExpectedTable &expected)
{
    EdgeResult r;
    r.socket = "redis:" + name;
    try {
        RedisReply got = redis().command({"HGETALL", config_.redis_prefix + ":edge:" + name});
        std::map<std::string, std::string> fields;
        if (got->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i + 1 < got->elements; i += 2)
                fields[std::string(got->element[i]->str, got->element[i]->len)] =
                    std::string(got->element[i + 1]->str, got->element[i + 1]->len);
        if (fields.empty()) {
            // The acknowledgement expires after three missed heartbeats.
            r.error = "no acknowledgement from edge \"" + name + "\" in redis (not running, or" +
                      " its [redis] url, prefix or name differ)";
            return r;
        }
        r.reachable = true;
        r.version = std::strtoull(fields["version"].c_str(), nullptr, 10);
        r.missing_roots = string_list(Json::parse(fields["missing_roots"], nullptr, false));
        r.hash = fields["hash"];
        if (!r.missing_roots.empty()) {
            std::string why = fields["files_error"].empty()
                                  ? std::string()
                                  : "the edge refused their archives: " + fields["files_error"];
            if (config_.distribute_files) {
                DeploymentFiles files(config_, redis());
                files.repair(r.missing_roots);
                std::string refused;
                for (const auto &[root, reason] : files.refusals(r.missing_roots))
                    refused += (refused.empty() ? "" : "; ") + root + ": " + reason;
                if (!refused.empty())
                    why = "control cannot distribute them: " + refused + (why.empty() ? "" : "; ") +
                          why;
            } else if (why.empty()) {
                why = "[edges] distribute_files is off";
            }
            r.files_error = why;
        }
        r.in_sync = r.version == expected.version && r.hash == expected.hash;
        if (r.in_sync) return r;
        if (!fields["error"].empty())
            r.error = "the edge refused the published table: " + fields["error"];
        else if (r.version >= expected.version)
            r.error = "the edge holds version " + std::to_string(r.version) +
                      ", not below the expected " + std::to_string(expected.version);
        else {
            r.fetching = true;
            r.error = "the edge holds version " + std::to_string(r.version) + "; version " +
                      std::to_string(expected.version) + " is published";
        }
    } catch (const RedisUnavailable &e) {
        r.error = e.what();
    }
    return r;
}

std::vector<EdgeResult> EdgeSync::unlisted_followers(const ExpectedTable &expected)
{
    const std::string set_key = config_.redis_prefix + ":edges";
    RedisReply members = redis().command({"SMEMBERS", set_key});
    std::vector<std::string> names;
    if (members->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < members->elements; ++i)
            names.emplace_back(members->element[i]->str, members->element[i]->len);
    std::sort(names.begin(), names.end());
    const auto &listed = config_.edge_redis_names;
    std::vector<EdgeResult> out;
    for (const std::string &name : names) {
        if (std::find(listed.begin(), listed.end(), name) != listed.end()) continue;
        EdgeResult r = read_redis_edge(name, expected);
        if (!r.reachable && r.error.rfind("no acknowledgement", 0) == 0) {
            redis().command({"SREM", set_key, name}); // gone for three heartbeats
            continue;
        }
        if (r.in_sync && !r.missing_roots.empty()) r.error = missing_roots_error(r);
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<EdgeResult> EdgeSync::sync_all(ExpectedTable *synced_to)
{
    ExpectedTable expected = db_.transact([&](pqxx::work &w) { return load_expected(w, config_); });
    // Continues the version sequence above `ahead` (a table pushed by hand, or control's
    // database was reset) and returns the fresh table.
    auto renumber_above = [&](uint64_t ahead) {
        return db_.transact([&](pqxx::work &w) {
            w.exec(kRouteLock);
            w.exec_params("SELECT setval('route_table_version', GREATEST($1,"
                          " (SELECT last_value FROM route_table_version)))",
                          int64_t(ahead));
            return refresh_expected(w, config_);
        });
    };
    // Every table goes to Redis, listed edges or not: any edge following it is served.
    uint64_t ahead = 0;
    std::string redis_error = publish(expected, &ahead);
    if (ahead) {
        expected = renumber_above(ahead);
        redis_error = publish(expected, &ahead);
    }
    std::vector<EdgeResult> results;
    for (const auto &id : config_.edge_ids()) {
        bool via_redis = id.rfind("redis:", 0) == 0;
        EdgeResult r;
        if (!via_redis) {
            r = sync_edge(id, expected);
        } else if (!redis_error.empty()) {
            r.socket = id;
            r.error = redis_error;
        } else {
            r = read_redis_edge(id.substr(6), expected);
        }
        if (!r.in_sync && r.reachable && r.version >= expected.version) {
            // The edge is ahead: renumber above it and bring it (and Redis) to the new table.
            expected = renumber_above(r.version);
            uint64_t ignored = 0;
            redis_error = publish(expected, &ignored);
            r = via_redis ? read_redis_edge(id.substr(6), expected) : sync_edge(id, expected);
        }
        if (r.in_sync && !r.missing_roots.empty()) r.error = missing_roots_error(r);
        record(r);
        results.push_back(std::move(r));
    }
    // Deployments carried by this table are served by every edge now in sync with it, but
    // for those whose files that edge does not have.
    for (auto &r : results) {
        if (!r.in_sync || r.version != expected.version) continue;
        db_.transact([&](pqxx::work &w) {
            if (!r.missing_roots.empty())
                for (const auto &row :
                     w.exec_params("SELECT id FROM deployments WHERE artifact_path = ANY($1)"
                                   " AND id = ANY($2::uuid[])",
                                   pg_text_array(r.missing_roots), pg_text_array(expected.served)))
                    r.unserved.push_back(row[0].as<std::string>());
            std::vector<std::string> served;
            for (const auto &id : expected.served)
                if (r.serves(id)) served.push_back(id);
            w.exec_params("UPDATE deployments SET edges_pending = array_remove(edges_pending, $1)"
                          " WHERE $1 = ANY(edges_pending) AND id = ANY($2::uuid[])",
                          r.socket, pg_text_array(served));
            return 0;
        });
    }
    publish_error_ = redis_error;
    if (synced_to) *synced_to = std::move(expected);
    return results;
}

Json edges_report(pqxx::transaction_base &w, const ControlConfig &config)
{
    Json edges = Json::array();
    for (const auto &socket : config.edge_ids()) {
        auto r = w.exec_params(
            "SELECT json_build_object('socket', socket, 'reachable', reachable, 'version',"
            " version, 'hash', hash, 'in_sync', in_sync, 'last_sync', last_sync, 'last_error',"
            " last_error, 'checked_at', checked_at)::text FROM edge_status WHERE socket = $1",
            socket);
        edges.push_back(r.empty() ? Json{{"socket", socket},
                                         {"reachable", nullptr},
                                         {"version", nullptr},
                                         {"hash", nullptr},
                                         {"in_sync", false},
                                         {"last_sync", nullptr},
                                         {"last_error", "not checked yet"},
                                         {"checked_at", nullptr}}
                                  : Json::parse(r[0][0].as<std::string>()));
        edges.back()["via"] = socket.rfind("redis:", 0) == 0 ? "redis" : "admin_socket";
    }
    // updated_at as JSON writes timestamps (ISO 8601, "T"), like every other one of the API.
    auto e =
        w.exec("SELECT version, hash, to_json(updated_at) #>> '{}' FROM route_state WHERE id = 1");
    Json expected = e.empty() ? Json(nullptr)
                              : Json{{"version", e[0][0].as<int64_t>()},
                                     {"hash", e[0][1].as<std::string>()},
                                     {"updated_at", e[0][2].as<std::string>()}};
    return {{"expected", expected}, {"edges", edges}};
}

} // namespace berth::control
