// Framework detection (#16). Commands are chosen so Debian's own packages can run them: node
// projects always install with npm (Debian ships neither yarn nor pnpm nor bun), so a yarn.lock
// or pnpm-lock.yaml is named in the plan but not honoured, and the plan says so.
#include "control/analyze/framework_detect.h"

#include <array>

namespace berth::control
{

namespace
{

// One row per framework: its name, the package.json dependency that signals it (JS ones), the
// build command used when the package has no build script, and the static output directory.
struct FrameworkInfo {
    Framework framework;
    const char *name;
    const char *dependency;
    const char *build_fallback;
    const char *output;
};

// Detection tries the JS rows top to bottom: the more specific generators first, because
// astro and sveltekit projects also depend on vite.
constexpr std::array<FrameworkInfo, 13> kFrameworks = {{
    {Framework::kNext, "next", "next", "npx --no-install next build", "out"},
    {Framework::kAstro, "astro", "astro", "npx --no-install astro build", "dist"},
    {Framework::kGatsby, "gatsby", "gatsby", "npx --no-install gatsby build", "public"},
    {Framework::kDocusaurus, "docusaurus", "@docusaurus/core", "npx --no-install docusaurus build",
     "build"},
    {Framework::kEleventy, "eleventy", "@11ty/eleventy", "npx --no-install @11ty/eleventy",
     "_site"},
    {Framework::kCreateReactApp, "create-react-app", "react-scripts",
     "npx --no-install react-scripts build", "build"},
    {Framework::kSvelteKitStatic, "sveltekit-static", "@sveltejs/adapter-static",
     "npx --no-install vite build", "build"},
    {Framework::kVite, "vite", "vite", "npx --no-install vite build", "dist"},
    {Framework::kNode, "node", nullptr, nullptr, "dist"},
    {Framework::kDjango, "django", nullptr, nullptr, ""},
    {Framework::kRails, "rails", nullptr, nullptr, ""},
    {Framework::kStatic, "static", nullptr, nullptr, "."},
    {Framework::kDockerfile, "dockerfile", nullptr, nullptr, ""},
}};

const FrameworkInfo &info(Framework f)
{
    for (const auto &row : kFrameworks)
        if (row.framework == f) return row;
    return kFrameworks.back(); // unreachable: every enumerator has a row
}

bool is_node_framework(Framework f)
{
    return info(f).dependency != nullptr || f == Framework::kNode;
}

void plan_node_install(BuildPlan &plan, const ProjectFacts &facts)
{
    if (!facts.has_package_json) return;
    plan.lockfile = facts.lockfile;
    plan.package_manager = facts.lockfile_manager.empty() ? "npm" : facts.lockfile_manager;
    if (facts.lockfile_manager == "npm") {
        plan.install_command = "npm ci";
        plan.reasons.push_back("install: npm ci, pinned by " + facts.lockfile);
        return;
    }
    plan.install_command = "npm install";
    if (!facts.lockfile.empty())
        plan.reasons.push_back(facts.lockfile +
                               " found, but builds run npm only (scripts/setup.sh "
                               "installs Debian's npm, not " +
                               facts.lockfile_manager + "): npm install resolves versions afresh");
    else
        plan.reasons.push_back("install: npm install (no lockfile: versions are not pinned)");
    if (!facts.package_manager_field.empty())
        plan.reasons.push_back("package.json asks for " + facts.package_manager_field +
                               "; npm is used");
}

void plan_node(BuildPlan &plan, const ProjectFacts &facts)
{
    const FrameworkInfo &row = info(plan.framework);
    plan_node_install(plan, facts);
    bool has_build = facts.scripts.count("build") > 0;
    bool has_start = facts.scripts.count("start") > 0;
    if (has_build)
        plan.build_command = "npm run build";
    else if (row.build_fallback)
        plan.build_command = row.build_fallback;
    plan.output_directory = row.output;
    bool service = plan.framework == Framework::kNode   ? has_start
                   : plan.framework == Framework::kNext ? facts.next_static_export.empty()
                                                        : false;
    if (plan.framework == Framework::kNext)
        plan.reasons.push_back(service ? "next.js without output: 'export': an app service"
                                       : "next.js static export: " + facts.next_static_export);
    if (!service) return;
    plan.kind = BuildKind::kService;
    plan.output_directory.clear();
    plan.start_command = has_start ? "npm run start" : "npx --no-install next start";
    plan.port = 3000;
}

void plan_python(BuildPlan &plan, const ProjectFacts &facts)
{
    plan.kind = BuildKind::kService;
    plan.package_manager = "pip";
    if (facts.python_manifest == "requirements.txt")
        plan.install_command = "python3 -m pip install -r requirements.txt";
    else if (facts.python_manifest == "pyproject.toml")
        plan.install_command = "python3 -m pip install .";
    // Debian names the interpreter python3; the seed's `python` does not exist there.
    plan.start_command = "python3 manage.py runserver 0.0.0.0:8000";
    plan.port = 8000;
}

void plan_ruby(BuildPlan &plan, const ProjectFacts &facts)
{
    plan.kind = BuildKind::kService;
    plan.package_manager = "bundler";
    if (facts.has_gemfile_lock) plan.lockfile = "Gemfile.lock";
    if (facts.has_gemfile) plan.install_command = "bundle install";
    plan.start_command = "bin/rails server -b 0.0.0.0";
    plan.port = 3000;
}

// nixpacks.toml's commands replace the detected ones; "..." stands for the detected command.
std::string nixpacks_command(const std::vector<std::string> &cmds, const std::string &detected)
{
    std::string out;
    for (const auto &cmd : cmds) {
        const std::string &part = cmd == "..." ? detected : cmd;
        if (part.empty()) continue;
        if (!out.empty()) out += " && ";
        out += part;
    }
    return out;
}

void apply_nixpacks(BuildPlan &plan, const NixpacksConfig &nix)
{
    if (nix.install_cmds) {
        plan.install_command = nixpacks_command(*nix.install_cmds, plan.install_command);
        plan.reasons.push_back("install command from nixpacks.toml");
    }
    if (nix.build_cmds) {
        plan.build_command = nixpacks_command(*nix.build_cmds, plan.build_command);
        plan.reasons.push_back("build command from nixpacks.toml");
    }
    if (nix.start_cmd && plan.kind == BuildKind::kService) {
        plan.start_command = *nix.start_cmd;
        plan.reasons.push_back("start command from nixpacks.toml");
    }
}

// The JS framework a package.json signals, with the dependency that did it.
std::optional<Framework> node_framework(const ProjectFacts &facts, std::string &why)
{
    for (const auto &row : kFrameworks)
        if (row.dependency && facts.node_deps.count(row.dependency)) {
            why = std::string("package.json depends on ") + row.dependency;
            return row.framework;
        }
    if (facts.scripts.count("build") || facts.scripts.count("start")) {
        why = "package.json has a build or start script (generic node)";
        return Framework::kNode;
    }
    return std::nullopt;
}

std::optional<Framework> pick(const ProjectFacts &facts, std::string &why)
{
    // A Rails or Django app often carries a package.json for its assets: the app wins.
    if (facts.gemfile_names_rails) {
        why = "Gemfile names rails";
        return Framework::kRails;
    }
    if (!facts.django_source.empty()) {
        why = facts.django_source + " names django";
        return Framework::kDjango;
    }
    if (auto f = node_framework(facts, why)) return f;
    if (facts.has_dockerfile) {
        why = "Dockerfile at the root and no framework detected";
        return Framework::kDockerfile;
    }
    if (facts.has_index_html) {
        why = facts.has_package_json ? "index.html at the root; package.json has no build script"
                                     : "index.html at the root and no package.json";
        return Framework::kStatic;
    }
    return std::nullopt;
}

} // namespace

std::string_view framework_name(Framework f) noexcept
{
    return info(f).name;
}

std::optional<Framework> parse_framework(std::string_view name) noexcept
{
    for (const auto &row : kFrameworks)
        if (name == row.name) return row.framework;
    return std::nullopt;
}

std::string_view build_kind_name(BuildKind k) noexcept
{
    return k == BuildKind::kStatic ? "static" : "service";
}

nlohmann::json BuildPlan::to_json() const
{
    auto text = [](const std::string &s) {
        return s.empty() ? nlohmann::json() : nlohmann::json(s);
    };
    return {
        {"framework", framework_name(framework)},
        {"kind", build_kind_name(kind)},
        {"install_command", text(install_command)},
        {"build_command", text(build_command)},
        {"output_directory", text(output_directory)},
        {"start_command", text(start_command)},
        {"port", port ? nlohmann::json(port) : nlohmann::json()},
        {"package_manager", text(package_manager)},
        {"lockfile", text(lockfile)},
        {"needs_container_runtime", needs_container_runtime},
        {"reasons", reasons},
    };
}

BuildPlan plan_for(Framework framework, const ProjectFacts &facts)
{
    BuildPlan plan;
    plan.framework = framework;
    if (is_node_framework(framework)) {
        plan_node(plan, facts);
    } else if (framework == Framework::kDjango) {
        plan_python(plan, facts);
    } else if (framework == Framework::kRails) {
        plan_ruby(plan, facts);
    } else if (framework == Framework::kStatic) {
        plan.output_directory = ".";
    } else { // kDockerfile
        plan.kind = BuildKind::kService;
        plan.needs_container_runtime = true;
        plan.port = facts.dockerfile_port;
        plan.reasons.push_back("a Dockerfile build needs the container runtime, which this build "
                               "agent does not have");
    }
    apply_nixpacks(plan, facts.nixpacks);
    return plan;
}

BuildPlan detect_from_facts(const ProjectFacts &facts, Buildpack buildpack)
{
    std::string why;
    std::optional<Framework> framework;
    if (buildpack == Buildpack::kDocker) {
        if (!facts.has_dockerfile)
            throw AnalyzeError("buildpack DOCKER: no Dockerfile at the root of the tree");
        framework = Framework::kDockerfile;
        why = "buildpack DOCKER";
    } else if (buildpack == Buildpack::kStatic) {
        framework = Framework::kStatic;
        why = "buildpack STATIC: the tree is published as it is";
    } else {
        framework = pick(facts, why);
    }
    if (!framework)
        throw AnalyzeError("nothing to deploy: no framework in package.json, no build or start "
                           "script, no django or rails project, no Dockerfile and no index.html "
                           "at the root");
    BuildPlan plan = plan_for(*framework, facts);
    plan.reasons.insert(plan.reasons.begin(), why);
    return plan;
}

BuildPlan detect_build_plan(const SourceTree &tree, Buildpack buildpack)
{
    return detect_from_facts(read_project_facts(tree), buildpack);
}

} // namespace berth::control
