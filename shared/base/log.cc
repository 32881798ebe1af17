#include "shared/base/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace berth::shared
{

namespace
{
std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<const char *> g_identity{"berth"};
} // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept
{
    if (name == "error") return LogLevel::kError;
    if (name == "warn") return LogLevel::kWarn;
    if (name == "info") return LogLevel::kInfo;
    if (name == "debug") return LogLevel::kDebug;
    return std::nullopt;
}

void set_log_identity(const char *name) noexcept
{
    g_identity.store(name);
}

void set_log_level(LogLevel level) noexcept
{
    g_level.store(level);
}

bool log_enabled(LogLevel level) noexcept
{
    return level <= g_level.load(std::memory_order_relaxed);
}

void log_message(LogLevel level, const char *format, ...) noexcept
{
    if (!log_enabled(level)) return;
    char line[2048];
    int n = std::snprintf(line, sizeof line, "%s: ", g_identity.load());
    va_list args;
    va_start(args, format);
    if (n > 0 && size_t(n) < sizeof line)
        std::vsnprintf(line + n, sizeof line - size_t(n), format, args);
    va_end(args);
    // One write per line: lines from several threads never interleave.
    std::fprintf(stderr, "%s\n", line);
}

} // namespace berth::shared
