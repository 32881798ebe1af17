// Masking comes before the cap so the byte count, the truncation point and the tail are all of
// the text that is stored (#16).
#include "control/sandbox/build_log.h"

#include <utility>

namespace berth::control
{

BuildLog::BuildLog(LogMasker masker, BuildLogCap cap, Sink sink)
    : masker_(std::move(masker)), cap_(cap), sink_(std::move(sink))
{
}

void BuildLog::add(LogStream stream, int64_t timestamp_ms, std::string_view text)
{
    std::string masked = masker_.mask(text);
    tail_.push_back(masked);
    if (tail_.size() > kTailLines) tail_.pop_front();
    if (truncated_) {
        ++dropped_;
        return;
    }
    bool over_lines = lines_ + 1 > cap_.max_lines;
    bool over_bytes = bytes_ + masked.size() > cap_.max_bytes;
    if (over_lines || over_bytes) {
        truncated_ = true;
        ++dropped_;
        std::string notice = over_lines
                                 ? "… log truncated after " + std::to_string(lines_) + " lines"
                                 : "… log truncated after " + std::to_string(bytes_) + " bytes (" +
                                       std::to_string(lines_) + " lines)";
        sink_(LogLine{timestamp_ms, LogStream::kSystem, std::move(notice)});
        return;
    }
    ++lines_;
    bytes_ += masked.size();
    sink_(LogLine{timestamp_ms, stream, std::move(masked)});
}

} // namespace berth::control
