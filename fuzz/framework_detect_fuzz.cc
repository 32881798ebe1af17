// Framework detection on an in-memory tree built from the input (#16). The text before the
// first "\n--- " line is package.json (none when it is empty); each "\n--- NAME\n" starts another
// file (package.json, next.config.js, pyproject.toml, requirements.txt, Gemfile, Dockerfile,
// nixpacks.toml, ...). Invariants: analyze_build returns a consistent plan or throws AnalyzeError
// (anything else escapes and is reported); detection is deterministic; every framework can be
// pinned on any tree whose manifests parse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/analyze/build_overrides.h"
#include "control/analyze/env_template.h"
#include "control/analyze/memory_source_tree.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

namespace
{

MemorySourceTree tree_from(std::string_view input)
{
    MemorySourceTree tree;
    constexpr std::string_view kSep = "\n--- ";
    size_t cut = input.find(kSep);
    if (cut != 0) tree.add("package.json", std::string(input.substr(0, cut))); // "" = none
    while (cut != std::string_view::npos) {
        input.remove_prefix(cut + kSep.size());
        size_t nl = input.find('\n');
        std::string_view name = input.substr(0, nl);
        input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
        cut = input.find(kSep);
        tree.add(name, std::string(input.substr(0, cut)));
    }
    return tree;
}

std::string dump(const BuildPlan &plan)
{
    return plan.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void check_plan(const BuildPlan &plan)
{
    FUZZ_CHECK(parse_framework(framework_name(plan.framework)) == plan.framework);
    FUZZ_CHECK(plan.port >= 0 && plan.port <= 65535);
    if (plan.kind == BuildKind::kStatic) {
        FUZZ_CHECK(plan.start_command.empty());
        FUZZ_CHECK(plan.port == 0);
        FUZZ_CHECK(plan.output_directory == "." || is_safe_relative_path(plan.output_directory));
    } else {
        FUZZ_CHECK(plan.output_directory.empty());
    }
    FUZZ_CHECK(plan.needs_container_runtime == (plan.framework == Framework::kDockerfile));
    FUZZ_CHECK(!plan.reasons.empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    MemorySourceTree tree = tree_from(std::string_view(reinterpret_cast<const char *>(data), size));
    (void)read_env_template(tree);
    ProjectFacts facts;
    try {
        facts = read_project_facts(tree);
    } catch (const AnalyzeError &e) {
        FUZZ_CHECK(std::string_view(e.what()).size() > 0);
        return 0;
    }
    try {
        BuildPlan plan = analyze_build(tree, Buildpack::kNixpacks, {});
        check_plan(plan);
        FUZZ_CHECK(dump(plan) == dump(detect_from_facts(facts, Buildpack::kNixpacks)));
    } catch (const AnalyzeError &e) {
        FUZZ_CHECK(std::string_view(e.what()).starts_with("nothing to deploy"));
    }
    for (int f = 0; f <= int(Framework::kDockerfile); ++f) {
        BuildOverrides pin;
        pin.framework = std::string(framework_name(Framework(f)));
        BuildPlan pinned = analyze_build(tree, Buildpack::kNixpacks, pin);
        FUZZ_CHECK(pinned.framework == Framework(f));
    }
    return 0;
}
