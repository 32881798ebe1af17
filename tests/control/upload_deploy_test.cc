// UPLOAD deploys end to end (#16): POST deployments/upload/ with a tar.gz body, through the
// real berth-control (and a real berth-edge), from the archive check to ACTIVE and served.
#include <catch2/catch.hpp>

#include <archive_entry.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "control/base/crypto.h"
#include "tests/control/support/control_env.h"
#include "tests/control/support/edged_control.h"
#include "tests/control/support/tarball_writer.h"
#include "tests/support/http_client.h"

using namespace berth::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace
{

Response upload(HttpClient &c, const std::string &token, const std::string &service_id,
                const std::string &body, const std::string &content_type = "application/gzip")
{
    return c.request("POST", "/api/v1/deployments/upload/?service_id=" + service_id, body,
                     {{"Authorization", "Token " + token}, {"Content-Type", content_type}});
}

// GET deployments/{id}/ until its status is `want`; REQUIREs it.
json wait_for(HttpClient &c, const std::string &token, const std::string &id,
              const std::string &want)
{
    json dep;
    bool done = wait_until([&] {
        dep = c.call("GET", "deployments/" + id + "/", token).json();
        return dep.value("status", "") == want;
    });
    INFO(dep.dump());
    REQUIRE(done);
    return dep;
}

std::string archive_of(const ControlEnv &env, const std::string &id)
{
    return env.dir + "/uploads/" + id + ".tar.gz"; // [deploy] uploads_dir next to builds_dir
}

std::string stage_detail(const json &dep, const std::string &name)
{
    for (const auto &s : dep["pipeline_stages"])
        if (s["name"] == name && s["detail"].is_string()) return s["detail"];
    return "";
}

std::string site(const std::string &index)
{
    return make_tarball({{AE_IFDIR, "./", "", 0755},
                         {AE_IFREG, "./index.html", index},
                         {AE_IFDIR, "./css", "", 0755},
                         {AE_IFREG, "./css/site.css", "body { color: teal }"}});
}

// A new project with one UPLOAD service; the service's id.
std::string upload_service(HttpClient &c, const std::string &token, const std::string &name)
{
    return create_service(c, token, create_project(c, token, "p")["id"], name,
                          {{"deploy_type", "UPLOAD"}})["id"];
}

// Bytes gzip cannot shrink: an archive of them is as large as its content.
std::string incompressible(size_t n)
{
    std::string noise(n, '\0');
    uint32_t x = 7;
    for (char &ch : noise)
        ch = char((x = x * 1664525u + 1013904223u) >> 24);
    return noise;
}

} // namespace

