// LogMasker on arbitrary secrets and lines: no crash, no raw secret survives masking, and when
// no needle holds a '*' no needle survives either (the mask text cannot complete one); the
// line splitter reassembles what it cut. The first byte picks how the input is divided.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control/sandbox/line_splitter.h"
#include "control/sandbox/log_mask.h"
#include "fuzz/fuzz_check.h"

using namespace berth::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char *>(data) + 1, size - 1);
    // Secrets are the '\n'-separated pieces before the first "\n\n"; the rest is the line.
    size_t split = in.find("\n\n");
    std::string_view secrets_part =
        split == std::string_view::npos ? in.substr(0, 0) : in.substr(0, split);
    std::string_view line = split == std::string_view::npos ? in : in.substr(split + 2);
    std::vector<std::string> secrets;
    while (!secrets_part.empty()) {
        size_t nl = secrets_part.find('\n');
        secrets.emplace_back(secrets_part.substr(0, nl));
        secrets_part.remove_prefix(nl == std::string_view::npos ? secrets_part.size() : nl + 1);
    }
    LogMasker masker(secrets);
    std::string out = masker.mask(line);
    bool star_free = true;
    for (const auto &n : masker.needles())
        star_free = star_free && n.find('*') == std::string::npos;
    for (const auto &n : masker.needles())
        if (star_free) FUZZ_CHECK(out.find(n) == std::string::npos);
    for (const auto &s : secrets)
        if (s.size() >= LogMasker::kMinSecretLength && s.find('*') == std::string::npos)
            FUZZ_CHECK(out.find(s) == std::string::npos);
    if (masker.empty()) FUZZ_CHECK(out == line);

    // Splitting: the pieces, rejoined, are the input minus line breaks; none is over the cap.
    size_t max = 1 + data[0] % 16;
    LineSplitter splitter(max);
    std::string joined;
    auto on_line = [&](std::string_view l) {
        FUZZ_CHECK(l.size() <= max);
        joined.append(l);
    };
    splitter.feed(line.substr(0, line.size() / 2), on_line);
    splitter.feed(line.substr(line.size() / 2), on_line);
    splitter.finish(on_line);
    std::string expected;
    for (size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\n') continue;
        if (line[i] == '\r' && i + 1 < line.size() && line[i + 1] == '\n') continue;
        expected += line[i];
    }
    FUZZ_CHECK(joined == expected);
    return 0;
}
