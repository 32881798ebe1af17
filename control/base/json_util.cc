// Canonical JSON: one dump call with fixed options, so every writer and verifier agree (#3).
#include "control/base/json_util.h"

namespace berth::control
{

std::string canonical_json(const Json &value)
{
    // -1: compact; strict UTF-8 errors replaced so a bad byte cannot make hashing throw.
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json parse_json_or_discarded(std::string_view text)
{
    return Json::parse(text.begin(), text.end(), nullptr, false);
}

} // namespace berth::control
