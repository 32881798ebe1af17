// Clone via libgit2 with every handle in a unique_ptr, so an error path frees what it opened.
#include "control/pipeline/git_checkout.h"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <git2.h>

#include "control/net/ip_address.h"
#include "control/webhooks/webhook_payload.h"

namespace berth::control
{

namespace
{

template <class T, void (*Free)(T *)> struct GitFree {
    void operator()(T *p) const { Free(p); }
};
using RepoPtr = std::unique_ptr<git_repository, GitFree<git_repository, git_repository_free>>;
using ObjectPtr = std::unique_ptr<git_object, GitFree<git_object, git_object_free>>;

[[noreturn]] void git_fail(const std::string &what)
{
    const git_error *e = git_error_last();
    throw std::runtime_error(what + ": " +
                             (e && e->message ? e->message : "unknown libgit2 error"));
}

} // namespace

GitLibrary::GitLibrary()
{
    git_libgit2_init();
}
GitLibrary::~GitLibrary()
{
    git_libgit2_shutdown();
}

void check_repo_url(const std::string &url, const ControlConfig &config)
{
    std::string lower = url;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    if (lower.rfind("file://", 0) == 0) {
        if (!config.allow_file_urls)
            throw std::runtime_error(
                "file:// repository URLs are disabled ([security] allow_file_urls)");
        return;
    }
    if (lower.rfind("https://", 0) != 0 && lower.rfind("git://", 0) != 0)
        throw std::runtime_error("repository URL must use https:// or git://");
    std::string host = normalize_repo_url(url);
    host = host.substr(0, host.find('/'));
    if (host.empty()) throw std::runtime_error("repository URL has no host");
    if (host == "localhost" || host.rfind("127.", 0) == 0 || host == "0.0.0.0" || host == "[::1]" ||
        host == "[::]" || host.rfind("169.254.", 0) == 0 || host.rfind("[fe80", 0) == 0)
        throw std::runtime_error("repository host " + host +
                                 " is loopback, link-local or unspecified");
    // The allow-list holds host names and address ranges; a range matches a numeric host.
    std::string bare = host.substr(0, host.front() == '[' ? host.find(']') + 1 : host.rfind(':'));
    if (bare.size() > 2 && bare.front() == '[') bare = bare.substr(1, bare.size() - 2);
    auto allowed = [&](const std::string &entry) {
        if (entry == bare) return true;
        auto range = parse_cidr(entry);
        auto ip = parse_ip(bare);
        return range && ip && range->contains(*ip);
    };
    if (!config.allowed_repo_hosts.empty() &&
        std::none_of(config.allowed_repo_hosts.begin(), config.allowed_repo_hosts.end(), allowed))
        throw std::runtime_error("repository host " + host +
                                 " is not in [security] allowed_repo_hosts");
}

std::string clone_checkout(const std::string &url, const std::string &branch,
                           const std::string &commit, const std::filesystem::path &dir)
{
    git_clone_options opts;
    git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
    opts.checkout_branch = branch.c_str();
    git_repository *raw = nullptr;
    if (git_clone(&raw, url.c_str(), dir.c_str(), &opts) != 0)
        git_fail("clone " + url + " (" + branch + ")");
    RepoPtr repo(raw);
    if (!commit.empty()) {
        git_object *obj = nullptr;
        if (git_revparse_single(&obj, repo.get(), (commit + "^{commit}").c_str()) != 0)
            git_fail("commit " + commit + " not found on " + branch);
        ObjectPtr target(obj);
        git_checkout_options co;
        git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
        co.checkout_strategy = GIT_CHECKOUT_FORCE;
        if (git_checkout_tree(repo.get(), target.get(), &co) != 0) git_fail("checkout " + commit);
        if (git_repository_set_head_detached(repo.get(), git_object_id(target.get())) != 0)
            git_fail("detach HEAD at " + commit);
    }
    git_oid head;
    if (git_reference_name_to_id(&head, repo.get(), "HEAD") != 0) git_fail("read HEAD");
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &head);
    return hex;
}

} // namespace berth::control
