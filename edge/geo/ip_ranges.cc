// CIDR matching over 16-byte addresses; IPv4 is compared as its IPv4-mapped IPv6 form.
#include "edge/geo/ip_ranges.h"

#include "shared/http/header_token.h"

#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <netinet/in.h>

namespace berth::edge
{

namespace
{

void map_v4(const void *v4, IpAddr &out) noexcept
{
    std::memset(out.bytes, 0, 10);
    out.bytes[10] = out.bytes[11] = 0xff;
    std::memcpy(out.bytes + 12, v4, 4);
}

} // namespace

bool parse_ip(std::string_view text, IpAddr &out) noexcept
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buf) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        map_v4(&v4, out);
        return true;
    }
    return inet_pton(AF_INET6, buf, out.bytes) == 1;
}

bool ip_of(const sockaddr_storage &sa, IpAddr &out) noexcept
{
    if (sa.ss_family == AF_INET) {
        map_v4(&reinterpret_cast<const sockaddr_in &>(sa).sin_addr, out);
        return true;
    }
    if (sa.ss_family == AF_INET6) {
        std::memcpy(out.bytes, &reinterpret_cast<const sockaddr_in6 &>(sa).sin6_addr, 16);
        return true;
    }
    return false;
}

std::string IpRanges::parse(const std::vector<std::string> &specs)
{
    ranges_.clear();
    for (const std::string &spec : specs) {
        std::string_view s = spec;
        size_t slash = s.find('/');
        Range r{};
        if (!parse_ip(s.substr(0, slash), r.base))
            return "\"" + spec + "\" is not an IP address or address/prefix";
        bool v4 = s.substr(0, slash).find(':') == std::string_view::npos;
        unsigned max = v4 ? 32 : 128;
        unsigned prefix = max;
        if (slash != std::string_view::npos) {
            std::string_view p = s.substr(slash + 1);
            auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
            if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix > max)
                return "\"" + spec + "\" has an invalid prefix length";
        }
        r.prefix = v4 ? prefix + 96 : prefix;
        ranges_.push_back(r);
    }
    return "";
}

bool IpRanges::contains(const IpAddr &a) const noexcept
{
    for (const Range &r : ranges_) {
        unsigned full = r.prefix / 8, bits = r.prefix % 8;
        if (std::memcmp(a.bytes, r.base.bytes, full) != 0) continue;
        if (bits) {
            uint8_t mask = uint8_t(0xff << (8 - bits));
            if ((a.bytes[full] & mask) != (r.base.bytes[full] & mask)) continue;
        }
        return true;
    }
    return false;
}

bool IpRanges::contains(const sockaddr_storage &sa) const noexcept
{
    IpAddr a;
    return ip_of(sa, a) && contains(a);
}

std::string_view forwarded_client(std::string_view xff, const IpRanges &trusted) noexcept
{
    std::string_view last;
    while (!xff.empty()) {
        size_t comma = xff.rfind(',');
        std::string_view item =
            shared::http::trim_ows(comma == std::string_view::npos ? xff : xff.substr(comma + 1));
        xff = comma == std::string_view::npos ? std::string_view() : xff.substr(0, comma);
        IpAddr a;
        if (!parse_ip(item, a)) return last; // garbage: stop at the last address we could read
        last = item;
        if (!trusted.contains(a)) return item;
    }
    return last;
}

} // namespace berth::edge
