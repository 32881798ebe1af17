// parse_route_table never crashes; an accepted table re-serialises, re-parses and serialises to
// the same JSON, and every exact host routes to its own entry.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_check.h"
#include "shared/route/route_table_json.h"

using namespace berth::shared::route;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    std::string error;
    auto table = parse_route_table(text, error);
    if (!table) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(error.empty());

    nlohmann::json once = route_table_to_json(*table);
    std::string again_error;
    auto again = parse_route_table(once.dump(), again_error);
    if (!again) std::fprintf(stderr, "re-parse failed: %s\n", again_error.c_str());
    FUZZ_CHECK(again);
    FUZZ_CHECK(route_table_to_json(*again) == once);
    FUZZ_CHECK(again->version() == table->version());
    FUZZ_CHECK(again->routes().size() == table->routes().size());

    for (const Route &r : table->routes()) {
        FUZZ_CHECK(!r.host.empty());
        FUZZ_CHECK(r.host.back() != '.');
        FUZZ_CHECK(r.host.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos);
        if (r.type == RouteType::kStatic && !r.root.empty()) FUZZ_CHECK(root_is_contained(r.root));
        if (r.host.starts_with("*.")) continue;
        auto m = table->match(r.host);
        FUZZ_CHECK(m.route == &r);
        FUZZ_CHECK(m.label.empty());
    }
    return 0;
}
