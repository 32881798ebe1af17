// Host normalisation per RFC 9110 7.2 / RFC 3986 3.2.2, without allocation.
#include "shared/http/host.h"

namespace berth::shared::http
{

std::string_view normalize_host(std::string_view host, char *out, size_t cap) noexcept
{
    if (host.empty()) return {};
    std::string_view name = host;
    if (host.front() == '[') {
        // IP-literal: keep the brackets, drop an optional ":port".
        size_t close = host.find(']');
        if (close == std::string_view::npos) return {};
        name = host.substr(0, close + 1);
        std::string_view rest = host.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return {};
        host = rest.empty() ? std::string_view() : rest.substr(1);
        for (char c : name.substr(1, name.size() - 2))
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.'))
                return {};
    } else {
        size_t colon = host.find(':');
        name = host.substr(0, colon);
        host = colon == std::string_view::npos ? std::string_view() : host.substr(colon + 1);
    }
    // Port, when present, is digits only.
    if (host.size() > 5) return {};
    for (char c : host)
        if (c < '0' || c > '9') return {};
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > cap || name.size() > kMaxHostLength) return {};
    for (size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') c = char(c | 0x20);
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                  c == '_' || c == '[' || c == ']' || c == ':';
        if (!ok) return {};
        out[i] = c;
    }
    std::string_view result(out, name.size());
    if (result.find("..") != std::string_view::npos || result.front() == '.' ||
        result.back() == '.')
        return {};
    return result;
}

} // namespace berth::shared::http
