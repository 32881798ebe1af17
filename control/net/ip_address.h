// IP addresses and ranges for the repository-URL policy (#15): parse, contain, classify. Pure
// code, no I/O: the resolver's numeric results are what gets checked, never the URL's spelling.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::control
{

// An IPv4 or IPv6 address; IPv4 is kept as its v4-mapped IPv6 form (::ffff:a.b.c.d), so one
// comparison covers both families and a v4-mapped spelling is the same value as the v4 one.
struct IpAddr {
    std::array<uint8_t, 16> bytes{};
    bool is_v4() const noexcept;
    bool operator==(const IpAddr &) const = default;
};

// An address range: the first `prefix` bits (of the 128-bit form) are fixed.
struct Cidr {
    IpAddr base;
    int prefix = 128;
    bool contains(const IpAddr &a) const noexcept;
};

// Strict numeric forms only ("127.0.0.1", "::1", "::ffff:10.0.0.1"); anything else (host
// names, "0x7f.1", "2130706433") is nullopt: those are for the resolver to turn into numbers.
std::optional<IpAddr> parse_ip(std::string_view text);

// "10.0.0.0/8", "fd00::/8", or a single address ("192.0.2.7" = /32). The address must be the
// range's first one ("10.1.0.0/8" is refused: it is almost always a typo).
std::optional<Cidr> parse_cidr(std::string_view text);

std::optional<IpAddr> from_sockaddr(const sockaddr *sa);
std::string to_string(const IpAddr &a);

// Why an address must not be the target of a clone: "loopback", "private", "link-local",
// "multicast", "reserved", "unspecified", ... ; empty for a public unicast address. IPv6 forms
// that embed an IPv4 address (v4-mapped, NAT64, 6to4) are judged by the embedded address.
std::string_view non_public_reason(const IpAddr &a) noexcept;

} // namespace berth::control
