// The one way a new deployment is started from the API (#16): deployments/trigger/ (Git) and
// deployments/upload/ (an archive) share the throttle, the ownership check and the 409 rule.
#pragma once

#include <functional>

#include "control/api/api_router.h"
#include "control/store/deployments_store.h"

namespace berth::control
{

// Throttles the user (429), runs `prepare` (an upload stores its archive there: nothing is
// written for a throttled request, and no row is ever queued without its archive), then in one
// transaction: the service must be the user's (404) and pass `check_service` (which throws
// ApiError), and the row and its audit entry are inserted. 409 `deployment_in_progress` with
// the in-flight one; enqueued after the commit. Answers 201 with the row.
ApiResponse start_deployment(RequestCtx &ctx, const NewDeployment &d,
                             const std::function<void(const Json &service)> &check_service,
                             const std::function<void()> &prepare = {});

} // namespace berth::control
