// CertStore: certificate file naming, SNI lookup order, refusals by file name, and a reload
// that keeps a refused name's previous certificate.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "edge/tls/cert_store.h"
#include "tests/support/temp_tree.h"
#include "tests/support/test_certs.h"

using namespace berth::edge;
using berth::test::CertFiles;
using berth::test::CertSpec;
using berth::test::KeyType;
using berth::test::make_cert;
using berth::test::TempTree;

namespace
{

// The CN of the certificate a context serves (of the given key type when it has two).
std::string cn_of(SSL_CTX *ctx)
{
    if (!ctx) return "(none)";
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    if (!cert) return "(no certificate)";
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    return cn;
}

std::shared_ptr<const CertStore> load(const CertSources &sources, CertReport &report,
                                      const CertStore *previous = nullptr)
{
    return CertStore::load(
        sources, [](SSL_CTX *) { return true; }, previous, report);
}

void cert(const TempTree &t, const std::string &stem, std::vector<std::string> names,
          long not_after_s = 86400, KeyType type = KeyType::kEcdsa)
{
    CertSpec spec;
    spec.names = std::move(names);
    spec.not_after_s = not_after_s;
    spec.type = type;
    make_cert(t.path("certs"), stem, spec);
}

bool refused(const CertReport &r, const std::string &file, const std::string &reason_part)
{
    for (const CertProblem &p : r.refused)
        if (p.file == file && p.reason.find(reason_part) != std::string::npos) return true;
    return false;
}

} // namespace

TEST_CASE("certificate file names map to the names they serve", "[tls]")
{
    CHECK(cert_name_from_file("app.example.test.crt") == "app.example.test");
    CHECK(cert_name_from_file("App.Example.Test.crt") == "app.example.test");
    CHECK(cert_name_from_file("_wildcard.example.test.crt") == "*.example.test");
    CHECK(cert_name_from_file("app.test.rsa.crt") == "app.test");
    CHECK(cert_name_from_file("app.test.ecdsa.crt") == "app.test");
    CHECK(cert_name_from_file("_wildcard.test.ecdsa.crt") == "*.test");
    for (const char *bad :
         {"app.test.key", "app.test.pem", ".crt", "_wildcard..crt", "a..b.crt", "a b.crt",
          "a/b.crt", "*.test.crt", "_wildcard.crt", ".app.crt", "app..crt"}) {
        CAPTURE(bad);
        CHECK(cert_name_from_file(bad).empty());
    }
}

TEST_CASE("SNI finds the exact name, then the wildcard one label up, then the default", "[tls]")
{
    TempTree t;
    t.mkdir("certs");
    cert(t, "app.test", {"app.test"});
    cert(t, "_wildcard.sites.test", {"*.sites.test"});
    CertFiles fallback = make_cert(t.path("."), "fallback", {{"fallback.test", "alt.test"}});
    CertSources sources;
    sources.certs_dir = t.path("certs");
    sources.default_cert = fallback.cert;
    CertReport report;
    auto store = load(sources, report);
    CHECK(report.refused.empty());
    CHECK(cn_of(store->find("app.test")) == "app.test");
    CHECK(cn_of(store->find("x.sites.test")) == "*.sites.test");
    CHECK(cn_of(store->find("sites.test")) == "fallback.test");
    CHECK(cn_of(store->find("a.b.sites.test")) == "fallback.test");
    CHECK(cn_of(store->find("alt.test")) == "fallback.test"); // a SAN of the default
    CHECK(cn_of(store->find("")) == "fallback.test");
    CHECK(store->has_default());

    CertSources no_default;
    no_default.certs_dir = t.path("certs");
    CertReport r2;
    auto bare = load(no_default, r2);
    CHECK(bare->find("unknown.test") == nullptr); // → unrecognized_name
    CHECK_FALSE(bare->has_default());
}

TEST_CASE("unreadable, mismatched, expired and misnamed files are refused by name", "[tls]")
{
    TempTree t;
    t.mkdir("certs");
    cert(t, "good.test", {"good.test"});
    cert(t, "old.test", {"old.test"}, -60);
    cert(t, "mismatch.test", {"mismatch.test"});
    make_cert(t.path("."), "other", {{"other.test"}});
    std::filesystem::copy_file(t.path("other.key"), t.path("certs/mismatch.test.key"),
                               std::filesystem::copy_options::overwrite_existing);
    cert(t, "nokey.test", {"nokey.test"});
    std::filesystem::remove(t.path("certs/nokey.test.key"));
    t.write("certs/garbage.test.crt", "this is not PEM\n");
    t.write("certs/bad name!.crt", "x");
    CertSources sources;
    sources.certs_dir = t.path("certs");
    sources.pairs = {{t.path("missing.crt"), t.path("missing.key")}};
    CertReport report;
    auto store = load(sources, report);
    CHECK(refused(report, t.path("certs/old.test.crt"), "expired on"));
    CHECK(refused(report, t.path("certs/mismatch.test.crt"), "does not match"));
    CHECK(refused(report, t.path("certs/nokey.test.key"), "cannot read"));
    CHECK(refused(report, t.path("certs/garbage.test.crt"), "not a PEM certificate"));
    CHECK(refused(report, t.path("certs/bad name!.crt"), "file name"));
    CHECK(refused(report, t.path("missing.crt"), "cannot read"));
    REQUIRE(report.loaded.size() == 1); // the rest keep working
    CHECK(report.loaded[0].name == "good.test");
    CHECK(report.loaded[0].key_type == "ECDSA");
    CHECK(cn_of(store->find("good.test")) == "good.test");
}

TEST_CASE("a reload keeps the previous certificate of a name whose file broke", "[tls]")
{
    TempTree t;
    t.mkdir("certs");
    cert(t, "app.test", {"app.test"});
    cert(t, "x.test", {"x.test"});
    CertSources sources;
    sources.certs_dir = t.path("certs");
    CertReport first;
    auto before = load(sources, first);
    SSL_CTX *app_before = before->find("app.test");
    REQUIRE(app_before);

    t.write("certs/app.test.crt", "broken\n");
    cert(t, "x.test", {"x.test"}, 86400, KeyType::kRsa); // x.test gets a new certificate
    CertReport second;
    auto after = load(sources, second, before.get());
    CHECK(refused(second, t.path("certs/app.test.crt"), "not a PEM certificate"));
    CHECK(after->find("app.test") == app_before); // still served, the same context
    bool kept = false;
    for (const CertInfo &c : second.loaded)
        kept |= c.name == "app.test" && c.kept;
    CHECK(kept);
    CHECK(after->find("x.test") != before->find("x.test"));
    // Once the file is fixed, the name is served from it again.
    cert(t, "app.test", {"app.test"});
    CertReport third;
    auto fixed = load(sources, third, after.get());
    CHECK(third.refused.empty());
    CHECK(fixed->find("app.test") != app_before);
}
