// Diagnostic messages on stderr ("berth-edge: ..."), filtered by a process-wide level:
// [log] level = "error" | "warn" | "info" | "debug". Request logs are not this (access_log).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace berth::shared
{

enum class LogLevel : uint8_t { kError, kWarn, kInfo, kDebug };

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;
// The program's name, put before every message ("berth-edge").
void set_log_identity(const char *name) noexcept;
void set_log_level(LogLevel level) noexcept;
bool log_enabled(LogLevel level) noexcept;
// One line on stderr when `level` is enabled; the newline is added.
[[gnu::format(printf, 2, 3)]] void log_message(LogLevel level, const char *format, ...) noexcept;

} // namespace berth::shared
