// Byte ranges and conditional requests: parse_range, ETag lists, 304 and If-Range decisions.
#include <catch2/catch.hpp>

#include <string>

#include "edge/static/conditional.h"

using namespace berth::edge;

namespace
{

constexpr std::time_t kModified = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT
constexpr const char *kModifiedText = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr const char *kEtag = "\"3f9a1b2c\"";

// parse_range's verdict in one comparable string: "single 0-499", "multiple 5-9",
// "unsatisfiable" or "none".
std::string range(std::string_view header, uint64_t size)
{
    ByteRange r{777, 888};
    switch (parse_range(header, size, r)) {
    case RangeKind::kNone:
        return "none";
    case RangeKind::kUnsatisfiable:
        return "unsatisfiable";
    case RangeKind::kSingle:
        REQUIRE(r.length() == r.last - r.first + 1);
        return "single " + std::to_string(r.first) + "-" + std::to_string(r.last);
    case RangeKind::kMultiple:
        return "multiple " + std::to_string(r.first) + "-" + std::to_string(r.last);
    }
    return "?";
}

} // namespace

TEST_CASE("parse_range reads a single closed range", "[static]")
{
    CHECK(range("bytes=0-499", 10000) == "single 0-499");
    CHECK(range("bytes=500-999", 10000) == "single 500-999");
    CHECK(range("BYTES=5-5", 10) == "single 5-5");
    CHECK(range(" bytes=1 - 2 ", 10) == "single 1-2");
    CHECK(range("  Bytes = 5-5", 10) == "none"); // "Bytes =" is not "bytes="
}

TEST_CASE("parse_range clamps a range that runs past the end", "[static]")
{
    CHECK(range("bytes=9000-20000", 10000) == "single 9000-9999");
}

TEST_CASE("parse_range reads suffix ranges", "[static]")
{
    CHECK(range("bytes=-500", 10000) == "single 9500-9999");
    CHECK(range("bytes=-20000", 10000) == "single 0-9999"); // longer than the file: all of it
    CHECK(range("bytes=-0", 10000) == "unsatisfiable");
}

TEST_CASE("parse_range reads open-ended ranges", "[static]")
{
    CHECK(range("bytes=9500-", 10000) == "single 9500-9999");
    CHECK(range("bytes=0-", 1) == "single 0-0");
}

TEST_CASE("parse_range reports several satisfiable ranges as multiple", "[static]")
{
    CHECK(range("bytes=0-0, -1", 10000) == "multiple 0-0"); // the first satisfiable one
    CHECK(range("bytes=0-9,20-29,40-", 100) == "multiple 0-9");
    // Only one of them is satisfiable: a single range.
    CHECK(range("bytes=500-600, 5-9", 100) == "single 5-9");
    // Empty list members are ignored (RFC 9110 5.6.1).
    CHECK(range("bytes=, 1-2 ,", 10) == "single 1-2");
}

TEST_CASE("parse_range reports unsatisfiable ranges", "[static]")
{
    CHECK(range("bytes=10000-", 10000) == "unsatisfiable");
    CHECK(range("bytes=10000-10010", 10000) == "unsatisfiable");
    CHECK(range("bytes=20-30, 40-50", 10) == "unsatisfiable");
    CHECK(range("bytes=0-0", 0) == "unsatisfiable");
    CHECK(range("bytes=-5", 0) == "unsatisfiable");
    CHECK(range("bytes=0-", 0) == "unsatisfiable");
}

TEST_CASE("parse_range ignores invalid headers and other units", "[static]")
{
    for (const char *h : {"", "bytes", "bytes=", "bytes=,", "bytes=abc", "bytes=5", "bytes=5-4",
                          "bytes=-", "bytes=1-2-3", "bytes=0x10-20", "bytes=--5", "bytes=+1-2",
                          "bytes=1.5-2", "bytes=99999999999999999999-", "items=0-5", "none=0-5",
                          "bytes 0-5", "byte=0-5", "bytes=0-5, x"}) {
        CAPTURE(h);
        CHECK(range(h, 100) == "none");
    }
}

TEST_CASE("parse_range handles the largest offsets without overflow", "[static]")
{
    CHECK(range("bytes=0-9999999999999999999", 100) == "single 0-99");
    CHECK(range("bytes=-9999999999999999999", 100) == "single 0-99");
    CHECK(range("bytes=9999999999999999999-", UINT64_MAX) ==
          "single 9999999999999999999-18446744073709551614");
}

