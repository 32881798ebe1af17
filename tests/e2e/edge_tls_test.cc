// HTTPS end to end: the real berth-edge with TLS listeners and certificates made by the tests,
// driven by an OpenSSL client over loopback. SNI (exact, wildcard, default, none), RSA and
// ECDSA for one name, protocol versions, ALPN, resumption across a ticket-key rotation,
// certificate reload (good and broken files), handshake timeout, plain HTTP to the TLS port,
// HTTP → HTTPS redirects, HSTS, a 200 MiB file, stats and the access log.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unistd.h>

#include <openssl/evp.h>

#include "tests/support/admin_client.h"
#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_tree.h"
#include "tests/support/test_certs.h"

using namespace berth::test;
using nlohmann::json;

namespace
{

// A deployments tree (app.test, x.sites.test) and a certificate directory.
struct TlsSite {
    TempTree t;
    std::string certs = t.path("certs");
    std::string admin = t.path("run/admin.sock");
    TlsSite()
    {
        t.write("deployments/app/index.html", "<h1>app</h1>\n");
        t.write("deployments/app/.well-known/acme-challenge/token1", "acme-proof\n");
        t.write("deployments/x/index.html", "<h1>x</h1>\n");
        t.mkdir("certs");
    }
    CertFiles cert(const std::string &stem, std::vector<std::string> names,
                   KeyType type = KeyType::kEcdsa, long not_after_s = 30 * 86400)
    {
        CertSpec spec;
        spec.names = std::move(names);
        spec.type = type;
        spec.not_after_s = not_after_s;
        return make_cert(certs, stem, spec);
    }
    // berth-edge with a TLS listener (and a plain one), quick mode under "test", the admin
    // socket, and `toml` as its config file.
    std::unique_ptr<EdgeProcess> start(const std::string &toml = "",
                                       std::vector<std::string> extra = {})
    {
        t.write("edge.toml", toml);
        std::vector<std::string> args{"--config",       t.path("edge.toml"),
                                      "--listen-tls",   "127.0.0.1:0",
                                      "--listen",       "127.0.0.1:0",
                                      "--deployments",  t.path("deployments"),
                                      "--base-domain",  "test",
                                      "--workers",      "2",
                                      "--admin-socket", admin};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<EdgeProcess>(args);
    }
    json admin_call(const std::string &line) { return AdminConn(admin).call(line); }
};

TlsOptions sni(const std::string &name)
{
    TlsOptions o;
    o.sni = name;
    return o;
}

Response https_get(RawClient &c, const std::string &host, const std::string &path,
                   const std::string &extra = "")
{
    c.send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n");
    return must(c.read_response());
}

std::string served_cn(int port, const std::string &name)
{
    RawClient c(port, sni(name));
    return c.tls()->peer_common_name();
}

long rss_kib(pid_t pid, const char *field)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::string(field).size()));
    return -1;
}

} // namespace

TEST_CASE("SNI picks the exact host, then the wildcard, then the default", "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    s.cert("_wildcard.sites.test", {"*.sites.test"});
    CertFiles fallback = make_cert(s.t.path("."), "fallback", {{"fallback.test"}});
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\ndefault_cert = \"" +
                        fallback.cert + "\"\n");
    int port = edge->port("https");
    CHECK(served_cn(port, "app.test") == "app.test");
    CHECK(served_cn(port, "APP.test.") == "app.test"); // case and a trailing dot do not matter
    CHECK(served_cn(port, "x.sites.test") == "*.sites.test");
    CHECK(served_cn(port, "a.b.sites.test") == "fallback.test"); // a wildcard is one label
    CHECK(served_cn(port, "unknown.example") == "fallback.test");
    CHECK(served_cn(port, "") == "fallback.test"); // no SNI at all
    // And the answer itself comes over TLS.
    RawClient c(port, sni("app.test"));
    Response r = https_get(c, "app.test", "/");
    CHECK(r.status == 200);
    CHECK(r.body == "<h1>app</h1>\n");
}

TEST_CASE("without a default certificate an unknown name gets an unrecognized_name alert",
          "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n");
    int port = edge->port("https");
    CHECK_THROWS_WITH(RawClient(port, sni("nope.test")), Catch::Contains("unrecognized name"));
    CHECK_THROWS_WITH(RawClient(port, TlsOptions{}), Catch::Contains("unrecognized name"));
    RawClient c(port, sni("app.test")); // answered: the server's side of the handshake is done
    CHECK(https_get(c, "app.test", "/").status == 200);
    json stats = s.admin_call(R"({"cmd":"stats"})");
    CHECK(stats["tls"]["handshakes"]["failed"]["unrecognized_name"] == 2);
    CHECK(stats["tls"]["handshakes"]["full"] == 1);
}

