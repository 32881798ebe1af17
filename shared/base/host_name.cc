#include "shared/base/host_name.h"

namespace berth::shared
{

bool is_host_name(std::string_view h) noexcept
{
    if (h.empty() || h.size() > 253 || h.front() == '.' || h.back() == '.' || h.front() == '-' ||
        h.find("..") != std::string_view::npos)
        return false;
    for (char c : h) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

} // namespace berth::shared
