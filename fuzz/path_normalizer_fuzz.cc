// normalize_path against a slow reference (decode once, check bytes and UTF-8, split, check each
// segment): both must agree on the verdict and the output, and kOk output never leaves the root.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edge/static/path_normalizer.h"
#include "fuzz/fuzz_check.h"

using berth::edge::normalize_path;
using berth::edge::NormalizedPath;
using berth::edge::PathVerdict;

namespace
{

struct Reference {
    PathVerdict verdict = PathVerdict::kRejected;
    std::string path;
    bool trailing_slash = false;
};

int hex_digit(char c)
{
    const std::string_view digits = "0123456789abcdef";
    char lower = (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
    size_t i = digits.find(lower);
    return i == std::string_view::npos ? -1 : int(i);
}

// Well-formed UTF-8 by the byte ranges of Unicode Table 3-7, a formulation independent of the
// code-point arithmetic in path_normalizer.cc.
bool well_formed_utf8(const std::string &s)
{
    auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    size_t i = 0;
    while (i < s.size()) {
        unsigned char b0 = static_cast<unsigned char>(s[i]);
        auto at = [&](size_t k) -> unsigned char {
            return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
        };
        if (b0 <= 0x7F) {
            i += 1;
        } else if (in(b0, 0xC2, 0xDF) && in(at(1), 0x80, 0xBF)) {
            i += 2;
        } else if (b0 == 0xE0 && in(at(1), 0xA0, 0xBF) && in(at(2), 0x80, 0xBF)) {
            i += 3;
        } else if ((in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) && in(at(1), 0x80, 0xBF) &&
                   in(at(2), 0x80, 0xBF)) {
            i += 3;
        } else if (b0 == 0xED && in(at(1), 0x80, 0x9F) && in(at(2), 0x80, 0xBF)) {
            i += 3;
        } else if (b0 == 0xF0 && in(at(1), 0x90, 0xBF) && in(at(2), 0x80, 0xBF) &&
                   in(at(3), 0x80, 0xBF)) {
            i += 4;
        } else if (in(b0, 0xF1, 0xF3) && in(at(1), 0x80, 0xBF) && in(at(2), 0x80, 0xBF) &&
                   in(at(3), 0x80, 0xBF)) {
            i += 4;
        } else if (b0 == 0xF4 && in(at(1), 0x80, 0x8F) && in(at(2), 0x80, 0xBF) &&
                   in(at(3), 0x80, 0xBF)) {
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

Reference reference_normalize(std::string_view raw, size_t cap)
{
    Reference ref;
    if (raw.empty() || raw[0] != '/' || cap == 0) return ref;
    std::string decoded;
    for (size_t i = 0; i < raw.size(); ++i) {
        unsigned char b = static_cast<unsigned char>(raw[i]);
        if (raw[i] == '%') {
            if (raw.size() - i < 3) return ref;
            int hi = hex_digit(raw[i + 1]), lo = hex_digit(raw[i + 2]);
            if (hi < 0 || lo < 0) return ref;
            b = static_cast<unsigned char>(hi * 16 + lo);
            i += 2;
        }
        if (b < 0x20 || b == 0x7F || b == '\\') return ref;
        if (decoded.size() == cap) {
            ref.verdict = PathVerdict::kTooLong;
            return ref;
        }
        decoded.push_back(char(b));
    }
    if (!well_formed_utf8(decoded)) return ref;

    std::vector<std::string> segments;
    std::string current;
    for (char c : decoded + "/") {
        if (c != '/') {
            current.push_back(c);
            continue;
        }
        if (!current.empty()) segments.push_back(current);
        current.clear();
    }
    for (size_t k = 0; k < segments.size(); ++k) {
        bool hidden = segments[k][0] == '.';
        if (hidden && !(k == 0 && segments[k] == ".well-known")) return ref;
    }
    ref.verdict = PathVerdict::kOk;
    for (const std::string &s : segments)
        ref.path += "/" + s;
    if (ref.path.empty()) ref.path = "/";
    ref.trailing_slash = decoded.back() == '/' && !segments.empty();
    return ref;
}

void check_safe(std::string_view out)
{
    FUZZ_CHECK(!out.empty() && out.front() == '/');
    FUZZ_CHECK(out.find('\\') == std::string_view::npos);
    FUZZ_CHECK(out.find('\0') == std::string_view::npos);
    if (out == "/") return;
    FUZZ_CHECK(out.back() != '/');
    size_t start = 1, index = 0;
    while (start <= out.size()) {
        size_t slash = out.find('/', start);
        if (slash == std::string_view::npos) slash = out.size();
        std::string_view seg = out.substr(start, slash - start);
        FUZZ_CHECK(!seg.empty());
        FUZZ_CHECK(seg != "." && seg != "..");
        FUZZ_CHECK(seg.front() != '.' || (index == 0 && seg == ".well-known"));
        start = slash + 1;
        ++index;
    }
}

void run(std::string_view raw, size_t cap)
{
    // Exactly `cap` bytes, so ASan sees any write past the end.
    std::vector<char> buf(cap);
    NormalizedPath got = normalize_path(raw, buf.data(), cap);
    Reference want = reference_normalize(raw, cap);
    FUZZ_CHECK(got.verdict == want.verdict);
    if (got.verdict != PathVerdict::kOk) return;
    FUZZ_CHECK(got.path.data() == buf.data());
    FUZZ_CHECK(got.path.size() <= cap);
    FUZZ_CHECK(got.path == want.path);
    FUZZ_CHECK(got.trailing_slash == want.trailing_slash);
    check_safe(got.path);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    std::string_view raw(reinterpret_cast<const char *>(data), size);
    run(raw, size + 16);    // room for everything: kTooLong impossible
    run(raw, size / 2 + 1); // tight: kTooLong must agree too
    run(raw, size % 7);     // tiny, including 0
    return 0;
}
