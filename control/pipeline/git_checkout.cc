// Clone via libgit2 with every handle in a unique_ptr, so an error path frees what it opened;
// the URL screen resolves once and the clone connects only where the screen looked (#15).
#include "control/pipeline/git_checkout.h"

#include <netdb.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include <git2.h>

#include "control/pipeline/connect_proxy.h"

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

ScreenedRepo screen_repo_url(const std::string &url, const ControlConfig &config)
{
    std::string error;
    auto parsed = parse_repo_url(url, error);
    if (!parsed) throw std::runtime_error(error);
    ScreenedRepo out{*parsed, std::nullopt};
    if (parsed->scheme == "file") {
        if (!config.allow_file_urls)
            throw std::runtime_error(
                "file:// repository URLs are disabled ([security] allow_file_urls)");
        return out;
    }
    const std::string &host = parsed->host;
    bool host_listed = false;
    std::vector<Cidr> ranges;
    for (const auto &entry : config.allowed_repo_hosts) {
        if (auto c = parse_cidr(entry))
            ranges.push_back(*c);
        else if (strcasecmp(entry.c_str(), host.c_str()) == 0)
            host_listed = true;
    }
    // Resolve once; numeric spellings ("2130706433", "0x7f.1") come out as addresses.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res)
        throw std::runtime_error("the repository host " + host + " does not resolve");
    std::unique_ptr<addrinfo, void (*)(addrinfo *)> hold(res, freeaddrinfo);
    for (addrinfo *ai = res; ai; ai = ai->ai_next) {
        auto a = from_sockaddr(ai->ai_addr);
        if (!a) continue;
        bool in_range = std::any_of(ranges.begin(), ranges.end(),
                                    [&](const Cidr &c) { return c.contains(*a); });
        std::string_view why = non_public_reason(*a);
        bool admitted = in_range ||
                        (why.empty() && (config.allowed_repo_hosts.empty() || host_listed)) ||
                        (host_listed && (why == "private" || why == "shared"));
        // Every address must pass: a name resolving to one public and one internal address
        // could otherwise be steered to the internal one.
        if (!admitted) throw std::runtime_error(kRepoRefused);
        if (!out.address) out.address = *a;
    }
    if (!out.address) throw std::runtime_error("the repository host " + host + " does not resolve");
    return out;
}

std::string clone_checkout(const ScreenedRepo &repo, const std::string &branch,
                           const std::string &commit, const std::filesystem::path &dir)
{
    git_clone_options opts;
    git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
    opts.checkout_branch = branch.c_str();
    std::string url = repo.url.scheme == "file" ? "file://" + repo.url.rest : "";
    std::unique_ptr<ConnectProxy> proxy;
    std::string proxy_url;
    if (repo.url.scheme == "https") {
        // Every connection goes through the proxy, which only ever connects to the checked
        // address: DNS rebinding and redirects to other hosts cannot reach anything else.
        url = repo.url.scheme + "://" + (repo.url.userinfo.empty() ? "" : repo.url.userinfo + "@") +
              repo.url.authority() + repo.url.rest;
        proxy = std::make_unique<ConnectProxy>(repo.url.authority(), *repo.address, repo.url.port);
        proxy_url = proxy->url();
        opts.fetch_opts.proxy_opts.type = GIT_PROXY_SPECIFIED;
        opts.fetch_opts.proxy_opts.url = proxy_url.c_str();
    } else if (repo.url.scheme == "git") {
        // git:// has no proxy support in libgit2: connect to the checked address itself.
        url = repo.url.with_host(to_string(*repo.address), !repo.address->is_v4());
    }
    git_repository *raw = nullptr;
    if (git_clone(&raw, url.c_str(), dir.c_str(), &opts) != 0)
        git_fail("clone " + repo.url.scheme + "://" + repo.url.host +
                 (repo.url.scheme == "file" ? repo.url.rest : "") + " (" + branch + ")");
    RepoPtr cloned(raw);
    if (!commit.empty()) {
        git_object *obj = nullptr;
        if (git_revparse_single(&obj, cloned.get(), (commit + "^{commit}").c_str()) != 0)
            git_fail("commit " + commit + " not found on " + branch);
        ObjectPtr target(obj);
        git_checkout_options co;
        git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
        co.checkout_strategy = GIT_CHECKOUT_FORCE;
        if (git_checkout_tree(cloned.get(), target.get(), &co) != 0) git_fail("checkout " + commit);
        if (git_repository_set_head_detached(cloned.get(), git_object_id(target.get())) != 0)
            git_fail("detach HEAD at " + commit);
    }
    git_oid head;
    if (git_reference_name_to_id(&head, cloned.get(), "HEAD") != 0) git_fail("read HEAD");
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof hex, &head);
    return hex;
}

} // namespace berth::control
