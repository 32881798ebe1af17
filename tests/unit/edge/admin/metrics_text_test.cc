// The stats → Prometheus text rendering: names, label escaping, certificate expiry.
#include <catch2/catch.hpp>

#include "edge/admin/metrics_text.h"

using berth::edge::prometheus_text;
using nlohmann::json;

TEST_CASE("metrics text: TLS handshakes, failures and certificate expiry", "[admin][metrics]")
{
    json stats = {
        {"requests", 5},
        {"uptime_ms", 1500},
        {"draining", true},
        {"tls",
         {{"handshakes", {{"full", 7}, {"resumed", 2}, {"failed", {{"no_shared_cipher", 1}}}}},
          {"certificates",
           json::array({{{"name", "app.test"}, {"not_after", "2027-03-01T12:00:00Z"}}})},
          {"ticket_key_rotations", 3}}}};
    std::string t = prometheus_text(stats);
    CHECK(t.find("berth_edge_requests_total 5\n") != std::string::npos);
    CHECK(t.find("berth_edge_uptime_seconds 1.500\n") != std::string::npos);
    CHECK(t.find("berth_edge_draining 1\n") != std::string::npos);
    CHECK(t.find("berth_edge_tls_handshakes_total{kind=\"full\"} 7\n") != std::string::npos);
    CHECK(t.find("berth_edge_tls_handshakes_total{kind=\"resumed\"} 2\n") != std::string::npos);
    CHECK(t.find("berth_edge_tls_handshake_failures_total{reason=\"no_shared_cipher\"} 1\n") !=
          std::string::npos);
    CHECK(t.find("berth_edge_tls_ticket_key_rotations_total 3\n") != std::string::npos);
    // 2027-03-01T12:00:00Z is 1803902400 seconds after the epoch.
    CHECK(t.find("berth_edge_tls_certificate_not_after_seconds{name=\"app.test\"} 1803902400\n") !=
          std::string::npos);
    // Families without data are left out rather than written empty.
    CHECK(t.find("upstream") == std::string::npos);
    CHECK(t.find("fleet") == std::string::npos);
}

TEST_CASE("metrics text: a fleet edge's Redis connection, published version, missing and fetched "
          "files",
          "[admin][metrics]")
{
    json fleet = {{"connected", false},
                  {"published_version", 12},
                  {"install_error", "version 12: duplicate host a.test"}};
    std::string t = prometheus_text(
        {{"routes_version", 11}, {"fleet", fleet}, {"missing_roots", {"a/d-1", "b/d-2"}}});
    CHECK(t.find("berth_edge_routes_version 11\n") != std::string::npos);
    CHECK(t.find("berth_edge_missing_static_roots 2\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_connected 0\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_published_version 12\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_install_failed 1\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_files") == std::string::npos); // fetch_files off
    fleet["install_error"] = nullptr;
    fleet["files"] = {{"fetched", 3},
                      {"fetched_bytes", 4096},
                      {"removed", 1},
                      {"refused", {{"bad/d-1", "../x: leaves the tree"}}}};
    t = prometheus_text({{"fleet", fleet}});
    CHECK(t.find("berth_edge_fleet_install_failed 0\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_files_fetched_total 3\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_files_fetched_bytes_total 4096\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_files_removed_total 1\n") != std::string::npos);
    CHECK(t.find("berth_edge_fleet_files_refused 1\n") != std::string::npos);
}

TEST_CASE("metrics text: label values are escaped, each family is written once", "[admin][metrics]")
{
    json up = {{"addr", "we\"ird\\host\n:1"},
               {"requests", 1},
               {"health", "ejected"},
               {"status", {{"2xx", 1}}},
               {"failures", {{"upstream_reset", 0}}}};
    std::string t = prometheus_text({{"upstreams", json::array({up, up})}});
    CHECK(t.find("berth_edge_upstream_requests_total{addr=\"we\\\"ird\\\\host\\n:1\"} 1\n") !=
          std::string::npos);
    CHECK(t.find("berth_edge_upstream_healthy{addr=\"we\\\"ird\\\\host\\n:1\"} 0\n") !=
          std::string::npos);
    size_t first = t.find("# TYPE berth_edge_upstream_requests_total counter");
    REQUIRE(first != std::string::npos);
    CHECK(t.find("# TYPE berth_edge_upstream_requests_total counter", first + 1) ==
          std::string::npos);
}
