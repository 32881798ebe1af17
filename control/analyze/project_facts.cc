// Manifest reading for Analyze (#16). Each manifest is attacker-written text: every parser here
// is bounded (size cap, JSON depth cap) and turns malformed input into an AnalyzeError that
// names the file, never a crash or a silent default.
#include "control/analyze/project_facts.h"

#include <cctype>
#include <string_view>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "control/base/json_util.h"

namespace berth::control
{

namespace
{

// The file's text, nullopt when absent; throws when it exists but cannot be read within the cap.
std::optional<std::string> read_manifest(const SourceTree &tree, std::string_view name)
{
    auto text = tree.read(name, kMaxManifestBytes);
    if (!text && tree.exists(name))
        throw AnalyzeError(std::string(name) + ": unreadable, not a regular file, or larger than " +
                           std::to_string(kMaxManifestBytes) + " bytes");
    return text;
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char &c : out)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

// The distribution name a requirement starts with ("Django>=4.2; python_version>'3'" → "django").
std::string requirement_name(std::string_view req)
{
    req = trim(req);
    size_t end = 0;
    while (end < req.size() && (std::isalnum(static_cast<unsigned char>(req[end])) ||
                                req[end] == '-' || req[end] == '_' || req[end] == '.'))
        ++end;
    return lower(req.substr(0, end));
}

nlohmann::json parse_package_json(const std::string &text)
{
    if (!json_depth_within(text, kMaxJsonDepth))
        throw AnalyzeError("package.json: nested deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception &e) {
        // parse_error, and out_of_range for a number like 1e99999 (found by
        // framework_detect_fuzz). what() is "[json.exception.parse_error.101] parse error at
        // line 3, column 5: ..."; the bracketed id means nothing to a user.
        std::string_view what = e.what();
        if (size_t close = what.find("] "); close != std::string_view::npos)
            what.remove_prefix(close + 2);
        throw AnalyzeError("package.json: invalid JSON: " + std::string(what));
    }
}

void read_package_json(const SourceTree &tree, ProjectFacts &facts)
{
    auto text = read_manifest(tree, "package.json");
    if (!text) return;
    facts.has_package_json = true;
    nlohmann::json pkg = parse_package_json(*text);
    if (!pkg.is_object()) throw AnalyzeError("package.json: must be a JSON object");
    for (const char *list : {"dependencies", "devDependencies"}) {
        auto it = pkg.find(list);
        if (it == pkg.end() || it->is_null()) continue;
        if (!it->is_object())
            throw AnalyzeError(std::string("package.json: \"") + list + "\" must be an object");
        for (const auto &[name, version] : it->items())
            facts.node_deps.insert(name);
    }
    if (auto it = pkg.find("scripts"); it != pkg.end() && !it->is_null()) {
        if (!it->is_object()) throw AnalyzeError("package.json: \"scripts\" must be an object");
        for (const auto &[name, script] : it->items())
            if (script.is_string()) facts.scripts.emplace(name, script.get<std::string>());
    }
    if (auto it = pkg.find("packageManager"); it != pkg.end() && it->is_string())
        facts.package_manager_field = it->get<std::string>();
}

void find_lockfile(const SourceTree &tree, ProjectFacts &facts)
{
    static constexpr std::pair<const char *, const char *> kLockfiles[] = {
        {"package-lock.json", "npm"}, {"npm-shrinkwrap.json", "npm"}, {"yarn.lock", "yarn"},
        {"pnpm-lock.yaml", "pnpm"},   {"bun.lockb", "bun"},
    };
    for (const auto &[name, manager] : kLockfiles)
        if (tree.exists(name)) {
            facts.lockfile = name;
            facts.lockfile_manager = manager;
            return;
        }
}

// `output: 'export'` (any quote, any spacing) in the text of a next.config.* file.
bool sets_output_export(std::string_view text)
{
    for (size_t at = text.find("output"); at != std::string_view::npos;
         at = text.find("output", at + 1)) {
        std::string_view rest = text.substr(at + 6);
        size_t i = 0;
        auto skip_space = [&] {
            while (i < rest.size() && std::isspace(static_cast<unsigned char>(rest[i])))
                ++i;
        };
        skip_space();
        if (i >= rest.size() || rest[i] != ':') continue;
        ++i;
        skip_space();
        if (i >= rest.size() || (rest[i] != '\'' && rest[i] != '"' && rest[i] != '`')) continue;
        char quote = rest[i];
        if (rest.substr(i + 1, 7) == std::string("export") + quote) return true;
    }
    return false;
}

void find_next_export(const SourceTree &tree, ProjectFacts &facts)
{
    if (!facts.node_deps.count("next")) return;
    for (const char *name :
         {"next.config.js", "next.config.mjs", "next.config.cjs", "next.config.ts"}) {
        auto text = read_manifest(tree, name);
        if (text && sets_output_export(*text)) {
            facts.next_static_export = std::string(name) + " sets output: 'export'";
            return;
        }
    }
    if (auto build = facts.scripts.find("build");
        build != facts.scripts.end() && build->second.find("next export") != std::string::npos)
        facts.next_static_export = "the build script runs next export";
}

toml::table parse_toml(const std::string &text, std::string_view name)
{
    try {
        return toml::parse(text, name);
    } catch (const toml::parse_error &e) {
        throw AnalyzeError(std::string(name) + ":" + std::to_string(e.source().begin.line) + ": " +
                           std::string(e.description()));
    }
}

void read_python(const SourceTree &tree, ProjectFacts &facts)
{
    facts.has_manage_py = tree.exists("manage.py");
    if (auto text = read_manifest(tree, "requirements.txt")) {
        facts.python_manifest = "requirements.txt";
        std::string_view rest = *text;
        while (!rest.empty() && facts.django_source.empty()) {
            size_t nl = rest.find('\n');
            if (requirement_name(rest.substr(0, nl)) == "django")
                facts.django_source = "requirements.txt";
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        }
    }
    auto text = read_manifest(tree, "pyproject.toml");
    if (!text) return;
    if (facts.python_manifest.empty()) facts.python_manifest = "pyproject.toml";
    toml::table doc = parse_toml(*text, "pyproject.toml");
    bool named = false;
    if (auto deps = doc["project"]["dependencies"].as_array())
        for (const auto &dep : *deps)
            if (auto s = dep.value<std::string>(); s && requirement_name(*s) == "django")
                named = true;
    if (auto poetry = doc["tool"]["poetry"]["dependencies"].as_table())
        for (const auto &[key, value] : *poetry)
            if (lower(key.str()) == "django") named = true;
    if (named && facts.django_source.empty()) facts.django_source = "pyproject.toml";
}

// `gem "rails"` / `gem 'rails', '~> 7.1'` on a line of its own (comments ignored).
bool gemfile_names_rails(std::string_view text)
{
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.substr(0, 3) != "gem" || line.size() < 5 ||
            !std::isspace(static_cast<unsigned char>(line[3])))
            continue;
        line = trim(line.substr(3));
        if (line.size() >= 7 && (line[0] == '"' || line[0] == '\'') &&
            line.substr(1, 5) == "rails" && line[6] == line[0])
            return true;
    }
    return false;
}