TEST_CASE("an uploaded static site goes ACTIVE, is served by the edge, and its archive goes",
          "[control][upload]")
{
    EdgedControl ec;
    ControlEnv &env = ec.env;
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), admin = env.create_token("root", true);
    std::string sid = create_service(
        *c, token, create_project(*c, token, "p")["id"], "site",
        {{"deploy_type", "UPLOAD"}, {"buildpack", "STATIC"}, {"require_approval", true}})["id"];

    // Held for approval, the archive stays (the sweep runs every 2 s); a cancel removes it.
    std::string a = site("a");
    Response r = upload(*c, token, sid, a);
    REQUIRE(r.status == 201);
    json dep = r.json();
    CHECK(dep["status"] == "QUEUED");
    CHECK(dep["trigger_source"] == "upload");
    CHECK(dep["commit_hash"] == berth::control::sha256_hex(a));
    std::string da = dep["id"];
    CHECK(fs::exists(archive_of(env, da)));
    dep = wait_for(*c, token, da, "AWAITING_APPROVAL");
    CHECK(stage_detail(dep, "clone") == "unpacked upload " +
                                            berth::control::sha256_hex(a).substr(0, 12) +
                                            " (4 entries, " + std::to_string(1 + 20) + " bytes)");
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    CHECK(fs::exists(archive_of(env, da)));
    REQUIRE(c->call("POST", "deployments/" + da + "/cancel/", token).status == 200);
    CHECK(wait_until([&] { return !fs::exists(archive_of(env, da)); }, 10000));

    // Approved after its checkout was lost: the archive is unpacked again for the build.
    std::string v1 = site("<h1>v1</h1>");
    r = upload(*c, token, sid, v1);
    REQUIRE(r.status == 201);
    std::string d1 = r.json()["id"];
    wait_for(*c, token, d1, "AWAITING_APPROVAL");
    fs::remove_all(env.dir + "/builds/" + d1);
    REQUIRE(c->call("POST", "deployments/" + d1 + "/approve/", token).status == 200);
    dep = wait_for(*c, token, d1, "ACTIVE");
    CHECK(dep["artifact_path"] == "site/" + d1);
    fs::path dir1 = fs::path(env.deployments_root()) / "site" / d1;
    CHECK(slurp((dir1 / "index.html").string()) == "<h1>v1</h1>");
    CHECK(slurp((dir1 / "css/site.css").string()) == "body { color: teal }");
    CHECK(must(get(ec.edge.port(), "site.localhost", "/")).body == "<h1>v1</h1>");
    json logs = c->call("GET", "deployments/" + d1 + "/build-logs/", token).json();
    CHECK(logs.dump().find("checkout missing; unpacked upload") != std::string::npos);
    CHECK(wait_until([&] { return !fs::exists(archive_of(env, d1)); }, 10000));

    // Without approval: straight through, replacing v1.
    REQUIRE(
        c->call("PATCH", "services/" + sid + "/", token, {{"require_approval", false}}).status ==
        200);
    std::string v2 = site("<h1>v2</h1>");
    r = upload(*c, token, sid, v2, "application/octet-stream");
    REQUIRE(r.status == 201);
    std::string d2 = r.json()["id"];
    dep = wait_for(*c, token, d2, "ACTIVE");
    std::vector<std::string> names;
    for (const auto &s : dep["pipeline_stages"])
        names.push_back(s["name"]);
    CHECK(names == std::vector<std::string>{"clone", "analyze", "approval", "build", "deploy",
                                            "health_check"});
    CHECK(must(get(ec.edge.port(), "site.localhost", "/css/site.css")).body ==
          "body { color: teal }");
    CHECK(must(get(ec.edge.port(), "site.localhost", "/")).body == "<h1>v2</h1>");
    CHECK(c->call("GET", "deployments/" + d1 + "/", token).json()["status"] == "INACTIVE");
    CHECK(wait_until([&] { return !fs::exists(archive_of(env, d2)); }, 10000));

    // Audited as a trigger whose source is the upload, with the archive's SHA-256.
    json audit = c->call("GET", "system/audit/?target_id=" + d2, admin).json();
    REQUIRE(!audit["results"].empty());
    json first = audit["results"].back();
    CHECK(first["action"] == "DEPLOYMENT_TRIGGER");
    CHECK(first["details"]["source"] == "upload");
    CHECK(first["details"]["commit_hash"] == berth::control::sha256_hex(v2));
}

