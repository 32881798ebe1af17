// The admin socket protocol: newline-delimited JSON, one reply per request (DESIGN.md).
// {"cmd":"ping"} → {"ok":true,...} or {"ok":false,"error":"..."}. Used by berth-edge's
// admin server, its `admin` client, and berth-control when it pushes routes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace berth::shared::admin
{

// Commands the edge understands.
inline constexpr const char *kCommands[] = {"ping",        "stats",           "routes.get",
                                            "routes.put",  "upstream.health", "certs.reload",
                                            "logs.reopen", "tickets.rotate",  "drain"};

struct AdminCommand {
    std::string cmd;
    nlohmann::json body; // the whole request object
};

// Longest request line accepted (a route table for thousands of hosts fits).
inline constexpr size_t kMaxLineBytes = 8 * 1024 * 1024;

// Parses one line. On error returns nullopt and a precise message in `error`.
std::optional<AdminCommand> parse_admin_command(std::string_view line, std::string &error);

// Reply lines, each ending in '\n'.
std::string ok_reply(nlohmann::json fields = nlohmann::json::object());
std::string error_reply(std::string_view message);

} // namespace berth::shared::admin
