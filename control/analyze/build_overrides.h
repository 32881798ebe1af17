// Per-service settings that win over Analyze's detection (#16): custom build command, output
// directory, pinned framework, install and start commands, port.
#pragma once

#include <optional>
#include <string>

#include "control/analyze/framework_detect.h"

namespace berth::control
{

struct BuildOverrides {
    std::optional<std::string> framework;       // a framework_name(); re-plans the tree as that one
    std::optional<std::string> install_command; // "" = install nothing
    std::optional<std::string> build_command;   // "" = build nothing
    std::optional<std::string> output_directory; // relative to the tree; "." = the tree itself
    std::optional<std::string> start_command;    // non-empty makes the plan a service, "" static
    std::optional<int> port;
};

// Applies `overrides` on top of a detected plan, in the order: pinned framework (plan_for over
// `facts`), then each explicit field; every change adds a reason. Throws AnalyzeError for an
// unknown pinned framework (the known names listed), an output directory that is absolute or
// leaves the tree, or a port outside 1-65535.
BuildPlan apply_overrides(BuildPlan plan, const ProjectFacts &facts,
                          const BuildOverrides &overrides);

// The whole Analyze decision: read the facts, detect, apply the overrides.
BuildPlan analyze_build(const SourceTree &tree, Buildpack buildpack,
                        const BuildOverrides &overrides);

} // namespace berth::control
