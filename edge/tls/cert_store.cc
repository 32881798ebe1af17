#include "edge/tls/cert_store.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <map>
#include <set>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "edge/tls/ssl_ptr.h"

namespace berth::edge
{

namespace
{

std::string openssl_error()
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

bool is_host_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// A lower-case DNS name, optionally "*." + name: what SNI can match.
bool is_cert_name(std::string_view name)
{
    if (name.starts_with("*.")) name.remove_prefix(2);
    if (name.empty() || name.size() > 253) return false;
    size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        if (!is_host_label_char(c) || ++label > 63) return false;
    }
    return label > 0;
}

// One certificate file with its key, read and checked.
struct Pair {
    std::string cert_file;
    X509Ptr leaf;
    std::vector<X509Ptr> chain;
    PkeyPtr key;
    std::vector<std::string> names;
    std::string key_type;
    std::time_t not_after = 0;
};

std::string key_type_of(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_EC:
        return "ECDSA";
    case EVP_PKEY_ED25519:
        return "Ed25519";
    default:
        return "other";
    }
}

std::time_t time_of(const ASN1_TIME *t)
{
    struct tm tm {
    };
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return timegm(&tm);
}

// DNS subjectAltNames, else the CN; lower-cased.
std::vector<std::string> names_in(X509 *cert)
{
    std::vector<std::string> names;
    auto *sans = static_cast<GENERAL_NAMES *>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type != GEN_DNS) continue;
            const auto *s = gn->d.dNSName;
            names.emplace_back(reinterpret_cast<const char *>(ASN1_STRING_get0_data(s)),
                               size_t(ASN1_STRING_length(s)));
        }
        GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
        char cn[256];
        int n =
            X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
        if (n > 0) names.emplace_back(cn, size_t(n));
    }
    for (auto &n : names)
        std::transform(n.begin(), n.end(), n.begin(),
                       [](unsigned char c) { return char(std::tolower(c)); });
    names.erase(std::remove_if(names.begin(), names.end(),
                               [](const std::string &n) { return !is_cert_name(n); }),
                names.end());
    return names;
}

// Reads and checks one pair; on failure says which file and why.
bool read_pair(const std::string &cert_file, const std::string &key_file, Pair &out,
               CertProblem &problem)
{
    ERR_clear_error();
    BioPtr cert_bio(BIO_new_file(cert_file.c_str(), "r"));
    if (!cert_bio) {
        problem = {cert_file, std::string("cannot read: ") + std::strerror(errno)};
        return false;
    }
    out.leaf.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    if (!out.leaf) {
        problem = {cert_file, "not a PEM certificate"};
        return false;
    }
    while (X509 *extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr))
        out.chain.emplace_back(extra);
    ERR_clear_error(); // the end of the chain reads as an error

    BioPtr key_bio(BIO_new_file(key_file.c_str(), "r"));
    if (!key_bio) {
        problem = {key_file, std::string("cannot read: ") + std::strerror(errno)};
        return false;
    }
    out.key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!out.key) {
        problem = {key_file, "no PEM private key in it"};
        ERR_clear_error();
        return false;
    }
    if (X509_check_private_key(out.leaf.get(), out.key.get()) != 1) {
        problem = {cert_file, "its key " + key_file + " does not match the certificate"};
        ERR_clear_error();
        return false;
    }
    const ASN1_TIME *not_after = X509_get0_notAfter(out.leaf.get());
    if (X509_cmp_current_time(not_after) <= 0) {
        char when[32] = "";
        std::time_t t = time_of(not_after);
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
        problem = {cert_file, std::string("expired on ") + when};
        return false;
    }
    out.cert_file = cert_file;
    out.key_type = key_type_of(out.key.get());
    out.not_after = time_of(not_after);
    return true;
}

