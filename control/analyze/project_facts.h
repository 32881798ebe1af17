// What the Analyze step reads from a tree (#16): package.json, lockfiles, pyproject.toml,
// requirements.txt, Gemfile, Dockerfile, nixpacks.toml, next.config.*, index.html, reduced to
// the facts framework detection decides on. Every parse error names the file and position.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/analyze/source_tree.h"

namespace berth::control
{

// Why a tree cannot be analysed ("package.json: invalid JSON: parse error at line 3, column
// 5: ..."). The pipeline records what() as the deployment's error_message.
struct AnalyzeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A manifest larger than this is refused by name: no real one comes close.
inline constexpr size_t kMaxManifestBytes = 1 << 20;

// nixpacks.toml's replacements for the detected commands ("..." in cmds = the detected one).
struct NixpacksConfig {
    std::optional<std::vector<std::string>> install_cmds;
    std::optional<std::vector<std::string>> build_cmds;
    std::optional<std::string> start_cmd;
};

struct ProjectFacts {
    // package.json
    bool has_package_json = false;
    std::set<std::string, std::less<>> node_deps;            // dependencies + devDependencies
    std::map<std::string, std::string, std::less<>> scripts; // string-valued scripts only
    std::string package_manager_field;                       // "packageManager" ("pnpm@8.6.0")
    // The first lockfile found, in the order package-lock.json, npm-shrinkwrap.json, yarn.lock,
    // pnpm-lock.yaml, bun.lockb, and the manager it belongs to.
    std::string lockfile;
    std::string lockfile_manager;
    // next.config.* sets output: 'export', or the build script runs `next export`.
    std::string next_static_export; // where that was seen; "" when not

    // Python: django named in requirements.txt or pyproject.toml (either list of dependencies).
    std::string python_manifest; // "requirements.txt", "pyproject.toml" or ""
    std::string django_source;   // the file that names django; "" when none does
    bool has_manage_py = false;

    // Ruby: `gem "rails"` in the Gemfile.
    bool has_gemfile = false;
    bool gemfile_names_rails = false;
    bool has_gemfile_lock = false;

    bool has_dockerfile = false;
    int dockerfile_port = 0; // the first EXPOSE, 0 when none
    bool has_index_html = false;

    NixpacksConfig nixpacks;
};

// Reads the facts through `tree`. Throws AnalyzeError for invalid JSON/TOML (file and position
// named), a package.json that is not an object or has a non-object dependency list, and a
// manifest that exists but is larger than kMaxManifestBytes or unreadable.
ProjectFacts read_project_facts(const SourceTree &tree);

} // namespace berth::control
