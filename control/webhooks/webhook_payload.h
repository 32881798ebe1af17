// Git provider webhooks: signature checks and push-payload parsing, free of I/O (fuzzed).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::control
{

enum class Provider { kGithub, kGitlab, kBitbucket };

std::optional<Provider> parse_provider(std::string_view name) noexcept;
std::string_view provider_name(Provider p) noexcept;

// The request headers a provider's webhook uses, already picked out by the caller.
struct WebhookHeaders {
    std::string_view event;       // X-GitHub-Event | X-Gitlab-Event | X-Event-Key
    std::string_view delivery_id; // X-GitHub-Delivery | X-Gitlab-Event-UUID | X-Request-UUID
    std::string_view signature;   // X-Hub-Signature-256 | X-Gitlab-Token | X-Hub-Signature
};

// The header names for a provider, in the order event, delivery id, signature.
struct WebhookHeaderNames {
    std::string_view event, delivery_id, signature;
};
WebhookHeaderNames webhook_header_names(Provider p) noexcept;

enum class SignatureCheck { kValid, kMissing, kInvalid, kNotConfigured };

// GitHub and Bitbucket: "sha256=" + hex HMAC-SHA256 of the raw body under the secret.
// GitLab: the token header equals the secret. Every comparison is constant-time.
SignatureCheck verify_webhook_signature(Provider p, std::string_view secret,
                                        std::string_view signature, std::string_view body);

struct PushEvent {
    std::vector<std::string> repo_urls; // every URL form the payload gives, normalised
    std::string branch;                 // without refs/heads/
    std::string commit;                 // may be empty (Bitbucket without target)
};

struct WebhookEvent {
    enum class Kind { kPush, kPing, kIgnored, kMalformed } kind = Kind::kIgnored;
    std::string reason;            // kIgnored / kMalformed: why
    std::vector<PushEvent> pushes; // kPush: one per pushed branch (Bitbucket may send several)
    // The delivery's repository, every URL form the payload gives (normalised), whatever the
    // kind: a ping or a tag push names it too, so a service's own secret can be found.
    std::vector<std::string> repo_urls;
};

// Interprets a delivery whose signature was already checked.
WebhookEvent parse_webhook_event(Provider p, std::string_view event, std::string_view body);

// Canonical repository identity: "host/owner/repo" (lower case, no scheme, user,
// port, trailing slash or .git), so https, ssh and scp-like forms of one repo compare equal.
// file:// URLs keep their path: "file:/abs/path".
std::string normalize_repo_url(std::string_view url);

} // namespace berth::control
