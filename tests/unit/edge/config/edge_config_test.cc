// EdgeConfig from TOML: the shipped conf/edge.toml loads; every mistake is a ConfigError that
// starts with file:line and names the key.
#include <catch2/catch.hpp>

#include <string>

#include "edge/config/edge_config.h"
#include "tests/support/temp_tree.h"

using namespace berth::edge;
using berth::test::TempTree;

namespace
{

EdgeConfig load(const TempTree &t, const std::string &toml)
{
    t.write("edge.toml", toml);
    return load_edge_config(t.path("edge.toml"));
}

std::string error_of(const std::string &toml)
{
    TempTree t;
    try {
        load(t, toml);
    } catch (const ConfigError &e) {
        std::string what = e.what();
        std::string prefix = t.path("edge.toml") + ":";
        CHECK(what.rfind(prefix, 0) == 0); // file:line first
        return what.substr(prefix.size());
    }
    return "";
}

} // namespace

TEST_CASE("the shipped conf/edge.toml loads and validates", "[config]")
{
    EdgeConfig c = load_edge_config(std::string(BERTH_SOURCE_DIR) + "/conf/edge.toml");
    validate_edge_config(c);
    CHECK(c.deployments_root == ".berth/deployments"); // where berth-control publishes
    CHECK(c.base_domain == "localhost");
    REQUIRE(c.listen.size() == 1);
    CHECK(c.listen[0].port == 8080);
    CHECK(c.log_level == berth::shared::LogLevel::kInfo);
}

TEST_CASE("config mistakes name the line and the key", "[config]")
{
    CHECK(error_of("[edge]\nworkerz = 2\n") == "2: unknown key \"workerz\" in [edge]");
    CHECK(error_of("[edge]\n\nworkers = \"two\"\n") == "3: workers must be an integer");
    CHECK(error_of("[limits]\nmax_header_count = 1000\n") ==
          "2: max_header_count must be between 8 and 100");
    CHECK(error_of("[log]\nlevel = \"loud\"\n") ==
          "2: level must be \"error\", \"warn\", \"info\" or \"debug\"");
    CHECK(error_of("[nope]\n").find("unknown key \"nope\"") != std::string::npos);
}

TEST_CASE("[redis] takes a url, password file, prefix, name, heartbeat, file fetching and a "
          "signing key, refusing bad ones",
          "[config]")
{
    TempTree t;
    // The shipped "off" values are fine.
    EdgeConfig off = load(t, "[redis]\nurl = \"\"\n");
    CHECK(off.redis_url.empty());
    CHECK(off.redis_prefix == "berth");
    t.write("pw", "s3cr/t\n");
    EdgeConfig on =
        load(t, "[redis]\nurl = \"redis://127.0.0.1:6380/2\"\npassword_file = \"" + t.path("pw") +
                    "\"\nprefix = \"fleet\"\nname = \"edge-a\"\nheartbeat_ms = 500\n");
    CHECK(on.redis_url == "redis://:s3cr%2Ft@127.0.0.1:6380/2");
    CHECK(on.redis_prefix == "fleet");
    CHECK(on.redis_name == "edge-a");
    CHECK(on.redis_heartbeat_ms == 500);
    CHECK(on.redis_fetch_files); // by default
    CHECK(on.redis_keep_fetched_ms == 60000);
    EdgeConfig files = load(t, "[redis]\nfetch_files = false\nkeep_fetched_ms = 0\n");
    CHECK_FALSE(files.redis_fetch_files);
    CHECK(files.redis_keep_fetched_ms == 0);
    CHECK(error_of("[redis]\nfetch_files = \"yes\"\n").find("fetch_files") != std::string::npos);
    CHECK(error_of("[redis]\nkeep_fetched_ms = -1\n").find("keep_fetched_ms") != std::string::npos);
    t.write("fleet.key", std::string(40, 'k') + "\r\n");
    t.write("short.key", "short\n");
    CHECK(load(t, "[redis]\nsigning_key_file = \"" + t.path("fleet.key") + "\"\n")
              .redis_signing_key == std::string(40, 'k'));
    CHECK(error_of("[redis]\nsigning_key_file = \"" + t.path("short.key") + "\"\n")
              .find("at least 32 characters") != std::string::npos);
    CHECK(error_of("[redis]\nsigning_key_file = \"/nonexistent/key\"\n")
              .find("cannot read /nonexistent/key") != std::string::npos);
    CHECK(error_of("[redis]\nurl = \"http://x\"\n") == "2: [redis] url must start with redis://");
    CHECK(error_of("[redis]\nurl = \"redis://h:0\"\n") ==
          "2: [redis] url port must be a number from 1 to 65535");
    CHECK(error_of("[redis]\nurl = \"redis://h?x=1\"\n").find("options") != std::string::npos);
    CHECK(error_of("[redis]\nurl = \"redis://:pw@h\"\npassword_file = \"/nonexistent\"\n")
              .find("choose one") != std::string::npos);
    CHECK(error_of("[redis]\nurl = \"redis://h\"\npassword_file = \"/nonexistent/pw\"\n")
              .find("cannot read") != std::string::npos);
    CHECK(error_of("[redis]\nname = \"a:b\"\n").rfind("2: [redis] name", 0) == 0);
    CHECK(error_of("[redis]\nprefix = \"\"\n").rfind("2: [redis] prefix", 0) == 0);
    CHECK(error_of("[redis]\nheartbeat_ms = 5\n").find("heartbeat_ms") != std::string::npos);
}

