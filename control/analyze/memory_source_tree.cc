// In-memory SourceTree: a sorted map of path → contents; directories are path prefixes.
#include "control/analyze/memory_source_tree.h"

namespace berth::control
{

bool MemorySourceTree::add(std::string_view rel_path, std::string contents)
{
    if (!is_safe_relative_path(rel_path)) return false;
    files_.insert_or_assign(std::string(rel_path), std::move(contents));
    return true;
}

std::optional<std::string> MemorySourceTree::read(std::string_view rel_path, size_t max_bytes) const
{
    if (!is_safe_relative_path(rel_path)) return std::nullopt;
    auto it = files_.find(rel_path);
    if (it == files_.end() || it->second.size() > max_bytes) return std::nullopt;
    return it->second;
}

bool MemorySourceTree::exists(std::string_view rel_path) const
{
    if (!is_safe_relative_path(rel_path)) return false;
    if (files_.count(rel_path)) return true;
    // A directory: some file sits below "rel_path/".
    std::string prefix = std::string(rel_path) + '/';
    auto it = files_.lower_bound(prefix);
    return it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

} // namespace berth::control
