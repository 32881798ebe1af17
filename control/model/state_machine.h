// Deployment statuses and the allowed transitions between them, and nothing else (#3).
#pragma once

#include <optional>
#include <string_view>

namespace berth::control
{

enum class DeployStatus {
    kQueued,
    kCloning,
    kScanning,
    kReview,
    kAwaitingApproval,
    kBuilding,
    kDeploying,
    kHealthCheck,
    kActive,
    kInactive,
    kFailed,
    kCancelled,
    kRollingBack,
    kRolledBack,
};

std::string_view status_name(DeployStatus s) noexcept;
std::optional<DeployStatus> parse_status(std::string_view name) noexcept;

// True when the service may start another deployment while one is in this status. The
// database's partial unique index (0001_init.sql) lists exactly the non-terminal ones.
bool is_terminal(DeployStatus s) noexcept;

// Cancel is allowed only from QUEUED, REVIEW, BUILDING and AWAITING_APPROVAL (the Grid seed);
// the pipeline's own short stages CLONING and SCANNING count as QUEUED's work for this.
bool is_cancellable(DeployStatus s) noexcept;

bool can_transition(DeployStatus from, DeployStatus to) noexcept;

} // namespace berth::control
