// Pushing route tables to edges over their admin sockets (the shared admin client).
#pragma once

#include <string>
#include <vector>

#include "control/base/json_util.h"

namespace berth::control
{

struct PushResult {
    std::string socket;
    bool ok = false;
    std::string error; // the edge's refusal or the client's error, when !ok
};

// Sends {"cmd":"routes.put","table":table} to each socket, each within timeout_ms. Never
// throws: an unreachable edge keeps serving its last table and shows up as !ok.
std::vector<PushResult> push_route_table(const std::vector<std::string> &sockets,
                                         const Json &table, int timeout_ms = 3000);

// [{"socket","ok","error"?}] for build logs and API answers.
Json push_results_json(const std::vector<PushResult> &results);

} // namespace berth::control
