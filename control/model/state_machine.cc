// The transition table. Every status change in the store goes through can_transition().
#include "control/model/state_machine.h"

#include <array>

namespace berth::control
{

namespace
{

constexpr std::array<std::string_view, kDeployStatusCount> kNames = {
    "QUEUED",
    "CLONING",
    "SCANNING",
    "REVIEW",
    "AWAITING_APPROVAL",
    "BUILDING",
    "BUILD_FAILED",
    "PUSH_FAILED",
    "BACKUP_RUNNING",
    "BACKUP_FAILED",
    "MIGRATION_PLANNING",
    "MIGRATION_RUNNING",
    "MIGRATION_FAILED",
    "DEPLOYING",
    "DEPLOY_FAILED",
    "HEALTH_CHECK",
    "HEALTH_FAILED",
    "ACTIVE",
    "INACTIVE",
    "FAILED",
    "CANCELLED",
    "ROLLING_BACK",
    "ROLLED_BACK",
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

std::optional<DeployStatus> phase_failure(DeployStatus s) noexcept
{
    using S = DeployStatus;
    switch (s) {
    case S::kCloning:
    case S::kScanning:
    case S::kReview:
    case S::kBuilding:
        return S::kBuildFailed;
    case S::kBackupRunning:
        return S::kBackupFailed;
    case S::kMigrationPlanning:
    case S::kMigrationRunning:
        return S::kMigrationFailed;
    case S::kDeploying:
        return S::kDeployFailed;
    case S::kHealthCheck:
        return S::kHealthFailed;
    default:
        return std::nullopt;
    }
}

bool is_phase_failure(DeployStatus s) noexcept
{
    using S = DeployStatus;
    return s == S::kBuildFailed || s == S::kPushFailed || s == S::kBackupFailed ||
           s == S::kMigrationFailed || s == S::kDeployFailed || s == S::kHealthFailed;
}

std::string_view stage_of(DeployStatus s) noexcept
{
    using S = DeployStatus;
    switch (s) {
    case S::kCloning:
        return "clone";
    case S::kScanning:
    case S::kReview:
        return "analyze";
    case S::kAwaitingApproval:
        return "approval";
    case S::kBuilding:
        return "build";
    case S::kBackupRunning:
        return "backup";
    case S::kMigrationPlanning:
    case S::kMigrationRunning:
        return "migration";
    case S::kDeploying:
    case S::kRollingBack:
        return "deploy";
    case S::kHealthCheck:
        return "health_check";
    default:
        return {};
    }
}

bool can_transition(DeployStatus from, DeployStatus to) noexcept
{
    using S = DeployStatus;
    if (to == S::kFailed) return !is_terminal(from); // any running stage may fail
    if (to == S::kCancelled) return is_cancellable(from);
    if (is_phase_failure(to)) {
        // The image push ends BUILDING for app services (the seed's PUSH phase has no
        // status of its own).
        if (to == S::kPushFailed) return from == S::kBuilding;
        return phase_failure(from) == to;
    }
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
    // Pre-deploy (app services with a database): an optional backup, then an optional
    // migration, then the deploy.
    case S::kBuilding:
        return to == S::kDeploying || to == S::kBackupRunning || to == S::kMigrationPlanning;
    case S::kBackupRunning:
        return to == S::kMigrationPlanning || to == S::kDeploying;
    case S::kMigrationPlanning:
        return to == S::kMigrationRunning || to == S::kDeploying;
    case S::kMigrationRunning:
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
        return false; // the phase failures lead only to FAILED (above)
    }
}

} // namespace berth::control
