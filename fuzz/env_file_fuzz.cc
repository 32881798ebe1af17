// parse_env_file on arbitrary bytes (#16): no crash; every entry has a valid, unique key and a
// line number inside the text; issues carry line numbers too. Oracle: the entries written back
// as KEY="escaped value" lines parse to the same entries with no issue. The classified
// template then goes through fill_template and build_environment, whose record never holds a
// value.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "control/analyze/build_env.h"
#include "control/analyze/env_file.h"
#include "control/analyze/env_template.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

namespace
{

std::string quoted(const std::string &value)
{
    std::string out = "\"";
    for (char c : value) {
        switch (c) {
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        default:
            out += c;
        }
    }
    return out + "\"";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    EnvFile parsed = parse_env_file(text);
    int lines = 1;
    for (char c : text)
        lines += c == '\n';
    std::set<std::string> keys;
    std::string rewritten;
    for (const auto &e : parsed.entries) {
        FUZZ_CHECK(is_valid_env_key(e.key));
        FUZZ_CHECK(keys.insert(e.key).second);
        FUZZ_CHECK(e.line >= 1 && e.line <= lines);
        rewritten += e.key + "=" + quoted(e.value) + "\n";
    }
    for (const auto &i : parsed.issues)
        FUZZ_CHECK(i.line >= 1 && i.line <= lines);

    EnvFile again = parse_env_file(rewritten);
    FUZZ_CHECK(again.issues.empty());
    FUZZ_CHECK(again.entries.size() == parsed.entries.size());
    for (size_t i = 0; i < again.entries.size(); ++i) {
        FUZZ_CHECK(again.entries[i].key == parsed.entries[i].key);
        FUZZ_CHECK(again.entries[i].value == parsed.entries[i].value);
    }

    EnvTemplate tmpl = classify_env_file(".env.example", parsed);
    TemplateFill fill = fill_template(tmpl, {}, "https://fuzz.example.test",
                                      [] { return std::string(kAutoSecretLength, 'S'); });
    std::vector<EnvValue> rows;
    for (const auto &e : parsed.entries)
        rows.push_back({e.key, "v:" + e.value, EnvSource::kUser, e.key.size() % 2 == 0,
                        e.key.size() % 3 == 0});
    BuildEnv env = build_environment(rows, &fill);
    FUZZ_CHECK(env.missing_user_keys.empty()); // every template key has a USER row
    FUZZ_CHECK(env.records.size() == env.env.size());
    std::string record =
        env.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    FUZZ_CHECK(record.find("v:") == std::string::npos); // values never reach the record
    return 0;
}
