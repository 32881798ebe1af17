#include "control/edges/deployment_files.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "control/sandbox/unique_fd.h"
#include "shared/archive/pack_directory.h"
#include "shared/fleet/archive_chunks.h"
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

// Deploys (make_live), the reconciler and route rechecks publish from their own threads. One
// at a time here: two uploads of one root would delete each other's chunks (each starts with
// DEL), and the second caller finds the first one's archive listed instead of packing again.
std::mutex &upload_mutex()
{
    static std::mutex m;
    return m;
}

// Fills `out` from `fd` at `offset`; "" or why not.
std::string read_at(int fd, std::string &out, uint64_t offset)
{
    for (size_t done = 0; done < out.size();) {
        ssize_t n = ::pread(fd, out.data() + done, out.size() - done, off_t(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return "cannot read the packed archive back: " +
                   std::string(n < 0 ? strerror(errno) : "it is shorter than written");
        done += size_t(n);
    }
    return "";
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
    // Packed into a file that has no name from the start (a crash leaves nothing behind),
    // then sent a chunk at a time: the archive is never in memory whole.
    std::error_code ec;
    fs::create_directories(config_.builds_dir, ec);
    std::string scratch = (fs::path(config_.builds_dir) / ".fleet-archive-XXXXXX").string();
    UniqueFd fd(::mkstemp(scratch.data()));
    if (!fd) return "cannot make a scratch file in builds_dir: " + std::string(strerror(errno));
    ::unlink(scratch.c_str());
    uint64_t size = 0;
    try {
        size = shared::pack_directory_to_fd(dir, fd.get(), config_.distribute_max_bytes);
    } catch (const std::exception &e) {
        return e.what();
    }
    // Listed first: a crash before the last HSET leaves a listed root without its size, which
    // repair() notices when an edge reports it missing (an unlisted archive would never go).
    redis_.command({"SADD", index_key(), root});
    redis_.command({"DEL", archive_key(root)}); // what an interrupted upload left
    shared::fleet::ArchiveSigner signer(config_.redis_signing_key, root);
    auto refused = [&](const RedisReply &reply) {
        return reply->type == REDIS_REPLY_ERROR
                   ? "redis refused the archive (" + std::to_string(size) +
                         " bytes): " + std::string(reply->str, reply->len)
                   : std::string();
    };
    std::string why, chunk;
    uint64_t chunks = 0;
    for (uint64_t at = 0; at < size && why.empty(); at += chunk.size(), ++chunks) {
        chunk.resize(std::min<uint64_t>(shared::fleet::kArchiveChunkBytes, size - at));
        why = read_at(fd.get(), chunk, at);
        if (!why.empty()) break;
        signer.update(chunk);
        why = refused(redis_.command(
            {"HSET", archive_key(root), shared::fleet::archive_chunk_field(chunks), chunk},
            kArchiveIoMs));
    }
    if (why.empty())
        why =
            refused(redis_.command({"HSET", archive_key(root), "size", std::to_string(size),
                                    "chunks", std::to_string(chunks), "signature", signer.hex()}));
    if (!why.empty()) {
        redis_.command({"DEL", archive_key(root)});
        redis_.command({"SREM", index_key(), root});
    }
    return why;
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

std::string DeploymentFiles::upload_missing(const Json &table)
{
    std::lock_guard lock(upload_mutex());
    std::vector<std::string> listed = listed_roots();
    std::map<std::string, std::string> refused = refused_roots();
    std::set<std::string> have(listed.begin(), listed.end());
    std::string problems;
    for (const std::string &root : static_roots(table)) {
        auto known = refused.find(root);
        std::string why = known != refused.end() ? known->second
                          : have.count(root)     ? std::string()
                                                 : upload(root);
        if (why.empty()) continue;
        if (known == refused.end()) redis_.command({"HSET", refused_key(), root, why});
        problems += (problems.empty() ? "" : "; ") + root + ": " + why;
    }
    return problems;
}

void DeploymentFiles::drop_unserved(const Json &table)
{
    std::lock_guard lock(upload_mutex());
    std::vector<std::string> roots = static_roots(table);
    std::set<std::string> wanted(roots.begin(), roots.end());
    // What no route serves any more goes: a rollback to it packs it again.
    for (const std::string &root : listed_roots())
        if (!wanted.count(root)) {
            redis_.command({"DEL", archive_key(root)});
            redis_.command({"SREM", index_key(), root});
        }
    for (const auto &entry : refused_roots())
        if (!wanted.count(entry.first)) redis_.command({"HDEL", refused_key(), entry.first});
}

void DeploymentFiles::repair(const std::vector<std::string> &missing)
{
    std::lock_guard lock(upload_mutex());
    for (const std::string &root : missing) {
        RedisReply listed = redis_.command({"SISMEMBER", index_key(), root});
        if (listed->type != REDIS_REPLY_INTEGER || listed->integer != 1) continue;
        // Gone (flushed, evicted), or an upload cut short before its size was written.
        RedisReply whole = redis_.command({"HEXISTS", archive_key(root), "chunks"});
        if (whole->type != REDIS_REPLY_INTEGER || whole->integer != 0) continue;
        std::string why = upload(root);
        if (!why.empty()) redis_.command({"HSET", refused_key(), root, why}); // not every pass
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
