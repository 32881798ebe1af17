// Unit tests of the Analyze step (#16): framework detection over fixture trees on disk, the
// disk tree's refusals, overrides, the dotenv parser, template classification and the build
// environment's precedence.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "control/analyze/build_env.h"
#include "control/analyze/build_overrides.h"
#include "control/analyze/disk_source_tree.h"
#include "control/analyze/env_template.h"
#include "control/analyze/framework_detect.h"
#include "control/analyze/memory_source_tree.h"

using namespace berth::control;

namespace
{

std::string fixture(const std::string &name)
{
    return std::string(BERTH_SOURCE_DIR) + "/tests/control/fixtures/frameworks/" + name;
}

BuildPlan detect_fixture(const std::string &name)
{
    DiskSourceTree tree(fixture(name));
    return detect_build_plan(tree);
}

std::string analyze_error(const SourceTree &tree, const BuildOverrides &overrides = {})
{
    try {
        analyze_build(tree, Buildpack::kNixpacks, overrides);
    } catch (const AnalyzeError &e) {
        return e.what();
    }
    return "no error";
}

// A temporary directory removed at the end of the test.
struct TempDir {
    std::filesystem::path path;
    TempDir()
    {
        char tmpl[] = "/tmp/berth-analyze-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    void write(const std::string &rel, const std::string &text) const
    {
        std::filesystem::create_directories((path / rel).parent_path());
        std::ofstream(path / rel) << text;
    }
};

} // namespace

TEST_CASE("next.js with output export is a static site published from out/", "[control][analyze]")
{
    BuildPlan plan = detect_fixture("next-export");
    CHECK(plan.framework == Framework::kNext);
    CHECK(plan.kind == BuildKind::kStatic);
    CHECK(plan.install_command == "npm ci");
    CHECK(plan.lockfile == "package-lock.json");
    CHECK(plan.package_manager == "npm");
    CHECK(plan.build_command == "npm run build");
    CHECK(plan.output_directory == "out");
    CHECK(plan.start_command.empty());
    auto json = plan.to_json();
    CHECK(json["framework"] == "next");
    CHECK(json["kind"] == "static");
    CHECK(json["start_command"].is_null());
    CHECK(json["reasons"].size() >= 2);
}

TEST_CASE("next.js without export is an app service on port 3000", "[control][analyze]")
{
    BuildPlan plan = detect_fixture("next-server");
    CHECK(plan.framework == Framework::kNext);
    CHECK(plan.kind == BuildKind::kService);
    CHECK(plan.start_command == "npm run start");
    CHECK(plan.port == 3000);
    // yarn.lock is named, but Debian's npm installs.
    CHECK(plan.lockfile == "yarn.lock");
    CHECK(plan.package_manager == "yarn");
    CHECK(plan.install_command == "npm install");
    bool explained = false;
    for (const auto &r : plan.reasons)
        explained |= r.find("yarn.lock found") != std::string::npos;
    CHECK(explained);
}

TEST_CASE("vite, astro and a generic node build are static sites", "[control][analyze]")
{
    BuildPlan vite = detect_fixture("vite");
    CHECK(vite.framework == Framework::kVite); // not plain static despite its index.html
    CHECK(vite.kind == BuildKind::kStatic);
    CHECK(vite.output_directory == "dist");
    CHECK(vite.build_command == "npm run build");
    CHECK(vite.lockfile == "pnpm-lock.yaml");

    BuildPlan astro = detect_fixture("astro");
    CHECK(astro.framework == Framework::kAstro); // astro depends on vite too: astro wins
    CHECK(astro.output_directory == "dist");
    CHECK(astro.install_command == "npm ci");

    BuildPlan node = detect_fixture("node-generic");
    CHECK(node.framework == Framework::kNode);
    CHECK(node.kind == BuildKind::kStatic);
    CHECK(node.build_command == "npm run build");
    CHECK(node.output_directory == "dist");
    CHECK(node.install_command == "npm install");
}

TEST_CASE("django and rails are app services with the seed's commands", "[control][analyze]")
{
    BuildPlan django = detect_fixture("django");
    CHECK(django.framework == Framework::kDjango);
    CHECK(django.kind == BuildKind::kService);
    CHECK(django.port == 8000);
    CHECK(django.install_command == "python3 -m pip install -r requirements.txt");
    CHECK(django.start_command == "python3 manage.py runserver 0.0.0.0:8000");

    BuildPlan rails = detect_fixture("rails"); // its package.json only bundles assets
    CHECK(rails.framework == Framework::kRails);
    CHECK(rails.port == 3000);
    CHECK(rails.install_command == "bundle install");
    CHECK(rails.start_command == "bin/rails server -b 0.0.0.0");
    CHECK(rails.lockfile == "Gemfile.lock");
}

TEST_CASE("plain static and Dockerfile trees", "[control][analyze]")
{
    BuildPlan plain = detect_fixture("plain-static");
    CHECK(plain.framework == Framework::kStatic);
    CHECK(plain.output_directory == ".");
    CHECK(plain.install_command.empty());
    CHECK(plain.build_command.empty());

    BuildPlan docker = detect_fixture("dockerfile");
    CHECK(docker.framework == Framework::kDockerfile);
    CHECK(docker.needs_container_runtime);
    CHECK(docker.port == 8080);
    CHECK(docker.to_json()["needs_container_runtime"] == true);

    DiskSourceTree tree(fixture("dockerfile"));
    CHECK(detect_build_plan(tree, Buildpack::kDocker).framework == Framework::kDockerfile);
    DiskSourceTree vite(fixture("vite"));
    CHECK_THROWS_WITH(detect_build_plan(vite, Buildpack::kDocker),
                      Catch::Contains("no Dockerfile"));
    CHECK(detect_build_plan(vite, Buildpack::kStatic).output_directory == ".");
}

TEST_CASE("an invalid package.json is an error naming the file and position", "[control][analyze]")
{
    DiskSourceTree tree(fixture("broken-package-json"));
    std::string error = analyze_error(tree);
    CHECK_THAT(error, Catch::StartsWith("package.json: invalid JSON: parse error at line 3"));
    CHECK(error.find("json.exception") == std::string::npos);

    MemorySourceTree other;
    other.add("package.json", "[1, 2]");
    CHECK(analyze_error(other) == "package.json: must be a JSON object");
    other.add("package.json", R"({"dependencies": ["vite"]})");
    CHECK(analyze_error(other) == "package.json: \"dependencies\" must be an object");
    other.add("package.json", R"({"version": 1e99999})"); // out_of_range, not parse_error
    CHECK_THAT(analyze_error(other),
               Catch::StartsWith("package.json: invalid JSON: number overflow"));
    other.add("package.json", std::string(100000, '['));
    CHECK_THAT(analyze_error(other), Catch::Contains("nested deeper"));
    MemorySourceTree empty;
    CHECK_THAT(analyze_error(empty), Catch::StartsWith("nothing to deploy"));
}

TEST_CASE("pyproject, nixpacks.toml and their TOML errors", "[control][analyze]")
{
    MemorySourceTree tree;
    tree.add("pyproject.toml", "[tool.poetry.dependencies]\npython = \"^3.11\"\nDjango = \"^5\"\n");
    tree.add("manage.py", "");
    BuildPlan plan = detect_build_plan(tree);
    CHECK(plan.framework == Framework::kDjango);
    CHECK(plan.install_command == "python3 -m pip install .");

    tree.add("nixpacks.toml",
             "[phases.build]\ncmds = [\"...\", \"python3 manage.py collectstatic\"]\n"
             "[start]\ncmd = \"gunicorn app.wsgi\"\n");
    plan = detect_build_plan(tree);
    CHECK(plan.build_command == "python3 manage.py collectstatic");
    CHECK(plan.start_command == "gunicorn app.wsgi");

    tree.add("nixpacks.toml", "[phases.install]\ncmds = [1]\n");
    CHECK(analyze_error(tree) == "nixpacks.toml: phases.install.cmds must be an array of strings");
    tree.add("nixpacks.toml", "\n\n[phases\n");
    CHECK_THAT(analyze_error(tree), Catch::StartsWith("nixpacks.toml:3: "));
    tree.add("nixpacks.toml", "");
    tree.add("pyproject.toml", "[project]\ndependencies = [\"django>=4\",\n");
    CHECK_THAT(analyze_error(tree), Catch::StartsWith("pyproject.toml:"));
}

TEST_CASE("next export is also seen in the build script", "[control][analyze]")
{
    MemorySourceTree tree;
    tree.add("package.json",
             R"({"scripts":{"build":"next build && next export"},"dependencies":{"next":"13"}})");
    tree.add("package-lock.json", "{}");
    CHECK(detect_build_plan(tree).kind == BuildKind::kStatic);
    tree.add("package.json", R"({"dependencies":{"next":"13"}})");
    tree.add("next.config.js", "module.exports = { output: \"standalone\" }");
    BuildPlan plan = detect_build_plan(tree);
    CHECK(plan.kind == BuildKind::kService);
    CHECK(plan.build_command == "npx --no-install next build"); // no build script
    CHECK(plan.start_command == "npx --no-install next start");
}

TEST_CASE("overrides win over detection and are validated", "[control][analyze]")
{
    DiskSourceTree tree(fixture("node-generic"));
    BuildOverrides o;
    o.build_command = "node build.js --prod";
    o.output_directory = "./public/";
    BuildPlan plan = analyze_build(tree, Buildpack::kNixpacks, o);
    CHECK(plan.framework == Framework::kNode);
    CHECK(plan.build_command == "node build.js --prod");
    CHECK(plan.output_directory == "public");

    BuildOverrides pin;
    pin.framework = "vite";
    plan = analyze_build(tree, Buildpack::kNixpacks, pin);
    CHECK(plan.framework == Framework::kVite);
    CHECK(plan.build_command == "npm run build");
    CHECK_THAT(plan.reasons.front(), Catch::Contains("pinned to vite (detected: node)"));

    BuildOverrides start;
    start.start_command = "node server.js";
    plan = analyze_build(tree, Buildpack::kNixpacks, start);
    CHECK(plan.kind == BuildKind::kService);
    CHECK(plan.port == 3000);

    BuildOverrides unknown;
    unknown.framework = "remix";
    CHECK_THAT(analyze_error(tree, unknown),
               Catch::StartsWith("pinned framework \"remix\" is unknown (known: next, vite"));
    for (const char *bad : {"../out", "/srv/www", "a/../../b", ""}) {
        BuildOverrides escape;
        escape.output_directory = bad;
        CHECK_THAT(analyze_error(tree, escape), Catch::Contains("inside the source tree"));
    }
    BuildOverrides port;
    port.port = 70000;
    CHECK_THAT(analyze_error(tree, port), Catch::Contains("outside 1-65535"));

    // A pinned framework needs no detection.
    MemorySourceTree bare;
    bare.add("README.md", "hi");
    pin.framework = "static";
    CHECK(analyze_build(bare, Buildpack::kNixpacks, pin).output_directory == ".");
}

TEST_CASE("framework names round-trip", "[control][analyze]")
{
    for (int i = 0; i <= int(Framework::kDockerfile); ++i)
        CHECK(parse_framework(framework_name(Framework(i))) == Framework(i));
    CHECK_FALSE(parse_framework("Next"));
}

TEST_CASE("the disk tree refuses escapes, links out, FIFOs and large files", "[control][analyze]")
{
    TempDir dir;
    dir.write("site/index.html", "hello");
    dir.write("site/sub/a.txt", "inner");
    dir.write("outside.txt", "secret");
    auto site = dir.path / "site";
    std::filesystem::create_symlink(dir.path / "outside.txt", site / "out-link");
    std::filesystem::create_symlink("/etc/passwd", site / "package.json");
    std::filesystem::create_symlink("sub/a.txt", site / "in-link");
    std::filesystem::create_directory_symlink("..", site / "up");
    REQUIRE(::mkfifo((site / "fifo").c_str(), 0600) == 0);

    DiskSourceTree tree(site.string());
    CHECK(tree.read("index.html", 100) == std::optional<std::string>("hello"));
    CHECK(tree.read("index.html", 4) == std::nullopt); // over the cap
    CHECK(tree.exists("index.html"));
    CHECK(tree.exists("sub"));
    CHECK(tree.read("in-link", 100) == std::optional<std::string>("inner"));
    CHECK_FALSE(tree.read("out-link", 100));
    CHECK_FALSE(tree.exists("out-link"));
    CHECK_FALSE(tree.read("package.json", 100));
    CHECK_FALSE(tree.read("up/outside.txt", 100));
    CHECK_FALSE(tree.read("../outside.txt", 100));
    CHECK_FALSE(tree.read("/etc/passwd", 100));
    CHECK_FALSE(tree.read("sub/../index.html", 100));
    CHECK_FALSE(tree.read("fifo", 100)); // and does not block
    CHECK_FALSE(tree.read("sub", 100));
    CHECK_FALSE(tree.exists("missing"));
    // The escaping package.json link reads as absent: the tree is plain static.
    CHECK(detect_build_plan(tree).framework == Framework::kStatic);

    DiskSourceTree missing((dir.path / "nope").string());
    CHECK_FALSE(missing.exists("index.html"));
}

TEST_CASE("the memory tree knows files and their directories", "[control][analyze]")
{
    MemorySourceTree tree;
    CHECK(tree.add("a/b/c.txt", "x"));
    CHECK_FALSE(tree.add("../x", "y"));
    CHECK_FALSE(tree.add("a//b", "y"));
    CHECK(tree.exists("a"));
    CHECK(tree.exists("a/b"));
    CHECK_FALSE(tree.exists("a/b/c"));
    CHECK_FALSE(tree.exists("a/"));
    CHECK(tree.read("a/b/c.txt", 1) == std::optional<std::string>("x"));
    CHECK_FALSE(tree.read("a/b/c.txt", 0));
}

TEST_CASE("dotenv files parse with comments, export, quotes and reported bad lines",
          "[control][analyze][env]")
{
    EnvFile f = parse_env_file("\xEF\xBB\xBF# comment\r\n"
                               "PLAIN=value # trailing comment\r\n"
                               "export EXPORTED = spaced\n"
                               "URL=https://x.test/#frag\n"
                               "EMPTY=\n"
                               "SINGLE='lit \\n $x' # c\n"
                               "DOUBLE=\"a\\nb\\\"c\\q\"\n"
                               "MULTI=\"line1\n"
                               "line2\"\n"
                               "no equals sign\n"
                               "9BAD=x\n"
                               "TAIL=\"x\" junk\n"
                               "OPEN='never closed\n"
                               "AFTER=1\n"
                               "PLAIN=again\n");
    std::map<std::string, std::pair<std::string, int>> got;
    for (const auto &e : f.entries)
        got[e.key] = {e.value, e.line};
    CHECK(got["PLAIN"] == std::make_pair(std::string("value"), 2));
    CHECK(got["EXPORTED"].first == "spaced");
    CHECK(got["URL"].first == "https://x.test/#frag");
    CHECK(got["EMPTY"].first.empty());
    CHECK(got["SINGLE"].first == "lit \\n $x");
    CHECK(got["DOUBLE"].first == "a\nb\"c\\q");
    CHECK(got["MULTI"] == std::make_pair(std::string("line1\nline2"), 8));
    CHECK(got["AFTER"].second == 14);
    CHECK(got.count("OPEN") == 0);
    CHECK(got.count("TAIL") == 0);
    REQUIRE(f.issues.size() == 5);
    CHECK(f.issues[0].message == "line 10: expected KEY=VALUE");
    CHECK(f.issues[1].message == "line 11: invalid key \"9BAD\"");
    CHECK(f.issues[2].message == "line 12: unexpected text after the closing quote");
    CHECK(f.issues[3].message == "line 13: unterminated ' quote");
    CHECK(f.issues[4].message == "line 15: duplicate key PLAIN (first on line 2)");
}

TEST_CASE("template keys are classified as in the Coday seed", "[control][analyze][env]")
{
    using C = EnvKeyClass;
    for (const char *k : {"DATABASE_URL", "POSTGRES_URL", "DB_URL", "MONGODB_URI", "database_url"})
        CHECK(classify_env_key(k) == C::kAutoDatabase);
    for (const char *k : {"JWT_SECRET", "NEXTAUTH_SECRET", "AUTH_SECRET", "SESSION_SECRET",
                          "COOKIE_SECRET", "SECRET_KEY", "SECRET_KEY_BASE"})
        CHECK(classify_env_key(k) == C::kAutoSecret);
    for (const char *k : {"NEXT_PUBLIC_URL", "NEXTAUTH_URL", "PUBLIC_URL", "BASE_URL", "APP_URL"})
        CHECK(classify_env_key(k) == C::kAutoDomain);
    for (const char *k : {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "OPENAI_API_KEY",
                          "ANTHROPIC_API_KEY", "RESEND_API_KEY", "GITHUB_CLIENT_SECRET",
                          "GOOGLE_CLIENT_SECRET", "SECRET", "_SECRET", "API_URL"})
        CHECK(classify_env_key(k) == C::kUser);
    CHECK(env_key_class_name(C::kAutoSecret) == "auto-secret");
}

TEST_CASE("the first template found is read and auto-secrets are generated once",
          "[control][analyze][env]")
{
    DiskSourceTree tree(fixture("django"));
    auto tmpl = read_env_template(tree);
    REQUIRE(tmpl);
    CHECK(tmpl->file == ".env.example");
    REQUIRE(tmpl->keys.size() == 4);
    CHECK(tmpl->keys[0].key == "SECRET_KEY");
    CHECK(tmpl->keys[0].line == 2);

    MemorySourceTree mem;
    mem.add(".env.sample", "FROM_SAMPLE=1\n");
    mem.add(".env.template", "JWT_SECRET=\nSESSION_SECRET=\nAPP_URL=\nDATABASE_URL=\nKEY=\n");
    tmpl = read_env_template(mem);
    REQUIRE(tmpl);
    CHECK(tmpl->file == ".env.template");

    int calls = 0;
    SecretGenerator gen = [&] { return std::string(kAutoSecretLength, char('a' + calls++)); };
    std::map<std::string, std::string> stored = {{"JWT_SECRET", std::string(64, 'z')}};
    TemplateFill fill = fill_template(*tmpl, stored, "https://site.example.test", gen);
    CHECK(calls == 1);
    CHECK(fill.secrets.at("JWT_SECRET") == std::string(64, 'z'));
    CHECK(fill.secrets.at("SESSION_SECRET") == std::string(64, 'a'));
    CHECK(fill.new_secrets.size() == 1);
    CHECK(fill.domain.at("APP_URL") == "https://site.example.test");
    CHECK(fill.pending_database == std::vector<std::string>{"DATABASE_URL"});
    CHECK(fill.user_keys == std::vector<std::string>{"KEY"});
    CHECK_FALSE(read_env_template(MemorySourceTree()));
}

TEST_CASE("build env follows the Grid precedence and honours locked rows",
          "[control][analyze][env]")
{
    using S = EnvSource;
    std::vector<EnvValue> values = {
        {"PORT", "3000", S::kPlatform},
        {"PORT", "8080", S::kUser},
        {"DEPLOYMENT_ID", "d-1", S::kSystem},
        {"DEPLOYMENT_ID", "mine", S::kUser},
        {"DATABASE_URL", "postgres://addon", S::kAddon, true, true}, // locked addon row
        {"DATABASE_URL", "postgres://user", S::kUser, true},
        {"REDIS_URL", "redis://short", S::kShortcode, true},
        {"API_TOKEN", "tok-123456", S::kUser, true},
        {"bad key", "x", S::kUser},
    };
    TemplateFill fill;
    fill.secrets["JWT_SECRET"] = std::string(64, 'j');
    fill.domain["APP_URL"] = "https://a.test";
    fill.user_keys = {"STRIPE_KEY", "API_TOKEN"};
    fill.pending_database = {"DATABASE_URL", "MONGODB_URI"};
    // The user's own APP_URL replaces the public URL the template fills in.
    values.push_back({"APP_URL", "https://mine.test", S::kUser, false, true});

    BuildEnv env = build_environment(values, &fill);
    CHECK(env.env.at("PORT") == "8080");
    CHECK(env.env.at("DEPLOYMENT_ID") == "mine");
    CHECK(env.env.at("DATABASE_URL") == "postgres://addon");
    CHECK(env.env.at("JWT_SECRET") == std::string(64, 'j'));
    CHECK(env.env.at("APP_URL") == "https://mine.test");
    CHECK(env.env.count("bad key") == 0);
    CHECK(env.missing_user_keys == std::vector<std::string>{"STRIPE_KEY"});
    CHECK(env.pending_database == std::vector<std::string>{"MONGODB_URI"});
    CHECK(missing_keys_message(env) ==
          "missing environment variables: STRIPE_KEY (set them as env vars of the service)");

    auto db = std::find_if(env.records.begin(), env.records.end(),
                           [](const EnvRecord &r) { return r.name == "DATABASE_URL"; });
    REQUIRE(db != env.records.end());
    CHECK(db->source == S::kAddon);
    CHECK(db->is_locked);
    CHECK(db->shadowed == std::vector<S>{S::kUser});

    std::string stored = env.to_json().dump();
    for (const char *value : {"postgres://addon", "tok-123456", "jjjj", "8080", "redis://short"})
        CHECK(stored.find(value) == std::string::npos);
    CHECK(env.to_json()["variables"][0]["name"] == "API_TOKEN");

    auto secrets = secret_values(env);
    REQUIRE(secrets.size() == 4);
    CHECK(secrets.front() == std::string(64, 'j')); // longest first
    CHECK(std::find(secrets.begin(), secrets.end(), "tok-123456") != secrets.end());

    CHECK(parse_row_source("SYSTEM") == S::kSystem);
    CHECK_FALSE(parse_row_source("PLATFORM"));
    CHECK_FALSE(parse_row_source("user"));
}
