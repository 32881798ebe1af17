// The read-only view of a source tree that the Analyze step reads (#16): an interface, so
// detection runs the same over a checked-out directory and over a fuzzer's in-memory files.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace berth::control
{

class SourceTree
{
public:
    virtual ~SourceTree() = default;

    // The contents of the regular file at `rel_path` (relative, '/'-separated), or nullopt when
    // it is absent, not a regular file, outside the tree, or larger than `max_bytes`. A file
    // that exists() but reads as nullopt is therefore unreadable or too large.
    virtual std::optional<std::string> read(std::string_view rel_path, size_t max_bytes) const = 0;

    // True when `rel_path` names a regular file or a directory inside the tree.
    virtual bool exists(std::string_view rel_path) const = 0;
};

// A path both implementations accept: non-empty, relative, no "." / ".." / empty components, no
// NUL and no backslash. Anything else is refused before any lookup, so no spelling escapes.
bool is_safe_relative_path(std::string_view rel_path) noexcept;

} // namespace berth::control
