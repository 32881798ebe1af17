#include "control/edges/deployment_files.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sys/stat.h>

#include "shared/archive/pack_directory.h"
#include "shared/fleet/signature.h"

namespace berth::control
{

namespace
{

namespace fs = std::filesystem;

// Long enough to move a large archive over a slow link; the connection's own timeout is
// sized for small commands.
constexpr int kArchiveIoMs = 120000;

std::vector<std::string> reply_strings(const redisReply *r)
{
    std::vector<std::string> out;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; ++i)
            out.emplace_back(r->element[i]->str ? r->element[i]->str : "",
                             r->element[i]->str ? r->element[i]->len : 0);
    return out;
}

// Static roots of the table, each once, in table order.
std::vector<std::string> static_roots(const Json &table)
{
    std::vector<std::string> roots;
    std::set<std::string> seen;
    if (!table.contains("routes") || !table["routes"].is_array()) return roots;
    for (const Json &route : table["routes"]) {
        if (route.value("type", "") != "static" || !route.contains("root") ||
            !route["root"].is_string())
            continue;
        std::string root = route["root"].get<std::string>();
        if (seen.insert(root).second) roots.push_back(root);
    }
    return roots;
}

} // namespace

std::string DeploymentFiles::archive_key(const std::string &root) const
{
    return config_.redis_prefix + ":files:" + root;
}

std::string DeploymentFiles::upload(const std::string &root)
{
    fs::path dir = fs::path(config_.deployments_root) / root;
    struct stat st;
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return "not a directory in control's deployments_root";
    std::string archive;
    try {
        archive = shared::pack_directory(dir, config_.distribute_max_bytes);
    } catch (const std::exception &e) {
        return e.what();
    }
    // Listed first: a crash between the two leaves a listed root without its archive, which
    // repair() notices when an edge reports it missing (an unlisted archive would never go).
    redis_.command({"SADD", index_key(), root});
    RedisReply set =
        redis_.command({"HSET", archive_key(root), "data", archive, "signature",
                        shared::fleet::sign_archive(config_.redis_signing_key, root, archive)},
                       kArchiveIoMs);
    if (set->type == REDIS_REPLY_ERROR) {
        redis_.command({"SREM", index_key(), root});
        return "redis refused the archive (" + std::to_string(archive.size()) +
               " bytes): " + std::string(set->str, set->len);
    }
    return "";
}

std::string DeploymentFiles::index_key() const
{
    return config_.redis_prefix + ":files";
}

std::string DeploymentFiles::refused_key() const
{
    return config_.redis_prefix + ":files-refused";
}

std::vector<std::string> DeploymentFiles::listed_roots()
{
    std::vector<std::string> listed =
        reply_strings(redis_.command({"SMEMBERS", index_key()}).get());
    std::sort(listed.begin(), listed.end());
    return listed;
}

std::map<std::string, std::string> DeploymentFiles::refused_roots()
{
    std::vector<std::string> pairs =
        reply_strings(redis_.command({"HGETALL", refused_key()}).get());
    std::map<std::string, std::string> refused;
    for (size_t i = 0; i + 1 < pairs.size(); i += 2)
        refused[pairs[i]] = pairs[i + 1];
    return refused;
}

std::string DeploymentFiles::publish(const Json &table)
{
    std::vector<std::string> roots = static_roots(table);
    std::set<std::string> wanted(roots.begin(), roots.end());
    std::vector<std::string> listed = listed_roots();
    std::map<std::string, std::string> refused = refused_roots();
    std::set<std::string> have(listed.begin(), listed.end());

    for (const std::string &root : roots) {
        if (have.count(root) || refused.count(root)) continue;
        std::string why = upload(root);
        if (why.empty()) continue;
        refused[root] = why;
        redis_.command({"HSET", refused_key(), root, why});
    }
    // What no route serves any more goes: a rollback to it packs it again.
    for (const std::string &root : listed)
        if (!wanted.count(root)) {
            redis_.command({"DEL", archive_key(root)});
            redis_.command({"SREM", index_key(), root});
        }
    std::string problems;
    for (const auto &[root, why] : refused) {
        if (!wanted.count(root)) {
            redis_.command({"HDEL", refused_key(), root});
            continue;
        }
        problems += (problems.empty() ? "" : "; ") + root + ": " + why;
    }
    return problems;
}

void DeploymentFiles::repair(const std::vector<std::string> &missing)
{
    for (const std::string &root : missing) {
        RedisReply listed = redis_.command({"SISMEMBER", index_key(), root});
        if (listed->type != REDIS_REPLY_INTEGER || listed->integer != 1) continue;
        RedisReply exists = redis_.command({"EXISTS", archive_key(root)});
        if (exists->type == REDIS_REPLY_INTEGER && exists->integer == 0) upload(root);
    }
}

Json DeploymentFiles::report()
{
    return {{"archives", listed_roots()}, {"refused", refused_roots()}};
}

std::map<std::string, std::string> DeploymentFiles::refusals(const std::vector<std::string> &roots)
{
    std::map<std::string, std::string> out;
    if (roots.empty()) return out;
    std::vector<std::string> argv = {"HMGET", refused_key()};
    argv.insert(argv.end(), roots.begin(), roots.end());
    RedisReply got = redis_.command(argv);
    if (got->type != REDIS_REPLY_ARRAY) return out;
    for (size_t i = 0; i < got->elements && i < roots.size(); ++i)
        if (got->element[i]->type == REDIS_REPLY_STRING)
            out[roots[i]] = std::string(got->element[i]->str, got->element[i]->len);
    return out;
}

} // namespace berth::control
