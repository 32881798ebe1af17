// Certificate directory naming (cert_name_from_file): whatever a file is called, the name it
// serves is empty or a well-formed lower-case host name (a "*." wildcard only from the
// _wildcard. prefix), never a path.
#include <cstddef>
#include <cstdint>
#include <string>

#include "edge/tls/cert_store.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string file(reinterpret_cast<const char *>(data), size);
    std::string name = berth::edge::cert_name_from_file(file);
    if (name.empty()) return 0;
    FUZZ_CHECK(file.size() > 4 && file.compare(file.size() - 4, 4, ".crt") == 0);
    std::string_view host = name;
    if (host.starts_with("*.")) {
        FUZZ_CHECK(file.rfind("_wildcard.", 0) == 0);
        host.remove_prefix(2);
    }
    FUZZ_CHECK(!host.empty() && host.size() <= 253);
    FUZZ_CHECK(host.front() != '.' && host.back() != '.');
    FUZZ_CHECK(host.find("..") == std::string_view::npos);
    for (char c : host)
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
    return 0;
}
