// normalize_host: a non-empty result is lower-case, portless, without a trailing dot, inside the
// caller's buffer, and a fixed point of normalisation.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "shared/http/host.h"

using berth::shared::http::kMaxHostLength;
using berth::shared::http::normalize_host;

namespace
{

void check(std::string_view host, size_t cap)
{
    std::vector<char> buf(cap); // exactly cap bytes, so ASan sees any write past the end
    std::string_view out = normalize_host(host, buf.data(), cap);
    if (out.empty()) return;
    FUZZ_CHECK(out.data() == buf.data());
    FUZZ_CHECK(out.size() <= cap && out.size() <= kMaxHostLength);
    FUZZ_CHECK(out.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string_view::npos);
    FUZZ_CHECK(out.front() != '.' && out.back() != '.');
    FUZZ_CHECK(out.find("..") == std::string_view::npos);
    for (char c : out)
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                   c == '_' || c == '[' || c == ']' || c == ':');
    // No port: a ':' only inside an IP literal, which then ends the host.
    if (out.front() == '[') {
        FUZZ_CHECK(out.back() == ']');
        FUZZ_CHECK(out.find(']') == out.size() - 1);
    } else {
        FUZZ_CHECK(out.find(':') == std::string_view::npos);
    }
    // The result is already normal.
    std::vector<char> again_buf(out.size());
    std::string_view again = normalize_host(out, again_buf.data(), again_buf.size());
    FUZZ_CHECK(again == out);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view host(reinterpret_cast<const char *>(data), size);
    check(host, kMaxHostLength);
    check(host, size % 32);
    return 0;
}
