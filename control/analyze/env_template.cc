// Env template classification (#16). The rules are the Coday seed's lists, checked in a fixed
// order so the overlaps resolve one way: GITHUB_CLIENT_SECRET matches *_SECRET but the seed
// lists it among the provider keys a user pastes, so provider rules run before the secret rule.
#include "control/analyze/env_template.h"

#include <array>
#include <cctype>

#include "shared/base/assert.h"

namespace berth::control
{

namespace
{

constexpr std::array<std::string_view, 4> kDatabaseKeys = {"DATABASE_URL", "POSTGRES_URL", "DB_URL",
                                                           "MONGODB_URI"};
constexpr std::array<std::string_view, 5> kDomainKeys = {"NEXT_PUBLIC_URL", "NEXTAUTH_URL",
                                                         "PUBLIC_URL", "BASE_URL", "APP_URL"};
// Beyond the seed's *_SECRET: the framework secrets Django and Rails refuse to start without.
constexpr std::array<std::string_view, 2> kSecretKeys = {"SECRET_KEY", "SECRET_KEY_BASE"};
// A provider issues these; a random value would be useless to it.
constexpr std::array<std::string_view, 2> kProviderSuffixes = {"_CLIENT_SECRET", "_WEBHOOK_SECRET"};
constexpr std::array<std::string_view, 1> kProviderPrefixes = {"STRIPE_"};

template <size_t N> bool listed(const std::array<std::string_view, N> &list, std::string_view key)
{
    for (auto item : list)
        if (key == item) return true;
    return false;
}

bool ends_with_any(std::string_view key, std::initializer_list<std::string_view> suffixes)
{
    for (auto s : suffixes)
        if (key.size() > s.size() && key.ends_with(s)) return true;
    return false;
}

} // namespace

std::string_view env_key_class_name(EnvKeyClass c) noexcept
{
    switch (c) {
    case EnvKeyClass::kAutoDatabase:
        return "auto-database";
    case EnvKeyClass::kAutoSecret:
        return "auto-secret";
    case EnvKeyClass::kAutoDomain:
        return "auto-domain";
    case EnvKeyClass::kUser:
        break;
    }
    return "user";
}

EnvKeyClass classify_env_key(std::string_view key)
{
    std::string upper(key);
    for (char &c : upper)
        c = char(std::toupper(static_cast<unsigned char>(c)));
    if (listed(kDatabaseKeys, upper)) return EnvKeyClass::kAutoDatabase;
    if (listed(kDomainKeys, upper)) return EnvKeyClass::kAutoDomain;
    for (auto prefix : kProviderPrefixes)
        if (upper.starts_with(prefix)) return EnvKeyClass::kUser;
    if (ends_with_any(upper, {kProviderSuffixes[0], kProviderSuffixes[1]}))
        return EnvKeyClass::kUser;
    if (listed(kSecretKeys, upper) || ends_with_any(upper, {"_SECRET"}))
        return EnvKeyClass::kAutoSecret;
    return EnvKeyClass::kUser;
}

EnvTemplate classify_env_file(std::string file, const EnvFile &parsed)
{
    EnvTemplate out{std::move(file), {}, parsed.issues};
    for (const auto &entry : parsed.entries)
        out.keys.push_back({entry.key, classify_env_key(entry.key), entry.line});
    return out;
}

std::optional<EnvTemplate> read_env_template(const SourceTree &tree)
{
    for (const char *name : {".env.example", ".env.template", ".env.sample"}) {
        if (!tree.exists(name)) continue;
        auto text = tree.read(name, kMaxEnvTemplateBytes);
        if (!text)
            return EnvTemplate{
                name,
                {},
                {{0, std::string(name) + ": unreadable or larger than " +
                         std::to_string(kMaxEnvTemplateBytes) + " bytes; no keys read"}}};
        return classify_env_file(name, parse_env_file(*text));
    }
    return std::nullopt;
}

TemplateFill fill_template(const EnvTemplate &tmpl,
                           const std::map<std::string, std::string> &stored_secrets,
                           std::string_view public_url, const SecretGenerator &generate)
{
    TemplateFill fill;
    for (const auto &k : tmpl.keys) {
        switch (k.cls) {
        case EnvKeyClass::kAutoDatabase:
            fill.pending_database.push_back(k.key);
            break;
        case EnvKeyClass::kAutoDomain:
            fill.domain[k.key] = std::string(public_url);
            break;
        case EnvKeyClass::kUser:
            fill.user_keys.push_back(k.key);
            break;
        case EnvKeyClass::kAutoSecret:
            if (auto it = stored_secrets.find(k.key); it != stored_secrets.end()) {
                fill.secrets[k.key] = it->second;
                break;
            }
            std::string value = generate();
            BERTH_ASSERT(value.size() == kAutoSecretLength);
            fill.secrets[k.key] = value;
            fill.new_secrets[k.key] = std::move(value);
            break;
        }
    }
    return fill;
}

} // namespace berth::control
