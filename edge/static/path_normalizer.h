// Request path → safe relative file path: percent-decoded once, normalised, never escaping the
// root.
#pragma once

#include <cstddef>
#include <string_view>

namespace berth::edge
{

enum class PathVerdict : unsigned char {
    kOk,       // `out` holds "/a/b" (or "/" for the root), no dot segments, no empty segments
    kRejected, // traversal, NUL, backslash, bad escape, invalid UTF-8, hidden segment: answer 404
    kTooLong,  // decoded path would not fit the output buffer
};

struct NormalizedPath {
    PathVerdict verdict = PathVerdict::kRejected;
    std::string_view path;       // into the caller's buffer
    bool trailing_slash = false; // the request named a directory ("/docs/")
};

// Decodes %XX exactly once and normalises `raw` (the path part of the target, no query).
// Rejects instead of resolving: any "." or ".." segment (in any encoding), any segment that
// starts with '.', except a first segment ".well-known"; "\\", NUL and control bytes; overlong or
// otherwise invalid UTF-8. Repeated slashes collapse. Writes at most `cap` bytes into `out`.
NormalizedPath normalize_path(std::string_view raw, char *out, size_t cap) noexcept;

} // namespace berth::edge
