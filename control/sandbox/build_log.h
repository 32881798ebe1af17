// A deployment's build log on its way to storage: mask secrets, then cap, then hand on (#16).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "control/sandbox/log_line.h"
#include "control/sandbox/log_mask.h"

namespace berth::control
{

// Per-deployment bounds on what is stored; a build printing without end cannot fill the
// database. Counted on the masked text.
struct BuildLogCap {
    size_t max_lines = 20000;
    size_t max_bytes = size_t(8) << 20;
};

// Not thread-safe: one build feeds it from one thread (BuildSandbox::run's on_line).
class BuildLog
{
public:
    // Receives each stored line, already masked, in order; called synchronously from add().
    using Sink = std::function<void(const LogLine &)>;
    static constexpr size_t kTailLines = 20;

    BuildLog(LogMasker masker, BuildLogCap cap, Sink sink);

    // Masks `text`, then stores it through the sink while the cap allows. The first line that
    // would pass the cap is replaced by one kSystem line "… log truncated after N lines" (or
    // "… after N bytes"); later lines are only counted.
    void add(LogStream stream, int64_t timestamp_ms, std::string_view text);

    bool truncated() const noexcept { return truncated_; }
    size_t lines_stored() const noexcept { return lines_; }
    size_t bytes_stored() const noexcept { return bytes_; }
    size_t lines_dropped() const noexcept { return dropped_; }
    // The last kTailLines masked lines seen, stored or not (for a BUILD_FAILED message).
    std::vector<std::string> tail() const { return {tail_.begin(), tail_.end()}; }

private:
    LogMasker masker_;
    BuildLogCap cap_;
    Sink sink_;
    size_t lines_ = 0;
    size_t bytes_ = 0;
    size_t dropped_ = 0;
    bool truncated_ = false;
    std::deque<std::string> tail_;
};

} // namespace berth::control
