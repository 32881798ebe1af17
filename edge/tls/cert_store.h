// The certificates the edge serves, chosen by SNI: an immutable snapshot, rebuilt on reload.
//
// Sources, later ones winning for the same name: [tls] default_cert (also the default for
// clients whose SNI names nothing known), --tls-cert/--tls-key pairs (the first is the default
// when default_cert is not set), and [tls] certs_dir by convention — `<host>.crt` with
// `<host>.key`, `_wildcard.<domain>.crt/.key` for `*.<domain>`, and `<name>.rsa.crt` /
// `<name>.ecdsa.crt` (with their .key) when a name has one of each — so the control plane can
// drop a custom domain's certificate in place. Names of default_cert and of flag pairs come
// from the certificate (subjectAltName DNS entries, else the CN).
//
// A name's certificates (RSA and ECDSA may both be loaded: each client gets one it supports)
// share one SSL_CTX. A pair that cannot be read, whose key does not match, or that has
// expired is refused with its file name; the rest load. On reload a refused pair's names keep
// the certificate the previous snapshot served for them.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/ssl.h>

namespace berth::edge
{

struct CertSources {
    std::string default_cert; // PEM chain; the key in the same file or in <stem>.key
    std::vector<std::pair<std::string, std::string>> pairs; // certificate, key
    std::string certs_dir;
};

struct CertInfo {
    std::string name; // "app.example.test", "*.example.test", or "(default)"
    std::string cert_file;
    std::string key_type; // "RSA", "ECDSA", "Ed25519", ...
    std::time_t not_after = 0;
    bool kept = false; // carried over from the previous snapshot (its new files were refused)
};

struct CertProblem {
    std::string file;
    std::string reason;
};

struct CertReport {
    std::vector<CertInfo> loaded;
    std::vector<CertProblem> refused;
};

class CertStore
{
public:
    // Applies the common settings and callbacks to a new SSL_CTX; false on failure.
    using Setup = std::function<bool(SSL_CTX *)>;

    // Reads every source. `previous` (may be null) supplies the certificates of names whose
    // files are refused now. The report lists what loaded and what was refused, and why.
    static std::shared_ptr<const CertStore> load(const CertSources &sources, const Setup &setup,
                                                 const CertStore *previous, CertReport &report);

    // The context for a client's SNI (lower-case host, may be empty): exact name, then the
    // wildcard one label up, then the default. Null: nothing to offer (unrecognized_name).
    SSL_CTX *find(std::string_view server_name) const noexcept;
    bool has_default() const noexcept { return static_cast<bool>(default_); }
    const std::vector<CertInfo> &certificates() const noexcept { return certificates_; }

private:
    using CtxRef = std::shared_ptr<SSL_CTX>;
    std::unordered_map<std::string, CtxRef> by_name_;
    CtxRef default_;
    std::vector<CertInfo> certificates_;
    // Which names (and the default) each certificate file served: a refused file's names
    // keep their previous certificate on reload.
    std::unordered_map<std::string, std::vector<std::string>> names_of_file_;
    std::unordered_map<std::string, std::vector<CertInfo>> infos_of_name_;
};

// "app.example.test.crt" → "app.example.test"; "_wildcard.example.test.ecdsa.crt" →
// "*.example.test"; anything that is not a certificate file name → "" (fuzzed).
std::string cert_name_from_file(std::string_view file_name);

} // namespace berth::edge
