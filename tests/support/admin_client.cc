// A thin wrapper: the protocol code is the shared client's; only the error reporting differs.
#include "tests/support/admin_client.h"

#include <catch2/catch.hpp>

namespace berth::test
{

namespace
{

shared::admin::AdminClient connect_or_fail(const std::string &path, int timeout_ms)
{
    try {
        return shared::admin::AdminClient(path, timeout_ms);
    } catch (const shared::admin::AdminError &e) {
        FAIL(e.what());
        throw;
    }
}

} // namespace

AdminConn::AdminConn(const std::string &socket_path, int timeout_ms)
    : client_(connect_or_fail(socket_path, timeout_ms))
{
}

nlohmann::json AdminConn::call(const std::string &line)
{
    std::string reply;
    try {
        reply = client_.call_line(line);
    } catch (const shared::admin::AdminError &e) {
        FAIL(e.what());
    }
    return nlohmann::json::parse(reply);
}

} // namespace berth::test
