#include "tests/control/support/tarball_writer.h"

#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>
#include <memory>
#include <sys/sysmacros.h>

namespace berth::test
{

std::string make_tarball(const std::vector<TarItem> &items, bool gzip)
{
    std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                              archive_write_free);
    archive_write_set_format_pax_restricted(a.get());
    if (gzip) archive_write_add_filter_gzip(a.get());
    size_t total = 1 << 20;
    for (const TarItem &item : items)
        total += item.data.size() + item.path.size() + 2048;
    std::vector<char> buf(total);
    size_t used = 0;
    REQUIRE(archive_write_open_memory(a.get(), buf.data(), buf.size(), &used) == ARCHIVE_OK);
    for (const TarItem &item : items) {
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                        archive_entry_free);
        archive_entry_set_pathname(e.get(), item.path.c_str());
        archive_entry_set_filetype(e.get(), item.type);
        archive_entry_set_perm(e.get(), item.perm);
        if (item.hardlink)
            archive_entry_set_hardlink(e.get(), item.data.c_str());
        else if (item.type == AE_IFLNK)
            archive_entry_set_symlink(e.get(), item.data.c_str());
        else if (item.type == AE_IFREG)
            archive_entry_set_size(e.get(), la_int64_t(item.data.size()));
        if (item.type == AE_IFCHR) archive_entry_set_rdev(e.get(), makedev(1, 3));
        REQUIRE(archive_write_header(a.get(), e.get()) == ARCHIVE_OK);
        if (item.type == AE_IFREG && !item.hardlink && !item.data.empty())
            REQUIRE(archive_write_data(a.get(), item.data.data(), item.data.size()) ==
                    la_ssize_t(item.data.size()));
    }
    REQUIRE(archive_write_close(a.get()) == ARCHIVE_OK);
    return std::string(buf.data(), used);
}

} // namespace berth::test
