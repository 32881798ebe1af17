// parse_ip / parse_cidr / non_public_reason on arbitrary text: no crash, and what parses
// round-trips through to_string and stays inside its own range (#15).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control/net/ip_address.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    if (auto a = parse_ip(text)) {
        auto again = parse_ip(to_string(*a));
        FUZZ_CHECK(again && *again == *a);
        (void)non_public_reason(*a);
    }
    if (auto c = parse_cidr(text)) {
        FUZZ_CHECK(c->prefix >= 0 && c->prefix <= 128);
        FUZZ_CHECK(c->contains(c->base));
    }
    return 0;
}