TEST_CASE("[admin] metrics_listen takes a listen address and refuses anything else", "[config]")
{
    TempTree t;
    CHECK(load(t, "[admin]\nmetrics_listen = \"127.0.0.1:9180\"\n").metrics_listen ==
          "127.0.0.1:9180");
    std::string e = error_of("[admin]\nmetrics_listen = \"localhost\"\n");
    CHECK(e.rfind("2: [admin] metrics_listen: ", 0) == 0);
    CHECK(e.find("needs a port") != std::string::npos);
}

TEST_CASE("[geoip] database and trusted_proxies are read, bad ranges are refused (#14)", "[config]")
{
    TempTree t;
    EdgeConfig c = load(t, "[geoip]\ndatabase = \"GeoLite2.mmdb\"\n"
                           "trusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.168.1.7/32\"]\n");
    CHECK(c.geoip_database == "GeoLite2.mmdb");
    CHECK(c.trusted_proxies.size() == 3);
    for (const char *bad : {"10.0.0.0/33", "10.0.0/8", "example.test", "::1/129", "1.2.3.4/"}) {
        CAPTURE(bad);
        std::string e = error_of(std::string("[geoip]\ntrusted_proxies = [\"") + bad + "\"]\n");
        CHECK(e.rfind("2: [geoip] trusted_proxies: ", 0) == 0);
    }
    EdgeConfig g;
    g.deployments_root = "/srv";
    g.geoip_database = "x.mmdb";
    CHECK_NOTHROW(validate_edge_config(g)); // opened (and refused if bad) at startup
}

TEST_CASE("flags for features this build does not serve are refused too", "[config]")
{
    EdgeConfig pair;
    pair.deployments_root = "/srv";
    pair.tls_certs = {"a.crt"};
    CHECK_THROWS_WITH(validate_edge_config(pair), Catch::Contains("must come in pairs"));
}

TEST_CASE("a base domain that is not a host name is refused", "[config]")
{
    for (const char *bad : {"bad domain", "a..b", ".x", "-x.test", "x_y.test", "a/b"}) {
        EdgeConfig c;
        c.deployments_root = "/srv";
        c.base_domain = bad;
        CHECK_THROWS_WITH(validate_edge_config(c), Catch::Contains("base_domain must be a host"));
    }
    EdgeConfig ok;
    ok.deployments_root = "/srv";
    ok.base_domain = "Apps.Example-1.COM.";
    CHECK_NOTHROW(validate_edge_config(ok));
    CHECK(ok.base_domain == "apps.example-1.com");
}

TEST_CASE("the error log level filters stderr messages", "[config]")
{
    TempTree t;
    EdgeConfig c = load(t, "[log]\nlevel = \"warn\"\n");
    CHECK(c.log_level == berth::shared::LogLevel::kWarn);
    berth::shared::set_log_level(c.log_level);
    CHECK(berth::shared::log_enabled(berth::shared::LogLevel::kError));
    CHECK(berth::shared::log_enabled(berth::shared::LogLevel::kWarn));
    CHECK_FALSE(berth::shared::log_enabled(berth::shared::LogLevel::kInfo));
    berth::shared::set_log_level(berth::shared::LogLevel::kInfo);
}

TEST_CASE("TLS keys load, and a TLS listener without certificates is refused", "[config]")
{
    TempTree t;
    EdgeConfig c = load(t, "[edge]\ndeployments_root = \"/srv\"\n"
                           "[[listen]]\naddr = \"127.0.0.1:8443\"\ntls = true\n"
                           "[tls]\ncerts_dir = \"/etc/berth/certs\"\ndefault_cert = \"d.pem\"\n"
                           "hsts = true\nhsts_max_age = 600\nhsts_include_subdomains = true\n"
                           "redirect_http = true\nhandshake_timeout_ms = 5000\n"
                           "ticket_key_rotation_s = 60\nsession_cache_size = 100\n");
    validate_edge_config(c);
    CHECK(c.listen.at(0).tls);
    CHECK(c.certs_dir == "/etc/berth/certs");
    CHECK(c.hsts_max_age == 600);
    CHECK(c.hsts_include_subdomains);
    CHECK(c.redirect_http);
    CHECK(c.handshake_timeout_ms == 5000);
    CHECK(c.ticket_key_rotation_s == 60);
    CHECK(c.session_cache_size == 100);
    CHECK(error_of("[tls]\nhandshake_timeout_ms = 5\n") ==
          "2: handshake_timeout_ms must be between 100 and 600000");

    EdgeConfig bare = load(t, "[edge]\ndeployments_root = \"/srv\"\n"
                              "[[listen]]\naddr = \"127.0.0.1:8443\"\ntls = true\n");
    CHECK_THROWS_WITH(validate_edge_config(bare), Catch::Contains("a TLS listener needs"));
    EdgeConfig pair = bare;
    pair.tls_certs = {"a.crt"};
    pair.tls_keys = {"a.key"};
    validate_edge_config(pair); // a flag pair is enough
}
