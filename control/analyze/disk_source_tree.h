// A SourceTree over a directory on disk (a checkout or an unpacked upload). Read-only; the only
// I/O of the Analyze step.
#pragma once

#include <string>

#include "control/analyze/source_tree.h"

namespace berth::control
{

class DiskSourceTree final : public SourceTree
{
public:
    // `root` is resolved once here. If it does not exist every lookup answers "absent".
    explicit DiskSourceTree(const std::string &root);

    // Follows a symlink only while its target stays inside the root; a link leaving the root, a
    // FIFO, a device or a file larger than max_bytes reads as nullopt. Never blocks on a FIFO.
    std::optional<std::string> read(std::string_view rel_path, size_t max_bytes) const override;
    bool exists(std::string_view rel_path) const override;

private:
    // The resolved absolute path of rel_path when it stays inside root_, else "".
    std::string resolve(std::string_view rel_path) const;

    std::string root_; // canonical, no trailing '/'; empty when the root did not resolve
};

} // namespace berth::control
