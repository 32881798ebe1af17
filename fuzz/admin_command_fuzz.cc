// parse_admin_command: any bytes give either a known command with its required fields or a
// precise error; replies are always one valid JSON line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "shared/admin/admin_protocol.h"

using namespace berth::shared::admin;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view line(reinterpret_cast<const char *>(data), size);
    std::string error;
    auto cmd = parse_admin_command(line, error);
    if (!cmd) {
        FUZZ_CHECK(!error.empty());
        std::string reply = error_reply(error);
        FUZZ_CHECK(reply.back() == '\n');
        FUZZ_CHECK(nlohmann::json::parse(reply, nullptr, false).value("ok", true) == false);
        return 0;
    }
    bool known = false;
    for (const char *c : kCommands)
        known |= cmd->cmd == c;
    FUZZ_CHECK(known);
    FUZZ_CHECK(cmd->body.is_object());
    if (cmd->cmd == "routes.put") FUZZ_CHECK(cmd->body.at("table").is_object());
    if (cmd->cmd == "upstream.health") FUZZ_CHECK(cmd->body.at("healthy").is_boolean());
    std::string reply = ok_reply({{"cmd", cmd->cmd}});
    FUZZ_CHECK(nlohmann::json::parse(reply, nullptr, false).value("ok", false) == true);
    return 0;
}