TEST_CASE("RSA and ECDSA certificates for one name: each client gets one it supports", "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test.ecdsa", {"app.test"}, KeyType::kEcdsa);
    s.cert("app.test.rsa", {"app.test"}, KeyType::kRsa);
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n");
    int port = edge->port("https");
    TlsOptions ecdsa = sni("app.test");
    ecdsa.sigalgs = "ECDSA+SHA256";
    CHECK(RawClient(port, ecdsa).tls()->peer_key_type() == "ECDSA");
    TlsOptions rsa = sni("app.test");
    rsa.sigalgs = "RSA-PSS+SHA256:RSA+SHA256";
    CHECK(RawClient(port, rsa).tls()->peer_key_type() == "RSA");
    TlsOptions rsa12 = sni("app.test"); // TLS 1.2 picks by cipher suite
    rsa12.max_version = TLS1_2_VERSION;
    rsa12.tls12_ciphers = "ECDHE-RSA-AES128-GCM-SHA256";
    RawClient c(port, rsa12);
    CHECK(c.tls()->peer_key_type() == "RSA");
    CHECK(c.tls()->version() == "TLSv1.2");
    json stats = s.admin_call(R"({"cmd":"stats"})");
    CHECK(stats["tls"]["certificates"].size() == 2);
}

TEST_CASE("TLS 1.0 and 1.1 are refused, 1.2 and 1.3 speak http/1.1 by ALPN", "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n");
    int port = edge->port("https");
    for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
        TlsOptions old = sni("app.test");
        old.max_version = version;
        CHECK_THROWS_AS(RawClient(port, old), TlsError);
    }
    RawClient c(port, sni("app.test"));
    CHECK(c.tls()->version() == "TLSv1.3");
    CHECK(c.tls()->alpn() == "http/1.1");
    TlsOptions v12 = sni("app.test");
    v12.max_version = TLS1_2_VERSION;
    RawClient c12(port, v12);
    CHECK(c12.tls()->version() == "TLSv1.2");
    CHECK(c12.tls()->alpn() == "http/1.1");
    CHECK(https_get(c12, "app.test", "/").status == 200);
    TlsOptions h2_only = sni("app.test");
    h2_only.alpn = "h2";
    CHECK(RawClient(port, h2_only).tls()->alpn().empty()); // no h2 yet: no ALPN, still served
    json stats = s.admin_call(R"({"cmd":"stats"})");
    CHECK(stats["tls"]["handshakes"]["failed"]["protocol_version"] == 2);
}

TEST_CASE("a second connection resumes by ticket, also after one key rotation", "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n[log]\naccess = \"" +
                        s.t.path("access.log") + "\"\nformat = \"json\"\n");
    int port = edge->port("https");
    auto session_of = [&](TlsOptions o) {
        RawClient c(port, o);
        CHECK(https_get(c, "app.test", "/").status == 200); // the ticket comes after the handshake
        return std::pair<SSL_SESSION *, bool>(c.tls()->session(), c.tls()->resumed());
    };
    auto [first, first_resumed] = session_of(sni("app.test"));
    CHECK_FALSE(first_resumed);
    CHECK(SSL_SESSION_is_resumable(first) == 1);
    CHECK(SSL_SESSION_has_ticket(first) == 1);
    TlsOptions again = sni("app.test");
    again.resume = first;
    auto [second, second_resumed] = session_of(again);
    CHECK(second_resumed);
    // The keys rotate: a ticket of the previous period still opens.
    CHECK(s.admin_call(R"({"cmd":"tickets.rotate"})")["ok"] == true);
    TlsOptions after = sni("app.test");
    after.resume = second;
    auto [third, third_resumed] = session_of(after);
    CHECK(third_resumed);
    // Two rotations later the first ticket is too old: a full handshake, served all the same.
    s.admin_call(R"({"cmd":"tickets.rotate"})");
    TlsOptions stale = sni("app.test");
    stale.resume = first;
    auto [fourth, fourth_resumed] = session_of(stale);
    CHECK_FALSE(fourth_resumed);
    for (SSL_SESSION *x : {first, second, third, fourth})
        SSL_SESSION_free(x);
    json stats = s.admin_call(R"({"cmd":"stats"})");
    CHECK(stats["tls"]["handshakes"]["resumed"] == 2);
    CHECK(stats["tls"]["handshakes"]["full"] == 2);
    CHECK(stats["tls"]["ticket_key_rotations"] == 2);
    // The access log says which answers came over a resumed session.
    REQUIRE(edge->stop() == 0);
    std::string log = read_file(s.t.path("access.log"));
    CHECK(log.find("\"tls\":\"TLSv1.3\",\"tls_resumed\":false") != std::string::npos);
    CHECK(log.find("\"tls\":\"TLSv1.3\",\"tls_resumed\":true") != std::string::npos);
}

