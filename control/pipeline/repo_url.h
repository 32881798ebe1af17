// Repository URLs (#15): the parse that the SSRF screen and the clone agree on. Pure code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::control
{

struct RepoUrl {
    std::string scheme;   // "https", "git" or "file" (lower-cased)
    std::string userinfo; // "user:token" before '@', kept for the clone, may be empty
    std::string host;     // lower-cased; an IPv6 literal without its brackets
    uint16_t port = 0;    // the explicit port, else the scheme's (443, 9418); 0 for file
    std::string rest;     // from the first '/' after the authority ("/org/app.git")
    bool ipv6_literal = false;

    // "host:port" as an HTTP CONNECT request names it ("[::1]:443" for IPv6).
    std::string authority() const;
    // The URL again with `host` replaced by `literal` (an address), for a pinned git:// clone.
    std::string with_host(const std::string &literal, bool literal_is_ipv6) const;
};

// Parses https://, git:// and file:// URLs. Returns nullopt (and a reason in `error`) for any
// other scheme, an empty or malformed host, a bad port, or control characters and spaces.
// Hosts are not interpreted beyond their syntax: "2130706433" or "0x7f.1" stay names here and
// are the resolver's to turn into addresses.
std::optional<RepoUrl> parse_repo_url(std::string_view url, std::string &error);

// The URL with its credentials hidden, for logs: "https://user:***@host/..." or, for a token
// given as the user name, "https://***@host/...". Anything else comes back as it is.
std::string redacted_repo_url(std::string_view url);

} // namespace berth::control
