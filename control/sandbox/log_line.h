// One line of build output as Berth stores it: when, from which stream, what (#16).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::control
{

// kSystem marks Berth's own lines in a build log (the truncation notice, a command echo).
enum class LogStream { kStdout, kStderr, kSystem };

inline std::string_view stream_name(LogStream s) noexcept
{
    switch (s) {
    case LogStream::kStdout:
        return "stdout";
    case LogStream::kStderr:
        return "stderr";
    case LogStream::kSystem:
        return "system";
    }
    return "system";
}

struct LogLine {
    int64_t timestamp_ms = 0; // Unix time in milliseconds, taken when the line was read
    LogStream stream = LogStream::kStdout;
    std::string text; // without the line break
};

} // namespace berth::control
