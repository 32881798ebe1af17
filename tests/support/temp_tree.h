// Test support: a temporary directory tree, removed (recursively) when the object dies.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace berth::test
{

class TempTree
{
public:
    TempTree();
    TempTree(const TempTree &) = delete;
    TempTree &operator=(const TempTree &) = delete;
    ~TempTree();

    const std::filesystem::path &root() const { return root_; }
    std::string path(std::string_view rel) const { return (root_ / rel).string(); }
    // Writes a file, creating parent directories.
    void write(std::string_view rel, std::string_view content) const;
    void mkdir(std::string_view rel) const;
    void symlink(std::string_view target, std::string_view rel) const;

private:
    std::filesystem::path root_;
};

// The whole file (empty when it cannot be read).
std::string read_file(const std::string &path);

// Bytes that are easy to check: "0123456789abcdef" repeated, cut to n.
std::string pattern_bytes(size_t n, char salt = 0);

} // namespace berth::test
