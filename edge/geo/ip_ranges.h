// Address ranges ("10.0.0.0/8", "::1", "192.168.1.7"): the [geoip] trusted_proxies whose
// X-Forwarded-For and X-Request-Id the edge believes (#14).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <vector>

namespace berth::edge
{

// An address as 16 bytes (IPv4 mapped into ::ffff:0:0/96), so one compare serves both.
struct IpAddr {
    uint8_t bytes[16] = {};
};

// Parses a literal IPv4 or IPv6 address (no brackets, no port); false if it is not one.
bool parse_ip(std::string_view text, IpAddr &out) noexcept;
// The address of an AF_INET or AF_INET6 socket address; false for anything else.
bool ip_of(const sockaddr_storage &sa, IpAddr &out) noexcept;

class IpRanges
{
public:
    // Each entry an address or address/prefix. Returns "" or what is wrong with which entry.
    std::string parse(const std::vector<std::string> &specs);
    bool empty() const noexcept { return ranges_.empty(); }
    bool contains(const IpAddr &a) const noexcept;
    bool contains(const sockaddr_storage &sa) const noexcept;

private:
    struct Range {
        IpAddr base;
        unsigned prefix; // of 128
    };
    std::vector<Range> ranges_;
};

// The client address an X-Forwarded-For list names, read from the right: the first entry not
// in `trusted` (every hop to its right was a trusted proxy). Empty when the list is empty or
// malformed (then the TCP peer stands).
std::string_view forwarded_client(std::string_view xff, const IpRanges &trusted) noexcept;

} // namespace berth::edge
