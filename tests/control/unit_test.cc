// Unit tests of control-plane code without I/O: crypto, state machine, request bodies,
// webhook signatures and payloads, config errors (#3).
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "control/api/request_body.h"
#include "control/base/crypto.h"
#include "control/config/control_config.h"
#include "control/model/state_machine.h"
#include "control/net/ip_address.h"
#include "control/webhooks/webhook_payload.h"

using namespace berth::control;

TEST_CASE("sha256 and hmac match the published test vectors", "[control][crypto]")
{
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 4231 test case 2.
    CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(constant_time_equal("abc", "abc"));
    CHECK_FALSE(constant_time_equal("abc", "abd"));
    CHECK_FALSE(constant_time_equal("abc", "abcd"));
    // Ids made before their row (an upload's archive is named first, #16): version 4, RFC 4122.
    for (int i = 0; i < 64; ++i) {
        std::string id = random_uuid();
        CHECK(is_uuid(id));
        CHECK(id[14] == '4');
        CHECK(std::string("89ab").find(id[19]) != std::string::npos);
    }
    CHECK(random_uuid() != random_uuid());
}

TEST_CASE("secret box round-trips and refuses tampering or another context", "[control][crypto]")
{
    auto box = SecretBox::from_hex_key(std::string(64, 'a'));
    REQUIRE(box);
    std::string sealed = box->seal("postgres://secret", "svc/DATABASE_URL");
    CHECK(sealed.find("secret") == std::string::npos);
    CHECK(box->open(sealed, "svc/DATABASE_URL") == std::optional<std::string>("postgres://secret"));
    CHECK_FALSE(box->open(sealed, "svc/OTHER"));
    std::string tampered = sealed;
    tampered[20] = tampered[20] == 'A' ? 'B' : 'A';
    CHECK_FALSE(box->open(tampered, "svc/DATABASE_URL"));
    CHECK(box->seal("x", "a") != box->seal("x", "a")); // fresh nonce each time
    CHECK(box->open(box->seal("", "a"), "a") == std::optional<std::string>(""));
    CHECK_FALSE(SecretBox::from_hex_key("abcd"));
    CHECK(base64_decode(base64_encode("hello!?")) == std::optional<std::string>("hello!?"));
}

TEST_CASE("state machine allows only the documented transitions", "[control][pipeline]")
{
    using S = DeployStatus;
    CHECK(can_transition(S::kQueued, S::kCloning));
    CHECK(can_transition(S::kReview, S::kAwaitingApproval));
    CHECK(can_transition(S::kHealthCheck, S::kActive));
    CHECK(can_transition(S::kActive, S::kInactive));
    CHECK(can_transition(S::kRollingBack, S::kActive));
    CHECK_FALSE(can_transition(S::kQueued, S::kActive));
    CHECK_FALSE(can_transition(S::kActive, S::kFailed));
    CHECK_FALSE(can_transition(S::kFailed, S::kQueued));
    CHECK(can_transition(S::kAwaitingApproval, S::kCancelled));
    CHECK_FALSE(can_transition(S::kHealthCheck, S::kCancelled));
    CHECK_FALSE(can_transition(S::kDeploying, S::kCancelled));
    CHECK(parse_status("AWAITING_APPROVAL") == S::kAwaitingApproval);
    CHECK_FALSE(parse_status("awaiting_approval"));
    for (int i = 0; i < kDeployStatusCount; ++i)
        CHECK(parse_status(status_name(S(i))) == S(i));
}

