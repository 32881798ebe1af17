// scan_text on arbitrary bytes: no crash, each rule reported at most once, and whatever the
// whole scan finds, a scan of the two halves overlapping by kMaxRuleMatch finds too (the
// chunked file scan in publish.cc relies on that).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "control/pipeline/secret_scan.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    std::vector<NamedSecret> secrets = {{"API_KEY", "s3cr3t-value"}};
    auto found = scan_text(text, secrets);
    std::set<std::string> unique(found.begin(), found.end());
    FUZZ_CHECK(unique.size() == found.size());
    size_t half = size / 2;
    std::set<std::string> parts;
    for (std::string_view part : {text.substr(0, half + kMaxRuleMatch), text.substr(half)})
        for (const auto &rule : scan_text(part, secrets))
            parts.insert(rule);
    for (const auto &rule : unique)
        FUZZ_CHECK(parts.count(rule) == 1);
    return 0;
}
