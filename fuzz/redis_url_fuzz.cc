// parse_redis_url on arbitrary text (both processes' [redis] url): no crash and only
// std::invalid_argument with a reason; what parses has a host-name host, a port 1-65535 and a
// database 0-99, display() never shows credentials, and the parts re-assembled (user and
// password percent-encoded) parse to the same parts.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz/fuzz_check.h"
#include "shared/base/host_name.h"
#include "shared/base/percent_coding.h"
#include "shared/config/redis_url.h"

using namespace berth::shared;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string text(reinterpret_cast<const char *>(data), size);
    config::RedisUrl u;
    try {
        u = config::parse_redis_url(text);
    } catch (const std::invalid_argument &e) {
        FUZZ_CHECK(e.what()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(is_host_name(u.host));
    FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
    FUZZ_CHECK(u.db >= 0 && u.db <= 99);
    FUZZ_CHECK(u.display().find('@') == std::string::npos);
    std::string again = "redis://";
    if (!u.password.empty())
        again += percent_encode(u.user) + ":" + percent_encode(u.password) + "@";
    again += u.host + ":" + std::to_string(u.port) + "/" + std::to_string(u.db);
    config::RedisUrl v = config::parse_redis_url(again);
    FUZZ_CHECK(v.user == u.user && v.password == u.password && v.host == u.host &&
               v.port == u.port && v.db == u.db);
    return 0;
}
