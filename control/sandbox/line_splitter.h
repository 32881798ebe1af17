// Cuts a byte stream (a child's stdout or stderr) into lines of bounded length (#16).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace berth::control
{

class LineSplitter
{
public:
    // A line longer than this without a '\n' (a progress bar, a minified bundle printed raw)
    // is delivered in pieces of at most this many bytes, so memory stays bounded.
    static constexpr size_t kMaxLine = 8192;
    using OnLine = std::function<void(std::string_view)>;

    explicit LineSplitter(size_t max_line = kMaxLine) : max_line_(max_line) {}

    // Calls on_line, synchronously and in order, for every line `data` completes: the text
    // without its '\n' (and without a '\r' just before it). A piece cut at max_line ends on a
    // UTF-8 character boundary when one lies within the last 3 bytes.
    void feed(std::string_view data, const OnLine &on_line);
    // End of stream: delivers the unterminated rest, if any.
    void finish(const OnLine &on_line);

private:
    size_t max_line_;
    std::string pending_; // the start of a line whose '\n' has not arrived; <= max_line_ bytes
};

} // namespace berth::control
