// Unit tests of control-plane code without I/O: crypto, state machine, request bodies,
// webhook signatures and payloads, config errors (#3).
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include "control/api/request_body.h"
#include "control/base/crypto.h"
#include "control/config/control_config.h"
#include "control/pipeline/state_machine.h"
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
    for (int i = 0; i <= int(S::kRolledBack); ++i)
        CHECK(parse_status(status_name(S(i))) == S(i));
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
    CHECK(error_of() == path + ":3: unknown key api.typo");
    write("[api\n");
    CHECK(error_of().rfind(path + ":1: ", 0) == 0);
    write("[deploy]\nworkers = 999\n");
    CHECK(error_of() == path + ":2: deploy.workers must be between 0 and 64");
    write("[api]\nlisten = \"127.0.0.1:9\"\n[edges]\nadmin_sockets = [\"/run/a.sock\"]\n");
    CHECK(error_of().empty());
    CHECK(load_control_config(path).edge_admin_sockets.size() == 1);
    std::remove(path.c_str());
    CHECK(std::string(error_of()).find(":0: cannot open config file") != std::string::npos);
}