TEST_CASE("certs.reload swaps the certificate, an established connection keeps answering",
          "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"}, KeyType::kEcdsa);
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n");
    int port = edge->port("https");
    RawClient kept(port, sni("app.test"));
    CHECK(kept.tls()->peer_key_type() == "ECDSA");
    CHECK(https_get(kept, "app.test", "/").status == 200);

    s.cert("app.test", {"app.test"}, KeyType::kRsa); // replaced in place, as control does
    json reply = s.admin_call(R"({"cmd":"certs.reload"})");
    CHECK(reply["ok"] == true);
    CHECK(reply["refused"].empty());
    REQUIRE(reply["loaded"].size() == 1);
    CHECK(reply["loaded"][0]["name"] == "app.test");
    CHECK(reply["loaded"][0]["key_type"] == "RSA");
    CHECK(RawClient(port, sni("app.test")).tls()->peer_key_type() == "RSA");
    CHECK(https_get(kept, "app.test", "/").body == "<h1>app</h1>\n"); // the old session goes on

    // SIGHUP reloads too.
    s.cert("app.test", {"app.test"}, KeyType::kEcdsa);
    kill(edge->pid(), SIGHUP);
    REQUIRE(edge->wait_for_stderr("SIGHUP: 1 certificate(s) loaded"));
    CHECK(RawClient(port, sni("app.test")).tls()->peer_key_type() == "ECDSA");
}

TEST_CASE("broken, mismatched and expired certificates are refused by file name, the rest "
          "serve",
          "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    s.cert("x.sites.test", {"x.sites.test"});
    CertFiles expired = s.cert("old.test", {"old.test"}, KeyType::kEcdsa, -60);
    CertFiles other = make_cert(s.t.path("."), "other", {{"mismatch.test"}});
    CertFiles mismatch = s.cert("mismatch.test", {"mismatch.test"});
    std::filesystem::copy_file(other.key, mismatch.key,
                               std::filesystem::copy_options::overwrite_existing);
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n");
    std::string err = edge->stderr_text();
    CHECK(err.find("certificate " + expired.cert + " refused: expired on") != std::string::npos);
    CHECK(err.find("certificate " + mismatch.cert + " refused: its key " + mismatch.key +
                   " does not match") != std::string::npos);
    int port = edge->port("https");
    CHECK(served_cn(port, "app.test") == "app.test");

    // A file broken on disk: refused on reload with its name; the name keeps serving its
    // previous certificate.
    s.t.write("certs/app.test.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n");
    json reply = s.admin_call(R"({"cmd":"certs.reload"})");
    CHECK(reply["ok"] == true);
    bool named = false;
    for (const json &r : reply["refused"])
        named |= r["file"] == s.certs + "/app.test.crt" && r["reason"] == "not a PEM certificate";
    CHECK(named);
    bool kept = false;
    for (const json &l : reply["loaded"])
        kept |= l["name"] == "app.test" && l.value("kept_previous", false);
    CHECK(kept);
    CHECK(served_cn(port, "app.test") == "app.test");
    CHECK(served_cn(port, "x.sites.test") == "x.sites.test");
}

TEST_CASE("a stalled handshake is cut after handshake_timeout_ms", "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\nhandshake_timeout_ms = 300\n");
    RawClient silent(edge->port("https"), 0); // plain TCP: it never says hello
    CHECK(silent.wait_closed(5000));
    RawClient half(edge->port("https"), 0);
    half.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)); // a cut hello
    CHECK(half.wait_closed(5000));
    json stats = s.admin_call(R"({"cmd":"stats"})");
    CHECK(stats["tls"]["handshakes"]["failed"]["timeout"] == 2);
}

