// Service overrides over detection (#16). Validated here, not at the API, too: a row written
// before a rule existed must still not send the publisher outside the build tree.
#include "control/analyze/build_overrides.h"

namespace berth::control
{

namespace
{

std::string known_frameworks()
{
    std::string out;
    for (int i = 0; i <= int(Framework::kDockerfile); ++i) {
        if (!out.empty()) out += ", ";
        out += framework_name(Framework(i));
    }
    return out;
}

// "./dist/" → "dist"; "." stays; anything escaping the tree throws.
std::string checked_output_directory(std::string dir)
{
    while (dir.size() > 2 && dir.compare(0, 2, "./") == 0)
        dir.erase(0, 2);
    while (dir.size() > 1 && dir.back() == '/')
        dir.pop_back();
    if (dir != "." && !is_safe_relative_path(dir))
        throw AnalyzeError("output directory \"" + dir +
                           "\" must be a relative path inside the source tree");
    return dir;
}

void replace(std::string &field, const std::optional<std::string> &value, const char *what,
             BuildPlan &plan)
{
    if (!value) return;
    field = *value;
    plan.reasons.push_back(std::string(what) + " set by the service settings");
}

} // namespace

BuildPlan apply_overrides(BuildPlan plan, const ProjectFacts &facts,
                          const BuildOverrides &overrides)
{
    if (overrides.framework) {
        auto pinned = parse_framework(*overrides.framework);
        if (!pinned)
            throw AnalyzeError("pinned framework \"" + *overrides.framework +
                               "\" is unknown (known: " + known_frameworks() + ")");
        // A default plan (nothing detected) has no reasons.
        std::string detected(plan.reasons.empty() ? "nothing" : framework_name(plan.framework));
        plan = plan_for(*pinned, facts);
        plan.reasons.insert(plan.reasons.begin(), "framework pinned to " +
                                                      std::string(framework_name(*pinned)) +
                                                      " (detected: " + detected + ")");
    }
    replace(plan.install_command, overrides.install_command, "install command", plan);
    replace(plan.build_command, overrides.build_command, "build command", plan);
    if (overrides.output_directory) {
        plan.output_directory = checked_output_directory(*overrides.output_directory);
        plan.reasons.push_back("output directory set by the service settings");
    }
    if (overrides.start_command) {
        replace(plan.start_command, overrides.start_command, "start command", plan);
        plan.kind = plan.start_command.empty() ? BuildKind::kStatic : BuildKind::kService;
        if (plan.kind == BuildKind::kService && !plan.port) plan.port = 3000;
        if (plan.kind == BuildKind::kStatic && plan.output_directory.empty())
            plan.output_directory = ".";
    }
    if (overrides.port) {
        if (*overrides.port < 1 || *overrides.port > 65535)
            throw AnalyzeError("port " + std::to_string(*overrides.port) + " is outside 1-65535");
        plan.port = *overrides.port;
        plan.reasons.push_back("port set by the service settings");
    }
    return plan;
}

BuildPlan analyze_build(const SourceTree &tree, Buildpack buildpack,
                        const BuildOverrides &overrides)
{
    ProjectFacts facts = read_project_facts(tree);
    BuildPlan detected;
    try {
        detected = detect_from_facts(facts, buildpack);
    } catch (const AnalyzeError &) {
        // A pinned framework needs no detection (e.g. a vite project whose package.json names
        // vite only through a workspace); an invalid manifest has already thrown above.
        if (!overrides.framework) throw;
    }
    return apply_overrides(std::move(detected), facts, overrides);
}

} // namespace berth::control