TEST_CASE("a failing phase goes through its <PHASE>_FAILED status, then FAILED",
          "[control][pipeline]")
{
    using S = DeployStatus;
    // Clone and analyze fail as the build phase (the seed has no CLONE_FAILED).
    for (S s : {S::kCloning, S::kScanning, S::kReview, S::kBuilding})
        CHECK(phase_failure(s) == S::kBuildFailed);
    CHECK(phase_failure(S::kDeploying) == S::kDeployFailed);
    CHECK(phase_failure(S::kHealthCheck) == S::kHealthFailed);
    CHECK(phase_failure(S::kBackupRunning) == S::kBackupFailed);
    CHECK(phase_failure(S::kMigrationPlanning) == S::kMigrationFailed);
    CHECK(phase_failure(S::kMigrationRunning) == S::kMigrationFailed);
    // Nothing of a phase has run in these: straight to FAILED.
    for (S s : {S::kQueued, S::kAwaitingApproval, S::kRollingBack, S::kActive})
        CHECK_FALSE(phase_failure(s));
    CHECK(can_transition(S::kHealthCheck, S::kHealthFailed));
    CHECK(can_transition(S::kHealthFailed, S::kFailed));
    CHECK(can_transition(S::kBuilding, S::kPushFailed));
    CHECK(can_transition(S::kPushFailed, S::kFailed));
    CHECK_FALSE(can_transition(S::kHealthCheck, S::kBuildFailed));
    CHECK_FALSE(can_transition(S::kDeploying, S::kHealthFailed));
    CHECK_FALSE(can_transition(S::kHealthFailed, S::kActive));
    CHECK_FALSE(can_transition(S::kBuildFailed, S::kCancelled));
    CHECK_FALSE(can_transition(S::kFailed, S::kHealthFailed));
    for (int i = 0; i < kDeployStatusCount; ++i) {
        S s = S(i);
        INFO(status_name(s));
        if (!is_phase_failure(s)) continue;
        // A phase failure is a step, not an end: it holds the service's in-flight slot until
        // FAILED, and leads nowhere else.
        CHECK_FALSE(is_terminal(s));
        CHECK(stage_of(s).empty());
        for (int j = 0; j < kDeployStatusCount; ++j)
            CHECK(can_transition(s, S(j)) == (S(j) == S::kFailed));
    }
}

TEST_CASE("pre-deploy statuses: backup, then migration, then deploy", "[control][pipeline]")
{
    using S = DeployStatus;
    CHECK(can_transition(S::kBuilding, S::kBackupRunning));
    CHECK(can_transition(S::kBackupRunning, S::kMigrationPlanning));
    CHECK(can_transition(S::kMigrationPlanning, S::kMigrationRunning));
    CHECK(can_transition(S::kMigrationRunning, S::kDeploying));
    CHECK(can_transition(S::kBuilding, S::kMigrationPlanning));  // no backup needed
    CHECK(can_transition(S::kMigrationPlanning, S::kDeploying)); // nothing to migrate
    CHECK(can_transition(S::kBackupRunning, S::kBackupFailed));
    CHECK_FALSE(can_transition(S::kMigrationRunning, S::kBackupRunning));
    CHECK_FALSE(can_transition(S::kBackupRunning, S::kCancelled)); // past the cancel boundary
    for (S s : {S::kBackupRunning, S::kMigrationPlanning, S::kMigrationRunning})
        CHECK_FALSE(is_terminal(s));
}

TEST_CASE("each running status belongs to one pipeline stage", "[control][pipeline]")
{
    using S = DeployStatus;
    CHECK(stage_of(S::kCloning) == "clone");
    CHECK(stage_of(S::kScanning) == "analyze");
    CHECK(stage_of(S::kReview) == "analyze");
    CHECK(stage_of(S::kAwaitingApproval) == "approval");
    CHECK(stage_of(S::kBuilding) == "build");
    CHECK(stage_of(S::kDeploying) == "deploy");
    CHECK(stage_of(S::kRollingBack) == "deploy");
    CHECK(stage_of(S::kHealthCheck) == "health_check");
    CHECK(stage_of(S::kMigrationRunning) == "migration");
    for (S s : {S::kQueued, S::kActive, S::kInactive, S::kFailed, S::kCancelled, S::kRolledBack})
        CHECK(stage_of(s).empty());
}