TEST_CASE("plain HTTP or garbage to the TLS port is answered 400 or closed, never hangs",
          "[e2e][tls]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n");
    RawClient plain(edge->port("https"), 0);
    plain.send("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
    Response r = must(plain.read_response());
    CHECK(r.status == 400);
    CHECK(r.body.find("HTTPS") != std::string::npos);
    CHECK(plain.wait_closed());
    RawClient garbage(edge->port("https"), 0);
    garbage.send(std::string(300, '\x7f'));
    CHECK(garbage.wait_closed());
    // The workers are fine.
    RawClient c(edge->port("https"), sni("app.test"));
    CHECK(https_get(c, "app.test", "/").status == 200);
    json stats = s.admin_call(R"({"cmd":"stats"})");
    CHECK(stats["tls"]["handshakes"]["failed"]["plain_http"] == 1);
}

TEST_CASE("plain HTTP is sent to HTTPS with 308, keeping path and query, but not ACME "
          "challenges, HSTS only on HTTPS",
          "[e2e][tls]")
{
    TlsSite s;
    s.cert("_wildcard.test", {"*.test"});
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs +
                        "\"\nredirect_http = true\nhsts = true\nhsts_max_age = 600\n"
                        "hsts_include_subdomains = true\n");
    int http = edge->port("http"), https = edge->port("https");
    Response r = must(get(http, "app.test", "/a/b?c=1&d=%20"));
    CHECK(r.status == 308);
    CHECK(r.header("Location") == "https://app.test:" + std::to_string(https) + "/a/b?c=1&d=%20");
    CHECK_FALSE(r.has_header("Strict-Transport-Security"));
    Response acme = must(get(http, "app.test", "/.well-known/acme-challenge/token1"));
    CHECK(acme.status == 200);
    CHECK(acme.body == "acme-proof\n");
    CHECK_FALSE(acme.has_header("Strict-Transport-Security"));
    RawClient c(https, sni("app.test"));
    Response secure = https_get(c, "app.test", "/");
    CHECK(secure.status == 200);
    CHECK(secure.header("Strict-Transport-Security") == "max-age=600; includeSubDomains");
    // A route may opt out (or in, when the default is off).
    s.t.write("routes.json", R"({"version": 2, "routes": [
        {"host": "x.test", "type": "static", "root": "x", "https_redirect": false}]})");
    json table = json::parse(read_file(s.t.path("routes.json")));
    json put = s.admin_call(json{{"cmd", "routes.put"}, {"table", table}}.dump());
    REQUIRE(put["ok"] == true);
    Response x = must(get(http, "x.test", "/"));
    CHECK(x.status == 200);
    CHECK(x.body == "<h1>x</h1>\n");
}

TEST_CASE("a 200 MiB file over TLS arrives intact while the edge's memory stays flat",
          "[e2e][tls][large]")
{
    TlsSite s;
    s.cert("app.test", {"app.test"});
    const size_t size = 200u << 20;
    {
        std::ofstream f(s.t.path("deployments/app/big.bin"), std::ios::binary);
        std::string chunk = pattern_bytes(1 << 20);
        for (size_t i = 0; i < size / chunk.size(); ++i) {
            chunk[0] = char(i); // every MiB differs
            f.write(chunk.data(), std::streamsize(chunk.size()));
        }
    }
    auto edge = s.start("[tls]\ncerts_dir = \"" + s.certs + "\"\n", {"--workers", "1"});
    RawClient warm(edge->port("https"), sni("app.test"));
    CHECK(https_get(warm, "app.test", "/").status == 200);
    long before = rss_kib(edge->pid(), "VmRSS:");
    RawClient c(edge->port("https"), sni("app.test"));
    c.send("GET /big.bin HTTP/1.1\r\nHost: app.test\r\n\r\n");
    auto r = c.read_response(false, 120000);
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(r->body.size() == size);
    std::string expected = pattern_bytes(1 << 20);
    bool same = true;
    for (size_t i = 0; i < size / expected.size() && same; ++i) {
        expected[0] = char(i);
        same = r->body.compare(i << 20, 1 << 20, expected) == 0;
    }
    CHECK(same);
    long peak = rss_kib(edge->pid(), "VmHWM:");
    INFO("RSS before " << before << " KiB, peak " << peak << " KiB");
    if (kSanitized) // ASan keeps freed memory in quarantine (256 MiB): no RSS figure there
        WARN("peak RSS growth not checked in a sanitizer build: " << peak - before << " KiB");
    else
        CHECK(peak - before < 16 * 1024);
}
