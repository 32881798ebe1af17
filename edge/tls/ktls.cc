#include "edge/tls/ktls.h"

#include <fstream>
#include <sstream>

namespace berth::edge
{

std::string ktls_status()
{
    std::ifstream in("/proc/sys/net/ipv4/tcp_available_ulp");
    std::string ulps;
    std::getline(in, ulps);
    std::istringstream words(ulps);
    for (std::string w; words >> w;)
        if (w == "tls")
            return "available in the kernel, not used by this build: files over TLS are read in "
                   "16 KiB pieces from the page cache and encrypted in user space";
    return "unavailable: the kernel offers no tls ULP (tcp_available_ulp: " +
           (ulps.empty() ? std::string("unreadable") : ulps) +
           "); files over TLS are read in 16 KiB pieces from the page cache and encrypted in "
           "user space";
}

} // namespace berth::edge
