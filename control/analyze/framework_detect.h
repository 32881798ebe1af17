// Analyze (#16): which framework a source tree holds and how to install, build and run it
// (the Coday seed's table plus static generators, plain static, generic node and Dockerfile).
// Pure: everything is read through a SourceTree; nothing is executed.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/analyze/project_facts.h"

namespace berth::control
{

enum class Framework {
    kNext,       // next.js: static export (out/) or an app service (next start, port 3000)
    kVite,       // vite build → dist/
    kAstro,      // astro build → dist/
    kGatsby,     // gatsby build → public/
    kDocusaurus, // docusaurus build → build/
    kEleventy,   // eleventy → _site/
    kCreateReactApp,
    kSvelteKitStatic, // @sveltejs/adapter-static → build/
    kDjango,          // python manage.py runserver 0.0.0.0:8000
    kRails,           // bin/rails server -b 0.0.0.0, port 3000
    kNode,            // generic node: the package's own build and start scripts
    kStatic,          // files as they are (index.html at the root)
    kDockerfile,      // DOCKER buildpack: needs the container runtime
};

// "next", "vite", "astro", "gatsby", "docusaurus", "eleventy", "create-react-app",
// "sveltekit-static", "django", "rails", "node", "static", "dockerfile".
std::string_view framework_name(Framework f) noexcept;
std::optional<Framework> parse_framework(std::string_view name) noexcept;

enum class BuildKind { kStatic, kService };
std::string_view build_kind_name(BuildKind k) noexcept; // "static" | "service"

// What the Analyze step decided; stored as the deployment's review_summary (to_json).
struct BuildPlan {
    Framework framework = Framework::kStatic;
    BuildKind kind = BuildKind::kStatic;
    std::string install_command;          // "" when nothing is installed
    std::string build_command;            // "" when nothing is built
    std::string output_directory;         // static: the directory published ("." = the tree itself)
    std::string start_command;            // service: how the app starts ("" for static)
    int port = 0;                         // service: the port it listens on (0 for static)
    std::string package_manager;          // "npm", "yarn", "pnpm", "bun", "pip", "bundler" or ""
    std::string lockfile;                 // the lockfile found ("package-lock.json", ...) or ""
    bool needs_container_runtime = false; // Dockerfile builds: not runnable by this agent
    std::vector<std::string> reasons;     // why this framework and these commands, in order
    nlohmann::json to_json() const;
};

// The buildpack of the service (the Grid seed): NIXPACKS detects, DOCKER takes the Dockerfile,
// STATIC publishes the tree as it is.
enum class Buildpack { kNixpacks, kDocker, kStatic };

// Detects the plan. Throws AnalyzeError for an invalid manifest (package.json, pyproject.toml,
// nixpacks.toml: the file and position named), a manifest larger than kMaxManifestBytes, or a
// tree with nothing to deploy. nixpacks.toml's [phases.install|build].cmds and [start].cmd
// replace the detected commands.
BuildPlan detect_build_plan(const SourceTree &tree, Buildpack buildpack = Buildpack::kNixpacks);

// Detection over facts already read (the plan detect_build_plan returns); throws AnalyzeError
// when nothing deployable is found or DOCKER is asked for without a Dockerfile.
BuildPlan detect_from_facts(const ProjectFacts &facts, Buildpack buildpack);

// The plan for `framework` from facts already read (detection's second half; overrides use it
// for a pinned framework). Never throws.
BuildPlan plan_for(Framework framework, const ProjectFacts &facts);

} // namespace berth::control
