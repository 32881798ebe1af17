// parse_repo_url on arbitrary text: no crash; what parses has a host of host characters (or an
// IPv6 literal), a port for network schemes, and re-parses to itself through with_host (#15).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "control/pipeline/repo_url.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    std::string error;
    auto u = parse_repo_url(text, error);
    if (!u) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(u->scheme == "https" || u->scheme == "git" || u->scheme == "file");
    if (u->scheme == "file") return 0;
    FUZZ_CHECK(!u->host.empty() && u->port != 0);
    auto again = parse_repo_url(u->with_host(u->host, u->ipv6_literal), error);
    FUZZ_CHECK(again && again->host == u->host && again->port == u->port &&
               again->rest == u->rest && again->userinfo == u->userinfo);
    return 0;
}
