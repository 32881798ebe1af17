#include <catch2/catch.hpp>
#include "shared/http/request_parser.h"
TEST_CASE("placeholder", "[http]") { REQUIRE(true); }
