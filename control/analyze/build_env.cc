// Build environment merge (#16). Values are applied layer by layer in precedence order, so the
// record of who won (and who lost) falls out of the same walk that builds the map.
#include "control/analyze/build_env.h"

#include <algorithm>

#include "control/analyze/env_file.h"

namespace berth::control
{

namespace
{

constexpr std::string_view kSourceNames[] = {"PLATFORM",  "TEMPLATE", "ADDON",
                                             "SHORTCODE", "SYSTEM",   "USER"};

struct Slot {
    EnvValue winner;
    std::vector<EnvSource> shadowed;
};

void template_values(const TemplateFill &fill, std::vector<EnvValue> &values)
{
    for (const auto &[key, value] : fill.secrets)
        values.push_back({key, value, EnvSource::kTemplate, true, false});
    for (const auto &[key, value] : fill.domain)
        values.push_back({key, value, EnvSource::kTemplate, false, false});
}

} // namespace

std::string_view env_source_name(EnvSource s) noexcept
{
    return kSourceNames[int(s)];
}

std::optional<EnvSource> parse_row_source(std::string_view name) noexcept
{
    for (EnvSource s :
         {EnvSource::kAddon, EnvSource::kShortcode, EnvSource::kSystem, EnvSource::kUser})
        if (name == env_source_name(s)) return s;
    return std::nullopt;
}

BuildEnv build_environment(std::vector<EnvValue> values, const TemplateFill *fill)
{
    if (fill) template_values(*fill, values);
    // Stable: within a layer, input order decides (first wins, below).
    std::stable_sort(values.begin(), values.end(),
                     [](const EnvValue &a, const EnvValue &b) { return a.source < b.source; });
    std::map<std::string, Slot> slots;
    for (auto &v : values) {
        if (!is_valid_env_key(v.key)) continue;
        auto [it, fresh] = slots.try_emplace(v.key);
        Slot &slot = it->second;
        if (fresh) {
            slot.winner = std::move(v);
            continue;
        }
        bool replaces = !slot.winner.is_locked && v.source != slot.winner.source;
        if (!replaces) {
            slot.shadowed.push_back(v.source);
            continue;
        }
        slot.shadowed.push_back(slot.winner.source);
        slot.winner = std::move(v);
    }
    BuildEnv out;
    for (auto &[key, slot] : slots) {
        out.env[key] = slot.winner.value;
        out.secret[key] = slot.winner.is_secret;
        out.records.push_back({key, slot.winner.source, slot.winner.is_secret,
                               slot.winner.is_locked, std::move(slot.shadowed)});
    }
    if (fill) {
        for (const auto &key : fill->user_keys)
            if (!out.env.count(key)) out.missing_user_keys.push_back(key);
        for (const auto &key : fill->pending_database)
            if (!out.env.count(key)) out.pending_database.push_back(key);
        std::sort(out.missing_user_keys.begin(), out.missing_user_keys.end());
        std::sort(out.pending_database.begin(), out.pending_database.end());
    }
    return out;
}

nlohmann::json BuildEnv::to_json() const
{
    nlohmann::json vars = nlohmann::json::array();
    for (const auto &r : records) {
        nlohmann::json shadowed = nlohmann::json::array();
        for (EnvSource s : r.shadowed)
            shadowed.push_back(env_source_name(s));
        vars.push_back({{"name", r.name},
                        {"source", env_source_name(r.source)},
                        {"is_secret", r.is_secret},
                        {"is_locked", r.is_locked},
                        {"shadowed", std::move(shadowed)}});
    }
    return {{"variables", std::move(vars)},
            {"missing", missing_user_keys},
            {"pending_database", pending_database}};
}

std::string missing_keys_message(const BuildEnv &env)
{
    if (env.missing_user_keys.empty()) return {};
    std::string keys;
    for (const auto &k : env.missing_user_keys)
        keys += (keys.empty() ? "" : ", ") + k;
    return "missing environment variables: " + keys + " (set them as env vars of the service)";
}

std::vector<std::string> secret_values(const BuildEnv &env)
{
    std::vector<std::string> out;
    for (const auto &[key, value] : env.env)
        if (env.secret.at(key) && !value.empty()) out.push_back(value);
    std::sort(out.begin(), out.end(), [](const std::string &a, const std::string &b) {
        return a.size() != b.size() ? a.size() > b.size() : a < b;
    });
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

} // namespace berth::control
