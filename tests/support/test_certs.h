// Test support: certificates made with OpenSSL for the tests (self-signed, written as PEM).
#pragma once

#include <string>
#include <vector>

namespace berth::test
{

enum class KeyType { kEcdsa, kRsa };

struct CertFiles {
    std::string cert;
    std::string key;
};

struct CertSpec {
    std::vector<std::string> names; // subjectAltName DNS entries; the first is also the CN
    KeyType type = KeyType::kEcdsa;
    long not_before_s = -3600;     // relative to now
    long not_after_s = 30 * 86400; // relative to now (negative: already expired)
};

// Writes <dir>/<stem>.crt and <dir>/<stem>.key.
CertFiles make_cert(const std::string &dir, const std::string &stem, const CertSpec &spec);

// One certificate for every host name the edge tests use (*.test, *.localhost, localhost),
// made once per test process in a temporary directory.
const CertFiles &shared_test_cert();

// The e2e suite runs over TLS when BERTH_TEST_EDGE_TLS=1: EdgeProcess listens with TLS and
// every RawClient speaks TLS.
bool e2e_over_tls();

// This build runs under AddressSanitizer/UBSan (memory figures mean nothing there).
#ifdef BERTH_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

} // namespace berth::test
