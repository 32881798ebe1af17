// Canonical JSON: one dump call with fixed options, so every writer and verifier agree (#3).
#include "control/base/json_util.h"

namespace berth::control
{

std::string canonical_json(const Json &value)
{
    // -1: compact; strict UTF-8 errors replaced so a bad byte cannot make hashing throw.
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool json_depth_within(std::string_view text, int max_depth) noexcept
{
    int depth = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return false;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return true;
}

Json parse_json_or_discarded(std::string_view text)
{
    // nlohmann's dump, copy and compare recurse: a 1 MiB body of "[[[[…" would overflow the
    // stack of whoever touches the value, so deep documents are refused before parsing.
    if (!json_depth_within(text, kMaxJsonDepth)) return Json(Json::value_t::discarded);
    return Json::parse(text.begin(), text.end(), nullptr, false);
}

std::string pg_text_array(const std::vector<std::string> &items)
{
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
        out += i ? ",\"" : "\"";
        for (char c : items[i]) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

} // namespace berth::control
