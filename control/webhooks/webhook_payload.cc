// Provider payload formats (GitHub, GitLab, Bitbucket push/ping) reduced to PushEvent (#3).
#include "control/webhooks/webhook_payload.h"

#include <algorithm>

#include "control/base/crypto.h"
#include "control/base/json_util.h"

namespace berth::control
{

namespace
{

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

const Json *path(const Json &j, std::initializer_list<const char *> keys)
{
    const Json *cur = &j;
    for (const char *k : keys) {
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(k);
        if (it == cur->end()) return nullptr;
        cur = &*it;
    }
    return cur;
}

std::string str_at(const Json &j, std::initializer_list<const char *> keys)
{
    const Json *v = path(j, keys);
    return v && v->is_string() ? v->get<std::string>() : std::string();
}

void add_url(std::vector<std::string> &urls, const std::string &url)
{
    if (url.empty()) return;
    std::string n = normalize_repo_url(url);
    if (!n.empty() && std::find(urls.begin(), urls.end(), n) == urls.end())
        urls.push_back(std::move(n));
}

// Every URL of the delivery's repository that the provider's payloads carry, normalised.
std::vector<std::string> repository_urls(Provider provider, const Json &j)
{
    std::vector<std::string> urls;
    switch (provider) {
    case Provider::kGithub:
        for (const char *k : {"clone_url", "html_url", "ssh_url", "git_url", "url"})
            add_url(urls, str_at(j, {"repository", k}));
        break;
    case Provider::kGitlab:
        for (const char *k : {"git_http_url", "git_ssh_url", "web_url", "http_url"})
            add_url(urls, str_at(j, {"project", k}));
        for (const char *k : {"git_http_url", "git_ssh_url", "homepage", "url"})
            add_url(urls, str_at(j, {"repository", k}));
        break;
    case Provider::kBitbucket:
        if (std::string full = str_at(j, {"repository", "full_name"}); !full.empty())
            add_url(urls, "https://bitbucket.org/" + full);
        add_url(urls, str_at(j, {"repository", "links", "html", "href"}));
        break;
    }
    return urls;
}

bool strip_heads(std::string &ref)
{
    constexpr std::string_view prefix = "refs/heads/";
    if (ref.rfind(prefix, 0) != 0) return false;
    ref.erase(0, prefix.size());
    return !ref.empty();
}

WebhookEvent malformed(std::string why)
{
    return {WebhookEvent::Kind::kMalformed, std::move(why), {}};
}
WebhookEvent ignored(std::string why)
{
    return {WebhookEvent::Kind::kIgnored, std::move(why), {}};
}

WebhookEvent parse_github(std::string_view event, const Json &j)
{
    if (event == "ping") return {WebhookEvent::Kind::kPing, "", {}};
    if (event != "push") return ignored("event " + std::string(event) + " does not deploy");
    PushEvent p;
    p.branch = str_at(j, {"ref"});
    if (!strip_heads(p.branch)) return ignored("push is not to a branch");
    const Json *deleted = path(j, {"deleted"});
    if (deleted && deleted->is_boolean() && deleted->get<bool>()) return ignored("branch deleted");
    p.commit = str_at(j, {"after"});
    p.repo_urls = repository_urls(Provider::kGithub, j);
    if (p.repo_urls.empty()) return malformed("push payload has no repository URL");
    return {WebhookEvent::Kind::kPush, "", {std::move(p)}};
}

WebhookEvent parse_gitlab(std::string_view event, const Json &j)
{
    std::string kind = str_at(j, {"object_kind"});
    if (event != "Push Hook" && kind != "push")
        return ignored("event " + std::string(event) + " does not deploy");
    PushEvent p;
    p.branch = str_at(j, {"ref"});
    if (!strip_heads(p.branch)) return ignored("push is not to a branch");
    p.commit = str_at(j, {"checkout_sha"});
    if (p.commit.empty()) p.commit = str_at(j, {"after"});
    if (p.commit.empty() || p.commit.find_first_not_of('0') == std::string::npos)
        return ignored("branch deleted");
    p.repo_urls = repository_urls(Provider::kGitlab, j);
    if (p.repo_urls.empty()) return malformed("push payload has no project URL");
    return {WebhookEvent::Kind::kPush, "", {std::move(p)}};
}

WebhookEvent parse_bitbucket(std::string_view event, const Json &j)
{
    if (event == "diagnostics:ping") return {WebhookEvent::Kind::kPing, "", {}};
    if (event != "repo:push") return ignored("event " + std::string(event) + " does not deploy");
    std::vector<std::string> urls = repository_urls(Provider::kBitbucket, j);
    if (urls.empty()) return malformed("push payload has no repository");
    const Json *changes = path(j, {"push", "changes"});
    if (!changes || !changes->is_array()) return malformed("push payload has no push.changes");
    WebhookEvent out{WebhookEvent::Kind::kPush, "", {}};
    for (const Json &c : *changes) {
        if (!c.is_object()) return malformed("push.changes entries must be objects");
        if (str_at(c, {"new", "type"}) != "branch") continue; // tag push or deletion
        PushEvent p;
        p.branch = str_at(c, {"new", "name"});
        p.commit = str_at(c, {"new", "target", "hash"});
        if (p.branch.empty()) continue;
        p.repo_urls = urls;
        out.pushes.push_back(std::move(p));
    }
    if (out.pushes.empty()) return ignored("push changes no branch");
    return out;
}

} // namespace

std::optional<Provider> parse_provider(std::string_view name) noexcept
{
    if (name == "github") return Provider::kGithub;
    if (name == "gitlab") return Provider::kGitlab;
    if (name == "bitbucket") return Provider::kBitbucket;
    return std::nullopt;
}

std::string_view provider_name(Provider p) noexcept
{
    switch (p) {
    case Provider::kGithub:
        return "github";
    case Provider::kGitlab:
        return "gitlab";
    case Provider::kBitbucket:
        return "bitbucket";
    }
    return "";
}

WebhookHeaderNames webhook_header_names(Provider p) noexcept
{
    switch (p) {
    case Provider::kGithub:
        return {"X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"};
    case Provider::kGitlab:
        return {"X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Token"};
    case Provider::kBitbucket:
        return {"X-Event-Key", "X-Request-UUID", "X-Hub-Signature"};
    }
    return {};
}

SignatureCheck verify_webhook_signature(Provider p, std::string_view secret,
                                        std::string_view signature, std::string_view body)
{
    if (secret.empty()) return SignatureCheck::kNotConfigured;
    if (signature.empty()) return SignatureCheck::kMissing;
    if (p == Provider::kGitlab)
        return constant_time_equal(signature, secret) ? SignatureCheck::kValid
                                                      : SignatureCheck::kInvalid;
    constexpr std::string_view prefix = "sha256=";
    if (signature.size() != prefix.size() + 64 || signature.substr(0, prefix.size()) != prefix)
        return SignatureCheck::kInvalid;
    // Compare lower-cased hex: providers send lower case, but hex case carries no meaning.
    std::string given = lower(signature.substr(prefix.size()));
    std::string expected = hmac_sha256_hex(secret, body);
    return constant_time_equal(given, expected) ? SignatureCheck::kValid : SignatureCheck::kInvalid;
}

WebhookEvent parse_webhook_event(Provider p, std::string_view event, std::string_view body)
{
    Json j = parse_json_or_discarded(body);
    if (j.is_discarded()) return malformed("payload is not valid JSON");
    if (!j.is_object()) return malformed("payload must be a JSON object");
    WebhookEvent ev = malformed("unknown provider");
    switch (p) {
    case Provider::kGithub:
        ev = parse_github(event, j);
        break;
    case Provider::kGitlab:
        ev = parse_gitlab(event, j);
        break;
    case Provider::kBitbucket:
        ev = parse_bitbucket(event, j);
        break;
    }
    ev.repo_urls = repository_urls(p, j);
    return ev;
}

std::string normalize_repo_url(std::string_view url)
{
    std::string_view u = url;
    while (!u.empty() && (u.back() == '/' || u.back() == ' '))
        u.remove_suffix(1);
    if (u.size() > 4 && lower(u.substr(u.size() - 4)) == ".git") u.remove_suffix(4);
    while (!u.empty() && u.back() == '/')
        u.remove_suffix(1);
    if (u.empty()) return {};
    if (lower(u.substr(0, std::min<size_t>(u.size(), 7))) == "file://")
        return "file:" + std::string(u.substr(7));
    std::string_view host_and_path;
    if (size_t scheme = u.find("://"); scheme != std::string_view::npos) {
        host_and_path = u.substr(scheme + 3);
    } else if (size_t colon = u.find(':'); colon != std::string_view::npos && u.find('/') > colon) {
        // scp-like: git@host:owner/repo
        std::string s(u.substr(0, colon));
        s += '/';
        s += u.substr(colon + 1);
        return normalize_repo_url("ssh://" + s);
    } else {
        host_and_path = u;
    }
    size_t slash = host_and_path.find('/');
    std::string_view authority = host_and_path.substr(0, slash);
    std::string_view rest = slash == std::string_view::npos ? "" : host_and_path.substr(slash);
    if (size_t at = authority.rfind('@'); at != std::string_view::npos)
        authority.remove_prefix(at + 1);
    if (size_t colon = authority.rfind(':');
        colon != std::string_view::npos && authority.find(']') == std::string_view::npos)
        authority = authority.substr(0, colon);
    // Hosted providers treat owner/repo case-insensitively (Org/App and org/app are one repo).
    return lower(authority) + lower(rest);
}

} // namespace berth::control
