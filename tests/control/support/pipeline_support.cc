// GET-polling helper of the pipeline e2e tests.
#include "tests/control/support/pipeline_support.h"

#include <catch2/catch.hpp>

namespace berth::test
{

// GET deployments/{id}/ until its status is `want` (or a terminal one that is not). Returns it.
nlohmann::json wait_status(HttpClient &c, const std::string &token, const std::string &id,
                           const std::string &want)
{
    nlohmann::json dep;
    bool done = wait_until([&] {
        dep = c.call("GET", "deployments/" + id + "/", token).json();
        std::string s = dep.value("status", "");
        return s == want || s == "FAILED" || s == "CANCELLED" || s == "ACTIVE" ||
               s == "AWAITING_APPROVAL";
    });
    INFO(dep.dump());
    REQUIRE(done);
    REQUIRE(dep["status"] == want);
    return dep;
}

} // namespace berth::test
