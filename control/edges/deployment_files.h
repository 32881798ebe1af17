// Fleet edges on other hosts than control get the deployments' files through Redis: a static
// route's root is a path under deployments_root, which only control's host (or shared storage)
// has. Each live static deployment is packed once (shared/archive/pack_directory.h) and left
// under <prefix>:files:<root> before a table naming it is published; edges that lack a root
// fetch and unpack it first (edge/fleet/deployment_fetcher.h). Redis keys, under [redis] prefix:
//   <prefix>:files            set: the roots whose archive is in Redis
//   <prefix>:files:<root>     hash: data (the gzip'd tar), signature (shared/fleet/signature.h,
//                             "" without [redis] signing_key_file)
//   <prefix>:files-refused    hash: root → why control could not pack it (too large, gone),
//                             so it is not packed again each pass
// A deployment directory never changes once published, so an archive never goes stale; it is
// removed once no route of the expected table serves its root.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "control/base/json_util.h"
#include "control/config/control_config.h"
#include "control/queue/redis_conn.h"

namespace berth::control
{

class DeploymentFiles
{
public:
    DeploymentFiles(const ControlConfig &config, RedisConn &redis) : config_(config), redis_(redis)
    {
    }

    // Every static root of `table` (a route table about to be published) gets its archive,
    // packed now when Redis has none. Returns "" or what could not be distributed
    // ("root: why; ..."). Throws RedisUnavailable.
    std::string upload_missing(const Json &table);
    // Archives (and refusals) of roots `table` does not name are removed: call once `table` is
    // the one published, never for an older one (a newer table may name them). An empty table
    // withdraws everything. Throws RedisUnavailable.
    void drop_unserved(const Json &table);
    // Roots an edge reports missing: packed again when their archive has gone from Redis
    // (flushed, evicted) although the set lists it. Throws RedisUnavailable.
    void repair(const std::vector<std::string> &missing);
    // Why each of `roots` was not distributed, for those control refused.
    std::map<std::string, std::string> refusals(const std::vector<std::string> &roots);
    // For GET system/edges/: {"archives": [roots, sorted], "refused": {root: why}}.
    // Throws RedisUnavailable.
    Json report();

private:
    std::string upload(const std::string &root); // "" or why not
    std::string archive_key(const std::string &root) const;
    std::string index_key() const;           // the set of roots with an archive
    std::string refused_key() const;         // root → why it was not packed
    std::vector<std::string> listed_roots(); // sorted
    std::map<std::string, std::string> refused_roots();

    const ControlConfig &config_;
    RedisConn &redis_;
};

} // namespace berth::control
