// IMF-fixdate formatting and the three date forms RFC 9110 requires recipients to parse.
#include <catch2/catch.hpp>

#include <string>

#include "shared/http/http_date.h"

using berth::shared::http::format_http_date;
using berth::shared::http::kHttpDateLength;
using berth::shared::http::parse_http_date;

namespace
{

constexpr std::time_t kRfcExample = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT

std::string format(std::time_t t)
{
    char buf[kHttpDateLength + 1];
    buf[kHttpDateLength] = '#';
    format_http_date(t, buf);
    REQUIRE(buf[kHttpDateLength] == '#'); // exactly kHttpDateLength bytes written
    return std::string(buf, kHttpDateLength);
}

} // namespace

TEST_CASE("http date formats IMF-fixdate", "[http]")
{
    CHECK(format(kRfcExample) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(format(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(format(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(format(1767225599) == "Wed, 31 Dec 2025 23:59:59 GMT");
}

TEST_CASE("http date parses the three forms to the same instant", "[http]")
{
    CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == kRfcExample);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == kRfcExample);
    CHECK(parse_http_date("Sun Nov  6 08:49:37 1994") == kRfcExample);
    CHECK(parse_http_date("Wed Nov 16 08:49:37 1994") == kRfcExample + 10 * 86400);
}

TEST_CASE("http date round-trips what it formats", "[http]")
{
    for (std::time_t t : {std::time_t(0), kRfcExample, std::time_t(1700000000),
                          std::time_t(2147483647), std::time_t(4102444800)}) {
        CAPTURE(t);
        CHECK(parse_http_date(format(t)) == t);
    }
}

TEST_CASE("http date maps two-digit RFC 850 years around 1970", "[http]")
{
    CHECK(parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == 0);
    CHECK(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT") == 946684800);
}

TEST_CASE("http date rejects malformed dates", "[http]")
{
    CHECK_FALSE(parse_http_date(""));
    CHECK_FALSE(parse_http_date("yesterday"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"));
    CHECK_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 nov 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 32 Nov 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 00 Nov 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 24:00:00 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08:60:00 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1994 08-49-37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 06 Nov 1969 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun, 0x Nov 1994 08:49:37 GMT"));
    CHECK_FALSE(parse_http_date("Sun Nov  6 08:49:37 19x4"));
    CHECK_FALSE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GM"));
    CHECK_FALSE(parse_http_date("Sunday, 06/Nov/94 08:49:37 GMT"));
}