// "dir/x.pem" → "dir/x.key" (a default certificate whose key is beside it).
std::string key_beside(const std::string &cert_file)
{
    size_t slash = cert_file.rfind('/');
    size_t dot = cert_file.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
        return cert_file + ".key";
    return cert_file.substr(0, dot) + ".key";
}

bool file_has_key(const std::string &file)
{
    BioPtr bio(BIO_new_file(file.c_str(), "r"));
    if (!bio) return false;
    PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    return static_cast<bool>(key);
}

} // namespace

std::string cert_name_from_file(std::string_view file)
{
    if (!file.ends_with(".crt") || file.find('*') != std::string_view::npos) return "";
    std::string_view name = file.substr(0, file.size() - 4); // wildcards only as _wildcard.
    for (std::string_view variant : {".rsa", ".ecdsa"})
        if (name.ends_with(variant)) {
            name.remove_suffix(variant.size());
            break;
        }
    std::string out;
    if (name.starts_with("_wildcard.")) {
        out = "*." + std::string(name.substr(10));
    } else {
        out = std::string(name);
    }
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return is_cert_name(out) ? out : "";
}

std::shared_ptr<const CertStore> CertStore::load(const CertSources &sources, const Setup &setup,
                                                 const CertStore *previous, CertReport &report)
{
    auto store = std::make_shared<CertStore>();
    // name → the pairs serving it (later sources replace earlier ones for a name).
    std::map<std::string, std::vector<std::shared_ptr<Pair>>> by_name;
    std::vector<std::shared_ptr<Pair>> default_pairs;
    std::vector<std::string> refused_files;

    auto refuse = [&](CertProblem p, const std::string &cert_file) {
        report.refused.push_back(std::move(p));
        refused_files.push_back(cert_file);
    };
    auto take = [&](const std::string &cert, const std::string &key,
                    const std::vector<std::string> *names) -> std::shared_ptr<Pair> {
        auto pair = std::make_shared<Pair>();
        CertProblem problem;
        if (!read_pair(cert, key, *pair, problem)) {
            refuse(problem, cert);
            return nullptr;
        }
        pair->names = names ? *names : names_in(pair->leaf.get());
        return pair;
    };

    if (!sources.default_cert.empty()) {
        const std::string &cert = sources.default_cert;
        std::string key = file_has_key(cert) ? cert : key_beside(cert);
        if (auto p = take(cert, key, nullptr)) {
            default_pairs.push_back(p);
            for (const auto &n : p->names)
                by_name[n] = {p};
        }
    }
    std::set<std::string> from_flags;
    for (const auto &[cert, key] : sources.pairs) {
        auto p = take(cert, key, nullptr);
        if (!p) continue;
        if (sources.default_cert.empty() && default_pairs.empty()) default_pairs.push_back(p);
        for (const auto &n : p->names) {
            // RSA and ECDSA certificates given for the same names serve together.
            if (!from_flags.insert(n).second)
                by_name[n].push_back(p);
            else
                by_name[n] = {p};
        }
    }
    if (!sources.certs_dir.empty()) {
        std::vector<std::string> files;
        if (DIR *d = opendir(sources.certs_dir.c_str())) {
            while (dirent *e = readdir(d))
                if (std::string_view(e->d_name).ends_with(".crt")) files.emplace_back(e->d_name);
            closedir(d);
        } else {
            report.refused.push_back(
                {sources.certs_dir,
                 std::string("cannot read the directory: ") + std::strerror(errno)});
        }
        std::sort(files.begin(), files.end());
        std::map<std::string, std::vector<std::shared_ptr<Pair>>> from_dir;
        for (const std::string &f : files) {
            std::string name = cert_name_from_file(f);
            std::string cert = sources.certs_dir + "/" + f;
            if (name.empty()) {
                refuse({cert, "the file name is not <host>.crt or _wildcard.<domain>.crt"}, cert);
                continue;
            }
            std::string key = cert.substr(0, cert.size() - 4) + ".key";
            std::vector<std::string> names{name};
            if (auto p = take(cert, key, &names)) from_dir[name].push_back(p);
        }
        for (auto &[name, pairs] : from_dir)
            by_name[name] = pairs;
    }

    // One SSL_CTX per distinct set of pairs, shared by every name it serves.
    std::map<std::vector<const Pair *>, CtxRef> contexts;
    auto context_for = [&](const std::vector<std::shared_ptr<Pair>> &pairs) -> CtxRef {
        std::vector<const Pair *> key;
        for (const auto &p : pairs)
            key.push_back(p.get());
        if (auto it = contexts.find(key); it != contexts.end()) return it->second;
        CtxRef ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
        if (!ctx || !setup(ctx.get())) {
            report.refused.push_back({pairs.front()->cert_file, "TLS setup: " + openssl_error()});
            return nullptr;
        }
        for (const auto &p : pairs) {
            bool ok = SSL_CTX_use_certificate(ctx.get(), p->leaf.get()) == 1 &&
                      SSL_CTX_use_PrivateKey(ctx.get(), p->key.get()) == 1;
            for (const auto &extra : p->chain)
                ok = ok && SSL_CTX_add1_chain_cert(ctx.get(), extra.get()) == 1;
            if (!ok || SSL_CTX_check_private_key(ctx.get()) != 1) {
                report.refused.push_back({p->cert_file, "cannot use it: " + openssl_error()});
                return nullptr;
            }
        }
        contexts[key] = ctx;
        return ctx;
    };

    for (const auto &[name, pairs] : by_name) {
        CtxRef ctx = context_for(pairs);
        if (!ctx) continue;
        store->by_name_[name] = ctx;
        for (const auto &p : pairs) {
            store->names_of_file_[p->cert_file].push_back(name);
            CertInfo info{name, p->cert_file, p->key_type, p->not_after, false};
            store->infos_of_name_[name].push_back(info);
            store->certificates_.push_back(std::move(info));
        }
    }
    if (!default_pairs.empty()) {
        store->default_ = context_for(default_pairs);
        if (store->default_) {
            for (const auto &p : default_pairs) {
                store->names_of_file_[p->cert_file].push_back("(default)");
                CertInfo info{"(default)", p->cert_file, p->key_type, p->not_after, false};
                store->infos_of_name_["(default)"].push_back(info);
                store->certificates_.push_back(std::move(info));
            }
        }
    }

    // A refused file's names keep what the previous snapshot served for them.
    if (previous) {
        for (const std::string &file : refused_files) {
            auto it = previous->names_of_file_.find(file);
            if (it == previous->names_of_file_.end()) continue;
            for (const std::string &name : it->second) {
                bool is_default = name == "(default)";
                if (is_default ? static_cast<bool>(store->default_) : store->by_name_.count(name))
                    continue;
                if (is_default)
                    store->default_ = previous->default_;
                else if (auto old = previous->by_name_.find(name); old != previous->by_name_.end())
                    store->by_name_[name] = old->second;
                else
                    continue;
                if (auto infos = previous->infos_of_name_.find(name);
                    infos != previous->infos_of_name_.end())
                    for (CertInfo info : infos->second) {
                        info.kept = true;
                        store->infos_of_name_[name].push_back(info);
                        store->certificates_.push_back(info);
                    }
                store->names_of_file_[file].push_back(name);
            }
        }
    }
    report.loaded = store->certificates_;
    return store;
}

SSL_CTX *CertStore::find(std::string_view host) const noexcept
{
    if (!host.empty()) {
        auto exact = by_name_.find(std::string(host));
        if (exact != by_name_.end()) return exact->second.get();
        size_t dot = host.find('.');
        if (dot != std::string_view::npos && dot > 0) {
            auto wild = by_name_.find("*" + std::string(host.substr(dot)));
            if (wild != by_name_.end()) return wild->second.get();
        }
    }
    return default_ ? default_.get() : nullptr;
}

} // namespace berth::edge
