// Temporary trees for tests under $TMPDIR (default /tmp).
#include "tests/support/temp_tree.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace berth::test
{

TempTree::TempTree()
{
    std::string tmpl = (std::filesystem::temp_directory_path() / "berth-test.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    root_ = tmpl;
    std::filesystem::permissions(root_, std::filesystem::perms(0755));
}

TempTree::~TempTree()
{
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
}

void TempTree::write(std::string_view rel, std::string_view content) const
{
    std::filesystem::path p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(content.data(), std::streamsize(content.size()));
}

void TempTree::mkdir(std::string_view rel) const
{
    std::filesystem::create_directories(root_ / rel);
}

void TempTree::symlink(std::string_view target, std::string_view rel) const
{
    std::filesystem::path p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::filesystem::create_symlink(target, p);
}

std::string pattern_bytes(size_t n, char salt)
{
    static const char digits[] = "0123456789abcdef";
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
        s[i] = char(digits[(i + size_t(salt)) % 16]);
    return s;
}

std::string read_file(const std::string &path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace berth::test
