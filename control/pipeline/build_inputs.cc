// Overrides, env layers and the env template, read from the store and the tree (#16).
#include "control/pipeline/build_inputs.h"

#include <optional>

#include "control/analyze/disk_source_tree.h"
#include "control/analyze/env_template.h"

namespace berth::control
{

namespace
{

std::optional<std::string> opt(const pqxx::field &f)
{
    if (f.is_null()) return std::nullopt;
    return f.as<std::string>();
}

BuildOverrides load_overrides(pqxx::work &w, const std::string &service_id)
{
    auto r = w.exec_params1("SELECT framework, install_command, build_command, output_directory,"
                            " start_command FROM services WHERE id = $1",
                            service_id);
    BuildOverrides o;
    o.framework = opt(r[0]);
    o.install_command = opt(r[1]);
    o.build_command = opt(r[2]);
    o.output_directory = opt(r[3]);
    o.start_command = opt(r[4]);
    if (o.framework && o.framework->empty()) o.framework.reset();
    return o;
}

Buildpack parse_buildpack(const std::string &name)
{
    if (name == "DOCKER") return Buildpack::kDocker;
    if (name == "STATIC") return Buildpack::kStatic;
    return Buildpack::kNixpacks;
}

std::string generated_aad(const std::string &service_id, const std::string &key)
{
    return service_id + "/auto/" + key;
}

// The service's env_vars rows, decrypted, as USER/ADDON/SHORTCODE/SYSTEM values.
void add_env_rows(pqxx::work &w, const SecretBox *box, const std::string &service_id,
                  std::vector<EnvValue> &values)
{
    for (const auto &r : w.exec_params("SELECT key, value_sealed, is_secret, is_locked, source"
                                       " FROM env_vars WHERE service_id = $1 ORDER BY key",
                                       service_id)) {
        std::string key = r[0].as<std::string>();
        if (!box)
            throw std::runtime_error("env var " + key +
                                     " cannot be read: berth-control has no encryption key");
        auto plain = box->open(r[1].as<std::string>(), service_id + "/" + key);
        if (!plain)
            throw std::runtime_error("env var " + key +
                                     " cannot be decrypted with the current key");
        values.push_back({key, *plain,
                          parse_row_source(r[4].as<std::string>()).value_or(EnvSource::kUser),
                          r[2].as<bool>(), r[3].as<bool>()});
    }
}

std::map<std::string, std::string> stored_auto_secrets(pqxx::work &w, const SecretBox *box,
                                                       const std::string &service_id)
{
    std::map<std::string, std::string> out;
    for (const auto &r : w.exec_params(
             "SELECT key, value_sealed FROM generated_secrets WHERE service_id = $1", service_id)) {
        std::string key = r[0].as<std::string>();
        auto plain =
            box ? box->open(r[1].as<std::string>(), generated_aad(service_id, key)) : std::nullopt;
        if (plain) out[key] = *plain; // one that no longer opens is generated afresh
    }
    return out;
}

} // namespace

std::vector<NamedSecret> BuildInputs::secrets() const
{
    std::vector<NamedSecret> out;
    for (const auto &[key, value] : env.env)
        if (env.secret.at(key)) out.push_back({key, value});
    return out;
}

nlohmann::json BuildInputs::summary() const
{
    nlohmann::json j = plan.to_json();
    j["environment"] = env.to_json();
    if (!refusal.empty()) j["refusal"] = refusal;
    return j;
}

BuildInputs load_build_inputs(pqxx::work &w, const SecretBox *box, const BuildInputsRequest &req)
{
    BuildInputs in;
    DiskSourceTree tree(req.root.string());
    in.plan =
        analyze_build(tree, parse_buildpack(req.buildpack), load_overrides(w, req.service_id));

    // Lowest first: platform defaults (npm must not reach for the network on its own), the
    // template's auto values, the env_vars rows, and Berth's SYSTEM values.
    std::vector<EnvValue> values = {
        {"npm_config_audit", "false", EnvSource::kPlatform},
        {"npm_config_fund", "false", EnvSource::kPlatform},
        {"npm_config_update_notifier", "false", EnvSource::kPlatform},
    };
    add_env_rows(w, box, req.service_id, values);
    values.push_back({"DEPLOYMENT_ID", req.deployment_id, EnvSource::kSystem});
    values.push_back({"COMMIT_HASH", req.commit, EnvSource::kSystem});
    values.push_back({"BRANCH", req.branch, EnvSource::kSystem});
    values.push_back({"SERVICE_NAME", req.service_name, EnvSource::kSystem});

    std::optional<TemplateFill> fill;
    if (auto tmpl = read_env_template(tree)) {
        fill = fill_template(*tmpl, stored_auto_secrets(w, box, req.service_id), req.public_url,
                             [] { return random_hex(kAutoSecretLength / 2); });
        for (const auto &[key, value] : fill->new_secrets) {
            if (!box)
                throw std::runtime_error("auto-secret " + key +
                                         " cannot be stored: berth-control has no encryption key");
            w.exec_params("INSERT INTO generated_secrets(service_id, key, value_sealed)"
                          " VALUES ($1, $2, $3) ON CONFLICT (service_id, key) DO UPDATE"
                          " SET value_sealed = EXCLUDED.value_sealed, created_at = now()",
                          req.service_id, key,
                          box->seal(value, generated_aad(req.service_id, key)));
        }
    }
    in.env = build_environment(std::move(values), fill ? &*fill : nullptr);

    if (in.plan.needs_container_runtime)
        in.refusal = "a Dockerfile build needs the container runtime, which this build agent "
                     "does not have";
    else if (in.plan.kind == BuildKind::kService)
        in.refusal = std::string(framework_name(in.plan.framework)) +
                     " is an app service (start: " + in.plan.start_command + ", port " +
                     std::to_string(in.plan.port) +
                     "); this build agent publishes static output only";
    else if (!in.plan.install_command.empty() || !in.plan.build_command.empty())
        in.refusal = missing_keys_message(in.env); // only a command reads the environment
    return in;
}

} // namespace berth::control
