// Real builds end to end (#16): a package.json repository analyzed, installed and built by npm
// in the sandbox, published and served through a real berth-edge; the dependency cache, the
// build environment and its auto-secrets, failures, memory limits, cancel, masking and
// streaming. The fixture's build.js is plain node with a vendored dependency: no network.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <pqxx/pqxx>

#include "tests/control/support/control_env.h"
#include "tests/control/support/pipeline_support.h"
#include "tests/control/support/proc_scan.h"
#include "tests/support/http_client.h"

using namespace berth::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

// The node-build fixture's files (path → content), ready for make_git_repo.
std::vector<std::pair<std::string, std::string>> node_fixture()
{
    fs::path root = fs::path(BERTH_SOURCE_DIR) / "tests/control/fixtures/node-build";
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto &e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file()) {
            std::ifstream in(e.path(), std::ios::binary);
            std::ostringstream text;
            text << in.rdbuf();
            files.emplace_back(fs::relative(e.path(), root).string(), text.str());
        }
    return files;
}

void set_env(HttpClient &c, const std::string &token, const std::string &sid,
             const std::string &key, const std::string &value, bool secret = false)
{
    auto r = c.call("POST", "services/" + sid + "/env-vars/", token,
                    {{"key", key}, {"value", value}, {"is_secret", secret}});
    INFO(r.body);
    REQUIRE(r.status == 201);
}

// The node-build fixture in a git repository, the control plane serving, and service "site"
// (NIXPACKS) deploying it, owned by alice.
struct NodeSite {
    std::unique_ptr<HttpClient> client;
    std::string token, sid;

    // build_mark: the BUILD_MARK env var the fixture writes into index.html ("" = unset).
    explicit NodeSite(ControlEnv &env, const std::string &build_mark = "")
    {
        std::string repo = env.dir + "/repo";
        make_git_repo(repo, node_fixture());
        env.start_server();
        client = env.client();
        token = env.create_token("alice");
        sid = create_service(*client, token, create_project(*client, token, "p")["id"], "site",
                             {{"repo_url", "file://" + repo}, {"buildpack", "NIXPACKS"}})["id"];
        if (!build_mark.empty()) set_env(*client, token, sid, "BUILD_MARK", build_mark);
    }
};

std::string log_text(HttpClient &c, const std::string &token, const std::string &id)
{
    std::string out;
    json logs = c.call("GET", "deployments/" + id + "/build-logs/", token).json();
    for (const auto &l : logs["lines"])
        out += l["line"].get<std::string>() + "\n";
    return out;
}

std::string served(int port, const std::string &path)
{
    return must(get(port, "site.localhost", path)).body;
}

bool contains(const std::string &text, const std::string &needle)
{
    return text.find(needle) != std::string::npos;
}

