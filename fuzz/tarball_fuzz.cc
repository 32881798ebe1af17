// check_tarball on arbitrary bytes (#16): no crash, and whatever it accepts stays within its
// limits; refused entries always say why.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "shared/archive/tarball.h"

using namespace berth::shared;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TarballLimits limits;
    limits.max_unpacked_bytes = 1 << 20;
    limits.max_entries = 64;
    TarballCheck c =
        check_tarball(std::string_view(reinterpret_cast<const char *>(data), size), limits);
    FUZZ_CHECK(c.entries <= limits.max_entries + 1);
    for (const RefusedEntry &r : c.refused)
        FUZZ_CHECK(!r.reason.empty());
    if (c.ok()) FUZZ_CHECK(c.unpacked_bytes <= limits.max_unpacked_bytes);
    return 0;
}
