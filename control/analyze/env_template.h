// The env template of a repository (#16, the Coday seed): which keys .env.example (or
// .env.template / .env.sample) declares, and who fills each one.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/analyze/env_file.h"
#include "control/analyze/source_tree.h"

namespace berth::control
{

// The seed's four classes.
enum class EnvKeyClass {
    kAutoDatabase, // DATABASE_URL, POSTGRES_URL, DB_URL, MONGODB_URI: reserved, pending
    kAutoSecret,   // *_SECRET, SECRET_KEY, SECRET_KEY_BASE: 64 random characters, once
    kAutoDomain,   // NEXT_PUBLIC_URL, NEXTAUTH_URL, PUBLIC_URL, BASE_URL, APP_URL: the public URL
    kUser,         // everything else, including provider keys: the user must set it
};

// "auto-database", "auto-secret", "auto-domain", "user".
std::string_view env_key_class_name(EnvKeyClass c) noexcept;

// Case-insensitive. Provider credentials are user keys even when they end in _SECRET
// (STRIPE_*, *_CLIENT_SECRET, *_WEBHOOK_SECRET, *_API_KEY): only the provider can issue them.
EnvKeyClass classify_env_key(std::string_view key);

struct TemplateKey {
    std::string key;
    EnvKeyClass cls = EnvKeyClass::kUser;
    int line = 0;
};

struct EnvTemplate {
    std::string file;                 // ".env.example", ".env.template" or ".env.sample"
    std::vector<TemplateKey> keys;    // in file order
    std::vector<EnvFileIssue> issues; // bad lines (not fatal)
};

// Classifies the keys of an already parsed file.
EnvTemplate classify_env_file(std::string file, const EnvFile &parsed);

// Reads the first template that exists, in the order above; nullopt when there is none.
// A template larger than kMaxEnvTemplateBytes is reported as an issue with no keys.
inline constexpr size_t kMaxEnvTemplateBytes = 256 * 1024;
std::optional<EnvTemplate> read_env_template(const SourceTree &tree);

// Length of a generated auto-secret (the seed's "random 64-character secret").
inline constexpr size_t kAutoSecretLength = 64;

// Returns a fresh random secret of kAutoSecretLength characters (production: random_hex(32)).
using SecretGenerator = std::function<std::string()>;

// What the template asks of a deploy.
struct TemplateFill {
    std::map<std::string, std::string> secrets;     // every auto-secret key → its value
    std::map<std::string, std::string> new_secrets; // the ones generated now: store them sealed
    std::map<std::string, std::string> domain;      // every auto-domain key → the public URL
    std::vector<std::string> pending_database;      // auto-database keys (reserved, not filled yet)
    std::vector<std::string> user_keys;             // keys the user must set
};

// Fills the auto keys. `stored_secrets` are the service's auto-secrets from earlier deploys:
// they are kept, so a secret is generated once per service; `generate` is called only for the
// missing ones, and a value it returns that is not kAutoSecretLength characters aborts (a
// broken generator must not weaken a secret silently).
TemplateFill fill_template(const EnvTemplate &tmpl,
                           const std::map<std::string, std::string> &stored_secrets,
                           std::string_view public_url, const SecretGenerator &generate);

} // namespace berth::control