TEST_CASE("request bodies are validated with the field named", "[control][api]")
{
    CHECK_THROWS_AS(parse_body_object("{"), ApiError);
    CHECK_THROWS_AS(parse_body_object("[1]"), ApiError);
    CHECK(parse_body_object("").empty());
    try {
        validate_service(Json{{"project_id", "x"}}, true);
        FAIL("expected an error");
    } catch (const ApiError &e) {
        CHECK(e.status == 400);
        CHECK(e.code == "invalid_field");
    }
    Json ok = validate_service(Json::parse(R"({"project_id":"9c8b4b1a-7d1c-4a2b-9a55-2e8c3d4f9b21",
        "name":"myapp","buildpack":"STATIC","repo_url":"https://example.test/a.git","branch":"main"})"),
                               true);
    CHECK(ok["name"] == "myapp");
    CHECK_THROWS_AS(validate_service(Json{{"bogus", 1}}, false), ApiError);
    CHECK_THROWS_AS(validate_service(Json{{"buildpack", "RUBY"}}, false), ApiError);
    CHECK_THROWS_AS(validate_service(Json{{"name", "www"}}, false), ApiError);
    CHECK_THROWS_AS(validate_service(Json{{"root_directory", "../etc"}}, false), ApiError);
    CHECK_THROWS_AS(validate_service(Json{{"min_replicas", -1}}, false), ApiError);
    CHECK_THROWS_AS(parse_trigger(Json{{"service_id", "nope"}}), ApiError);
    CHECK_THROWS_AS(parse_trigger(Json{{"service_id", "9c8b4b1a-7d1c-4a2b-9a55-2e8c3d4f9b21"},
                                       {"commit_hash", "xyz"}}),
                    ApiError);
    CHECK(rollback_confirmed(Json{{"confirm", "true"}}));
    CHECK_FALSE(rollback_confirmed(Json{{"confirm", "yes"}}));
    CHECK_FALSE(rollback_confirmed(Json::object()));
    CHECK(is_branch_name("feature/x-1"));
    CHECK_FALSE(is_branch_name("a..b"));
    CHECK_FALSE(is_env_key("1ABC"));
    CHECK_THROWS_AS(parse_health_report(Json{{"status", "fine"}}), ApiError);
}

TEST_CASE("webhook signatures: hmac for github and bitbucket, token for gitlab",
          "[control][webhooks]")
{
    std::string body = R"({"zen":"hi"})";
    std::string sig = "sha256=" + hmac_sha256_hex("s3cret", body);
    CHECK(verify_webhook_signature(Provider::kGithub, "s3cret", sig, body) ==
          SignatureCheck::kValid);
    CHECK(verify_webhook_signature(Provider::kBitbucket, "s3cret", sig, body) ==
          SignatureCheck::kValid);
    CHECK(verify_webhook_signature(Provider::kGithub, "other", sig, body) ==
          SignatureCheck::kInvalid);
    CHECK(verify_webhook_signature(Provider::kGithub, "s3cret", sig, body + " ") ==
          SignatureCheck::kInvalid);
    CHECK(verify_webhook_signature(Provider::kGithub, "s3cret", "", body) ==
          SignatureCheck::kMissing);
    CHECK(verify_webhook_signature(Provider::kGithub, "s3cret", "sha1=abc", body) ==
          SignatureCheck::kInvalid);
    CHECK(verify_webhook_signature(Provider::kGithub, "", sig, body) ==
          SignatureCheck::kNotConfigured);
    CHECK(verify_webhook_signature(Provider::kGitlab, "tok", "tok", body) ==
          SignatureCheck::kValid);
    CHECK(verify_webhook_signature(Provider::kGitlab, "tok", "tok2", body) ==
          SignatureCheck::kInvalid);
}

