// The build environment (#16, the Grid seed's precedence): every layer of env values merged
// into the one map a build sees, plus a record per key (never its value) for the deployment.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/analyze/env_template.h"

namespace berth::control
{

// Where a value comes from, lowest precedence first: platform defaults (PORT, ...), values the
// env template fills (auto-secret, auto-domain), then the seed's env_vars sources ADDON,
// SHORTCODE, SYSTEM (DEPLOYMENT_ID, COMMIT_HASH, BRANCH, SERVICE_NAME) and USER.
enum class EnvSource { kPlatform, kTemplate, kAddon, kShortcode, kSystem, kUser };

// "PLATFORM", "TEMPLATE", "ADDON", "SHORTCODE", "SYSTEM", "USER".
std::string_view env_source_name(EnvSource s) noexcept;
// Only the four an env_vars row may hold ("USER", "SYSTEM", "ADDON", "SHORTCODE").
std::optional<EnvSource> parse_row_source(std::string_view name) noexcept;

struct EnvValue {
    std::string key;
    std::string value;
    EnvSource source = EnvSource::kUser;
    bool is_secret = false;
    bool is_locked = false;
};

// What is stored on the deployment for one key: never the value.
struct EnvRecord {
    std::string name;
    EnvSource source = EnvSource::kUser; // the layer whose value won
    bool is_secret = false;
    bool is_locked = false;
    std::vector<EnvSource> shadowed; // layers that also set it and lost, in precedence order
};

struct BuildEnv {
    std::map<std::string, std::string> env;     // what the build process gets
    std::map<std::string, bool> secret;         // key → is_secret of the winning value
    std::vector<EnvRecord> records;             // one per key, sorted by name
    std::vector<std::string> missing_user_keys; // template user keys with no value (sorted)
    std::vector<std::string> pending_database;  // auto-database keys nobody set (sorted)

    // {"variables":[{"name","source","is_secret","is_locked","shadowed"}], "missing": [...],
    //  "pending_database": [...]}: values never appear.
    nlohmann::json to_json() const;
};

// Merges `values` by precedence: a later layer replaces an earlier one, except that a locked
// value is never replaced by any later layer (the seed: a locked row "cannot be overridden by
// any auto-injection step"; an operator-locked ADDON value also holds against a USER row).
// Within one layer the first value of a key wins. Keys that are not valid env names are
// dropped. `fill` (optional) contributes its secrets and domain values as TEMPLATE values and
// names the user keys that must end up set and the database keys still pending.
BuildEnv build_environment(std::vector<EnvValue> values, const TemplateFill *fill = nullptr);

// "missing environment variables: A, B (set them as env vars of the service)"; "" when none.
// A deploy with missing keys fails in REVIEW with this message.
std::string missing_keys_message(const BuildEnv &env);

// The non-empty values of secret keys, longest first, so a log masker that replaces them in
// order never leaves the tail of a longer secret that contains a shorter one.
std::vector<std::string> secret_values(const BuildEnv &env);

} // namespace berth::control