TEST_CASE("a hostile or misdirected upload is refused and creates nothing", "[control][upload]")
{
    ControlEnv env({.workers = 0});
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice"), bob = env.create_token("bob");
    std::string pid = create_project(*c, token, "p")["id"];
    std::string sid = create_service(*c, token, pid, "up", {{"deploy_type", "UPLOAD"}})["id"];
    auto deployments = [&] {
        return c->call("GET", "deployments/?service_id=" + sid, token).json()["count"];
    };

    // Every entry that cannot be unpacked is listed, in archive order.
    Response r = upload(*c, token, sid,
                        make_tarball({{AE_IFREG, "index.html", "fine"},
                                      {AE_IFREG, "/etc/cron.d/evil", "x"},
                                      {AE_IFREG, "../outside", "x"},
                                      {AE_IFLNK, "up", "../../etc"},
                                      {AE_IFLNK, "abs", "/etc/passwd"},
                                      {AE_IFLNK, "inner", "index.html"},
                                      {AE_IFREG, "inner/x", "through a link"},
                                      {AE_IFCHR, "null", ""},
                                      {AE_IFIFO, "pipe", ""},
                                      {AE_IFREG, "hard", "/etc/shadow", 0644, true}}));
    REQUIRE(r.status == 400);
    CHECK(r.json()["code"] == "invalid_tarball");
    CHECK(r.json()["error"] == "8 archive entries cannot be unpacked into a build directory; "
                               "nothing was deployed");
    CHECK(r.json()["refused"] ==
          json::parse(R"([{"path":"/etc/cron.d/evil","reason":"absolute path"},
                          {"path":"../outside","reason":"'..' in the path"},
                          {"path":"up","reason":"symlink to ../../etc leaves the tree"},
                          {"path":"abs","reason":"symlink to /etc/passwd leaves the tree"},
                          {"path":"inner/x","reason":"path goes through inner, which is not a directory"},
                          {"path":"null","reason":"device file"},
                          {"path":"pipe","reason":"FIFO"},
                          {"path":"hard","reason":"hard link leaves the tree"}])"));
    // Not an archive at all, or nothing.
    r = upload(*c, token, sid, "<html>this is not a tarball</html>");
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "invalid_tarball");
    CHECK(r.json()["refused"] == json::array());
    CHECK(r.json()["error"].get<std::string>().find("archive") != std::string::npos);
    CHECK(upload(*c, token, sid, "").json()["code"] == "invalid_tarball");
    CHECK(deployments() == 0);
    CHECK((!fs::exists(env.dir + "/uploads") || fs::is_empty(env.dir + "/uploads")));

    std::string good = make_tarball({{AE_IFREG, "index.html", "ok"}});
    // The archive as the body, not JSON or a form.
    r = upload(*c, token, sid, good, "application/x-www-form-urlencoded");
    CHECK(r.status == 415);
    CHECK(r.json()["code"] == "unsupported_media_type");
    // The service: named in the query, the caller's own, and an UPLOAD one.
    r = c->request("POST", "/api/v1/deployments/upload/", good,
                   {{"Authorization", "Token " + token}, {"Content-Type", "application/gzip"}});
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "invalid_query");
    CHECK(upload(*c, token, "not-a-uuid", good).json()["code"] == "invalid_query");
    CHECK(upload(*c, bob, sid, good).status == 404);
    CHECK(upload(*c, "", sid, good).status == 401);
    std::string git = create_service(*c, token, pid, "gitsvc",
                                     {{"repo_url", "https://github.com/o/r.git"}})["id"];
    r = upload(*c, token, git, good);
    CHECK(r.status == 400);
    CHECK(r.json()["code"] == "not_deployable");
    CHECK(r.json()["error"].get<std::string>().find("deploy_type UPLOAD") != std::string::npos);
    // And the other way round: an UPLOAD service is not triggered from Git.
    r = c->call("POST", "deployments/trigger/", token, {{"service_id", sid}});
    CHECK(r.status == 400);
    CHECK(r.json()["error"].get<std::string>().find("deployments/upload/") != std::string::npos);
    CHECK(deployments() == 0);
    CHECK(c->call("GET", "deployments/?service_id=" + git, token).json()["count"] == 0);
}