TEST_CASE("webhook payloads reduce to pushes with normalised repository URLs",
          "[control][webhooks]")
{
    auto gh = parse_webhook_event(Provider::kGithub, "push",
                                  R"({"ref":"refs/heads/main","after":"abc1234",
        "repository":{"clone_url":"https://GitHub.com/Org/App.git","ssh_url":"git@github.com:Org/App.git"}})");
    REQUIRE(gh.kind == WebhookEvent::Kind::kPush);
    CHECK(gh.pushes[0].branch == "main");
    CHECK(gh.pushes[0].commit == "abc1234");
    CHECK(gh.pushes[0].repo_urls[0] == "github.com/org/app");
    CHECK(parse_webhook_event(Provider::kGithub, "ping", "{}").kind == WebhookEvent::Kind::kPing);
    CHECK(parse_webhook_event(Provider::kGithub, "push", "{").kind ==
          WebhookEvent::Kind::kMalformed);
    CHECK(parse_webhook_event(Provider::kGithub, "push", R"({"ref":"refs/tags/v1"})").kind ==
          WebhookEvent::Kind::kIgnored);
    auto gl = parse_webhook_event(Provider::kGitlab, "Push Hook", R"({"object_kind":"push",
        "ref":"refs/heads/dev","checkout_sha":"def5678","project":{"git_http_url":"https://gitlab.com/g/p.git"}})");
    REQUIRE(gl.kind == WebhookEvent::Kind::kPush);
    CHECK(gl.pushes[0].branch == "dev");
    auto bb =
        parse_webhook_event(Provider::kBitbucket, "repo:push", R"({"repository":{"full_name":"t/r"},
        "push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"0123abc"}}}]}})");
    REQUIRE(bb.kind == WebhookEvent::Kind::kPush);
    CHECK(bb.pushes[0].repo_urls[0] == "bitbucket.org/t/r");
    CHECK(normalize_repo_url("https://user@github.com:443/Org/App/") == "github.com/org/app");
    CHECK(normalize_repo_url("file:///tmp/repo.git") == "file:/tmp/repo");
    CHECK(normalize_repo_url("git@github.com:Org/App.git") == "github.com/org/app");
}

TEST_CASE("config errors name the file and line", "[control][config]")
{
    std::string path = "/tmp/berth-control-config-test-" + std::to_string(::getpid()) + ".toml";
    auto write = [&](const std::string &text) { std::ofstream(path) << text; };
    auto error_of = [&]() -> std::string {
        try {
            load_control_config(path);
        } catch (const ConfigError &e) {
            return e.what();
        }
        return "";
    };
    write("[api]\nlisten = \"127.0.0.1:8700\"\n\n[database]\nurl = 5\n");
    CHECK(error_of() == path + ":5: database.url must be a string");
    write("[api]\nlisten = \"nope\"\n");
    CHECK(error_of() == path + ":2: api.listen must be HOST:PORT, got \"nope\"");
    write("[api]\nlisten = \"127.0.0.1:8700\"\ntypo = 1\n");
    CHECK(error_of() == path + ":3: unknown key \"typo\" in [api]");
    write("[apis]\nlisten = \"127.0.0.1:8700\"\n");
    CHECK(error_of() == path + ":1: unknown key \"apis\" in [top level]");
    write("[api\n");
    CHECK(error_of().rfind(path + ":1: ", 0) == 0);
    write("[deploy]\nworkers = 999\n");
    CHECK(error_of() == path + ":2: deploy.workers must be between 0 and 64");
    write("[api]\nlisten = \"127.0.0.1:9\"\n[edges]\nadmin_sockets = [\"/run/a.sock\"]\n");
    CHECK(error_of().empty());
    CHECK(load_control_config(path).edge_admin_sockets.size() == 1);
    // The health check connects to these without resolving names (#16).
    write("[edges]\nhttp_addresses = [\"127.0.0.1:8080\", \"[::1]:8080\"]\n");
    CHECK(error_of().empty());
    CHECK(load_control_config(path).edge_http_addresses.size() == 2);
    for (const char *bad : {"localhost:8080", "127.0.0.1", "127.0.0.1:0", "::1:8080"}) {
        write(std::string("[edges]\nhttp_addresses = [\"") + bad + "\"]\n");
        CHECK(error_of() == path + ":2: edges.http_addresses entries must be IP:PORT or " +
                                "[IPv6]:PORT (numeric), got \"" + bad + "\"");
    }
    std::remove(path.c_str());
    CHECK(std::string(error_of()).find(":0: cannot open config file") != std::string::npos);
}

