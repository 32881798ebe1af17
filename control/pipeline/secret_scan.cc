// Fixed prefixes and character classes instead of std::regex: linear in the input, no
// backtracking and no recursion on a 100 MB bundle.
#include "control/pipeline/secret_scan.h"

#include <algorithm>

namespace berth::control
{

namespace
{

bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool upper_digit(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool token_char(char c)
{
    return alnum(c) || c == '_' || c == '-';
}

// Length of the run of chars satisfying `cls` starting at `at`.
template <class F> size_t run(std::string_view s, size_t at, F cls)
{
    size_t n = 0;
    while (at + n < s.size() && cls(s[at + n]))
        ++n;
    return n;
}

// True when some occurrence of `prefix` (not preceded by an alphanumeric) is followed by a run
// of `cls` characters of at least `min` (and, when exact, exactly `min`).
template <class F>
bool prefixed(std::string_view s, std::string_view prefix, size_t min, F cls, bool exact = false)
{
    for (size_t at = s.find(prefix); at != std::string_view::npos; at = s.find(prefix, at + 1)) {
        if (at > 0 && alnum(s[at - 1])) continue;
        size_t n = run(s, at + prefix.size(), cls);
        if (exact ? n == min : n >= min) return true;
    }
    return false;
}

bool private_key(std::string_view s)
{
    // "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN
    // PRIVATE KEY-----", "-----BEGIN PGP PRIVATE KEY BLOCK-----", ...
    constexpr std::string_view begin = "-----BEGIN ";
    for (size_t at = s.find(begin); at != std::string_view::npos; at = s.find(begin, at + 1)) {
        std::string_view rest = s.substr(at + begin.size(), 40);
        size_t end = rest.find("-----");
        if (end != std::string_view::npos &&
            rest.substr(0, end).find("PRIVATE KEY") != std::string_view::npos)
            return true;
    }
    return false;
}

} // namespace

std::vector<std::string> scan_text(std::string_view s, const std::vector<NamedSecret> &secrets)
{
    std::vector<std::string> out;
    if (private_key(s)) out.emplace_back("private-key");
    if (prefixed(s, "AKIA", 16, upper_digit, true) || prefixed(s, "ASIA", 16, upper_digit, true))
        out.emplace_back("aws-access-key");
    if (prefixed(s, "sk_live_", 10, alnum) || prefixed(s, "rk_live_", 10, alnum))
        out.emplace_back("stripe-live-key");
    bool github = prefixed(s, "github_pat_", 22, [](char c) { return alnum(c) || c == '_'; });
    for (std::string_view p : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"})
        github = github || prefixed(s, p, 36, alnum);
    if (github) out.emplace_back("github-token");
    if (prefixed(s, "glpat-", 20, token_char)) out.emplace_back("gitlab-token");
    bool slack = false;
    for (std::string_view p : {"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"})
        slack = slack || prefixed(s, p, 10, [](char c) { return alnum(c) || c == '-'; });
    if (slack) out.emplace_back("slack-token");
    if (prefixed(s, "AIza", 35, token_char)) out.emplace_back("google-api-key");
    for (const NamedSecret &sec : secrets) {
        if (sec.value.size() < kMinSecretValue) continue;
        std::string rule = "secret env var " + sec.name;
        // A chunked scan overlaps chunks by kMaxRuleMatch: look for at most that much of it.
        std::string_view needle = std::string_view(sec.value).substr(0, kMaxRuleMatch);
        if (s.find(needle) != std::string_view::npos &&
            std::find(out.begin(), out.end(), rule) == out.end())
            out.push_back(std::move(rule));
    }
    return out;
}

} // namespace berth::control
