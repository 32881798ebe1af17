// What a deployment's build is made of (#16): Analyze's plan with the service's overrides, and
// the build environment merged from its layers. Decided at REVIEW (stored on the deployment)
// and again when the build starts, so an approval waits on the same rules.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "control/analyze/build_env.h"
#include "control/analyze/build_overrides.h"
#include "control/base/crypto.h"
#include "control/pipeline/secret_scan.h"

namespace berth::control
{

struct BuildInputsRequest {
    std::string service_id, service_name, deployment_id, commit, branch;
    std::string buildpack;      // STATIC | NIXPACKS | DOCKER
    std::string public_url;     // what auto-domain keys get
    std::filesystem::path root; // the checked-out tree (root_directory applied)
};

struct BuildInputs {
    BuildPlan plan;
    BuildEnv env;
    // Why this deployment cannot be built ("" when it can): a Dockerfile build, an app
    // service, environment variables the template asks for and nobody set.
    std::string refusal;
    // The env's secret values, named, for the publish scan.
    std::vector<NamedSecret> secrets() const;
    // Analyze's summary for review_summary: the plan, the template's keys, the environment.
    nlohmann::json summary() const;
};

// Reads the service's overrides, env_vars (decrypted with `box`; null: a service with env
// vars fails) and generated auto-secrets, analyzes `root`, fills the env template and merges
// the layers. Auto-secrets the template asks for that the service does not have yet are
// generated and stored sealed in `w`, so they are the same on every later deploy. Throws
// AnalyzeError for a tree that cannot be analyzed.
BuildInputs load_build_inputs(pqxx::work &w, const SecretBox *box, const BuildInputsRequest &req);

} // namespace berth::control