// #12: a value this build would parse and then drop or misread fails at startup, naming the key.
TEST_CASE("config values that could not take effect are refused at startup", "[control][config]")
{
    std::string path = "/tmp/berth-control-config-test2-" + std::to_string(::getpid()) + ".toml";
    auto error_of = [&](const std::string &text) -> std::string {
        std::ofstream(path) << text;
        try {
            load_control_config(path);
        } catch (const ConfigError &e) {
            return e.what();
        }
        return "";
    };
    // A password is sent with AUTH: in the URL or from a file, not both, never empty.
    CHECK(error_of("[redis]\nurl = \"redis://:secret@127.0.0.1:6379\"\n").empty());
    CHECK(error_of("[redis]\nurl = \"redis://alice@127.0.0.1:6379\"\n")
              .rfind(path + ":2: redis.url needs a password after the user", 0) == 0);
    CHECK(error_of("[redis]\npassword_file = \"/nonexistent/pw\"\n")
              .rfind(path + ":2: redis.password_file cannot read \"/nonexistent/pw\"", 0) == 0);
    {
        std::string pw_file = path + ".pw";
        std::ofstream(pw_file) << "p@ss w/rd\n";
        std::ofstream(path) << "[redis]\nurl = \"redis://127.0.0.1:6379/2\"\npassword_file = \""
                            << pw_file << "\"\n";
        ControlConfig c = load_control_config(path);
        CHECK(c.redis_url == "redis://:p%40ss%20w%2Frd@127.0.0.1:6379/2");
        CHECK(error_of("[redis]\nurl = \"redis://:x@127.0.0.1:6379\"\npassword_file = \"" +
                       pw_file + "\"\n")
                  .rfind(path + ":3: redis.password_file is set while redis.url carries a "
                                "password",
                         0) == 0);
        std::remove(pw_file.c_str());
    }
    CHECK(error_of("[redis]\nurl = \"redis://127.0.0.1:6379?timeout=3\"\n")
              .rfind(path + ":2: redis.url must not carry options", 0) == 0);
    CHECK(error_of("[redis]\nurl = \"redis://127.0.0.1:99999\"\n") ==
          path + ":2: redis.url port must be a number from 1 to 65535");
    CHECK(error_of("[redis]\nurl = \"redis://127.0.0.1:6379/x\"\n") ==
          path + ":2: redis.url database index after / must be a number from 0 to 99");
    CHECK(error_of("[redis]\nurl = \"redis://127.0.0.1:6379/3\"\n").empty());
    CHECK(error_of("[deploy]\nbase_domain = \"apps example\"\n")
              .rfind(path + ":2: deploy.base_domain must be a host name", 0) == 0);
    CHECK(error_of("[deploy]\ndeployments_root = \"\"\n") ==
          path + ":2: deploy.deployments_root must not be empty");
    CHECK(error_of("[edges]\nadmin_sockets = [\"\"]\n")
              .rfind(path + ":2: edges.admin_sockets entries must be socket paths", 0) == 0);
    CHECK(error_of("[edges]\nadmin_sockets = [\"/" + std::string(120, 'x') + "\"]\n")
              .rfind(path + ":2: edges.admin_sockets entries must be socket paths", 0) == 0);
    // allowed_repo_hosts: host names and address ranges, both used by the URL policy.
    CHECK(error_of("[security]\nallowed_repo_hosts = [\"git.example.com\", \"10.0.0.0/8\","
                   " \"fd00::/8\", \"192.0.2.7\"]\n")
              .empty());
    CHECK(error_of("[security]\nallowed_repo_hosts = [\"10.1.0.0/8\"]\n") ==
          path + ":2: security.allowed_repo_hosts entry \"10.1.0.0/8\" must be a host name or an "
                 "address range such as 10.0.0.0/8");
    CHECK(error_of("[security]\nallowed_repo_hosts = [\"https://git.example.com\"]\n") ==
          path + ":2: security.allowed_repo_hosts entry \"https://git.example.com\" must be a host "
                 "name or an address range such as 10.0.0.0/8");
    CHECK(error_of("[api]\npage_size_default = 50\npage_size_max = 10\n") ==
          path + ":2: api.page_size_default must not exceed api.page_size_max");
    // UPLOAD archives (#16): next to builds_dir unless named, never in a swept directory.
    CHECK(error_of("[deploy]\nbuilds_dir = \"/srv/berth/builds/\"\n").empty());
    CHECK(load_control_config(path).uploads_dir == "/srv/berth/uploads");
    CHECK(error_of("[deploy]\nbuilds_dir = \"scratch\"\n").empty());
    CHECK(load_control_config(path).uploads_dir == "uploads");
    CHECK(error_of("[deploy]\nbuilds_dir = \"b\"\nuploads_dir = \"./b/\"\n") ==
          path + ":3: deploy.uploads_dir must be a directory of its own (not builds_dir or "
                 "deployments_root)");
    CHECK(error_of("[api]\nmax_upload_bytes = 10\n") ==
          path + ":2: api.max_upload_bytes must be between 1024 and 1073741824");
    std::remove(path.c_str());
}

