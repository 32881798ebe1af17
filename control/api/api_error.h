// The one error type API handlers throw; the router turns it into a JSON body with a stable code.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace berth::control
{

// status: the HTTP status; code: a stable machine-readable identifier (documented in
// control/README.md); message: for humans; extra: merged into the error body (for example
// `existing_deployment` on 409, `retry_after` on 429).
struct ApiError : std::runtime_error {
    ApiError(int status_, std::string code_, const std::string &message,
             nlohmann::json extra_ = nlohmann::json::object())
        : std::runtime_error(message), status(status_), code(std::move(code_)),
          extra(std::move(extra_))
    {
    }
    int status;
    std::string code;
    nlohmann::json extra;
};

} // namespace berth::control
