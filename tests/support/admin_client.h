// Test support: the shared admin client (shared/admin/admin_client.h) with test-friendly
// failure: an error fails the running test case instead of throwing.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "shared/admin/admin_client.h"

namespace berth::test
{

class AdminConn
{
public:
    // Connects within timeout_ms (also the bound of each call); FAILs the test on error.
    explicit AdminConn(const std::string &socket_path, int timeout_ms = 5000);

    // Sends one request line and returns the reply line, parsed.
    nlohmann::json call(const std::string &line);

    shared::admin::AdminClient &client() { return client_; }

private:
    shared::admin::AdminClient client_;
};

} // namespace berth::test