void read_ruby(const SourceTree &tree, ProjectFacts &facts)
{
    auto text = read_manifest(tree, "Gemfile");
    if (!text) return;
    facts.has_gemfile = true;
    facts.gemfile_names_rails = gemfile_names_rails(*text);
    facts.has_gemfile_lock = tree.exists("Gemfile.lock");
}

// The first `EXPOSE <port>` of a Dockerfile (instructions are case-insensitive).
int dockerfile_port(std::string_view text)
{
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.size() < 8 || lower(line.substr(0, 6)) != "expose" ||
            !std::isspace(static_cast<unsigned char>(line[6])))
            continue;
        line = trim(line.substr(6));
        int port = 0;
        for (size_t i = 0; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]));
             ++i) {
            port = port * 10 + (line[i] - '0');
            if (port > 65535) return 0;
        }
        return port;
    }
    return 0;
}

std::vector<std::string> string_array(const toml::node_view<const toml::node> &node,
                                      const char *key)
{
    const toml::array *arr = node.as_array();
    std::vector<std::string> out;
    if (arr)
        for (const auto &item : *arr)
            if (auto s = item.value<std::string>()) out.push_back(*s);
    if (!arr || out.size() != arr->size())
        throw AnalyzeError(std::string("nixpacks.toml: ") + key + " must be an array of strings");
    return out;
}

void read_nixpacks(const SourceTree &tree, ProjectFacts &facts)
{
    auto text = read_manifest(tree, "nixpacks.toml");
    if (!text) return;
    const toml::table doc = parse_toml(*text, "nixpacks.toml");
    if (auto cmds = doc["phases"]["install"]["cmds"])
        facts.nixpacks.install_cmds = string_array(cmds, "phases.install.cmds");
    if (auto cmds = doc["phases"]["build"]["cmds"])
        facts.nixpacks.build_cmds = string_array(cmds, "phases.build.cmds");
    if (auto cmd = doc["start"]["cmd"]) {
        auto s = cmd.value<std::string>();
        if (!s) throw AnalyzeError("nixpacks.toml: start.cmd must be a string");
        facts.nixpacks.start_cmd = *s;
    }
}

} // namespace

ProjectFacts read_project_facts(const SourceTree &tree)
{
    ProjectFacts facts;
    read_package_json(tree, facts);
    find_lockfile(tree, facts);
    find_next_export(tree, facts);
    read_python(tree, facts);
    read_ruby(tree, facts);
    if (auto text = read_manifest(tree, "Dockerfile")) {
        facts.has_dockerfile = true;
        facts.dockerfile_port = dockerfile_port(*text);
    }
    facts.has_index_html = tree.exists("index.html");
    read_nixpacks(tree, facts);
    return facts;
}

} // namespace berth::control
