// Range tables after IANA's special-purpose registries (RFC 6890 and updates). Everything in
// them is refused for clones; an operator opens a range with [security] allowed_repo_hosts.
#include "control/net/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace berth::control
{

namespace
{

IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    IpAddr out;
    out.bytes[10] = out.bytes[11] = 0xff;
    out.bytes[12] = a, out.bytes[13] = b, out.bytes[14] = c, out.bytes[15] = d;
    return out;
}

struct Range {
    const char *cidr;
    const char *reason;
};

// IPv4 ranges (as written; converted to their v4-mapped form on first use).
constexpr Range kV4[] = {
    {"0.0.0.0/8", "unspecified"},     {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "shared"},      {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"}, {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},     {"192.0.2.0/24", "reserved"},
    {"192.88.99.0/24", "reserved"},   {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "reserved"},    {"198.51.100.0/24", "reserved"},
    {"203.0.113.0/24", "reserved"},   {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},
};
constexpr Range kV6[] = {
    {"::/128", "unspecified"}, {"::1/128", "loopback"},     {"::/96", "reserved"},
    {"100::/64", "reserved"},  {"2001::/23", "reserved"},   {"2001:db8::/32", "reserved"},
    {"fc00::/7", "private"},   {"fe80::/10", "link-local"}, {"fec0::/10", "reserved"},
    {"ff00::/8", "multicast"},
};

bool mask_equal(const IpAddr &a, const IpAddr &b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(a.bytes.data(), b.bytes.data(), size_t(full)) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = uint8_t(0xff << (8 - rest));
    return (a.bytes[size_t(full)] & mask) == (b.bytes[size_t(full)] & mask);
}

std::string_view reason_in(const Range *begin, const Range *end, const IpAddr &a)
{
    for (const Range *r = begin; r != end; ++r)
        if (auto c = parse_cidr(r->cidr); c && c->contains(a)) return r->reason;
    return {};
}

} // namespace

bool IpAddr::is_v4() const noexcept
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), prefix, 12) == 0;
}

bool Cidr::contains(const IpAddr &a) const noexcept
{
    return mask_equal(base, a, prefix);
}

std::optional<IpAddr> parse_ip(std::string_view text)
{
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
    std::string s(text);
    in_addr a4;
    if (s.find(':') == std::string::npos) {
        // inet_pton(AF_INET) accepts only a.b.c.d in decimal, which is what we want here.
        if (inet_pton(AF_INET, s.c_str(), &a4) != 1) return std::nullopt;
        auto *b = reinterpret_cast<const uint8_t *>(&a4.s_addr);
        return v4(b[0], b[1], b[2], b[3]);
    }
    in6_addr a6;
    if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) return std::nullopt;
    IpAddr out;
    std::memcpy(out.bytes.data(), a6.s6_addr, 16);
    return out;
}

std::optional<Cidr> parse_cidr(std::string_view text)
{
    size_t slash = text.find('/');
    auto addr = parse_ip(text.substr(0, slash));
    if (!addr) return std::nullopt;
    int max = addr->is_v4() && text.substr(0, slash).find(':') == std::string_view::npos ? 32 : 128;
    int bits = max;
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        if (p.empty() || p.size() > 3) return std::nullopt;
        bits = 0;
        for (char c : p) {
            if (c < '0' || c > '9') return std::nullopt;
            bits = bits * 10 + (c - '0');
        }
        if (bits > max) return std::nullopt;
    }
    Cidr c{*addr, max == 32 ? 96 + bits : bits};
    // The base must be the range's first address.
    IpAddr masked = *addr;
    for (int i = c.prefix; i < 128; ++i)
        masked.bytes[size_t(i / 8)] &= uint8_t(~(0x80 >> (i % 8)));
    if (!(masked == *addr)) return std::nullopt;
    return c;
}

std::optional<IpAddr> from_sockaddr(const sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        auto *b = reinterpret_cast<const uint8_t *>(
            &reinterpret_cast<const sockaddr_in *>(sa)->sin_addr.s_addr);
        return v4(b[0], b[1], b[2], b[3]);
    }
    if (sa->sa_family == AF_INET6) {
        IpAddr out;
        std::memcpy(out.bytes.data(), reinterpret_cast<const sockaddr_in6 *>(sa)->sin6_addr.s6_addr,
                    16);
        return out;
    }
    return std::nullopt;
}

std::string to_string(const IpAddr &a)
{
    char buf[INET6_ADDRSTRLEN];
    if (a.is_v4()) return inet_ntop(AF_INET, a.bytes.data() + 12, buf, sizeof buf);
    return inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
}

std::string_view non_public_reason(const IpAddr &a) noexcept
{
    if (a.is_v4()) return reason_in(std::begin(kV4), std::end(kV4), a);
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address: judge that one.
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (std::memcmp(a.bytes.data(), nat64, 12) == 0)
        return reason_in(std::begin(kV4), std::end(kV4),
                         v4(a.bytes[12], a.bytes[13], a.bytes[14], a.bytes[15]));
    if (a.bytes[0] == 0x20 && a.bytes[1] == 0x02) {
        IpAddr inner = v4(a.bytes[2], a.bytes[3], a.bytes[4], a.bytes[5]);
        std::string_view r = reason_in(std::begin(kV4), std::end(kV4), inner);
        if (!r.empty()) return r;
    }
    return reason_in(std::begin(kV6), std::end(kV6), a);
}

} // namespace berth::control
