// Masks secret values in build log lines before they are stored or streamed (#16).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::control
{

// The forms of one secret value a build might print, each a needle the masker looks for:
//  - the value itself;
//  - percent-encoded (RFC 3986 unreserved characters kept; upper- and lower-case hex; and the
//    form encoding with '+' for a space);
//  - base64, standard and URL-safe alphabets: the whole encoding with and without '=' padding,
//    and, for each of the three offsets the value can have inside a longer base64 text (e.g.
//    "user:" + secret in a Basic auth header), the characters that depend on the value's bytes
//    alone. The 1-3 characters at either edge that mix in unknown neighbouring bytes stay
//    visible; they carry at most 4 bits of the value each.
// Forms shorter than kMinSecretLength are left out. Mixed-case percent hex is not looked for.
std::vector<std::string> secret_forms(std::string_view value);

// Replaces every occurrence of every form of every secret with kMask. Overlapping or touching
// matches become one mask. Values shorter than kMinSecretLength are not masked: they would
// mask ordinary words and numbers all over a log, and the secret scan has the same floor.
// Built once per build (Aho-Corasick over all forms), then mask() is linear in the line
// length whatever the number of secrets. Immutable after construction, so mask() may be
// called from several threads.
class LogMasker
{
public:
    static constexpr size_t kMinSecretLength = 6;
    static constexpr std::string_view kMask = "********";

    LogMasker() = default; // masks nothing
    explicit LogMasker(const std::vector<std::string> &secret_values);

    std::string mask(std::string_view line) const;
    // The needles looked for (every form of every value), longest first; for tests and fuzzing.
    const std::vector<std::string> &needles() const noexcept { return needles_; }
    bool empty() const noexcept { return needles_.empty(); }

private:
    struct Node {
        std::vector<std::pair<unsigned char, int>> next; // sorted by byte
        int fail = 0;
        size_t match_len = 0; // the longest needle ending at this node (own or via fail links)
    };
    int child(int node, unsigned char c) const;
    int step(int node, unsigned char c) const;

    std::vector<std::string> needles_;
    std::vector<Node> nodes_;
};

} // namespace berth::control