std::string base64(const std::string &in)
{
    static const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6)
            out += abc[(v >> s) & 63];
    }
    if (i < in.size()) {
        unsigned v = uint8_t(in[i]) << 16;
        if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += i + 1 < in.size() ? abc[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

} // namespace

TEST_CASE("a node build goes ACTIVE: analyze, sandboxed npm, dependency cache, served by the edge",
          "[control][build]")
{
    EdgedControl ec;
    auto &env = ec.env;
    NodeSite site(env, "mark-one");
    auto &c = site.client;
    const std::string &token = site.token, &sid = site.sid;
    // SYSTEM values are Berth's own: a user cannot claim that source.
    auto sys = c->call("POST", "services/" + sid + "/env-vars/", token,
                       {{"key", "DEPLOYMENT_ID"}, {"value", "x"}, {"source", "SYSTEM"}});
    CHECK(sys.status == 400);
    CHECK(contains(sys.json()["error"].get<std::string>(), "SYSTEM"));

    std::string d1 = trigger_deployment(*c, token, sid);
    json dep = wait_status(*c, token, d1, "ACTIVE");
    json summary = dep["review_summary"];
    CHECK(summary["framework"] == "node");
    CHECK(summary["kind"] == "static");
    CHECK(summary["install_command"] == "npm ci");
    CHECK(summary["build_command"] == "npm run build");
    CHECK(summary["output_directory"] == "dist");
    CHECK(summary["lockfile"] == "package-lock.json");
    // The environment is recorded by name and source, never by value.
    std::map<std::string, std::string> sources;
    for (const auto &v : dep["build_environment"]["variables"])
        sources[v["name"]] = v["source"];
    CHECK(sources["BUILD_MARK"] == "USER");
    CHECK(sources["APP_SECRET"] == "TEMPLATE");
    CHECK(sources["PUBLIC_URL"] == "TEMPLATE");
    CHECK(sources["DEPLOYMENT_ID"] == "SYSTEM");
    CHECK_FALSE(contains(dep.dump(), "mark-one"));

    std::vector<std::string> stages;
    for (const auto &s : dep["pipeline_stages"])
        stages.push_back(s["name"]);
    CHECK(stages == std::vector<std::string>{"clone", "analyze", "approval", "build", "deploy",
                                             "health_check"});
    std::string build_detail = dep["pipeline_stages"][3]["detail"];
    CHECK(contains(build_detail, "npm ci "));
    CHECK(contains(build_detail, "npm run build "));
    CHECK(contains(build_detail, "published dist"));
    std::string logs = log_text(*c, token, d1);
    CHECK(contains(logs, "$ npm ci\n"));
    CHECK(contains(logs, "dependency cache miss"));
    CHECK(contains(logs, "building with from helper\n"));
    CHECK(contains(logs, "$ npm run build\n"));

    // Served through the edge: the build's output, the SPA fallback, and nothing else.
    int port = ec.edge.port();
    CHECK(served(port, "/") == "<h1>mark-one</h1>\n");
    CHECK(served(port, "/some/client/route") == "<h1>mark-one</h1>\n");
    CHECK(contains(served(port, "/assets/app.js"), "console.log(\"app\")"));
    json built = json::parse(served(port, "/env.json"));
    CHECK(built["public_url"] == "http://site.localhost");
    CHECK(built["deployment"] == d1);
    CHECK(built["home_inside"] == true);
    fs::path dir1 = fs::path(env.deployments_root()) / "site" / d1;
    CHECK_FALSE(fs::exists(dir1 / "node_modules"));
    CHECK_FALSE(fs::exists(dir1 / "package.json"));
    std::string hash1 = slurp((dir1 / "secret-hash.txt").string());
    CHECK(hash1.size() == 64);

    // Same lockfile: the install is skipped; the auto-secret is the same one.
    REQUIRE(c->call("PATCH", "services/" + sid + "/env-vars/BUILD_MARK/", token,
                    {{"value", "mark-two"}})
                .status == 200);
    std::string d2 = trigger_deployment(*c, token, sid);
    dep = wait_status(*c, token, d2, "ACTIVE");
    CHECK(contains(dep["pipeline_stages"][3]["detail"], "npm ci (cached)"));
    logs = log_text(*c, token, d2);
    CHECK(contains(logs, "dependency cache hit"));
    CHECK_FALSE(contains(logs, "$ npm ci\n"));
    CHECK(contains(logs, "building with from helper\n")); // node_modules came from the cache
    CHECK(served(port, "/") == "<h1>mark-two</h1>\n");
    fs::path dir2 = fs::path(env.deployments_root()) / "site" / d2;
    CHECK(slurp((dir2 / "secret-hash.txt").string()) == hash1);
    {
        pqxx::connection db(env.pg.url());
        pqxx::work w(db);
        auto r = w.exec_params("SELECT key FROM generated_secrets WHERE service_id = $1", sid);
        REQUIRE(r.size() == 1);
        CHECK(r[0][0].as<std::string>() == "APP_SECRET");
    }
    env.stop_server();
}

TEST_CASE("failing and leaking builds end BUILD_FAILED while the old version keeps serving",
          "[control][build]")
{
    EdgedControl ec;
    auto &env = ec.env;
    NodeSite site(env, "good");
    auto &c = site.client;
    const std::string &token = site.token, &sid = site.sid;
    std::string good = trigger_deployment(*c, token, sid);
    wait_status(*c, token, good, "ACTIVE");
    int port = ec.edge.port();

    set_env(*c, token, sid, "FAIL", "1");
    json dep = wait_status(*c, token, trigger_deployment(*c, token, sid), "FAILED");
    std::string err = dep["error_message"];
    INFO(err);
    CHECK(err.rfind("BUILD_FAILED: exit 3 in `npm run build`; last output: ", 0) == 0);
    CHECK(contains(err, "error: cannot resolve ./missing.js")); // the build's own last lines
    std::vector<std::string> hist;
    for (const auto &h : dep["status_history"])
        hist.push_back(h["status"]);
    CHECK(std::vector<std::string>(hist.end() - 3, hist.end()) ==
          std::vector<std::string>{"BUILDING", "BUILD_FAILED", "FAILED"});
    CHECK(dep["pipeline_stages"].back()["name"] == "build");
    CHECK(dep["pipeline_stages"].back()["outcome"] == "failed");
    CHECK(served(port, "/") == "<h1>good</h1>\n");
    REQUIRE(c->call("DELETE", "services/" + sid + "/env-vars/FAIL/", token).status == 204);

    // A secret baked into the bundle: the deploy is blocked, naming the file and the rule.
    set_env(*c, token, sid, "API_TOKEN", "tok-7f3a9c2e51d8", true);
    set_env(*c, token, sid, "LEAK_SECRET", "1");
    dep = wait_status(*c, token, trigger_deployment(*c, token, sid), "FAILED");
    err = dep["error_message"];
    INFO(err);
    CHECK(err.rfind("BUILD_FAILED: ", 0) == 0);
    CHECK(contains(err, "assets/app.js"));
    CHECK(contains(err, "secret env var API_TOKEN"));
    CHECK_FALSE(contains(err, "tok-7f3a9c2e51d8"));
    CHECK(served(port, "/") == "<h1>good</h1>\n");
    CHECK(c->call("GET", "deployments/" + good + "/", token).json()["status"] == "ACTIVE");
    env.stop_server();
}

TEST_CASE("a running build streams masked lines, and cancel ends its whole process group",
          "[control][build][follow]")
{
    ControlEnv env;
    NodeSite site(env);
    auto &c = site.client;
    const std::string &token = site.token, &sid = site.sid;
    const std::string secret = "tok-7f3a9c2e51d8";
    set_env(*c, token, sid, "API_TOKEN", secret, true);
    set_env(*c, token, sid, "PRINT_SECRET", "1");
    set_env(*c, token, sid, "SLOW", "1");
    std::string id = trigger_deployment(*c, token, sid);

    LogFollower f(env.port(), token, id);
    auto text = [&] {
        std::string all;
        for (const auto &l : f.lines())
            all += l.value("line", "") + "\n";
        return all;
    };
    REQUIRE(f.pump_until([&] { return contains(text(), "still building 3"); }, 60000));
    // Lines arrived while the build still ran.
    CHECK(c->call("GET", "deployments/" + id + "/", token).json()["status"] == "BUILDING");
    std::string streamed = text();
    CHECK(contains(streamed, "token is ********\n"));
    for (const std::string &form : {secret, base64(secret), base64("user:" + secret)})
        CHECK_FALSE(contains(streamed, form));
    // The secret's own bytes inside "user:<secret>" in base64 are masked too.
    CHECK_FALSE(contains(streamed, base64("user:" + secret).substr(8, 12)));

    size_t at = streamed.find("pgid ");
    REQUIRE(at != std::string::npos);
    pid_t pgid = std::stoi(streamed.substr(at + 5));
    REQUIRE(pgid > 1);
    REQUIRE(::kill(-pgid, 0) == 0); // the build and its `sleep 300` child are running

    auto r = c->call("POST", "deployments/" + id + "/cancel/", token);
    REQUIRE(r.status == 200);
    CHECK(wait_until([&] { return ::kill(-pgid, 0) == -1 && errno == ESRCH; }, 10000));
    REQUIRE(f.pump_until([&] { return f.ended(); }));
    CHECK(f.lines().back() == json{{"end", true}, {"status", "CANCELLED"}});
    CHECK(wait_until([&] { return !fs::exists(env.dir + "/builds/" + id); }));
    std::string stored = log_text(*c, token, id);
    CHECK(contains(stored, "token is ********\n"));
    for (const std::string &form : {secret, base64(secret), base64("user:" + secret)})
        CHECK_FALSE(contains(stored, form));
    env.stop_server();
}

TEST_CASE("REVIEW names missing env keys, a build past its memory limit is reported as such",
          "[control][build]")
{
    ControlOptions opts;
    opts.builds_toml = "memory_mb = 256\n";
    ControlEnv env(opts);
    std::string repo = env.dir + "/repo";
    auto files = node_fixture();
    files.emplace_back(".env.example", "APP_SECRET=\nMAILER_API_KEY=\nSENTRY_DSN=\n");
    make_git_repo(repo, files);
    std::string plain = env.dir + "/plain";
    make_git_repo(plain, {{"index.html", "hi"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string pid = create_project(*c, token, "p")["id"];

    std::string sid =
        create_service(*c, token, pid, "mailer",
                       {{"repo_url", "file://" + repo}, {"buildpack", "NIXPACKS"}})["id"];
    set_env(*c, token, sid, "SENTRY_DSN", "https://x@sentry.invalid/1");
    json dep = wait_status(*c, token, trigger_deployment(*c, token, sid), "FAILED");
    CHECK(dep["error_message"] ==
          "REVIEW: missing environment variables: MAILER_API_KEY (set them as env vars of the "
          "service)");
    CHECK(dep["review_summary"]["environment"]["missing"] == json::array({"MAILER_API_KEY"}));
    std::vector<std::string> hist;
    for (const auto &h : dep["status_history"])
        hist.push_back(h["status"]);
    CHECK(std::vector<std::string>(hist.end() - 2, hist.end()) ==
          std::vector<std::string>{"REVIEW", "FAILED"});
    CHECK_FALSE(contains(log_text(*c, token, dep["id"]), "$ npm"));

    // A custom build command (a per-service override) that allocates past memory_mb.
    std::string hog = create_service(*c, token, pid, "hog",
                                     {{"repo_url", "file://" + plain},
                                      {"buildpack", "NIXPACKS"},
                                      {"build_command", "python3 -c 'bytearray(1 << 30)'"}})["id"];
    dep = wait_status(*c, token, trigger_deployment(*c, token, hog), "FAILED");
    std::string err = dep["error_message"];
    INFO(err);
    CHECK(err.rfind("BUILD_FAILED: exit 1 (out of memory: the limit is 256 MiB per process) "
                    "in `python3 -c 'bytearray(1 << 30)'`",
                    0) == 0);
    CHECK(contains(err, "MemoryError"));
    env.stop_server();
}

TEST_CASE("as root each service builds as a uid of its own, and nothing of a build outlives it",
          "[control][build][uid]")
{
    if (geteuid() != 0) {
        WARN("not root: builds run as control's own uid");
        return;
    }
    ControlEnv env;
    std::string repo = env.dir + "/plain";
    make_git_repo(repo, {{"index.html", "hi"}});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string pid = create_project(*c, token, "p")["id"];
    // The audit's escape: a session of its own, out of the build's process group, reading every
    // environment it can while later builds run.
    const std::string command =
        "echo \"uid=$(id -u) gid=$(id -g) tmp=$TMPDIR\"; "
        "setsid sh -c 'while :; do cat /proc/[0-9]*/environ >/dev/null 2>&1; sleep 1; done' "
        "</dev/null >/dev/null 2>&1 &";
    auto service = [&](const std::string &name) {
        return create_service(*c, token, pid, name,
                              {{"repo_url", "file://" + repo},
                               {"buildpack", "NIXPACKS"},
                               {"build_command", command},
                               {"output_directory", "."}})["id"]
            .get<std::string>();
    };
    pqxx::connection db(env.pg.url());
    auto number_of = [&](const std::string &sid) {
        pqxx::nontransaction w(db);
        return w.exec_params1("SELECT build_uid FROM services WHERE id = $1", sid)[0].as<int>();
    };
    // Builds the service; returns the uid its build reported, having checked that nothing of
    // that uid is left and control has no unreaped child.
    auto build = [&](const std::string &sid) {
        std::string id = trigger_deployment(*c, token, sid);
        json dep = wait_status(*c, token, id, "ACTIVE");
        std::string log = log_text(*c, token, id);
        INFO(log);
        size_t at = log.find("\nuid="); // the output, not the command's echo
        REQUIRE(at != std::string::npos);
        uid_t uid = uid_t(std::stoul(log.substr(at + 5)));
        CHECK(contains(log, "uid=" + std::to_string(uid) + " gid=" + std::to_string(uid) +
                                " tmp=" + env.dir + "/builds/" + id + "/.berth-tmp\n"));
        CHECK(contains(log, "commands run as uid " + std::to_string(uid) + ", this service's own"));
        CHECK(uid == uid_t(env.build_uid_base() + number_of(sid)));
        CHECK(processes_of_uid(uid).empty());
        CHECK(zombie_children(env.server_pid()).empty());
        return uid;
    };
    std::string a = service("a"), b = service("b");
    uid_t uid_a = build(a);
    uid_t uid_b = build(b);
    CHECK(uid_a != uid_b);
    CHECK(build(a) == uid_a); // the same service, the same uid
    CHECK(number_of(a) != number_of(b));
    env.stop_server();

    // `[builds] user` named the one account every build shared: refused, naming its successor.
    env.options().builds_toml = "user = \"nobody\"\n";
    env.write_config();
    CommandResult refused = env.run({"migrate"});
    CHECK(refused.exit_code != 0);
    CHECK(contains(refused.err, "builds.user is gone: each service's builds run as a uid of their "
                                "own, uid_base + n"));
}
