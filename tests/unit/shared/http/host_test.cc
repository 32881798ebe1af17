// normalize_host: lower-case, port and trailing dot stripped, malformed hosts refused.
#include <catch2/catch.hpp>

#include <string>

#include "shared/http/host.h"

using berth::shared::http::kMaxHostLength;
using berth::shared::http::normalize_host;

namespace
{

std::string norm(std::string_view host, size_t cap = kMaxHostLength)
{
    char buf[512];
    std::string_view v = normalize_host(host, buf, cap);
    if (!v.empty()) REQUIRE(v.data() == buf); // written into the caller's buffer
    return std::string(v);
}

} // namespace

TEST_CASE("host normaliser lower-cases and strips port and trailing dot", "[http]")
{
    CHECK(norm("Demo.Example.TEST.:8080") == "demo.example.test");
    CHECK(norm("example.test") == "example.test");
    CHECK(norm("EXAMPLE.test:443") == "example.test");
    CHECK(norm("example.test.") == "example.test");
    CHECK(norm("my_app-1.example.test") == "my_app-1.example.test");
    CHECK(norm("127.0.0.1:8080") == "127.0.0.1");
}

TEST_CASE("host normaliser keeps IPv6 literals with their brackets", "[http]")
{
    CHECK(norm("[::1]:8080") == "[::1]");
    CHECK(norm("[::1]") == "[::1]");
    CHECK(norm("[2001:DB8::1]") == "[2001:db8::1]");
    CHECK(norm("[::ffff:127.0.0.1]:80") == "[::ffff:127.0.0.1]");
}

TEST_CASE("host normaliser refuses malformed IPv6 literals", "[http]")
{
    CHECK(norm("[::1").empty());
    CHECK(norm("[::1]x").empty());
    CHECK(norm("[::1]8080").empty());
    CHECK(norm("[fe80::1%eth0]").empty());
    CHECK(norm("[zz::1]").empty());
}

TEST_CASE("host normaliser refuses bad ports", "[http]")
{
    CHECK(norm("a.test:").size() == 6); // an empty port is allowed by RFC 3986
    CHECK(norm("a.test:80a").empty());
    CHECK(norm("a.test:123456").empty());
    CHECK(norm("a.test:-1").empty());
    CHECK(norm("a.test:80:80").empty());
}

TEST_CASE("host normaliser refuses empty labels and odd characters", "[http]")
{
    CHECK(norm("").empty());
    CHECK(norm(".").empty());
    CHECK(norm(":80").empty());
    CHECK(norm("a..test").empty());
    CHECK(norm(".a.test").empty());
    CHECK(norm("a.test..").empty());
    CHECK(norm("a test").empty());
    CHECK(norm("a/b").empty());
    CHECK(norm("a@b").empty());
    CHECK(norm("a%2eb").empty());
    CHECK(norm("caf\xc3\xa9.test").empty());
    CHECK(norm(std::string_view("a\0b", 3)).empty());
}

TEST_CASE("host normaliser refuses hosts that do not fit", "[http]")
{
    std::string long_host(kMaxHostLength, 'a');
    CHECK(norm(long_host, 512) == long_host);
    CHECK(norm(long_host + "a", 512).empty());
    CHECK(norm("abcdef", 5).empty());
    CHECK(norm("abcde", 5) == "abcde");
    CHECK(norm("abcde.:1", 5) == "abcde");
}