TEST_CASE("upload size limit, one deployment in flight, throttle", "[control][upload]")
{
    ControlOptions opts;
    opts.workers = 0; // uploads stay QUEUED
    opts.max_upload_bytes = 2 << 20;
    opts.trigger_per_minute = 3;
    ControlEnv env(opts);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid = upload_service(*c, token, "big");

    // Past max_upload_bytes: 413 on the declared length, before a byte of the body is sent.
    std::string head = "POST /api/v1/deployments/upload/?service_id=" + sid +
                       " HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + token +
                       "\r\nContent-Type: application/gzip\r\n";
    Response too_big = must(request(
        env.port(), head + "Content-Length: " + std::to_string((2 << 20) + 1) + "\r\n\r\n"));
    CHECK(too_big.status == 413);
    CHECK(too_big.json()["code"] == "body_too_large");
    // Chunked, counted as it arrives: one byte past the limit is refused.
    std::string chunk(64 << 10, 'x');
    RawClient chunked(env.port());
    chunked.send(head + "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 32; ++i)
        chunked.send("10000\r\n" + chunk + "\r\n");
    chunked.send("1\r\nx\r\n0\r\n\r\n");
    Response refused = must(chunked.read_response());
    CHECK(refused.status == 413);
    CHECK(refused.json()["code"] == "body_too_large");

    // Above [api] max_body_bytes (1 MiB) is fine here, and only here.
    std::string tgz = make_tarball(
        {{AE_IFREG, "index.html", "big"}, {AE_IFREG, "blob", incompressible(1536 << 10)}});
    REQUIRE(tgz.size() > (1 << 20));
    Response r = upload(*c, token, sid, tgz);
    REQUIRE(r.status == 201);
    std::string first = r.json()["id"];
    CHECK(c->request("POST", "/api/v1/projects/", tgz, {{"Authorization", "Token " + token}})
              .status == 413);

    // One in flight per service, as for a trigger; the refused archive is not kept.
    r = upload(*c, token, sid, make_tarball({{AE_IFREG, "index.html", "second"}}));
    CHECK(r.status == 409);
    CHECK(r.json()["existing_deployment"]["id"] == first);
    std::vector<std::string> stored;
    for (const auto &e : fs::directory_iterator(env.dir + "/uploads"))
        stored.push_back(e.path().filename().string());
    CHECK(stored == std::vector<std::string>{first + ".tar.gz"});
    CHECK(slurp(env.dir + "/uploads/" + first + ".tar.gz") == tgz);
    // The trigger throttle counts uploads (3 a minute here).
    upload(*c, token, sid, make_tarball({{AE_IFREG, "index.html", "third"}}));
    r = upload(*c, token, sid, make_tarball({{AE_IFREG, "index.html", "fourth"}}));
    CHECK(r.status == 429);
    CHECK(r.has_header("Retry-After"));
}

TEST_CASE("an upload without a valid token is refused on its head, before its body",
          "[control][upload]")
{
    ControlOptions opts;
    opts.workers = 0;
    opts.max_upload_bytes = 4 << 20;
    ControlEnv env(opts);
    env.start_server();
    auto c = env.client();
    std::string token = env.create_token("alice");
    std::string sid = upload_service(*c, token, "up");
    // Larger than [api] max_body_bytes (1 MiB): only uploads may send that much.
    std::string tgz =
        make_tarball({{AE_IFREG, "index.html", "up"}, {AE_IFREG, "blob", incompressible(3 << 20)}});
    REQUIRE(tgz.size() > (1 << 20));
    std::string head = "POST /api/v1/deployments/upload/?service_id=" + sid +
                       " HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\n"
                       "Expect: 100-continue\r\nContent-Length: " +
                       std::to_string((3 << 20) + 1) + "\r\n";

    // No token, a wrong token, chunked with a wrong token: answered from the head alone, no
    // 100 Continue, and the connection closes with the body never asked for.
    for (std::string auth : {std::string(), std::string("Authorization: Token nope\r\n")}) {
        RawClient raw(env.port());
        raw.send(head + auth + "\r\n");
        Response r = must(raw.read_response());
        CHECK(r.status == 401);
        CHECK(r.json()["code"] == (auth.empty() ? "not_authenticated" : "invalid_token"));
        CHECK(raw.wait_closed());
    }
    RawClient chunked(env.port());
    chunked.send("POST /api/v1/deployments/upload/?service_id=" + sid +
                 " HTTP/1.1\r\nHost: x\r\nAuthorization: Token nope\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
    Response r = must(chunked.read_response());
    CHECK(r.status == 401);

    // A valid token: 100 Continue, then the body, then the deployment.
    RawClient ok(env.port());
    std::string good = "POST /api/v1/deployments/upload/?service_id=" + sid +
                       " HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\n"
                       "Expect: 100-continue\r\nAuthorization: Token " +
                       token + "\r\nContent-Length: " + std::to_string(tgz.size()) + "\r\n\r\n";
    ok.send(good);
    Response cont = must(ok.read_response(true));
    CHECK(cont.status == 100);
    ok.send(tgz);
    r = must(ok.read_response());
    CHECK(r.status == 201);
    CHECK(r.json()["status"] == "QUEUED");
    // The bytes that came with the head are not lost: the whole archive was stored.
    CHECK(slurp(archive_of(env, r.json()["id"])) == tgz);
}
