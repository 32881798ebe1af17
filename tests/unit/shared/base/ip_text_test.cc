#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cstring>
#include <netinet/in.h>
#include <string>

#include "shared/base/ip_text.h"

using berth::shared::ip_text;
using berth::shared::kIpTextMax;

namespace
{

sockaddr_storage v4(const char *text)
{
    sockaddr_storage ss{};
    auto *a = reinterpret_cast<sockaddr_in *>(&ss);
    a->sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, text, &a->sin_addr) == 1);
    return ss;
}

std::string text_of(const sockaddr_storage *ss)
{
    char out[kIpTextMax];
    size_t n = ip_text(ss, out);
    REQUIRE(std::strlen(out) == n);
    return std::string(out, n);
}

} // namespace

TEST_CASE("ip_text writes IPv4 as inet_ntop does, every octet width", "[unit][ip_text]")
{
    for (const char *ip : {"0.0.0.0", "255.255.255.255", "127.0.0.1", "10.200.30.4",
                           "192.168.100.9", "1.22.103.99", "100.10.1.0"}) {
        sockaddr_storage ss = v4(ip);
        CHECK(text_of(&ss) == ip);
    }
    // Every octet value in each position agrees with inet_ntop.
    for (unsigned v = 0; v < 256; ++v) {
        sockaddr_storage ss{};
        auto *a = reinterpret_cast<sockaddr_in *>(&ss);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(v << 24 | (255 - v) << 16 | v << 8 | (v * 7 % 256));
        char expect[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a->sin_addr, expect, sizeof expect);
        CHECK(text_of(&ss) == expect);
    }
}

TEST_CASE("ip_text writes IPv6 and nothing for other families", "[unit][ip_text]")
{
    sockaddr_storage ss{};
    auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
    a->sin6_family = AF_INET6;
    REQUIRE(inet_pton(AF_INET6, "2001:db8::1", &a->sin6_addr) == 1);
    CHECK(text_of(&ss) == "2001:db8::1");
    REQUIRE(inet_pton(AF_INET6, "::ffff:192.0.2.7", &a->sin6_addr) == 1);
    CHECK(text_of(&ss) == "::ffff:192.0.2.7");

    sockaddr_storage unix_addr{};
    unix_addr.ss_family = AF_UNIX;
    CHECK(text_of(&unix_addr).empty());
    CHECK(text_of(nullptr).empty());
}
