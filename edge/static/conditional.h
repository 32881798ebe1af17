// Conditional requests (RFC 9110 13) and byte ranges (RFC 9110 14) for static responses.
#pragma once

#include <cstdint>
#include <ctime>
#include <string_view>

namespace berth::edge
{

struct ByteRange {
    uint64_t first = 0;
    uint64_t last = 0; // inclusive
    uint64_t length() const noexcept { return last - first + 1; }
};

enum class RangeKind : unsigned char {
    kNone,          // no usable Range header: send the whole representation
    kSingle,        // one satisfiable range in `range`
    kMultiple,      // several ranges: we answer 200 with the whole representation
    kUnsatisfiable, // 416 with Content-Range: bytes */size
};

RangeKind parse_range(std::string_view header, uint64_t size, ByteRange &range) noexcept;

// If-None-Match: weak comparison against a list of entity tags or "*".
bool etag_list_matches(std::string_view list, std::string_view etag) noexcept;

// RFC 9110 13.2.2 steps 1-2: If-Match (strong comparison, "*" matches) decides when present,
// else If-Unmodified-Since; true means 412 Precondition Failed.
bool precondition_failed(std::string_view if_match, std::string_view if_unmodified_since,
                         std::string_view etag, std::time_t last_modified) noexcept;

// RFC 9110 13.2.2 for GET/HEAD: If-None-Match decides when present, else If-Modified-Since.
bool is_not_modified(std::string_view if_none_match, std::string_view if_modified_since,
                     std::string_view etag, std::time_t last_modified) noexcept;

// If-Range: the range applies only when the validator matches strongly (or the date exactly).
bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::time_t last_modified) noexcept;

} // namespace berth::edge
