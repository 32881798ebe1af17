#include "shared/base/ip_text.h"

#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <netinet/in.h>

namespace berth::shared
{

size_t ip_text(const sockaddr_storage *addr, char (&out)[kIpTextMax]) noexcept
{
    out[0] = '\0';
    if (!addr) return 0;
    if (addr->ss_family == AF_INET6) {
        const auto *v6 = reinterpret_cast<const sockaddr_in6 *>(addr);
        if (!inet_ntop(AF_INET6, &v6->sin6_addr, out, sizeof out)) out[0] = '\0';
        return std::strlen(out);
    }
    if (addr->ss_family != AF_INET) return 0;
    const auto *v4 = reinterpret_cast<const sockaddr_in *>(addr);
    uint32_t ip = ntohl(v4->sin_addr.s_addr);
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned octet = (ip >> shift) & 0xff;
        if (octet >= 100) out[n++] = char('0' + octet / 100);
        if (octet >= 10) out[n++] = char('0' + octet / 10 % 10);
        out[n++] = char('0' + octet % 10);
        if (shift) out[n++] = '.';
    }
    out[n] = '\0';
    return n;
}

} // namespace berth::shared
