// The secrets rule of a static publish (#15, the Express seed's rule generalised): text that
// would expose a secret if it were served. Pure code: the tree walk is in publish.cc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth::control
{

// A secret env var of the service: its value must not appear in any published file.
struct NamedSecret {
    std::string name;  // the env var's key (named in messages; the value never is)
    std::string value; // values shorter than kMinSecretValue are not looked for
};
inline constexpr size_t kMinSecretValue = 6;

// The longest text one rule can match; a stream scanned in chunks overlaps them by this much.
inline constexpr size_t kMaxRuleMatch = 4096;

// Names of the rules `text` triggers, each once, in a fixed order: "private-key",
// "aws-access-key", "stripe-live-key", "github-token", "gitlab-token", "slack-token",
// "google-api-key", and "secret env var NAME" for each secret value found.
std::vector<std::string> scan_text(std::string_view text, const std::vector<NamedSecret> &secrets);

} // namespace berth::control
