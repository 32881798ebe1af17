// Validators and ranges are parsed from header views with no allocation.
#include "edge/static/conditional.h"

#include "shared/http/header_token.h"
#include "shared/http/http_date.h"

namespace berth::edge
{

namespace
{

using shared::http::trim_ows;

bool parse_u64(std::string_view s, uint64_t &out)
{
    if (s.empty() || s.size() > 19) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + uint64_t(c - '0');
    }
    out = v;
    return true;
}

std::string_view opaque(std::string_view tag)
{
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
}

} // namespace

RangeKind parse_range(std::string_view header, uint64_t size, ByteRange &range) noexcept
{
    header = trim_ows(header);
    if (header.size() < 6 || !shared::http::iequals(header.substr(0, 6), "bytes="))
        return RangeKind::kNone;
    std::string_view specs = header.substr(6);
    int satisfiable = 0;
    bool any = false;
    while (true) {
        size_t comma = specs.find(',');
        std::string_view spec = trim_ows(specs.substr(0, comma));
        if (!spec.empty()) {
            any = true;
            size_t dash = spec.find('-');
            if (dash == std::string_view::npos) return RangeKind::kNone;
            std::string_view a = trim_ows(spec.substr(0, dash)),
                             b = trim_ows(spec.substr(dash + 1));
            ByteRange r;
            bool ok = false;
            if (a.empty()) { // suffix: last N bytes
                uint64_t n;
                if (!parse_u64(b, n)) return RangeKind::kNone;
                if (n > 0 && size > 0) {
                    r.first = n >= size ? 0 : size - n;
                    r.last = size - 1;
                    ok = true;
                }
            } else {
                uint64_t first, last = UINT64_MAX;
                if (!parse_u64(a, first)) return RangeKind::kNone;
                if (!b.empty() && !parse_u64(b, last)) return RangeKind::kNone;
                if (last < first) return RangeKind::kNone; // invalid spec: ignore the header
                if (first < size) {
                    r.first = first;
                    r.last = last >= size ? size - 1 : last;
                    ok = true;
                }
            }
            if (ok && ++satisfiable == 1) range = r;
        }
        if (comma == std::string_view::npos) break;
        specs.remove_prefix(comma + 1);
    }
    if (!any) return RangeKind::kNone;
    if (satisfiable == 0) return RangeKind::kUnsatisfiable;
    return satisfiable == 1 ? RangeKind::kSingle : RangeKind::kMultiple;
}

bool etag_list_matches(std::string_view list, std::string_view etag) noexcept
{
    list = trim_ows(list);
    if (list == "*") return true;
    if (etag.empty()) return false; // no validator yet (a large file still being hashed)
    std::string_view want = opaque(etag);
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view tag = trim_ows(list.substr(0, comma));
        if (!tag.empty() && opaque(tag) == want) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

bool precondition_failed(std::string_view if_match, std::string_view if_unmodified_since,
                         std::string_view etag, std::time_t last_modified) noexcept
{
    if_match = trim_ows(if_match);
    if (!if_match.empty()) {
        if (if_match == "*") return false;
        // Strong comparison: a weak or missing validator (still being hashed) matches nothing.
        if (etag.empty() || etag.starts_with("W/")) return true;
        while (!if_match.empty()) {
            size_t comma = if_match.find(',');
            if (trim_ows(if_match.substr(0, comma)) == etag) return false;
            if (comma == std::string_view::npos) break;
            if_match.remove_prefix(comma + 1);
        }
        return true;
    }
    if (if_unmodified_since.empty()) return false;
    auto date = shared::http::parse_http_date(trim_ows(if_unmodified_since));
    return date && last_modified > *date; // an invalid date is ignored (RFC 9110 13.1.4)
}

bool is_not_modified(std::string_view if_none_match, std::string_view if_modified_since,
                     std::string_view etag, std::time_t last_modified) noexcept
{
    if (!if_none_match.empty()) return etag_list_matches(if_none_match, etag);
    if (if_modified_since.empty()) return false;
    auto since = shared::http::parse_http_date(trim_ows(if_modified_since));
    return since && last_modified <= *since;
}

bool if_range_matches(std::string_view if_range, std::string_view etag,
                      std::time_t last_modified) noexcept
{
    if_range = trim_ows(if_range);
    if (if_range.empty()) return true;
    if (if_range.front() == '"') return if_range == etag; // strong comparison only
    if (if_range.starts_with("W/")) return false;
    auto date = shared::http::parse_http_date(if_range);
    return date && *date == last_modified;
}

} // namespace berth::edge
