// A socket address's IP as text ("192.0.2.7", "2001:db8::1"), for headers and log lines.
#pragma once

#include <cstddef>
#include <sys/socket.h>

namespace berth::shared
{

// Enough for any IPv6 text (INET6_ADDRSTRLEN) and its terminating NUL.
constexpr size_t kIpTextMax = 46;

// Writes the address's IP and a NUL into out; returns its length, or 0 (out = "") for a
// family other than AF_INET/AF_INET6 or a null address. IPv4 is formatted by hand: glibc's
// inet_ntop goes through sprintf, which cost a proxied request ~1,300 instructions.
size_t ip_text(const sockaddr_storage *addr, char (&out)[kIpTextMax]) noexcept;

} // namespace berth::shared
