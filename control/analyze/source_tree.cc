// Path screening shared by every SourceTree.
#include "control/analyze/source_tree.h"

namespace berth::control
{

bool is_safe_relative_path(std::string_view rel_path) noexcept
{
    if (rel_path.empty() || rel_path.front() == '/') return false;
    size_t start = 0;
    while (start <= rel_path.size()) {
        size_t end = rel_path.find('/', start);
        if (end == std::string_view::npos) end = rel_path.size();
        std::string_view part = rel_path.substr(start, end - start);
        if (part.empty() || part == "." || part == "..") return false;
        for (char c : part)
            if (c == '\0' || c == '\\') return false;
        start = end + 1;
    }
    return true;
}

} // namespace berth::control
