// Error texts for build results (#16): an operator reading "BUILD_FAILED: ..." should know
// whether to fix the code or raise a limit.
#include "control/sandbox/sandbox_result.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <cstring>

namespace berth::control
{

namespace
{

bool contains_nocase(std::string_view hay, std::string_view needle)
{
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
    });
    return it != hay.end();
}

std::string mib(uint64_t bytes)
{
    return std::to_string(bytes >> 20) + " MiB";
}

std::string seconds(std::chrono::milliseconds ms)
{
    if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
    return std::to_string(ms.count()) + " ms";
}

std::string signal_name(int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

} // namespace

bool looks_like_out_of_memory(std::string_view line)
{
    static constexpr std::array<std::string_view, 6> kNoCase = {
        "out of memory",
        "cannot allocate memory",
        "std::bad_alloc",
        "memory exhausted",
        "allocation failed - javascript heap",
        "failed to allocate memory"};
    for (auto p : kNoCase)
        if (contains_nocase(line, p)) return true;
    if (line.find("MemoryError") != std::string_view::npos) return true;
    auto alloc = line.find("memory allocation of ");
    return alloc != std::string_view::npos && line.find(" failed", alloc) != std::string_view::npos;
}

std::string describe(const SandboxResult &r, const SandboxLimits &limits)
{
    if (!r.setup_error.empty()) return r.setup_error;
    if (r.cancelled) return "cancelled";
    if (r.timed_out) return "timed out after " + seconds(limits.wall_timeout);
    int sig = r.term_signal;
    if (sig == 0 && r.exit_code > 128 && r.exit_code <= 128 + 64) sig = r.exit_code - 128;
    int code = r.term_signal ? 128 + r.term_signal : r.exit_code;
    std::string text = "exit " + std::to_string(code);
    if (code == 0) return text;
    bool cpu_limit =
        limits.cpu_seconds && uint64_t(r.cpu_time.count()) >= limits.cpu_seconds * 1000;
    bool rss_at_limit =
        limits.memory_bytes && uint64_t(r.peak_rss_kib) * 1024 >= limits.memory_bytes / 10 * 9;
    if (sig == SIGXCPU || (sig == SIGKILL && cpu_limit))
        return text + " (killed: CPU time limit of " + std::to_string(limits.cpu_seconds) + " s)";
    if (sig == SIGXFSZ)
        return text + " (killed: file size limit of " + mib(limits.file_size_bytes) + ")";
    if (sig == SIGKILL) return text + " (killed: out of memory)";
    if (r.oom_output || rss_at_limit) {
        if (!limits.memory_bytes) return text + " (out of memory)";
        return text + " (out of memory: the limit is " + mib(limits.memory_bytes) + " per process)";
    }
    if (sig) return text + " (killed by " + signal_name(sig) + ")";
    return text;
}

} // namespace berth::control