TEST_CASE("ip addresses: strict numeric parsing, ranges and non-public classes", "[control][net]")
{
    CHECK(parse_ip("127.0.0.1"));
    CHECK(!parse_ip("2130706433")); // numeric spellings are the resolver's business
    CHECK(!parse_ip("0x7f.1"));
    CHECK(!parse_ip("localhost"));
    CHECK(*parse_ip("::ffff:127.0.0.1") == *parse_ip("127.0.0.1"));
    CHECK(to_string(*parse_ip("::ffff:10.1.2.3")) == "10.1.2.3");
    for (const char *a : {"127.0.0.1", "127.255.0.9", "::1"})
        CHECK(non_public_reason(*parse_ip(a)) == "loopback");
    for (const char *a : {"10.0.0.1", "172.16.5.4", "192.168.1.1", "fd12::1"})
        CHECK(non_public_reason(*parse_ip(a)) == "private");
    CHECK(non_public_reason(*parse_ip("169.254.169.254")) == "link-local");
    CHECK(non_public_reason(*parse_ip("fe80::1")) == "link-local");
    CHECK(non_public_reason(*parse_ip("0.0.0.0")) == "unspecified");
    CHECK(non_public_reason(*parse_ip("::")) == "unspecified");
    CHECK(non_public_reason(*parse_ip("224.0.0.1")) == "multicast");
    CHECK(non_public_reason(*parse_ip("ff02::1")) == "multicast");
    CHECK(non_public_reason(*parse_ip("240.0.0.1")) == "reserved");
    CHECK(non_public_reason(*parse_ip("::ffff:127.0.0.1")) == "loopback");
    CHECK(non_public_reason(*parse_ip("64:ff9b::7f00:1")) == "loopback"); // NAT64 of 127.0.0.1
    CHECK(non_public_reason(*parse_ip("2002:7f00:1::1")) == "loopback");  // 6to4 of 127.0.0.1
    CHECK(non_public_reason(*parse_ip("::127.0.0.1")) == "reserved");     // v4-compatible
    CHECK(non_public_reason(*parse_ip("140.82.112.3")).empty());
    CHECK(non_public_reason(*parse_ip("2606:4700::1111")).empty());

    auto c = parse_cidr("10.0.0.0/8");
    REQUIRE(c);
    CHECK(c->contains(*parse_ip("10.200.0.1")));
    CHECK(c->contains(*parse_ip("::ffff:10.200.0.1")));
    CHECK(!c->contains(*parse_ip("11.0.0.1")));
    CHECK(parse_cidr("192.0.2.7")->contains(*parse_ip("192.0.2.7")));
    CHECK(!parse_cidr("192.0.2.7")->contains(*parse_ip("192.0.2.8")));
    CHECK(parse_cidr("fd00::/8")->contains(*parse_ip("fdab::1")));
    CHECK(!parse_cidr("10.1.0.0/8")); // not the first address of its range
    CHECK(!parse_cidr("10.0.0.0/33"));
    CHECK(!parse_cidr("10.0.0.0/"));
    CHECK(!parse_cidr("example.com/8"));
}
