// One parser for the screen and the clone: what was checked is what is cloned (#15).
#include "control/pipeline/repo_url.h"

namespace berth::control
{

namespace
{

bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

} // namespace

std::string RepoUrl::authority() const
{
    return (ipv6_literal ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string RepoUrl::with_host(const std::string &literal, bool literal_is_ipv6) const
{
    std::string h = literal_is_ipv6 ? "[" + literal + "]" : literal;
    return scheme + "://" + (userinfo.empty() ? "" : userinfo + "@") + h + ":" +
           std::to_string(port) + rest;
}

std::optional<RepoUrl> parse_repo_url(std::string_view url, std::string &error)
{
    for (char c : url)
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
            error = "the repository URL contains spaces or control characters";
            return std::nullopt;
        }
    size_t sep = url.find("://");
    if (sep == std::string_view::npos) {
        error = "the repository URL must start with https://, git:// or file://";
        return std::nullopt;
    }
    RepoUrl u;
    for (char c : url.substr(0, sep))
        u.scheme += char(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    if (u.scheme != "https" && u.scheme != "git" && u.scheme != "file") {
        error = "the repository URL must use https://, git:// or file://";
        return std::nullopt;
    }
    std::string_view after = url.substr(sep + 3);
    if (u.scheme == "file") {
        if (!after.empty() && after.front() != '/') {
            error = "a file:// URL names a local path (file:///path)";
            return std::nullopt;
        }
        u.rest = std::string(after);
        return u;
    }
    size_t slash = after.find('/');
    std::string_view authority = after.substr(0, slash);
    u.rest = slash == std::string_view::npos ? "" : std::string(after.substr(slash));
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
        u.userinfo = std::string(authority.substr(0, at));
        authority.remove_prefix(at + 1);
    }
    std::string_view host, port;
    if (!authority.empty() && authority.front() == '[') {
        size_t close = authority.find(']');
        if (close == std::string_view::npos || close < 2 ||
            (close + 1 < authority.size() && authority[close + 1] != ':')) {
            error = "the repository URL has a malformed IPv6 host";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) port = authority.substr(close + 2);
        u.ipv6_literal = true;
        for (char c : host)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.')) {
                error = "the repository URL has a malformed IPv6 host";
                return std::nullopt;
            }
    } else {
        size_t colon = authority.rfind(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (host.empty() || host.size() > 253) {
        error = "the repository URL has no host";
        return std::nullopt;
    }
    for (char c : host) {
        char l = char(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
        if (!u.ipv6_literal && !host_char(l)) {
            error = "the repository URL's host has characters a host name cannot have";
            return std::nullopt;
        }
        u.host += l;
    }
    u.port = u.scheme == "https" ? 443 : 9418;
    if (!port.empty() || (authority.size() && authority.back() == ':')) {
        unsigned p = 0;
        if (port.empty() || port.size() > 5) p = 0;
        for (char c : port) {
            if (c < '0' || c > '9') {
                p = 0;
                break;
            }
            p = p * 10 + unsigned(c - '0');
        }
        if (p == 0 || p > 65535) {
            error = "the repository URL has an invalid port";
            return std::nullopt;
        }
        u.port = uint16_t(p);
    }
    return u;
}

std::string redacted_repo_url(std::string_view url)
{
    size_t sep = url.find("://");
    if (sep == std::string_view::npos) return std::string(url);
    size_t start = sep + 3;
    size_t end = url.find('/', start);
    std::string_view authority =
        url.substr(start, end == std::string_view::npos ? url.npos : end - start);
    size_t at = authority.rfind('@');
    if (at == std::string_view::npos) return std::string(url);
    std::string_view userinfo = authority.substr(0, at);
    size_t colon = userinfo.find(':');
    std::string hidden =
        colon == std::string_view::npos ? "***" : std::string(userinfo.substr(0, colon)) + ":***";
    return std::string(url.substr(0, start)) + hidden + std::string(url.substr(start + at));
}

} // namespace berth::control
