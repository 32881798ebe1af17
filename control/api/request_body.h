// API request bodies → validated values; each error is an ApiError 400 naming the field.
#pragma once

#include <string>
#include <string_view>

#include "control/api/api_error.h"
#include "control/base/json_util.h"

namespace berth::control
{

// A JSON object from a request body; an empty body is {}. Throws ApiError 400 `invalid_json`
// (malformed) or `invalid_body` (not an object).
Json parse_body_object(std::string_view body);

bool is_uuid(std::string_view s) noexcept;
// A DNS label: 1-63 of [a-z0-9-], not starting or ending with '-', and never "www".
bool is_service_name(std::string_view s) noexcept;
bool is_env_key(std::string_view s) noexcept;
bool is_commit_hash(std::string_view s) noexcept; // 7-40 hex digits
bool is_branch_name(std::string_view s) noexcept; // git check-ref-format, simplified
// A lower-case DNS name with at least two labels, each 1-63 of [a-z0-9-] not starting or
// ending with '-', at most 253 in all.
bool is_hostname(std::string_view s) noexcept;

// Project body: {"name"} (1-100 chars). Returns the columns to write.
Json validate_project(const Json &body, bool create);

// Service body: known columns only (unknown keys → 400 `unknown_field`), each type- and
// range-checked. create requires project_id and name and fills nothing else: the database
// holds the defaults. Returns column → value.
Json validate_service(const Json &body, bool create);

struct TriggerRequest {
    std::string service_id;
    std::string commit_hash; // empty: the branch head
    std::string branch;      // empty: the service's branch
};
TriggerRequest parse_trigger(const Json &body);

struct EnvVarInput {
    std::string key;
    std::string value;
    bool has_value = false;
    bool is_secret = false, has_is_secret = false;
    bool is_locked = false, has_is_locked = false;
    std::string source = "USER";
};
EnvVarInput parse_env_var(const Json &body, bool create);

// Domain body: {"hostname"}; returns it lower-cased. 400 `invalid_field` if not a hostname.
std::string parse_domain(const Json &body);

struct HealthReport {
    std::string status; // healthy | unhealthy | starting | needs_manual_intervention
    Json details = Json::object();
};
HealthReport parse_health_report(const Json &body);

// The rollback gate: {"confirm":"true"} (or the JSON literal true).
bool rollback_confirmed(const Json &body) noexcept;

} // namespace berth::control
