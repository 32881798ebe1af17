// Whether kernel TLS could carry files (sendfile on an encrypting socket): the kernel must offer
// the "tls" upper-layer protocol. Reported in the admin stats.
#pragma once

#include <string>

namespace berth::edge
{

// "unavailable: ..." or "available: ...", read once per call from /proc.
std::string ktls_status();

} // namespace berth::edge
