// accepts_encoding: Accept-Encoding q-values, the "*" wildcard and case rules.
#include <catch2/catch.hpp>

#include "edge/static/static_handler.h"

using berth::edge::accepts_encoding;

namespace
{

struct Case {
    const char *header;
    const char *coding;
    bool accepted;
};

void check_cases(std::initializer_list<Case> cases)
{
    for (const Case &c : cases) {
        INFO("Accept-Encoding: " << c.header << " / " << c.coding);
        CHECK(accepts_encoding(c.header, c.coding) == c.accepted);
    }
}

} // namespace

TEST_CASE("accept-encoding allows listed codings", "[static]")
{
    check_cases({{"gzip, deflate, br", "br", true},
                 {"gzip, deflate, br", "gzip", true},
                 {"br", "br", true},
                 {"gzip,br", "br", true},
                 {"  gzip ,\tbr  ", "br", true},
                 {"gzip, deflate", "br", false},
                 {"identity", "gzip", false},
                 {"", "br", false},
                 {"brotli, x-gzip", "br", false},
                 {"brotli, x-gzip", "gzip", false}});
}

TEST_CASE("accept-encoding compares coding names without case", "[static]")
{
    check_cases({{"BR", "br", true}, {"GZip, Br", "gzip", true}, {"BR;q=0", "br", false}});
}

TEST_CASE("accept-encoding refuses codings with q=0", "[static]")
{
    check_cases({{"br;q=0", "br", false},
                 {"br;q=0.0", "br", false},
                 {"br;q=0.000", "br", false},
                 {"br ; q=0 , gzip", "br", false},
                 {"gzip;q=0.5, br;q=0", "br", false},
                 {"gzip;q=0.5, br;q=0", "gzip", true},
                 {"br;q=0.001", "br", true},
                 {"br; q=0.5", "br", true},
                 {"br;q=1", "br", true},
                 {"br;q=1.000", "br", true}});
}

// Regression: qvalue() once looked for lower-case "q=" only.
TEST_CASE("accept-encoding treats the q parameter name case-insensitively", "[static][regression]")
{
    // RFC 9110 12.4.2: "q" is a parameter name, and parameter names are case-insensitive.
    check_cases({{"br;Q=0", "br", false}});
}

TEST_CASE("accept-encoding applies * only to codings not listed", "[static]")
{
    check_cases({{"*", "br", true},
                 {"*", "gzip", true},
                 {"gzip, *;q=0.1", "br", true},
                 {"*;q=0", "br", false},
                 {"gzip, *;q=0", "br", false},
                 {"*;q=0, br", "br", true},
                 {"br, *;q=0", "br", true},
                 {"br;q=0, *", "br", false},
                 {"*, br;q=0", "br", false}});
}
