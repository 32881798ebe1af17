// Bounded pending buffer: a child printing megabytes without a newline must not grow control's
// memory (#16).
#include "control/sandbox/line_splitter.h"

namespace berth::control
{

namespace
{

// Where to cut `s` (size > max) so that no UTF-8 sequence is split: back off over
// continuation bytes to the lead byte, at most 3 bytes; otherwise cut at max.
size_t cut_point(std::string_view s, size_t max)
{
    for (size_t back = 0; back < 4 && back < max; ++back) {
        auto c = static_cast<unsigned char>(s[max - back]);
        if ((c & 0xC0) != 0x80) return max - back; // s[max - back] starts a character
    }
    return max;
}

} // namespace

void LineSplitter::feed(std::string_view data, const OnLine &on_line)
{
    while (!data.empty()) {
        size_t nl = data.find('\n');
        size_t take = nl == std::string_view::npos ? data.size() : nl;
        pending_.append(data.substr(0, take));
        data.remove_prefix(nl == std::string_view::npos ? take : take + 1);
        while (pending_.size() > max_line_) {
            size_t cut = cut_point(pending_, max_line_);
            on_line(std::string_view(pending_).substr(0, cut));
            pending_.erase(0, cut);
        }
        if (nl == std::string_view::npos) return;
        std::string_view line = pending_;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        on_line(line);
        pending_.clear();
    }
}

void LineSplitter::finish(const OnLine &on_line)
{
    if (pending_.empty()) return;
    on_line(pending_);
    pending_.clear();
}

} // namespace berth::control
