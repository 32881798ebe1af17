// Deployment statuses, the allowed transitions between them, and the pipeline phase (stage)
// each status belongs to, and nothing else (#3, #16).
#pragma once

#include <optional>
#include <string_view>

namespace berth::control
{

// The Grid seed's statuses plus Berth's own short stages CLONING and SCANNING. The phase
// failures (BUILD_FAILED, PUSH_FAILED, DEPLOY_FAILED, HEALTH_FAILED, BACKUP_FAILED,
// MIGRATION_FAILED) are a step on the way to FAILED: the failing phase is recorded there while
// the runner cleans up (routes handed back, build directory removed), then the row moves on.
enum class DeployStatus {
    kQueued,
    kCloning,
    kScanning,
    kReview,
    kAwaitingApproval,
    kBuilding,
    kBuildFailed,
    kPushFailed,
    kBackupRunning,
    kBackupFailed,
    kMigrationPlanning,
    kMigrationRunning,
    kMigrationFailed,
    kDeploying,
    kDeployFailed,
    kHealthCheck,
    kHealthFailed,
    kActive,
    kInactive,
    kFailed,
    kCancelled,
    kRollingBack,
    kRolledBack,
};

inline constexpr int kDeployStatusCount = int(DeployStatus::kRolledBack) + 1;

std::string_view status_name(DeployStatus s) noexcept;
std::optional<DeployStatus> parse_status(std::string_view name) noexcept;

// True when the service may start another deployment while one is in this status. The
// database's partial unique index (0005_stages.sql) lists exactly the non-terminal ones, and
// the store builds its SQL lists from this function. The phase failures are not terminal:
// FAILED follows them once the runner has cleaned up.
bool is_terminal(DeployStatus s) noexcept;

// Cancel is allowed only from QUEUED, REVIEW, BUILDING and AWAITING_APPROVAL (the Grid seed);
// the pipeline's own short stages CLONING and SCANNING count as QUEUED's work for this.
bool is_cancellable(DeployStatus s) noexcept;

bool can_transition(DeployStatus from, DeployStatus to) noexcept;

// The <PHASE>_FAILED status a failure in `s` goes through before FAILED, or nullopt when a
// failure there goes to FAILED directly (QUEUED, AWAITING_APPROVAL, ROLLING_BACK). Clone and
// analyze count as the build phase, as in the seed's diagram.
std::optional<DeployStatus> phase_failure(DeployStatus s) noexcept;
bool is_phase_failure(DeployStatus s) noexcept;

// The pipeline stage (a `deployment_stages` row) a status belongs to: "clone", "analyze",
// "approval", "build", "backup", "migration", "deploy" or "health_check"; empty for statuses
// outside any stage (QUEUED, the phase failures, the terminal ones). A transition between
// statuses of different stages ends the one and starts the other.
std::string_view stage_of(DeployStatus s) noexcept;

} // namespace berth::control