TEST_CASE("etag lists match weakly and accept the wildcard", "[static]")
{
    CHECK(etag_list_matches("\"3f9a1b2c\"", kEtag));
    CHECK(etag_list_matches("W/\"3f9a1b2c\"", kEtag));
    CHECK(etag_list_matches("\"3f9a1b2c\"", "W/\"3f9a1b2c\""));
    CHECK(etag_list_matches("\"a\", \"b\",\"3f9a1b2c\"", kEtag));
    CHECK(etag_list_matches(" \"a\" ,\tW/\"3f9a1b2c\" ", kEtag));
    CHECK(etag_list_matches("*", kEtag));
    CHECK(etag_list_matches("  *  ", kEtag));
    CHECK_FALSE(etag_list_matches("\"a\", \"b\"", kEtag));
    CHECK_FALSE(etag_list_matches("\"3F9A1B2C\"", kEtag));
    CHECK_FALSE(etag_list_matches("3f9a1b2c", kEtag));
    CHECK_FALSE(etag_list_matches("\"3f9a1b2c", kEtag));
    CHECK_FALSE(etag_list_matches("w/\"3f9a1b2c\"", kEtag));
    CHECK_FALSE(etag_list_matches(",,", kEtag));
    CHECK_FALSE(etag_list_matches("", kEtag));
    CHECK_FALSE(etag_list_matches("\"a\", *", kEtag)); // "*" is only valid alone
    // No ETag yet (a large file still being hashed): only the wildcard matches.
    CHECK_FALSE(etag_list_matches("\"\"", ""));
    CHECK_FALSE(etag_list_matches("W/\"\"", ""));
    CHECK(etag_list_matches("*", ""));
}

TEST_CASE("not-modified prefers If-None-Match over If-Modified-Since", "[static]")
{
    // ETag matches: 304 whatever the date says.
    CHECK(is_not_modified(kEtag, "Thu, 01 Jan 1970 00:00:00 GMT", kEtag, kModified));
    // ETag differs: 200 even though the date alone would say 304.
    CHECK_FALSE(is_not_modified("\"other\"", kModifiedText, kEtag, kModified));
    // No If-None-Match: the date decides.
    CHECK(is_not_modified("", kModifiedText, kEtag, kModified));
    CHECK(is_not_modified("", "Mon, 07 Nov 1994 00:00:00 GMT", kEtag, kModified));
    CHECK_FALSE(is_not_modified("", "Sun, 06 Nov 1994 08:49:36 GMT", kEtag, kModified));
    CHECK(is_not_modified("", " Sun, 06 Nov 1994 08:49:37 GMT ", kEtag, kModified));
    CHECK(is_not_modified("", "Sunday, 06-Nov-94 08:49:37 GMT", kEtag, kModified));
    // Unparseable dates and no conditions: send the body.
    CHECK_FALSE(is_not_modified("", "yesterday", kEtag, kModified));
    CHECK_FALSE(is_not_modified("", "", kEtag, kModified));
    CHECK(is_not_modified("*", "", kEtag, kModified));
}

TEST_CASE("If-Match and If-Unmodified-Since fail only when the file differs", "[static]")
{
    CHECK_FALSE(precondition_failed("", "", kEtag, kModified)); // no preconditions
    CHECK_FALSE(precondition_failed(kEtag, "", kEtag, kModified));
    CHECK_FALSE(precondition_failed("\"a\", \"3f9a1b2c\"", "", kEtag, kModified));
    CHECK_FALSE(precondition_failed(" * ", "", kEtag, kModified));
    CHECK(precondition_failed("\"other\"", "", kEtag, kModified));
    CHECK(precondition_failed("W/\"3f9a1b2c\"", "", kEtag, kModified)); // strong comparison
    CHECK(precondition_failed(kEtag, "", "W/\"3f9a1b2c\"", kModified));
    CHECK(precondition_failed(kEtag, "", "", kModified)); // no validator yet
    // If-Match decides when present, whatever the date says.
    CHECK_FALSE(precondition_failed(kEtag, "Thu, 01 Jan 1970 00:00:00 GMT", kEtag, kModified));
    // Otherwise the date: modified after it fails; unparseable is ignored.
    CHECK(precondition_failed("", "Sun, 06 Nov 1994 08:49:36 GMT", kEtag, kModified));
    CHECK_FALSE(precondition_failed("", kModifiedText, kEtag, kModified));
    CHECK_FALSE(precondition_failed("", "not a date", kEtag, kModified));
}

TEST_CASE("If-Range matches strong ETags and exact dates only", "[static]")
{
    CHECK(if_range_matches("", kEtag, kModified)); // no If-Range: the range applies
    CHECK(if_range_matches(kEtag, kEtag, kModified));
    CHECK(if_range_matches(" \"3f9a1b2c\" ", kEtag, kModified));
    CHECK_FALSE(if_range_matches("\"other\"", kEtag, kModified));
    CHECK_FALSE(if_range_matches("W/\"3f9a1b2c\"", kEtag, kModified));
    CHECK_FALSE(if_range_matches(kEtag, "W/\"3f9a1b2c\"", kModified));
    CHECK(if_range_matches(kModifiedText, kEtag, kModified));
    CHECK_FALSE(if_range_matches("Mon, 07 Nov 1994 00:00:00 GMT", kEtag, kModified));
    CHECK_FALSE(if_range_matches("Sun, 06 Nov 1994 08:49:36 GMT", kEtag, kModified));
    CHECK_FALSE(if_range_matches("not a date", kEtag, kModified));
}
