// GET deployments/{id}/build-logs/?follow=1 (#16): the deployment's build log as NDJSON, one
// line per chunk, as it is written, until the deployment ends.
#pragma once

#include <cstdint>
#include <string>

#include "control/api/response_stream.h"

namespace berth::control
{

struct ApiContext;

// A producer writing every log line of deployment `id` with an id above `after_id` as
// {"id","stream","line","at"}\n, polling PostgreSQL every kFollowPollMs, and a last line
// {"end":true,"status":...}\n once the deployment is in a terminal status or
// AWAITING_APPROVAL with every line sent (or {"end":true,"status":null} if it was deleted).
// Ownership must be checked before (the handler does). `api` must outlive the stream.
BodyProducer follow_build_logs(const ApiContext &api, std::string id, int64_t after_id);

inline constexpr int kFollowPollMs = 200;

} // namespace berth::control
