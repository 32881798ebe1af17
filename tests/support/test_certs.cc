#include "tests/support/test_certs.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace berth::test
{

namespace
{

struct Free {
    void operator()(EVP_PKEY *p) const { EVP_PKEY_free(p); }
    void operator()(X509 *p) const { X509_free(p); }
    void operator()(FILE *f) const { std::fclose(f); }
};

void check(bool ok, const char *what)
{
    if (!ok) throw std::runtime_error(std::string("making a test certificate: ") + what);
}

} // namespace

CertFiles make_cert(const std::string &dir, const std::string &stem, const CertSpec &spec)
{
    std::unique_ptr<EVP_PKEY, Free> key(
        spec.type == KeyType::kEcdsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t(2048)));
    check(key != nullptr, "key generation");
    std::unique_ptr<X509, Free> cert(X509_new());
    X509_set_version(cert.get(), 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++ + long(getpid()) * 1000);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_s);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME *name = X509_get_subject_name(cert.get());
    std::string cn = spec.names.empty() ? "berth-test" : spec.names.front();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    if (!spec.names.empty()) {
        std::string san;
        for (const auto &n : spec.names)
            san += (san.empty() ? "DNS:" : ",DNS:") + n;
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
        check(ext != nullptr, "subjectAltName");
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    check(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "signing");
    CertFiles files{dir + "/" + stem + ".crt", dir + "/" + stem + ".key"};
    std::unique_ptr<FILE, Free> c(std::fopen(files.cert.c_str(), "w"));
    std::unique_ptr<FILE, Free> k(std::fopen(files.key.c_str(), "w"));
    check(c && k, "opening the files");
    check(PEM_write_X509(c.get(), cert.get()) == 1, "writing the certificate");
    check(PEM_write_PrivateKey(k.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "writing the key");
    return files;
}

const CertFiles &shared_test_cert()
{
    static const CertFiles files = [] {
        std::string dir = (std::filesystem::temp_directory_path() /
                           ("berth-test-cert-" + std::to_string(getpid())))
                              .string();
        std::filesystem::create_directories(dir);
        CertFiles f = make_cert(dir, "edge", {{"localhost", "*.localhost", "*.test"}});
        // Removed when the test process exits.
        static const std::string remove = dir;
        std::atexit([] { std::filesystem::remove_all(remove); });
        return f;
    }();
    return files;
}

bool e2e_over_tls()
{
    const char *v = std::getenv("BERTH_TEST_EDGE_TLS");
    return v && std::string(v) == "1";
}

} // namespace berth::test
