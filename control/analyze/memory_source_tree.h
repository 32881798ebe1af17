// A SourceTree held in memory: tests and fuzz targets build one from literal files.
#pragma once

#include <map>
#include <string>

#include "control/analyze/source_tree.h"

namespace berth::control
{

class MemorySourceTree final : public SourceTree
{
public:
    // Adds or replaces a file; a path is_safe_relative_path refuses is ignored (returns false).
    // Its parent directories exist from then on.
    bool add(std::string_view rel_path, std::string contents);

    std::optional<std::string> read(std::string_view rel_path, size_t max_bytes) const override;
    bool exists(std::string_view rel_path) const override;

private:
    std::map<std::string, std::string, std::less<>> files_;
};

} // namespace berth::control
