// The transition table. Every status change in the store goes through can_transition().
#include "control/model/state_machine.h"

#include <array>

namespace berth::control
{

namespace
{

constexpr std::array<std::string_view, 14> kNames = {
    "QUEUED",   "CLONING",   "SCANNING",     "REVIEW",      "AWAITING_APPROVAL",
    "BUILDING", "DEPLOYING", "HEALTH_CHECK", "ACTIVE",      "INACTIVE",
    "FAILED",   "CANCELLED", "ROLLING_BACK", "ROLLED_BACK",
};

} // namespace

std::string_view status_name(DeployStatus s) noexcept
{
    return kNames[size_t(s)];
}

std::optional<DeployStatus> parse_status(std::string_view name) noexcept
{
    for (size_t i = 0; i < kNames.size(); ++i)
        if (kNames[i] == name) return DeployStatus(i);
    return std::nullopt;
}

bool is_terminal(DeployStatus s) noexcept
{
    switch (s) {
    case DeployStatus::kActive:
    case DeployStatus::kInactive:
    case DeployStatus::kFailed:
    case DeployStatus::kCancelled:
    case DeployStatus::kRolledBack:
        return true;
    default:
        return false;
    }
}

bool is_cancellable(DeployStatus s) noexcept
{
    switch (s) {
    case DeployStatus::kQueued:
    case DeployStatus::kCloning:
    case DeployStatus::kScanning:
    case DeployStatus::kReview:
    case DeployStatus::kBuilding:
    case DeployStatus::kAwaitingApproval:
        return true;
    default:
        return false;
    }
}

bool can_transition(DeployStatus from, DeployStatus to) noexcept
{
    using S = DeployStatus;
    if (to == S::kFailed) return !is_terminal(from); // any running stage may fail
    if (to == S::kCancelled) return is_cancellable(from);
    switch (from) {
    case S::kQueued:
        return to == S::kCloning;
    case S::kCloning:
        return to == S::kScanning;
    case S::kScanning:
        return to == S::kReview;
    case S::kReview:
        return to == S::kAwaitingApproval || to == S::kBuilding;
    case S::kAwaitingApproval:
        return to == S::kBuilding;
    case S::kBuilding:
        return to == S::kDeploying;
    case S::kDeploying:
        return to == S::kHealthCheck;
    case S::kHealthCheck:
        return to == S::kActive;
    case S::kRollingBack:
        return to == S::kActive;
    // A superseded ACTIVE becomes INACTIVE; one rolled back away from becomes ROLLED_BACK.
    case S::kActive:
        return to == S::kInactive || to == S::kRolledBack;
    default:
        return false;
    }
}

} // namespace berth::control
