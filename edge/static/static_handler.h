// Static step: a request on a static route → file, directory index, SPA fallback or 404.
#pragma once

#include <string>

#include <uv.h>

#include "edge/cache/file_cache.h"
#include "edge/http/handler.h"

namespace berth::edge
{

// One per worker, with the worker's file cache. Writes the whole response for ex.req into
// ex.out, or waits (ex.pending) while the cache loads a file or opens a directory off the
// loop thread. Method rules: GET/HEAD served, OPTIONS answered with Allow, anything else 405.
class StaticHandler final : public Handler
{
public:
    // With a loop, files are loaded on its threadpool; digests (may be null) are shared by
    // every worker so a large file is hashed once.
    StaticHandler(std::string deployments_root, CacheLimits limits, uv_loop_t *loop,
                  DigestMemo *digests)
        : cache_(std::move(deployments_root), limits, loop, digests)
    {
    }

    void serve(Exchange &ex) override;
    // Entries belong to the old table's directories.
    void routes_changed() override { cache_.clear(); }

    FileCache &cache() noexcept { return cache_; }

private:
    FileCache cache_;
};

// Accept-Encoding allows `coding` (q > 0, or a "*" with q > 0 when it is not listed)?
bool accepts_encoding(std::string_view accept_encoding, std::string_view coding) noexcept;

} // namespace berth::edge
